{#-
    Sales split by country of the customer: customers, orders, sales and average order
    value per country, with each country's share of all sales, largest market first.
    Lines of unknown customers count towards sales and orders but not towards customers.
-#}

with

sales_lines as (

    select * from {{ ref("int_sales_lines_filtered") }}

),

countries as (

    select
        coalesce(country, 'Unknown') as country,
        count(distinct customer_id) as customers,
        count(distinct invoice_id) as orders,
        count(*) as sales_lines,
        cast(sum(line_amount) as decimal(20, 3)) as sales_amount
    from sales_lines
    group by coalesce(country, 'Unknown')

),

shares as (

    select
        country,
        rank() over (order by sales_amount desc) as country_rank,
        customers,
        orders,
        sales_lines,
        sales_amount,
        cast(sales_amount / orders as decimal(20, 3)) as avg_order_amount,
        cast(
            sales_amount / sum(sales_amount) over () * 100 as double
        ) as sales_share_pct
    from countries

)

select * from shares
