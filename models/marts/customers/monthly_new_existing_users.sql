{{
    config(
        materialized="incremental",
        unique_key="year_month",
        post_hook="{{ lgs_analytics.record_watermark('run') }}",
    )
}}

{#-
    New versus existing active users per month (DEFINITIONS §3): a customer is new in the month of
    their first sales line and existing in every later month with a sales line, so
    new + existing = active users. The first month of data is left-censored.
    Incremental: a run rebuilds the months from the first one whose sales lines changed, so
    that a customer whose first purchase moves earlier (a late row) is new in the right
    month and existing in every later one.
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
        count_if(is_first_purchase_month) as new_users,
        count_if(not is_first_purchase_month) as existing_users,
        count(*) as active_users
    from customer_months
    group by year_month

),

spined as (

    select
        cast(calendar_months.year_month as int) as year_month,
        cast(coalesce(monthly.new_users, 0) as bigint) as new_users,
        cast(coalesce(monthly.existing_users, 0) as bigint) as existing_users,
        cast(coalesce(monthly.active_users, 0) as bigint) as active_users,
        cast(
            case
                when coalesce(monthly.active_users, 0) > 0
                    then monthly.new_users / monthly.active_users * 100
            end as double
        ) as new_user_share_pct,
        calendar_months.is_partial_month,
        calendar_months.month_start
    from calendar_months
    left join monthly
        on calendar_months.year_month = monthly.year_month

)

select * from spined
