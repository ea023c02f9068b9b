{#- Monthly active users (SPEC §3): distinct customers with a sales line. -#}

with

calendar_months as (

    select * from {{ ref("int_months_spined") }}

),

customer_months as (

    select * from {{ ref("int_customer_months_aggregated") }}

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
