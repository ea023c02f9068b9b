{#-
    Watermarks of the incremental models (staging and the monthly marts).

    Each incremental model records, after a successful run only (a post-hook), how far it
    has consumed its input, as the table property `lgs.watermark`:
    - `stg_online_retail__rows_parsed`: the latest modification time of the landed files it
      has read; the next run reads only files modified after it (new or re-landed files);
    - every other incremental model: the run's start time, compared with the `loaded_at`
      stamp its upstream writes on every row it (re)writes.
    A run that fails or is killed does not advance the watermark, so the next run
    recomputes everything that run touched: the pipeline heals itself. A missing
    watermark (a table built before watermarks existed) means "rebuild everything".
-#}

{% macro watermark_property() %}{{ return("lgs.watermark") }}{% endmacro %}


{#- The run's `loaded_at` stamp: when this dbt invocation started, in UTC. -#}
{% macro run_loaded_at() %}
    {{- return(run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f")) -}}
{% endmacro %}


{#- SQL expression of the run's `loaded_at` stamp, a timestamp. -#}
{% macro loaded_at_expression() %}
    {{- return("cast('" ~ lgs_analytics.run_loaded_at() ~ "' as timestamp)") -}}
{% endmacro %}


{#- The watermark a successful run recorded on `relation` (default: this), or none. -#}
{% macro read_watermark(relation=none) %}
    {%- set relation = relation or this -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- for row in run_query("show tblproperties " ~ relation) -%}
        {%- if row[0] == lgs_analytics.watermark_property() -%}
            {{ return(row[1]) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{% endmacro %}


{#-
    Post-hook: record the watermark of `this` after a successful run. `kind` is `run` (the
    run's start time) or the name of a timestamp column of `this` whose maximum is kept.
-#}
{% macro record_watermark(kind="run") %}
    {%- if not execute -%}
        {{ return("") }}
    {%- endif -%}
    {%- if kind == "run" -%}
        {%- set value = lgs_analytics.run_loaded_at() -%}
    {%- else -%}
        {%- set result = run_query(
            "select cast(max(" ~ kind ~ ") as string) from " ~ this
        ) -%}
        {%- set value = result.columns[0].values()[0] -%}
    {%- endif -%}
    {%- if value is none -%}
        {{ return("") }}
    {%- endif -%}
    alter table {{ this }} set tblproperties ('{{ lgs_analytics.watermark_property() }}' = '{{ value }}')
{% endmacro %}


{#-
    The months (list of yyyymm integers) an incremental run must rebuild because `upstream`
    (re)wrote rows of them since this model's watermark; none means all months (not an
    incremental run, or no watermark yet).
-#}
{% macro months_changed_upstream(upstream, month_column) %}
    {%- if not (execute and is_incremental()) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set watermark = lgs_analytics.read_watermark() -%}
    {%- if watermark is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set query -%}
        select distinct {{ month_column }}
        from {{ upstream }}
        where loaded_at > timestamp '{{ watermark }}'
        order by 1
    {%- endset -%}
    {%- set months = [] -%}
    {%- for value in run_query(query).columns[0].values() -%}
        {%- do months.append(value | int) -%}
    {%- endfor -%}
    {{ return(months) }}
{% endmacro %}


{#-
    The first month (yyyymm) an incremental run of a monthly mart must rebuild, or none for
    all months. Every month from the first one whose input changed is rebuilt, because a
    month feeds the next ones (growth against the previous month, a customer's first
    month), and so is the mart's last month at least, because new data can end its partial
    month or add months (zeros) after it.
-#}
{% macro first_month_to_rebuild(upstream) %}
    {%- if not (execute and is_incremental()) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set watermark = lgs_analytics.read_watermark() -%}
    {%- if watermark is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set query -%}
        select least(
            (
                select min(year_month) from {{ upstream }}
                where loaded_at > timestamp '{{ watermark }}'
            ),
            (select max(year_month) from {{ this }})
        )
    {%- endset -%}
    {%- set first_month = run_query(query).columns[0].values()[0] -%}
    {{ return(none if first_month is none else first_month | int) }}
{% endmacro %}


{#- SQL list of months for `in (...)`; an empty list matches no row. -#}
{% macro month_list(months) %}
    {{- return(months | join(", ") if months else "null") -}}
{% endmacro %}


{#- The month (yyyymm integer) before `year_month`. -#}
{% macro previous_year_month(year_month) %}
    {%- set year = year_month // 100 -%}
    {%- set month = year_month % 100 -%}
    {{- return((year - 1) * 100 + 12 if month == 1 else year * 100 + month - 1) -}}
{% endmacro %}
