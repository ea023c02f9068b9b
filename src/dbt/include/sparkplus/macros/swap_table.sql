{#-
    Replace a table without a moment in which consumers see it missing or half-written
    (parquet and other non-transactional formats).

    dbt-spark drops the old table and then writes the new one, so an interrupted or failed
    build leaves consumers with a missing or half-written table. Here the new version is
    written to `<name>__dbt_new` first; only when it is complete are the tables swapped by
    two metastore renames (old → `<name>__dbt_old`, new → `<name>`), and the old version is
    dropped. Consumers see the old table until the swap, the new one after it. If a run is
    killed between the two renames, the next run restores `<name>__dbt_old` before anything
    else. Used by the table materialization and by the incremental one for its first run
    and for --full-refresh, in three steps, because dbt lets only a materialization itself
    run the model's code (a Python model's `statement('main')` may not sit in a macro):

        {%- set swap = sparkplus_prepare_swap(target_relation) -%}
        {% call statement('main', language=language) %}
            {{ create_table_as(False, swap.new_relation, compiled_code, language) }}
        {% endcall %}
        {% do sparkplus_finish_swap(swap) %}
-#}
{% macro sparkplus_prepare_swap(target_relation) %}
  {%- set identifier = target_relation.identifier -%}
  {%- set new_relation = target_relation.incorporate(
      path={"identifier": identifier ~ '__dbt_new'}, type='table') -%}
  {%- set old_copy_relation = target_relation.incorporate(
      path={"identifier": identifier ~ '__dbt_old'}, type='table') -%}
  {%- set old_relation = sparkplus_restore_interrupted_swap(target_relation) -%}

  {#- Whatever an interrupted run left half-written is not a consumer's table: the
      registered table, or files written before the catalog entry (a kill mid-write). -#}
  {% do adapter.drop_relation(new_relation) %}
  {% do adapter.clear_orphaned_location(new_relation) %}
  {{ return({
      "target_relation": target_relation,
      "new_relation": new_relation,
      "old_copy_relation": old_copy_relation,
      "old_relation": old_relation,
  }) }}
{% endmacro %}


{% macro sparkplus_finish_swap(swap) %}
  {%- set old_relation = swap.old_relation -%}
  {% if old_relation is not none %}
    {% if old_relation.type == 'view' %}
      {% do adapter.drop_relation(old_relation) %}
    {% else %}
      {% do adapter.rename_relation(old_relation, swap.old_copy_relation) %}
    {% endif %}
  {% endif %}
  {% do adapter.rename_relation(swap.new_relation, swap.target_relation) %}
  {% if old_relation is not none and old_relation.type != 'view' %}
    {% do adapter.drop_relation(swap.old_copy_relation) %}
  {% endif %}
{% endmacro %}


{#-
    A previous run died between the two renames of a swap: put the last good version back.
    Returns the current relation (after any restore), or none.
-#}
{% macro sparkplus_restore_interrupted_swap(target_relation) %}
  {%- set identifier = target_relation.identifier -%}
  {%- set old_relation = adapter.get_relation(
      database=target_relation.database, schema=target_relation.schema,
      identifier=identifier) -%}
  {%- set leftover_old_copy = adapter.get_relation(
      database=target_relation.database, schema=target_relation.schema,
      identifier=identifier ~ '__dbt_old') -%}
  {% if old_relation is none and leftover_old_copy is not none %}
    {{ log("Restoring " ~ target_relation ~ " from an interrupted swap", info=true) }}
    {% do adapter.rename_relation(leftover_old_copy, target_relation) %}
    {%- set old_relation = adapter.get_relation(
        database=target_relation.database, schema=target_relation.schema,
        identifier=identifier) -%}
  {% elif leftover_old_copy is not none %}
    {% do adapter.drop_relation(leftover_old_copy) %}
  {% endif %}
  {{ return(old_relation) }}
{% endmacro %}
