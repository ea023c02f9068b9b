{#-
    rfm_segment_transitions counts every customer once a month (DEFINITIONS §6): each
    month's customers add up to all customers of customer_rfm_month_end, and the customers
    leaving each state in a month are the customers who entered it the month before (from
    the second month on). Fails with the months and states whose counts differ.
-#}

with

transitions as (

    select * from {{ ref("rfm_segment_transitions") }}

),

all_customers as (

    select count(distinct customer_id) as customers
    from {{ ref("customer_rfm_month_end") }}

),

month_totals as (

    select
        transitions.year_month,
        'all states' as segment,
        sum(transitions.customers) as counted,
        max(all_customers.customers) as expected
    from transitions
    cross join all_customers
    group by transitions.year_month

),

month_bounds as (

    select
        min(month_end) as first_month_end,
        max(month_end) as last_month_end
    from transitions

),

left_states as (

    select
        transitions.month_end,
        transitions.from_segment as segment,
        sum(transitions.customers) as customers
    from transitions
    cross join month_bounds
    where transitions.month_end > month_bounds.first_month_end
    group by transitions.month_end, transitions.from_segment

),

entered_states as (

    select
        last_day(add_months(transitions.month_end, 1)) as month_end,
        transitions.to_segment as segment,
        sum(transitions.customers) as customers
    from transitions
    cross join month_bounds
    where transitions.month_end < month_bounds.last_month_end
    group by transitions.month_end, transitions.to_segment

),

chained as (

    select
        cast(
            date_format(
                coalesce(left_states.month_end, entered_states.month_end), 'yyyyMM'
            ) as int
        ) as year_month,
        coalesce(left_states.segment, entered_states.segment) as segment,
        coalesce(left_states.customers, 0) as counted,
        coalesce(entered_states.customers, 0) as expected
    from left_states
    full outer join entered_states
        on
            left_states.month_end = entered_states.month_end
            and left_states.segment = entered_states.segment

),

failures as (

    select * from month_totals
    where counted != expected
    union all
    select * from chained
    where counted != expected

)

select * from failures
