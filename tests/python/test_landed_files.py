"""The landed-file check of the sparkplus adapter: one case per way a file can be unreadable.

The pure part (a file's name and first bytes → refusal, warning or nothing) is tested per
case without Spark; the Hadoop part (listing, decompression, identical files) once on the
unit tests' local SparkSession over real files. The end-to-end refusal through `dbt build`
and `lgs build` is in e2e/test_bad_input_corpus.py.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from dbt.adapters.sparkplus.landed_files import (
    PEEK_BYTES,
    Findings,
    LandedFile,
    Layout,
    check_files,
    file_problem,
    header_problem,
    identical_content_warnings,
    is_hidden,
    parse_header,
    scan_landing_path,
)

CONTRACT = Layout(
    "Online Retail II",
    (
        "Invoice",
        "StockCode",
        "Description",
        "Quantity",
        "InvoiceDate",
        "Price",
        "Customer ID",
        "Country",
    ),
)
ONLINE_RETAIL_I = Layout(
    "Online Retail (I)",
    (
        "InvoiceNo",
        "StockCode",
        "Description",
        "Quantity",
        "InvoiceDate",
        "UnitPrice",
        "CustomerID",
        "Country",
    ),
)
HINT = "land it with `lgs import`"
HEADER = ",".join(CONTRACT.columns)
ROW = "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom"


def verdict(content: bytes, name: str = "landed.csv", compressed: bool = False):
    landed = LandedFile(f"file:/land/{name}", len(content), content[:PEEK_BYTES], compressed)
    return file_problem(landed, CONTRACT, [ONLINE_RETAIL_I], HINT)


# Each case: file content → the words the one refusal sentence must contain.
REFUSED = {
    "renamed_column": (
        HEADER.replace("Description", "Desc") + "\n" + ROW,
        ["column 3 is `Desc` where `Description` is expected"],
    ),
    "two_renamed_columns": (
        HEADER.replace("Price", "UnitPrice").replace("Country", "Land") + "\n" + ROW,
        ["column 6 is `UnitPrice`", "column 8 is `Land`"],
    ),
    "online_retail_i_header": (
        ",".join(ONLINE_RETAIL_I.columns) + "\n536365,85123A,X,6,12/1/2010 8:26,2.55,17850,UK",
        [
            "has the Online Retail (I) header",
            "`InvoiceNo`",
            "instead of the Online Retail II",
            HINT,
        ],
    ),
    "missing_column_in_header": (
        HEADER.replace(",Customer ID", "") + "\n" + ROW,
        ["has 7 columns in its header instead of 8", "missing `Customer ID`"],
    ),
    "extra_column_in_header": (
        HEADER + ",Discount\n" + ROW + ",0",
        ["has 9 columns in its header instead of 8", "extra `Discount`"],
    ),
    "renamed_and_extra_column": (
        HEADER.replace("Country", "Region") + ",Discount\n" + ROW + ",0",
        ["has 9 columns", "missing `Country`", "extra `Region`, `Discount`"],
    ),
    "columns_in_another_order": (
        "StockCode,Invoice,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n" + ROW,
        ["columns in another order", "`StockCode`, `Invoice`"],
    ),
    "space_around_a_column_name": (
        HEADER.replace("Invoice,", " Invoice ,", 1) + "\n" + ROW,
        ["column 1 is ` Invoice ` where `Invoice` is expected"],
    ),
    "no_header_line": (ROW + "\n" + ROW, ["has no Online Retail II header", "536365,85123A"]),
    "semicolon_separated": (
        HEADER.replace(",", ";") + "\n" + ROW.replace(",", ";"),
        ["has no Online Retail II header"],
    ),
}

REFUSED_BYTES = {
    "xlsx_workbook": (b"PK\x03\x04\x14\x00\x06\x00rest of a zip", ["ZIP archive", HINT]),
    "parquet_file": (b"PAR1\x15\x04\x15\x10", ["is a Parquet file"]),
    "old_xls_workbook": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", ["old Excel (.xls)"]),
    "utf16_export": ((HEADER + "\n").encode("utf-16"), ["UTF-16 text"]),
    "gzip_without_gz_name": (gzip.compress((HEADER + "\n").encode()), ["does not end in `.gz`"]),
    "latin1_header": (HEADER.replace("Country", "Pa\xeds").encode("latin-1"), ["not UTF-8"]),
    "binary_garbage": (b"\x00\x01\x02\x03garbage\n", ["binary (NUL bytes)"]),
    "one_huge_line": (b"x" * (PEEK_BYTES + 10), ["no line break in its first 64 KiB"]),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_header_refused_in_one_sentence_naming_the_file(case: str) -> None:
    content, words = REFUSED[case]
    level, sentence = verdict(content.encode(), name=f"{case}.csv")
    assert level == "refuse"
    assert sentence.startswith(f"Landed file file:/land/{case}.csv ")
    assert sentence.endswith(".") and "\n" not in sentence
    for word in words:
        assert word in sentence, sentence


@pytest.mark.parametrize("case", sorted(REFUSED_BYTES))
def test_non_csv_file_refused_in_one_sentence_naming_the_file(case: str) -> None:
    content, words = REFUSED_BYTES[case]
    level, sentence = verdict(content, name=f"{case}.csv")
    assert level == "refuse"
    assert f"file:/land/{case}.csv" in sentence and "\n" not in sentence
    for word in words:
        assert word in sentence, sentence


ACCEPTED = {
    "contract_header": HEADER + "\n" + ROW + "\n",
    "lower_case_header": HEADER.lower() + "\n" + ROW + "\n",  # Spark compares names so
    "quoted_header": ",".join(f'"{name}"' for name in CONTRACT.columns) + "\n" + ROW,
    "utf8_bom": "\ufeff" + HEADER + "\n" + ROW + "\n",
    "crlf_line_ends": HEADER + "\r\n" + ROW + "\r\n",
    "no_final_newline": HEADER + "\n" + ROW,
    "blank_lines_before_the_header": "\n  \r\n" + HEADER + "\n" + ROW,  # Spark skips them
}


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_contract_header_accepted(case: str) -> None:
    assert verdict(ACCEPTED[case].encode()) is None


def test_compressed_file_is_judged_on_its_decompressed_text() -> None:
    assert verdict((HEADER + "\n" + ROW).encode(), name="a.csv.gz", compressed=True) is None


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "is empty: it adds no rows"),
        ((HEADER + "\n").encode(), "has only a header line: it adds no rows"),
        (HEADER.encode(), "has only a header line: it adds no rows"),
        ((HEADER + "\r\n\r\n\n").encode(), "has only a header line: it adds no rows"),
        (b"\n \n\r\n", "holds only blank lines: it adds no rows"),
    ],
    ids=["empty", "header_only", "header_only_no_newline", "header_and_blank_lines", "blank"],
)
def test_files_without_rows_are_warned_about_not_refused(content: bytes, words: str) -> None:
    level, sentence = verdict(content, name="quiet.csv")
    assert level == "warn"
    assert sentence == f"Landed file file:/land/quiet.csv {words}."


def test_case_sensitive_session_refuses_another_case() -> None:
    header = parse_header(HEADER.lower())
    assert header_problem(header, CONTRACT) is None
    assert "column 1 is `invoice`" in header_problem(header, CONTRACT, case_sensitive=True)


def test_long_first_line_is_shortened_in_the_sentence() -> None:
    line = "9" * 500 + "," + ROW
    level, sentence = verdict((line + "\n").encode())
    assert level == "refuse" and len(sentence) < 400 and "…" in sentence


def test_check_files_sorts_refusals_from_warnings() -> None:
    files = [
        LandedFile("a.csv", 10, (HEADER + "\n" + ROW).encode()),
        LandedFile("b.csv", 0, b""),
        LandedFile("c.csv", 10, b"PAR1...."),
    ]
    findings = check_files(files, CONTRACT)
    assert findings.files == 3
    assert [sentence.split()[2] for sentence in findings.refusals] == ["c.csv"]
    assert [sentence.split()[2] for sentence in findings.warnings] == ["b.csv"]


def test_identical_files_get_one_warning_naming_the_copies() -> None:
    warnings = identical_content_warnings({"b.csv": "1", "a.csv": "1", "c.csv": "2"})
    assert warnings == [
        "Landed files b.csv have the same content as a.csv: their rows are removed as "
        "exact duplicates."
    ]


@pytest.mark.parametrize(
    ("name", "hidden"),
    [("_manifest.json", True), (".part.crc", True), ("a.csv._COPYING_", True), ("a.csv", False)],
)
def test_hidden_names_follow_spark(name: str, hidden: bool) -> None:
    assert is_hidden(name) is hidden


# -- through Hadoop's file system, on the unit tests' SparkSession -------------------------


def _land(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    return folder


def test_scan_reads_heads_through_hadoop_and_gunzips(spark, tmp_path: Path) -> None:
    good = (HEADER + "\n" + ROW + "\n").encode()
    folder = _land(
        tmp_path / "land",
        {
            "a.csv": good,
            "b.csv.gz": gzip.compress(good),
            "c_copy.csv": good,
            "d_empty.csv": b"",
            "_manifest.json": b"{}",
            ".hidden.csv": b"PAR1",
            "_archive/old.csv": b"PAR1",
        },
    )
    findings = scan_landing_path(spark, str(folder), CONTRACT, [ONLINE_RETAIL_I], HINT)
    assert findings.refusals == []
    assert findings.files == 4
    assert any("d_empty.csv is empty" in warning for warning in findings.warnings)
    [identical] = [warning for warning in findings.warnings if "same content" in warning]
    assert "c_copy.csv have the same content as" in identical and "/a.csv:" in identical


def test_scan_refuses_bad_files_subfolders_and_missing_paths(spark, tmp_path: Path) -> None:
    folder = _land(
        tmp_path / "land",
        {
            "a.csv": (HEADER + "\n" + ROW).encode(),
            "b.csv": (",".join(ONLINE_RETAIL_I.columns) + "\n").encode(),
            "2011/c.csv": (HEADER + "\n" + ROW).encode(),
        },
    )
    findings = scan_landing_path(spark, str(folder), CONTRACT, [ONLINE_RETAIL_I], HINT)
    assert len(findings.refusals) == 2, findings.refusals
    assert any("b.csv has the Online Retail (I) header" in r for r in findings.refusals)
    assert any(
        "has a subfolder 2011, whose files Spark does not read" in r for r in findings.refusals
    )

    missing = scan_landing_path(spark, str(tmp_path / "nowhere"), CONTRACT)
    assert missing.refusals == [f"The landing path {tmp_path / 'nowhere'} does not exist."]
    (tmp_path / "void").mkdir()
    empty = scan_landing_path(spark, str(tmp_path / "void"), CONTRACT)
    assert empty.refusals == [f"The landing path {tmp_path / 'void'} holds no data files."]
    # A source that may have no file yet: an empty folder passes, a missing one is created.
    assert scan_landing_path(spark, str(tmp_path / "void"), CONTRACT, may_be_empty=True) == (
        Findings()
    )
    assert scan_landing_path(spark, str(tmp_path / "later"), CONTRACT, may_be_empty=True) == (
        Findings()
    )
    assert (tmp_path / "later").is_dir()


def test_scan_of_a_single_file_and_a_glob(spark, tmp_path: Path) -> None:
    folder = _land(tmp_path / "land", {"a.csv": (HEADER + "\n" + ROW).encode(), "b.txt": b"x"})
    assert scan_landing_path(spark, str(folder / "a.csv"), CONTRACT).refusals == []
    globbed = scan_landing_path(spark, str(folder / "*.csv"), CONTRACT)
    assert globbed.files == 1 and globbed.refusals == []
