"""What a landing folder holds, and whether a landing path has ever held landed data.

A landing folder holds data files (every name Spark reads: not starting with ``_`` or
``.``) and at most one ``_manifest.json``, which says where they came from:

- ``lgs generate`` writes the generator's manifest (``generator_version``, ``seed``): the
  files are synthetic.
- ``lgs import`` keeps an import ledger (``"kind": "import_ledger"``, one entry per import;
  an importer before the ledger wrote ``source_files`` and ``layouts``): the files are a
  shop's data.
- Files copied in by hand have no manifest: they are a shop's data too.

Part files can be deleted, and so can the manifest with them, so "this landing path has
held landed data" is also recorded outside the landing folder, in the state folder's
``landing_history.json`` (written by ``lgs import`` and by every ``lgs build`` that reads
data that is not synthetic). ``lgs build`` generates synthetic rows only into a landing
path that has never held landed data; ``lgs generate`` never writes into a folder holding
landed files.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from lgs_analytics.errors import UserError
from lgs_analytics.landing.raw_layout import MANIFEST_NAME

HISTORY_NAME = "landing_history.json"
LEDGER_KIND = "import_ledger"
SYNTHETIC = "synthetic"
IMPORTED = "imported"
# The generator's own names (part-NNNNN.csv / .parquet): a killed `lgs generate` leaves
# them without a manifest, and generating again may remove them.
_GENERATOR_PART = re.compile(r"part-\d{5}\.(csv|parquet)")


def data_files(folder: Path) -> list[Path]:
    """Data files of a landing folder: Spark ignores names starting with `_` or `.`."""
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and not path.name.startswith(("_", "."))
    )


def read_manifest(folder: Path) -> dict | None:
    """The folder's ``_manifest.json``, or None when there is none (or it is not JSON)."""
    try:
        content = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return content if isinstance(content, dict) else None


def manifest_kind(manifest: dict | None) -> str | None:
    """``synthetic`` (the generator's), ``imported`` (the importer's) or None (unknown)."""
    if not manifest:
        return None
    if "generator_version" in manifest:
        return SYNTHETIC
    if manifest.get("kind") == LEDGER_KIND or "source_files" in manifest:
        return IMPORTED
    return None


def refuse_to_mix_synthetic(out: Path) -> None:
    """Stop `lgs generate` from writing into a folder that holds landed (real) files."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} is a file, not a folder: name a folder to write into.")
    files = data_files(out)
    if not files:
        return
    manifest = read_manifest(out)
    kind = manifest_kind(manifest)
    if kind == IMPORTED:
        raise UserError(
            f"{out} holds imported data ({len(files)} file(s), e.g. {files[0].name}) and "
            "synthetic rows are never mixed with it: generate into another folder with "
            "`--out`, or move the imported files away first."
        )
    listed = set(manifest.get("files", [])) if kind == SYNTHETIC else set()
    foreign = [
        path
        for path in files
        if path.relative_to(out).as_posix() not in listed
        and not _GENERATOR_PART.fullmatch(path.name)
    ]
    if foreign:
        raise UserError(
            f"{out} holds {len(foreign)} data file(s) that `lgs generate` did not write "
            f"(e.g. {foreign[0].name}) and synthetic rows are never mixed with landed data: "
            "generate into another folder with `--out`, or move those files away first."
        )


def _history_path(state: Path) -> Path:
    return state / HISTORY_NAME


def landed_history(state: Path) -> dict[str, dict]:
    """Landing paths that have held landed data, by absolute path."""
    try:
        content = json.loads(_history_path(state).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    paths = content.get("landing_paths") if isinstance(content, dict) else None
    return paths if isinstance(paths, dict) else {}


def held_landed_data(state: Path, landing: Path) -> dict | None:
    """What the state folder recorded about ``landing`` having held landed data, or None."""
    return landed_history(state).get(str(landing.resolve()))


def remember_landed(state: Path, landing: Path, by: str) -> None:
    """Record, outside the landing folder, that ``landing`` now holds landed data."""
    history = landed_history(state)
    key = str(landing.resolve())
    now = utc_now()
    entry = history.get(key) or {"first_landed_at": now}
    entry.update({"last_seen_at": now, "by": by})
    history[key] = entry
    state.mkdir(parents=True, exist_ok=True)
    write_json(_history_path(state), {"landing_paths": history})


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write_json(path: Path, content: dict) -> None:
    """Write atomically and durably: a reader or a crash never sees half a file."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(content, indent=2) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
