"""The report's files: one PNG per chart, `report_data.json` and a self-contained `index.html`.

`render_report` takes pandas frames (no Spark) and writes the charts, the data file (exactly
the rows plotted, as read) and the page (the charts embedded as data URIs, the numbers in
HTML tables, no external CSS, JS or fonts). A chart whose table does not exist or is empty is
skipped with a visible note in the page and in the data file, never silently.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from lgs_analytics.report.charts import CHARTS, ChartSpec
from lgs_analytics.report.values import display_value, frame_rows, month_label, partial_mask

DATA_FILE = "report_data.json"
INDEX_FILE = "index.html"
PNG_DPI = 110


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
       margin: 0 auto; max-width: 1240px; padding: 24px; color: #1d2730; }
h1 { margin-bottom: 4px; }
.meta { color: #5a6672; margin-top: 0; }
.banner { background: #fff4e5; border-left: 4px solid #e07a1f; padding: 10px 14px; }
.note.missing { background: #fdecee; border-left: 4px solid #d1495b; padding: 10px 14px; }
section { margin: 36px 0; }
img { max-width: 100%; height: auto; border: 1px solid #e3e7eb; }
table { border-collapse: collapse; font-size: 13px; margin: 12px 0; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border-bottom: 1px solid #e3e7eb; padding: 3px 10px; }
th { background: #f3f5f7; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.partial td { background: #fff4e5; }
.badge { background: #e07a1f; color: white; border-radius: 3px; font-size: 11px;
         padding: 0 5px; margin-left: 6px; }
code { background: #f3f5f7; padding: 0 3px; }
details summary { cursor: pointer; color: #1f6f8b; }
"""


def _html_table(frame: pd.DataFrame, relation: str) -> str:
    """The rows as read, every value also in `data-value` (its exact JSON value)."""
    has_partial = "is_partial_month" in frame.columns
    header = "".join(f"<th>{html.escape(str(column))}</th>" for column in frame.columns)
    body = []
    for row in frame_rows(frame):
        partial = has_partial and bool(row["is_partial_month"])
        cells = []
        for column, value in row.items():
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            text = html.escape(display_value(value))
            if column == "year_month" and value is not None:
                text = html.escape(month_label(value))
                if partial:
                    text += '<span class="badge">partial</span>'
            cells.append(
                f'<td class="{"num" if numeric else "text"}" data-column="{html.escape(column)}"'
                f' data-value="{html.escape(json.dumps(value))}">{text}</td>'
            )
        row_class = ' class="partial" data-partial="true"' if partial else ""
        body.append(f"<tr{row_class}>{''.join(cells)}</tr>")
    return (
        f'<table data-relation="{html.escape(relation)}"><caption><code>'
        f"{html.escape(relation)}</code></caption><thead><tr>{header}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _partial_months(frames: Mapping[str, pd.DataFrame | None]) -> list[str]:
    months: set[str] = set()
    for frame in frames.values():
        if frame is not None and {"is_partial_month", "year_month"} <= set(frame.columns):
            flagged = frame[partial_mask(frame)]
            months.update(month_label(ym) for ym in flagged["year_month"])
    return sorted(months)


def _data_range(frames: Mapping[str, pd.DataFrame | None]) -> str | None:
    sales = frames.get("monthly_sales")
    if sales is None or sales.empty:
        return None
    months = sorted(int(ym) for ym in sales["year_month"])
    return f"{month_label(months[0])} to {month_label(months[-1])} ({len(months)} months)"


def _page(
    sections: list[str],
    frames: Mapping[str, pd.DataFrame | None],
    generated_at: str,
    target: str,
) -> str:
    meta = (
        f"Generated {html.escape(generated_at)} from dbt target <code>{html.escape(target)}</code>"
    )
    data_range = _data_range(frames)
    if data_range:
        meta += f"; data from {html.escape(data_range)}"
    partial = _partial_months(frames)
    banner = (
        f'<p class="banner" id="partial-month">Partial month: {", ".join(partial)}. The data '
        "ends before the month does, so its totals (hatched bars, <code>*</code> on the axis, "
        "highlighted rows) are not comparable with full months.</p>"
        if partial
        else ""
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>London Gift Shop: retail analytics report</title>"
        f"<style>{STYLE}</style></head><body>"
        "<h1>London Gift Shop: retail analytics report</h1>"
        f'<p class="meta">{meta}.</p>{banner}{"".join(sections)}</body></html>\n'
    )


def _missing_reason(
    chart: ChartSpec, frames: Mapping[str, pd.DataFrame | None], relations: Mapping[str, str]
) -> list[str]:
    reasons = []
    for spec in chart.tables:
        frame = frames.get(spec.table)
        relation = relations.get(spec.table, spec.table)
        if frame is None:
            reasons.append(f"table {relation} does not exist")
        elif frame.empty:
            reasons.append(f"table {relation} is empty")
    return reasons


def _write_atomic(path: Path, data: bytes) -> None:
    """Readers (a browser, a test) never see a half-written file."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def render_chart(chart: ChartSpec, frames: Mapping[str, pd.DataFrame], path: Path) -> Path:
    """Draw one chart into a PNG file."""
    figure = Figure(figsize=(11, chart.height), layout="constrained")
    chart.draw(figure, frames)
    # No software/version metadata: the same data gives the same bytes.
    figure.savefig(path, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return path


def render_report(
    frames: Mapping[str, pd.DataFrame | None],
    out_dir: Path,
    *,
    relations: Mapping[str, str] | None = None,
    target: str = "local",
    generated_at: str | None = None,
    charts: Sequence[ChartSpec] = CHARTS,
) -> Path:
    """Write the charts, report_data.json and index.html into `out_dir`; the index's path.

    `frames` maps a table name to its rows (None when the table does not exist);
    `relations` maps a table name to its schema-qualified name, for the page and the data.
    """
    relations = dict(relations or {})
    generated_at = generated_at or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    out_dir.mkdir(parents=True, exist_ok=True)
    sections: list[str] = []
    data: dict[str, Any] = {"generated_at": generated_at, "target": target, "charts": {}}
    for chart in charts:
        png = out_dir / f"{chart.chart_id}.png"
        tables = {
            spec.table: {"relation": relations.get(spec.table, spec.table), "columns": None}
            for spec in chart.tables
        }
        missing = _missing_reason(chart, frames, relations)
        heading = f"<h2>{html.escape(chart.title)}</h2><p>{html.escape(chart.description)}</p>"
        if missing:
            # A chart from a previous run must not pass for this run's.
            png.unlink(missing_ok=True)
            note = "; ".join(missing)
            print(f"report: skipped chart '{chart.chart_id}': {note}", file=sys.stderr)
            sections.append(
                f'<section id="{chart.chart_id}" data-status="skipped">{heading}'
                f'<p class="note missing" role="note">Chart skipped: {html.escape(note)} '
                f"in target <code>{html.escape(target)}</code>. Build it (<code>lgs build"
                "</code>) and write the report again.</p></section>"
            )
            data["charts"][chart.chart_id] = {
                "title": chart.title,
                "status": "skipped",
                "missing": missing,
                "tables": {name: {"relation": t["relation"]} for name, t in tables.items()},
            }
            continue
        chart_frames = {spec.table: frames[spec.table] for spec in chart.tables}
        specs = {spec.table: spec for spec in chart.tables}
        render_chart(chart, chart_frames, png)
        encoded = base64.b64encode(png.read_bytes()).decode("ascii")
        html_tables = "".join(
            _html_table(frame, relations.get(name, name)) for name, frame in chart_frames.items()
        )
        sections.append(
            f'<section id="{chart.chart_id}" data-status="rendered">{heading}'
            f'<img src="data:image/png;base64,{encoded}" alt="{html.escape(chart.title)}"'
            f' data-chart="{chart.chart_id}">'
            f"<details open><summary>Numbers plotted</summary>{html_tables}</details></section>"
        )
        data["charts"][chart.chart_id] = {
            "title": chart.title,
            "status": "rendered",
            "png": png.name,
            "tables": {
                name: {
                    "relation": relations.get(name, name),
                    "columns": [str(column) for column in frame.columns],
                    # Which rows of the table these are: all, or the top `limit` by `order_by`,
                    # of the rows holding the greatest value of `latest` when it is set.
                    "order_by": list(specs[name].order_by),
                    "limit": specs[name].limit,
                    "latest": specs[name].latest,
                    "rows": frame_rows(frame),
                }
                for name, frame in chart_frames.items()
            },
        }
    _write_atomic(out_dir / DATA_FILE, (json.dumps(data, indent=2) + "\n").encode("utf-8"))
    index = out_dir / INDEX_FILE
    _write_atomic(index, _page(sections, frames, generated_at, target).encode("utf-8"))
    return index
