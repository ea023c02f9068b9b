"""Real-file import: every accepted layout gives the generator's CSV, byte for byte."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from lgs_analytics.errors import UserError
from lgs_analytics.landing.importer import import_real
from lgs_analytics.landing.raw_layout import LEGACY_COLUMNS, RAW_COLUMNS
from lgs_analytics.synthetic.generator import generate

# Hand-made rows with the real data's awkward cases: quoting, trailing blanks, missing
# description and customer, cancellations, a bad-debt adjustment, a 3-decimal price,
# a whole-number price, non-ASCII text and an exact duplicate (which must survive).
ROWS = [
    ("489434", "85048", "15CM CHRISTMAS GLASS BALL 20 LIGHTS", 12, "2009-12-01 07:45", 6.95, 13085),
    ("489434", "79323P", "PINK CHERRY LIGHTS", 12, "2009-12-01 07:45", 6.75, 13085),
    ("489435", "22350", "CAT BOWL ", 12, "2009-12-01 07:46", 2.1, 13085),
    ("489436", "23843", "PAPER CRAFT , LITTLE BIRDIE", 80995, "2009-12-01 09:15", 2.08, 16446),
    ("C489449", "22087", "PAPER BUNTING WHITE LACE", -12, "2009-12-01 10:33", 2.95, 16321),
    ("489464", "21733", None, -96, "2009-12-01 10:52", 0.0, None),
    ("A506401", "B", "Adjust bad debt", 1, "2010-04-29 13:36", -53594.36, None),
    ("489597", "PADS", "PADS TO MATCH ALL CUSHIONS", 1, "2010-12-01 14:28", 0.001, 15113),
    (
        "489598",
        "gift_0001_10",
        "Dotcomgiftshop Gift Voucher £10.00",
        1,
        "2010-12-02 08:01",
        8.69,
        None,
    ),
    ("489599", "22423", 'SET 3 "SUMMER" TEA TOWELS', 3, "2011-12-09 12:50", 15.0, 12345),
    ("489434", "85048", "15CM CHRISTMAS GLASS BALL 20 LIGHTS", 12, "2009-12-01 07:45", 6.95, 13085),
]
COUNTRIES = (
    ["United Kingdom"] * 4 + ["Australia"] + ["United Kingdom"] * 4 + ["EIRE", "United Kingdom"]
)
EXPECTED = """\
Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country
489434,85048,15CM CHRISTMAS GLASS BALL 20 LIGHTS,12,2009-12-01 07:45:00,6.95,13085.0,United Kingdom
489434,79323P,PINK CHERRY LIGHTS,12,2009-12-01 07:45:00,6.75,13085.0,United Kingdom
489435,22350,CAT BOWL ,12,2009-12-01 07:46:00,2.1,13085.0,United Kingdom
489436,23843,"PAPER CRAFT , LITTLE BIRDIE",80995,2009-12-01 09:15:00,2.08,16446.0,United Kingdom
C489449,22087,PAPER BUNTING WHITE LACE,-12,2009-12-01 10:33:00,2.95,16321.0,Australia
489464,21733,,-96,2009-12-01 10:52:00,0.0,,United Kingdom
A506401,B,Adjust bad debt,1,2010-04-29 13:36:00,-53594.36,,United Kingdom
489597,PADS,PADS TO MATCH ALL CUSHIONS,1,2010-12-01 14:28:00,0.001,15113.0,United Kingdom
489598,gift_0001_10,Dotcomgiftshop Gift Voucher £10.00,1,2010-12-02 08:01:00,8.69,,United Kingdom
489599,22423,"SET 3 ""SUMMER"" TEA TOWELS",3,2011-12-09 12:50:00,15.0,12345.0,EIRE
489434,85048,15CM CHRISTMAS GLASS BALL 20 LIGHTS,12,2009-12-01 07:45:00,6.95,13085.0,United Kingdom
"""


def typed_frame(columns: tuple[str, ...] = RAW_COLUMNS, excel: bool = False) -> pd.DataFrame:
    """The rows with the types a real export has; Excel keeps numeric codes as numbers."""

    def number_or_text(value: str):
        return int(value) if excel and value.isdigit() else value

    frame = pd.DataFrame(
        {
            columns[0]: [number_or_text(r[0]) for r in ROWS],
            columns[1]: [number_or_text(r[1]) for r in ROWS],
            columns[2]: [r[2] for r in ROWS],
            columns[3]: [r[3] for r in ROWS],
            columns[4]: pd.to_datetime([r[4] for r in ROWS]),
            columns[5]: [r[5] for r in ROWS],
            columns[6]: pd.array([r[6] for r in ROWS], dtype="Float64").astype(float),
            columns[7]: COUNTRIES,
        }
    )
    return frame.astype({columns[0]: object, columns[1]: object})


def legacy_date(text: str) -> str:
    """``12/1/2010 8:26``: month/day/year, hour without a leading zero."""
    moment = datetime.strptime(text, "%Y-%m-%d %H:%M")
    return f"{moment.month}/{moment.day}/{moment.year} {moment.hour}:{moment.minute:02d}"


def write_sources(folder: Path) -> dict[str, list[Path]]:
    """The same rows in each accepted layout."""
    folder.mkdir()
    sources: dict[str, list[Path]] = {}
    ii_csv = folder / "online_retail_II.csv"
    typed_frame().to_csv(ii_csv, index=False, date_format="%Y-%m-%d %H:%M:%S")
    sources["ii_csv"] = [ii_csv]
    ii_xlsx = folder / "online_retail_II.xlsx"
    excel = typed_frame(excel=True)
    with pd.ExcelWriter(ii_xlsx, engine="openpyxl") as writer:
        excel.iloc[:6].to_excel(writer, sheet_name="Year 2009-2010", index=False)
        excel.iloc[6:].to_excel(writer, sheet_name="Year 2010-2011", index=False)
    sources["ii_xlsx"] = [ii_xlsx]
    legacy = typed_frame(LEGACY_COLUMNS)
    legacy["InvoiceDate"] = [legacy_date(r[4]) for r in ROWS]
    legacy_csv = folder / "data.csv"
    legacy_csv.write_bytes(legacy.to_csv(index=False).encode("cp1252"))  # as published
    sources["legacy_csv"] = [legacy_csv]
    legacy_xlsx = folder / "Online Retail.xlsx"
    typed_frame(LEGACY_COLUMNS, excel=True).to_excel(
        legacy_xlsx, sheet_name="Online Retail", index=False
    )
    sources["legacy_xlsx"] = [legacy_xlsx]
    half = folder / "first_half.csv"
    typed_frame().iloc[:6].to_csv(half, index=False, date_format="%Y-%m-%d %H:%M:%S")
    rest = folder / "rest_legacy.csv"  # customer ids written as whole numbers here
    legacy.iloc[6:].astype({"CustomerID": "Int64"}).to_csv(rest, index=False)
    sources["mixed_files"] = [half, rest]
    return sources


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, list[Path]]:
    return write_sources(tmp_path_factory.mktemp("import") / "sources")


@pytest.mark.parametrize(
    "layout", ["ii_csv", "ii_xlsx", "legacy_csv", "legacy_xlsx", "mixed_files"]
)
def test_every_layout_imports_to_the_same_csv(sources, tmp_path, layout):
    entry = import_real(sources[layout], tmp_path)
    assert entry["files"] == ["import-0001-part-00000.csv"]
    assert (tmp_path / "import-0001-part-00000.csv").read_text(encoding="utf-8") == EXPECTED
    assert entry["rows"] == len(ROWS)  # nothing dropped, the duplicate included
    ledger = json.loads((tmp_path / "_manifest.json").read_text())
    assert ledger["imports"] == [entry]
    assert ledger["files"] == entry["files"]


def test_ledger_names_sources_layouts_and_content(sources, tmp_path):
    inputs = sources["ii_xlsx"] + sources["legacy_csv"]
    entry = import_real(inputs, tmp_path)
    assert entry["import"] == 1 and entry["mode"] == "append"
    assert [source["path"] for source in entry["sources"]] == [str(p.resolve()) for p in inputs]
    assert [source["sha256"] for source in entry["sources"]] == [
        hashlib.sha256(p.read_bytes()).hexdigest() for p in inputs
    ]
    assert [source["bytes"] for source in entry["sources"]] == [p.stat().st_size for p in inputs]
    assert [source["rows"] for source in entry["sources"]] == [len(ROWS), len(ROWS)]
    assert entry["layouts"] == {
        "online_retail_II.xlsx#Year 2009-2010": "online_retail_ii",
        "online_retail_II.xlsx#Year 2010-2011": "online_retail_ii",
        "data.csv": "online_retail",
    }
    assert entry["encodings"] == {"data.csv": "cp1252"}
    assert entry["rows"] == 2 * len(ROWS)
    assert json.loads((tmp_path / "_manifest.json").read_text())["kind"] == "import_ledger"


def test_generated_csv_passes_through_unchanged(tmp_path):
    generated = generate(tmp_path / "generated", rows=5_000, seed=9, progress=False)
    source = tmp_path / "generated" / generated["files"][0]
    entry = import_real([source], tmp_path / "imported")
    assert entry["rows"] == 5_000
    imported = tmp_path / "imported" / "import-0001-part-00000.csv"
    assert imported.read_bytes() == source.read_bytes()


def test_unknown_header_is_refused_with_a_clear_sentence(tmp_path):
    odd = tmp_path / "orders.csv"
    odd.write_text("order,sku,qty\n1,85123A,6\n", encoding="utf-8")
    with pytest.raises(UserError) as error:
        import_real([odd], tmp_path / "out")
    message = str(error.value)
    assert message.startswith("orders.csv has columns ['order', 'sku', 'qty']")
    assert str(list(RAW_COLUMNS)) in message and str(list(LEGACY_COLUMNS)) in message
    assert message.endswith(f"nothing was imported and {tmp_path / 'out'} is unchanged.")
    assert message.count(". ") == 0 and "\n" not in message
    assert not (tmp_path / "out").exists()


def test_replace_removes_every_landed_file_and_keeps_hidden_ones(sources, tmp_path):
    (tmp_path / "part-00007.csv").write_text("landed by hand", encoding="utf-8")
    (tmp_path / "_archive").mkdir()
    (tmp_path / "_archive" / "old.csv").write_text("kept aside", encoding="utf-8")
    import_real(sources["ii_csv"], tmp_path, replace=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "_archive",
        "_manifest.json",
        "import-0001-part-00000.csv",
    ]
    assert (tmp_path / "_archive" / "old.csv").read_text(encoding="utf-8") == "kept aside"


def test_files_landed_by_hand_stay_when_an_import_appends(sources, tmp_path):
    (tmp_path / "part-00007.csv").write_text("landed by hand", encoding="utf-8")
    import_real(sources["ii_csv"], tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "_manifest.json",
        "import-0001-part-00000.csv",
        "part-00007.csv",
    ]
    assert (tmp_path / "part-00007.csv").read_text(encoding="utf-8") == "landed by hand"


def test_a_ledger_of_the_importer_before_it_becomes_import_zero(sources, tmp_path):
    """A folder landed by the importer before the ledger (one manifest, part-NNNNN names)."""
    (tmp_path / "part-00000.csv").write_text(EXPECTED, encoding="utf-8")
    legacy = {
        "format": "csv",
        "source_files": ["online_retail_II.xlsx"],
        "layouts": {"online_retail_II.xlsx#Year 2009-2010": "online_retail_ii"},
        "encodings": {},
        "lines": len(ROWS),
        "files": ["part-00000.csv"],
    }
    (tmp_path / "_manifest.json").write_text(json.dumps(legacy), encoding="utf-8")
    entry = import_real(sources["legacy_csv"], tmp_path)
    ledger = json.loads((tmp_path / "_manifest.json").read_text())
    assert [earlier["import"] for earlier in ledger["imports"]] == [0, 1]
    assert ledger["imports"][0]["files"] == ["part-00000.csv"]
    assert ledger["files"] == ["part-00000.csv", *entry["files"]]
    assert (tmp_path / "part-00000.csv").read_text(encoding="utf-8") == EXPECTED
