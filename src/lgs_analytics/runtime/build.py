"""The main job: profile, raw data, `dbt build`, docs and report, skipped when unchanged."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

from lgs_analytics.errors import UserError
from lgs_analytics.landing.folders import (
    IMPORTED,
    SYNTHETIC,
    data_files,
    held_landed_data,
    manifest_kind,
    read_manifest,
    remember_landed,
)
from lgs_analytics.runtime.paths import CAMPAIGN_RAW_ENV, ProjectPaths

# Everything whose change can change the warehouse, the docs or the report.
INPUT_DIRS = ("models", "python_models", "macros", "seeds", "tests", "analyses", "conf", "src")
INPUT_FILES = ("dbt_project.yml", "profiles.yml", "pyproject.toml")
FINGERPRINT_FILE = "last_build.json"
# The manifest of the last successful production build, the state slim CI compares with
# (`make slim-ci`: state:modified+ and --defer, src/lgs_analytics/devtools/slim_ci.py).
PRODUCTION_STATE = "prod-state"


def ensure_profile(paths: ProjectPaths) -> bool:
    """Copy profiles.yml.example to profiles.yml when absent; never overwrite. True if copied."""
    if paths.profiles.exists():
        return False
    shutil.copyfile(paths.profiles_example, paths.profiles)
    return True


def raw_files(raw_dir: Path) -> list[Path]:
    """Landed data files: Spark ignores names starting with `_` or `.`, and so do we."""
    return data_files(raw_dir)


def ensure_raw_data(paths: ProjectPaths, rows: int, seed: int) -> bool:
    """Generate the default synthetic dataset into a landing path that has never held landed
    data, saying so first; refuse (UserError) where landed data was there and is gone, or
    where real campaign assignments landed without sales (synthetic sales would be mixed
    with them). True if generated.

    Landed data (imported, or copied in by hand: anything but the generator's output) is
    recorded in the state folder's landing history, so that deleting the part files, the
    ledger with them, or the whole landing folder does not turn the next build synthetic.
    """
    from lgs_analytics.landing.importer import recover_interrupted_import

    landing = paths.raw
    recover_interrupted_import(landing)
    kind = manifest_kind(read_manifest(landing))
    if raw_files(landing):
        if kind != SYNTHETIC and not held_landed_data(paths.state, landing):
            remember_landed(paths.state, landing, by="lgs build")
        return False
    held = held_landed_data(paths.state, landing)
    if held or kind == IMPORTED:
        since = f" (recorded {held['last_seen_at']})" if held else ""
        raise UserError(
            f"The landing folder {landing} held landed data{since} and now holds no data "
            "file, and a build would publish synthetic numbers instead: land the files again "
            "with `lgs import <files>` and run `lgs build --full-refresh`, or build synthetic "
            "data in a new state folder (LGS_STATE_DIR)."
        )
    campaigns = paths.campaigns
    if held_landed_data(paths.state, campaigns) or (
        manifest_kind(read_manifest(campaigns)) == IMPORTED
    ):
        raise UserError(
            f"CRM exports of campaign assignments have landed in {campaigns} but no sales "
            f"data in {landing}, and a build would add synthetic sales to your assignments: "
            "land the sales with `lgs import <workbook or CSV files>` first, or build "
            "synthetic data in a new state folder (LGS_STATE_DIR)."
        )
    from lgs_analytics.synthetic.generator import generate

    print(
        f"No data has landed in {landing}: generating {rows:,} synthetic rows (seed {seed}) "
        "— synthetic data, not a shop's; land real files with `lgs import`.",
        flush=True,
    )
    generate(
        landing,
        rows=rows,
        seed=seed,
        assignments_dir=None if data_files(campaigns) else campaigns,
    )
    return True


def fingerprint(paths: ProjectPaths, target: str, unit_tests: bool = False) -> str:
    """Hash of every input of the build: project files, landed files, settings."""
    digest = hashlib.sha256()
    for folder in INPUT_DIRS:
        for path in sorted((paths.root / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(paths.root)).encode())
                digest.update(path.read_bytes())
    for name in INPUT_FILES:
        path = paths.root / name
        if path.exists():
            digest.update(name.encode())
            digest.update(path.read_bytes())
    for path in raw_files(paths.raw) + raw_files(paths.campaigns):
        stat = path.stat()
        digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    settings = {k: v for k, v in sorted(os.environ.items()) if k.startswith(("LGS_", "DBT_"))}
    run = {"target": target, "unit_tests": unit_tests, "env": settings}
    digest.update(json.dumps(run).encode())
    return digest.hexdigest()


def _fingerprint_path(paths: ProjectPaths) -> Path:
    return paths.state / FINGERPRINT_FILE


def is_up_to_date(
    paths: ProjectPaths, target: str, print_fn=print, unit_tests: bool = False
) -> bool:
    path = _fingerprint_path(paths)
    if not path.exists() or not paths.warehouse.exists():
        return False
    recorded = json.loads(path.read_text())
    if recorded.get("fingerprint") != fingerprint(paths, target, unit_tests):
        return False
    print_fn(
        f"Nothing changed since the last successful build ({recorded.get('finished_at')}): "
        "skipping dbt build, docs and report. Use --force to rebuild."
    )
    return True


def record_success(paths: ProjectPaths, target: str, unit_tests: bool = False) -> None:
    _fingerprint_path(paths).write_text(
        json.dumps(
            {
                "fingerprint": fingerprint(paths, target, unit_tests),
                "target": target,
                "finished_at": time.strftime("%Y-%m-%d %H:%M:%S"),
            },
            indent=2,
        )
    )


def keep_production_state(paths: ProjectPaths) -> Path:
    """Copy the build's manifest.json to <state>/prod-state/, replacing the previous one in
    one rename (a reader never sees half a file); the copy's path."""
    folder = paths.state / PRODUCTION_STATE
    folder.mkdir(parents=True, exist_ok=True)
    kept = folder / "manifest.json"
    partial = folder / "manifest.json.partial"
    shutil.copyfile(paths.target / "manifest.json", partial)
    partial.replace(kept)
    return kept


def run_dbt(paths: ProjectPaths, args: list[str]) -> bool:
    """Invoke dbt in this process, so consecutive commands share one SparkSession (one JVM)."""
    from dbt.cli.main import dbtRunner

    full_args = [*args, "--project-dir", str(paths.root), "--profiles-dir", str(paths.root)]
    print(f"$ dbt {' '.join(args)}", flush=True)
    result = dbtRunner().invoke(full_args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        from dbt.cli.exceptions import DbtInternalException, DbtUsageException

        if isinstance(result.exception, (DbtUsageException, DbtInternalException)):
            # Refused before the command ran: dbt printed nothing.
            print(f"dbt {args[0]} failed: {result.exception}", file=sys.stderr)
        else:
            # dbt printed it ("Encountered an error"): not a second time.
            print(f"dbt {args[0]} failed (above).", file=sys.stderr)
    return bool(result.success)


def check_freshness(paths: ProjectPaths, target: str) -> bool | None:
    """`dbt source freshness` before the build, its result reported (dbt's lines, then one of
    ours; target/sources.json). Stale landed data does not stop the build: it publishes what
    landed, and says so. True when every source is fresh enough (pass or warn), False when
    one is stale or its freshness query failed, None when no source was checked at all: the
    run stopped before (the connection, or the on-run-start hook's checks of the landed
    files, which the build would run again and stop at the same way)."""
    output = paths.target / "sources.json"
    output.unlink(missing_ok=True)
    # sources.json in the target folder: dbt 1.11 and 1.12 deprecate a custom --output.
    fresh = run_dbt(
        paths, ["source", "freshness", "--target", target, "--target-path", str(paths.target)]
    )
    statuses = []
    if output.exists():
        statuses = [result["status"] for result in json.loads(output.read_text())["results"]]
    if fresh:
        worst = "warn" if "warn" in statuses else "pass"
        print(f"Source freshness: {worst} ({output}).", flush=True)
    elif "error" in statuses:
        print(
            "Source freshness: ERROR, the newest landed file is older than the source's "
            "error_after (above): building what landed; land new files with `lgs import`.",
            flush=True,
        )
    elif statuses:
        print("Source freshness: could not be checked (above); building anyway.", flush=True)
    else:
        return None
    return fresh


def prepare_environment(paths: ProjectPaths) -> None:
    """Point dbt and Spark at the state folder; relative profile paths resolve from the root."""
    for key, value in paths.environment().items():
        os.environ.setdefault(key, value)
    paths.state.mkdir(parents=True, exist_ok=True)
    paths.logs.mkdir(parents=True, exist_ok=True)
    os.chdir(paths.root)


def main_job(
    paths: ProjectPaths,
    *,
    target: str = "local",
    rows: int = 1_067_371,
    seed: int = 42,
    force: bool = False,
    full_refresh: bool = False,
    docs: bool = True,
    report: bool = True,
    unit_tests: bool = False,
) -> int:
    """Run the whole pipeline; 0 on success.

    dbt's unit tests run only with ``unit_tests``: they check the models' logic on fixed
    inputs, so a production run gains nothing from them (dbt Labs' advice); `make test`
    runs them, and so does a plain `dbt build`.
    """
    from lgs_analytics.runtime.environment import check_java

    check_java()
    prepare_environment(paths)
    ensure_raw_data(paths, rows, seed)  # first: its notice is the first line of the output
    if "://" not in os.environ.get(CAMPAIGN_RAW_ENV, ""):
        # The campaign source's table needs its folder even when no CRM export has landed.
        paths.campaigns.mkdir(parents=True, exist_ok=True)
    if ensure_profile(paths):
        print(f"Created {paths.profiles.name} from {paths.profiles_example.name}.")
    else:
        from lgs_analytics.runtime.spark_session import profile_drift_note

        note = profile_drift_note(paths, target)
        if note:
            print(note)
    if not (force or full_refresh) and is_up_to_date(paths, target, unit_tests=unit_tests):
        built = paths.target / "manifest.json"
        if built.exists() and not (paths.state / PRODUCTION_STATE / "manifest.json").exists():
            keep_production_state(paths)  # a state folder built before slim CI existed
        return 0
    started = time.monotonic()
    if check_freshness(paths, target) is None:
        print(
            "Not building: dbt stopped before checking any source (above), and the build "
            "would stop the same way; fix what it names and run `lgs build` again.",
            file=sys.stderr,
            flush=True,
        )
        return 1
    build_args = ["build", "--target", target, *(["--full-refresh"] if full_refresh else [])]
    if not unit_tests:
        build_args += ["--selector", "production_job"]  # selectors.yml: no unit tests
    if not run_dbt(paths, build_args):
        return 1
    print(f"Production state for slim CI: {keep_production_state(paths)}")
    if docs and not run_dbt(paths, ["docs", "generate", "--target", target]):
        return 1
    if report:
        from lgs_analytics.report.loading import write_report

        written = write_report(paths, target=target)
        print(f"Report: {written}")
    record_success(paths, target, unit_tests)
    print(f"Main job finished in {time.monotonic() - started:.0f} s.")
    return 0
