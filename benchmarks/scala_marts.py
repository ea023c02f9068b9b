"""The Scala engine of the benchmark: compile ``scala/SpecMarts.scala`` and run it on Spark.

    .venv/bin/python benchmarks/scala_marts.py --raw RAW_DIR --out OUT_DIR

``benchmarks/scala/SpecMarts.scala`` computes the marts of DEFINITIONS §2–§5 (the marts of
``plain_pyspark_marts.py --marts spec``) with Spark's Scala DataFrame API. No build tool:
the Scala compiler, the Spark jars and ``spark-submit`` all ship in the pyspark install.

- ``compile_jar``: ``java -cp <pyspark>/jars/* scala.tools.nsc.Main`` compiles the source
  into a jar kept in the state folder (``$LGS_STATE_DIR/scala/``), named after the SHA-256
  of the source and of the compiler: a changed source is compiled again, an unchanged one
  never; the compile time is reported apart from the run time.
- ``submit_command``: ``spark-submit`` with the Spark settings of the plain PySpark script
  (the profile's ``local`` target without the Hive metastore: ``local[*]``, driver memory,
  shuffle partitions, UI off, driver bound to 127.0.0.1), the CSV options of the raw table
  and the project's vars (``outlier_percentile``, ``histogram_bins``,
  ``rfm_reference_date``).

The job writes each table as parquet under OUT_DIR, with ``_timings.json`` (session start,
compute, per table, total, as the plain script's); this wrapper adds the compile time.
A missing Java or a source that does not compile is a one-sentence error, no traceback.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
SOURCE = BENCH_DIR / "scala" / "SpecMarts.scala"
MAIN_CLASS = "lgs.bench.SpecMarts"
# The marts the job writes (plain_pyspark_marts.py --marts spec writes the same ones).
TABLES = (
    "staging_counts",
    "monthly_sales",
    "monthly_orders",
    "monthly_active_users",
    "monthly_new_existing_users",
    "customer_rfm_scores",
    "rfm_segment_summary",
    "invoice_amounts",
    "invoice_amount_distribution",
    "invoice_amount_histogram",
)
COMPILE_TIMEOUT_S = 600

sys.path.insert(0, str(BENCH_DIR))  # plain_pyspark_marts.py
try:
    from lgs_analytics.errors import UserError
    from lgs_analytics.landing.raw_layout import RAW_CSV_OPTIONS
    from lgs_analytics.runtime.paths import ProjectPaths
except ModuleNotFoundError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(PROJECT_ROOT / "src"))
    from lgs_analytics.errors import UserError
    from lgs_analytics.landing.raw_layout import RAW_CSV_OPTIONS
    from lgs_analytics.runtime.paths import ProjectPaths


def spark_home() -> Path:
    """The pyspark install: its ``jars/`` and ``bin/spark-submit``."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def java_executable() -> str:
    """``$JAVA_HOME/bin/java`` or the ``java`` on PATH; a UserError when there is none."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise UserError(
            "The Scala engine needs Java, and none was found: install a JDK 17 or set "
            "JAVA_HOME to one."
        )
    return found


def compiler_jars(home: Path | None = None) -> list[Path]:
    """The Scala compiler jars of the pyspark install (the key of the compiled jar)."""
    jars = sorted((home or spark_home()).joinpath("jars").glob("scala-*.jar"))
    if not any(jar.name.startswith("scala-compiler") for jar in jars):
        raise UserError(
            f"The Scala engine needs the Scala compiler jar in {(home or spark_home()) / 'jars'}, "
            "and it is not there: reinstall pyspark (make bootstrap)."
        )
    return jars


def source_key(source: Path = SOURCE, home: Path | None = None) -> str:
    """SHA-256 (16 hex digits) of the source and of the compiler and library jars' names."""
    digest = hashlib.sha256(source.read_bytes())
    for jar in compiler_jars(home):
        digest.update(f"|{jar.name}".encode())
    return digest.hexdigest()[:16]


def jar_cache(state: Path | None = None) -> Path:
    """Where compiled jars are kept: ``<state folder>/scala``."""
    return (state or ProjectPaths.discover(PROJECT_ROOT).state) / "scala"


def compile_jar(cache: Path | None = None, source: Path = SOURCE) -> dict[str, Any]:
    """The jar of ``source``: the cached one, else compiled now.

    Returns ``{"jar", "key", "cached", "compile_s"}`` (compile_s is None when cached).
    Raises UserError when Java is missing or the source does not compile.
    """
    home = spark_home()
    cache = cache or jar_cache()
    key = source_key(source, home)
    jar = cache / f"{source.stem}-{key}.jar"
    if jar.is_file():
        return {"jar": str(jar), "key": key, "cached": True, "compile_s": None}
    java = java_executable()
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / f".{jar.name}.{os.getpid()}.partial.jar"
    started = time.perf_counter()
    result = subprocess.run(
        [
            java,
            "-Xss8m",  # scalac's recursion on large expressions
            "-cp",
            str(home / "jars" / "*"),
            "scala.tools.nsc.Main",
            "-usejavacp",
            "-nowarn",
            "-d",
            str(partial),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=COMPILE_TIMEOUT_S,
        check=False,
    )
    seconds = round(time.perf_counter() - started, 2)
    if result.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        output = (result.stdout + result.stderr).strip().splitlines()
        first = next((line for line in output if "error" in line.lower()), None)
        first = first or (output[0] if output else f"exit status {result.returncode}")
        raise UserError(
            f"The Scala engine's source {source.name} does not compile ({first.strip()}): "
            f"fix {source} and run again."
        )
    partial.replace(jar)  # atomic: a concurrent run sees no half-written jar
    return {"jar": str(jar), "key": key, "cached": False, "compile_s": seconds}


def submit_command(
    jar: Path | str, raw_dir: Path, out_dir: Path, settings: dict[str, str] | None = None
) -> list[str]:
    """``spark-submit`` of the job with the plain script's Spark settings and the vars."""
    from plain_beyond_marts import project_vars
    from plain_pyspark_marts import spark_settings

    settings = spark_settings() if settings is None else settings
    master = settings.get("spark.master", "local[*]")
    conf: list[str] = []
    for key, value in settings.items():
        if key != "spark.master":
            conf.extend(["--conf", f"{key}={value}"])
    variables = project_vars(PROJECT_ROOT)
    options: list[str] = []
    for key, value in RAW_CSV_OPTIONS.items():
        options.extend(["--csv-option", f"{key}={value}"])
    return [
        str(spark_home() / "bin" / "spark-submit"),
        "--master",
        master,
        *conf,
        "--class",
        MAIN_CLASS,
        str(jar),
        "--raw",
        str(raw_dir),
        "--out",
        str(out_dir),
        "--seeds",
        str(PROJECT_ROOT / "seeds"),
        "--outlier-percentile",
        str(variables.get("outlier_percentile", 0.85)),
        "--histogram-bins",
        str(variables.get("histogram_bins", 40)),
        "--rfm-reference-date",
        str(variables.get("rfm_reference_date") or ""),
        *options,
    ]


def submit_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The job's environment: the Spark home of the pyspark install, and the driver's class
    archive when the project has one (as dbt's and the plain script's drivers use it)."""
    from dbt.adapters.sparkplus.class_sharing import share_classes

    env = dict(os.environ if environ is None else environ)
    env["SPARK_HOME"] = str(spark_home())
    share_classes(env)
    return env


def run(raw_dir: Path, out_dir: Path, cache: Path | None = None) -> dict[str, Any]:
    """Compile (unless cached), run the job, return its timings with the compile's."""
    compiled = compile_jar(cache)
    started = time.perf_counter()
    result = subprocess.run(
        submit_command(compiled["jar"], raw_dir, out_dir),
        cwd=PROJECT_ROOT,
        env=submit_env(),
        check=False,
    )
    if result.returncode != 0:
        raise UserError(
            f"The Scala engine's Spark job failed (exit status {result.returncode}): see the "
            "Spark output above."
        )
    timings = json.loads((out_dir / "_timings.json").read_text())
    timings["submit_wall_s"] = round(time.perf_counter() - started, 3)
    timings["compile"] = compiled
    (out_dir / "_timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    return timings


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, help="raw landing folder (part-*.csv)")
    parser.add_argument("--out", type=Path, help="output folder for parquet")
    parser.add_argument(
        "--compile-only", action="store_true", help="compile (or find the cached jar) and stop"
    )
    args = parser.parse_args(argv)
    if not args.compile_only and (args.raw is None or args.out is None):
        parser.error("--raw and --out are required (unless --compile-only)")
    try:
        if args.compile_only:
            print(json.dumps(compile_jar()))
            return 0
        print(json.dumps(run(args.raw.resolve(), args.out.resolve())))
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
