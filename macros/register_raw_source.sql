{#-
    Registers the raw landing zone as an external table in the Hive metastore before any
    model runs (on-run-start). Idempotent: an existing table over the same path and layout
    is kept and refreshed, so newly landed files are picked up; a table over another path
    or an older layout is dropped (external: files are never deleted) and re-created.

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
    {%- set table = schema ~ ".online_retail_ii" -%}
    {%- set raw_path = var("raw_path") -%}
    {%- set layout_version = "2" -%}

    {% do run_query("create schema if not exists " ~ schema) %}

    {%- set existing = run_query("show tables in " ~ schema ~ " like 'online_retail_ii'") -%}
    {%- if existing | length > 0 -%}
        {%- set props = {} -%}
        {%- for row in run_query("show tblproperties " ~ table) -%}
            {%- do props.update({row[0]: row[1]}) -%}
        {%- endfor -%}
        {%- if props.get("lgs.raw_path") != raw_path
            or props.get("lgs.layout_version") != layout_version -%}
            {{ log("Raw source " ~ table ~ " points elsewhere; re-registering over "
                   ~ raw_path, info=true) }}
            {% do run_query("drop table " ~ table) %}
        {%- endif -%}
    {%- endif -%}

    {% do run_query(lgs_analytics.raw_source_ddl(table, raw_path, layout_version)) %}
    {% do run_query("refresh table " ~ table) %}
    {{ return("") }}
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
