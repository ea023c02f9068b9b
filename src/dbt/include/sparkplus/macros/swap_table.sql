{#-
    Publish a rebuilt table without a moment in which any reader, in this process or in
    another one on the same catalog, sees it missing, empty or half-written (parquet and the
    other non-transactional formats).

    dbt-spark drops the old table and then writes the new one. Here the new version is
    written as its own table, `<name>__dbt_v<run id>`, in a folder of its own. When it is
    complete, one metastore call publishes it: `alter table <name> set location` points the
    table at the new folder (the table is external, over versioned folders). A reader that
    resolved the table before the switch reads the old folder, which stays until a later
    build; one that resolves it after reads the new one. The version's own catalog entry is
    then dropped without its files. Killed at any point, the next build finds the table as
    it was before or after the switch, and collects what the killed one left.

    Two cases cannot switch locations and swap by renaming instead, with a moment in which
    the table is missing: a changed schema (a model change: the new table is created over
    the new folder after the old one is dropped), and partitioned tables (partitions keep
    their own locations; partitioned tables here are staging tables, which only dbt reads).

    Three steps, because dbt lets only a materialization itself run the model's code (a
    Python model's `statement('main')` may not sit in a macro):

        {%- set swap = sparkplus_prepare_swap(target_relation, partitioned) -%}
        {% call statement('main', language=language) %}
            {{ create_table_as(False, swap.new_relation, compiled_code, language) }}
        {% endcall %}
        {% do sparkplus_finish_swap(swap) %}
-#}
{% macro sparkplus_prepare_swap(target_relation, partitioned=false) %}
  {%- set identifier = target_relation.identifier -%}
  {%- set run_id = invocation_id | replace('-', '') -%}
  {%- set new_relation = target_relation.incorporate(
      path={"identifier": identifier ~ '__dbt_v' ~ run_id[:12]}, type='table') -%}
  {%- set old_relation = sparkplus_restore_interrupted_swap(target_relation) -%}

  {#- Keep the folder readers use now and the one they used before the last switch. -#}
  {%- set keep = [] -%}
  {%- set old_details = none -%}
  {%- if old_relation is not none and old_relation.type != 'view' -%}
    {%- set old_details = sparkplus_table_details(old_relation, with_properties=true) -%}
    {%- do keep.append(old_details.location) -%}
    {%- if old_details.previous_location -%}
      {%- do keep.append(old_details.previous_location) -%}
    {%- endif -%}
  {%- endif -%}

  {#- What interrupted builds left: version tables, then folders without a table. -#}
  {% do sparkplus_drop_stale_versions(target_relation, keep) %}
  {% do adapter.collect_table_versions(target_relation, keep) %}
  {{ return({
      "target_relation": target_relation,
      "new_relation": new_relation,
      "old_relation": old_relation,
      "old_details": old_details,
      "partitioned": partitioned,
  }) }}
{% endmacro %}


{% macro sparkplus_finish_swap(swap) %}
  {%- set target_relation = swap.target_relation -%}
  {%- set new_relation = swap.new_relation -%}
  {%- set old_relation = swap.old_relation -%}
  {%- set new_details = sparkplus_table_details(new_relation) -%}

  {%- if swap.partitioned or new_details.partitioned -%}
    {%- set old_copy_relation = target_relation.incorporate(
        path={"identifier": target_relation.identifier ~ '__dbt_old'}, type='table') -%}
    {% if old_relation is not none %}
      {% if old_relation.type == 'view' %}
        {% do adapter.drop_relation(old_relation) %}
      {% else %}
        {% do adapter.rename_relation(old_relation, old_copy_relation) %}
      {% endif %}
    {% endif %}
    {% do adapter.rename_relation(new_relation, target_relation) %}
    {% if old_relation is not none and old_relation.type != 'view' %}
      {% do adapter.drop_relation(old_copy_relation) %}
    {% endif %}
    {{ return(none) }}
  {%- endif -%}

  {#- The old table as the prepare step described it: this build is its only writer. -#}
  {%- set old_details = swap.old_details -%}
  {%- set switch = old_details is not none and not old_details.partitioned
      and old_details.columns == new_details.columns -%}

  {% if switch %}
    {% call statement('publish_version') -%}
      alter table {{ target_relation }} set location '{{ new_details.location }}'
    {%- endcall %}
    {% call statement('remember_previous_version') -%}
      alter table {{ target_relation }} set tblproperties (
        'lgs.previous_location' = '{{ old_details.location }}'
      )
    {%- endcall %}
  {% else %}
    {% if old_relation is not none %}
      {{ log("Replacing " ~ target_relation ~ " with a new schema: dropped, then created",
             info=true) }}
      {% do adapter.drop_relation(old_relation) %}
    {% endif %}
    {% call statement('create_over_version') -%}
      create table {{ target_relation }} like {{ new_relation }}
      using {{ config.get('file_format', 'parquet') }}
      location '{{ new_details.location }}'
    {%- endcall %}
  {% endif %}
  {% do sparkplus_drop_keeping_files(new_relation, new_details.location) %}
{% endmacro %}


{#-
    Columns (`name type`, lower case, in order), location and partitioning of a table from
    one `describe table extended`, and with `with_properties` its previous location
    (`lgs.previous_location`) from `show tblproperties`: SQL, so it works on every method.
    Every statement counts: a build publishes ~30 tables, each metastore call ~0.1 s.
-#}
{% macro sparkplus_table_details(relation, with_properties=false) %}
  {%- set details = {"location": none, "partitioned": false, "previous_location": none,
                     "columns": []} -%}
  {%- set in_columns = [true] -%}
  {%- for row in run_query("describe table extended " ~ relation) -%}
    {%- set name = (row[0] or '') | trim -%}
    {%- if name == '' or name.startswith('#') -%}
      {%- do in_columns.append(false) -%}
    {%- elif in_columns[-1] -%}
      {%- do details.columns.append((name | lower) ~ ' ' ~ ((row[1] or '') | trim | lower)) -%}
    {%- endif -%}
    {%- if name == '# Partition Information' -%}
      {%- do details.update({"partitioned": true}) -%}
    {%- elif name == 'Location' -%}
      {%- do details.update({"location": row[1] | trim}) -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if with_properties -%}
    {%- for row in run_query("show tblproperties " ~ relation) -%}
      {%- if row[0] == 'lgs.previous_location' -%}
        {%- do details.update({"previous_location": row[1]}) -%}
      {%- endif -%}
    {%- endfor -%}
  {%- endif -%}
  {{ return(details) }}
{% endmacro %}


{#- Drop a table's catalog entry but not the files at `location` (a published version). -#}
{% macro sparkplus_drop_keeping_files(relation, location) %}
  {%- set detached = location ~ '/_dbt_detached' -%}
  {#- An empty folder to point the table at: dropping it deletes only that folder. -#}
  {% do adapter.make_directory(detached) %}
  {% call statement('detach_version') -%}
    alter table {{ relation }} set location '{{ detached }}'
  {%- endcall %}
  {% do adapter.drop_relation(relation) %}
{% endmacro %}


{#-
    Version tables an interrupted build left behind: dropped, without their files when the
    table reads them (`keep`: the table's current and previous locations).
-#}
{% macro sparkplus_drop_stale_versions(target_relation, keep) %}
  {#- dbt's relation cache: it listed the schema when the run started, before this model. -#}
  {%- for relation in adapter.version_relations(target_relation) -%}
    {%- set stale = target_relation.incorporate(
        path={"identifier": relation.identifier}, type='table') -%}
    {%- set location = sparkplus_table_details(stale).location -%}
    {% if location in keep %}
      {% do sparkplus_drop_keeping_files(stale, location) %}
    {% else %}
      {% do adapter.drop_relation(stale) %}
    {% endif %}
  {%- endfor -%}
{% endmacro %}


{#-
    Builds before versioned locations swapped by renaming: a run killed between the two
    renames left `<name>__dbt_old` and no `<name>`; put the last good version back.
    Returns the current relation (after any restore), or none.
-#}
{% macro sparkplus_restore_interrupted_swap(target_relation) %}
  {%- set identifier = target_relation.identifier -%}
  {%- set old_relation = adapter.get_relation(
      database=target_relation.database, schema=target_relation.schema,
      identifier=identifier) -%}
  {%- set leftover_old_copy = adapter.get_relation(
      database=target_relation.database, schema=target_relation.schema,
      identifier=identifier ~ '__dbt_old') -%}
  {% if old_relation is none and leftover_old_copy is not none %}
    {{ log("Restoring " ~ target_relation ~ " from an interrupted swap", info=true) }}
    {% do adapter.rename_relation(leftover_old_copy, target_relation) %}
    {%- set old_relation = adapter.get_relation(
        database=target_relation.database, schema=target_relation.schema,
        identifier=identifier) -%}
  {% elif leftover_old_copy is not none %}
    {% do adapter.drop_relation(leftover_old_copy) %}
  {% endif %}
  {{ return(old_relation) }}
{% endmacro %}
