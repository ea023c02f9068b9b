{#-
    Monthly sales per product (DEFINITIONS §6): one row per stock code and calendar month,
    from the product's first month with a sales line to the last month of data, months
    without sales included as zeros, with quantity and revenue growth against the
    previous month.
-#}

with

calendar_months as (

    select * from {{ ref("int_months_spined") }}

),

sales_lines as (

    select * from {{ ref("int_sales_lines_filtered") }}

),

product_months as (

    select
        stock_code,
        year_month,
        sum(quantity) as quantity,
        sum(line_amount) as revenue,
        count(distinct invoice_id) as invoices
    from sales_lines
    group by stock_code, year_month

),

product_first_months as (

    select
        stock_code,
        min(year_month) as first_year_month
    from product_months
    group by stock_code

),

spined as (

    select
        product_first_months.stock_code,
        calendar_months.year_month,
        coalesce(product_months.quantity, 0) as quantity,
        coalesce(product_months.revenue, 0) as revenue,
        coalesce(product_months.invoices, 0) as invoices,
        calendar_months.is_partial_month,
        calendar_months.month_start
    from product_first_months
    inner join calendar_months
        on product_first_months.first_year_month <= calendar_months.year_month
    left join product_months
        on
            product_first_months.stock_code = product_months.stock_code
            and calendar_months.year_month = product_months.year_month

),

with_previous as (

    select
        stock_code,
        year_month,
        quantity,
        lag(quantity) over (
            partition by stock_code order by year_month
        ) as previous_quantity,
        revenue,
        lag(revenue) over (
            partition by stock_code order by year_month
        ) as previous_revenue,
        invoices,
        is_partial_month,
        month_start
    from spined

),

final as (

    select
        cast(stock_code as string) as stock_code,
        cast(year_month as int) as year_month,
        cast(quantity as bigint) as quantity,
        cast(previous_quantity as bigint) as previous_quantity,
        cast(
            {{ growth_pct("quantity", "previous_quantity") }} as double
        ) as quantity_growth_pct,
        cast(revenue as decimal(20, 3)) as revenue,
        cast(previous_revenue as decimal(20, 3)) as previous_revenue,
        cast(
            {{ growth_pct("revenue", "previous_revenue") }} as double
        ) as revenue_growth_pct,
        cast(invoices as bigint) as invoices,
        is_partial_month,
        month_start
    from with_previous

)

select * from final
