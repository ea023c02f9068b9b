{#-
    dbt-core's test materialization (1.11), changed in how failures are stored: only a test
    that finds rows stores them.

    dbt-core writes the stored-failures relation of every test on every run, passing or not
    (an empty one for a passing test), and drops the old relation first whatever its type.
    On the Hive metastore each of those is a metastore transaction (the costliest of a
    test's statements): one per data test on every build, which was more than a fifth of
    the SQL time of a build on the `local` target (docs/PERFORMANCE.md). Here a test runs
    its query once (the failure count, dbt's `get_test_sql`) and then:

    - rows found: the relation is created (a view: `create or replace view`, one statement
      even when an earlier build left one; a table, or a change between table and view, is
      dropped first, as dbt-core does);
    - no rows: nothing is written, and a relation an earlier failing run left is dropped,
      so the audit schema holds exactly the tests that found rows at their last run.

    A passing test is one statement instead of three. The failure count is dbt's
    `failures` column (`fail_calc`); a custom `fail_calc` that returns 0 for failing rows
    stores nothing, as it reports nothing.
-#}
{%- materialization test, adapter = 'sparkplus' -%}

  {% set relations = [] %}
  {% set limit = config.get('limit') %}
  {% set sql_header = config.get('sql_header') if flags.REQUIRE_SQL_HEADER_IN_TEST_CONFIGS else none %}

  {% set sql_with_limit %}
    {{ get_limit_subquery_sql(sql, limit) }}
  {% endset %}

  {% set fail_calc = config.get('fail_calc') %}
  {% set warn_if = config.get('warn_if') %}
  {% set error_if = config.get('error_if') %}

  {% call statement('main', fetch_result=True) -%}

    {% if sql_header %}{{ sql_header }}{% endif %}
    {{ get_test_sql(sql_with_limit, fail_calc, warn_if, error_if, limit=none)}}

  {%- endcall %}

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

    {% if sparkplus_found_rows(load_result('main')) %}

      {% if old_relation and not sparkplus_replaces_in_place(old_relation, target_relation) %}
          {% do adapter.drop_relation(old_relation) %}
      {% endif %}

      {% call statement(auto_begin=True) %}
          {% if sql_header %}{{ sql_header }}{% endif %}
          {{ get_create_sql(target_relation, sql_with_limit) }}
      {% endcall %}

      {% do relations.append(target_relation) %}
      {{ adapter.commit() }}

    {% elif old_relation %}

      {% do adapter.drop_relation(old_relation) %}

    {% endif %}

  {% endif %}

  {{ return({'relations': relations}) }}

{%- endmaterialization -%}


{#- A view over a view: `create or replace view` swaps the definition in one statement. -#}
{% macro sparkplus_replaces_in_place(old_relation, target_relation) %}
  {{ return(old_relation.is_view and target_relation.is_view) }}
{% endmacro %}


{#- Did the test's query (`get_test_sql`: failures, should_warn, should_error) count rows? -#}
{% macro sparkplus_found_rows(result) %}
  {% set failures = result['table'].rows[0][0] %}
  {{ return(failures is not none and failures != 0) }}
{% endmacro %}
