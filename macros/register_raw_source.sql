{#-
    Registers the raw landing zone in the Hive metastore before any model runs
    (on-run-start). Idempotent: an existing registration over the same path and layout is
    kept and refreshed, so newly landed files are picked up; one over another path or an
    older layout is dropped (external: files are never deleted) and re-created.

    Two objects: the external CSV table `raw.online_retail_ii_landed` over the landing path,
    and the view `raw.online_retail_ii` (the dbt source) that adds each row's file and the
    file's modification time, which incremental staging and the conservation test key on.

    Every column is read as a string and a row that does not have eight fields lands in
    `_corrupt_record`: typing happens in staging, where unreadable rows are quarantined
    with a reason instead of being dropped by the CSV reader. Quotes are escaped by
    doubling them (RFC 4180, as the UCI export writes them), and `multiLine` is off so a
    stray quote can only spoil its own line.
-#}
{% macro register_raw_source() %}
    {{ return(adapter.dispatch("register_raw_source", "lgs_analytics")()) }}
{% endmacro %}

{% macro default__register_raw_source() %}
    {%- if not execute -%}
        {{ return("") }}
    {%- endif -%}
    {%- set schema = var("raw_schema") -%}
    {%- set landed = schema ~ ".online_retail_ii_landed" -%}
    {%- set view = schema ~ ".online_retail_ii" -%}
    {%- set raw_path = lgs_analytics.landing_path(var("raw_path")) -%}
    {%- set layout_version = "3" -%}

    {% do run_query("create schema if not exists " ~ schema) %}
    {#- After the first query (which checks the metastore is free), before registering. -#}
    {% do lgs_analytics.check_landed_files(raw_path) %}

    {#- Layout 2 registered the CSV table itself as `online_retail_ii`. -#}
    {%- set old_table = run_query("show tables in " ~ schema ~ " like 'online_retail_ii'") -%}
    {%- set views = run_query("show views in " ~ schema ~ " like 'online_retail_ii'") -%}
    {%- if old_table | length > 0 and views | length == 0 -%}
        {% do run_query("drop table " ~ view) %}
    {%- endif -%}

    {% do lgs_analytics.register_csv_source(
        schema,
        "online_retail_ii_landed",
        raw_path,
        layout_version,
        lgs_analytics.raw_source_ddl(landed, raw_path, layout_version),
        lgs_analytics.raw_source_view_ddl(view, landed)
    ) %}
    {{ return("") }}
{% endmacro %}

{#-
    What registering a landed CSV source means, for every raw source: the external table
    `schema.landed_name` is kept while it points at `raw_path` with `layout_version`
    (table properties `lgs.raw_path`, `lgs.layout_version`), else dropped (external: no
    file is deleted) and re-created with `table_ddl` (`create table if not exists`);
    refreshed, so that newly landed files are listed; and the source view re-created with
    `view_ddl`. The callers check the landed files and create the schema first.
-#}
{% macro register_csv_source(schema, landed_name, raw_path, layout_version, table_ddl, view_ddl) %}
    {%- set landed = schema ~ "." ~ landed_name -%}
    {%- set existing = run_query("show tables in " ~ schema ~ " like '" ~ landed_name ~ "'") -%}
    {%- if existing | length > 0 -%}
        {%- set props = {} -%}
        {%- for row in run_query("show tblproperties " ~ landed) -%}
            {%- do props.update({row[0]: row[1]}) -%}
        {%- endfor -%}
        {%- if props.get("lgs.raw_path") != raw_path
            or props.get("lgs.layout_version") != layout_version -%}
            {{ log("Raw source " ~ landed ~ " points elsewhere; re-registering over "
                   ~ raw_path, info=true) }}
            {% do run_query("drop table " ~ landed) %}
        {%- endif -%}
    {%- endif -%}
    {% do run_query(table_ddl) %}
    {% do run_query("refresh table " ~ landed) %}
    {% do run_query(view_ddl) %}
{% endmacro %}

{#-
    The landing path as the table's LOCATION: on the sparkplus adapter a relative path is
    made absolute from the project root (Spark would resolve it against the schema's
    warehouse folder and read nothing); other adapters take it as given (cloud URIs).
-#}
{% macro landing_path(raw_path) %}
    {{ return(adapter.dispatch("landing_path", "lgs_analytics")(raw_path)) }}
{% endmacro %}

{% macro default__landing_path(raw_path) %}
    {{ return(raw_path) }}
{% endmacro %}

{% macro sparkplus__landing_path(raw_path) %}
    {{ return(adapter.project_path(raw_path)) }}
{% endmacro %}

{% macro raw_source_view_ddl(view, landed) %}
    create or replace view {{ view }} as
    select
        `Invoice`,
        `StockCode`,
        `Description`,
        `Quantity`,
        `InvoiceDate`,
        `Price`,
        `Customer ID`,
        `Country`,
        `_corrupt_record`,
        _metadata.file_path as source_file,
        _metadata.file_modification_time as source_file_modified_at
    from {{ landed }}
{% endmacro %}

{% macro raw_source_ddl(table, raw_path, layout_version) %}
    create table if not exists {{ table }} (
        `Invoice` string,
        `StockCode` string,
        `Description` string,
        `Quantity` string,
        `InvoiceDate` string,
        `Price` string,
        `Customer ID` string,
        `Country` string,
        `_corrupt_record` string
    )
    using csv
    options (
        path '{{ raw_path }}',
        header 'true',
        encoding 'UTF-8',
        mode 'PERMISSIVE',
        columnNameOfCorruptRecord '_corrupt_record',
        multiLine 'false',
        quote '"',
        escape '"',
        enforceSchema 'false',
        ignoreLeadingWhiteSpace 'false',
        ignoreTrailingWhiteSpace 'false',
        nullValue '',
        emptyValue ''
    )
    tblproperties (
        'lgs.raw_path' = '{{ raw_path }}',
        'lgs.layout_version' = '{{ layout_version }}'
    )
{% endmacro %}
