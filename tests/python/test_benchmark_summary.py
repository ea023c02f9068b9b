"""How the benchmark harness summarises a dbt run: per resource type and per reported tag.

Hand-made run_results.json and manifest.json: the models tagged `beyond`, their data and
unit tests, and nothing else, must be counted under the tag.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from lgs_analytics.errors import UserError
from lgs_testing import PROJECT_ROOT


@pytest.fixture(scope="module")
def harness() -> ModuleType:
    path = PROJECT_ROOT / "benchmarks" / "run_benchmarks.py"
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("run_benchmarks_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MANIFEST = {
    "nodes": {
        "model.p.stg": {"tags": [], "language": "sql", "depends_on": {"nodes": []}},
        "model.p.clv": {"tags": ["beyond"], "language": "python", "depends_on": {"nodes": []}},
        "model.p.rules": {"tags": ["beyond", "baskets"], "language": "python"},
        "test.p.not_null_clv_id": {"tags": [], "depends_on": {"nodes": ["model.p.clv"]}},
        "test.p.unique_stg_id": {"tags": [], "depends_on": {"nodes": ["model.p.stg"]}},
        "test.p.rel_clv_stg": {
            "tags": [],
            "depends_on": {"nodes": ["model.p.stg", "model.p.clv"]},
        },
    },
    "unit_tests": {
        "unit_test.p.clv.fit": {"tags": [], "depends_on": {"nodes": ["model.p.clv"]}},
        "unit_test.p.stg.flags": {"tags": [], "depends_on": {"nodes": ["model.p.stg"]}},
    },
}
TIMES = {
    "model.p.stg": 10.0,
    "model.p.clv": 7.5,
    "model.p.rules": 4.0,
    "test.p.not_null_clv_id": 0.5,
    "test.p.unique_stg_id": 1.0,
    "test.p.rel_clv_stg": 0.25,
    "unit_test.p.clv.fit": 2.0,
    "unit_test.p.stg.flags": 3.0,
}


def test_tag_time_counts_tagged_models_and_their_tests_only(harness, tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps(MANIFEST))
    results = [
        {"unique_id": uid, "execution_time": seconds, "status": "success"}
        for uid, seconds in TIMES.items()
    ]
    (tmp_path / "run_results.json").write_text(
        json.dumps({"results": results, "elapsed_time": 20.0, "metadata": {}})
    )

    summary = harness.summarize_run_results(tmp_path)

    assert summary["by_tag"] == {"beyond": {"count": 5, "sum_s": 14.25}}
    assert summary["sum_node_s"] == pytest.approx(sum(TIMES.values()))
    assert summary["by_type"]["models (Python)"] == {"count": 2, "sum_s": 11.5, "mean_s": 5.75}
    lines = harness.dbt_report(
        {
            "size": "20k",
            "wall_s": 30.0,
            "dbt": {**summary, "threads": 4, "phases": {}},
        }
    )
    assert any("tag beyond" in line and "5 nodes, 14.2 s (50% of" in line for line in lines)


def test_a_run_without_manifest_reports_no_tagged_node(harness, tmp_path: Path) -> None:
    (tmp_path / "run_results.json").write_text(
        json.dumps(
            {
                "results": [{"unique_id": "model.p.clv", "execution_time": 1.0}],
                "elapsed_time": 1.0,
            }
        )
    )
    assert harness.summarize_run_results(tmp_path)["by_tag"] == {
        "beyond": {"count": 0, "sum_s": 0.0}
    }


@pytest.mark.parametrize(
    ("name", "role"),
    [
        # Names as /proc shows them: Java's thread name cut to 15 characters.
        ("Executor task l", "Spark tasks"),
        ("C2 CompilerThre", "JIT compilers"),
        ("C1 CompilerThre", "JIT compilers"),
        ("Thread-652", "py4j calls"),
        ("dag-scheduler-e", "Spark driver"),
        ("shuffle-exchang", "Spark driver"),
        ("QueryStageCreat", "Spark driver"),
        ("GC Thread#1", "garbage collector"),
        ("G1 Conc#0", "garbage collector"),
        ("derby.rawStoreD", "JVM, other"),
        ("Thread-one", "JVM, other"),
    ],
)
def test_jvm_threads_are_given_their_role(harness, name: str, role: str) -> None:
    import measure

    assert measure.thread_role(name) == role


def test_python_processes_are_given_their_role(harness) -> None:
    import measure

    assert measure.process_role("java", ["/usr/lib/jvm/bin/java", "-cp", "x"]) is None
    assert measure.process_role("python", ["python", "-m", "pyspark.daemon"]) == "Python workers"
    assert measure.process_role("dbt", [".venv/bin/python", ".venv/bin/dbt"]) == "Python driver"
    assert measure.process_role("python3.11", ["/usr/bin/python3.11", "x.py"]) == "Python driver"
    # spark-submit's wrapper before it execs java under the same pid.
    assert measure.process_role("bash", ["bash", "spark-class"]) == "other processes"
    assert measure.process_role("java", ["java", "-cp", "x"]) is None


def test_the_roles_table_lists_only_measured_roles(harness) -> None:
    records = [
        {"size": "1M", "engine": "dbt", "cpu_roles": {"Spark tasks": 100.0, "Python driver": 9.5}},
        {
            "size": "1M",
            "engine": "pandas",
            "cpu_roles": {"Python driver": 14.25, "JVM, other": 0.01},
        },
        {"size": "1M", "engine": "pyspark", "cpu_roles": {}},
    ]
    lines = harness.cpu_roles_table(records)
    assert lines[1].split() == ["size", "engine", "tasks", "Python"]
    assert lines[2].split() == ["1M", "dbt", "100.0", "9.5"]
    assert lines[3].split() == ["1M", "pandas", "0.0", "14.2"]
    assert len(lines) == 4
    assert all(line.startswith("  ") for line in lines[1:])
    assert harness.cpu_roles_table([records[2]]) == []


SPINNER = """
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;

public class Spin {
    public static void main(String[] args) throws Exception {
        ThreadMXBean bean = ManagementFactory.getThreadMXBean();
        Runnable spin = () -> {
            // 1.5 s of this thread's own CPU, however busy the machine is.
            double x = 0;
            while (bean.getCurrentThreadCpuTime() < 1_500_000_000L) { x += Math.sqrt(x + 1); }
            System.out.println(x > 0);
            // Stay alive, idle, long enough to be read a few times with all its CPU.
            try { Thread.sleep(800); } catch (InterruptedException e) { }
        };
        // Named like Spark's task threads: the measurement must count it as one.
        Thread worker = new Thread(spin, "Executor task launch worker for task 0.0");
        worker.start();
        worker.join();
    }
}
"""


def test_a_measured_jvm_gets_cpu_by_thread(harness, tmp_path: Path) -> None:
    """A real JVM whose busy thread is named like Spark's task threads: its CPU is theirs."""
    import measure

    java = harness.shutil.which("java")
    if java is None or harness.shutil.which("javac") is None:
        pytest.skip("needs a JDK (java and javac) on PATH")
    source = tmp_path / "Spin.java"
    source.write_text(SPINNER)
    measurement = measure.run_measured(
        [java, "-XX:+UseSerialGC", str(source)],  # a single-file program, compiled in memory
        cwd=tmp_path,
        env=dict(harness.os.environ),
        stdout_path=tmp_path / "out.log",
        stderr_path=tmp_path / "err.log",
        thread_interval_s=0.2,
    )
    assert measurement.status == "ok", measurement.reason
    roles = measurement.cpu_roles
    assert set(roles) <= set(measure.ROLES)
    # 1.5 s of the thread's CPU, read every 0.2 s while it idles before it ends.
    assert roles["Spark tasks"] >= 1.45, roles
    # Compiling the source in memory keeps the JIT busy; the rest of the JVM is counted too.
    assert roles["JIT compilers"] > 0 and roles["JVM, other"] > 0, roles
    # Nothing counted twice and nothing left out: the roles add up to the process's CPU.
    assert sum(roles.values()) == pytest.approx(measurement.cpu_sampled_s, abs=0.05)


def test_the_spec_engine_builds_without_the_models_beyond(harness, tmp_path: Path) -> None:
    full = harness.engine_command("dbt", tmp_path, tmp_path / "raw", "--threads 2")
    spec = harness.engine_command("dbt-spec", tmp_path, tmp_path / "raw", "--threads 2")
    assert "spec_marts" not in full
    # Both are production builds (selectors.yml production_job): no dbt unit tests.
    for command in (full, spec):
        position = command.index("--exclude-resource-type")
        assert command[position + 1] == "unit_test"
    assert full[:2] == spec[:2] and full[1] == "build"
    # Everything of the full build, plus the selector, before the user's own arguments.
    position = spec.index("--selector")
    assert spec[position : position + 2] == ["--selector", "spec_marts"]
    assert spec[-2:] == ["--threads", "2"] and position < len(spec) - 2
    assert [part for part in spec if part not in ("--selector", "spec_marts")] == full
    assert harness.parse_args([]).engines == [
        "dbt",
        "dbt-spec",
        "pyspark",
        "pyspark-spec",
        "scala-spec",
        "pandas",
    ]
    assert harness.parse_args(["--only", "pyspark,dbt-spec"]).engines == ["dbt-spec", "pyspark"]


def test_a_selection_in_dbt_args_is_refused_beside_the_spec_selector(harness, capsys) -> None:
    # dbt ignores --select and --exclude beside --selector: dbt-spec would build more than
    # asked without a word.
    with pytest.raises(SystemExit) as stopped:
        harness.parse_args(["--dbt-args", "--exclude tag:baskets"])
    assert stopped.value.code == 2
    assert "--dbt-args --exclude would be ignored by the dbt-spec engine" in (
        capsys.readouterr().err
    )
    assert harness.parse_args(["--only", "dbt", "--dbt-args", "--exclude tag:baskets"]).engines == [
        "dbt"
    ]


def test_the_plain_engines_compute_every_mart_or_the_spec_ones(harness, tmp_path: Path) -> None:
    every = harness.engine_command("pyspark", tmp_path, tmp_path / "raw")
    spec = harness.engine_command("pyspark-spec", tmp_path, tmp_path / "raw")
    assert every[1].endswith("plain_pyspark_marts.py") and spec[1] == every[1]
    assert every[-2:] == ["--marts", "all"] and spec[-2:] == ["--marts", "spec"]
    # Each writes to its own folder, so neither run reads the other's tables.
    assert every[every.index("--out") + 1] != spec[spec.index("--out") + 1]
    pandas = harness.engine_command("pandas", tmp_path, tmp_path / "raw")
    assert pandas[1].endswith("pandas_reference.py") and "--marts" not in pandas


def test_the_scala_engine_submits_its_jar_with_the_plain_scripts_settings(
    harness, tmp_path: Path
) -> None:
    from plain_pyspark_marts import spark_settings

    with pytest.raises(ValueError, match="compile it first"):
        harness.engine_command("scala-spec", tmp_path, tmp_path / "raw")
    command = harness.engine_command("scala-spec", tmp_path, tmp_path / "raw", jar="/x/job.jar")
    assert command[0].endswith("/pyspark/bin/spark-submit")
    settings = spark_settings()
    assert command[command.index("--master") + 1] == settings["spark.master"] == "local[*]"
    given = [command[i + 1] for i, part in enumerate(command) if part == "--conf"]
    # Every setting of the plain script, as it has them: memory, partitions, UI, addresses.
    assert given == [f"{key}={value}" for key, value in settings.items() if key != "spark.master"]
    for setting in (
        "spark.ui.enabled=false",
        "spark.driver.bindAddress=127.0.0.1",
        "spark.driver.host=127.0.0.1",
        "spark.sql.shuffle.partitions=8",
    ):
        assert setting in given
    assert any(part.startswith("spark.driver.memory=") for part in given)
    assert command[command.index("--class") + 1 : command.index("--class") + 3] == [
        "lgs.bench.SpecMarts",
        "/x/job.jar",
    ]
    assert command[command.index("--out") + 1] == str(tmp_path / "out" / "scala-spec")
    assert command[command.index("--outlier-percentile") + 1] == "0.85"
    assert "--csv-option" in command and "columnNameOfCorruptRecord=_corrupt_record" in command


def test_the_scala_jar_is_cached_by_the_hash_of_its_source(harness, tmp_path: Path) -> None:
    scala_marts = harness.scala_marts

    source = tmp_path / "Job.scala"
    source.write_text("object Job\n")
    first = scala_marts.source_key(source)
    source.write_text("object Job { val changed = 1 }\n")
    assert scala_marts.source_key(source) != first
    # A jar of that key in the cache is used as it is: nothing is compiled.
    jar = tmp_path / "cache" / f"Job-{scala_marts.source_key(source)}.jar"
    jar.parent.mkdir()
    jar.write_bytes(b"")
    found = scala_marts.compile_jar(jar.parent, source)
    assert found == {
        "jar": str(jar),
        "key": scala_marts.source_key(source),
        "cached": True,
        "compile_s": None,
    }


def test_without_java_the_scala_engine_says_so_in_one_sentence(
    harness, tmp_path: Path, monkeypatch
) -> None:
    scala_marts = harness.scala_marts

    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    source = tmp_path / "Job.scala"
    source.write_text("object Job\n")
    with pytest.raises(UserError) as raised:
        scala_marts.compile_jar(tmp_path / "cache", source)
    message = str(raised.value)
    assert message.startswith("The Scala engine needs Java") and "JAVA_HOME" in message
    assert "\n" not in message


def test_a_scala_source_that_does_not_compile_is_one_sentence(harness, tmp_path: Path) -> None:
    """The real compiler on a broken source: the error names the file and scalac's error."""
    scala_marts = harness.scala_marts

    source = tmp_path / "Broken.scala"
    source.write_text("object Broken { def f: Int = }\n")  # a syntax error: scalac stops early
    with pytest.raises(UserError) as raised:
        scala_marts.compile_jar(tmp_path / "cache", source)
    message = str(raised.value)
    assert message.startswith("The Scala engine's source Broken.scala does not compile (")
    assert "illegal start of simple expression" in message and f"fix {source}" in message
    assert "\n" not in message
    assert not list((tmp_path / "cache").iterdir()), "no jar is left of a failed compile"


def test_a_failed_compile_is_a_failed_run_with_its_reason(harness, monkeypatch, capsys) -> None:
    def broken(*_args, **_kwargs):
        raise UserError("The Scala engine's source SpecMarts.scala does not compile (x): fix it.")

    monkeypatch.setattr(harness.scala_marts, "compile_jar", broken)
    args = harness.parse_args(["--only", "scala-spec"])
    record = harness.run_engine("scala-spec", 3000, Path("/nonexistent"), Path("/raw"), args, None)
    assert record["status"] == "failed" and record["reason"].startswith("The Scala engine's")
    assert "scala-spec: failed (The Scala engine's source" in capsys.readouterr().out
    assert "(*) 3k scala-spec: The Scala engine's source" in "\n".join(
        harness.results_table([record])
    )


def test_start_up_is_the_wall_time_before_the_session_and_after_it_stopped(harness) -> None:
    timings = {"session_start_s": 4.0, "compute_s": 20.0, "total_s": 25.0}
    assert harness.spark_startup_s(30.0, timings) == 9.0
    assert harness.spark_startup_s(30.0, {"compute_s": 1.0}) is None
    scala = {
        **_record("scala-spec", 30.0, 40.0),
        "timings": timings,
        "startup_s": 9.0,
        "compile": {"cached": False, "compile_s": 7.5},
    }
    plain = {**_record("pyspark-spec", 40.0, 50.0), "timings": timings, "startup_s": 19.0}
    text = harness.render(harness.machine_info(), {}, [plain, scala])
    assert "start-up of pyspark-spec at 1M: 19.0 s (process start to Spark session" in text
    assert "start-up of scala-spec at 1M: 9.0 s" in text
    assert "compiled in 7.5 s before the run (not in its wall)" in text
    assert "(scala-spec) / plain PySpark of the same marts (pyspark-spec) at 1M: wall 0.8x" in text


def _record(
    engine: str,
    wall: float,
    cpu: float,
    nodes: int | None = None,
    status="ok",
    run: int = 1,
    repeat: int = 1,
):
    record = {
        "size": "1M",
        "rows": 1_000_000,
        "engine": engine,
        "run": run,
        "repeat": repeat,
        "status": status,
        "reason": None if status == "ok" else "timeout",
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_gib": 1.0,
        "rows_per_s": round(1_000_000 / wall),
        "cpu_roles": {},
    }
    if nodes is not None:
        record["dbt"] = {"nodes": nodes, "extra_args": ""}
    return record


def test_like_for_like_ratio_and_what_the_models_beyond_add(harness) -> None:
    records = [
        _record("dbt", 200.0, 400.0, nodes=183),
        _record("dbt-spec", 150.0, 300.0, nodes=123),
        _record("pyspark", 80.0, 160.0),
        _record("pyspark-spec", 60.0, 100.0),
    ]
    assert harness.ratios(records) == {"1M": {"wall": 2.5, "cpu": 2.5}}
    assert harness.ratios(records, "dbt-spec", "pyspark-spec") == {"1M": {"wall": 2.5, "cpu": 3.0}}
    assert harness.beyond_added(records) == {
        "1M": {"wall_s": 50.0, "cpu_s": 100.0, "wall_share": 0.25, "nodes": 60}
    }
    assert harness.beyond_added(records, "pyspark", "pyspark-spec") == {
        "1M": {"wall_s": 20.0, "cpu_s": 60.0, "wall_share": 0.25, "nodes": None}
    }
    text = harness.render(harness.machine_info(), {}, records)
    assert "dbt build / plain PySpark at 1M: wall 2.5x, CPU 2.5x" in text
    assert (
        "(dbt-spec) / plain PySpark of the same marts (pyspark-spec) at 1M: wall 2.5x, CPU 3.0x"
        in text
    )
    assert "add to dbt build at 1M: 50.0 s wall (25%), 100.0 s CPU, 60 nodes" in text
    assert "add to plain PySpark at 1M: 20.0 s wall (25%), 60.0 s CPU\n" in text + "\n"
    # A failed run gives no difference and no ratio rather than a wrong one.
    records[1] = _record("dbt-spec", 150.0, 300.0, nodes=123, status="timeout")
    assert harness.beyond_added(records) == {}
    assert harness.ratios(records, "dbt-spec", "pyspark-spec") == {}


def test_a_build_without_the_tag_does_not_report_it(harness, tmp_path: Path) -> None:
    (tmp_path / "run_results.json").write_text(
        json.dumps(
            {
                "results": [{"unique_id": "model.p.stg", "execution_time": 1.0}],
                "elapsed_time": 1.0,
            }
        )
    )
    summary = harness.summarize_run_results(tmp_path)
    record = {"size": "20k", "engine": "dbt-spec", "wall_s": 3.0, "dbt": summary}
    lines = harness.dbt_report(record)
    assert lines[0].startswith("dbt-spec at 20k: 3.0 s wall")
    assert not any("tag beyond" in line for line in lines), lines


class _DyingProcess:
    """A stand-in for psutil.Process whose command line cannot be read the first time
    (the process turned zombie between two reads), as happens to short-lived children."""

    def __init__(self, psutil_module) -> None:
        self.pid, self._psutil, self._cmdline_reads = 4242, psutil_module, 0

    def oneshot(self):
        import contextlib

        return contextlib.nullcontext()

    def memory_info(self):
        return type("Memory", (), {"rss": 1000})()

    def cpu_times(self):
        return type("Times", (), {"user": 1.5, "system": 0.5})()

    def create_time(self) -> float:
        return 123.0

    def name(self) -> str:
        return "python3.11"

    def cmdline(self) -> list[str]:
        self._cmdline_reads += 1
        if self._cmdline_reads == 1:
            raise self._psutil.ZombieProcess(self.pid)
        return ["/usr/bin/python3.11", "script.py"]


def test_a_process_whose_role_cannot_be_read_is_still_counted(harness) -> None:
    import measure

    sampler = measure._Sampler()
    process = _DyingProcess(harness.psutil)
    sampler.sample([process], threads=True)  # must not raise
    assert sampler.cpu_roles() == {"other processes": 2.0}
    sampler.sample([process], threads=True)  # readable now: the role is found
    assert sampler.cpu_roles() == {"Python driver": 2.0}


def test_repeated_engines_run_in_rounds_reversed_every_other_round(harness) -> None:
    assert harness.run_order(["dbt", "pyspark"], 1) == [(1, "dbt"), (1, "pyspark")]
    assert harness.run_order(["dbt", "pyspark", "pandas"], 3) == [
        (1, "dbt"),
        (1, "pyspark"),
        (1, "pandas"),
        (2, "pandas"),
        (2, "pyspark"),
        (2, "dbt"),
        (3, "dbt"),
        (3, "pyspark"),
        (3, "pandas"),
    ]
    assert harness.parse_args(["--repeat", "3"]).repeat == 3
    with pytest.raises(SystemExit):
        harness.parse_args(["--repeat", "0"])


def test_repeated_runs_are_summarised_by_their_medians(harness) -> None:
    """Ratios and differences come from each engine's median; each round's ratio is shown."""
    records = [
        _record("dbt", 200.0, 400.0, nodes=183, run=1, repeat=3),
        _record("pyspark", 100.0, 200.0, run=1, repeat=3),
        _record("pyspark", 90.0, 150.0, run=2, repeat=3),
        _record("dbt", 240.0, 420.0, nodes=183, run=2, repeat=3),
        _record("dbt", 210.0, 500.0, nodes=183, run=3, repeat=3),
        _record("pyspark", 120.0, 160.0, run=3, repeat=3, status="timeout"),
    ]
    summary = harness.medians(records)
    assert [(m["engine"], m["runs"], m["failed_runs"]) for m in summary] == [
        ("dbt", 3, 0),
        ("pyspark", 3, 1),
    ]
    dbt, spark = summary
    assert (dbt["wall_s"], dbt["cpu_s"], dbt["wall_s_runs"]) == (
        210.0,
        420.0,
        [200.0, 240.0, 210.0],
    )
    # The failed run is left out of the median (of 100 and 90), not counted as a time.
    assert (spark["wall_s"], spark["cpu_s"]) == (95.0, 175.0)
    assert spark["rows_per_s"] == round(1_000_000 / 95.0)
    assert harness.ratios(summary) == {"1M": {"wall": round(210 / 95, 2), "cpu": 2.4}}
    # Within each round where both ran: 200/100 and 240/90; round 3 has no pyspark.
    assert harness.ratios_per_run(records) == {"1M": [2.0, round(240 / 90, 2)]}

    text = harness.render(harness.machine_info(), {}, records)
    assert "median of 3 runs (of the successful ones):" in text
    assert "dbt build / plain PySpark at 1M: wall 2.2x, CPU 2.4x (medians; wall per round " in text
    assert "2.00x, 2.67x)" in text
    lines = text.splitlines()
    assert any(line.split()[:3] == ["1M", "dbt#2", "240.0"] for line in lines)
    assert any(line.split()[:2] == ["1M", "pyspark#3"] and "timeout (*)" in line for line in lines)
    median_rows = [line.split() for line in lines if line.split()[:2] == ["1M", "pyspark"]]
    assert median_rows and median_rows[0][2] == "95.0" and "1 of 3 runs failed" in text


def test_an_engine_that_always_failed_keeps_its_failure(harness) -> None:
    records = [
        _record("pandas", 10.0, 10.0, status="timeout", run=1, repeat=2),
        _record("pandas", 12.0, 12.0, status="timeout", run=2, repeat=2),
    ]
    (summary,) = harness.medians(records)
    assert summary["status"] == "timeout" and summary["failed_runs"] == 2
    assert harness.record_name(summary) == "pandas"


def test_a_single_run_is_its_own_median(harness) -> None:
    records = [_record("dbt", 200.0, 400.0, nodes=183), _record("pyspark", 80.0, 160.0)]
    summary = harness.medians(records)
    assert [(m["engine"], m["wall_s"], m["cpu_s"]) for m in summary] == [
        ("dbt", 200.0, 400.0),
        ("pyspark", 80.0, 160.0),
    ]
    text = harness.render(harness.machine_info(), {}, records)
    assert "median of" not in text and "per round" not in text
    assert "dbt build / plain PySpark at 1M: wall 2.5x, CPU 2.5x\n" in text + "\n"


def test_the_header_says_whether_the_profile_is_the_projects(harness) -> None:
    machine = harness.machine_info()
    machine["profile"] = {"file": "/p/profiles.yml", "drift_from_example": []}
    assert harness.machine_header(machine)[-1] == (
        "profile: /p/profiles.yml, target local as in profiles.yml.example"
    )
    machine["profile"]["drift_from_example"] = [
        "threads: 8 (example: 4)",
        "spark.sql.codegen.cache.maxEntries: not set (example: '1000')",
    ]
    assert harness.machine_header(machine)[-1] == (
        "profile: /p/profiles.yml, target local DIFFERS from profiles.yml.example in 2 "
        "setting(s): threads, spark.sql.codegen.cache.maxEntries"
    )
    # The table printed at the end starts with the same header.
    assert "DIFFERS from profiles.yml.example" in harness.render(machine, {}, [])
