"""Copy tables from the Hive metastore into parquet files, in a fresh Spark process.

Used by the end-to-end tests: reading the tables back through a *new* SparkSession proves
they are persisted metastore tables, not temporary views of the dbt process.
"""

from __future__ import annotations

import re
from pathlib import Path

from lgs_analytics.errors import UserError
from lgs_analytics.runtime.paths import ProjectPaths
from lgs_analytics.runtime.spark_session import (
    get_session,
    nothing_built_sentence,
    require_built,
    schema_name,
)

TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")
# How many names an error message lists before "…".
LISTED = 8


def list_tables(spark, schemas: list[str]) -> list[str]:
    names = []
    for schema in schemas:
        if spark.catalog.databaseExists(schema):
            names += [
                f"{schema}.{table.name}"
                for table in spark.catalog.listTables(schema)
                if table.tableType != "VIEW"
            ]
    return sorted(names)


LAYERS = ("marts", "staging", "intermediate", "reference")
DEFAULT_LAYERS = ("marts", "staging", "reference")


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED])
    return shown + (", …" if len(names) > LISTED else "") if names else "none"


def check_table_names(tables: list[str]) -> None:
    """Every name is `schema.table`: one sentence naming the first that is not."""
    for name in tables:
        if not TABLE_NAME.match(name):
            raise UserError(
                f"'{name}' is not a schema.table name: name each table with its schema, "
                "e.g. lgs_marts.monthly_sales, or export whole layers with --layer."
            )


def check_tables_exist(spark, tables: list[str], target: str) -> None:
    """One sentence naming the tables (or their schemas) missing from the target's catalog."""
    problems = []
    for name in tables:
        schema = name.split(".", 1)[0]
        if not spark.catalog.databaseExists(schema):
            schemas = sorted(database.name for database in spark.catalog.listDatabases())
            problems.append(f"no schema {schema} (schemas: {_listed(schemas)})")
        elif not spark.catalog.tableExists(name):
            present = sorted(t.name for t in spark.catalog.listTables(schema))
            problems.append(f"no table {name} (tables of {schema}: {_listed(present)})")
    if problems:
        raise UserError(
            f"Target '{target}' has {'; '.join(problems)}: name existing tables, or run "
            "`lgs build` first if they are yet to be built."
        )


def export_tables(
    paths: ProjectPaths,
    out: Path,
    tables: list[str] | None = None,
    target: str = "local",
    layers: list[str] | None = None,
) -> dict[str, Path]:
    """Write each table to out/<name>.parquet: `tables` (schema.table names), or else every
    table of the schemas of `layers` (default: marts, staging and reference).

    Everything that can be checked is checked before a file is written: the names, the
    output folder, that the target was built and holds every table asked for.
    """
    tables = list(tables or [])
    check_table_names(tables)
    out = out.resolve()
    if out.exists() and not out.is_dir():
        raise UserError(f"The export folder {out} is a file: choose another --out.")
    require_built(paths, target)
    spark = get_session(paths, target, app_name="lgs-export")
    if tables:
        check_tables_exist(spark, tables, target)
    else:
        chosen = list(layers or DEFAULT_LAYERS)
        schemas = {layer: schema_name(paths, layer, target) for layer in chosen}
        missing = [
            schema for schema in schemas.values() if not spark.catalog.databaseExists(schema)
        ]
        if len(missing) == len(schemas):
            raise UserError(
                nothing_built_sentence(paths, target, f"no schema {', '.join(missing)}")
            )
        if layers and missing:
            absent = [layer for layer, schema in schemas.items() if schema in missing]
            raise UserError(
                f"Target '{target}' has no schema {', '.join(missing)} for layer "
                f"{', '.join(absent)}: run `lgs build` first, or export another --layer."
            )
        tables = list_tables(spark, list(schemas.values()))
        if not tables:
            raise UserError(
                f"Target '{target}' has no table in {', '.join(schemas.values())}: run "
                "`lgs build` first."
            )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"Cannot create the export folder {out} ({exc.strerror or exc}): choose another --out."
        ) from exc
    written: dict[str, Path] = {}
    for name in tables:
        target_path = out / f"{name}.parquet"
        spark.table(name).coalesce(1).write.mode("overwrite").parquet(str(target_path))
        written[name] = target_path
    return written
