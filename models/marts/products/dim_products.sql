{#-
    One row per product with a sales line (DEFINITIONS §6): its most frequent description and
    its totals over all sales lines. The product models (trend rankings, association
    rules, recommendations) read descriptions and best sellers here instead of scanning
    the sales lines again each.
-#}

with

sales_lines as (

    select * from {{ ref("int_sales_lines_filtered") }}

),

product_descriptions as (

    select
        stock_code,
        description,
        count(*) as sales_lines,
        sum(quantity) as quantity,
        sum(line_amount) as revenue,
        min(invoice_date) as first_sale_date,
        max(invoice_date) as last_sale_date
    from sales_lines
    group by stock_code, description

),

ranked_descriptions as (

    select
        *,
        row_number() over (
            partition by stock_code
            order by description is null, sales_lines desc, description asc
        ) as description_rank
    from product_descriptions

),

products as (

    select
        stock_code,
        max(
            case when description_rank = 1 then description end
        ) as description,
        sum(sales_lines) as sales_lines,
        sum(quantity) as quantity,
        sum(revenue) as revenue,
        min(first_sale_date) as first_sale_date,
        max(last_sale_date) as last_sale_date
    from ranked_descriptions
    group by stock_code

),

final as (

    select
        cast(stock_code as string) as stock_code,
        description,
        cast(
            row_number() over (order by revenue desc, stock_code asc) as int
        ) as revenue_rank,
        cast(sales_lines as bigint) as sales_lines,
        cast(quantity as bigint) as quantity,
        cast(revenue as decimal(20, 3)) as revenue,
        first_sale_date,
        last_sale_date
    from products

)

select * from final
