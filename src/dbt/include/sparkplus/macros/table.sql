{#-
    Table materialization for sparkplus: parquet and other non-transactional formats are
    published as a new version by one metastore call, so no reader ever sees the table
    missing or half-written (swap_table.sql); Delta and Iceberg keep dbt-spark's atomic
    `create or replace`.
-#}
{% materialization table, adapter = 'sparkplus', supported_languages=['sql', 'python'] %}
  {%- set language = model['language'] -%}
  {%- set identifier = model['alias'] -%}
  {%- set grant_config = config.get('grants') -%}
  {%- set file_format = config.get('file_format', validator=validation.any[basestring]) -%}

  {%- set target_relation = api.Relation.create(
      identifier=identifier, schema=schema, database=database, type='table') -%}

  {{ run_hooks(pre_hooks) }}

  {% if file_format in ['delta', 'iceberg'] %}
    {%- set old_relation = adapter.get_relation(
        database=database, schema=schema, identifier=identifier) -%}
    {%- call statement('main', language=language) -%}
      {{ create_table_as(False, target_relation, compiled_code, language) }}
    {%- endcall -%}
  {% else %}
    {%- set swap = sparkplus_prepare_swap(
        target_relation, partitioned=config.get('partition_by') is not none) -%}
    {%- set old_relation = swap.old_relation -%}
    {%- call statement('main', language=language) -%}
      {{ create_table_as(False, swap.new_relation, compiled_code, language) }}
    {%- endcall -%}
    {% do sparkplus_finish_swap(swap) %}
  {% endif %}

  {% set should_revoke = should_revoke(old_relation, full_refresh_mode=True) %}
  {% do apply_grants(target_relation, grant_config, should_revoke) %}
  {% do persist_docs(target_relation, model) %}
  {% do persist_constraints(target_relation, model) %}

  {{ run_hooks(post_hooks) }}

  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
