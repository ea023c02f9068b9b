{#-
    Rows where any of `columns` is null fail. One query for many columns: a model's
    required columns are checked together (one scan of the million-row staging table, one
    query per mart) instead of one not_null test per column; on the `local` target each
    test is a Spark job and a round of dbt work (docs/PERFORMANCE.md). The failing rows
    (stored in the audit schema) show which column is null.
-#}
{% test not_null_columns(model, columns) %}

with validation_errors as (
    select {{ columns | join(", ") }}
    from {{ model }}
    where
        {%- for column in columns %}
            {{ "or " if not loop.first }}{{ column }} is null
        {%- endfor %}
)

select * from validation_errors

{% endtest %}
