{#-
    dbt-core's test materialization (1.11), with one change: a test whose failures are
    stored as a view, and whose view is already there from an earlier build, replaces it
    with `create or replace view` instead of dropping it first.

    dbt-core drops the old relation before creating the new one whatever their types. On
    the Hive metastore each drop is a metastore transaction of its own (the most expensive
    of a test's three statements), and every test of every rebuild pays it: 189 tests, about
    a fifth of a rebuild's SQL time on the `local` target (docs/PERFORMANCE.md). A view is
    replaced in one statement; any other case (a table, or a change between table and view)
    is still dropped first, as dbt-core does.
-#}
{%- materialization test, adapter = 'sparkplus' -%}

  {% set relations = [] %}
  {% set limit = config.get('limit') %}
  {% set sql_header = config.get('sql_header') if flags.REQUIRE_SQL_HEADER_IN_TEST_CONFIGS else none %}

  {% set sql_with_limit %}
    {{ get_limit_subquery_sql(sql, limit) }}
  {% endset %}

  {% if should_store_failures() %}

    {% set identifier = model['alias'] %}
    {% set old_relation = adapter.get_relation(database=database, schema=schema, identifier=identifier) %}

    {% set store_failures_as = config.get('store_failures_as') %}
    {% if store_failures_as == none %}{% set store_failures_as = 'table' %}{% endif %}
    {% if store_failures_as not in ['table', 'view'] %}
        {{ exceptions.raise_compiler_error(
            "'" ~ store_failures_as ~ "' is not a valid value for `store_failures_as`. "
            "Accepted values are: ['ephemeral', 'table', 'view']"
        ) }}
    {% endif %}

    {% set target_relation = api.Relation.create(
        identifier=identifier, schema=schema, database=database, type=store_failures_as) -%}

    {% if old_relation and not sparkplus_replaces_in_place(old_relation, target_relation) %}
        {% do adapter.drop_relation(old_relation) %}
    {% endif %}

    {% call statement(auto_begin=True) %}
        {% if sql_header %}{{ sql_header }}{% endif %}
        {{ get_create_sql(target_relation, sql_with_limit) }}
    {% endcall %}

    {% do relations.append(target_relation) %}

    {% set main_sql %}
        select *
        from {{ target_relation }}
    {% endset %}

    {{ adapter.commit() }}

  {% else %}

      {% set main_sql = sql_with_limit %}

  {% endif %}

  {% set fail_calc = config.get('fail_calc') %}
  {% set warn_if = config.get('warn_if') %}
  {% set error_if = config.get('error_if') %}

  {% call statement('main', fetch_result=True) -%}

    {% if sql_header %}{{ sql_header }}{% endif %}
    {{ get_test_sql(main_sql, fail_calc, warn_if, error_if, limit=none)}}

  {%- endcall %}

  {{ return({'relations': relations}) }}

{%- endmaterialization -%}


{#- A view over a view: `create or replace view` swaps the definition in one statement. -#}
{% macro sparkplus_replaces_in_place(old_relation, target_relation) %}
  {{ return(old_relation.is_view and target_relation.is_view) }}
{% endmacro %}
