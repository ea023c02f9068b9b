"""Check landed CSV files before Spark reads them, and refuse bad ones in one sentence each.

The raw source is an external CSV table read with a fixed schema. Spark checks each file's
header against that schema only when a task opens the file, deep inside the first model,
and then fails the whole build with a Java stack trace (`CSV header does not conform to
the schema`). Other mistakes it does not notice at all: a file in a subfolder is silently
not read, a ZIP workbook or a Parquet file is read as garbage text, a gzip file without a
`.gz` name is read compressed. This module looks at the first bytes of every landed file
through Hadoop's file system (so `abfss://`, `s3a://` and `dbfs:/` work like local folders)
before anything is read, and says what is wrong with which file in one sentence.

The checks themselves are pure functions of a file's name and first bytes, unit-tested per
case; only `scan_landing_path` touches Spark. The data contract (column names, other known
layouts, the hint how to convert them) comes from the project, not from this module.
"""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

# Enough for any header line; a first line longer than this is not a header.
PEEK_BYTES = 64 * 1024
_READ_CHUNK = 1024 * 1024
_SHOWN_CHARACTERS = 80
_BINARY_SIGNATURES = (
    (b"PK\x03\x04", "is a ZIP archive (an Excel workbook?), not CSV text"),
    (b"PAR1", "is a Parquet file, not CSV text"),
    (b"\xd0\xcf\x11\xe0", "is an old Excel (.xls) workbook, not CSV text"),
    (b"\xff\xfe", "is UTF-16 text, not UTF-8"),
    (b"\xfe\xff", "is UTF-16 text, not UTF-8"),
)
_GZIP_SIGNATURE = b"\x1f\x8b"
_UTF8_BOM = "\ufeff"


@dataclass(frozen=True)
class Layout:
    """A header the project knows: the contract's, or another one it can convert."""

    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class LandedFile:
    """One data file as Spark would read it: its path, size and first (decompressed) bytes."""

    path: str
    size: int
    head: bytes
    compressed: bool = False


@dataclass
class Findings:
    """What the check found: refusals stop the build, warnings are only logged."""

    refusals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: int = 0


def is_hidden(name: str) -> bool:
    """Names Spark's file index skips: `_SUCCESS`, `.crc`, `_manifest.json`, copies in flight."""
    return name.startswith(("_", ".")) or name.endswith("._COPYING_")


def _shown(text: str) -> str:
    text = text if len(text) <= _SHOWN_CHARACTERS else text[:_SHOWN_CHARACTERS] + "…"
    return f"`{text}`"


def _names(columns: Iterable[str]) -> str:
    return ", ".join(_shown(name) for name in columns)


def _same(left: str, right: str, case_sensitive: bool) -> bool:
    return left == right if case_sensitive else left.lower() == right.lower()


def _matches(header: Sequence[str], columns: Sequence[str], case_sensitive: bool) -> bool:
    return len(header) == len(columns) and all(
        _same(found, expected, case_sensitive)
        for found, expected in zip(header, columns, strict=True)
    )


def parse_header(line: str) -> list[str]:
    """The fields of a header line, split like Spark's CSV parser (RFC 4180 quotes)."""
    return next(csv.reader([line], quotechar='"', doublequote=True), [])


def header_problem(
    header: Sequence[str],
    contract: Layout,
    other_layouts: Sequence[Layout] = (),
    hint: str = "",
    case_sensitive: bool = False,
) -> str | None:
    """What is wrong with a header, as the end of a sentence, or None when it is the contract.

    Names compare like Spark's header check (case-insensitive unless spark.sql.caseSensitive)
    and otherwise exactly: Spark refuses ` Invoice` with a space as much as `InvoiceNo`.
    """
    columns = contract.columns
    if _matches(header, columns, case_sensitive):
        return None
    then = f": {hint}" if hint else ""
    for layout in other_layouts:
        if _matches(header, layout.columns, case_sensitive):
            return (
                f"has the {layout.name} header ({_names(header)}) instead of the "
                f"{contract.name} one{then}"
            )
    expected = {name.lower(): name for name in columns}
    found = {name.lower(): name for name in header}
    if not set(expected) & set(found):
        return (
            f"has no {contract.name} header: its first line is "
            f"{_shown(','.join(header))}, expected {_shown(','.join(columns))}"
        )
    if len(header) != len(columns):
        missing = [expected[key] for key in expected if key not in found]
        extra = [found[key] for key in found if key not in expected]
        details = [f"missing {_names(missing)}"] if missing else []
        details += [f"extra {_names(extra)}"] if extra else []
        detail = f" ({'; '.join(details)})" if details else ""
        return f"has {len(header)} columns in its header instead of {len(columns)}{detail}"
    folded = [name.lower() for name in header]
    if sorted(folded) == sorted(expected) and folded != list(expected):
        return (
            f"has the {contract.name} columns in another order ({_names(header)}), "
            f"expected {_names(columns)}"
        )
    renamed = [
        f"column {position} is {_shown(got)} where {_shown(want)} is expected"
        for position, (got, want) in enumerate(zip(header, columns, strict=True), start=1)
        if not _same(got, want, case_sensitive)
    ]
    return "has a header that does not match the contract: " + ", ".join(renamed)


def file_problem(
    landed: LandedFile,
    contract: Layout,
    other_layouts: Sequence[Layout] = (),
    hint: str = "",
    case_sensitive: bool = False,
) -> tuple[str, str] | None:
    """("refuse" | "warn", sentence) for one landed file, or None when it is fine."""
    head = landed.head
    if landed.size == 0 or (landed.compressed and not head):
        return "warn", f"Landed file {landed.path} is empty: it adds no rows."
    then = f": {hint}" if hint else ""
    for signature, problem in _BINARY_SIGNATURES:
        if head.startswith(signature):
            return "refuse", f"Landed file {landed.path} {problem}{then}."
    if head.startswith(_GZIP_SIGNATURE) and not landed.compressed:
        return "refuse", (
            f"Landed file {landed.path} is gzip-compressed but its name does not end in "
            "`.gz`, so Spark would read the compressed bytes as text: rename it."
        )
    whole_file = len(head) < PEEK_BYTES
    # Like Spark, the header is the first line that is not blank.
    start, newline = 0, head.find(b"\n")
    while newline >= 0 and not head[start:newline].strip():
        start, newline = newline + 1, head.find(b"\n", newline + 1)
    if newline < 0 and not whole_file:
        return "refuse", (
            f"Landed file {landed.path} has no line break in its first {PEEK_BYTES // 1024} "
            "KiB: it is not a CSV file with a header line."
        )
    first_line = head[start:] if newline < 0 else head[start:newline]
    if not first_line.strip():
        return "warn", f"Landed file {landed.path} holds only blank lines: it adds no rows."
    if b"\x00" in first_line:
        return "refuse", f"Landed file {landed.path} is binary (NUL bytes), not CSV text{then}."
    try:
        line = first_line.decode("utf-8").removeprefix(_UTF8_BOM).removesuffix("\r")
    except UnicodeDecodeError:
        return "refuse", (
            f"Landed file {landed.path} has a header line that is not UTF-8 text: export "
            "the file as UTF-8."
        )
    problem = header_problem(parse_header(line), contract, other_layouts, hint, case_sensitive)
    if problem:
        return "refuse", f"Landed file {landed.path} {problem}."
    rest = b"" if newline < 0 else head[newline + 1 :]
    if whole_file and not rest.strip():
        return "warn", f"Landed file {landed.path} has only a header line: it adds no rows."
    return None


def identical_content_warnings(digests: dict[str, str]) -> list[str]:
    """One warning per group of files with the same content (path → digest)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for path, digest in digests.items():
        groups[digest].append(path)
    warnings = []
    for paths in groups.values():
        if len(paths) > 1:
            first, *copies = sorted(paths)
            warnings.append(
                f"Landed files {', '.join(copies)} have the same content as {first}: their "
                "rows are removed as exact duplicates."
            )
    return sorted(warnings)


def check_files(
    files: Sequence[LandedFile],
    contract: Layout,
    other_layouts: Sequence[Layout] = (),
    hint: str = "",
    case_sensitive: bool = False,
) -> Findings:
    """Findings for a list of landed files (the pure part of the check)."""
    findings = Findings(files=len(files))
    for landed in files:
        verdict = file_problem(landed, contract, other_layouts, hint, case_sensitive)
        if verdict is not None:
            level, sentence = verdict
            (findings.refusals if level == "refuse" else findings.warnings).append(sentence)
    return findings


# -- Hadoop file system access (driver JVM) ------------------------------------------------


class _HadoopFiles:
    """The few Hadoop FileSystem calls the check needs, through the session's JVM."""

    def __init__(self, spark: Any) -> None:
        context = spark.sparkContext
        self._jvm = context._jvm
        self._conf = spark._jsparkSession.sessionState().newHadoopConf()
        self._codecs = self._jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(self._conf)

    def path(self, text: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(text)

    def filesystem(self, path: Any) -> Any:
        return path.getFileSystem(self._conf)

    def _open(self, path: Any) -> tuple[Any, bool]:
        stream = self.filesystem(path).open(path)
        codec = self._codecs.getCodec(path)
        if codec is None:
            return stream, False
        return codec.createInputStream(stream), True

    def head(self, path: Any, size: int) -> tuple[bytes, bool]:
        """The first ``size`` bytes (decompressed for `.gz`, `.bz2`, ...) and whether compressed."""
        stream, compressed = self._open(path)
        try:
            return bytes(stream.readNBytes(size)), compressed
        finally:
            stream.close()

    def digest(self, path: Any) -> str:
        """SHA-256 of a file's raw bytes, streamed."""
        digest = hashlib.sha256()
        stream = self.filesystem(path).open(path)
        try:
            while chunk := bytes(stream.readNBytes(_READ_CHUNK)):
                digest.update(chunk)
        finally:
            stream.close()
        return digest.hexdigest()


def scan_landing_path(
    spark: Any,
    location: str,
    contract: Layout,
    other_layouts: Sequence[Layout] = (),
    hint: str = "",
    may_be_empty: bool = False,
) -> Findings:
    """Check every file Spark would read at ``location`` (a folder, a file or a glob).

    ``may_be_empty``: a source that may have no file yet (campaign assignments before the
    first export): a missing folder is created, so that Spark reads it as no rows, and a
    folder without data files is no refusal."""
    hadoop = _HadoopFiles(spark)
    root = hadoop.path(location)
    filesystem = hadoop.filesystem(root)
    if any(char in location for char in "*?[{"):
        statuses = list(filesystem.globStatus(root) or [])
    elif not filesystem.exists(root):
        if may_be_empty:
            filesystem.mkdirs(root)
            return Findings()
        return Findings(refusals=[f"The landing path {location} does not exist."])
    else:
        statuses = list(filesystem.listStatus(root))
    findings = Findings()
    files: list[tuple[Any, int]] = []
    for status in statuses:
        name = status.getPath().getName()
        if is_hidden(name):
            continue
        if status.isDirectory():
            findings.refusals.append(
                f"The landing path {location} has a subfolder {name}, whose files Spark does "
                "not read: move them up into the landing folder (or rename the subfolder to "
                "start with `_` to keep it aside)."
            )
        else:
            files.append((status.getPath(), int(status.getLen())))
    if not files and not may_be_empty:
        findings.refusals.append(f"The landing path {location} holds no data files.")
        return findings
    landed = []
    for path, size in files:
        head, compressed = hadoop.head(path, PEEK_BYTES) if size else (b"", False)
        landed.append(LandedFile(str(path.toString()), size, head, compressed))
    case_sensitive = str(spark.conf.get("spark.sql.caseSensitive", "false")).lower() == "true"
    checked = check_files(landed, contract, other_layouts, hint, case_sensitive)
    findings.refusals += checked.refusals
    findings.warnings += checked.warnings
    findings.files = len(landed)
    # Identical files: only files of equal size can be, and only those are read in full.
    by_size: dict[int, list[Any]] = defaultdict(list)
    for path, size in files:
        if size:
            by_size[size].append(path)
    digests = {
        str(path.toString()): hadoop.digest(path)
        for paths in by_size.values()
        if len(paths) > 1
        for path in paths
    }
    findings.warnings += identical_content_warnings(digests)
    return findings
