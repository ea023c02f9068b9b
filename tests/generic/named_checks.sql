{#-
    A table's row rules, each with a name, in one scan: every check is a `name` (lower-case
    snake case, unique in the test) and an `expression` that must be true on every row (a
    null result fails, as in `expression_is_true`). The rows breaking each rule are counted
    in one aggregation, as `key_and_row_checks` counts its checks, instead of one test (and
    one Spark job) per rule or one anonymous conjunction of them all.

    The test fails with one row per broken rule: `check_name`, `failing_rows` and the
    `expression`, so the stored failures (a view in the audit schema named after the test)
    say which rule broke; the rows themselves are one query away,
    `select * from <model> where not coalesce(<expression>, false)`.
-#}
{% test named_checks(model, checks) %}

{%- set names = [] -%}
{%- for check in checks -%}
    {%- if check is not mapping or check.keys() | list | sort != ["expression", "name"] -%}
        {{ exceptions.raise_compiler_error(
            "named_checks: each check needs exactly a `name` and an `expression`, got "
            ~ check
        ) }}
    {%- endif -%}
    {%- if not modules.re.fullmatch("[a-z][a-z0-9_]*", check.name) or check.name in names -%}
        {{ exceptions.raise_compiler_error(
            "named_checks: check name '" ~ check.name
            ~ "' must be unique and in lower-case snake case"
        ) }}
    {%- endif -%}
    {%- do names.append(check.name) -%}
{%- endfor %}

with counted as (
    select
        {%- for check in checks %}
        count_if(not coalesce({{ check.expression }}, false)) as `{{ check.name }}`
        {{- "," if not loop.last }}
        {%- endfor %}
    from {{ model }}
),

broken as (
    select
        stack(
            {{ checks | length }}
            {%- for check in checks %},
            '{{ check.name }}',
            `{{ check.name }}`,
            '{{ check.expression.split() | join(" ") | replace("\\", "\\\\") | replace("'", "\\'") }}'
            {%- endfor %}
        ) as (check_name, failing_rows, expression)
    from counted
)

select *
from broken
where failing_rows > 0

{% endtest %}
