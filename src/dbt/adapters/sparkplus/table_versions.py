"""Folders of the table versions that sparkplus publishes by switching a table's location.

A non-partitioned parquet table is rebuilt as a new version, `<name>__dbt_v<id>`, in a
folder of its own; one `ALTER TABLE <name> SET LOCATION` then publishes it, so a reader in
another process sees the old version or the new one, never a missing or half-written
table. The old folder stays for readers that started before the switch and is deleted by
a later build: these functions list and delete the folders no catalog entry needs.
"""

from __future__ import annotations

from typing import Any

VERSION_MARK = "__dbt_v"


def normalized(location: str | None) -> str:
    """A location comparable with another: `file:///x/` and `file:/x` are the same."""
    if not location:
        return ""
    text = location.rstrip("/")
    if text.startswith("file:///"):
        text = "file:/" + text[len("file:///") :]
    return text


def _path(spark: Any, location: str) -> tuple[Any, Any]:
    context = spark.sparkContext
    path = context._jvm.org.apache.hadoop.fs.Path(location)
    return path, path.getFileSystem(context._jsc.hadoopConfiguration())


def make_directory(spark: Any, location: str) -> None:
    """Create an (empty) folder, as a harmless location to point a table at before a drop."""
    path, filesystem = _path(spark, location)
    filesystem.mkdirs(path)


def collect_versions(spark: Any, schema: str, identifier: str, keep: list[str]) -> list[str]:
    """Delete the folders of `identifier`'s versions that nothing needs; return them.

    Candidates are the folders of the database named `<identifier>__dbt_v…` that are not
    a registered table (a build killed before it published or dropped its version), and
    the table's default folder `<identifier>` (the version before the first switch).
    Folders in `keep` (the table's current and previous locations) are never deleted.
    """
    if not spark.catalog.databaseExists(schema):
        return []
    base = identifier.lower()
    database = spark.catalog.getDatabase(schema).locationUri
    kept = {normalized(location) for location in keep}
    root, filesystem = _path(spark, database)
    if not filesystem.exists(root):
        return []
    deleted = []
    for status in filesystem.listStatus(root):
        if not status.isDirectory():
            continue
        name = status.getPath().getName().lower()
        if not (name.startswith(base + VERSION_MARK) or name == base):
            continue
        location = str(status.getPath().toString())
        if normalized(location) in kept:
            continue
        # A version still registered is a build's own (or one its next step drops). Asked
        # per name, schema-qualified: `listTables` would also describe the session's
        # temporary views, which other dbt threads create and drop meanwhile.
        if name != base and spark.catalog.tableExists(f"{schema}.{name}"):
            continue
        filesystem.delete(status.getPath(), True)
        deleted.append(location)
    return deleted
