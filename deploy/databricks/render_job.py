"""Render the Databricks job definition from environment variables, for the Jobs API / CLI.

    python deploy/databricks/render_job.py > lgs_dbt_build_job.rendered.json
    databricks jobs create --json @lgs_dbt_build_job.rendered.json

`lgs_dbt_build_job.json` holds no placeholder to edit by hand: every value that differs per
workspace is a `${NAME}` reference to an environment variable, filled in here. A required
variable that is unset stops the rendering with one sentence naming all of them, so a
half-rendered job can never be created. Only the standard library is used: the script runs
wherever the Databricks CLI runs. docs/DATABRICKS.md lists the variables.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

TEMPLATE = Path(__file__).with_name("lgs_dbt_build_job.json")
REFERENCE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
# Variables with a sensible default; all others are required.
DEFAULTS = {
    "LGS_GIT_PROVIDER": "gitHub",
    "LGS_GIT_BRANCH": "main",
    "LGS_JOB_CRON": "0 0 6 * * ?",
    "LGS_JOB_TIMEZONE": "Europe/London",
    "DATABRICKS_SPARK_VERSION": "15.4.x-scala2.12",
    "DATABRICKS_SECRET_SCOPE": "lgs",  # pragma: allowlist secret (a scope name)
}


class MissingVariablesError(RuntimeError):
    """Required environment variables are unset."""


def variables(template: str) -> list[str]:
    """Names of the variables the template refers to, in order of first use."""
    return list(dict.fromkeys(REFERENCE.findall(template)))


def render(template: str, environment: Mapping[str, str]) -> dict:
    """The job definition with every `${NAME}` replaced; JSON-escaped, so any value is safe."""
    values = {**DEFAULTS, **{k: v for k, v in environment.items() if v}}
    missing = [name for name in variables(template) if name not in values]
    if missing:
        raise MissingVariablesError(
            f"Set {', '.join(missing)} before rendering the job (see docs/DATABRICKS.md)."
        )
    rendered = REFERENCE.sub(lambda match: json.dumps(values[match.group(1)])[1:-1], template)
    return json.loads(rendered)


def main() -> int:
    try:
        job = render(TEMPLATE.read_text(), os.environ)
    except MissingVariablesError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    print(json.dumps(job, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
