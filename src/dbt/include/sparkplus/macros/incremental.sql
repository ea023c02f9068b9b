{#-
    Incremental materialization for sparkplus: dbt-spark's, with two changes for parquet
    and the other non-transactional formats.

    - The first build and --full-refresh publish the table like the table materialization
      (swap_table.sql) instead of dropping it first.
    - Strategy `copy_on_write` (for small tables that consumers read, such as the monthly
      marts): the model returns the rows to replace or add; the new version is the old
      table without the rows whose `unique_key` the model returns, plus those rows. It is
      written as a new version and published by one metastore call, so a reader sees the
      table before or after the run, never a mix. It is what `merge` on a unique key does
      on Delta, for formats without transactions.

    Strategy `insert_overwrite` is dbt-spark's: the model's SQL becomes a temporary view and
    `insert overwrite ... partition (...)` replaces exactly the partitions it returns.
    Spark writes them to a staging folder and moves each partition folder into place when
    the job commits, one after the other: right for large tables that only dbt reads
    (staging). A run killed before the commit changes nothing; the watermarks
    (macros/incremental_watermarks.sql) advance only after a successful run, so the next run
    recomputes whatever a killed one touched.
-#}
{% materialization incremental, adapter='sparkplus', supported_languages=['sql', 'python'] -%}
  {%- set raw_file_format = config.get('file_format', default='parquet') -%}
  {%- set raw_strategy = config.get('incremental_strategy') or 'append' -%}
  {%- set grant_config = config.get('grants') -%}

  {%- set file_format = dbt_spark_validate_get_file_format(raw_file_format) -%}
  {%- if raw_strategy == 'copy_on_write' -%}
    {%- set strategy = raw_strategy -%}
  {%- else -%}
    {%- set strategy = dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) -%}
  {%- endif -%}

  {%- set unique_key = config.get('unique_key', none) -%}
  {%- set partition_by = config.get('partition_by', none) -%}
  {%- set language = model['language'] -%}
  {%- set on_schema_change = incremental_validate_on_schema_change(
      config.get('on_schema_change'), default='ignore') -%}
  {%- set incremental_predicates = config.get('predicates', none)
      or config.get('incremental_predicates', none) -%}
  {%- set target_relation = this -%}
  {%- set full_refresh_mode = should_full_refresh() -%}
  {%- set transactional = file_format in ['delta', 'iceberg', 'hudi'] -%}
  {%- if transactional -%}
    {%- set existing_relation = load_relation(this) -%}
  {%- else -%}
    {%- set existing_relation = sparkplus_restore_interrupted_swap(this) -%}
  {%- endif -%}
  {% set tmp_relation = this.incorporate(
      path={"identifier": this.identifier ~ '__dbt_tmp'}) -%}
  {%- if language == 'sql' -%}
    {%- set tmp_relation = tmp_relation.include(database=false, schema=false) -%}
  {%- endif -%}

  {%- if strategy == 'copy_on_write' and transactional -%}
    {%- do exceptions.raise_compiler_error(
        "incremental_strategy 'copy_on_write' is for non-transactional formats; use "
        ~ "'merge' on " ~ file_format ~ " (model " ~ model.name ~ ").") -%}
  {%- endif -%}
  {%- if strategy == 'copy_on_write' and not unique_key -%}
    {%- do exceptions.raise_compiler_error(
        "incremental_strategy 'copy_on_write' needs a unique_key (model "
        ~ model.name ~ ").") -%}
  {%- endif -%}

  {%- if strategy in ['insert_overwrite', 'microbatch'] and partition_by -%}
    {%- call statement() -%}
      set spark.sql.sources.partitionOverwriteMode = DYNAMIC
    {%- endcall -%}
  {%- endif -%}

  {{ run_hooks(pre_hooks) }}

  {%- set full_build = existing_relation is none or existing_relation.is_view
      or full_refresh_mode -%}
  {%- if full_build and not transactional -%}
    {%- set swap = sparkplus_prepare_swap(target_relation, partitioned=partition_by is not none) -%}
    {%- call statement('main', language=language) -%}
      {{ create_table_as(False, swap.new_relation, compiled_code, language) }}
    {%- endcall -%}
    {% do sparkplus_finish_swap(swap) %}
    {% do persist_constraints(target_relation, model) %}
  {%- elif full_build -%}
    {%- if existing_relation is not none and not existing_relation.is_delta -%}
      {% do adapter.drop_relation(existing_relation) %}
    {%- endif -%}
    {%- call statement('main', language=language) -%}
      {{ create_table_as(False, target_relation, compiled_code, language) }}
    {%- endcall -%}
    {% do persist_constraints(target_relation, model) %}
  {%- elif strategy == 'copy_on_write' -%}
    {%- call statement('create_tmp_relation', language=language) -%}
      {{ create_table_as(True, tmp_relation, compiled_code, language) }}
    {%- endcall -%}
    {%- do process_schema_changes(on_schema_change, tmp_relation, existing_relation) -%}
    {%- set swap = sparkplus_prepare_swap(target_relation, partitioned=partition_by is not none) -%}
    {%- call statement('main') -%}
      {{ create_table_as(False, swap.new_relation,
          sparkplus_copy_on_write_sql(tmp_relation, existing_relation, unique_key), 'sql') }}
    {%- endcall -%}
    {% do sparkplus_finish_swap(swap) %}
  {%- else -%}
    {%- if strategy == 'insert_overwrite' and not transactional -%}
      {#- What a killed run's `insert overwrite` left in the table's folder. -#}
      {% do adapter.collect_write_leftovers(existing_relation) %}
    {%- endif -%}
    {%- call statement('create_tmp_relation', language=language) -%}
      {{ create_table_as(True, tmp_relation, compiled_code, language) }}
    {%- endcall -%}
    {%- do process_schema_changes(on_schema_change, tmp_relation, existing_relation) -%}
    {%- call statement('main') -%}
      {{ dbt_spark_get_incremental_sql(
          strategy, tmp_relation, target_relation, existing_relation, unique_key,
          incremental_predicates) }}
    {%- endcall -%}
    {%- if language == 'python' -%}
      {% call statement('drop_relation') -%}
        drop table if exists {{ tmp_relation }}
      {%- endcall %}
    {%- endif -%}
  {%- endif -%}

  {% set should_revoke = should_revoke(existing_relation, full_refresh_mode) %}
  {% do apply_grants(target_relation, grant_config, should_revoke) %}

  {% do persist_docs(target_relation, model) %}

  {{ run_hooks(post_hooks) }}

  {{ return({'relations': [target_relation]}) }}
{%- endmaterialization %}


{#-
    The new version of a copy_on_write table: the existing rows whose unique key the
    model's rows (`source`) do not have, then the model's rows, in the table's columns.
-#}
{% macro sparkplus_copy_on_write_sql(source, existing, unique_key) %}
  {%- set keys = [unique_key] if unique_key is string else unique_key -%}
  {%- set columns = adapter.get_columns_in_relation(existing)
      | map(attribute='quoted') | join(', ') -%}
  select {{ columns }} from {{ existing }} as kept
  where not exists (
    select 1 from {{ source }} as changed
    where
      {%- for key in keys %}
      changed.{{ key }} <=> kept.{{ key }}{{ " and" if not loop.last }}
      {%- endfor %}
  )
  union all
  select {{ columns }} from {{ source }}
{% endmacro %}
