{#-
    Period-over-period growth in percent: (current - previous) / previous * 100, null when
    there is no previous period or it is zero (growth from nothing is undefined).
-#}
{% macro growth_pct(current, previous) %}
    case
        when {{ previous }} is null or {{ previous }} = 0 then null
        else
            (cast({{ current }} as double) - cast({{ previous }} as double))
            / cast({{ previous }} as double) * 100
    end
{% endmacro %}
