{#-
    Top growing and declining products (DEFINITIONS §6). The last `sku_trend_window_months`
    complete months (the recent window) are compared with the same number of complete
    months just before them (the previous window). A product qualifies when its
    previous-window revenue reaches `sku_trend_min_revenue`, so that growth is measured
    from a base worth comparing with; growers and decliners are ranked separately by the
    size of their revenue growth in percent, then by the size of the revenue change, and
    the first `sku_trend_top_n` of each are kept. No rows until there are twice the
    window's complete months of data.
-#}

with

calendar_months as (

    select * from {{ ref("int_months_spined") }}

),

sku_monthly_sales as (

    select * from {{ ref("sku_monthly_sales") }}

),

products as (

    select * from {{ ref("dim_products") }}

),

complete_months as (

    select
        year_month,
        month_start,
        row_number() over (order by year_month desc) as months_back
    from calendar_months
    where not is_partial_month

),

trend_months as (

    select
        year_month,
        months_back <= {{ var("sku_trend_window_months") }} as is_recent_window,
        month_start
    from complete_months
    where months_back <= 2 * {{ var("sku_trend_window_months") }}

),

trend_windows as (

    select
        count(*) as window_months_found,
        min(
            case when is_recent_window then month_start end
        ) as recent_window_start_date,
        last_day(
            max(case when is_recent_window then month_start end)
        ) as recent_window_end_date,
        min(
            case when not is_recent_window then month_start end
        ) as previous_window_start_date,
        last_day(
            max(case when not is_recent_window then month_start end)
        ) as previous_window_end_date
    from trend_months

),

product_windows as (

    select
        sku_monthly_sales.stock_code,
        sum(
            case
                when trend_months.is_recent_window then sku_monthly_sales.revenue
            end
        ) as recent_revenue,
        sum(
            case
                when not trend_months.is_recent_window then sku_monthly_sales.revenue
            end
        ) as previous_revenue,
        sum(
            case
                when trend_months.is_recent_window then sku_monthly_sales.quantity
            end
        ) as recent_quantity,
        sum(
            case
                when not trend_months.is_recent_window then sku_monthly_sales.quantity
            end
        ) as previous_quantity
    from sku_monthly_sales
    inner join trend_months
        on sku_monthly_sales.year_month = trend_months.year_month
    group by sku_monthly_sales.stock_code

),

qualified as (

    select
        product_windows.stock_code,
        case
            when product_windows.recent_revenue > product_windows.previous_revenue
                then 'grower'
            else 'decliner'
        end as trend_direction,
        coalesce(product_windows.recent_revenue, 0) as recent_revenue,
        product_windows.previous_revenue,
        coalesce(product_windows.recent_revenue, 0)
        - product_windows.previous_revenue as revenue_change,
        {{ growth_pct(
            "coalesce(product_windows.recent_revenue, 0)",
            "product_windows.previous_revenue"
        ) }} as revenue_growth_pct,
        coalesce(product_windows.recent_quantity, 0) as recent_quantity,
        product_windows.previous_quantity,
        trend_windows.recent_window_start_date,
        trend_windows.recent_window_end_date,
        trend_windows.previous_window_start_date,
        trend_windows.previous_window_end_date
    from product_windows
    cross join trend_windows
    where
        trend_windows.window_months_found = 2 * {{ var("sku_trend_window_months") }}
        and product_windows.previous_revenue >= {{ var("sku_trend_min_revenue") }}
        and product_windows.previous_revenue > 0
        and coalesce(product_windows.recent_revenue, 0)
        != product_windows.previous_revenue

),

ranked as (

    select
        *,
        row_number() over (
            partition by trend_direction
            order by
                abs(revenue_growth_pct) desc,
                abs(revenue_change) desc,
                stock_code asc
        ) as trend_rank
    from qualified

),

final as (

    select
        cast(ranked.stock_code as string) as stock_code,
        ranked.trend_direction,
        products.description,
        cast(ranked.trend_rank as int) as trend_rank,
        cast(ranked.recent_revenue as decimal(20, 3)) as recent_revenue,
        cast(ranked.previous_revenue as decimal(20, 3)) as previous_revenue,
        cast(ranked.revenue_change as decimal(20, 3)) as revenue_change,
        cast(ranked.revenue_growth_pct as double) as revenue_growth_pct,
        cast(ranked.recent_quantity as bigint) as recent_quantity,
        cast(ranked.previous_quantity as bigint) as previous_quantity,
        cast({{ var("sku_trend_window_months") }} as int) as window_months,
        ranked.recent_window_start_date,
        ranked.recent_window_end_date,
        ranked.previous_window_start_date,
        ranked.previous_window_end_date
    from ranked
    left join products
        on ranked.stock_code = products.stock_code
    where ranked.trend_rank <= {{ var("sku_trend_top_n") }}

)

select * from final
