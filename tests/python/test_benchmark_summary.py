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
