"""Documentation coverage check on small hand-made manifest/catalog dicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lgs_analytics.devtools.docs_check import check_docs, main

PROJECT = "lgs_analytics"


def _column(description: str = "documented") -> dict[str, Any]:
    return {"description": description}


def _documented_manifest() -> dict[str, Any]:
    """A manifest where everything is documented: one SQL model, one Python model, ..."""
    return {
        "metadata": {"project_name": PROJECT},
        "nodes": {
            "model.lgs_analytics.monthly_sales": {
                "resource_type": "model",
                "package_name": PROJECT,
                "language": "sql",
                "original_file_path": "models/marts/sales/monthly_sales.sql",
                "description": "Monthly sales.",
                "config": {"materialized": "table"},
                "columns": {"year_month": _column(), "sales_amount": _column()},
            },
            "model.lgs_analytics.rfm_segment_summary": {
                "resource_type": "model",
                "package_name": PROJECT,
                "language": "python",
                "original_file_path": "python_models/rfm/rfm_segment_summary.py",
                "description": "Segments.",
                "config": {"materialized": "table"},
                "columns": {"segment": _column()},
            },
            "model.lgs_analytics.int_helper": {
                "resource_type": "model",
                "package_name": PROJECT,
                "language": "sql",
                "original_file_path": "models/intermediate/int_helper.sql",
                "description": "Never materialized, so never in the catalog.",
                "config": {"materialized": "ephemeral"},
                "columns": {"helper_id": _column()},
            },
            "seed.lgs_analytics.rfm_segment_map": {
                "resource_type": "seed",
                "package_name": PROJECT,
                "original_file_path": "seeds/rfm_segment_map.csv",
                "description": "R/F to segment.",
                "config": {"materialized": "seed"},
                "columns": {"segment": _column()},
            },
            # Tests, hooks and other packages' models are out of scope.
            "test.lgs_analytics.not_null_x": {
                "resource_type": "test",
                "package_name": PROJECT,
                "description": "",
                "config": {"materialized": "test"},
                "columns": {},
            },
            "operation.lgs_analytics.lgs_analytics-on-run-start-0": {
                "resource_type": "operation",
                "package_name": PROJECT,
                "description": "",
                "config": {"materialized": "view"},
                "columns": {},
            },
            "model.other_package.their_model": {
                "resource_type": "model",
                "package_name": "other_package",
                "description": "",
                "config": {"materialized": "table"},
                "columns": {"x": _column("")},
            },
        },
        "sources": {
            "source.lgs_analytics.online_retail.online_retail_ii": {
                "resource_type": "source",
                "package_name": PROJECT,
                "original_file_path": "models/staging/_sources.yml",
                "description": "Raw rows.",
                "columns": {"Customer ID": _column(), "Invoice": _column()},
            }
        },
        "macros": {
            "macro.lgs_analytics.growth_pct": {
                "package_name": PROJECT,
                "original_file_path": "macros/growth_pct.sql",
                "description": "Growth in percent.",
            },
            "macro.dbt.run_query": {"package_name": "dbt", "description": ""},
        },
    }


def _catalog() -> dict[str, Any]:
    def entry(*columns: str) -> dict[str, Any]:
        return {"columns": {name: {"name": name, "type": "string"} for name in columns}}

    return {
        "nodes": {
            "model.lgs_analytics.monthly_sales": entry("year_month", "sales_amount"),
            "model.lgs_analytics.rfm_segment_summary": entry("segment"),
            "seed.lgs_analytics.rfm_segment_map": entry("segment"),
        },
        # The metastore may lower-case names: `Customer ID` and `customer id` are one column.
        "sources": {
            "source.lgs_analytics.online_retail.online_retail_ii": entry("customer id", "Invoice")
        },
    }


def _messages(manifest: dict[str, Any], catalog: dict[str, Any]) -> list[str]:
    return [str(problem) for problem in check_docs(manifest, catalog)]


def test_fully_documented_project_passes() -> None:
    assert check_docs(_documented_manifest(), _catalog()) == []


def test_missing_descriptions_are_reported_for_every_kind() -> None:
    manifest = _documented_manifest()
    manifest["nodes"]["model.lgs_analytics.monthly_sales"]["description"] = "  "
    manifest["nodes"]["model.lgs_analytics.monthly_sales"]["columns"]["sales_amount"] = _column("")
    manifest["nodes"]["model.lgs_analytics.rfm_segment_summary"]["description"] = ""
    manifest["nodes"]["seed.lgs_analytics.rfm_segment_map"]["columns"]["segment"] = _column("")
    manifest["sources"]["source.lgs_analytics.online_retail.online_retail_ii"]["description"] = ""
    manifest["macros"]["macro.lgs_analytics.growth_pct"]["description"] = ""

    assert _messages(manifest, _catalog()) == [
        "macro.lgs_analytics.growth_pct (macros/growth_pct.sql): macro has no description",
        "model.lgs_analytics.monthly_sales (models/marts/sales/monthly_sales.sql): "
        "column 'sales_amount' has no description",
        "model.lgs_analytics.monthly_sales (models/marts/sales/monthly_sales.sql): "
        "model has no description",
        "model.lgs_analytics.rfm_segment_summary "
        "(python_models/rfm/rfm_segment_summary.py): python model has no description",
        "seed.lgs_analytics.rfm_segment_map (seeds/rfm_segment_map.csv): "
        "column 'segment' has no description",
        "source.lgs_analytics.online_retail.online_retail_ii (models/staging/_sources.yml): "
        "source has no description",
    ]


def test_documented_column_missing_from_relation_is_reported() -> None:
    manifest = _documented_manifest()
    columns = manifest["nodes"]["model.lgs_analytics.rfm_segment_summary"]["columns"]
    columns["segment_name"] = _column()

    assert _messages(manifest, _catalog()) == [
        "model.lgs_analytics.rfm_segment_summary "
        "(python_models/rfm/rfm_segment_summary.py): column 'segment_name' is "
        "documented but the python model does not produce it (not in catalog.json)"
    ]


def test_undocumented_relation_column_is_reported() -> None:
    catalog = _catalog()
    catalog["nodes"]["model.lgs_analytics.monthly_sales"]["columns"]["sales_lines"] = {
        "name": "sales_lines",
        "type": "bigint",
    }
    catalog["sources"]["source.lgs_analytics.online_retail.online_retail_ii"]["columns"][
        "Country"
    ] = {"name": "Country", "type": "string"}

    assert _messages(_documented_manifest(), catalog) == [
        "model.lgs_analytics.monthly_sales (models/marts/sales/monthly_sales.sql): "
        "column 'sales_lines' is produced by the model but not documented",
        "source.lgs_analytics.online_retail.online_retail_ii (models/staging/_sources.yml): "
        "column 'Country' is produced by the source but not documented",
    ]


def test_materialized_model_missing_from_catalog_is_reported() -> None:
    catalog = _catalog()
    del catalog["nodes"]["model.lgs_analytics.monthly_sales"]

    messages = _messages(_documented_manifest(), catalog)

    assert messages == [
        "model.lgs_analytics.monthly_sales (models/marts/sales/monthly_sales.sql): "
        "model is not in catalog.json: build it, then run `dbt docs generate`"
    ]


def _write_artifacts(folder: Path, manifest: dict[str, Any], catalog: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "catalog.json").write_text(json.dumps(catalog))
    return folder


def test_main_exits_1_with_one_line_per_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = _documented_manifest()
    manifest["macros"]["macro.lgs_analytics.growth_pct"]["description"] = ""
    manifest["nodes"]["model.lgs_analytics.monthly_sales"]["columns"]["year_month"] = _column("")
    target = _write_artifacts(tmp_path / "target", manifest, _catalog())

    assert main(["--target-dir", str(target)]) == 1

    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "macro.lgs_analytics.growth_pct (macros/growth_pct.sql): macro has no description",
        "model.lgs_analytics.monthly_sales (models/marts/sales/monthly_sales.sql): "
        "column 'year_month' has no description",
    ]


def test_main_exits_0_when_documented(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = _write_artifacts(tmp_path / "target", _documented_manifest(), _catalog())

    assert main(["--target-dir", str(target)]) == 0
    assert "every model" in capsys.readouterr().out


def test_main_exits_2_without_artifacts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--target-dir", str(tmp_path)]) == 2
    assert "dbt docs generate" in capsys.readouterr().err
