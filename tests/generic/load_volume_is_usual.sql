{#-
    Warns when the latest load is far smaller or far larger than the loads before it, in
    the manner of dbt-utils' row-count tests: a load is a value of `load_column` (a landed
    file, a load date), ordered by `loaded_at_column`. The latest load fails when its row
    count is below `min_ratio` × or above `max_ratio` × the median of the `lookback` loads
    before it; with fewer than `min_history` earlier loads there is nothing to compare with
    and the test passes. The failing row names the load, its rows, the median and the ratio
    (stored in the audit schema with `store_failures`).

    A load with no rows at all never appears in the rows it counts: the landed-file check
    (macros/check_landed_files.sql) warns about empty and header-only files.
-#}
{% test load_volume_is_usual(
    model,
    load_column,
    loaded_at_column,
    min_ratio=0.2,
    max_ratio=5,
    min_history=3,
    lookback=30
) %}

with loads as (
    select
        {{ load_column }} as load_id,
        max({{ loaded_at_column }}) as loaded_at,
        count(*) as load_rows
    from {{ model }}
    group by {{ load_column }}
),

ranked as (
    select
        *,
        row_number() over (order by loaded_at desc, load_id desc) as recency
    from loads
),

latest as (
    select * from ranked
    where recency = 1
),

usual as (
    select
        count(*) as earlier_loads,
        percentile(load_rows, 0.5) as median_rows
    from ranked
    where recency between 2 and {{ lookback + 1 }}
),

validation_errors as (
    select
        latest.load_id,
        latest.loaded_at,
        latest.load_rows,
        usual.earlier_loads,
        usual.median_rows,
        round(latest.load_rows / usual.median_rows, 3) as ratio_to_median
    from latest
    cross join usual
    where
        usual.earlier_loads >= {{ min_history }}
        and (
            latest.load_rows < {{ min_ratio }} * usual.median_rows
            or latest.load_rows > {{ max_ratio }} * usual.median_rows
        )
)

select * from validation_errors

{% endtest %}
