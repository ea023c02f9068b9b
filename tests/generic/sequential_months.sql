{#-
    The yyyymm `column_name` must step by exactly one calendar month from row to row, with no
    gaps or repeats (in the manner of dbt-utils' sequential_values, for month keys). Failing
    rows are those whose predecessor is not the previous calendar month.
-#}
{% test sequential_months(model, column_name) %}

with months as (
    select
        {{ column_name }} as month_key,
        lag({{ column_name }}) over (order by {{ column_name }}) as previous_month_key
    from {{ model }}
),

validation_errors as (
    select *
    from months
    where
        previous_month_key is not null
        and to_date(cast(month_key as string), 'yyyyMM')
        != add_months(to_date(cast(previous_month_key as string), 'yyyyMM'), 1)
)

select * from validation_errors

{% endtest %}
