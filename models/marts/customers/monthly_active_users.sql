{{
    config(
        materialized="incremental",
        unique_key="year_month",
        post_hook="{{ lgs_analytics.record_watermark('run') }}",
    )
}}

{#-
    Monthly active users (DEFINITIONS §3): distinct customers with a sales line. Incremental: a
    run rebuilds the months from the first one whose sales lines changed.
-#}

{%- set rebuild_from = lgs_analytics.first_month_to_rebuild(
    ref("int_sales_lines_filtered")
) %}

with

calendar_months as (

    select * from {{ ref("int_months_spined") }}
    {%- if rebuild_from is not none %}
        where year_month >= {{ rebuild_from }}
    {%- endif %}

),

customer_months as (

    select * from {{ ref("int_customer_months_aggregated") }}
    {%- if rebuild_from is not none %}
        where year_month >= {{ rebuild_from }}
    {%- endif %}

),

monthly as (

    select
        year_month,
        count(distinct customer_id) as active_users
    from customer_months
    group by year_month

),

spined as (

    select
        cast(calendar_months.year_month as int) as year_month,
        cast(coalesce(monthly.active_users, 0) as bigint) as active_users,
        calendar_months.is_partial_month,
        calendar_months.month_start
    from calendar_months
    left join monthly
        on calendar_months.year_month = monthly.year_month

)

select * from spined
