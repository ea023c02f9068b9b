{#-
    Several assertions on a large table in one scan: `key` is unique and not null, the
    `not_null` columns have no null, each column of `accepted_values` holds only its listed
    values (or null), and `expression` is true on every row (a null result fails, as in
    `expression_is_true`). The checks dbt's `unique`, `not_null_columns`, `accepted_values`
    and `expression_is_true` would each make with a scan of their own are counted in one
    aggregation by key, which the uniqueness check needs anyway (docs/PERFORMANCE.md: each
    test is a Spark job, and on the million-row staging tables a scan costs seconds).

    A failing row is one key value (null included) with how many rows have it and, per
    check, how many of those rows break it: the stored failures say which check failed and
    for which key, and the rows themselves are one query away.
-#}
{% test key_and_row_checks(
    model, key, not_null=[], accepted_values={}, expression=none
) %}

{%- set counted = [] -%}
{%- for column in not_null -%}
    {%- do counted.append(("null_" ~ column, column ~ " is null")) -%}
{%- endfor -%}
{%- for column, values in accepted_values.items() -%}
    {%- set listed = [] -%}
    {%- for value in values -%}
        {%- do listed.append("'" ~ (value | replace("'", "''")) ~ "'") -%}
    {%- endfor -%}
    {%- do counted.append((
        "unaccepted_" ~ column,
        column ~ " is not null and " ~ column ~ " not in (" ~ listed | join(", ") ~ ")"
    )) -%}
{%- endfor -%}
{%- if expression is not none -%}
    {%- do counted.append(("expression_not_true", "not coalesce(" ~ expression ~ ", false)")) -%}
{%- endif %}

with per_key as (
    select
        {{ key }} as key_value,
        count(*) as key_rows
        {%- for name, condition in counted %},
        count_if({{ condition }}) as {{ name }}
        {%- endfor %}
    from {{ model }}
    group by {{ key }}
)

select *
from per_key
where
    key_value is null
    or key_rows > 1
    {%- for name, _ in counted %}
    or {{ name }} > 0
    {%- endfor %}

{% endtest %}
