{#-
    Incremental materialization for sparkplus: dbt-spark's, except that on parquet (and the
    other non-transactional formats) the first build and --full-refresh replace the table
    atomically for consumers (swap_table.sql) instead of dropping it first.

    An incremental run is dbt-spark's: the model's SQL becomes a temporary view and
    `insert overwrite ... partition (...)` replaces exactly the partitions the view returns
    (dynamic partition overwrite): Spark writes them to a staging folder and moves each
    partition folder into place when the job commits. A run killed before the commit
    changes nothing; the models' watermarks (macros/incremental_watermarks.sql) advance only
    after a successful run, so the next run recomputes whatever the killed one touched.
-#}
{% materialization incremental, adapter='sparkplus', supported_languages=['sql', 'python'] -%}
  {%- set raw_file_format = config.get('file_format', default='parquet') -%}
  {%- set raw_strategy = config.get('incremental_strategy') or 'append' -%}
  {%- set grant_config = config.get('grants') -%}

  {%- set file_format = dbt_spark_validate_get_file_format(raw_file_format) -%}
  {%- set strategy = dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) -%}

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

  {%- if strategy in ['insert_overwrite', 'microbatch'] and partition_by -%}
    {%- call statement() -%}
      set spark.sql.sources.partitionOverwriteMode = DYNAMIC
    {%- endcall -%}
  {%- endif -%}

  {{ run_hooks(pre_hooks) }}

  {%- set full_build = existing_relation is none or existing_relation.is_view
      or full_refresh_mode -%}
  {%- if full_build and not transactional -%}
    {%- set swap = sparkplus_prepare_swap(target_relation) -%}
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
  {%- else -%}
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
