"""The campaign data: what the generator writes (assignments, extra orders, ground truth)
checked from the written files, and `lgs import` of a CRM export of assignments."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from lgs_analytics.errors import UserError
from lgs_analytics.landing.importer import (
    CAMPAIGN_ASSIGNMENTS,
    ONLINE_RETAIL_II,
    import_real,
    source_of,
)
from lgs_analytics.reference.campaigns import campaign_outcomes, load_sales_lines
from lgs_analytics.synthetic.campaigns import ASSIGNMENTS_HEADER
from lgs_analytics.synthetic.generator import generate

ROWS = 150_000


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[dict, Path, Path]:
    folder = tmp_path_factory.mktemp("campaigns")
    manifest = generate(
        folder / "raw", rows=ROWS, seed=11, progress=False, assignments_dir=folder / "crm"
    )
    return manifest, folder / "raw", folder / "crm"


def test_assignments_are_a_crm_export_matching_the_manifest(generated):
    manifest, _, crm = generated
    text = (crm / "part-00000.csv").read_text(encoding="utf-8")
    assert text.startswith(ASSIGNMENTS_HEADER)
    assignments = pd.read_csv(crm / "part-00000.csv", dtype=str)
    assert not assignments.duplicated(["campaign_id", "customer_id"]).any()
    assert set(assignments["variant"]) == {"treatment", "control"}
    sizes = assignments.groupby(["campaign_id", "variant"]).size()
    campaigns = manifest["campaigns"]
    assert len(campaigns) == 3
    assert [c["response_probability"] == 0 for c in campaigns].count(True) == 1
    for campaign in campaigns:
        assert sizes[(campaign["campaign_id"], "treatment")] == campaign["n_treatment"]
        assert sizes[(campaign["campaign_id"], "control")] == campaign["n_control"]
        at = assignments.loc[assignments["campaign_id"] == campaign["campaign_id"], "assigned_at"]
        assert set(at) == {f"{campaign['send_date']} 06:00:00"}
    assert manifest["readable_rows"] == ROWS  # the extra orders fit in the row budget
    assert json.loads((crm / "_manifest.json").read_text())["files"] == ["part-00000.csv"]


def test_extra_orders_are_in_the_transactions_and_the_truth_is_exact(generated):
    """Win-back customers have churned before the send day, so every purchase of theirs
    in the window is a campaign order: the treated arm's conversion and mean revenue there
    are the manifest's true uplifts exactly, and the control arm buys nothing."""
    manifest, raw, crm = generated
    assignments = pd.read_csv(crm / "part-00000.csv", dtype=str)
    outcomes = campaign_outcomes(load_sales_lines(raw), assignments, window_days=30)
    by_id = {c["campaign_id"]: c for c in manifest["campaigns"]}
    winback = by_id["CMP-2011-03-WINBACK"]
    rows = outcomes[outcomes["campaign_id"] == winback["campaign_id"]]
    treated, control = rows[rows["variant"] == "treatment"], rows[rows["variant"] == "control"]
    assert winback["extra_orders"] > 0
    assert not control["converted"].any() and control["revenue"].sum() == 0
    assert treated["converted"].mean() == pytest.approx(winback["true_uplift"]["conversion"])
    assert treated["revenue"].mean() == pytest.approx(winback["true_uplift"]["revenue"])
    # customers the campaign targets bought before it (RFM-like segments of real buyers)
    assert (rows.groupby("variant")["pre_period_revenue"].count() > 0).all()
    newcomers = by_id["CMP-2011-09-NEWCOMERS"]
    assert newcomers["extra_orders"] == 0
    assert newcomers["true_uplift"] == {"conversion": 0.0, "revenue": 0.0}


def test_same_seed_gives_the_same_campaigns(tmp_path, generated):
    manifest, _, crm = generated
    again = generate(
        tmp_path / "raw", rows=ROWS, seed=11, progress=False, assignments_dir=tmp_path / "crm"
    )
    assert again["campaigns"] == manifest["campaigns"]
    assert (tmp_path / "crm" / "part-00000.csv").read_bytes() == (
        crm / "part-00000.csv"
    ).read_bytes()


def _crm_file(path: Path, header: str = ASSIGNMENTS_HEADER) -> Path:
    path.write_text(
        header
        + "CMP-X,12346,treatment,2011-03-01 06:00:00\n"
        + "CMP-X,12347.0,control,2011-03-01 06:00:00\n"
        + "CMP-X,not-a-number,control,2011-03-01 06:00:00\n",
        encoding="utf-8",
    )
    return path


def test_a_crm_export_lands_unchanged_as_one_import(tmp_path):
    source = _crm_file(tmp_path / "assignments.csv")
    landing = tmp_path / "raw" / "campaign_assignments"
    assert source_of(source) == CAMPAIGN_ASSIGNMENTS

    entry = import_real([source], landing, source=CAMPAIGN_ASSIGNMENTS)

    assert entry["rows"] == 3 and entry["layouts"] == {"assignments.csv": CAMPAIGN_ASSIGNMENTS}
    [landed] = [landing / name for name in entry["files"]]
    # every row lands, the bad one too: staging quarantines it with its reason
    assert landed.read_text(encoding="utf-8") == source.read_text(encoding="utf-8")
    ledger = json.loads((landing / "_manifest.json").read_text())
    assert ledger["kind"] == "import_ledger" and ledger["files"] == entry["files"]


def test_a_bad_crm_header_is_one_sentence_and_changes_nothing(tmp_path):
    landing = tmp_path / "raw" / "campaign_assignments"
    good = _crm_file(tmp_path / "good.csv")
    import_real([good], landing, source=CAMPAIGN_ASSIGNMENTS)
    before = {path.name: path.read_bytes() for path in landing.iterdir()}
    bad = _crm_file(tmp_path / "bad.csv", header="campaign_id,customer,variant,assigned_at\n")
    assert source_of(bad) == ONLINE_RETAIL_II  # not recognised as a CRM export

    with pytest.raises(UserError) as refused:
        import_real([bad], landing, source=CAMPAIGN_ASSIGNMENTS)

    message = str(refused.value)
    assert "['campaign_id', 'customer', 'variant', 'assigned_at']" in message
    assert "['campaign_id', 'customer_id', 'variant', 'assigned_at']" in message
    assert message.count(". ") == 0 and message.endswith("is unchanged.")
    assert "\n" not in message
    assert {path.name: path.read_bytes() for path in landing.iterdir()} == before
    # as an Online Retail file (what `lgs import` makes of it) it is refused in one sentence
    with pytest.raises(UserError, match="a CRM export of campaign assignments"):
        import_real([bad], tmp_path / "raw" / "online_retail_ii")


def test_lgs_import_routes_a_crm_export_to_the_campaign_folder(tmp_path, monkeypatch, capsys):
    """`lgs import` recognises the CRM export by its header: it lands in the campaign
    source's folder, not the Online Retail one; a near-miss header is one sentence."""
    from lgs_analytics.cli import main

    monkeypatch.setenv("LGS_STATE_DIR", str(tmp_path / "state"))
    for name in ("LGS_RAW_PATH", "LGS_CAMPAIGN_RAW_PATH"):
        monkeypatch.delenv(name, raising=False)
    raw = tmp_path / "state" / "raw"

    assert main(["import", str(_crm_file(tmp_path / "crm.csv"))]) == 0
    assert [p.name for p in (raw / "campaign_assignments").iterdir() if p.suffix == ".csv"] == [
        "import-0001-part-00000.csv"
    ]
    assert not (raw / "online_retail_ii").exists()

    capsys.readouterr()
    bad = _crm_file(tmp_path / "bad.csv", header="campaign,customer_id,variant,assigned_at\n")
    assert main(["import", str(bad)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("error: bad.csv has columns")
    assert not (raw / "online_retail_ii").exists()


def test_lgs_generate_writes_the_assignments_beside_the_landing_folder(tmp_path, monkeypatch):
    from lgs_analytics.cli import main

    monkeypatch.setenv("LGS_STATE_DIR", str(tmp_path / "state"))
    out = tmp_path / "lake" / "online_retail_ii"
    assert main(["generate", "--rows", "3000", "--out", str(out)]) == 0
    crm = tmp_path / "lake" / "campaign_assignments"
    assert (crm / "part-00000.csv").read_text(encoding="utf-8").startswith(ASSIGNMENTS_HEADER)
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["campaign_assignments"] == str(crm.resolve())
