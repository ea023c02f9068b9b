{{ config(materialized="view") }}

{#-
    The staged transactions that are sales lines (DEFINITIONS §2). A view: a filter over the
    staged parquet table costs less than writing a second copy of it.
-#}

with

transactions as (

    select * from {{ ref("stg_online_retail__transactions") }}

),

sales_lines as (

    select * from transactions
    where is_sales_line

)

select * from sales_lines
