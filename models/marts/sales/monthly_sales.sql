{{
    config(
        materialized="incremental",
        unique_key="year_month",
        post_hook="{{ lgs_analytics.record_watermark('run') }}",
    )
}}

{#-
    Monthly sales and month-over-month growth (DEFINITIONS §3), one row per calendar month.
    Incremental: a run rebuilds the months from the first one whose sales lines changed
    (reading one month more, for the growth of the first rebuilt month).
-#}

{%- set rebuild_from = lgs_analytics.first_month_to_rebuild(
    ref("int_sales_lines_filtered")
) %}

with

calendar_months as (

    select * from {{ ref("int_months_spined") }}
    {%- if rebuild_from is not none %}
        where year_month >= {{ lgs_analytics.previous_year_month(rebuild_from) }}
    {%- endif %}

),

sales_lines as (

    select * from {{ ref("int_sales_lines_filtered") }}
    {%- if rebuild_from is not none %}
        where year_month >= {{ lgs_analytics.previous_year_month(rebuild_from) }}
    {%- endif %}

),

monthly as (

    select
        year_month,
        sum(line_amount) as sales_amount,
        count(*) as sales_lines
    from sales_lines
    group by year_month

),

spined as (

    select
        calendar_months.year_month,
        cast(coalesce(monthly.sales_amount, 0) as decimal(20, 3)) as sales_amount,
        coalesce(monthly.sales_lines, 0) as sales_lines,
        calendar_months.is_partial_month,
        calendar_months.month_start
    from calendar_months
    left join monthly
        on calendar_months.year_month = monthly.year_month

),

with_growth as (

    select
        year_month,
        sales_amount,
        lag(sales_amount) over (order by year_month) as previous_sales_amount,
        sales_lines,
        is_partial_month,
        month_start
    from spined

),

final as (

    select
        cast(year_month as int) as year_month,
        cast(sales_amount as decimal(20, 3)) as sales_amount,
        cast(previous_sales_amount as decimal(20, 3)) as previous_sales_amount,
        cast(
            {{ growth_pct("sales_amount", "previous_sales_amount") }} as double
        ) as sales_growth_pct,
        cast(sales_lines as bigint) as sales_lines,
        is_partial_month,
        month_start
    from with_growth
    {%- if rebuild_from is not none %}
        where year_month >= {{ rebuild_from }}
    {%- endif %}

)

select * from final
