{#-
    Monthly cohort retention: customers grouped by the month of their first sales line (the
    cohort), and for every later month how many of them bought again and for how much.
    The first month of data is left-censored: its cohort also holds customers who had bought
    before the data starts, so its retention reads high.
-#}

with

customers as (

    select * from {{ ref("int_customers_summarized") }}

),

customer_months as (

    select * from {{ ref("int_customer_months_aggregated") }}

),

cohorts as (

    select
        customer_id,
        first_year_month as cohort_year_month,
        to_date(cast(first_year_month as string), 'yyyyMM') as cohort_month_start
    from customers

),

cohort_sizes as (

    select
        cohort_year_month,
        count(*) as cohort_customers
    from cohorts
    group by cohort_year_month

),

cohort_activity as (

    select
        cohorts.customer_id,
        cohorts.cohort_year_month,
        customer_months.sales_amount,
        cast(
            months_between(
                to_date(cast(customer_months.year_month as string), 'yyyyMM'),
                cohorts.cohort_month_start
            ) as int
        ) as months_since_first_purchase
    from customer_months
    inner join cohorts
        on customer_months.customer_id = cohorts.customer_id

),

retention as (

    select
        cohort_activity.cohort_year_month,
        cohort_activity.months_since_first_purchase,
        cohort_sizes.cohort_customers,
        count(distinct cohort_activity.customer_id) as active_customers,
        cast(sum(cohort_activity.sales_amount) as decimal(20, 3)) as sales_amount
    from cohort_activity
    inner join cohort_sizes
        on cohort_activity.cohort_year_month = cohort_sizes.cohort_year_month
    group by
        cohort_activity.cohort_year_month,
        cohort_activity.months_since_first_purchase,
        cohort_sizes.cohort_customers

),

final as (

    select
        cohort_year_month,
        months_since_first_purchase,
        cohort_customers,
        active_customers,
        cast(active_customers / cohort_customers * 100 as double) as retention_pct,
        sales_amount,
        cohort_year_month = min(cohort_year_month) over () as is_left_censored_cohort
    from retention

)

select * from final
