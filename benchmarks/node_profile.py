"""Per-node wall and CPU of one production `dbt build`, and what part of it is overhead.

    python benchmarks/node_profile.py --rows 10M --work-dir /tmp/bench [--threads 1]

Runs the harness's `dbt` engine (the production build: models, seeds and data tests) on the
harness's generated data, with dbt's JSON log, while a sampler reads the CPU seconds of the
whole process tree (dbt, its Spark JVM, PySpark's Python workers) every half second. With
one dbt thread (the default here) the nodes run one after another, so the CPU spent between
a node's start and end events is that node's. The build then takes longer than with the
target's 4 threads: the profile is of the work, not of the production wall time.

Each node's SQL statements (dbt's `SQLQuery` / `SQLQueryStatus` events) are classed:

- ``work``: the statement that computes or writes rows (`create table … as select`,
  `insert overwrite`, a data test's `select`), and for a Python model the time of the node
  outside its statements (the model's code runs in the driver, not as a statement);
- ``metadata``: catalog and publishing statements (`describe`, `show`, `alter table`,
  `drop`, `create … like`, `set`, temporary views, `refresh`).

Printed: the nodes by CPU, then the totals by group (start-up and end, hooks, seeds,
staging, the quarantine, intermediate, SQL marts, Python models, data tests) with the
metadata statements' share, and the JSON written next to the harness's results.
"""

from __future__ import annotations

import argparse
import bisect
import json
import re
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import run_benchmarks as harness  # noqa: E402 - needs the path set above

SAMPLE_EVERY_S = 0.5
# The SQL comment dbt puts before every statement ({"app": "dbt", ...}).
_QUERY_COMMENT = re.compile(r"^\s*/\*.*?\*/\s*", re.DOTALL)
_METADATA = re.compile(
    r"^(describe|show|alter|drop|refresh|set|use|msck|analyze|uncache"
    r"|create\s+(schema|database|table\s+\S+\s+like)\b"
    r"|create\s+(or\s+replace\s+)?temporary\s+view)\b",
    re.IGNORECASE,
)
GROUPS = (
    "start-up and end",
    "hooks",
    "seeds",
    "staging",
    "quarantine",
    "intermediate",
    "SQL marts",
    "Python models",
    "data tests",
    "between nodes",
)


@dataclass
class Statement:
    node: str
    sql: str
    seconds: float

    @property
    def kind(self) -> str:
        """ "metadata" for catalog and publishing statements, else "work"."""
        return "metadata" if _METADATA.match(_QUERY_COMMENT.sub("", self.sql)) else "work"


@dataclass
class NodeProfile:
    unique_id: str
    group: str
    start: float
    end: float
    cpu_s: float = 0.0
    statements: int = 0
    work_s: float = 0.0
    metadata_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def wall_s(self) -> float:
        return self.end - self.start


def cpu_at(samples: list[tuple[float, float]], moment: float) -> float:
    """The tree's cumulative CPU seconds at ``moment``, linear between two samples."""
    if not samples:
        return 0.0
    times = [when for when, _ in samples]
    index = bisect.bisect_left(times, moment)
    if index == 0:
        return samples[0][1]
    if index >= len(samples):
        return samples[-1][1]
    (t0, c0), (t1, c1) = samples[index - 1], samples[index]
    return c0 if t1 == t0 else c0 + (c1 - c0) * (moment - t0) / (t1 - t0)


def node_group(unique_id: str, node: dict[str, Any]) -> str:
    """The group a node's time is reported under (GROUPS)."""
    kind = unique_id.split(".", 1)[0]
    if kind == "operation":
        return "hooks"
    if kind == "seed":
        return "seeds"
    if kind in ("test", "unit_test"):
        return "data tests"
    name = unique_id.rsplit(".", 1)[-1]
    if node.get("language") == "python":
        return "Python models"
    if name.startswith("stg_") and "quarantine" in name:
        return "quarantine"
    if name.startswith("stg_"):
        return "staging"
    if name.startswith("int_"):
        return "intermediate"
    return "SQL marts"


def profile_nodes(
    events: list[tuple[float, str, str, dict[str, Any]]],
    samples: list[tuple[float, float]],
    manifest_nodes: dict[str, dict[str, Any]],
    started: float,
    ended: float,
) -> tuple[list[NodeProfile], dict[str, dict[str, float]]]:
    """Each node's wall, CPU and statements, and the totals per group.

    A node runs from its NodeStart to its NodeFinished event; a statement belongs to the node
    whose connection ran it (the connection is named after the node). CPU between nodes (the
    runner's own bookkeeping) and before the first and after the last node is reported apart.
    """
    starts: dict[str, float] = {}
    nodes: dict[str, NodeProfile] = {}
    pending: dict[str, tuple[str, str]] = {}  # thread -> (connection, sql)
    statements: list[Statement] = []
    hooks = 0
    for moment, name, thread, data in events:
        node_info = data.get("node_info") or {}
        unique_id = node_info.get("unique_id", "")
        if name == "NodeStart" and unique_id:
            starts[unique_id] = moment
        elif name == "NodeFinished" and unique_id in starts:
            nodes[unique_id] = NodeProfile(
                unique_id,
                node_group(unique_id, manifest_nodes.get(unique_id, {})),
                starts.pop(unique_id),
                moment,
            )
        elif name == "LogHookEndLine":
            # Logged with its start line once the hook has run: its execution time says when
            # it started.
            hooks += 1
            hook_id = node_info.get("unique_id") or f"operation.hook.{hooks}"
            started_at = moment - float(data.get("execution_time") or 0.0)
            nodes[hook_id] = NodeProfile(hook_id, "hooks", started_at, moment)
        elif name == "SQLQuery":
            pending[thread] = (data.get("conn_name", ""), data.get("sql", ""))
        elif name == "SQLQueryStatus" and thread in pending:
            connection, sql = pending.pop(thread)
            statements.append(Statement(connection, sql, float(data.get("elapsed", 0.0))))
    for statement in statements:
        profile = nodes.get(statement.node)
        if profile is None:
            continue
        profile.statements += 1
        if statement.kind == "metadata":
            profile.metadata_s += statement.seconds
        else:
            profile.work_s += statement.seconds
    ordered = sorted(nodes.values(), key=lambda node: node.start)
    for profile in ordered:
        profile.cpu_s = cpu_at(samples, profile.end) - cpu_at(samples, profile.start)
        if profile.group == "Python models":
            # The model's code runs in the driver between its statements.
            profile.work_s = max(0.0, profile.wall_s - profile.metadata_s)
    totals = {
        group: {"wall_s": 0.0, "cpu_s": 0.0, "metadata_s": 0.0, "nodes": 0} for group in GROUPS
    }
    for profile in ordered:
        total = totals[profile.group]
        total["wall_s"] += profile.wall_s
        total["cpu_s"] += profile.cpu_s
        total["metadata_s"] += profile.metadata_s
        total["nodes"] += 1
    end_cpu = cpu_at(samples, ended)
    if ordered:
        first, last = ordered[0].start, max(node.end for node in ordered)
        edges = totals["start-up and end"]
        edges["wall_s"] = (first - started) + (ended - last)
        edges["cpu_s"] = cpu_at(samples, first) + (end_cpu - cpu_at(samples, last))
        between = totals["between nodes"]
        between["wall_s"] = (last - first) - sum(n.wall_s for n in ordered)
        between["cpu_s"] = (
            cpu_at(samples, last) - cpu_at(samples, first) - sum(n.cpu_s for n in ordered)
        )
    return ordered, totals


class _Sampler(threading.Thread):
    """Cumulative CPU seconds of a process tree, every SAMPLE_EVERY_S (ended ones kept)."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.samples: list[tuple[float, float]] = [(time.time(), 0.0)]
        self.done = threading.Event()
        self._last: dict[tuple[int, float], float] = {}

    def _read(self) -> float:
        try:
            processes = [psutil.Process(self.root)]
            processes += processes[0].children(recursive=True)
        except psutil.Error:
            processes = []
        for process in processes:
            try:
                times = process.cpu_times()
                self._last[(process.pid, process.create_time())] = times.user + times.system
            except psutil.Error:
                continue
        return sum(self._last.values())

    def run(self) -> None:
        while not self.done.wait(SAMPLE_EVERY_S):
            self.samples.append((time.time(), self._read()))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="10M", help="rows of generated data (k, M suffixes)")
    parser.add_argument("--seed", type=int, default=42, help="generator seed")
    parser.add_argument("--work-dir", type=Path, required=True, help="the harness's scratch folder")
    parser.add_argument("--threads", type=int, default=1, help="dbt threads (1: nodes in turn)")
    parser.add_argument("--top", type=int, default=25, help="nodes listed, by CPU")
    parser.add_argument("--out", type=Path, help="JSON profile (default: in the work folder)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows = harness.parse_size(args.rows)
    label = harness.size_label(rows)
    state = args.work_dir.resolve() / label
    raw_dir = state / "raw" / "online_retail_ii"
    machine = harness.machine_info()
    print("\n".join(harness.machine_header(machine)), flush=True)
    harness.ensure_data(raw_dir, rows, args.seed, 2_000_000)
    harness.prepare_engine("dbt", state)
    command = harness.engine_command("dbt", state, raw_dir, f"--threads {args.threads}")
    log_file = state / "dbt" / "logs" / "dbt.log"
    print(f"[{label}] {' '.join(command[:2])} … --threads {args.threads}", flush=True)
    started = time.time()
    with (state / "node-profile.stdout").open("w") as stdout:
        process = subprocess.Popen(
            command,
            cwd=harness.PROJECT_ROOT,
            env=harness.engine_env(state, raw_dir),
            stdout=stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        sampler = _Sampler(process.pid)
        sampler.start()
        returncode = process.wait()
    sampler.done.set()
    sampler.join()
    ended = time.time()
    samples = sampler.samples
    manifest = json.loads((state / "dbt" / "target" / "manifest.json").read_text())
    nodes, totals = profile_nodes(
        harness.read_dbt_log(log_file), samples, manifest["nodes"], started, ended
    )
    total_cpu = samples[-1][1]
    print(
        f"exit {returncode}: wall {ended - started:.0f} s, CPU {total_cpu:.0f} s "
        f"(dbt, JVM and Python workers), {len(nodes)} nodes",
        flush=True,
    )
    print(f"\n{'node':<64} {'wall s':>8} {'CPU s':>8} {'stmts':>6} {'metadata s':>11}")
    for node in sorted(nodes, key=lambda n: -n.cpu_s)[: args.top]:
        name = node.unique_id.split(".", 1)[0] + " " + node.unique_id.rsplit(".", 1)[-1]
        print(
            f"{name[:64]:<64} {node.wall_s:8.1f} {node.cpu_s:8.1f} {node.statements:6d} "
            f"{node.metadata_s:11.1f}"
        )
    print(
        f"\n{'group':<20} {'nodes':>6} {'wall s':>8} {'CPU s':>8} {'CPU %':>6} {'metadata s':>11}"
    )
    for group in GROUPS:
        total = totals[group]
        share = 100 * total["cpu_s"] / total_cpu if total_cpu else 0.0
        print(
            f"{group:<20} {total['nodes']:6d} {total['wall_s']:8.1f} {total['cpu_s']:8.1f} "
            f"{share:6.1f} {total['metadata_s']:11.1f}"
        )
    out = args.out or (args.work_dir / f"node-profile-{label}.json")
    out.write_text(
        json.dumps(
            {
                "machine": machine,
                "rows": rows,
                "threads": args.threads,
                "returncode": returncode,
                "wall_s": round(ended - started, 2),
                "cpu_s": round(total_cpu, 2),
                "groups": totals,
                "nodes": [{**asdict(node), "wall_s": node.wall_s} for node in nodes],
                # (epoch seconds, cumulative CPU seconds): to attribute again without a rerun.
                "started": started,
                "ended": ended,
                "samples": samples,
            },
            indent=2,
        )
    )
    print(f"\nProfile written to {out}")
    return 0 if returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
