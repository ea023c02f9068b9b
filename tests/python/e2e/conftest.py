"""End-to-end fixtures: real `lgs build` runs (real Spark, real Derby metastore).

Each dataset is built once per test session into its own state folder under
`.lgs-test/` (ignored by git). `lgs build` skips work when nothing changed, so re-running the
suite on an unchanged tree is fast; CI starts from a clean clone and builds everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[3]
TEST_STATE_ROOT = Path(os.environ.get("LGS_TEST_STATE_ROOT", PROJECT_ROOT / ".lgs-test"))


@dataclass
class BuiltProject:
    """A state folder after a successful `lgs build`."""

    state: Path
    env: dict[str, str]

    @property
    def raw(self) -> Path:
        return self.state / "raw" / "online_retail_ii"

    @property
    def manifest(self) -> dict:
        return json.loads((self.raw / "_manifest.json").read_text())

    def lgs(
        self, *args: str, check: bool = True, timeout: int = 1800
    ) -> subprocess.CompletedProcess:
        return run_lgs(list(args), self.env, check=check, timeout=timeout)

    def sql(self, query: str) -> list[dict]:
        """Rows of one query, run by a NEW Spark process on this state's metastore."""
        result = self.lgs("sql", query)
        return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]

    def export(self, *tables: str, layers: tuple[str, ...] = ()) -> dict[str, pd.DataFrame]:
        """Read tables through a NEW Spark process from the metastore (proves persistence):
        the named ones, or every table of `layers` (default: marts, staging, reference)."""
        out = self.state / "export"
        options = [option for layer in layers for option in ("--layer", layer)]
        result = self.lgs("export", "--out", str(out), *options, *tables)
        frames = {}
        for line in result.stdout.splitlines():
            if "\t" in line:
                name, path = line.split("\t", 1)
                frames[name] = pd.read_parquet(path)
        return frames


def state_env(state: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"LGS_STATE_DIR": str(state), "DO_NOT_TRACK": "1", **extra})
    # A developer's own landing path or default target must not redirect the tests' builds.
    env.pop("LGS_RAW_PATH", None)
    env.pop("LGS_TARGET", None)
    return env


def run_lgs(
    args: list[str], env: dict[str, str], check: bool = True, timeout: int = 1800
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "lgs_analytics.cli", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"lgs {' '.join(args)} exited {result.returncode}\n--- stdout\n"
            f"{result.stdout[-8000:]}\n--- stderr\n{result.stderr[-8000:]}"
        )
    return result


def build_project(
    name: str, generate_args: list[str] | None = None, build_args: list[str] | None = None
) -> BuiltProject:
    state = TEST_STATE_ROOT / name
    env = state_env(state)
    project = BuiltProject(state=state, env=env)
    manifest = project.raw / "_manifest.json"
    # A dataset kept from before the generator simulated campaigns (a developer's old
    # .lgs-test) has no campaign assignments: generated again, or their tests compare nothing.
    stale = manifest.exists() and "campaigns" not in json.loads(manifest.read_text())
    if generate_args is not None and (stale or not manifest.exists()):
        run_lgs(["generate", *generate_args, "--out", str(project.raw)], env)
    run_lgs(["build", *(build_args or [])], env)
    return project


@pytest.fixture(scope="session")
def default_build() -> BuiltProject:
    """The main command on the default 1,067,371-row dataset, docs and report included."""
    return build_project("default")


@pytest.fixture(scope="session")
def default_tables(default_build: BuiltProject) -> dict[str, pd.DataFrame]:
    """Every mart of the default build, read in a new process (the staged million rows
    are checked against the manifest by count queries instead: test_staging_and_marts)."""
    return default_build.export(layers=("marts",))


@pytest.fixture(scope="session")
def malformed_build() -> BuiltProject:
    """A small dataset with every malformed-row kind injected; the suite's run of the dbt
    unit tests, which the main command leaves out."""
    return build_project(
        "malformed",
        generate_args=["--rows", "30000", "--seed", "7", "--malformed-share", "0.01"],
        build_args=["--skip-docs", "--skip-report", "--unit-tests"],
    )


@pytest.fixture(scope="session")
def malformed_tables(malformed_build: BuiltProject) -> dict[str, pd.DataFrame]:
    """Every table of the malformed build's marts, staging and reference layers, read once
    by a new process: the local build that the cluster's and the plain script's tables are
    compared with."""
    return malformed_build.export()


@pytest.fixture(scope="session")
def reference(default_build: BuiltProject) -> dict[str, pd.DataFrame]:
    """The independent pandas implementation of docs/DEFINITIONS.md, run on the same raw files."""
    from lgs_analytics.reference.pipeline import run_reference

    return run_reference(default_build.raw)
