{#-
    The best customers of every RFM segment: the top customers by monetary value in each
    segment, with their scores, their share of the segment's revenue and when they first
    and last bought. Ten per segment unless `--vars '{top_customers_per_segment: 25}'`.
-#}

{% set top_n = var("top_customers_per_segment", 10) %}

with

customer_rfm_scores as (

    select * from {{ ref("customer_rfm_scores") }}

),

rfm_segment_summary as (

    select * from {{ ref("rfm_segment_summary") }}

),

customers as (

    select * from {{ ref("int_customers_summarized") }}

),

ranked as (

    select
        customer_id,
        segment,
        rfm_score,
        recency_days,
        frequency,
        monetary,
        last_purchase_date,
        row_number() over (
            partition by segment order by monetary desc, customer_id asc
        ) as rank_in_segment,
        cast(
            monetary / sum(monetary) over (partition by segment) * 100 as double
        ) as segment_revenue_share_pct
    from customer_rfm_scores

),

top_ranked as (

    select * from ranked
    where rank_in_segment <= {{ top_n }}

),

described as (

    select
        top_ranked.customer_id,
        top_ranked.segment,
        rfm_segment_summary.description as segment_description,
        top_ranked.rfm_score,
        rfm_segment_summary.segment_rank,
        top_ranked.rank_in_segment,
        top_ranked.recency_days,
        top_ranked.frequency,
        top_ranked.monetary,
        top_ranked.segment_revenue_share_pct,
        customers.active_months,
        top_ranked.last_purchase_date,
        customers.first_purchased_at
    from top_ranked
    inner join rfm_segment_summary
        on top_ranked.segment = rfm_segment_summary.segment
    inner join customers
        on top_ranked.customer_id = customers.customer_id

)

select * from described
