{#-
    Table materialization for sparkplus (parquet and other non-transactional formats).

    dbt-spark drops the old table and then writes the new one, so an interrupted or failed
    build leaves consumers with a missing or half-written table. Here the new version is
    written to `<name>__dbt_new` first; only when it is complete are the tables swapped by
    two metastore renames (old → `<name>__dbt_old`, new → `<name>`), and the old version is
    dropped. Consumers see the old table until the swap, the new one after it. If a run is
    killed between the two renames, the next run restores `<name>__dbt_old` before anything
    else. Delta and Iceberg keep dbt-spark's atomic `create or replace`.
-#}
{% materialization table, adapter = 'sparkplus', supported_languages=['sql', 'python'] %}
  {%- set language = model['language'] -%}
  {%- set identifier = model['alias'] -%}
  {%- set grant_config = config.get('grants') -%}
  {%- set file_format = config.get('file_format', validator=validation.any[basestring]) -%}

  {%- set target_relation = api.Relation.create(
      identifier=identifier, schema=schema, database=database, type='table') -%}
  {%- set new_relation = api.Relation.create(
      identifier=identifier ~ '__dbt_new', schema=schema, database=database, type='table') -%}
  {%- set old_copy_relation = api.Relation.create(
      identifier=identifier ~ '__dbt_old', schema=schema, database=database, type='table') -%}

  {%- set old_relation = adapter.get_relation(
      database=database, schema=schema, identifier=identifier) -%}
  {%- set leftover_old_copy = adapter.get_relation(
      database=database, schema=schema, identifier=identifier ~ '__dbt_old') -%}

  {#- A previous run died between the two renames: put the last good version back. -#}
  {% if old_relation is none and leftover_old_copy is not none %}
    {{ log("Restoring " ~ target_relation ~ " from an interrupted swap", info=true) }}
    {% do adapter.rename_relation(leftover_old_copy, target_relation) %}
    {%- set old_relation = adapter.get_relation(
        database=database, schema=schema, identifier=identifier) -%}
  {% elif leftover_old_copy is not none %}
    {% do adapter.drop_relation(leftover_old_copy) %}
  {% endif %}

  {{ run_hooks(pre_hooks) }}

  {% if file_format in ['delta', 'iceberg'] %}
    {%- call statement('main', language=language) -%}
      {{ create_table_as(False, target_relation, compiled_code, language) }}
    {%- endcall -%}
  {% else %}
    {#- Whatever an interrupted run left half-written is not a consumer's table: the
        registered table, or files written before the catalog entry (a kill mid-write). -#}
    {% do adapter.drop_relation(new_relation) %}
    {% do adapter.clear_orphaned_location(new_relation) %}
    {%- call statement('main', language=language) -%}
      {{ create_table_as(False, new_relation, compiled_code, language) }}
    {%- endcall -%}

    {% if old_relation is not none %}
      {% if old_relation.type == 'view' %}
        {% do adapter.drop_relation(old_relation) %}
      {% else %}
        {% do adapter.rename_relation(old_relation, old_copy_relation) %}
      {% endif %}
    {% endif %}
    {% do adapter.rename_relation(new_relation, target_relation) %}
    {% if old_relation is not none and old_relation.type != 'view' %}
      {% do adapter.drop_relation(old_copy_relation) %}
    {% endif %}
  {% endif %}

  {% set should_revoke = should_revoke(old_relation, full_refresh_mode=True) %}
  {% do apply_grants(target_relation, grant_config, should_revoke) %}
  {% do persist_docs(target_relation, model) %}
  {% do persist_constraints(target_relation, model) %}

  {{ run_hooks(post_hooks) }}

  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
