{#-
    One schema per layer. Production targets (var production_targets: the scheduled job's
    `databricks`) get the clean layer name (`staging`, `marts`); every other target
    prefixes it with its own schema, so that only production writes production tables:
    a developer's targets with the developer's prefix (`alice_marts`), the CI targets
    (`ci`, `databricks_ci`) with the pull request's (`ci_pr_123_marts`), and `local`, a
    private metastore, with `lgs` (`lgs_marts`). profiles.yml.example sets the prefixes.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set default_schema = target.schema -%}
    {%- if custom_schema_name is none -%}
        {{ default_schema }}
    {%- elif target.name in var("production_targets") -%}
        {{ custom_schema_name | trim }}
    {%- else -%}
        {{ default_schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
