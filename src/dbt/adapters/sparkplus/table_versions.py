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
# The folder in a table's folder where a dynamic `insert overwrite` job writes the new
# partitions before its commit moves them into place (Spark's `.spark-staging-<job id>`).
WRITE_STAGING_MARK = ".spark-staging-"
# Seconds by which a file's time may trail the clock that read `written_before`: a kernel
# stamps files with a clock that lags by up to a tick, some file systems keep 1-2 s steps.
CLOCK_MARGIN = 2.0


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


def collect_versions(
    spark: Any,
    schema: str,
    identifier: str,
    keep: list[str],
    written_before: float | None = None,
) -> list[str]:
    """Delete the folders of `identifier`'s versions that nothing needs; return them.

    Candidates are the folders of the database named `<identifier>__dbt_v…` that are not
    a registered table (a build killed before it published or dropped its version), and
    the table's default folder `<identifier>` (the version before the first switch).
    Folders in `keep` (the table's current and previous locations) are never deleted.

    An unregistered folder may also be a version another process is writing right now: a
    table's catalog entry is only created once its files are complete. So with
    `written_before` (seconds since the epoch: when this invocation became the catalog's
    only writer, by taking the shared catalog's writer lock or by opening embedded Derby)
    a folder in which anything, at any depth, changed at or after that moment is kept.
    Every other writer that respects the lock ended before it, so what it left is older
    and is collected; what changed later belongs to a writer that took no lock (a build
    through the Thrift server, another tool) and is kept for a later build to collect.
    Not a fixed grace period: a write can leave its folder untouched for longer than any
    period (a long stage before its first file), and a period would delay collecting
    what a killed build left. Not the run id in the name: it tells which invocation wrote
    a folder, not whether that invocation still runs. Times are the file system's, compared
    with this process's clock (the same clock on a local or mounted warehouse), less
    CLOCK_MARGIN: a leftover of the lock's previous holder is then kept one build longer.
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
        if written_before is not None and changed_since(
            filesystem, status, int((written_before - CLOCK_MARGIN) * 1000)
        ):
            continue
        filesystem.delete(status.getPath(), True)
        deleted.append(location)
    return deleted


def collect_write_leftovers(spark: Any, location: str, written_before: float | None) -> list[str]:
    """Delete the write folders that killed `insert overwrite` jobs left in the table folder
    at `location`; return them.

    A job writes the partitions it replaces into `<table>/.spark-staging-<job id>/` and its
    commit moves them into place, then deletes the folder: one that is still there belongs
    to a job that died (a killed build) or to one running right now. Readers never look
    into it (Spark skips names starting with a dot), so it only wastes space, but nothing
    else would ever delete it. As in `collect_versions`, a folder in which anything changed
    since `written_before` (when this invocation became the catalog's only writer) is kept;
    without that moment nothing is deleted.
    """
    if written_before is None or not location:
        return []
    root, filesystem = _path(spark, location)
    if not filesystem.exists(root):
        return []
    deleted = []
    for status in filesystem.listStatus(root):
        if not (status.isDirectory() and status.getPath().getName().startswith(WRITE_STAGING_MARK)):
            continue
        if changed_since(filesystem, status, int((written_before - CLOCK_MARGIN) * 1000)):
            continue
        filesystem.delete(status.getPath(), True)
        deleted.append(str(status.getPath().toString()))
    return deleted


def changed_since(filesystem: Any, status: Any, since_ms: int) -> bool:
    """Whether the file or folder of `status`, or anything below it, was modified at or
    after `since_ms` (milliseconds since the epoch, as Hadoop's file statuses give it).

    A folder's own time changes only when an entry is added to or removed from it: a
    write in progress changes its `_temporary/…` subfolders, so every level is looked at.
    """
    if status.getModificationTime() >= since_ms:
        return True
    if not status.isDirectory():
        return False
    return any(
        changed_since(filesystem, child, since_ms)
        for child in filesystem.listStatus(status.getPath())
    )
