"""The benchmark harness works end to end, and the plain PySpark floor computes the marts.

Runs ``benchmarks/run_benchmarks.py`` at a tiny size with the like-for-like pair
(``dbt-spec``: the build without the models beyond DEFINITIONS §2–§5; ``pyspark-spec``: the plain
PySpark script computing the same marts) and the pandas reference, then checks that the
table and the JSON carry every field, that the dbt build left the models beyond out and
the script computed only the DEFINITIONS §2–§5 marts, and that the script's marts EQUAL the pandas
reference's (money to the cent, counts exact): the Spark floor of the benchmark computes
the same thing as the project. The Scala engine (``scala-spec``, the same marts in a compiled
Scala Spark job) runs in the same harness run, and its marts equal those of the ``dbt-spec``
build, read through that build's metastore (the comparison of
``e2e/test_plain_pyspark_floor.py``). That the script's every mart (``pyspark``,
``--marts all``) equals the dbt build's is tested in ``e2e/test_plain_pyspark_floor.py``. No
timing is asserted: figures depend on the machine and its load.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from e2e.test_plain_pyspark_floor import KEYS, _same
from lgs_testing import PROJECT_ROOT

pytestmark = pytest.mark.e2e

SIZE = "20k"
ROWS = 20_000
SCALA = "scala-spec"
ENGINES_RUN = ["dbt-spec", "pyspark-spec", SCALA, "pandas"]
RESULT_FIELDS = {
    "size",
    "rows",
    "engine",
    "status",
    "reason",
    "wall_s",
    "cpu_s",
    "peak_rss_gib",
    "rows_per_s",
    "load_average_before",
    "cpu_roles",
    "measurement",
}
MACHINE_FIELDS = {
    "cores",
    "memory_gib",
    "cpu_model",
    "java",
    "python",
    "pyspark",
    "dbt_core",
    "pandas",
    "load_average_start",
    "load_average_end",
    "profile",
}
TABLE_HEADER = ("size", "engine", "wall s", "CPU s", "peak RSS GiB", "rows/s", "status")

# Per table: the key that orders rows, money columns (compared to the cent), float columns
# (ratios, averages: compared to 1e-9 relative). Everything else must be exactly equal.
TABLES: dict[str, tuple[str | None, set[str], set[str]]] = {
    "staging_counts": (None, set(), set()),
    "monthly_sales": (
        "year_month",
        {"sales_amount", "previous_sales_amount"},
        {"sales_growth_pct"},
    ),
    "monthly_orders": ("year_month", set(), {"cancellation_rate_pct"}),
    "monthly_active_users": ("year_month", set(), set()),
    "monthly_new_existing_users": ("year_month", set(), {"new_user_share_pct"}),
    "customer_rfm_scores": ("customer_id", {"monetary"}, set()),
    "rfm_segment_summary": (
        "segment_rank",
        {"revenue"},
        {
            "customer_share_pct",
            "revenue_share_pct",
            "avg_recency_days",
            "avg_frequency",
            "avg_monetary",
        },
    ),
    "invoice_amounts": ("invoice_id", {"invoice_amount"}, {"outlier_threshold"}),
    "invoice_amount_distribution": (
        "population",
        {"min_amount", "max_amount", "mean_amount", "median_amount", "mode_amount", "p85_amount"},
        {"percentile"},
    ),
    "invoice_amount_histogram": ("bin_index", set(), {"bin_lower", "bin_upper", "share_pct"}),
}


def run_harness(folder: Path, *options: str) -> tuple[str, dict]:
    """run_benchmarks.py with these options, its work and results in ``folder``: the
    printed text and the JSON it wrote."""
    out = folder / "results.json"
    result = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "benchmarks" / "run_benchmarks.py"),
            *options,
            "--work-dir",
            str(folder / "work"),
            "--out",
            str(out),
            "--timeout",
            "900",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout, json.loads(out.read_text())


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One harness run at 20k rows, dbt-spec, pyspark-spec, scala-spec and pandas, in a
    temporary folder."""
    folder = tmp_path_factory.mktemp("bench")
    stdout, payload = run_harness(
        folder, "--rows", SIZE, "--only", f"dbt-spec,pyspark-spec,{SCALA},pandas", "--keep-data"
    )
    return {
        "stdout": stdout,
        "json": payload,
        "outputs": folder / "work" / SIZE / "out",
        "dbt_target": folder / "work" / SIZE / "dbt" / "target",
        "state": folder / "work" / SIZE,
    }


def _read(folder: Path, name: str) -> pd.DataFrame:
    # Spark writes a folder of part files, pandas one file: pandas reads both.
    path = folder / name if (folder / name).is_dir() else folder / f"{name}.parquet"
    return pd.read_parquet(path)


def _cents(values: pd.Series) -> list[Decimal | None]:
    return [None if pd.isna(v) else Decimal(str(v)).quantize(Decimal("0.01")) for v in values]


def _plain(values: pd.Series) -> list[object]:
    """Comparable Python values: NaN/NaT/None as None, dates and timestamps as Timestamps."""
    if values.dtype == object and values.map(lambda v: hasattr(v, "isoformat")).any():
        values = pd.to_datetime(values)
    return [None if pd.isna(v) else v for v in values.astype(object)]


def test_table_and_json_have_every_field(harness):
    stdout, payload = harness["stdout"], harness["json"]
    header = next(line for line in stdout.splitlines() if line.startswith("size"))
    assert header.split() == " ".join(TABLE_HEADER).split()
    for word in ("machine:", "cores", "GiB RAM", "software:", "load average"):
        assert word in stdout
    rows = [line.split() for line in stdout.splitlines() if line.startswith(f"{SIZE} ")]
    assert [row[1] for row in rows] == ENGINES_RUN
    assert all(row[-1] == "ok" for row in rows)

    assert set(payload["machine"]) >= MACHINE_FIELDS
    assert payload["machine"]["cores"] >= 1
    # The profile both engines read, and whether it is the project's (printed either way).
    profile = payload["machine"]["profile"]
    assert profile["file"] == str(PROJECT_ROOT / "profiles.yml")
    assert f"profile: {profile['file']}, target local " in stdout
    assert ("DIFFERS" in stdout) == bool(profile["drift_from_example"])
    assert payload["settings"]["sizes"] == [ROWS]
    assert payload["data"][SIZE]["rows"] == ROWS
    assert [record["engine"] for record in payload["results"]] == ENGINES_RUN
    for record in payload["results"]:
        assert set(record) >= RESULT_FIELDS, RESULT_FIELDS - set(record)
        assert record["status"] == "ok", record["reason"]
        assert record["size"] == SIZE and record["rows"] == ROWS
        assert record["wall_s"] > 0 and record["cpu_s"] > 0 and record["peak_rss_gib"] > 0
        assert record["rows_per_s"] > 0
        assert record["measurement"]["samples"] >= 1
        # The kernel's CPU accounting covered the whole tree (every process was reaped).
        assert record["measurement"]["cpu_exact"]
        assert not record["measurement"]["notes"], record["measurement"]["notes"]
    spark = _result(payload, "pyspark-spec")
    # The JVM is in the measured tree: its memory and CPU are counted.
    assert spark["measurement"]["peak_processes"] >= 2
    assert set(spark["timings"]) >= {"session_start_s", "compute_s", "tables_s"}
    # The like-for-like script wrote the DEFINITIONS §2–§5 marts and the staging balance, no more.
    assert spark["timings"]["marts"] == "spec"
    assert set(spark["timings"]["tables_s"]) == set(TABLES)
    # Where the CPU went: the JVM thread by thread, Python process by process.
    roles, pandas_roles = spark["cpu_roles"], _result(payload, "pandas")["cpu_roles"]
    assert {"Spark tasks", "JIT compilers", "py4j calls", "Python driver"} <= set(roles), roles
    assert sum(roles.values()) <= spark["cpu_s"] * 1.01
    assert set(pandas_roles) == {"Python driver"}, pandas_roles
    assert "CPU by role" in stdout
    role_rows = [line.split() for line in stdout.splitlines() if line.startswith(f"  {SIZE} ")]
    assert [row[1] for row in role_rows] == ENGINES_RUN
    assert payload["table"].splitlines()[0].startswith("machine:")


def _result(payload: dict, engine: str) -> dict:
    return next(record for record in payload["results"] if record["engine"] == engine)


def test_the_like_for_like_build_leaves_the_models_beyond_out(harness):
    """dbt-spec is a real dbt build without the models of DEFINITIONS §6; its ratio is printed."""
    stdout, payload = harness["stdout"], harness["json"]
    record = _result(payload, "dbt-spec")
    details = record["dbt"]
    assert details["extra_args"] == "--selector spec_marts --exclude-resource-type unit_test"
    # A production build: models, seeds and data tests; the unit tests are CI's.
    assert {"models (SQL)", "models (Python)", "data tests"} <= set(details["by_type"])
    assert "unit tests" not in details["by_type"]
    # The project's manifest knows the models beyond; not one of them, nor a test of
    # theirs, ran.
    sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
    import run_benchmarks

    manifest = json.loads((harness["dbt_target"] / "manifest.json").read_text())
    beyond = run_benchmarks.tagged_nodes(manifest, "beyond")
    assert any(uid.startswith("model.") for uid in beyond)
    ran = json.loads(Path(details["run_results"]).read_text())["results"]
    # The summary counts every node but the exposures (they run no query).
    nodes = [result for result in ran if not result["unique_id"].startswith("exposure.")]
    assert len(nodes) == details["nodes"] > 0
    assert all(result["status"] in ("success", "pass") for result in nodes), [
        (result["unique_id"], result["status"]) for result in nodes
    ]
    assert not beyond & {result["unique_id"] for result in ran}
    assert details["by_tag"]["beyond"]["count"] == 0
    # dbt's own process and the JVM it starts are both measured, by role.
    assert {"Spark tasks", "py4j calls", "Python driver"} <= set(record["cpu_roles"])
    ratio = payload["ratios_dbt_spec_over_pyspark_spec"][SIZE]
    assert ratio["wall"] == pytest.approx(
        record["wall_s"] / _result(payload, "pyspark-spec")["wall_s"], abs=0.01
    )
    assert f"(dbt-spec) / plain PySpark of the same marts (pyspark-spec) at {SIZE}: wall" in stdout
    # Without the full build and the full script there is no difference to print.
    assert payload["beyond_added"] == {} and payload["beyond_added_pyspark"] == {}
    assert payload["ratios_dbt_over_pyspark"] == {}
    assert f"dbt-spec at {SIZE}: " in stdout


@pytest.mark.parametrize("table", list(TABLES))
def test_plain_pyspark_marts_equal_the_pandas_reference(harness, table):
    key, money, floats = TABLES[table]
    ours = _read(harness["outputs"] / "pyspark-spec", table)
    theirs = _read(harness["outputs"] / "pandas", table)
    assert sorted(ours.columns) == sorted(theirs.columns)
    assert len(ours) == len(theirs) > 0
    if key is not None:
        ours = ours.sort_values(key, ignore_index=True)
        theirs = theirs.sort_values(key, ignore_index=True)
        assert ours[key].astype(str).tolist() == theirs[key].astype(str).tolist()
    for column in theirs.columns:
        if column in money:
            assert _cents(ours[column]) == _cents(theirs[column]), column
        elif column in floats:
            mine, reference = ours[column].astype(float), theirs[column].astype(float)
            assert mine.isna().tolist() == reference.isna().tolist(), column
            assert np.allclose(mine.dropna(), reference.dropna(), rtol=1e-9, atol=1e-9), column
        else:
            assert _plain(ours[column]) == _plain(theirs[column]), column


def test_the_staging_balance_holds(harness):
    counts = _read(harness["outputs"] / "pyspark-spec", "staging_counts").iloc[0]
    assert counts["raw_rows"] == ROWS
    assert counts["raw_rows"] == (
        counts["staged_rows"] + counts["removed_duplicates"] + counts["quarantined_rows"]
    )
    assert counts["removed_duplicates"] > 0, "the generator always writes overlap duplicates"


def test_repeated_runs_are_each_measured_and_summarised_by_median(tmp_path: Path):
    """--repeat 2 with two engines: four real runs, in rounds (A B, then B A), each with its
    own logs, and one median per engine whose figures are those of the runs."""
    stdout, payload = run_harness(
        tmp_path, "--rows", "3k", "--only", "pyspark-spec,pandas", "--repeat", "2"
    )
    assert payload["settings"]["repeat"] == 2
    runs = [(record["engine"], record["run"]) for record in payload["results"]]
    assert runs == [("pyspark-spec", 1), ("pandas", 1), ("pandas", 2), ("pyspark-spec", 2)]
    assert all(record["status"] == "ok" for record in payload["results"])
    logs = tmp_path / "results"
    for engine, run in runs:
        assert (logs / f"3k-{engine}-run{run}.stdout.log").is_file()
    by_engine = {record["engine"]: record for record in payload["medians"]}
    assert set(by_engine) == {"pyspark-spec", "pandas"}
    for engine, median in by_engine.items():
        walls = sorted(r["wall_s"] for r in payload["results"] if r["engine"] == engine)
        assert median["runs"] == 2 and median["failed_runs"] == 0
        assert sorted(median["wall_s_runs"]) == walls
        assert median["wall_s"] == pytest.approx(sum(walls) / 2, abs=0.01)
    assert "median of 2 runs (of the successful ones):" in stdout
    assert "pyspark-spec#2" in stdout and "pandas#1" in stdout


@pytest.fixture(scope="module")
def dbt_spec_marts(harness) -> dict[str, pd.DataFrame]:
    """The marts of the harness's dbt-spec build, read through its metastore by a new Spark
    process (``lgs export``): what the build published, not files guessed in the warehouse."""
    out = harness["state"] / "export"
    env = {**os.environ, "LGS_STATE_DIR": str(harness["state"]), "DO_NOT_TRACK": "1"}
    env.pop("LGS_TARGET", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lgs_analytics.cli",
            "export",
            "--out",
            str(out),
            "--layer",
            "marts",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    frames = {}
    for line in result.stdout.splitlines():
        if "\t" in line:
            name, path = line.split("\t", 1)
            frames[name.split(".", 1)[1]] = pd.read_parquet(path)
    return frames


def test_the_scala_engine_is_compiled_apart_and_measured_like_the_plain_one(harness):
    stdout, payload = harness["stdout"], harness["json"]
    scala, plain = _result(payload, SCALA), _result(payload, "pyspark-spec")
    # Compiled before its measured run, or found compiled (jar keyed by the source's hash).
    compiled = scala["compile"]
    assert Path(compiled["jar"]).is_file() and compiled["key"] in Path(compiled["jar"]).name
    assert compiled["cached"] == (compiled["compile_s"] is None)
    assert scala["timings"]["marts"] == "spec" and scala["timings"]["engine"] == "scala"
    assert set(scala["timings"]["tables_s"]) == set(plain["timings"]["tables_s"]) == set(TABLES)
    # No Python in the Scala run's tree: a JVM (and spark-submit's shell) only.
    assert "Python driver" not in scala["cpu_roles"] and "Spark tasks" in scala["cpu_roles"]
    for record in (scala, plain):
        assert 0 < record["startup_s"] < record["wall_s"]
    assert f"start-up of {SCALA} at {SIZE}: " in stdout
    assert f"start-up of pyspark-spec at {SIZE}: " in stdout
    ratio = payload["ratios_scala_spec_over_pyspark_spec"][SIZE]
    assert ratio["wall"] == pytest.approx(scala["wall_s"] / plain["wall_s"], abs=0.01)
    assert f"({SCALA}) / plain PySpark of the same marts (pyspark-spec) at {SIZE}: wall" in stdout


@pytest.mark.parametrize("table", [name for name in TABLES if name != "staging_counts"])
def test_scala_marts_equal_the_dbt_build(harness, dbt_spec_marts, table):
    """Each mart of the Scala job equals the dbt-spec build's table: keys, counts, decimals and
    strings exactly, doubles to 1e-6 relative (the floor test's comparison)."""
    assert set(dbt_spec_marts) == set(TABLES) - {"staging_counts"}
    keys = KEYS[table]
    ours = _read(harness["outputs"] / SCALA, table).sort_values(keys, ignore_index=True)
    theirs = dbt_spec_marts[table].sort_values(keys, ignore_index=True)
    assert list(ours.columns) == list(theirs.columns)
    assert list(ours.dtypes) == list(theirs.dtypes), table
    assert len(ours) == len(theirs) > 0
    for column in ours.columns:
        differing = [
            (index, a, b)
            for index, (a, b) in enumerate(zip(ours[column], theirs[column], strict=True))
            if not _same(a, b)
        ]
        assert not differing, (
            f"{table}.{column}: {len(differing)} rows differ, e.g. {differing[:3]}"
        )


def test_the_scala_staging_balance_equals_the_plain_scripts(harness):
    ours = _read(harness["outputs"] / SCALA, "staging_counts")
    theirs = _read(harness["outputs"] / "pyspark-spec", "staging_counts")
    assert ours.to_dict("records") == theirs.to_dict("records")
    assert ours.iloc[0]["raw_rows"] == ROWS
