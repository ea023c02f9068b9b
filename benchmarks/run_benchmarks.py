"""Benchmark the dbt build against a plain PySpark script and the pandas reference.

    .venv/bin/python benchmarks/run_benchmarks.py --rows 1M,10M [--seed 42]
        [--out benchmarks/results/<timestamp>.json]
        [--only dbt,dbt-spec,pyspark,pyspark-spec,scala-spec,pandas]
        [--keep-data] [--repeat N]

For each size, synthetic raw data is generated once into ``.lgs-bench/<size>/`` (reused
when its manifest matches), then up to six engines run, each in a fresh process tree:

- ``dbt``: ``dbt build --target local`` on that state folder, from an empty warehouse and
  metastore (so every run starts from the same state), with its own target and log folders;
- ``dbt-spec``: the same without the models beyond DEFINITIONS §2–§5 (``--selector spec_marts``),
  for what the models beyond add to the build (the difference of the two dbt runs);
- ``pyspark``: ``benchmarks/plain_pyspark_marts.py``, every mart of the build with the same
  Spark settings and no Hive: the floor for Spark;
- ``pyspark-spec``: the same script with ``--marts spec``, the marts of ``dbt-spec``;
- ``scala-spec``: ``benchmarks/scala/SpecMarts.scala``, the marts of ``pyspark-spec`` in a
  Scala Spark job run by the ``spark-submit`` of the pyspark install with the same settings
  (``benchmarks/scala_marts.py``); it is compiled before it is measured (once per source:
  the jar is kept in the state folder), and the compile time is reported apart;
- ``pandas``: ``benchmarks/pandas_reference.py``, the project's pandas reference pipeline.

Each run is measured by ``benchmarks/measure.py`` (wall, CPU of the whole tree, peak RSS of
the tree, CPU by role). One fixed-width table is printed, headed by the machine, with the
dbt / PySpark ratios (``dbt`` / ``pyspark``, and ``dbt-spec`` / ``pyspark-spec``), Scala /
PySpark (``scala-spec`` / ``pyspark-spec``), each Spark engine's start-up, what
the models beyond add to each, and where the dbt build spends its time; the same goes to the JSON
file. Figures are printed, never asserted: they depend on the machine and on what else
runs on it.

``--repeat N`` runs every engine N times per size, in rounds: the engines in order in odd
rounds and in reverse order in even ones (A B, B A, A B...), so that a machine that drifts
faster or slower over the rounds weighs on each engine alike. Every run is printed and kept
in the JSON; a second table gives each engine's median, and the ratios and differences
are those of the medians, with the ratio of each round (its two runs ran minutes apart)
beside them: the spread of a noisy machine is shown, not hidden in one figure.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import importlib.metadata
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))  # measure.py sits next to this file

try:
    from lgs_analytics.errors import UserError
    from lgs_analytics.runtime.build import ensure_profile
    from lgs_analytics.runtime.paths import ProjectPaths
    from lgs_analytics.runtime.spark_session import load_target, profile_drift
    from lgs_analytics.synthetic.generator import GENERATOR_VERSION, generate
except ModuleNotFoundError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(PROJECT_ROOT / "src"))
    from lgs_analytics.errors import UserError
    from lgs_analytics.runtime.build import ensure_profile
    from lgs_analytics.runtime.paths import ProjectPaths
    from lgs_analytics.runtime.spark_session import load_target, profile_drift
    from lgs_analytics.synthetic.generator import GENERATOR_VERSION, generate

import scala_marts  # noqa: E402 - needs the path set above
from measure import ROLES, Measurement, run_measured  # noqa: E402 - needs the path set above

ENGINES = ("dbt", "dbt-spec", "pyspark", "pyspark-spec", "scala-spec", "pandas")
# The dbt engines and the `dbt build` arguments of each (before --dbt-args).
# Both are production builds (selectors.yml `production_job`): models, seeds and data tests;
# the dbt unit tests check logic on fixed inputs and run in CI, not in production.
PRODUCTION = ("--exclude-resource-type", "unit_test")
DBT_ENGINES: dict[str, tuple[str, ...]] = {
    "dbt": PRODUCTION,
    # selectors.yml: every node but the models of DEFINITIONS §6 (tag `beyond`) and their tests.
    "dbt-spec": ("--selector", "spec_marts", *PRODUCTION),
}
# Selection options that dbt ignores beside --selector.
SELECTION_OPTIONS = ("-s", "--select", "-m", "--models", "--exclude", "--selector")
# The plain PySpark engines and the marts each computes (plain_pyspark_marts.py --marts).
PLAIN_ENGINES = {"pyspark": "all", "pyspark-spec": "spec"}
# The Scala engine (benchmarks/scala_marts.py): the marts of pyspark-spec, compiled Scala.
SCALA_ENGINE = "scala-spec"
# (engine with every mart, the same without the models beyond DEFINITIONS §2–§5)
FULL_AND_SPEC = (("dbt", "dbt-spec"), ("pyspark", "pyspark-spec"))
GIB = 2**30
MIB = 2**20
SIZE_SUFFIXES = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000, "b": 1_000_000_000}
TOP_NODES = 10
# Node time of the models with these tags and of the tests on them, reported apart.
REPORTED_TAGS = ("beyond",)
# How run_results.json names resource types, in the order they are reported.
RESOURCE_TYPES = {
    "operation": "hooks",
    "seed": "seeds",
    "model.sql": "models (SQL)",
    "model.python": "models (Python)",
    "test": "data tests",
    "unit_test": "unit tests",
    "snapshot": "snapshots",
}


# ----------------------------------------------------------------------------- arguments


def parse_size(text: str) -> int:
    """Rows from ``20k``, ``1M``, ``1.5M``, ``100M`` or ``1067371``."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmMgGbB]?)\s*", text.replace("_", ""))
    if not match:
        raise argparse.ArgumentTypeError(f"not a row count: {text!r} (try 20k, 1M, 10M)")
    rows = round(float(match.group(1)) * SIZE_SUFFIXES[match.group(2).lower()])
    if rows < 1:
        raise argparse.ArgumentTypeError(f"row count must be positive: {text!r}")
    return rows


def size_label(rows: int) -> str:
    """A short folder-safe name: 20k, 1M, 10M, 1067371."""
    for suffix, factor in (("M", 1_000_000), ("k", 1_000)):
        if rows % factor == 0:
            return f"{rows // factor}{suffix}"
    return str(rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", default="1M", help="comma-separated sizes, e.g. 1M,10M (k, M suffixes)"
    )
    parser.add_argument("--seed", type=int, default=42, help="generator seed")
    parser.add_argument(
        "--only",
        default=",".join(ENGINES),
        help=f"comma-separated engines among {','.join(ENGINES)}",
    )
    parser.add_argument("--out", type=Path, help="JSON results (default benchmarks/results/)")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=PROJECT_ROOT / ".lgs-bench",
        help="scratch state folder, one sub-folder per size",
    )
    parser.add_argument(
        "--keep-data", action="store_true", help="keep raw data, warehouse and outputs"
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="time cap per run in seconds")
    parser.add_argument(
        "--pandas-max-rss-gb",
        type=float,
        default=round(psutil.virtual_memory().total * 0.75 / GIB, 1),
        help="stop pandas when its RSS exceeds this (default: 75%% of the RAM)",
    )
    parser.add_argument("--chunk-rows", type=int, default=2_000_000, help="rows per raw file")
    parser.add_argument(
        "--dbt-args",
        default="",
        help='extra `dbt build` arguments, e.g. "--exclude tag:baskets" (default: none)',
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs of every engine per size, in rounds; medians are reported (default: 1)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat takes a whole number of runs >= 1, got {args.repeat}")
    args.sizes = [parse_size(part) for part in args.rows.split(",") if part.strip()]
    args.engines = [part.strip() for part in args.only.split(",") if part.strip()]
    unknown = set(args.engines) - set(ENGINES)
    if unknown or not args.engines:
        parser.error(f"--only takes engines among {', '.join(ENGINES)}, got {args.only!r}")
    args.engines = [engine for engine in ENGINES if engine in args.engines]
    narrowing = [part for part in shlex.split(args.dbt_args) if part in SELECTION_OPTIONS]
    if narrowing and "dbt-spec" in args.engines:
        parser.error(
            f"--dbt-args {narrowing[0]} would be ignored by the dbt-spec engine, which builds "
            "--selector spec_marts: leave dbt-spec out (--only) or add a selector to "
            "selectors.yml"
        )
    if args.out is None:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        args.out = BENCH_DIR / "results" / f"{stamp}.json"
    args.work_dir = args.work_dir.resolve()
    args.out = args.out.resolve()
    return args


# ----------------------------------------------------------------------------- machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _java_version() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else "java"
    try:
        result = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[0] if lines else "unknown"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, Any]:
    """Cores, memory, CPU, load and the versions that matter to the figures."""
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / GIB, 1),
        "cpu_model": _cpu_model(),
        "os": platform.platform(),
        "java": _java_version(),
        "python": platform.python_version(),
        "pyspark": _version("pyspark"),
        "dbt_core": _version("dbt-core"),
        "dbt_spark": _version("dbt-spark"),
        "pandas": _version("pandas"),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "jvm_archive": _jvm_archive(),
    }


def _jvm_archive() -> str | None:
    """The Spark driver's class archive that the dbt and PySpark runs map, if there is one."""
    from dbt.adapters.sparkplus.class_sharing import archive_path

    path = archive_path()
    return str(path) if path is not None and path.is_file() else None


def profile_info() -> dict[str, Any]:
    """The profile every engine reads (dbt and the plain script alike), and how its local
    target differs from profiles.yml.example: figures from a drifted profile are not the
    project's."""
    paths = ProjectPaths(root=PROJECT_ROOT, state=PROJECT_ROOT / ".lgs")
    ensure_profile(paths)  # before any run: dbt and the plain script both read it
    return {"file": str(paths.profiles), "drift_from_example": profile_drift(paths, "local")}


def profile_line(profile: dict[str, Any]) -> str:
    """The header line about the profile."""
    drift = profile["drift_from_example"]
    if not drift:
        return f"profile: {profile['file']}, target local as in profiles.yml.example"
    keys = ", ".join(line.partition(": ")[0] for line in drift)
    return (
        f"profile: {profile['file']}, target local DIFFERS from profiles.yml.example in "
        f"{len(drift)} setting(s): {keys}"
    )


def machine_header(machine: dict[str, Any]) -> list[str]:
    """The lines printed above the table."""
    load = " ".join(f"{x:.2f}" for x in machine["load_average_start"])
    end = machine.get("load_average_end")
    load_end = f", at end {' '.join(f'{x:.2f}' for x in end)}" if end else ""
    return [
        f"machine: {machine['cores']} cores, {machine['memory_gib']} GiB RAM, "
        f"{machine['cpu_model']}",
        f"software: {machine['java']}; Python {machine['python']}, pyspark "
        f"{machine['pyspark']}, dbt-core {machine['dbt_core']}, dbt-spark "
        f"{machine['dbt_spark']}, pandas {machine['pandas']}",
        f"load average (1/5/15 min) at start {load}{load_end}",
        "Spark class archive (lgs jvm-archive): "
        + ("used" if machine.get("jvm_archive") else "none, Spark drivers load their classes"),
        *([profile_line(machine["profile"])] if "profile" in machine else []),
    ]


# ----------------------------------------------------------------------------- data


def _manifest_matches(raw_dir: Path, rows: int, seed: int) -> bool:
    manifest_path = raw_dir / "_manifest.json"
    if not manifest_path.is_file():
        return False
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError:
        return False
    return (
        manifest.get("format") == "csv"
        and manifest.get("seed") == seed
        and str(manifest.get("generator_version")) == GENERATOR_VERSION
        and manifest.get("lines") == rows
        and manifest.get("malformed_total") == 0
        and all((raw_dir / name).is_file() for name in manifest.get("files", []))
    )


def ensure_data(raw_dir: Path, rows: int, seed: int, chunk_rows: int) -> dict[str, Any]:
    """Generate the raw files unless a matching set is there; describe what is used."""
    reused = _manifest_matches(raw_dir, rows, seed)
    started = time.perf_counter()
    if not reused:
        print(f"  generating {rows:,} rows (seed {seed}) into {raw_dir}", flush=True)
        generate(raw_dir, rows=rows, seed=seed, chunk_rows=chunk_rows, progress=False)
    manifest = json.loads((raw_dir / "_manifest.json").read_text())
    files = [raw_dir / name for name in manifest["files"]]
    return {
        "raw_dir": str(raw_dir),
        "reused": reused,
        "generate_s": None if reused else round(time.perf_counter() - started, 2),
        "files": len(files),
        "bytes": sum(path.stat().st_size for path in files),
        "exact_duplicate_rows": manifest.get("exact_duplicate_rows"),
    }


# ----------------------------------------------------------------------------- engines


def engine_env(state: Path, raw_dir: Path) -> dict[str, str]:
    """The environment of every measured process: this state folder, no telemetry."""
    env = dict(os.environ)
    env.update(
        {
            "LGS_STATE_DIR": str(state),
            "LGS_RAW_PATH": str(raw_dir),
            "DO_NOT_TRACK": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "PYSPARK_PYTHON": sys.executable,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _remove(*paths: Path) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def dbt_executable() -> str:
    """The dbt next to this interpreter (the project's venv), else the one on PATH."""
    local = Path(sys.executable).parent / "dbt"
    return str(local) if local.exists() else (shutil.which("dbt") or "dbt")


def engine_command(
    engine: str, state: Path, raw_dir: Path, dbt_args: str = "", jar: str | None = None
) -> list[str]:
    """The command line of one engine on one size (``jar``: the Scala engine's compiled job)."""
    if engine == SCALA_ENGINE:
        if jar is None:
            raise ValueError("the Scala engine runs a compiled jar: compile it first")
        return scala_marts.submit_command(jar, raw_dir, state / "out" / engine)
    if engine in DBT_ENGINES:
        return [
            dbt_executable(),
            "build",
            "--target",
            "local",
            "--project-dir",
            str(PROJECT_ROOT),
            "--profiles-dir",
            str(PROJECT_ROOT),
            # Own target and log folders: other dbt runs in the checkout cannot overwrite
            # run_results.json, and the JSON log gives the start-up phases.
            "--target-path",
            str(state / "dbt" / "target"),
            "--log-path",
            str(state / "dbt" / "logs"),
            "--log-format-file",
            "json",
            *DBT_ENGINES[engine],
            *shlex.split(dbt_args),
        ]
    script = "plain_pyspark_marts.py" if engine in PLAIN_ENGINES else "pandas_reference.py"
    marts = ["--marts", PLAIN_ENGINES[engine]] if engine in PLAIN_ENGINES else []
    return [
        sys.executable,
        str(BENCH_DIR / script),
        "--raw",
        str(raw_dir),
        "--out",
        str(state / "out" / engine),
        *marts,
    ]


def prepare_engine(engine: str, state: Path) -> None:
    """Give every run the same starting state (nothing left from an earlier run)."""
    if engine in DBT_ENGINES:
        # A fresh warehouse, metastore and target: like a first `dbt build` on landed data.
        _remove(
            state / "warehouse",
            state / "metastore_db",
            state / "tmp",
            state / "derby.log",
            state / "dbt",
        )
    else:
        _remove(state / "out" / engine, state / "tmp")


# ----------------------------------------------------------------------------- dbt details


def _parse_ts(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _node_type(result: dict[str, Any], nodes: dict[str, Any]) -> str:
    resource = result["unique_id"].split(".", 1)[0]
    if resource == "model":
        language = nodes.get(result["unique_id"], {}).get("language", "sql")
        return f"model.{language}"
    return resource


def tagged_nodes(manifest: dict[str, Any], tag: str) -> set[str]:
    """Nodes carrying `tag`, and the data and unit tests of those nodes."""
    nodes = manifest.get("nodes", {})
    tagged = {uid for uid, node in nodes.items() if tag in (node.get("tags") or [])}
    for group in (nodes, manifest.get("unit_tests", {})):
        for uid, node in group.items():
            if uid.startswith(("test.", "unit_test.")):
                parents = (node.get("depends_on") or {}).get("nodes") or []
                if any(parent in tagged for parent in parents):
                    tagged.add(uid)
    return tagged


def summarize_tags(
    results: list[dict[str, Any]], manifest: dict[str, Any], tags: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """Per tag: how many of the run's nodes are its models and their tests, and their time."""
    summary = {}
    for tag in tags:
        members = tagged_nodes(manifest, tag)
        seconds = [
            float(result.get("execution_time") or 0.0)
            for result in results
            if result["unique_id"] in members
        ]
        summary[tag] = {"count": len(seconds), "sum_s": round(sum(seconds), 2)}
    return summary


def summarize_run_results(target_dir: Path) -> dict[str, Any]:
    """Top nodes and totals per resource type from run_results.json (+ manifest languages)."""
    results = json.loads((target_dir / "run_results.json").read_text())
    manifest_path = target_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    nodes = manifest.get("nodes", {})
    by_type: dict[str, dict[str, Any]] = collections.defaultdict(lambda: {"count": 0, "sum_s": 0.0})
    timed = []
    for result in results["results"]:
        kind = _node_type(result, nodes)
        if kind == "exposure":
            continue
        seconds = float(result.get("execution_time") or 0.0)
        entry = by_type[kind]
        entry["count"] += 1
        entry["sum_s"] += seconds
        timed.append((seconds, result["unique_id"], result.get("status")))
    totals = {
        RESOURCE_TYPES.get(kind, kind): {
            "count": entry["count"],
            "sum_s": round(entry["sum_s"], 2),
            "mean_s": round(entry["sum_s"] / entry["count"], 2) if entry["count"] else None,
        }
        for kind, entry in sorted(
            by_type.items(),
            key=lambda item: (
                list(RESOURCE_TYPES).index(item[0]) if item[0] in RESOURCE_TYPES else 99
            ),
        )
    }
    timed.sort(reverse=True)
    return {
        "elapsed_s": round(float(results.get("elapsed_time") or 0.0), 2),
        "invocation_started_at": results.get("metadata", {}).get("invocation_started_at"),
        "nodes": sum(entry["count"] for entry in by_type.values()),
        "sum_node_s": round(sum(entry["sum_s"] for entry in by_type.values()), 2),
        "by_type": totals,
        "by_tag": summarize_tags(results["results"], manifest, REPORTED_TAGS),
        "top_nodes": [
            {"unique_id": uid, "seconds": round(seconds, 2), "status": status}
            for seconds, uid, status in timed[:TOP_NODES]
        ],
    }


def read_dbt_log(log_file: Path) -> list[tuple[float, str, str, dict[str, Any]]]:
    """(epoch, event name, thread, data) of every JSON line of dbt's log, in order; lines
    that are not dbt's JSON events are skipped."""
    events = []
    for line in log_file.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
            info = record["info"]
            events.append(
                (
                    _parse_ts(info["ts"]),
                    info["name"],
                    info.get("thread", ""),
                    record.get("data", {}),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
    return events


def dbt_phases(log_file: Path, measurement: Measurement) -> dict[str, float | None]:
    """Where the wall time went before and after the nodes, from dbt's JSON log.

    - ``startup_s``: process start to dbt's first log line (interpreter, imports);
    - ``parse_s``: first log line to "Found N models…" (full parse: fresh target folder);
    - ``first_query_s``: dbt's first SQL statement (listing the schemas for its cache),
      which starts the JVM and the Hive metastore (Derby, created afresh): the fixed
      Spark cost of the build;
    - ``after_last_log_s``: dbt's last log line to the end of the process tree (JVM stop).
    """
    try:
        events = read_dbt_log(log_file)
    except OSError:
        return {}
    if not events:
        return {}
    start = measurement.started_at_epoch
    first_ts, last_ts = events[0][0], events[-1][0]
    found = next((ts for ts, name, _, _ in events if name == "FoundStats"), None)
    first_query = next(
        (float(data["elapsed"]) for _, name, _, data in events if name == "SQLQueryStatus"),
        None,
    )
    return {
        "startup_s": round(first_ts - start, 2),
        "parse_s": round(found - first_ts, 2) if found else None,
        "first_query_s": round(first_query, 2) if first_query is not None else None,
        "after_last_log_s": round(start + measurement.wall_s - last_ts, 2),
    }


# ----------------------------------------------------------------------------- runs


def run_order(engines: list[str], repeat: int) -> list[tuple[int, str]]:
    """(run, engine) in the order they run: rounds of every engine, reversed in even rounds."""
    order: list[tuple[int, str]] = []
    for run in range(1, repeat + 1):
        engines_of_round = engines if run % 2 else list(reversed(engines))
        order.extend((run, engine) for engine in engines_of_round)
    return order


def run_name(engine: str, run: int, repeat: int) -> str:
    """How tables and file names call one run: the engine, with its run number if repeated."""
    return engine if repeat == 1 else f"{engine}#{run}"


def run_engine(
    engine: str,
    rows: int,
    state: Path,
    raw_dir: Path,
    args: argparse.Namespace,
    logs: Path,
    run: int = 1,
) -> dict[str, Any]:
    """Measure one engine on one size; never raises for a failing run."""
    prepare_engine(engine, state)
    label = size_label(rows)
    name = run_name(engine, run, args.repeat)
    # File names of a repeated engine's runs: e.g. 1M-dbt-run2.stdout.log.
    run_suffix = "" if args.repeat == 1 else f"-run{run}"
    files = f"{label}-{engine}{run_suffix}"
    compiled: dict[str, Any] | None = None
    env = engine_env(state, raw_dir)
    if engine == SCALA_ENGINE:
        # Compiled before the measured run (or found compiled): run time excludes compile time.
        try:
            compiled = scala_marts.compile_jar()
        except UserError as error:
            print(f"  {name}: failed ({error})", flush=True)
            return failed_record(engine, rows, run, args.repeat, str(error))
        env = scala_marts.submit_env(env)
    load = [round(x, 2) for x in os.getloadavg()]
    print(f"  {name}: running (load {load[0]:.2f})", flush=True)
    measurement = run_measured(
        engine_command(
            engine, state, raw_dir, args.dbt_args, compiled["jar"] if compiled else None
        ),
        cwd=PROJECT_ROOT,
        env=env,
        stdout_path=logs / f"{files}.stdout.log",
        stderr_path=logs / f"{files}.stderr.log",
        timeout_s=args.timeout,
        max_rss_bytes=int(args.pandas_max_rss_gb * GIB) if engine == "pandas" else None,
    )
    record: dict[str, Any] = {
        "size": label,
        "rows": rows,
        "engine": engine,
        "run": run,
        "repeat": args.repeat,
        "status": measurement.status,
        "reason": measurement.reason,
        "wall_s": round(measurement.wall_s, 2),
        "cpu_s": round(measurement.cpu_s, 2),
        "peak_rss_gib": round(measurement.peak_rss_gib, 3),
        "rows_per_s": round(rows / measurement.wall_s) if measurement.status == "ok" else None,
        "load_average_before": load,
        "cpu_roles": measurement.cpu_roles,
        "measurement": measurement.to_dict(),
    }
    if engine in DBT_ENGINES:
        record["dbt"] = dbt_details(state, label, engine, measurement, args, run_suffix)
        if measurement.status == "failed":
            record["reason"] = dbt_failure_reason(Path(str(measurement.stdout_path)))
    else:
        timings = state / "out" / engine / "_timings.json"
        if timings.is_file():
            record["timings"] = json.loads(timings.read_text())
            if measurement.status == "ok" and engine != "pandas":
                record["startup_s"] = spark_startup_s(record["wall_s"], record["timings"])
        if compiled is not None:
            record["compile"] = compiled
    print(
        f"  {name}: {measurement.status} in {measurement.wall_s:.1f} s, "
        f"CPU {measurement.cpu_s:.1f} s, peak RSS {measurement.peak_rss_gib:.2f} GiB"
        + (f" ({measurement.reason})" if measurement.reason else ""),
        flush=True,
    )
    return record


def spark_startup_s(wall_s: float, timings: dict[str, Any]) -> float | None:
    """Process start to a ready Spark session, plus the exit after the session stopped: the
    wall time minus what the job timed from its session to its end (``total_s`` minus
    ``session_start_s`` of ``_timings.json``, the same measure in the Python and Scala jobs)."""
    try:
        return round(wall_s - (float(timings["total_s"]) - float(timings["session_start_s"])), 2)
    except (KeyError, TypeError, ValueError):
        return None


def failed_record(engine: str, rows: int, run: int, repeat: int, reason: str) -> dict[str, Any]:
    """The record of a run that could not start (e.g. the Scala job did not compile)."""
    return {
        "size": size_label(rows),
        "rows": rows,
        "engine": engine,
        "run": run,
        "repeat": repeat,
        "status": "failed",
        "reason": reason,
        "wall_s": 0.0,
        "cpu_s": 0.0,
        "peak_rss_gib": 0.0,
        "rows_per_s": None,
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "cpu_roles": {},
        "measurement": None,
    }


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
DBT_TIME_PREFIX = re.compile(r"^[0-9]{2}:[0-9]{2}:[0-9]{2}\s+")


def dbt_failure_reason(stdout_path: Path) -> str:
    """dbt's own summary of a failed build: its "Done." line and the failing nodes."""
    try:
        text = ANSI_ESCAPE.sub("", stdout_path.read_text(errors="replace"))
    except OSError:
        return "dbt build failed (no output)"
    lines = [DBT_TIME_PREFIX.sub("", line.strip()) for line in text.splitlines()]
    failures = [line for line in lines if line.startswith(("Failure in", "Error in"))]
    done = [line for line in lines if line.startswith("Done. PASS=")]
    summary = "; ".join([*done[-1:], *failures[:3]])
    return summary or next((line for line in reversed(lines) if line), "dbt build failed")


def dbt_details(
    state: Path,
    label: str,
    engine: str,
    measurement: Measurement,
    args: argparse.Namespace,
    run_suffix: str = "",
) -> dict[str, Any]:
    """Copy the run's run_results.json away and summarise it with the start-up phases."""
    target = state / "dbt" / "target"
    details: dict[str, Any] = {
        "extra_args": shlex.join([*DBT_ENGINES[engine], *shlex.split(args.dbt_args)]),
        "threads": load_target(ProjectPaths(root=PROJECT_ROOT, state=state), "local").get(
            "threads"
        ),
        "phases": dbt_phases(state / "dbt" / "logs" / "dbt.log", measurement),
    }
    if not (target / "run_results.json").is_file():
        return details
    artefacts = args.out.with_suffix("")
    artefacts.mkdir(parents=True, exist_ok=True)
    suffix = "" if engine == "dbt" else f"-{engine}"
    copy = artefacts / f"run_results-{label}{suffix}{run_suffix}.json"
    shutil.copyfile(target / "run_results.json", copy)
    details["run_results"] = str(copy)
    details.update(summarize_run_results(target))
    return details


# ----------------------------------------------------------------------------- report

ENGINE_WIDTH = max(len(engine) for engine in ENGINES)
# Wide enough for a repeated engine's run name, e.g. "pyspark-spec#10".
RUN_WIDTH = ENGINE_WIDTH + 3
COLUMNS = (
    ("size", 8, "<"),
    ("engine", ENGINE_WIDTH, "<"),
    ("wall s", 9, ">"),
    ("CPU s", 9, ">"),
    ("peak RSS GiB", 13, ">"),
    ("rows/s", 11, ">"),
    ("status", 0, "<"),
)


def _row(values: list[str], engine_width: int = ENGINE_WIDTH) -> str:
    widths = [engine_width if name == "engine" else width for name, width, _ in COLUMNS]
    cells = [
        f"{value:{align}{width}}"
        for value, width, (_, _, align) in zip(values, widths, COLUMNS, strict=True)
    ]
    return "  ".join(cells).rstrip()


def record_name(record: dict[str, Any]) -> str:
    """The engine of a record, with its run number when the engines were repeated (a
    median has none)."""
    run = record.get("run")
    return record["engine"] if run is None else run_name(record["engine"], run, record["repeat"])


def _status_cell(record: dict[str, Any]) -> str:
    if record["status"] != "ok":
        return f"{record['status']} (*)"
    if record.get("failed_runs"):
        return f"ok ({record['failed_runs']} of {record['runs']} runs failed: not in the median)"
    return "ok"


def results_table(records: list[dict[str, Any]]) -> list[str]:
    """The fixed-width table: one line per size and engine (per run when repeated)."""
    width = RUN_WIDTH if any(record.get("repeat", 1) > 1 for record in records) else ENGINE_WIDTH
    lines = [_row([name for name, _, _ in COLUMNS], width)]
    lines.append(
        _row(
            [
                "-" * max(width if name == "engine" else size, len(name))
                for name, size, _ in COLUMNS
            ],
            width,
        )
    )
    for record in records:
        rate = f"{record['rows_per_s']:,}" if record["rows_per_s"] else "-"
        lines.append(
            _row(
                [
                    record["size"],
                    record_name(record),
                    f"{record['wall_s']:.1f}",
                    f"{record['cpu_s']:.1f}",
                    f"{record['peak_rss_gib']:.2f}",
                    rate,
                    _status_cell(record),
                ],
                width,
            )
        )
    for record in records:
        if record["status"] != "ok":
            lines.append(f"(*) {record['size']} {record_name(record)}: {record['reason']}")
    return lines


def medians(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per size and engine: the median wall, CPU and peak RSS of its successful
    runs (a single run is its own median), with every run's wall and CPU; a size and engine
    whose every run failed keeps its first failure."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["size"], record["engine"]), []).append(record)
    sizes = list(dict.fromkeys(record["size"] for record in records))
    engines = {engine: index for index, engine in enumerate(ENGINES)}

    def size_then_engine(key: tuple[str, str]) -> tuple[int, int]:
        return sizes.index(key[0]), engines.get(key[1], len(engines))

    summary = []
    for size, engine in sorted(groups, key=size_then_engine):
        runs = groups[(size, engine)]
        ok = [run for run in runs if run["status"] == "ok"]
        if not ok:
            summary.append({**runs[0], "run": None, "runs": len(runs), "failed_runs": len(runs)})
            continue
        wall = round(statistics.median(run["wall_s"] for run in ok), 2)
        entry: dict[str, Any] = {
            "size": size,
            "rows": ok[0]["rows"],
            "engine": engine,
            "status": "ok",
            "reason": None,
            "runs": len(runs),
            "failed_runs": len(runs) - len(ok),
            "wall_s": wall,
            "cpu_s": round(statistics.median(run["cpu_s"] for run in ok), 2),
            "peak_rss_gib": round(statistics.median(run["peak_rss_gib"] for run in ok), 3),
            "rows_per_s": round(ok[0]["rows"] / wall) if wall else None,
            "wall_s_runs": [run["wall_s"] for run in ok],
            "cpu_s_runs": [run["cpu_s"] for run in ok],
        }
        if "dbt" in ok[0]:
            entry["dbt"] = {"nodes": ok[0]["dbt"].get("nodes")}
        startups = [run["startup_s"] for run in ok if run.get("startup_s") is not None]
        if startups:
            entry["startup_s"] = round(statistics.median(startups), 2)
        summary.append(entry)
    return summary


def ratios_per_run(
    records: list[dict[str, Any]], numerator: str = "dbt", denominator: str = "pyspark"
) -> dict[str, list[float]]:
    """Wall ratio of one engine over another within each round (run number), per size,
    for the rounds where both succeeded."""
    found: dict[str, list[float]] = {}
    by_key = {(r["size"], r["engine"], r.get("run", 1)): r for r in records if r["status"] == "ok"}
    for (size, engine, run), record in by_key.items():
        other = by_key.get((size, denominator, run))
        if engine == numerator and other is not None:
            found.setdefault(size, []).append(round(record["wall_s"] / other["wall_s"], 2))
    return found


def _ok_pairs(records: list[dict[str, Any]], first: str, second: str):
    """(size, record of ``first``, record of ``second``) for each size where both succeeded."""
    by_key = {(r["size"], r["engine"]): r for r in records if r["status"] == "ok"}
    for size in dict.fromkeys(r["size"] for r in records):
        if (size, first) in by_key and (size, second) in by_key:
            yield size, by_key[(size, first)], by_key[(size, second)]


def ratios(
    records: list[dict[str, Any]], numerator: str = "dbt", denominator: str = "pyspark"
) -> dict[str, dict[str, float]]:
    """One engine over another (dbt build / plain PySpark), wall and CPU, per size where
    both succeeded."""
    found: dict[str, dict[str, float]] = {}
    for size, dbt, spark in _ok_pairs(records, numerator, denominator):
        found[size] = {
            "wall": round(dbt["wall_s"] / spark["wall_s"], 2),
            "cpu": round(dbt["cpu_s"] / spark["cpu_s"], 2) if spark["cpu_s"] else None,
        }
    return found


def beyond_added(
    records: list[dict[str, Any]], full_engine: str = "dbt", spec_engine: str = "dbt-spec"
) -> dict[str, dict[str, float]]:
    """What the models beyond DEFINITIONS §2–§5 add to an engine, per size: the run with every mart
    minus the run without them (wall and CPU seconds, and dbt's nodes), where both
    succeeded."""
    found: dict[str, dict[str, float]] = {}
    for size, full, spec in _ok_pairs(records, full_engine, spec_engine):
        nodes = [(r.get("dbt") or {}).get("nodes") for r in (full, spec)]
        found[size] = {
            "wall_s": round(full["wall_s"] - spec["wall_s"], 2),
            "cpu_s": round(full["cpu_s"] - spec["cpu_s"], 2),
            "wall_share": round((full["wall_s"] - spec["wall_s"]) / full["wall_s"], 3),
            "nodes": nodes[0] - nodes[1] if None not in nodes else None,
        }
    return found


# The ratios printed: the whole build over the script computing every mart, and like for
# like without the models beyond DEFINITIONS §2–§5.
RATIO_PAIRS = (("dbt", "pyspark"), ("dbt-spec", "pyspark-spec"), (SCALA_ENGINE, "pyspark-spec"))
# How the ratio and difference lines name each engine.
RATIO_LABELS = {
    "dbt": "dbt build",
    "dbt-spec": "dbt build of the DEFINITIONS §2–§5 models (dbt-spec)",
    "pyspark": "plain PySpark",
    "pyspark-spec": "plain PySpark of the same marts (pyspark-spec)",
    SCALA_ENGINE: "Scala job of the DEFINITIONS §2–§5 marts (scala-spec)",
}


# Short column headings of the CPU-by-role table, in measure.ROLES order.
ROLE_HEADINGS = {
    "Spark tasks": "tasks",
    "JIT compilers": "JIT",
    "py4j calls": "py4j",
    "Spark driver": "driver",
    "garbage collector": "GC",
    "JVM, other": "JVM etc",
    "Python driver": "Python",
    "Python workers": "Py workers",
    "other processes": "other",
}


def cpu_roles_table(records: list[dict[str, Any]]) -> list[str]:
    """Where each run's CPU went, by role (measure.ROLES), in seconds; [] if none measured.

    Its rows are indented, so that they are not taken for rows of the results table.
    """
    measured = [record for record in records if record.get("cpu_roles")]
    if not measured:
        return []
    # A role shows when some run gave it at least 0.05 s (what prints as 0.1 or more).
    roles = [role for role in ROLES if any(r["cpu_roles"].get(role, 0.0) >= 0.05 for r in measured)]
    widths = [max(7, len(ROLE_HEADINGS[role])) for role in roles]
    name_width = max(ENGINE_WIDTH, *(len(record_name(record)) for record in measured))
    lines = [
        "CPU by role, seconds (tasks: Spark tasks; JIT: the JVM's compilers; py4j: calls from "
        "Python, i.e. SQL planning, metastore, code generation; driver: Spark's scheduler, "
        "listeners, exchanges; GC: garbage collector; Python: dbt or the script itself; "
        "Py workers: PySpark's Python workers; other: other processes, e.g. shell wrappers)",
        "  "
        + "  ".join(
            [f"{'size':<8}", f"{'engine':<{name_width}}"]
            + [f"{ROLE_HEADINGS[role]:>{width}}" for role, width in zip(roles, widths, strict=True)]
        ),
    ]
    for record in measured:
        cells = [
            f"{record['cpu_roles'].get(role, 0.0):>{width}.1f}"
            for role, width in zip(roles, widths, strict=True)
        ]
        lines.append(
            "  "
            + "  ".join([f"{record['size']:<8}", f"{record_name(record):<{name_width}}", *cells])
        )
    return lines


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "n/a"


def dbt_report(record: dict[str, Any]) -> list[str]:
    """Where one dbt build spent its time."""
    details = record.get("dbt") or {}
    extra = f" (extra arguments: {details['extra_args']})" if details.get("extra_args") else ""
    name = "dbt build" if record.get("engine", "dbt") == "dbt" else record["engine"]
    if record.get("repeat", 1) > 1:
        name += f" (run {record['run']} of {record['repeat']})"
    lines = [f"{name} at {record['size']}: {record['wall_s']:.1f} s wall{extra}"]
    phases = details.get("phases") or {}
    if phases:
        lines.append(
            "  phases: process start {startup_s} s, parse {parse_s} s, first query "
            "(JVM start + new Derby metastore) {first_query_s} s, after dbt's last log line "
            "{after_last_log_s} s".format(**{k: phases.get(k) for k in phases})
        )
    if "by_type" in details:
        lines.append(
            f"  nodes: {details['nodes']} in {details['elapsed_s']} s (run_results "
            f"elapsed_time, {details.get('threads')} threads); "
            f"sum of node times {details['sum_node_s']} s"
        )
        for kind, entry in details["by_type"].items():
            lines.append(
                f"    {kind:<16} {entry['count']:>4} nodes  {entry['sum_s']:>8.1f} s  "
                f"(mean {entry['mean_s']} s)"
            )
        for tag, entry in (details.get("by_tag") or {}).items():
            if not entry["count"]:
                continue  # e.g. the dbt-spec build, which leaves the tag out
            lines.append(
                f"    of which tag {tag} (its models and their tests): {entry['count']} nodes, "
                f"{entry['sum_s']:.1f} s ({_share(entry['sum_s'], details['sum_node_s'])} of "
                "the node time)"
            )
        lines.append(f"  top {len(details['top_nodes'])} slowest nodes:")
        for node in details["top_nodes"]:
            lines.append(f"    {node['seconds']:>7.1f} s  {node['unique_id']}")
    return lines


def startup_lines(records: list[dict[str, Any]]) -> list[str]:
    """Each Spark job's start-up (process start to session, and exit) and the Scala
    compile; [] when no plain or Scala run succeeded."""
    lines = []
    for record in records:
        if record.get("startup_s") is None:
            continue
        timings = record.get("timings") or {}
        text = (
            f"start-up of {record_name(record)} at {record['size']}: {record['startup_s']:.1f} s "
            f"(process start to Spark session, and exit), compute {timings.get('compute_s')} s"
        )
        compiled = record.get("compile")
        if compiled is not None:
            text += (
                "; jar compiled before (cached)"
                if compiled["cached"]
                else f"; compiled in {compiled['compile_s']:.1f} s before the run (not in its wall)"
            )
        lines.append(text)
    if lines:
        lines.insert(0, "Spark start-up and compile (wall minus the job's session-to-end time):")
    return lines


def render(machine: dict[str, Any], data: dict[str, Any], records: list[dict[str, Any]]) -> str:
    """Everything printed at the end, as one text."""
    lines = machine_header(machine)
    for label, info in data.items():
        lines.append(
            f"data {label}: {info['rows']:,} rows, {info['bytes'] / MIB:,.0f} MiB CSV in "
            f"{info['files']} file(s)" + (" (reused)" if info["reused"] else "")
        )
    lines.append("")
    lines.extend(results_table(records))
    summary = medians(records)
    repeated = max((record.get("repeat", 1) for record in records), default=1)
    if repeated > 1:
        lines.append("")
        lines.append(f"median of {repeated} runs (of the successful ones):")
        lines.extend(results_table(summary))
    found = {pair: ratios(summary, *pair) for pair in RATIO_PAIRS}
    per_run = {pair: ratios_per_run(records, *pair) for pair in RATIO_PAIRS}
    added = {full: beyond_added(summary, full, spec) for full, spec in FULL_AND_SPEC}
    if any(found.values()) or any(added.values()):
        lines.append("")
    for pair, by_size in found.items():
        numerator, denominator = pair
        for size, ratio in by_size.items():
            cpu = f", CPU {ratio['cpu']:.1f}x" if ratio["cpu"] else ""
            rounds = per_run[pair].get(size, [])
            spread = (
                f" (medians; wall per round {', '.join(f'{value:.2f}x' for value in rounds)})"
                if repeated > 1
                else ""
            )
            lines.append(
                f"{RATIO_LABELS[numerator]} / {RATIO_LABELS[denominator]} at {size}: "
                f"wall {ratio['wall']:.1f}x{cpu}{spread}"
            )
    for full, by_size in added.items():
        for size, difference in by_size.items():
            nodes = f", {difference['nodes']} nodes" if difference["nodes"] is not None else ""
            lines.append(
                f"the models beyond DEFINITIONS §2–§5 (tag beyond) add to {RATIO_LABELS[full]} at "
                f"{size}: {difference['wall_s']:.1f} s wall "
                f"({100 * difference['wall_share']:.0f}%), {difference['cpu_s']:.1f} s CPU{nodes}"
            )
    startups = startup_lines(records)
    if startups:
        lines.append("")
        lines.extend(startups)
    roles = cpu_roles_table(records)
    if roles:
        lines.append("")
        lines.extend(roles)
    for record in records:
        if record["engine"] in DBT_ENGINES:
            lines.append("")
            lines.extend(dbt_report(record))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    """Run every size and engine, print the table, write the JSON; 0 unless nothing ran."""
    args = parse_args(argv)
    machine = machine_info()
    machine["profile"] = profile_info()
    started_at = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    print("\n".join(machine_header(machine)), flush=True)
    records: list[dict[str, Any]] = []
    data: dict[str, Any] = {}
    logs = args.out.with_suffix("")
    for rows in args.sizes:
        label = size_label(rows)
        state = args.work_dir / label
        raw_dir = state / "raw" / "online_retail_ii"
        print(f"[{label}] {rows:,} rows", flush=True)
        data[label] = {"rows": rows, **ensure_data(raw_dir, rows, args.seed, args.chunk_rows)}
        for run, engine in run_order(args.engines, args.repeat):
            records.append(run_engine(engine, rows, state, raw_dir, args, logs, run))
        if not args.keep_data:
            _remove(state)
    machine["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    text = render(machine, data, records)
    summary = medians(records)
    print("\n" + text, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "started_at": started_at,
        "finished_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": [Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])],
        "settings": {
            "sizes": args.sizes,
            "engines": args.engines,
            "seed": args.seed,
            "timeout_s": args.timeout,
            "pandas_max_rss_gb": args.pandas_max_rss_gb,
            "work_dir": str(args.work_dir),
            "keep_data": args.keep_data,
            "dbt_args": args.dbt_args,
            "repeat": args.repeat,
        },
        "machine": machine,
        "data": data,
        "results": records,
        # Per size and engine: the median of its runs (with --repeat 1, the run itself).
        "medians": summary,
        "ratios_dbt_over_pyspark": ratios(summary),
        "ratios_dbt_spec_over_pyspark_spec": ratios(summary, *RATIO_PAIRS[1]),
        "ratios_per_round_dbt_over_pyspark": ratios_per_run(records),
        "ratios_per_round_dbt_spec_over_pyspark_spec": ratios_per_run(records, *RATIO_PAIRS[1]),
        "ratios_scala_spec_over_pyspark_spec": ratios(summary, *RATIO_PAIRS[2]),
        "ratios_per_round_scala_spec_over_pyspark_spec": ratios_per_run(records, *RATIO_PAIRS[2]),
        "beyond_added": beyond_added(summary),
        "beyond_added_pyspark": beyond_added(summary, *FULL_AND_SPEC[1]),
        "table": text,
    }
    args.out.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"\nResults written to {args.out}", flush=True)
    return 0 if records else 1


if __name__ == "__main__":
    sys.exit(main())
