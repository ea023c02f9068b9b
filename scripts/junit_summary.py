"""Markdown summary of JUnit XML reports, for a CI job summary ($GITHUB_STEP_SUMMARY).

    python scripts/junit_summary.py reports/*.xml >> "$GITHUB_STEP_SUMMARY"

One table row per report (tests, failures, errors, skipped, seconds), then every failed or
erroring test with the first line of its message. Standard library only.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def summarize(paths: list[Path]) -> str:
    lines = [
        "| report | tests | failed | errors | skipped | time (s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    problems: list[str] = []
    for path in paths:
        if not path.is_file():
            lines.append(f"| {path.name} | not written | | | | |")
            continue
        root = ET.parse(path).getroot()
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
        seconds = 0.0
        for suite in suites:
            for key in totals:
                totals[key] += int(suite.get(key, 0))
            seconds += float(suite.get("time", 0))
            for case in suite.iter("testcase"):
                for kind in ("failure", "error"):
                    found = case.find(kind)
                    if found is not None:
                        message = (found.get("message") or "").splitlines()
                        first = message[0][:200] if message else ""
                        name = f"{case.get('classname')}::{case.get('name')}"
                        problems.append(f"- **{kind}** `{name}`: {first}")
        lines.append(
            f"| {path.name} | {totals['tests']} | {totals['failures']} | {totals['errors']} "
            f"| {totals['skipped']} | {seconds:.0f} |"
        )
    if problems:
        lines += ["", "Failed:", "", *problems]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    print(summarize([Path(arg) for arg in argv]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
