{#-
    Every calendar month from the first to the last month of staged data, months without
    activity included, so that marts show zeros rather than gaps. The last month is partial
    when the data ends before the month does.
-#}

with

transactions as (

    select * from {{ ref("stg_online_retail__transactions") }}

),

data_bounds as (

    select
        min(invoice_date) as first_invoice_date,
        max(invoice_date) as last_invoice_date
    from transactions

),

calendar_months as (

    {{ month_spine(
        "(select first_invoice_date from data_bounds)",
        "(select last_invoice_date from data_bounds)"
    ) }}

),

flagged as (

    select
        calendar_months.year_month,
        (
            calendar_months.month_start = trunc(data_bounds.last_invoice_date, 'MM')
            and data_bounds.last_invoice_date < last_day(calendar_months.month_start)
        ) as is_partial_month,
        calendar_months.month_start,
        last_day(calendar_months.month_start) as month_end_date
    from calendar_months
    cross join data_bounds

)

select * from flagged
