"""Documentation coverage: every model, seed, source, macro and column is documented.

Reads `target/manifest.json` (what the yml files say) and `target/catalog.json` (what the
warehouse holds) written by `dbt docs generate`, and reports, one line per problem:

- a model (SQL or Python), seed, snapshot, source or project macro without a description;
- a column of a model, seed, snapshot or source without a description;
- a column documented in yml that the relation does not have (docs that drifted);
- a column the relation has that the yml does not document.

Run it after `dbt docs generate`: ``python -m lgs_analytics.devtools.docs_check`` exits 0 when
everything is documented, 1 with the problems otherwise, 2 when the artifacts are missing.
``--manifest-only`` checks the descriptions alone from a `dbt parse` manifest, with no
warehouse: the gate of `make lint` (scripts/lint.sh).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Relations people query and whose columns the catalog knows.
DOCUMENTED_NODE_TYPES = ("model", "seed", "snapshot")
# Materializations that never exist in the warehouse, so the catalog cannot know them.
UNMATERIALIZED = ("ephemeral",)
DEFAULT_PROJECT = "lgs_analytics"


@dataclass(frozen=True, order=True)
class Problem:
    """One documentation defect, printable as one line."""

    unique_id: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f" ({self.path})" if self.path else ""
        return f"{self.unique_id}{where}: {self.message}"


def _is_blank(text: str | None) -> bool:
    return not (text or "").strip()


def _project_name(manifest: Mapping[str, Any]) -> str:
    return (manifest.get("metadata") or {}).get("project_name") or DEFAULT_PROJECT


def _node_path(node: Mapping[str, Any]) -> str:
    return str(node.get("original_file_path") or "")


def _column_problems(
    unique_id: str,
    node: Mapping[str, Any],
    catalog_entry: Mapping[str, Any] | None,
    kind: str,
) -> Iterable[Problem]:
    path = _node_path(node)
    documented = node.get("columns") or {}
    for name, column in documented.items():
        if _is_blank(column.get("description")):
            yield Problem(unique_id, path, f"column '{name}' has no description")
    if catalog_entry is None:
        return
    # Spark (and the Hive metastore) resolve column names case-insensitively and may store
    # them lower-cased, so `Customer ID` in yml and `customer id` in the catalog are one column.
    documented_names = {str(name).lower(): name for name in documented}
    actual_names = {str(name).lower(): name for name in catalog_entry.get("columns") or {}}
    for key, name in documented_names.items():
        if key not in actual_names:
            yield Problem(
                unique_id,
                path,
                f"column '{name}' is documented but the {kind} does not produce it "
                "(not in catalog.json)",
            )
    for key, name in actual_names.items():
        if key not in documented_names:
            yield Problem(
                unique_id, path, f"column '{name}' is produced by the {kind} but not documented"
            )


def _relation_problems(
    unique_id: str,
    node: Mapping[str, Any],
    catalog_entries: Mapping[str, Any] | None,
    kind: str,
) -> Iterable[Problem]:
    path = _node_path(node)
    if _is_blank(node.get("description")):
        yield Problem(unique_id, path, f"{kind} has no description")
    if catalog_entries is None:  # descriptions only
        yield from _column_problems(unique_id, node, None, kind)
        return
    materialized = (node.get("config") or {}).get("materialized")
    catalog_entry = catalog_entries.get(unique_id)
    if catalog_entry is None and materialized not in UNMATERIALIZED:
        # Without the catalog the column comparison cannot run: say so rather than pass.
        yield Problem(
            unique_id,
            path,
            f"{kind} is not in catalog.json: build it, then run `dbt docs generate`",
        )
    yield from _column_problems(unique_id, node, catalog_entry, kind)


def check_docs(manifest: Mapping[str, Any], catalog: Mapping[str, Any] | None) -> list[Problem]:
    """Every documentation problem of the manifest's own project, sorted by node; without a
    catalog, only the missing descriptions."""
    project = _project_name(manifest)
    problems: list[Problem] = []
    catalog_nodes = None if catalog is None else catalog.get("nodes") or {}
    catalog_sources = None if catalog is None else catalog.get("sources") or {}

    for unique_id, node in (manifest.get("nodes") or {}).items():
        kind = node.get("resource_type")
        if kind in DOCUMENTED_NODE_TYPES and node.get("package_name") == project:
            language = node.get("language")
            label = f"{language} model" if kind == "model" and language == "python" else kind
            problems += _relation_problems(unique_id, node, catalog_nodes, label)

    for unique_id, source in (manifest.get("sources") or {}).items():
        if source.get("package_name") == project:
            problems += _relation_problems(unique_id, source, catalog_sources, "source")

    # Only this project's macros: dbt's own and installed packages' are documented upstream.
    for unique_id, macro in (manifest.get("macros") or {}).items():
        if macro.get("package_name") == project and _is_blank(macro.get("description")):
            problems.append(
                Problem(
                    unique_id,
                    str(macro.get("original_file_path") or ""),
                    "macro has no description",
                )
            )
    return sorted(problems)


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    """Print one line per documentation problem; 0 when none, 1 when some, 2 when no artifacts."""
    parser = argparse.ArgumentParser(
        prog="python -m lgs_analytics.devtools.docs_check",
        description="Fail when a model, seed, source, macro or column is undocumented.",
    )
    parser.add_argument(
        "--target-dir",
        type=Path,
        help="folder holding manifest.json and catalog.json (default: the project's target/)",
    )
    parser.add_argument(
        "--manifest-only",
        action="store_true",
        help="check the descriptions alone, from manifest.json (dbt parse), no catalog",
    )
    args = parser.parse_args(argv)
    target_dir = args.target_dir
    if target_dir is None:
        from lgs_analytics.runtime.paths import ProjectPaths

        target_dir = ProjectPaths.discover().target
    manifest_path = target_dir / "manifest.json"
    catalog_path = target_dir / "catalog.json"
    needed = (manifest_path,) if args.manifest_only else (manifest_path, catalog_path)
    missing = [str(path) for path in needed if not path.is_file()]
    if missing:
        command = "dbt parse" if args.manifest_only else "dbt docs generate"
        print(
            f"docs check: {', '.join(missing)} not found: run `{command}` first.",
            file=sys.stderr,
        )
        return 2
    catalog = None if args.manifest_only else _load(catalog_path)
    problems = check_docs(_load(manifest_path), catalog)
    for problem in problems:
        print(problem)
    if problems:
        print(f"docs check: {len(problems)} problem(s).", file=sys.stderr)
        return 1
    if args.manifest_only:
        print("docs check: every model, seed, source, macro and yml column has a description.")
    else:
        print("docs check: every model, seed, source, macro and column is documented.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
