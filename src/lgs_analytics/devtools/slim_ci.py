"""Slim CI (`make slim-ci`): build and test only what a change modified, and everything
downstream of it, in the CI schemas.

    LGS_CI_SCHEMA=ci_pr_123 .venv/bin/python -m lgs_analytics.devtools.slim_ci [--target ci]
        [--state <folder with the production manifest.json>] [--drop-schemas]

`dbt build --selector slim_ci` (selectors.yml: `state:modified+`) compares the project with
the manifest the last production build kept (`lgs build` copies it to
$LGS_STATE_DIR/prod-state/; CI downloads the main branch's into a folder given with
--state or LGS_PROD_STATE), and `--defer` reads every unchanged parent from the production
tables. The `ci` target uses the `local` engine, metastore and landing folder of the same
state folder: the changed models run on the data the production tables were built from, and
write to `<LGS_CI_SCHEMA>_<layer>` schemas only. dbt's artifacts go to
$LGS_STATE_DIR/ci-target, never over the production build's. `--drop-schemas` drops the
CI schemas afterwards (session targets). On Databricks the same command runs with
`--target databricks_ci` (docs/DATABRICKS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import yaml

from lgs_analytics.errors import UserError
from lgs_analytics.runtime.build import (
    PRODUCTION_STATE,
    ensure_profile,
    prepare_environment,
    run_dbt,
)
from lgs_analytics.runtime.paths import ProjectPaths

CI_TARGET_PATH = "ci-target"
# What a slim-CI run reports: the nodes built or tested, not dbt's hooks.
NODE_TYPES = ("model", "seed", "snapshot", "test", "unit_test")


def production_state(paths: ProjectPaths, state: str | None) -> Path:
    """The folder of the production manifest: --state, else LGS_PROD_STATE, else the state
    folder's prod-state; one sentence when it holds no manifest.json."""
    chosen = state or os.environ.get("LGS_PROD_STATE")
    folder = Path(chosen).resolve() if chosen else paths.state / PRODUCTION_STATE
    if not (folder / "manifest.json").is_file():
        raise UserError(
            f"No production state in {folder} (no manifest.json): run `make build` first "
            "(it keeps its manifest there), or put the main branch's production-state "
            "artifact in a folder and pass it with --state or LGS_PROD_STATE."
        )
    return folder


def _production_targets(paths: ProjectPaths) -> list[str]:
    project = yaml.safe_load((paths.root / "dbt_project.yml").read_text())
    return list(project.get("vars", {}).get("production_targets", []))


def run_results(target_path: Path) -> list[dict]:
    """The results of the nodes (not the hooks) of the last run in `target_path`."""
    results = json.loads((target_path / "run_results.json").read_text())["results"]
    return [result for result in results if result["unique_id"].split(".", 1)[0] in NODE_TYPES]


def ci_schemas(target_path: Path, results: list[dict]) -> list[str]:
    """The schemas the run's nodes wrote to (stored test failures included)."""
    manifest = json.loads((target_path / "manifest.json").read_text())
    nodes = {**manifest["nodes"], **manifest.get("unit_tests", {})}
    return sorted(
        {
            nodes[result["unique_id"]]["schema"]
            for result in results
            if nodes.get(result["unique_id"], {}).get("schema")
            and nodes[result["unique_id"]]["resource_type"] != "unit_test"
        }
    )


def drop_schemas(schemas: list[str]) -> None:
    """Drop the schemas in this process's Spark session (the one the build ran in).

    Never starts a session: with nothing built there is nothing to drop, and a session
    started here would have none of the target's settings (its driver and web UI would
    listen on every interface, not 127.0.0.1)."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    if not schemas:
        return
    if SparkContext._active_spark_context is None:
        print(f"Not dropped (no Spark session of the build in this process): {schemas}")
        return
    spark = SparkSession.builder.getOrCreate()
    for schema in schemas:
        spark.sql(f"drop schema if exists `{schema}` cascade")
        print(f"Dropped schema {schema}.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="ci", help="a CI target (default: ci)")
    parser.add_argument("--state", help="folder of the production manifest.json")
    parser.add_argument(
        "--drop-schemas", action="store_true", help="drop the CI schemas after the run"
    )
    args = parser.parse_args(argv)
    paths = ProjectPaths.discover()
    try:
        if args.target in _production_targets(paths):
            raise UserError(
                f"Target '{args.target}' writes the production schemas: run slim CI on a CI "
                "target (ci, databricks_ci)."
            )
        prepare_environment(paths)
        state = production_state(paths, args.state)
        if ensure_profile(paths):
            print(f"Created {paths.profiles.name} from {paths.profiles_example.name}.")
        from lgs_analytics.runtime.spark_session import (
            UnknownTargetError,
            check_target,
            session_targets,
        )

        try:
            check_target(paths, args.target)
        except UnknownTargetError:
            example = paths.profiles_example
            if args.target not in (yaml.safe_load(example.read_text())["lgs"]["outputs"]):
                raise
            raise UserError(
                f"{paths.profiles} has no target '{args.target}' (it was copied from an older "
                f"{example.name}): copy the '{args.target}' target from {example.name} into it."
            ) from None
        if args.drop_schemas and args.target not in session_targets(paths):
            raise UserError(
                f"--drop-schemas drops schemas in this process's Spark session, which target "
                f"'{args.target}' does not use: drop its CI schemas with SQL (docs/DATABRICKS.md)."
            )
    except UserError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    target_path = paths.state / CI_TARGET_PATH
    # Written by the run or not at all: an earlier run's results must not pass for these.
    (target_path / "run_results.json").unlink(missing_ok=True)
    succeeded = run_dbt(
        paths,
        [
            "build",
            "--target",
            args.target,
            "--selector",
            "slim_ci",
            "--defer",
            "--state",
            str(state),
            "--target-path",
            str(target_path),
        ],
    )
    if not (target_path / "run_results.json").exists():
        return 1
    results = run_results(target_path)
    print(f"Slim CI against {state / 'manifest.json'}: {len(results)} nodes.")
    for result in results:
        print(f"  {result['status']:<8} {result['unique_id']}")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:  # the CI job's summary page
        with open(summary, "a") as page:
            page.write(f"### Slim CI: {len(results)} nodes (state:modified+)\n\n")
            page.writelines(f"- {r['status']} `{r['unique_id']}`\n" for r in results)
    if args.drop_schemas:
        drop_schemas(ci_schemas(target_path, results))
    return 0 if succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
