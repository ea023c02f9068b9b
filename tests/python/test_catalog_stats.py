"""The docs site's table statistics (catalog.json): true row counts, or none.

The selection rules are pure functions; the counting and the adapter's catalog rows run
on the unit tests' local SparkSession with real parquet tables.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dbt.adapters.spark.relation import SparkRelation

from dbt.adapters.sparkplus.catalog_stats import (
    FileCount,
    catalog_stats,
    count_parquet_table,
    parse_statistics,
    statistics_line,
    with_stats,
)
from dbt.adapters.sparkplus.impl import SparkplusAdapter


def _shown(stats: dict) -> dict[str, int]:
    """What the docs site shows: the value of every stat with `include` true."""
    names = {key.split(":")[1] for key in stats}
    return {name: stats[f"stats:{name}:value"] for name in names if stats[f"stats:{name}:include"]}


@pytest.mark.parametrize(
    ("raw", "figures"),
    [
        ("2998 bytes, 0 rows", {"bytes": 2998, "rows": 0}),
        ("583 bytes", {"bytes": 583}),
        ("1109049927 bytes, 14093476 rows", {"bytes": 1109049927, "rows": 14093476}),
        ("1.2 KiB, 3 rows", {"rows": 3}),
        ("", {}),
        (None, {}),
    ],
)
def test_metastore_statistics_parse_by_unit(raw, figures):
    assert parse_statistics(raw) == figures


def test_the_statistics_line_is_found_in_show_table_extended_text():
    information = "Database: lgs_marts\nTable: t\nStatistics: 2998 bytes, 0 rows\nSchema: root\n"
    assert statistics_line(information) == "2998 bytes, 0 rows"
    assert statistics_line("Database: lgs_marts\nType: VIEW\n") is None
    assert statistics_line(None) is None


@pytest.mark.parametrize(
    "raw",
    [
        "2998 bytes, 0 rows",  # what Spark records for a table it has just written
        "2998 bytes, 25 rows",  # an ANALYZE TABLE figure, stale after the next write
    ],
)
def test_without_a_count_the_metastore_rows_are_never_shown(raw):
    assert _shown(catalog_stats(raw, None)) == {"bytes": 2998}


@pytest.mark.parametrize("raw", ["0 bytes, 0 rows", None, "garbled"])
def test_without_a_count_or_a_size_nothing_is_shown(raw):
    assert catalog_stats(raw, None) == {}


def test_a_count_of_the_files_wins_and_a_counted_zero_is_shown():
    stats = catalog_stats("2998 bytes, 0 rows", FileCount(rows=25, bytes=3100, files=2))
    assert _shown(stats) == {"rows": 25, "bytes": 3100}
    assert stats["stats:rows:label"] == "rows"  # the docs site formats `rows` as a number
    assert "footers" in stats["stats:rows:description"]
    assert _shown(catalog_stats(None, FileCount(rows=0, bytes=0, files=0))) == {
        "rows": 0,
        "bytes": 0,
    }


def test_with_stats_replaces_every_stats_entry_and_keeps_the_rest():
    columns = [
        {
            "column_name": "id",
            "table_name": "t",
            "stats:rows:label": "rows",
            "stats:rows:value": 0,
            "stats:rows:description": "",
            "stats:rows:include": True,
        },
        {"column_name": "amount", "table_name": "t"},
    ]
    stats = catalog_stats("10 bytes, 0 rows", None)
    rows = with_stats(columns, stats)
    assert [row["column_name"] for row in rows] == ["id", "amount"]
    for row in rows:
        assert {key: value for key, value in row.items() if key.startswith("stats:")} == stats
        assert row["table_name"] == "t"


# ---------------------------------------------------------------------------------------
# Counting the files of real tables
# ---------------------------------------------------------------------------------------


def _location(spark, table: str) -> Path:
    rows = spark.sql(f"describe table extended {table}").collect()
    location = next(row[1] for row in rows if row[0] == "Location")
    return Path(location.removeprefix("file:"))


READERS = pytest.mark.parametrize("local_reader", [True, False], ids=["pyarrow", "hadoop"])


@READERS
def test_a_parquet_table_is_counted_from_its_footers(spark, local_reader):
    spark.sql("drop table if exists catalog_counted")
    spark.range(0, 1000, numPartitions=3).selectExpr("id", "id * 2 as twice").write.format(
        "parquet"
    ).saveAsTable("catalog_counted")
    spark.range(0, 37, numPartitions=2).selectExpr("id", "id as twice").write.format(
        "parquet"
    ).mode("append").saveAsTable("catalog_counted")
    # Files Spark does not read are not counted: a hidden folder inside the location.
    hidden = _location(spark, "catalog_counted") / "_dbt_detached"
    spark.range(5).selectExpr("id", "id as twice").write.parquet(str(hidden))

    counted = count_parquet_table(spark, "default.catalog_counted", local_reader)
    assert counted.rows == spark.table("catalog_counted").count() == 1037
    assert counted.files >= 2
    files = list(spark.table("catalog_counted")._jdf.inputFiles())
    assert counted.bytes == sum(Path(name.removeprefix("file:")).stat().st_size for name in files)


@READERS
def test_a_partitioned_table_counts_its_registered_partitions_only(spark, local_reader):
    spark.sql("drop table if exists catalog_partitioned")
    spark.range(0, 120).selectExpr("id", "cast(id % 3 as int) as month").write.format(
        "parquet"
    ).partitionBy("month").saveAsTable("catalog_partitioned")
    # A partition folder the catalog does not know (a killed build's leftover).
    stray = _location(spark, "catalog_partitioned") / "month=9"
    spark.range(50).selectExpr("id").write.parquet(str(stray))

    assert count_parquet_table(spark, "default.catalog_partitioned", local_reader).rows == 120
    assert spark.table("catalog_partitioned").count() == 120


def _catalog_rows(spark, adapter: SparkplusAdapter, table: str, kind: str = "table") -> list:
    information = spark.sql(f"show table extended in default like '{table}'").collect()[0][3]
    relation = SparkRelation.create(
        schema="default", identifier=table, type=kind, information=information
    )
    return list(adapter._get_columns_for_catalog(relation))


@pytest.fixture
def adapter(spark) -> SparkplusAdapter:
    """The adapter's catalog methods need only the session: an uninitialised instance."""
    instance = SparkplusAdapter.__new__(SparkplusAdapter)
    instance._session = lambda: spark  # type: ignore[method-assign]
    return instance


def test_the_catalog_rows_of_a_parquet_table_show_its_true_row_count(spark, adapter):
    spark.sql("drop table if exists catalog_sales")
    spark.sql("create table catalog_sales using parquet as select id from range(25)")
    rows = _catalog_rows(spark, adapter, "catalog_sales")
    assert [row["column_name"] for row in rows] == ["id"]
    shown = _shown({k: v for k, v in rows[0].items() if k.startswith("stats:")})
    assert shown["rows"] == 25


def test_the_catalog_rows_of_a_view_or_a_csv_table_show_no_row_count(spark, adapter, tmp_path):
    spark.sql("create or replace view catalog_view as select id from range(3)")
    landed = tmp_path / "landed.csv"
    landed.write_text("id\n1\n2\n")
    spark.sql("drop table if exists catalog_csv")
    spark.sql(
        f"create table catalog_csv (id int) using csv options (header 'true') location '{tmp_path}'"
    )
    # The metastore's figure is right when analysed and stale once the files change.
    spark.sql("analyze table catalog_csv compute statistics")
    landed.write_text("id\n1\n2\n3\n")
    information = spark.sql("show table extended in default like 'catalog_csv'").collect()[0][3]
    assert parse_statistics(statistics_line(information)).get("rows") == 2
    for table, kind in (("catalog_view", "view"), ("catalog_csv", "table")):
        rows = _catalog_rows(spark, adapter, table, kind)
        assert rows, table
        for row in rows:
            assert not any(key.startswith("stats:rows") for key in row), (table, row)
    assert _shown(
        {k: v for k, v in _catalog_rows(spark, adapter, "catalog_csv")[0].items() if "stats:" in k}
    ) == {"bytes": parse_statistics(statistics_line(information))["bytes"]}
