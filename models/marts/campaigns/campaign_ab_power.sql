{#-
    Planning table: per campaign and metric, the smallest true uplift the campaign's arm
    sizes detect with 80% power in a two-sided test at alpha 0.05 (DEFINITIONS §7):
    (z_0.975 + z_0.80) * sd * sqrt(1 / n_treatment + 1 / n_control), with the metric's
    standard deviation over both arms (for conversion sqrt(p * (1 - p)) of the conversion
    rate of both arms): the control arm alone can have none (a win-back campaign's
    lapsed customers may not buy at all without it). Null when the metric does not vary.
-#}

{%- set z_sum = 1.959963984540054 + 0.8416212335729143 %}

with

outcomes as (

    select * from {{ ref("campaign_ab_outcomes") }}

),

arms as (

    select
        campaign_id,
        count_if(variant = 'treatment') as n_treatment,
        count_if(variant = 'control') as n_control,
        avg(case when variant = 'control' then cast(converted as int) end)
            as control_conversion,
        avg(cast(converted as int)) as conversion_rate,
        avg(case when variant = 'control' then cast(revenue as double) end)
            as control_revenue,
        stddev_samp(cast(revenue as double)) as revenue_sd
    from outcomes
    group by campaign_id

),

per_metric as (

    select
        campaign_id,
        'conversion' as metric,
        n_treatment,
        n_control,
        control_conversion as control_mean,
        sqrt(conversion_rate * (1 - conversion_rate)) as pooled_sd
    from arms
    union all
    select
        campaign_id,
        'revenue' as metric,
        n_treatment,
        n_control,
        control_revenue as control_mean,
        revenue_sd as pooled_sd
    from arms

),

power as (

    select
        campaign_id,
        metric,
        n_treatment,
        n_control,
        control_mean,
        pooled_sd,
        cast(0.05 as double) as alpha,
        cast(0.8 as double) as target_power,
        case
            when n_treatment > 0 and n_control > 0 and pooled_sd > 0
                then
                    {{ z_sum }} * pooled_sd
                    * sqrt(1.0 / n_treatment + 1.0 / n_control)
        end as minimum_detectable_effect,
        case
            when
                n_treatment > 0 and n_control > 0 and pooled_sd > 0 and control_mean > 0
                then
                    {{ z_sum }} * pooled_sd
                    * sqrt(1.0 / n_treatment + 1.0 / n_control) / control_mean
        end as minimum_detectable_relative_effect
    from per_metric

)

select * from power
