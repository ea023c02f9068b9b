{#-
    Registers the second raw source, the CRM export of campaign assignments
    (`campaign_id,customer_id,variant,assigned_at`), before any model runs (on-run-start),
    the way register_raw_source registers the Online Retail II files (both through
    register_csv_source): the landed headers are checked against the contract (on
    `sparkplus` targets), then the external CSV table
    `raw.campaign_assignments_landed` over `var('campaign_raw_path')`, every column a
    string, and the view `raw.campaign_assignments` (the dbt source) over it, which adds
    each row's file and modification time. A row without four fields keeps its text in
    `_corrupt_record` and is quarantined by staging.
-#}
{% macro register_campaign_source() %}
    {{ return(adapter.dispatch("register_campaign_source", "lgs_analytics")()) }}
{% endmacro %}

{% macro default__register_campaign_source() %}
    {%- if not execute -%}
        {{ return("") }}
    {%- endif -%}
    {%- set schema = var("raw_schema") -%}
    {%- set landed = schema ~ ".campaign_assignments_landed" -%}
    {%- set view = schema ~ ".campaign_assignments" -%}
    {%- set raw_path = lgs_analytics.landing_path(var("campaign_raw_path")) -%}
    {%- set layout_version = "1" -%}

    {% do run_query("create schema if not exists " ~ schema) %}
    {% do lgs_analytics.check_campaign_files(raw_path) %}

    {% do lgs_analytics.register_csv_source(
        schema,
        "campaign_assignments_landed",
        raw_path,
        layout_version,
        lgs_analytics.campaign_source_ddl(landed, raw_path, layout_version),
        lgs_analytics.campaign_source_view_ddl(view, landed)
    ) %}
    {{ return("") }}
{% endmacro %}

{% macro check_campaign_files(raw_path) %}
    {{ return(adapter.dispatch("check_campaign_files", "lgs_analytics")(raw_path)) }}
{% endmacro %}

{% macro default__check_campaign_files(raw_path) %}
    {{ return([]) }}
{% endmacro %}

{% macro sparkplus__check_campaign_files(raw_path) %}
    {%- if not var("check_landed_files", true) -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set contract = {
        "name": "campaign assignments (CRM export)",
        "columns": ["campaign_id", "customer_id", "variant", "assigned_at"],
    } -%}
    {%- set hint = "land it with `lgs import`, which recognises a CRM export of campaign "
        ~ "assignments by its header" -%}
    {#- No export may have landed yet: the folder is then created and reads as no rows. -#}
    {{ return(adapter.check_landed_files(raw_path, contract, [], hint, may_be_empty=true)) }}
{% endmacro %}

{% macro campaign_source_view_ddl(view, landed) %}
    create or replace view {{ view }} as
    select
        campaign_id,
        customer_id,
        variant,
        assigned_at,
        _corrupt_record,
        _metadata.file_path as source_file,
        _metadata.file_modification_time as source_file_modified_at
    from {{ landed }}
{% endmacro %}

{% macro campaign_source_ddl(table, raw_path, layout_version) %}
    create table if not exists {{ table }} (
        campaign_id string,
        customer_id string,
        variant string,
        assigned_at string,
        _corrupt_record string
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
        nullValue '',
        emptyValue ''
    )
    tblproperties (
        'lgs.raw_path' = '{{ raw_path }}',
        'lgs.layout_version' = '{{ layout_version }}'
    )
{% endmacro %}
