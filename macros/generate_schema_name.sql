{#-
    One schema per layer. Production targets (var production_targets) get the clean layer
    name (`staging`, `marts`); every other target prefixes it with its own schema
    (`lgs_staging`) so that developers never overwrite production tables.
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
