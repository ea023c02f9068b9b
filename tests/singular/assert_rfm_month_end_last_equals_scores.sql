{#-
    The RFM of the last month end equals customer_rfm_scores (DEFINITIONS §6): the same
    customers with the same scores, segment, frequency, monetary, frequency rank and last
    purchase date. Recency may differ by the gap between the two reference dates only,
    the same for every customer (the day after the month end against customer_rfm_scores'
    reference date), which leaves the scores unchanged. Fails with the customers that
    differ or are missing on one side.
-#}

with

month_end_scores as (

    select * from {{ ref("customer_rfm_month_end") }}

),

latest as (

    select max(month_end) as month_end
    from month_end_scores

),

last_month_end as (

    select month_end_scores.*
    from month_end_scores
    inner join latest
        on month_end_scores.month_end = latest.month_end

),

rfm_scores as (

    select * from {{ ref("customer_rfm_scores") }}

),

compared as (

    select
        coalesce(last_month_end.customer_id, rfm_scores.customer_id) as customer_id,
        last_month_end.segment as month_end_segment,
        rfm_scores.segment,
        last_month_end.rfm_score as month_end_rfm_score,
        rfm_scores.rfm_score,
        last_month_end.customer_id is not null
        and rfm_scores.customer_id is not null
        and last_month_end.segment <=> rfm_scores.segment
        and last_month_end.rfm_score = rfm_scores.rfm_score
        and last_month_end.frequency = rfm_scores.frequency
        and last_month_end.monetary = rfm_scores.monetary
        and last_month_end.frequency_rank = rfm_scores.frequency_rank
        and last_month_end.last_purchase_date = rfm_scores.last_purchase_date
        and last_month_end.recency_days - rfm_scores.recency_days
        = datediff(last_month_end.reference_date, rfm_scores.reference_date)
            as is_equal
    from last_month_end
    full outer join rfm_scores
        on last_month_end.customer_id = rfm_scores.customer_id

),

failures as (

    select * from compared
    where not is_equal

)

select * from failures
