"""The Databricks production job: source freshness is checked, and reported, before the
build of the production_job selection (selectors.yml)."""

from __future__ import annotations

import json

import yaml

from lgs_testing import PROJECT_ROOT

JOB = json.loads((PROJECT_ROOT / "deploy" / "databricks" / "lgs_dbt_build_job.json").read_text())


def test_freshness_runs_before_the_production_build() -> None:
    commands = JOB["tasks"][0]["dbt_task"]["commands"]
    assert commands[-2:] == [
        "dbt source freshness --target databricks",
        "dbt build --target databricks --selector production_job",
    ]
    # The source has the thresholds the freshness step checks.
    sources = yaml.safe_load(
        (
            PROJECT_ROOT / "models" / "staging" / "online_retail" / "_online_retail__sources.yml"
        ).read_text()
    )
    config = sources["sources"][0]["config"]
    assert {"warn_after", "error_after"} <= set(config["freshness"])
    assert config["loaded_at_field"]
