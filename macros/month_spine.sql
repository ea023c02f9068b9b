{#-
    One row per calendar month from the month of `start_date` to the month of `end_date`
    (both inclusive), in the manner of dbt-utils' date_spine: columns `month_start` (date)
    and `year_month` (integer yyyymm). Arguments are SQL expressions of type date.
-#}
{% macro month_spine(start_date, end_date) %}
    {{ return(adapter.dispatch("month_spine", "lgs_analytics")(start_date, end_date)) }}
{% endmacro %}

{% macro default__month_spine(start_date, end_date) %}
    select
        cast(date_format(month_start, 'yyyyMM') as int) as year_month,
        month_start
    from (
        select
            explode(
                sequence(
                    cast(trunc({{ start_date }}, 'MM') as date),
                    cast(trunc({{ end_date }}, 'MM') as date),
                    interval 1 month
                )
            ) as month_start
    )
{% endmacro %}
