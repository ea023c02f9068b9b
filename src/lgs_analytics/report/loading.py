"""Read the report's marts through the dbt target's SparkSession, then write the report.

`write_report` is what `lgs report` and `lgs build` call. Each table is collected to the
driver as a pandas frame that keeps Spark's Python values (Decimal, date, None), so the data
file shows the values as stored; `render_report` (page.py) writes the files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from lgs_analytics.report.charts import table_specs
from lgs_analytics.report.page import render_report
from lgs_analytics.report.tables import TableSpec
from lgs_analytics.runtime.paths import ProjectPaths

# Every table the report reads is an aggregate with one row per month, segment or bin; a
# table above this size is not one, and collecting it to the driver would be a mistake.
MAX_COLLECT_ROWS = 5_000


def load_frame(spark, relation: str, spec: TableSpec) -> pd.DataFrame | None:
    """The spec's columns of a small mart table, ordered; None when the table does not exist."""
    if not spark.catalog.tableExists(relation):
        return None
    table = spark.table(relation)
    if spec.latest is not None:
        latest = table.agg({spec.latest: "max"}).first()[0]
        table = table.where(table[spec.latest] == latest)
    query = table.select(*spec.columns).orderBy(*spec.order_by)
    if spec.limit is not None:
        query = query.limit(spec.limit)
    # One row more than allowed tells "too big" apart from "exactly at the limit".
    rows = query.limit(MAX_COLLECT_ROWS + 1).collect()
    if len(rows) > MAX_COLLECT_ROWS:
        raise ValueError(
            f"{relation} has more than {MAX_COLLECT_ROWS:,} rows: the report only collects "
            "small aggregated marts."
        )
    # Rows keep Spark's Python types (Decimal, date, None) so the data file shows the values
    # as stored rather than as pandas would coerce them.
    return pd.DataFrame([tuple(row) for row in rows], columns=list(spec.columns), dtype=object)


def load_frames(
    spark, relations: Mapping[str, str], specs: Sequence[TableSpec]
) -> dict[str, pd.DataFrame | None]:
    """Each spec's table by name; None for tables that do not exist."""
    return {spec.table: load_frame(spark, relations[spec.table], spec) for spec in specs}


def write_report(paths: ProjectPaths, target: str = "local") -> Path:
    """Read the marts of `target` and write the report into `paths.report`; the index path.

    A chart whose mart is missing is skipped with a note; when no mart of the report exists
    (nothing built on the target yet), it fails in one sentence and the previous report, if
    any, stays as it was.
    """
    from lgs_analytics.errors import UserError
    from lgs_analytics.runtime.spark_session import (
        get_session,
        nothing_built_sentence,
        relation_name,
        require_built,
        schema_name,
    )

    specs = table_specs()
    relations = {spec.table: relation_name(paths, "marts", spec.table, target) for spec in specs}
    require_built(paths, target)
    # Inside `lgs build` this returns dbt's running session; standalone it starts one.
    spark = get_session(paths, target, app_name="lgs-report")
    frames = load_frames(spark, relations, specs)
    if all(frame is None for frame in frames.values()):
        schema = schema_name(paths, "marts", target)
        missing = (
            f"no mart of the report in {schema}"
            if spark.catalog.databaseExists(schema)
            else f"no schema {schema}"
        )
        raise UserError(nothing_built_sentence(paths, target, missing))
    return render_report(frames, paths.report, relations=relations, target=target)
