{#-
    Rows for which `expression` is not true fail (dbt-utils' expression_is_true).
    Optional `where` narrows the rows checked.
-#}
{% test expression_is_true(model, expression, column_name=None) %}

with meet_condition as (
    select * from {{ model }}
)

select *
from meet_condition
{% if column_name is none %}
    where not coalesce({{ expression }}, false)
{%- else %}
    where not coalesce({{ column_name }} {{ expression }}, false)
{%- endif %}

{% endtest %}
