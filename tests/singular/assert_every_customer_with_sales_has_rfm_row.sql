{#-
    Every customer with at least one sales line is scored: customer_rfm_scores has one row
    per customer of int_customers_summarized (one row per customer id with a sales line,
    a small table: reading it instead of the sales lines saves a scan of the staged
    transactions). The reverse direction is the relationships test on
    customer_rfm_scores.customer_id. Fails with the customers left out.
-#}

with

customers_with_sales as (

    select customer_id from {{ ref("int_customers_summarized") }}

),

rfm_scores as (

    select * from {{ ref("customer_rfm_scores") }}

),

unscored_customers as (

    select customers_with_sales.customer_id
    from customers_with_sales
    left join rfm_scores
        on customers_with_sales.customer_id = rfm_scores.customer_id
    where rfm_scores.customer_id is null

)

select * from unscored_customers
