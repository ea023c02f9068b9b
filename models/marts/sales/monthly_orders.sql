{{
    config(
        materialized="incremental",
        unique_key="year_month",
        post_hook="{{ lgs_analytics.record_watermark('run') }}",
    )
}}

{#-
    Orders per month (DEFINITIONS §3): placed orders are distinct invoices that are neither
    cancellations nor adjustments; cancelled orders are distinct cancellation invoices.
    Incremental: a run rebuilds the months from the first one whose transactions changed
    (a late cancellation rebuilds its own month).
-#}

{%- set rebuild_from = lgs_analytics.first_month_to_rebuild(
    ref("stg_online_retail__transactions")
) %}

with

calendar_months as (

    select * from {{ ref("int_months_spined") }}
    {%- if rebuild_from is not none %}
        where year_month >= {{ rebuild_from }}
    {%- endif %}

),

transactions as (

    select * from {{ ref("stg_online_retail__transactions") }}
    {%- if rebuild_from is not none %}
        where year_month >= {{ rebuild_from }}
    {%- endif %}

),

monthly as (

    select
        year_month,
        count(
            distinct case
                when not is_cancellation and not is_adjustment then invoice_id
            end
        ) as placed_orders,
        count(
            distinct case when is_cancellation then invoice_id end
        ) as cancelled_orders
    from transactions
    group by year_month

),

spined as (

    select
        cast(calendar_months.year_month as int) as year_month,
        cast(coalesce(monthly.placed_orders, 0) as bigint) as placed_orders,
        cast(coalesce(monthly.cancelled_orders, 0) as bigint) as cancelled_orders,
        cast(
            case
                when coalesce(monthly.placed_orders, 0) > 0
                    then monthly.cancelled_orders / monthly.placed_orders * 100
            end as double
        ) as cancellation_rate_pct,
        calendar_months.is_partial_month,
        calendar_months.month_start
    from calendar_months
    left join monthly
        on calendar_months.year_month = monthly.year_month

)

select * from spined
