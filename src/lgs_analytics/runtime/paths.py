"""Where the project and its generated state live."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

STATE_ENV = "LGS_STATE_DIR"
RAW_ENV = "LGS_RAW_PATH"
CAMPAIGN_RAW_ENV = "LGS_CAMPAIGN_RAW_PATH"


def find_project_root(start: Path | None = None) -> Path:
    """The folder holding dbt_project.yml: above ``start`` (default cwd), else the checkout."""
    for folder in [(start or Path.cwd()).resolve(), *(start or Path.cwd()).resolve().parents]:
        if (folder / "dbt_project.yml").is_file():
            return folder
    checkout = Path(__file__).resolve().parents[3]
    if (checkout / "dbt_project.yml").is_file():
        return checkout
    raise FileNotFoundError("No dbt_project.yml found above the current folder.")


@dataclass(frozen=True)
class ProjectPaths:
    """Every generated path of a run, all under one ignored state folder."""

    root: Path
    state: Path

    @classmethod
    def discover(cls, start: Path | None = None) -> ProjectPaths:
        root = find_project_root(start)
        state = Path(os.environ.get(STATE_ENV) or root / ".lgs")
        if not state.is_absolute():
            state = root / state
        return cls(root=root, state=state.resolve())

    @property
    def raw(self) -> Path:
        env = os.environ.get(RAW_ENV)
        if env and "://" not in env and not env.startswith("dbfs:"):
            path = Path(env)
            return path if path.is_absolute() else (self.root / path).resolve()
        return self.state / "raw" / "online_retail_ii"

    @property
    def campaigns(self) -> Path:
        """Landing folder of the CRM exports of campaign assignments (the second source)."""
        env = os.environ.get(CAMPAIGN_RAW_ENV)
        if env and "://" not in env and not env.startswith("dbfs:"):
            path = Path(env)
            return path if path.is_absolute() else (self.root / path).resolve()
        return self.state / "raw" / "campaign_assignments"

    @property
    def warehouse(self) -> Path:
        return self.state / "warehouse"

    @property
    def metastore(self) -> Path:
        return self.state / "metastore_db"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def target(self) -> Path:
        """dbt's target folder (manifest, catalog, docs site): per state folder, so that
        builds on different state folders never overwrite each other's artifacts."""
        env = os.environ.get("DBT_TARGET_PATH")
        if env:
            path = Path(env)
            return path if path.is_absolute() else (self.root / path).resolve()
        return self.state / "target"

    @property
    def report(self) -> Path:
        return self.state / "report"

    @property
    def profiles(self) -> Path:
        return self.root / "profiles.yml"

    @property
    def profiles_example(self) -> Path:
        return self.root / "profiles.yml.example"

    def environment(self) -> dict[str, str]:
        """Environment variables that point dbt and Spark at this state folder."""
        return {
            STATE_ENV: str(self.state),
            RAW_ENV: os.environ.get(RAW_ENV) or str(self.raw),
            CAMPAIGN_RAW_ENV: os.environ.get(CAMPAIGN_RAW_ENV) or str(self.campaigns),
            "DBT_TARGET_PATH": str(self.target),
            "DBT_LOG_PATH": str(self.logs),
            "DO_NOT_TRACK": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
