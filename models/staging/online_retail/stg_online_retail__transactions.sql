{{
    config(
        materialized="incremental",
        partition_by=["year_month"],
        unique_key="transaction_id",
        post_hook="{{ lgs_analytics.record_watermark('run') }}",
    )
}}

{#-
    One row per readable raw row, exact duplicates (all eight raw fields equal) removed once
    unless var('deduplicate_exact_rows') is false. Typed, renamed and flagged per DEFINITIONS §2.
    The service-code lookup reads a seed: business lists live in seeds, not in `case`.

    Incremental, partitioned by `year_month`: a run rebuilds whole months, those in which
    `stg_online_retail__rows_parsed` (re)wrote rows since the last successful run.
    Exact duplicates have the same invoice date, so removing them month by month is exact.
-#}

{%- set months = lgs_analytics.months_changed_upstream(
    ref("stg_online_retail__rows_parsed"), "partition_month"
) %}

with

rows_parsed as (

    select * from {{ ref("stg_online_retail__rows_parsed") }}
    {%- if months is not none %}
        where partition_month in ({{ lgs_analytics.month_list(months) }})
    {%- endif %}

),

service_stock_codes as (

    select * from {{ ref("service_stock_codes") }}

),

readable as (

    {#-
        The month leads the window's keys without changing its groups (identical raw rows
        have the same invoice date): Spark sorts the rows once, by month first, and the
        write partitioned by `year_month` (= partition_month here) needs no sort of its own.
    #}
    select
        *,
        row_number() over (
            partition by partition_month, raw_row_hash order by source_file
        ) as occurrence,
        count(*) over (partition by partition_month, raw_row_hash) as identical_raw_rows
    from rows_parsed
    where quarantine_reason is null

),

deduplicated as (

    select
        *,
        {%- if var("deduplicate_exact_rows") %}
            identical_raw_rows - 1 as removed_duplicates
        {%- else %}
            0 as removed_duplicates
        {%- endif %}
    from readable
    {%- if var("deduplicate_exact_rows") %}
        where occurrence = 1
    {%- endif %}

),

service_code_lists as (

    select
        collect_set(
            case when match_type = 'exact' then stock_code end
        ) as exact_codes,
        collect_set(
            case when match_type = 'prefix' then stock_code end
        ) as code_prefixes
    from service_stock_codes

),

flagged as (

    select
        deduplicated.*,
        (
            array_contains(service_code_lists.exact_codes, deduplicated.stock_code)
            or exists(
                service_code_lists.code_prefixes,
                code_prefix -> startswith(deduplicated.stock_code, code_prefix)
            )
        ) as is_service_code
    from deduplicated
    cross join service_code_lists

),

renamed as (

    select
        sha2(
            concat(raw_row_hash, ':', cast(occurrence as string)), 256
        ) as transaction_id,
        invoice_id,
        stock_code,
        description,
        regexp_extract(customer_id_text, '^([0-9]+)', 1) as customer_id,
        country,
        source_file,
        cast(regexp_extract(invoice_id, '([0-9]+)$', 1) as int) as invoice_number,
        quantity,
        unit_price,
        cast(quantity * unit_price as decimal(18, 3)) as line_amount,
        cast(removed_duplicates as int) as removed_duplicates,
        startswith(invoice_id, 'C') as is_cancellation,
        startswith(invoice_id, 'A') as is_adjustment,
        is_service_code,
        customer_id_text is not null as has_customer,
        unit_price <= 0 as is_nonpositive_price,
        (
            not startswith(invoice_id, 'C')
            and not startswith(invoice_id, 'A')
            and not is_service_code
            and quantity > 0
            and unit_price > 0
        ) as is_sales_line,
        to_date(invoiced_at) as invoice_date,
        cast(trunc(invoiced_at, 'MM') as date) as month_start,
        -- The yyyyMM month of invoiced_at (never null on a staged row), as rows_parsed
        -- computed it.
        partition_month as year_month,
        invoiced_at,
        {{ lgs_analytics.loaded_at_expression() }} as loaded_at
    from flagged

)

select * from renamed
