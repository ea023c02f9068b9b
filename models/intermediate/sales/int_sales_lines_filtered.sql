{#- The staged transactions that are sales lines ({{ doc("sales_line") }}). -#}

with

transactions as (

    select * from {{ ref("stg_online_retail__transactions") }}

),

sales_lines as (

    select * from transactions
    where is_sales_line

)

select * from sales_lines
