"""Copy tables from the Hive metastore into parquet files, in a fresh Spark process.

Used by the end-to-end tests: reading the tables back through a *new* SparkSession proves
they are persisted metastore tables, not temporary views of the dbt process.
"""

from __future__ import annotations

from pathlib import Path

from lgs_analytics.paths import ProjectPaths
from lgs_analytics.spark_session import get_session, schema_name


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


def export_tables(
    paths: ProjectPaths,
    out: Path,
    tables: list[str] | None = None,
    target: str = "local",
    layers: list[str] | None = None,
) -> dict[str, Path]:
    """Write each table to out/<name>.parquet: `tables` (schema.table names), or else every
    table of the schemas of `layers` (default: marts, staging and reference)."""
    spark = get_session(paths, target, app_name="lgs-export")
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if not tables:
        schemas = [schema_name(paths, layer, target) for layer in layers or DEFAULT_LAYERS]
        tables = list_tables(spark, schemas)
    written: dict[str, Path] = {}
    for name in tables:
        target_path = out / f"{name}.parquet"
        spark.table(name).coalesce(1).write.mode("overwrite").parquet(str(target_path))
        written[name] = target_path
    return written
