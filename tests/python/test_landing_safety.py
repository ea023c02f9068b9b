"""No user action loses landed data or publishes numbers from the wrong data (issue 24).

An import is a transaction: a mistyped, unreadable or failing import leaves the landed files
byte-identical (bytes, modification time, inode) and says so in one sentence; a second
import appends; a file landed before is refused unless --replace. Synthetic data is made
only where nothing has ever landed, said on the build's first line, and is never mixed
with landed files.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import time
from argparse import Namespace
from pathlib import Path

import pandas as pd
import pytest

from lgs_analytics.cli import _cmd_import
from lgs_analytics.errors import UserError
from lgs_analytics.landing import importer
from lgs_analytics.landing.importer import import_real, recover_interrupted_import
from lgs_analytics.landing.part_writer import CsvPartWriter
from lgs_analytics.landing.raw_layout import RAW_COLUMNS
from lgs_analytics.runtime.build import ensure_raw_data, main_job
from lgs_analytics.runtime.paths import ProjectPaths
from lgs_analytics.synthetic.generator import generate

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def shop_rows(first_invoice: int, rows: int = 4) -> pd.DataFrame:
    """A few Online Retail II rows; a different first invoice gives different content."""
    return pd.DataFrame(
        {
            "Invoice": [str(first_invoice + i // 2) for i in range(rows)],
            "StockCode": [f"2{i:04d}" for i in range(rows)],
            "Description": [f"GIFT ITEM {i}" for i in range(rows)],
            "Quantity": [i + 1 for i in range(rows)],
            "InvoiceDate": ["2010-12-01 08:26:00"] * rows,
            "Price": [2.55] * rows,
            "Customer ID": [17850.0] * rows,
            "Country": ["United Kingdom"] * rows,
        },
        columns=list(RAW_COLUMNS),
    )


def shop_csv(path: Path, first_invoice: int, rows: int = 4) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shop_rows(first_invoice, rows).to_csv(path, index=False)
    return path


def shop_workbook(path: Path, first_invoice: int) -> Path:
    """The real workbook's layout: two sheets of Online Retail II rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        shop_rows(first_invoice).to_excel(writer, sheet_name="Year 2009-2010", index=False)
        shop_rows(first_invoice + 100).to_excel(writer, sheet_name="Year 2010-2011", index=False)
    return path


def snapshot(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file under the folder: its bytes, modification time (ns) and inode."""
    return {
        path.relative_to(folder).as_posix(): (
            path.read_bytes(),
            path.stat().st_mtime_ns,
            path.stat().st_ino,
        )
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def leftovers(landing: Path) -> list[str]:
    """An import's folders beside the landing folder (its lock file may stay)."""
    prefix = f".{landing.name}.lgs-import-"
    return sorted(
        path.name
        for path in landing.parent.iterdir()
        if path.name.startswith(prefix) and path.name != prefix + "lock"
    )


@pytest.fixture
def landed(tmp_path) -> Path:
    """A landing folder holding one import of the real workbook's layout."""
    landing = tmp_path / "state" / "raw" / "online_retail_ii"
    import_real([shop_workbook(tmp_path / "in" / "online_retail_II.xlsx", 489000)], landing)
    return landing


def assert_one_sentence_unchanged(message: str, landing: Path, *fragments: str) -> None:
    assert "\n" not in message and "Traceback" not in message
    assert message.endswith(f"nothing was imported and {landing} is unchanged.")
    for fragment in fragments:
        assert fragment in message


# ---------------------------------------------------------------- a mistyped import


def _bad_inputs(folder: Path, case: str) -> tuple[list[Path], str]:
    """Inputs of one mistake and a fragment of the sentence that names it."""
    good = shop_csv(folder / "next_month.csv", 500000)
    if case == "missing":
        return [folder / "typo.xlsx"], "typo.xlsx does not exist"
    if case == "folder":
        (folder / "exports").mkdir()
        return [folder / "exports"], "is a folder, not a file"
    if case == "corrupt_workbook":
        whole = shop_workbook(folder / "whole.xlsx", 600000).read_bytes()
        (folder / "cut.xlsx").write_bytes(whole[: len(whole) // 2])  # a copy cut short
        return [folder / "cut.xlsx"], "could not be read as an Excel workbook"
    if case == "empty_csv":
        (folder / "empty.csv").write_bytes(b"")
        return [folder / "empty.csv"], "is empty (0 bytes"
    if case == "header_only_csv":
        (folder / "header.csv").write_text(",".join(RAW_COLUMNS) + "\n", encoding="utf-8")
        return [folder / "header.csv"], "holds a header and no rows"
    if case == "other_columns_csv":
        (folder / "orders.csv").write_text("order,sku,qty\n1,85123A,6\n", encoding="utf-8")
        return [folder / "orders.csv"], "orders.csv has columns ['order', 'sku', 'qty']"
    if case == "good_then_missing":
        return [good, folder / "missing.csv"], "missing.csv does not exist"
    if case == "good_then_corrupt":
        (folder / "broken.xlsx").write_bytes(b"PK\x03\x04 not a workbook")
        return [good, folder / "broken.xlsx"], "broken.xlsx could not be read"
    if case == "same_file_twice":
        copy = folder / "copy.csv"
        shutil.copyfile(good, copy)
        return [good, copy], "has the same content as"
    if case == "unreadable":
        good.chmod(0)
        return [good], "cannot be read (Permission denied"
    raise AssertionError(case)


BAD_CASES = [
    "missing",
    "folder",
    "corrupt_workbook",
    "empty_csv",
    "header_only_csv",
    "other_columns_csv",
    "good_then_missing",
    "good_then_corrupt",
    "same_file_twice",
    pytest.param(
        "unreadable",
        marks=pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file"),
    ),
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_a_bad_input_leaves_the_landed_files_byte_identical(landed, tmp_path, case):
    before = snapshot(landed)
    inputs, fragment = _bad_inputs(tmp_path / "in", case)
    with pytest.raises(UserError) as error:
        import_real(inputs, landed)
    assert_one_sentence_unchanged(str(error.value), landed, fragment)
    assert snapshot(landed) == before
    assert leftovers(landed) == []


def test_a_bad_input_into_a_new_folder_creates_nothing(tmp_path):
    landing = tmp_path / "raw"
    with pytest.raises(UserError):
        import_real([shop_csv(tmp_path / "a.csv", 1), tmp_path / "typo.csv"], landing)
    assert not landing.exists() and leftovers(landing) == []


def run_lgs(*args: str, state: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "LGS_STATE_DIR": str(state), "DO_NOT_TRACK": "1"}
    env.pop("LGS_RAW_PATH", None)
    env.pop("LGS_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "lgs_analytics.cli", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_lgs_import_of_a_mistyped_file_is_one_sentence_and_changes_nothing(tmp_path):
    """The issue's scenario: land the workbook, then import a mistyped name."""
    state = tmp_path / "state"
    landing = state / "raw" / "online_retail_ii"
    workbook = shop_workbook(tmp_path / "online_retail_II.xlsx", 489000)
    landed = run_lgs("import", str(workbook), state=state)
    assert landed.returncode == 0, landed.stderr
    assert landed.stdout.startswith(f"Imported 8 rows from 1 file(s) into {landing} as import 1")
    before = snapshot(landing)

    for inputs in ([tmp_path / "typo.xlsx"], [shop_csv(tmp_path / "b.csv", 7), tmp_path / "x"]):
        result = run_lgs("import", *map(str, inputs), state=state)
        assert result.returncode == 2
        assert result.stdout == ""
        assert "Traceback" not in result.stderr
        [line] = result.stderr.splitlines()
        assert line.startswith(f"error: {inputs[-1]} does not exist")
        assert_one_sentence_unchanged(line, landing)
        assert snapshot(landing) == before


# ---------------------------------------------------------------- a failure while writing


def test_a_failure_after_the_first_new_file_leaves_the_folder_byte_identical(
    landed, tmp_path, monkeypatch
):
    before = snapshot(landed)
    monkeypatch.setattr(importer, "_CHUNK_ROWS", 2)  # 3 new files of 2 rows each
    opened = []
    open_next = CsvPartWriter._open_next

    def full_disk_after_the_first_file(writer: CsvPartWriter) -> None:
        if opened:
            raise OSError(errno.ENOSPC, "No space left on device")
        opened.append(writer)
        open_next(writer)

    monkeypatch.setattr(CsvPartWriter, "_open_next", full_disk_after_the_first_file)
    with pytest.raises(UserError) as error:
        import_real([shop_csv(tmp_path / "next.csv", 500000, rows=6)], landed)
    assert_one_sentence_unchanged(
        str(error.value), landed, "writing the import failed", "No space left on device"
    )
    assert opened, "the first new file was written before the failure"
    assert snapshot(landed) == before
    assert leftovers(landed) == []


def test_an_unexpected_error_leaves_the_folder_byte_identical(landed, tmp_path, monkeypatch):
    before = snapshot(landed)

    def broken(*_args):
        raise RuntimeError("a bug in the converter")

    monkeypatch.setattr(importer, "to_raw_csv_lines", broken)
    with pytest.raises(RuntimeError) as error:
        import_real([shop_csv(tmp_path / "next.csv", 500000)], landed)
    assert f"Nothing was imported: {landed} is unchanged." in error.value.__notes__
    assert snapshot(landed) == before
    assert leftovers(landed) == []


def test_a_failed_swap_leaves_the_folder_byte_identical(landed, tmp_path, monkeypatch):
    before = snapshot(landed)

    def busy(*_args):
        raise OSError(errno.EBUSY, "Device or resource busy")

    monkeypatch.setattr(importer, "_exchange", busy)
    with pytest.raises(UserError) as error:
        import_real([shop_csv(tmp_path / "next.csv", 500000)], landed)
    assert_one_sentence_unchanged(str(error.value), landed, "Device or resource busy")
    assert snapshot(landed) == before
    assert leftovers(landed) == []


def test_a_file_landed_by_hand_during_an_import_is_not_lost(landed, tmp_path, monkeypatch):
    link_kept = importer._link_kept

    def then_a_file_lands(landing, staging, replace):
        link_kept(landing, staging, replace)
        shop_csv(landing / "landed_meanwhile.csv", 900000)

    monkeypatch.setattr(importer, "_link_kept", then_a_file_lands)
    with pytest.raises(UserError) as error:
        import_real([shop_csv(tmp_path / "next.csv", 500000)], landed)
    assert_one_sentence_unchanged(str(error.value), landed, "changed while the import")
    assert "landed_meanwhile.csv" in snapshot(landed)
    assert leftovers(landed) == []


def no_exchange(*_args):
    raise importer._NoExchangeError


def test_without_an_atomic_exchange_two_renames_append(landed, tmp_path, monkeypatch):
    before = snapshot(landed)
    monkeypatch.setattr(importer, "_exchange", no_exchange)
    entry = import_real([shop_csv(tmp_path / "next.csv", 500000)], landed)
    after = snapshot(landed)
    assert {name: after[name] for name in before if name != "_manifest.json"} == {
        name: value for name, value in before.items() if name != "_manifest.json"
    }
    assert set(entry["files"]) < set(after)
    assert leftovers(landed) == []


def test_a_failed_second_rename_puts_the_folder_back(landed, tmp_path, monkeypatch):
    before = snapshot(landed)
    monkeypatch.setattr(importer, "_exchange", no_exchange)
    rename = os.rename

    def failing_into_place(source, target):
        if Path(source).name.endswith("lgs-import-new") and Path(target) == landed:
            raise OSError(errno.EIO, "Input/output error")
        rename(source, target)

    monkeypatch.setattr(os, "rename", failing_into_place)
    with pytest.raises(UserError) as error:
        import_real([shop_csv(tmp_path / "next.csv", 500000)], landed)
    assert_one_sentence_unchanged(str(error.value), landed, "Input/output error")
    assert snapshot(landed) == before
    assert leftovers(landed) == []


def test_a_folder_left_aside_by_a_killed_import_is_put_back(landed, tmp_path):
    """Killed between the two renames: the folder is missing, its old version whole beside
    it, the new one perhaps half-written. The next import or build puts the old one back."""
    before = snapshot(landed)
    landed.rename(landed.parent / f".{landed.name}.lgs-import-old")
    half = landed.parent / f".{landed.name}.lgs-import-new"
    half.mkdir()
    (half / "import-0002-part-00000.csv").write_text("Invoice,Stock", encoding="utf-8")
    recover_interrupted_import(landed)
    assert snapshot(landed) == before
    assert leftovers(landed) == []

    landed.rename(landed.parent / f".{landed.name}.lgs-import-old")
    paths = ProjectPaths(root=tmp_path, state=landed.parent.parent)
    assert ensure_raw_data(paths, rows=10, seed=1) is False  # put back, nothing generated
    assert snapshot(landed) == before


# ---------------------------------------------------------------- second imports


def test_a_second_import_appends_and_never_touches_the_landed_files(landed, tmp_path):
    before = snapshot(landed)
    started = time.time_ns()
    entry = import_real([shop_csv(tmp_path / "next_month.csv", 500000)], landed)
    after = snapshot(landed)
    for name, value in before.items():
        if name != "_manifest.json":
            assert after[name] == value  # same bytes, modification time and inode
    assert entry["import"] == 2 and entry["mode"] == "append"
    assert entry["files"] == ["import-0002-part-00000.csv"]
    # A fresh modification time: the incremental staging reads the new file.
    assert (landed / entry["files"][0]).stat().st_mtime_ns >= started - 10**9
    ledger = json.loads((landed / "_manifest.json").read_text())
    assert [earlier["import"] for earlier in ledger["imports"]] == [1, 2]
    assert ledger["files"] == ["import-0001-part-00000.csv", "import-0002-part-00000.csv"]

    third = import_real([shop_csv(tmp_path / "after.csv", 600000)], landed)
    assert third["files"] == ["import-0003-part-00000.csv"]
    assert len([name for name in snapshot(landed) if name.startswith("import-")]) == 3


def test_importing_landed_content_again_is_refused(landed, tmp_path):
    before = snapshot(landed)
    workbook = tmp_path / "in" / "online_retail_II.xlsx"
    renamed = tmp_path / "in" / "online_retail_II (1).xlsx"
    shutil.copyfile(workbook, renamed)
    with pytest.raises(UserError) as error:
        import_real([renamed], landed)
    assert_one_sentence_unchanged(
        str(error.value),
        landed,
        f"{renamed} has the same content",
        f"as {workbook.resolve()}, landed in {landed} by import 1",
        "would only add exact duplicates (use --replace",
    )
    assert snapshot(landed) == before
    # Once its files are gone, the same content may land again.
    (landed / "import-0001-part-00000.csv").unlink()
    assert import_real([renamed], landed)["import"] == 2


def test_replace_lands_only_the_new_files_and_says_to_refresh(landed, tmp_path, capsys):
    import_real([shop_csv(tmp_path / "b.csv", 500000)], landed)
    args = Namespace(inputs=[str(shop_csv(tmp_path / "c.csv", 700000))], out=str(landed))
    args.replace = True
    assert _cmd_import(args) == 0
    assert sorted(snapshot(landed)) == ["_manifest.json", "import-0003-part-00000.csv"]
    ledger = json.loads((landed / "_manifest.json").read_text())
    assert [earlier.get("replaced_by") for earlier in ledger["imports"]] == [3, 3, None]
    assert ledger["files"] == ["import-0003-part-00000.csv"]
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == (
        "Every file landed before was replaced and staging still holds their rows: "
        "the next build must be `lgs build --full-refresh`."
    )


# ---------------------------------------------------------------- synthetic data


def test_an_import_into_synthetic_data_needs_replace(tmp_path):
    landing = tmp_path / "raw"
    generate(landing, rows=50, seed=2, progress=False)
    before = snapshot(landing)
    source = shop_csv(tmp_path / "real.csv", 500000)
    with pytest.raises(UserError) as error:
        import_real([source], landing)
    assert_one_sentence_unchanged(
        str(error.value), landing, "holds synthetic data written by `lgs generate`", "--replace"
    )
    assert snapshot(landing) == before
    entry = import_real([source], landing, replace=True)
    assert sorted(snapshot(landing)) == ["_manifest.json", *entry["files"]]


def test_generate_refuses_a_folder_of_landed_files(landed, tmp_path):
    before = snapshot(landed)
    with pytest.raises(UserError, match=r"holds imported data .* never mixed"):
        generate(landed, rows=50, progress=False)
    assert snapshot(landed) == before

    by_hand = tmp_path / "by_hand"
    shop_csv(by_hand / "2011-12.csv", 1)
    with pytest.raises(UserError, match=r"did not write \(e\.g\. 2011-12\.csv\)"):
        generate(by_hand, rows=50, progress=False)
    assert sorted(path.name for path in by_hand.iterdir()) == ["2011-12.csv"]


def test_generate_still_replaces_its_own_output(tmp_path):
    out = tmp_path / "raw"
    generate(out, rows=50, chunk_rows=20, progress=False)
    (out / "_manifest.json").unlink()  # as a killed run leaves it: parts, no manifest
    manifest = generate(out, rows=30, progress=False)
    assert sorted(path.name for path in out.iterdir()) == ["_manifest.json", *manifest["files"]]


# ---------------------------------------------------------------- the build's data


def state_paths(tmp_path: Path, monkeypatch) -> ProjectPaths:
    monkeypatch.delenv("LGS_RAW_PATH", raising=False)
    monkeypatch.delenv("LGS_CAMPAIGN_RAW_PATH", raising=False)
    return ProjectPaths(root=tmp_path / "project", state=tmp_path / "state")


def test_the_build_generates_only_where_nothing_ever_landed(tmp_path, monkeypatch, capsys):
    paths = state_paths(tmp_path, monkeypatch)
    assert ensure_raw_data(paths, rows=100, seed=3) is True
    first = capsys.readouterr().out.splitlines()[0]
    assert first == (
        f"No data has landed in {paths.raw}: generating 100 synthetic rows (seed 3) — "
        "synthetic data, not a shop's; land real files with `lgs import`."
    )
    assert ensure_raw_data(paths, rows=100, seed=3) is False
    # Synthetic files deleted: synthetic data again, that folder never held landed data.
    for path in paths.raw.glob("part-*"):
        path.unlink()
    assert ensure_raw_data(paths, rows=100, seed=3) is True


@pytest.mark.parametrize("deleted", ["part files", "part files and ledger", "landing folder"])
def test_the_build_refuses_where_imported_data_is_gone(tmp_path, monkeypatch, deleted):
    paths = state_paths(tmp_path, monkeypatch)
    source = shop_csv(tmp_path / "real.csv", 500000)
    import_real([source], paths.raw, state_dir=paths.state)
    if deleted == "landing folder":
        shutil.rmtree(paths.raw)
    else:
        for path in paths.raw.glob("import-*"):
            path.unlink()
        if deleted == "part files and ledger":
            (paths.raw / "_manifest.json").unlink()
    with pytest.raises(UserError) as error:
        ensure_raw_data(paths, rows=100, seed=3)
    message = str(error.value)
    assert message.startswith(f"The landing folder {paths.raw} held landed data (recorded ")
    assert "land the files again with `lgs import <files>`" in message
    assert "`lgs build --full-refresh`" in message and "\n" not in message
    assert not any(path.name.startswith("part-") for path in paths.raw.glob("*"))


def test_the_build_remembers_files_landed_by_hand(tmp_path, monkeypatch):
    paths = state_paths(tmp_path, monkeypatch)
    shop_csv(paths.raw / "2011-12-09.csv", 1)
    assert ensure_raw_data(paths, rows=100, seed=3) is False
    shutil.rmtree(paths.raw)
    with pytest.raises(UserError, match="held landed data"):
        ensure_raw_data(paths, rows=100, seed=3)


def test_even_the_ledger_alone_stops_synthetic_data(tmp_path, monkeypatch):
    """An import made without the state folder (a library call): the ledger still tells."""
    paths = state_paths(tmp_path, monkeypatch)
    import_real([shop_csv(tmp_path / "real.csv", 500000)], paths.raw)
    (paths.raw / "import-0001-part-00000.csv").unlink()
    with pytest.raises(UserError, match="held landed data and now holds no data file"):
        ensure_raw_data(paths, rows=100, seed=3)


@pytest.mark.parametrize("state_known", [True, False])
def test_imported_campaign_assignments_without_sales_stop_synthetic_data(
    tmp_path, monkeypatch, state_known
):
    """Real CRM assignments and no sales yet: synthetic sales would be mixed with them."""
    paths = state_paths(tmp_path, monkeypatch)
    export = tmp_path / "crm.csv"
    export.write_text(
        "campaign_id,customer_id,variant,assigned_at\nC1,17850,treatment,2011-06-01 09:00:00\n"
    )
    import_real(
        [export],
        paths.campaigns,
        state_dir=paths.state if state_known else None,
        source="campaign_assignments",
    )
    before = snapshot(paths.campaigns)
    with pytest.raises(UserError) as error:
        ensure_raw_data(paths, rows=100, seed=3)
    message = str(error.value)
    assert message.startswith(
        f"CRM exports of campaign assignments have landed in {paths.campaigns}"
    )
    assert "`lgs import <workbook or CSV files>`" in message and "\n" not in message
    assert not paths.raw.exists() or not any(paths.raw.iterdir())
    assert snapshot(paths.campaigns) == before


def main_job_project(tmp_path: Path, monkeypatch) -> ProjectPaths:
    paths = state_paths(tmp_path, monkeypatch)
    (paths.root / "models").mkdir(parents=True)
    (paths.root / "dbt_project.yml").write_text("name: x\n")
    (paths.root / "profiles.yml.example").write_text("lgs: {target: local}\n")
    for key, value in paths.environment().items():
        monkeypatch.setenv(key, value)  # restored after the test; the job only sets defaults
    monkeypatch.chdir(tmp_path)
    return paths


def test_the_main_job_says_synthetic_on_its_first_line(tmp_path, monkeypatch, capsys):
    paths = main_job_project(tmp_path, monkeypatch)
    monkeypatch.setattr("lgs_analytics.runtime.build.run_dbt", lambda *_args: False)  # stop there
    assert main_job(paths, rows=100, seed=5) == 1
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"No data has landed in {paths.raw}: generating 100 synthetic rows")


def test_the_main_job_refuses_before_anything_else(tmp_path, monkeypatch, capsys):
    paths = main_job_project(tmp_path, monkeypatch)
    import_real([shop_csv(tmp_path / "real.csv", 500000)], paths.raw, state_dir=paths.state)
    shutil.rmtree(paths.raw)
    with pytest.raises(UserError, match=f"The landing folder {paths.raw} held landed data"):
        main_job(paths, rows=100, seed=5)
    assert capsys.readouterr().out == ""
    assert not paths.raw.exists()
