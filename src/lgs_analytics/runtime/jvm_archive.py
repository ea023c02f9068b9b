"""Write the Spark driver's class-data-sharing archive (see dbt.adapters.sparkplus.class_sharing).

`ensure()` runs, once per environment, a small workload in a new process whose Spark driver
JVM has `-XX:ArchiveClassesAtExit`: a Hive-enabled session of the `local` target on a
throwaway metastore reads a CSV file of the raw layout, writes and rewrites partitioned
parquet tables, joins, aggregates, converts to and from pandas, and fits the MLlib models
the Python models use. When that JVM exits it writes every class it loaded into the
archive, which is then moved into place in one rename: a reader never sees half a file.

Writing takes about a minute and ~230 MB in the virtual environment; it is an
optimisation only: when it fails, Spark starts the usual way and the reason is printed.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dbt.adapters.sparkplus.class_sharing import SUBMIT_OPTS, archive_path, cds_option, without_cds

# Smaller than this, the JVM wrote no usable archive (a real one is 100-200 MB).
MIN_ARCHIVE_BYTES = 1_000_000


def ensure(force: bool = False, quiet: bool = False, timeout: float = 900) -> Path | None:
    """The archive of this environment, written first if missing; None if off or failed."""
    path = archive_path()
    if path is None:
        return None
    if path.is_file() and not force:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be writing it right now
        if path.is_file() and not force:
            return path
        started = time.monotonic()
        if not quiet:
            print("Writing the Spark class archive (once per environment, about a minute)...")
        problem = _write(path, timeout)
        if problem:
            print(f"warning: no Spark class archive, Spark starts the usual way: {problem}")
            return None
        if not quiet:
            size = path.stat().st_size / 2**20
            print(
                f"Spark class archive: {path} ({size:.0f} MiB, {time.monotonic() - started:.0f} s)"
            )
        return path


def _write(path: Path, timeout: float) -> str | None:
    """Run the workload with the dump option; move the archive into place. The problem, if any."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    work = Path(tempfile.mkdtemp(prefix="lgs-jvm-archive-"))
    env = dict(os.environ)
    dump = cds_option("-XX:ArchiveClassesAtExit", partial)
    env[SUBMIT_OPTS] = f"{without_cds(env.get(SUBMIT_OPTS, ''))} {dump} -Xlog:cds*=off".strip()
    env["LGS_STATE_DIR"] = str(work / "state")
    env.pop("LGS_RAW_PATH", None)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "lgs_analytics.runtime.jvm_archive", "--workload", str(work)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines()
            return f"the workload failed: {lines[-1] if lines else result.returncode}"
        if not partial.is_file() or partial.stat().st_size < MIN_ARCHIVE_BYTES:
            return "the JVM wrote no archive (is this JDK's default CDS archive missing?)"
        os.replace(partial, path)
        return None
    except subprocess.TimeoutExpired:
        return f"the workload took more than {timeout:.0f} s"
    finally:
        partial.unlink(missing_ok=True)
        shutil.rmtree(work, ignore_errors=True)


def workload(work: Path) -> None:
    """Exercise what dbt builds, the Python models and the project's tools load in Spark."""
    import pandas as pd
    from pyspark import SparkContext
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.evaluation import ClusteringEvaluator
    from pyspark.ml.feature import StandardScaler, VectorAssembler
    from pyspark.ml.fpm import FPGrowth

    from lgs_analytics.landing.raw_layout import RAW_CSV_OPTIONS
    from lgs_analytics.runtime.paths import ProjectPaths
    from lgs_analytics.runtime.spark_session import get_session
    from lgs_analytics.synthetic.generator import generate

    raw = work / "raw"
    generate(raw, rows=2_000, seed=1, malformed_share=0.01, progress=False)
    spark = get_session(ProjectPaths.discover(), "local", app_name="lgs-jvm-archive")
    spark.sparkContext.setLogLevel("ERROR")
    spark.read.options(**RAW_CSV_OPTIONS).csv(str(raw)).createOrReplaceTempView("raw_rows")
    spark.sql("create database if not exists archive_workload")
    spark.sql(
        """
        create table archive_workload.lines using parquet partitioned by (month) as
        select Invoice as invoice, StockCode as stock_code, `Customer ID` as customer,
               cast(Quantity as int) as quantity, cast(Price as decimal(18, 3)) as price,
               to_timestamp(InvoiceDate, 'yyyy-MM-dd HH:mm:ss') as invoiced_at,
               input_file_name() as source_file, current_timestamp() as loaded_at,
               date_format(to_timestamp(InvoiceDate, 'yyyy-MM-dd HH:mm:ss'), 'yyyyMM') as month
        from raw_rows
        """
    )
    spark.sql(
        "insert overwrite table archive_workload.lines partition (month) "
        "select * from archive_workload.lines where quantity > 0"
    )
    spark.sql(
        """
        with invoices as (
            select invoice, customer, month, sum(quantity * price) as amount
            from archive_workload.lines group by invoice, customer, month
        )
        select i.month, count(distinct i.customer) as customers, sum(i.amount) as sales,
               percentile_approx(i.amount, array(0.25, 0.5, 0.75)) as quartiles,
               max(r.rank) as ranks
        from invoices as i
        left join (
            select customer, ntile(5) over (order by sum(amount)) as rank
            from invoices group by customer
        ) as r on i.customer = r.customer
        group by i.month order by i.month
        """
    ).collect()
    for statement in (
        "describe table extended archive_workload.lines",
        "show tables in archive_workload",
        "show tblproperties archive_workload.lines",
        "show partitions archive_workload.lines",
    ):
        spark.sql(statement).collect()
    frame = spark.table("archive_workload.lines").toPandas()
    summary = frame.groupby("customer", dropna=True)["quantity"].sum().reset_index()
    spark.createDataFrame(pd.DataFrame(summary)).write.mode("overwrite").saveAsTable(
        "archive_workload.summary"
    )
    features = VectorAssembler(inputCols=["quantity"], outputCol="raw").transform(
        spark.table("archive_workload.summary").dropna()
    )
    scaled = StandardScaler(inputCol="raw", outputCol="features").fit(features).transform(features)
    clustered = KMeans(k=2, seed=1).fit(scaled).transform(scaled)
    ClusteringEvaluator().evaluate(clustered)
    baskets = spark.sql(
        "select collect_set(stock_code) as items from archive_workload.lines group by invoice"
    )
    FPGrowth(itemsCol="items", minSupport=0.01, minConfidence=0.1).fit(
        baskets
    ).associationRules.count()
    spark.stop()
    # The JVM writes the archive as it exits, which it does when its stdin closes: wait for
    # it here, so that the archive is complete when this process returns.
    process = SparkContext._gateway.proc
    process.stdin.close()
    process.wait(timeout=600)


def main(argv: list[str] | None = None) -> int:
    """The workload process of `_write` (users run `lgs jvm-archive`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", required=True, help="a scratch folder")
    workload(Path(parser.parse_args(argv).workload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
