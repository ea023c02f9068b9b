{#-
    One row per campaign and assigned customer: whether the customer bought in the
    campaign window, the revenue there, and the revenue of the pre-period of the same
    length (DEFINITIONS §7). The window is the `campaign_window_days` days starting with
    the date of `assigned_at`; the pre-period the same number of days just before it.
    Revenue is the sum of the customer's sales lines (DEFINITIONS §2) dated in the period.
-#}

{%- set window_days = var("campaign_window_days") | int %}

with

assignments as (

    select * from {{ ref("stg_crm__campaign_assignments") }}

),

sales_lines as (

    select * from {{ ref("int_sales_lines_filtered") }}

),

periods as (

    select
        campaign_id,
        customer_id,
        variant,
        to_date(assigned_at) as window_start_date,
        date_add(to_date(assigned_at), {{ window_days }}) as window_end_date,
        date_sub(to_date(assigned_at), {{ window_days }}) as pre_period_start_date
    from assignments

),

customer_lines as (

    select
        periods.campaign_id,
        periods.customer_id,
        sales_lines.invoice_id,
        sales_lines.invoice_date >= periods.window_start_date
        and sales_lines.invoice_date < periods.window_end_date as is_in_window,
        sales_lines.invoice_date >= periods.pre_period_start_date
        and sales_lines.invoice_date < periods.window_start_date as is_in_pre_period,
        sales_lines.line_amount
    from periods
    inner join sales_lines
        on
            periods.customer_id = sales_lines.customer_id
            and periods.pre_period_start_date <= sales_lines.invoice_date
            and periods.window_end_date > sales_lines.invoice_date

),

per_customer as (

    select
        campaign_id,
        customer_id,
        count(distinct case when is_in_window then invoice_id end) as window_orders,
        sum(case when is_in_window then line_amount else 0 end) as revenue,
        sum(
            case when is_in_pre_period then line_amount else 0 end
        ) as pre_period_revenue
    from customer_lines
    group by campaign_id, customer_id

),

outcomes as (

    select
        periods.campaign_id,
        periods.customer_id,
        periods.variant,
        coalesce(per_customer.window_orders, 0) as window_orders,
        cast(coalesce(per_customer.revenue, 0) as decimal(18, 3)) as revenue,
        cast(
            coalesce(per_customer.pre_period_revenue, 0) as decimal(18, 3)
        ) as pre_period_revenue,
        coalesce(per_customer.window_orders, 0) > 0 as converted,
        periods.window_start_date,
        periods.window_end_date,
        periods.pre_period_start_date
    from periods
    left join per_customer
        on
            periods.campaign_id = per_customer.campaign_id
            and periods.customer_id = per_customer.customer_id

)

select * from outcomes
