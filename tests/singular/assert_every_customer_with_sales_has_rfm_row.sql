{#-
    Every customer with at least one sales line is scored: customer_rfm_scores has one row
    per customer id of int_sales_lines_filtered (the reverse direction is the relationships
    test on customer_rfm_scores.customer_id). Fails with the customers left out.
-#}

with

sales_lines as (

    select * from {{ ref("int_sales_lines_filtered") }}

),

rfm_scores as (

    select * from {{ ref("customer_rfm_scores") }}

),

customers_with_sales as (

    select distinct customer_id
    from sales_lines
    where customer_id is not null

),

unscored_customers as (

    select customers_with_sales.customer_id
    from customers_with_sales
    left join rfm_scores
        on customers_with_sales.customer_id = rfm_scores.customer_id
    where rfm_scores.customer_id is null

)

select * from unscored_customers
