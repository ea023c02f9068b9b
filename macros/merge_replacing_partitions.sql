{#-
    Incremental strategy `merge_replacing_partitions`, for the staging tables on Delta
    (Databricks): the partitions a run returns end up holding exactly the run's rows, as
    `insert_overwrite` leaves them on parquet, in one atomic Delta commit.

    A plain `merge` on the unique key updates and inserts but never deletes: when a file
    lands again with lines removed, the staged rows of those lines would stay forever (and
    the conservation test would fail on every build until a full refresh). Here the merge
    also deletes the target rows of the rewritten partitions that the run no longer returns
    (`when not matched by source and <partition> in (...) then delete`). Delta allows no
    subquery in a merge condition, so the partitions are read from the run's rows first
    and written into the statement as literals. The staging models return whole
    partitions: every row of each month they rewrite, a re-landed file's earlier months
    included. `update set *` and `insert *` are safe because `on_schema_change: fail`
    stops a run whose columns differ from the table's before the merge.
-#}
{% macro get_incremental_merge_replacing_partitions_sql(arg_dict) %}
    {%- set partition_by = config.get("partition_by") -%}
    {%- set columns = [partition_by] if partition_by is string else partition_by or [] -%}
    {%- if columns | length != 1 or not arg_dict["unique_key"] -%}
        {%- do exceptions.raise_compiler_error(
            "incremental_strategy 'merge_replacing_partitions' needs a unique_key and one "
            ~ "partition_by column (model " ~ model.name ~ ").") -%}
    {%- endif -%}
    {%- set source = arg_dict["temp_relation"] -%}
    {%- set partitions = run_query(
        "select distinct " ~ adapter.quote(columns[0]) ~ " from " ~ source ~ " order by 1"
    ).columns[0].values() -%}
    {{ return(lgs_analytics.merge_replacing_partitions_sql(
        arg_dict["target_relation"], source, arg_dict["unique_key"], columns[0], partitions
    )) }}
{% endmacro %}


{#-
    The merge statement: `partitions` are the values of `partition_column` the run
    rewrites (numbers or strings). No partitions (the run returned no row): a plain merge,
    which changes nothing.
-#}
{% macro merge_replacing_partitions_sql(target, source, unique_key, partition_column, partitions) %}
    {%- set literals = [] -%}
    {%- for value in partitions -%}
        {%- do literals.append(
            value | string if value is number
            else "'" ~ (value | string | replace("\\", "\\\\") | replace("'", "\\'")) ~ "'"
        ) -%}
    {%- endfor -%}
    merge into {{ target }} as target_rows
    using {{ source }} as source_rows
    on source_rows.{{ adapter.quote(unique_key) }} <=> target_rows.{{ adapter.quote(unique_key) }}
    when matched then update set *
    when not matched then insert *
    {%- if literals %}
    when not matched by source
        and target_rows.{{ adapter.quote(partition_column) }} in ({{ literals | join(", ") }})
        then delete
    {%- endif %}
{% endmacro %}
