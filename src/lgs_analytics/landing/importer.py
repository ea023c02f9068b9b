"""Import the real UCI Online Retail files into the raw landing layout of the generator.

Accepted inputs: the Online Retail II workbook (sheets ``Year 2009-2010`` and
``Year 2010-2011``, read in workbook order), its CSV export, and the older Online Retail (I)
layout (``InvoiceNo ... UnitPrice, CustomerID``, dates like ``12/1/2010 8:26``) as CSV or
workbook. The layout is recognised from the header. Rows are written unchanged in meaning
and in file order -- no row is dropped or deduplicated, the pipeline does that -- in exactly
the generator's CSV dialect, so everything downstream sees one format.

What a second import does: it **appends**. A shop lands next month's file and expects it
added to history, so every import writes new files named for it (``import-0002-part-00000
.csv``: never a name an earlier import used) and leaves the landed files as they are, bytes
and modification times (the incremental staging reads only the new files). The landing
folder's ``_manifest.json`` is a ledger of every import: its source files with their size
and sha256, the layout of each sheet or file, rows, the files written and the time.
Importing a file whose content (sha256) an earlier import landed, and whose files are
still there, is refused: it would only add exact duplicates. ``replace=True``
(``lgs import --replace``) is the explicit way to replace everything landed (the ledger
keeps the replaced imports, marked ``replaced_by``); staging still holds the replaced
files' rows, so the next build must be ``lgs build --full-refresh``. A folder holding
synthetic data (the generator's manifest) is never appended to: only ``--replace``
imports into it.

An import is a transaction. Every input is checked first (it exists, is a file, can be
read, is not empty), then read and converted in full, before the landing folder is
touched. The folder's next version is built beside it, in ``.<name>.lgs-import-new``
(same parent, so same file system): hard links to every file that stays (same inode, so
the same bytes and modification time, and no copy), the new part files, the new ledger,
all fsynced. One ``renameat2(RENAME_EXCHANGE)`` then swaps the two folders atomically and
the previous version, now at the sibling's name, is removed. A failure at any point before
the swap leaves the landing folder untouched and the error says so; a reader, a crash or a
kill sees the old folder or the new one, never a mix, and no landed file is ever written
to. Renaming each new file into the folder instead was not chosen: a crash half-way would
leave part of an import landed without its ledger entry, and the next build would read
it. Where the kernel or file system has no ``RENAME_EXCHANGE``, two renames are used
(folder to ``.<name>.lgs-import-old``, new version to folder); a crash between them leaves
the folder missing and its old version whole, which the next ``lgs import`` (or
``lgs build``) puts back. Where hard links are not supported, kept files are copied with
their modification times. A lock file beside the folder keeps two imports apart.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import io
import math
import os
import re
import shutil
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

from lgs_analytics.errors import UserError
from lgs_analytics.landing.folders import (
    IMPORTED,
    LEDGER_KIND,
    SYNTHETIC,
    data_files,
    manifest_kind,
    read_manifest,
    remember_landed,
    utc_now,
    write_json,
)
from lgs_analytics.landing.part_writer import CsvPartWriter
from lgs_analytics.landing.raw_layout import (
    DATE_FORMAT,
    LEGACY_COLUMNS,
    LEGACY_DATE_FORMAT,
    MANIFEST_NAME,
    RAW_COLUMNS,
)
from lgs_analytics.synthetic.campaigns import ASSIGNMENT_COLUMNS
from lgs_analytics.synthetic.raw_text import join_csv_fields, line_blocks

ONLINE_RETAIL_II = "online_retail_ii"
ONLINE_RETAIL = "online_retail"
CAMPAIGN_ASSIGNMENTS = "campaign_assignments"
_LAYOUTS = {RAW_COLUMNS: ONLINE_RETAIL_II, LEGACY_COLUMNS: ONLINE_RETAIL}
_HEADERS = {CAMPAIGN_ASSIGNMENTS: ",".join(ASSIGNMENT_COLUMNS) + "\n"}
_DATE_FORMATS = {ONLINE_RETAIL_II: DATE_FORMAT, ONLINE_RETAIL: LEGACY_DATE_FORMAT}
_EXCEL_SUFFIXES = (".xlsx", ".xlsm")  # openpyxl; the real files are .xlsx
_CHUNK_ROWS = 2_000_000
_IMPORT_NAME = re.compile(r"import-(\d+)-")
_SHOWN_ERROR = 200  # characters of a reader's own message kept in the sentence


class _RefusedError(UserError):
    """A complete sentence that already says the landing folder is unchanged."""


class _NoExchangeError(Exception):
    """The kernel or file system cannot swap two folders in one rename."""


@dataclass(frozen=True)
class _Source:
    path: Path
    size: int
    sha256: str


def import_real(
    inputs: list[str | Path],
    out_dir: str | Path,
    *,
    replace: bool = False,
    state_dir: str | Path | None = None,
    source: str = ONLINE_RETAIL_II,
) -> dict:
    """Land real Online Retail files in ``out_dir`` as one transaction; the import's entry.

    Appends by default, replaces every landed file with ``replace``; records the landing
    path in ``state_dir``'s landing history when given (see the module docstring).
    ``source`` ``campaign_assignments`` lands CRM exports of campaign assignments
    (`source_of`) the same way, in the campaign source's folder.
    """
    landing = Path(os.path.realpath(out_dir))
    if not inputs:
        raise UserError("Name at least one workbook or CSV file to import.")
    if landing.exists() and not landing.is_dir():
        raise _refused(f"{landing} is a file, not a landing folder (name a folder)", landing)
    sources = [_check_input(Path(path), landing) for path in inputs]
    _refuse_repeated_inputs(sources, landing)
    try:
        landing.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        problem = f"the folder {landing.parent} cannot be created ({_shown(error)})"
        raise _refused(problem, landing) from error
    with _import_lock(landing):
        _recover(landing)
        ledger = _current_ledger(landing, sources, replace)
        staging = _sibling(landing, "new")
        try:
            entry, linked = _stage_import(sources, staging, ledger, landing, replace, source)
            if _listing(landing) != linked:
                raise _refused(
                    f"files in {landing} changed while the import was written (wait until "
                    "nothing else writes there and run the import again)",
                    landing,
                )
            _swap(staging, landing)
        except UserError:
            raise
        except OSError as error:
            raise _refused(f"writing the import failed ({_shown(error)})", landing) from error
        except BaseException as error:
            error.add_note(f"Nothing was imported: {landing} is unchanged.")
            raise
        finally:
            _remove_tree(staging)
    if state_dir is not None:
        try:
            remember_landed(Path(state_dir), landing, by="lgs import")
        except OSError as error:
            print(f"warning: the landing history was not updated ({error})", file=sys.stderr)
    return entry


def recover_interrupted_import(landing: Path) -> None:
    """Put back a landing folder that an import killed between its two renames left aside
    (only where ``RENAME_EXCHANGE`` is missing), and remove an import's leftovers."""
    landing = Path(os.path.realpath(landing))
    if not any(_sibling(landing, role).exists() for role in ("new", "old")):
        return  # the common case: nothing to do, nothing written (not even the lock file)
    with contextlib.suppress(UserError, OSError), _import_lock(landing):
        _recover(landing)


def source_of(path: str | Path) -> str:
    """``campaign_assignments`` for a CSV file whose header is the CRM export's, else
    ``online_retail_ii`` (the Online Retail importer then checks the layout)."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline(4096).decode("utf-8-sig", errors="replace")
    except OSError:
        return ONLINE_RETAIL_II
    columns = tuple(column.strip().strip('"') for column in first.strip().split(","))
    return CAMPAIGN_ASSIGNMENTS if columns == ASSIGNMENT_COLUMNS else ONLINE_RETAIL_II


def detect_layout(columns: list[str], source: str) -> str:
    """``online_retail_ii`` or ``online_retail`` from a header, else a one-sentence UserError."""
    found = tuple(str(column).strip() for column in columns)
    if found in _LAYOUTS:
        return _LAYOUTS[found]
    if found == ASSIGNMENT_COLUMNS:
        raise UserError(
            f"{source} is a CRM export of campaign assignments: import it on its own, not "
            "together with Online Retail files."
        )
    raise UserError(
        f"{source} has columns {list(found)} but a file to import needs the header "
        f"{list(RAW_COLUMNS)} (Online Retail II), {list(LEGACY_COLUMNS)} (Online Retail) "
        f"or {list(ASSIGNMENT_COLUMNS)} (a CRM export of campaign assignments)."
    )


def _read_sources(path: Path) -> Iterator[tuple[str, pd.DataFrame, str, str | None]]:
    """(source name, frame of raw values, layout, text encoding) per sheet or file; a
    sheet without a single cell is skipped."""
    if path.suffix.lower() in _EXCEL_SUFFIXES:
        sheets = pd.read_excel(path, sheet_name=None, dtype=object, engine="openpyxl")
        for sheet, frame in sheets.items():
            if frame.empty and len(frame.columns) == 0:
                continue
            source = f"{path.name}#{sheet}"
            yield source, frame, detect_layout(list(frame.columns), source), None
        return
    text, encoding = _decode(path.read_bytes())
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    yield path.name, frame, detect_layout(list(frame.columns), path.name), encoding


def _decode(raw: bytes) -> tuple[str, str]:
    """UTF-8 when valid; the public Online Retail (I) CSV copies are Windows-1252/latin-1."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        try:
            return raw.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            return raw.decode("latin-1"), "latin-1"


def _read_assignments(path: Path) -> tuple[str, pd.DataFrame, str, str]:
    """A CRM export of campaign assignments, every field as text, unchanged (bad rows are
    quarantined by staging, never dropped here)."""
    if path.suffix.lower() in _EXCEL_SUFFIXES:
        raise UserError(f"{path.name} is a workbook: export the campaign assignments as CSV.")
    text, encoding = _decode(path.read_bytes())
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    found = tuple(str(column).strip() for column in frame.columns)
    if found != ASSIGNMENT_COLUMNS:
        raise UserError(
            f"{path.name} has columns {list(found)} but a CRM export of campaign "
            f"assignments needs {list(ASSIGNMENT_COLUMNS)}."
        )
    return path.name, frame, CAMPAIGN_ASSIGNMENTS, encoding


def to_raw_csv_lines(frame: pd.DataFrame, layout: str) -> pa.Array:
    """The rows as CSV lines (no header) in the generator's Online Retail II dialect."""
    if layout == CAMPAIGN_ASSIGNMENTS:
        return join_csv_fields([_convert_distinct(frame[c], _text) for c in frame.columns])
    date_format = _DATE_FORMATS[layout]
    converters = (
        _text,
        _text,
        _description,
        _integer,
        lambda value: _date(value, date_format),
        _float,
        _float,
        _text,
    )
    columns = [
        _convert_distinct(frame[column], convert)
        for column, convert in zip(frame.columns, converters, strict=True)
    ]
    return join_csv_fields(columns)


def _convert_distinct(values: pd.Series, convert: Callable[[object], str]) -> pa.Array:
    """Convert each distinct value once (a million rows hold a few thousand values)."""
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    text = pa.array([convert(value) for value in distinct], pa.string())
    return text.take(pa.array(codes))


def _text(value: object) -> str:
    """Strings as they are; whole numbers (Excel stores 489434 as a number) without ``.0``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _description(value: object) -> str:
    """Line breaks become blanks: one record per line keeps Spark (multiLine=false) exact."""
    text = _text(value)
    if "\n" in text or "\r" in text:
        return " ".join(text.splitlines())
    return text


def _integer(value: object) -> str:
    """``6``, ``-12``; a value that is not a whole number is kept as written (quarantined)."""
    text = _text(value)
    try:
        number = float(text.strip())
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def _float(value: object) -> str:
    """Prices and customer ids as pandas writes floats: ``2.55``, ``15.0``, ``13085.0``."""
    text = _text(value)
    try:
        number = float(text.strip())
    except ValueError:
        return text
    return repr(number) if math.isfinite(number) else text


def _date(value: object, text_format: str) -> str:
    """``2009-12-01 07:45:00`` from an Excel datetime or the layout's text format."""
    if isinstance(value, datetime):  # includes pandas.Timestamp
        return value.strftime(DATE_FORMAT)
    text = _text(value)
    try:
        return datetime.strptime(text.strip(), text_format).strftime(DATE_FORMAT)
    except ValueError:
        return text


# ---------------------------------------------------------------- checks before anything


def _refused(problem: str, landing: Path) -> _RefusedError:
    """One sentence: the problem with its fix, and that the landing folder is unchanged."""
    return _RefusedError(f"{problem.rstrip('.')}; nothing was imported and {landing} is unchanged.")


def _shown(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    if len(text) > _SHOWN_ERROR:
        text = text[:_SHOWN_ERROR] + "…"
    return text


def _check_input(path: Path, landing: Path) -> _Source:
    """The file exists, is a regular file that can be read whole and is not empty."""
    if not path.exists():
        raise _refused(f"{path} does not exist (check its name and folder)", landing)
    if path.is_dir():
        raise _refused(
            f"{path} is a folder, not a file (name the workbook or CSV files in it)", landing
        )
    if not path.is_file():
        raise _refused(f"{path} is not a regular file (name a workbook or CSV file)", landing)
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
                size += len(block)
    except OSError as error:
        reason = error.strerror or _shown(error)
        problem = f"{path} cannot be read ({reason}: check its permissions)"
        raise _refused(problem, landing) from error
    if size == 0:
        raise _refused(f"{path} is empty (0 bytes: check that it is the right file)", landing)
    if path.suffix.lower() == ".xls":
        raise _refused(
            f"{path} is an old Excel (.xls) workbook (save it as .xlsx or CSV and import that)",
            landing,
        )
    return _Source(path=path, size=size, sha256=digest.hexdigest())


def _refuse_repeated_inputs(sources: list[_Source], landing: Path) -> None:
    seen: dict[str, Path] = {}
    for source in sources:
        first = seen.setdefault(source.sha256, source.path)
        if first is not source.path:
            raise _refused(
                f"{source.path} has the same content as {first} (sha256 "
                f"{source.sha256[:12]}…), and importing both would only add exact duplicates "
                "(name it once)",
                landing,
            )


def _current_ledger(landing: Path, sources: list[_Source], replace: bool) -> dict:
    """The landing folder's ledger (a new one, or one converted from an importer before the
    ledger); refuses to mix real rows into synthetic data and to land a file twice."""
    manifest = read_manifest(landing)
    kind = manifest_kind(manifest)
    landed = data_files(landing)
    if kind == SYNTHETIC and landed and not replace:
        raise _refused(
            f"{landing} holds synthetic data written by `lgs generate` ({len(landed)} "
            "file(s)) and real rows are never mixed with it (run the import again with "
            "--replace to replace the synthetic files with yours)",
            landing,
        )
    if kind != IMPORTED:
        return {"format": "csv", "kind": LEDGER_KIND, "files": [], "imports": []}
    ledger = manifest if manifest.get("kind") == LEDGER_KIND else _legacy_ledger(manifest)
    if replace:
        return ledger
    present = {path.relative_to(landing).as_posix() for path in landed}
    for entry in ledger["imports"]:
        if "replaced_by" in entry or not present.intersection(entry.get("files", [])):
            continue
        for earlier in entry.get("sources", []):
            for source in sources:
                if earlier.get("sha256") == source.sha256:
                    raise _refused(
                        f"{source.path} has the same content (sha256 {source.sha256[:12]}…) "
                        f"as {earlier.get('path')}, landed in {landing} by import "
                        f"{entry['import']} at {entry.get('imported_at')}, and importing it "
                        "again would only add exact duplicates (use --replace to replace "
                        "everything landed with these files)",
                        landing,
                    )
    return ledger


def _legacy_ledger(manifest: dict) -> dict:
    """The one import an importer before the ledger recorded, as ledger entry 0."""
    entry = {
        "import": 0,
        "imported_at": None,
        "mode": "replace",
        "sources": [{"path": path, "sha256": None} for path in manifest["source_files"]],
        "layouts": manifest.get("layouts", {}),
        "encodings": manifest.get("encodings", {}),
        "rows": manifest.get("lines"),
        "files": manifest.get("files", []),
    }
    return {"format": "csv", "kind": LEDGER_KIND, "files": entry["files"], "imports": [entry]}


# ---------------------------------------------------------------- the new version, beside


def _next_import_number(ledger: dict, landing: Path) -> int:
    """One more than any import the ledger or a file name in the folder knows of."""
    numbers = [int(entry.get("import") or 0) for entry in ledger["imports"]]
    if landing.is_dir():
        for path in landing.iterdir():
            match = _IMPORT_NAME.match(path.name)
            if match:
                numbers.append(int(match.group(1)))
    return max(numbers, default=0) + 1


def _stage_import(
    sources: list[_Source],
    staging: Path,
    ledger: dict,
    landing: Path,
    replace: bool,
    source_kind: str = ONLINE_RETAIL_II,
) -> tuple[dict, set]:
    """Write the landing folder's next version into ``staging``: the new ledger entry, and
    the landing folder's listing when its files were linked (a file landed by hand after
    that would be lost by the swap, so the caller compares)."""
    staging.mkdir()
    number = _next_import_number(ledger, landing)
    writer = CsvPartWriter(
        staging,
        _CHUNK_ROWS,
        prefix=f"import-{number:04d}-",
        durable=True,
        **({"header": _HEADERS[source_kind]} if source_kind in _HEADERS else {}),
    )
    layouts: dict[str, str] = {}
    encodings: dict[str, str] = {}
    described = []
    for source in sources:
        rows = 0
        for name, frame, layout, encoding in _read_input(source.path, landing, source_kind):
            layouts[name] = layout
            if encoding:
                encodings[name] = encoding
            data, ends = line_blocks(to_raw_csv_lines(frame, layout))
            writer.write(data, ends)
            rows += len(frame)
        if rows == 0:
            raise _refused(
                f"{source.path} holds a header and no rows (check that it is the right file)",
                landing,
            )
        described.append(
            {
                "path": str(source.path.resolve()),
                "bytes": source.size,
                "sha256": source.sha256,
                "rows": rows,
            }
        )
    entry = {
        "import": number,
        "imported_at": utc_now(),
        "mode": "replace" if replace else "append",
        "sources": described,
        "layouts": layouts,
        "encodings": encodings,
        "rows": sum(source["rows"] for source in described),
        "files": writer.close(),
    }
    linked = _listing(landing)
    _link_kept(landing, staging, replace)
    imports = [dict(earlier) for earlier in ledger["imports"]]
    if replace:
        for earlier in imports:
            earlier.setdefault("replaced_by", number)
    imports.append(entry)
    kept = {path.relative_to(staging).as_posix() for path in data_files(staging)}
    files = [
        name
        for earlier in imports
        if "replaced_by" not in earlier
        for name in earlier.get("files", [])
        if name in kept
    ]
    ledger = {"format": "csv", "kind": LEDGER_KIND, "files": files, "imports": imports}
    write_json(staging / MANIFEST_NAME, ledger)
    if landing.is_dir():
        os.chmod(staging, stat.S_IMODE(landing.stat().st_mode))
    _fsync_folder(staging)
    return entry, linked


def _listing(folder: Path) -> set[tuple[str, int, int, int]]:
    """Every entry under the folder: path, inode, size, modification time."""
    if not folder.is_dir():
        return set()
    entries = set()
    for path in folder.rglob("*"):
        info = path.lstat()
        entries.add(
            (path.relative_to(folder).as_posix(), info.st_ino, info.st_size, info.st_mtime_ns)
        )
    return entries


def _read_input(
    path: Path, landing: Path, source_kind: str = ONLINE_RETAIL_II
) -> list[tuple[str, pd.DataFrame, str, str | None]]:
    """Every sheet or the file, read whole; a reader's failure as one sentence."""
    excel = path.suffix.lower() in _EXCEL_SUFFIXES
    try:
        if source_kind == CAMPAIGN_ASSIGNMENTS:
            return [_read_assignments(path)]
        return list(_read_sources(path))
    except UserError as error:
        raise _refused(str(error), landing) from error
    except Exception as error:  # openpyxl, zipfile and pandas raise many kinds
        kind = "an Excel workbook" if excel else "CSV text"
        raise _refused(
            f"{path} could not be read as {kind}, so check that it is the right file, saved "
            f"whole ({type(error).__name__}: {_shown(error)})",
            landing,
        ) from error


def _link_kept(landing: Path, staging: Path, replace: bool) -> None:
    """Hard-link what stays into the new version: every entry but the ledger, and with
    ``replace`` only the names Spark does not read (``_archive/``, ``.keep``)."""
    if not landing.is_dir():
        return
    for entry in os.scandir(landing):
        if entry.name == MANIFEST_NAME:
            continue
        if replace and not entry.name.startswith(("_", ".")):
            continue
        _link_tree(Path(entry.path), staging / entry.name)


def _link_tree(source: Path, target: Path) -> None:
    if source.is_symlink():
        os.symlink(os.readlink(source), target)
    elif source.is_dir():
        target.mkdir()
        for entry in os.scandir(source):
            _link_tree(Path(entry.path), target / entry.name)
        shutil.copystat(source, target)
    else:
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)  # keeps the modification time the watermark reads


# ---------------------------------------------------------------- the swap


def _sibling(landing: Path, role: str) -> Path:
    return landing.parent / f".{landing.name}.lgs-import-{role}"


@contextlib.contextmanager
def _import_lock(landing: Path) -> Iterator[None]:
    lock = os.open(_sibling(landing, "lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _refused(
                f"another `lgs import` is writing into {landing} (wait for it to finish, "
                "then run this import again)",
                landing,
            ) from None
        yield
    finally:
        os.close(lock)


def _recover(landing: Path) -> None:
    """Under the lock: put back a folder left aside between two renames, drop leftovers."""
    retired = _sibling(landing, "old")
    if not landing.exists() and retired.is_dir():
        os.rename(retired, landing)
        _fsync_folder(landing.parent)
    for leftover in (_sibling(landing, "new"), retired):
        _remove_tree(leftover)


def _swap(staging: Path, landing: Path) -> None:
    """Make ``staging`` the landing folder; the previous version ends at ``staging``."""
    if not landing.exists():
        os.rename(staging, landing)
    else:
        try:
            _exchange(staging, landing)
        except _NoExchangeError:
            retired = _sibling(landing, "old")
            os.rename(landing, retired)
            try:
                os.rename(staging, landing)
            except BaseException:
                os.rename(retired, landing)
                raise
            os.rename(retired, staging)
    with contextlib.suppress(OSError):  # swapped already: the import is done either way
        _fsync_folder(landing.parent)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(first: Path, second: Path) -> None:
    """Swap two paths in one atomic rename (Linux renameat2), or raise _NoExchangeError."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        raise _NoExchangeError from None
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    renameat2.argtypes += [ctypes.c_uint]
    result = renameat2(
        _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
    )
    if result != 0:
        code = ctypes.get_errno()
        if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise _NoExchangeError
        raise OSError(code, os.strerror(code), str(second))


def _fsync_folder(folder: Path) -> None:
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
