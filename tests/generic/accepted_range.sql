{#-
    Values outside [min_value, max_value] fail (dbt-utils' accepted_range); either bound may
    be omitted, `inclusive` (default true) decides whether the bounds themselves pass.
    Nulls are not checked: pair with not_null where they matter.
-#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}

with meet_condition as (
    select {{ column_name }} as value_field
    from {{ model }}
    where {{ column_name }} is not null
),

validation_errors as (
    select *
    from meet_condition
    where
        1 = 2
        {%- if min_value is not none %}
            or not value_field {{ ">=" if inclusive else ">" }} {{ min_value }}
        {%- endif %}
        {%- if max_value is not none %}
            or not value_field {{ "<=" if inclusive else "<" }} {{ max_value }}
        {%- endif %}
)

select * from validation_errors

{% endtest %}
