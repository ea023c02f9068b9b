{#-
    Seasonality of each product by calendar month (DEFINITIONS §6), over the complete months
    of `sku_monthly_sales` (from the product's first month; the partial last month left
    out). The index compares the product's share of revenue in a calendar month with the
    share it would have if every month sold alike: months_observed / total months. It
    equals the mean revenue of that calendar month over the mean revenue of all months,
    so 1 is an average month, 2 a month selling twice the average, 0 a month without
    sales. A calendar month the product has not lived through yet has no index.
-#}

with

sku_monthly_sales as (

    select * from {{ ref("sku_monthly_sales") }}

),

complete_months as (

    select
        stock_code,
        revenue,
        month(month_start) as calendar_month
    from sku_monthly_sales
    where not is_partial_month

),

calendar as (

    select explode(sequence(1, 12)) as calendar_month

),

product_calendar_months as (

    select
        stock_code,
        calendar_month,
        count(*) as months_observed,
        sum(revenue) as revenue
    from complete_months
    group by stock_code, calendar_month

),

product_totals as (

    select
        stock_code,
        count(*) as total_months,
        sum(revenue) as total_revenue
    from complete_months
    group by stock_code

),

product_grid as (

    select
        product_totals.stock_code,
        calendar.calendar_month,
        coalesce(product_calendar_months.months_observed, 0) as months_observed,
        coalesce(product_calendar_months.revenue, 0) as revenue,
        product_totals.total_months,
        product_totals.total_revenue
    from product_totals
    cross join calendar
    left join product_calendar_months
        on
            product_totals.stock_code = product_calendar_months.stock_code
            and calendar.calendar_month = product_calendar_months.calendar_month

),

indexed as (

    select
        stock_code,
        calendar_month,
        months_observed,
        revenue,
        case
            when total_revenue > 0
                then cast(revenue as double) / cast(total_revenue as double) * 100
        end as revenue_share_pct,
        cast(months_observed as double) / total_months * 100 as expected_share_pct,
        case
            when total_revenue > 0 and months_observed > 0
                then
                    (cast(revenue as double) / cast(total_revenue as double))
                    / (cast(months_observed as double) / total_months)
        end as seasonality_index
    from product_grid

),

peaks as (

    select
        *,
        row_number() over (
            partition by stock_code
            order by seasonality_index desc nulls last, calendar_month asc
        ) as index_rank
    from indexed

),

final as (

    select
        cast(stock_code as string) as stock_code,
        date_format(make_date(2000, calendar_month, 1), 'MMMM') as month_name,
        cast(calendar_month as int) as calendar_month,
        cast(months_observed as int) as months_observed,
        cast(revenue as decimal(20, 3)) as revenue,
        cast(revenue_share_pct as double) as revenue_share_pct,
        cast(expected_share_pct as double) as expected_share_pct,
        cast(seasonality_index as double) as seasonality_index,
        coalesce(
            index_rank = 1 and seasonality_index is not null, false
        ) as is_peak_month
    from peaks

)

select * from final
