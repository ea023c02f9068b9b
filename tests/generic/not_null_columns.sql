{#-
    Rows where any of `columns` is null fail. One scan for many columns: used on the
    million-row staging table instead of one not_null test (and one scan) per column.
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
