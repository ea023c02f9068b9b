{#-
    Rows for which `expression` is not true fail. Written like dbt-utils' expression_is_true,
    with one difference: a row whose expression is null fails here (`not coalesce(expr,
    false)`), where dbt-utils' `where not (expr)` lets it pass. dbt's `where` config narrows
    the rows checked.
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
