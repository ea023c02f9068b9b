"""Repository checks run by `make lint` and pre-commit: YAML (yamllint) and a secret scan.

The YAML check is yamllint's, with the rules that change what a file means: syntax errors
and duplicate keys (PyYAML silently keeps the last of two equal keys, so a test or a
setting could vanish without a word). Style is left to the authors.

The secret scan is deliberately simple and offline: it looks for the credential shapes this
project could leak (Databricks tokens, cloud keys, private keys, literal passwords in
profiles) in every tracked text file.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from yamllint import linter
from yamllint.config import YamlLintConfig

# Syntax errors are always reported; of the rules, only the ones about meaning.
YAMLLINT_CONFIG = "rules:\n  key-duplicates: enable\n"
SKIP_DIRS = {".git", ".venv", "target", "dbt_packages", "logs", ".lgs", ".lgs-test", ".lgs-lint"}

SECRET_PATTERNS = {
    "Databricks personal access token": re.compile(r"\bdapi[0-9a-f]{32}(-\d)?\b"),
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Azure storage account key": re.compile(r"AccountKey=[A-Za-z0-9+/=]{40,}"),
    "literal password or token in YAML": re.compile(
        r"^\s*(password|token|secret|client_secret)\s*:\s*(?![\"']?\{\{)(?![\"']?\s*$)[\"']?[^\s\"'#]{4,}",
        re.IGNORECASE | re.MULTILINE,
    ),
}


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


def scan_text(text: str) -> list[str]:
    """Names of the secret patterns found in ``text``."""
    return [name for name, pattern in SECRET_PATTERNS.items() if pattern.search(text)]


def check_secrets(files: list[Path]) -> list[str]:
    problems = []
    for path in files:
        if path.suffix in {".png", ".jpg", ".parquet", ".xlsx", ".gz", ".jar"}:
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        for name in scan_text(text):
            problems.append(f"{path}: looks like a {name}; use an environment variable")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    root = Path.cwd()
    files = [Path(name).resolve() for name in args[1:]] or tracked_files(root)
    check = {"yaml": check_yaml, "secrets": check_secrets}[args[0]]
    problems = check(files)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
