{#-
    One row per customer with at least one sales line: when they first and last bought.
    The first purchase month decides when a customer counts as new.
-#}

with

sales_lines as (

    select * from {{ ref("int_sales_lines_filtered") }}

),

summarized as (

    select
        customer_id,
        min(year_month) as first_year_month,
        max(year_month) as last_year_month,
        count(distinct invoice_id) as invoices,
        count(distinct year_month) as active_months,
        cast(sum(line_amount) as decimal(20, 3)) as sales_amount,
        min(invoiced_at) as first_purchased_at,
        max(invoiced_at) as last_purchased_at
    from sales_lines
    where has_customer
    group by customer_id

)

select * from summarized
