"""Repository checks run by `make lint` and pre-commit: YAML (yamllint), secrets (detect-secrets).

The YAML check is yamllint's, with the rules that change what a file means: syntax errors
and duplicate keys (PyYAML silently keeps the last of two equal keys, so a test or a
setting could vanish without a word). Style is left to the authors.

The secret scan is detect-secrets' pre-commit hook against the committed `.secrets.baseline`,
which records the plugins (detect-secrets' own and the project's in devtools/secret_plugins.py: the
Databricks token and the two shapes the built-in ones miss), the filters and the excluded
folders. Its results stay empty: a false positive is marked where it is, with an inline
`pragma: allowlist secret` comment, so the baseline does not change when lines move.
`python -m lgs_analytics.devtools.lint_checks secrets-baseline` regenerates it.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

from yamllint import linter
from yamllint.config import YamlLintConfig

# Syntax errors are always reported; of the rules, only the ones about meaning.
YAMLLINT_CONFIG = "rules:\n  key-duplicates: enable\n"
SKIP_DIRS = {".git", ".venv", "target", "dbt_packages", "logs", ".lgs", ".lgs-test", ".lgs-lint"}

BASELINE = ".secrets.baseline"
PLUGIN_FILE = "src/lgs_analytics/devtools/secret_plugins.py"
# Generated folders, never scanned even when a file there is neither tracked nor ignored.
SCAN_EXCLUDED = r"(^|/)(\.git|\.venv|target|dbt_packages|logs|\.lgs[^/]*)/"


def tracked_files(root: Path) -> list[Path]:
    """Files git tracks or would add (untracked but not ignored)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        return [root / name for name in listed if (root / name).is_file()]
    except (OSError, subprocess.CalledProcessError):
        return [
            path
            for path in root.rglob("*")
            if path.is_file() and not SKIP_DIRS.intersection(path.relative_to(root).parts)
        ]


def check_yaml(files: list[Path]) -> list[str]:
    """One line per yamllint error (invalid syntax, a duplicate key) in the YAML files."""
    config = YamlLintConfig(YAMLLINT_CONFIG)
    problems = []
    for path in files:
        if path.suffix not in {".yml", ".yaml"} and path.name != "profiles.yml.example":
            continue
        for problem in linter.run(path.read_text(), config, str(path)):
            if problem.level == "error":
                rule = f" ({problem.rule})" if problem.rule else ""
                problems.append(f"{path}:{problem.line}:{problem.column}: {problem.desc}{rule}")
    return problems


def _baseline_problem(root: Path) -> str | None:
    """Why the baseline cannot be trusted, or None.

    detect-secrets logs "Unable to load plugins!" and then finds nothing at all when a
    plugin file named in the baseline is missing, so that is checked here first.
    """
    path = root / BASELINE
    regenerate = (
        "regenerate it with "
        "`.venv/bin/python -m lgs_analytics.devtools.lint_checks secrets-baseline`"
    )
    try:
        baseline = json.loads(path.read_text())
    except (OSError, ValueError):
        return f"error: {BASELINE} is missing or not JSON in {root}; {regenerate}."
    for plugin in baseline.get("plugins_used", []):
        plugin_file = plugin.get("path", "").removeprefix("file://")
        if plugin_file and not (root / plugin_file).is_file():
            return (
                f"error: {BASELINE} names the plugin file {plugin_file}, which does not"
                f" exist (moved?); {regenerate}."
            )
    unaudited = sorted(
        name
        for name, results in baseline.get("results", {}).items()
        if any(result.get("is_secret") is not False for result in results)
    )
    if unaudited:
        return (
            f"error: {BASELINE} accepts possible secrets in {', '.join(unaudited)};"
            " remove them from the files (or mark a false positive with an inline"
            " `pragma: allowlist secret` comment), then regenerate the baseline."
        )
    return None


def check_secrets(names: list[str], root: Path) -> int:
    """detect-secrets' hook on ``names`` against the baseline: 0 when no new secret."""
    problem = _baseline_problem(root)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    from detect_secrets.pre_commit_hook import main as detect_secrets_hook

    status = detect_secrets_hook(["--baseline", BASELINE, *names])
    if status:
        print(
            "secret scan failed: see detect-secrets' report above (each Location is a"
            " file:line); read a credential from an environment variable instead"
            " (see profiles.yml.example).",
            file=sys.stderr,
        )
    return status


def write_secrets_baseline(root: Path) -> int:
    """Regenerate the baseline: detect-secrets scan --slim with the project's plugins."""
    from detect_secrets.main import main as detect_secrets_main

    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        status = detect_secrets_main(
            [
                "scan",
                "--slim",
                "--plugin",
                PLUGIN_FILE,
                "--exclude-files",
                SCAN_EXCLUDED,
            ]
        )
    if status:
        return status
    baseline = json.loads(output.getvalue())
    # detect-secrets writes the plugin file's absolute path; a clone elsewhere needs it
    # relative to the repository root (the hook runs there).
    for plugin in baseline["plugins_used"]:
        if "path" in plugin:
            plugin["path"] = f"file://{PLUGIN_FILE}"
    (root / BASELINE).write_text(json.dumps(baseline, indent=2) + "\n")
    print(f"wrote {BASELINE}; review `git diff {BASELINE}` and commit it")
    problem = _baseline_problem(root)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    root = Path.cwd()
    if args[0] == "secrets-baseline":
        return write_secrets_baseline(root)
    if args[0] == "secrets":
        names = args[1:] or [str(path.relative_to(root)) for path in tracked_files(root)]
        return check_secrets(names, root)
    files = [Path(name).resolve() for name in args[1:]] or tracked_files(root)
    problems = check_yaml(files)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
