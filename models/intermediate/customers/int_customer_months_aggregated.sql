{#-
    One row per customer and month in which the customer has a sales line, flagged when it
    is the customer's first purchase month.
-#}

with

sales_lines as (

    select * from {{ ref("int_sales_lines_filtered") }}

),

customers as (

    select * from {{ ref("int_customers_summarized") }}

),

customer_months as (

    select
        customer_id,
        year_month,
        count(distinct invoice_id) as invoices,
        cast(sum(line_amount) as decimal(20, 3)) as sales_amount
    from sales_lines
    where has_customer
    group by customer_id, year_month

),

flagged as (

    select
        customer_months.customer_id,
        customer_months.year_month,
        customer_months.invoices,
        customer_months.sales_amount,
        (
            customer_months.year_month = customers.first_year_month
        ) as is_first_purchase_month
    from customer_months
    inner join customers
        on customer_months.customer_id = customers.customer_id

)

select * from flagged
