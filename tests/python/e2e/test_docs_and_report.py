"""The dbt docs site and the HTML report, driven in a real headless Chromium.

After the main command (`lgs build`) on the default dataset:
(a) the docs site, served on 127.0.0.1, shows the project's overview, a mart's page with
    its true row count and a lineage graph that runs from the source through staging to
    the SQL marts and the Python models;
(b) the report's index.html renders in the browser with every chart image loaded;
(c) the numbers in report_data.json equal the tables as read by a new Spark process.
The docs server itself is also checked without a build (loopback only, serves target/).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import math
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from lgs_analytics.runtime.docs_site import make_docs_server, start_docs_server, stop_docs_server
from lgs_analytics.runtime.environment import MissingRequirementError
from lgs_analytics.runtime.paths import ProjectPaths

PROJECT_ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PROJECT = "lgs_analytics"
SOURCE_ID = "source.lgs_analytics.online_retail.online_retail_ii"
STAGING_ID = "model.lgs_analytics.stg_online_retail__transactions"
SQL_MARTS = (
    "monthly_sales",
    "monthly_orders",
    "monthly_active_users",
    "monthly_new_existing_users",
)
PYTHON_MODELS = (
    "customer_rfm_scores",
    "rfm_segment_summary",
    "invoice_amounts",
    "invoice_amount_distribution",
    "invoice_amount_histogram",
)
REPORT_CHARTS = (
    "monthly_sales",
    "monthly_orders",
    "monthly_active_users",
    "rfm_segments",
    "rfm_segment_transitions",
    "invoice_amounts",
    "clv_tiers",
    "clv_holdout",
    "kmeans_clusters",
    "sku_trends",
    "association_rules",
    "campaign_uplift",
)
# The tables behind the charts, by chart (the report's contract with the marts).
REPORT_TABLES = {
    "monthly_sales": {"monthly_sales"},
    "monthly_orders": {"monthly_orders"},
    "monthly_active_users": {"monthly_new_existing_users", "monthly_active_users"},
    "rfm_segments": {"rfm_segment_summary"},
    "rfm_segment_transitions": {"rfm_segment_transitions"},
    "invoice_amounts": {"invoice_amount_histogram", "invoice_amount_distribution"},
    "clv_tiers": {"clv_tier_summary"},
    "clv_holdout": {"clv_model_evaluation"},
    "kmeans_clusters": {"kmeans_model_selection", "kmeans_cluster_profiles"},
    "sku_trends": {"sku_trend_rankings"},
    "association_rules": {"association_rules"},
    "campaign_uplift": {"campaign_ab_results"},
}
WAIT_SECONDS = 90

# The docs site is an AngularJS app; its `graph` service keeps the cytoscape instance it
# drew (`graph_element`). The canvas has no DOM nodes to inspect, so the test asks
# cytoscape which nodes and edges are displayed.
RENDERED_GRAPH_JS = """
if (!window.angular) { return null; }
const root = document.querySelector('[ng-app]') || document.body;
const injector = window.angular.element(root).injector();
if (!injector) { return null; }
const service = injector.get('graph');
const cy = service.graph_element;
if (!cy || service.loading) { return null; }
const shown = cy.nodes().filter((node) => node.data('unique_id') && node.visible());
const ids = new Set(shown.map((node) => node.id()));
const edges = cy.edges().filter(
    (edge) => ids.has(edge.source().id()) && ids.has(edge.target().id())
);
const box = shown.boundingBox();
return {
    orientation: service.orientation,
    expanded: Boolean(service.expanded),
    nodes: shown.map((node) => ({
        id: node.id(),
        resource_type: node.data('resource_type'),
        language: node.data('language') || null,
    })),
    edges: edges.map((edge) => [edge.source().id(), edge.target().id()]),
    box: [box.x1, box.y1, box.x2, box.y2].map(Math.round),
};
"""


# The links of the rendered overview (the markdown under its first heading).
OVERVIEW_LINKS_JS = """
const heading = Array.from(document.querySelectorAll('h1')).find(
    (h) => h.textContent.trim() === arguments[0]);
if (!heading) { return null; }
return Array.from(heading.parentElement.querySelectorAll('a[href^="#!/"]'))
    .map((a) => a.getAttribute('href'));
"""
# Label and value of every entry of a node page's details (owner, type, ..., rows, bytes).
DETAILS_JS = """
return Array.from(document.querySelectorAll('.details dl.detail')).map((dl) => [
    dl.querySelector('dt').textContent.trim().toLowerCase(),
    dl.querySelector('dd') ? dl.querySelector('dd').textContent.trim() : '',
]);
"""


def _headings(markdown: str) -> list[str]:
    return [line.lstrip("#").strip() for line in markdown.splitlines() if line.startswith("#")]


def _row_stats(catalog: dict[str, Any]) -> dict[str, int]:
    """The row count catalog.json shows (stat `rows`, included) per model or seed name."""
    shown = {}
    for unique_id, node in catalog["nodes"].items():
        rows = node["stats"].get("rows")
        if rows and rows["include"]:
            shown[unique_id.rsplit(".", 1)[1]] = rows["value"]
    return shown


# ---------------------------------------------------------------------------------------
# Docs server on its own (no build needed)
# ---------------------------------------------------------------------------------------


def _fake_docs(root: Path) -> ProjectPaths:
    target = root / ".lgs" / "target"
    target.mkdir(parents=True)
    (target / "index.html").write_text("<html><body>lgs docs</body></html>")
    (target / "manifest.json").write_text('{"nodes": {}}')
    (target / "catalog.json").write_text('{"nodes": {}}')
    report = root / ".lgs" / "report"
    report.mkdir(parents=True)
    (report / "index.html").write_text("<html><body>lgs report</body></html>")
    (root / "secret.txt").write_text("outside both folders")
    return ProjectPaths(root=root, state=root / ".lgs")


def _get(url: str, path: str) -> tuple[int, str]:
    """Status and body of a GET of a raw path (no client-side `..` normalisation)."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_docs_server_serves_target_on_loopback(tmp_path: Path) -> None:
    paths = _fake_docs(tmp_path)
    server, url = start_docs_server(paths)
    try:
        assert server.server_address[0] == "127.0.0.1"
        assert url == f"http://127.0.0.1:{server.server_address[1]}/"
        with urllib.request.urlopen(url + "manifest.json", timeout=10) as response:
            assert json.loads(response.read()) == {"nodes": {}}
            assert response.headers["Cache-Control"] == "no-store"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert "lgs docs" in response.read().decode()
        # The report exposure's link: the report is served next to the docs.
        assert _get(url, "/report/index.html") == (200, "<html><body>lgs report</body></html>")
        for escape in (
            "/report/../secret.txt",
            "/report/%2e%2e/%2e%2e/secret.txt",
            "/../secret.txt",
        ):
            status, body = _get(url, escape)
            assert status == 404 and "outside" not in body, escape
    finally:
        stop_docs_server(server)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "localhost", "192.168.1.10"])
def test_docs_server_refuses_any_other_host(tmp_path: Path, host: str) -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1 only"):
        make_docs_server(_fake_docs(tmp_path), port=0, host=host)


def test_docs_server_needs_a_generated_site(tmp_path: Path) -> None:
    with pytest.raises(MissingRequirementError, match="dbt docs generate"):
        start_docs_server(ProjectPaths(root=tmp_path, state=tmp_path / ".lgs"))


# ---------------------------------------------------------------------------------------
# Browser
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """Headless Chromium from the system packages (CI installs them; see .ci/run)."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        pytest.fail(
            f"The browser tests need Chromium and ChromeDriver; missing {', '.join(missing)}: "
            "run scripts/system-deps.sh (or `apt-get install chromium chromium-driver`)."
        )
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1600,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(argument)
    # An explicit driver path: Selenium Manager never goes to the network for one.
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


def _rendered_graph(driver: webdriver.Chrome, required: set[str]) -> dict[str, Any]:
    """The graph on screen once open, holding `required`, and its layout has stopped moving."""
    previous: dict[str, Any] | None = None

    def settled(drv: webdriver.Chrome) -> dict[str, Any] | bool:
        nonlocal previous
        graph = drv.execute_script(RENDERED_GRAPH_JS)
        if not graph or not graph["expanded"]:
            return False
        if not required <= {node["id"] for node in graph["nodes"]}:
            return False
        stable = previous is not None and previous["box"] == graph["box"]
        previous = graph
        return graph if stable else False

    try:
        return WebDriverWait(driver, WAIT_SECONDS, poll_frequency=1).until(settled)
    except TimeoutException:
        shown = sorted(node["id"] for node in (previous or {}).get("nodes", []))
        pytest.fail(f"lineage graph never showed {sorted(required)}; it showed {shown}")


def _reachable(edges: list[list[str]], start: str) -> set[str]:
    children: dict[str, set[str]] = {}
    for parent, child in edges:
        children.setdefault(parent, set()).add(child)
    seen, frontier = set(), [start]
    while frontier:
        for child in children.get(frontier.pop(), ()):
            if child not in seen:
                seen.add(child)
                frontier.append(child)
    return seen


def _model_id(name: str) -> str:
    return f"model.{PROJECT}.{name}"


@pytest.mark.e2e
def test_docs_site_shows_a_mart_and_its_lineage(
    default_build: Any, browser: webdriver.Chrome
) -> None:
    paths = ProjectPaths(root=PROJECT_ROOT, state=default_build.state)
    manifest = json.loads((paths.target / "manifest.json").read_text())
    project_models = {
        unique_id
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node["package_name"] == PROJECT
    }
    exposures = set(manifest["exposures"])
    catalog = json.loads((paths.target / "catalog.json").read_text())
    report = json.loads((paths.report / "report_data.json").read_text())
    # The whole table (the report shows it uncut; test_report_numbers_are_the_tables).
    sales_rows = len(report["charts"]["monthly_sales"]["tables"]["monthly_sales"]["rows"])
    overview = manifest["docs"][f"doc.{PROJECT}.__overview__"]["block_contents"]
    server, url = start_docs_server(paths)
    try:
        # The landing page: the project's own overview, every link of it to a real node.
        headings = _headings(overview)
        browser.get(url + "#!/overview")
        WebDriverWait(browser, WAIT_SECONDS).until(
            lambda drv: all(
                heading in drv.find_element(By.TAG_NAME, "body").text for heading in headings
            )
        )
        links = browser.execute_script(OVERVIEW_LINKS_JS, headings[0])
        assert links and f"#!/model/{_model_id('monthly_sales')}" in links
        known = set(manifest["nodes"]) | set(manifest["sources"]) | exposures
        assert {link.split("/")[-1] for link in links} <= known, links

        # The mart's page: description from the yml, column types from catalog.json.
        browser.get("about:blank")
        browser.get(url + "#!/model/" + _model_id("monthly_sales"))
        WebDriverWait(browser, WAIT_SECONDS).until(
            lambda drv: "sales_growth_pct" in drv.find_element(By.TAG_NAME, "body").text
        )
        page = browser.find_element(By.TAG_NAME, "body").text
        # The yml description, as rendered from markdown (code and emphasis marks gone).
        description = manifest["nodes"][_model_id("monthly_sales")]["description"]
        opening = " ".join(description.replace("`", "").replace("**", "").split()[:8])
        assert opening in " ".join(page.split())
        assert "decimal(20,3)" in page.replace(" ", "").lower(), "catalog.json was not loaded"
        # Its details show the table's true row count (not the metastore's "0 rows").
        details = dict(browser.execute_script(DETAILS_JS))
        assert int(details["rows"].replace(",", "")) == sales_rows > 0, details
        assert _row_stats(catalog)["monthly_sales"] == sales_rows

        # Its lineage graph, from the page's "View Lineage Graph" button.
        browser.find_element(By.CSS_SELECTOR, ".launcher-btn a").click()
        neighbourhood = _rendered_graph(
            browser, {_model_id("monthly_sales"), _model_id("int_sales_lines_filtered")}
        )
        neighbours = {node["id"] for node in neighbourhood["nodes"]}
        assert _model_id("monthly_orders") not in neighbours, "not the mart's own lineage"
        assert exposures & neighbours, "the report exposure is missing downstream"

        # The whole project's graph, full screen. A fresh page load: the app does not redraw
        # the graph on a hash-only change from the model page.
        browser.get("about:blank")
        browser.get(url + "#!/overview?g_v=1")
        graph = _rendered_graph(
            browser,
            {SOURCE_ID, STAGING_ID}
            | {_model_id(name) for name in SQL_MARTS + PYTHON_MODELS}
            | project_models,
        )
        shown = {node["id"]: node for node in graph["nodes"]}
        downstream_of_staging = _reachable(graph["edges"], STAGING_ID)
        for name in SQL_MARTS + PYTHON_MODELS:
            assert _model_id(name) in downstream_of_staging, f"no edge path staging → {name}"
        for name in PYTHON_MODELS:
            assert shown[_model_id(name)]["language"] == "python"
        assert STAGING_ID in _reachable(graph["edges"], SOURCE_ID)
        assert exposures <= set(shown), "exposures missing from the lineage graph"
        for exposure in exposures:
            parents = {parent for parent, child in graph["edges"] if child == exposure}
            assert parents, f"{exposure} has no upstream model in the graph"

        screenshot = paths.report / "docs_lineage.png"
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(screenshot))
        with Image.open(screenshot) as image:
            assert image.format == "PNG" and image.width >= 800
    finally:
        stop_docs_server(server)


@pytest.mark.e2e
def test_report_renders_in_the_browser(default_build: Any, browser: webdriver.Chrome) -> None:
    report = default_build.state / "report"
    data = json.loads((report / "report_data.json").read_text())
    assert {chart: entry["status"] for chart, entry in data["charts"].items()} == dict.fromkeys(
        REPORT_CHARTS, "rendered"
    )

    browser.get((report / "index.html").as_uri())
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda drv: drv.execute_script(
            "return document.readyState === 'complete'"
            " && Array.from(document.images).every((img) => img.complete);"
        )
    )
    images = browser.execute_script(
        "return Array.from(document.images).map((img) => "
        "({chart: img.dataset.chart, width: img.naturalWidth, height: img.naturalHeight}));"
    )
    assert sorted(image["chart"] for image in images) == sorted(REPORT_CHARTS)
    assert all(image["width"] > 0 and image["height"] > 0 for image in images), images
    sections = browser.execute_script(
        "return Array.from(document.querySelectorAll('section'))"
        ".map((section) => [section.id, section.dataset.status]);"
    )
    assert dict(sections) == dict.fromkeys(REPORT_CHARTS, "rendered")
    # Every row of the data file is a row of the page's tables.
    rows_on_page = browser.execute_script(
        "return Object.fromEntries(Array.from(document.querySelectorAll('table[data-relation]'))"
        ".map((table) => [table.dataset.relation, table.tBodies[0].rows.length]));"
    )
    for entry in data["charts"].values():
        for table in entry["tables"].values():
            assert rows_on_page[table["relation"]] == len(table["rows"])
    # The banner names the partial month whenever a monthly mart flags one.
    partial = [
        row["year_month"]
        for row in data["charts"]["monthly_sales"]["tables"]["monthly_sales"]["rows"]
        if row["is_partial_month"]
    ]
    banner = browser.find_elements(By.ID, "partial-month")
    assert len(banner) == (1 if partial else 0)
    for year_month in partial:
        assert f"{year_month // 100}-{year_month % 100:02d}" in banner[0].text


def _plain(value: Any) -> Any:
    """A value read from parquet as JSON would hold it (independent of the report code)."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, Decimal | float | np.floating):
        number = float(value)
        return None if math.isnan(number) else number
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _canonical_rows(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(row, sort_keys=True) for row in rows)


@pytest.mark.e2e
def test_report_numbers_are_the_tables(default_build: Any) -> None:
    data = json.loads((default_build.state / "report" / "report_data.json").read_text())
    tables = {
        name: table
        for chart_id, entry in data["charts"].items()
        for name, table in entry["tables"].items()
        if name in REPORT_TABLES[chart_id]
    }
    assert set(tables) == set().union(*REPORT_TABLES.values())

    # A new Spark process reads the tables from the metastore: nothing is recomputed.
    exported = default_build.export(*sorted(table["relation"] for table in tables.values()))
    # The docs site's row counts (catalog.json) are the tables' too, and a view shows none.
    catalog = json.loads((default_build.state / "target" / "catalog.json").read_text())
    row_stats = _row_stats(catalog)
    for name, table in tables.items():
        assert row_stats.get(name) == len(exported[table["relation"]]), name
    views = {
        unique_id.rsplit(".", 1)[1]
        for unique_id, node in catalog["nodes"].items()
        if node["metadata"]["type"].lower() == "view"
    }
    assert views and not views & set(row_stats), "a view shows a row count"

    # Rankings too long to plot show their top rows only, the RFM transitions their last
    # month only; every other table is shown whole.
    assert {name for name, table in tables.items() if table["limit"] is not None} == {
        "association_rules"
    }
    assert {name for name, table in tables.items() if table["latest"] is not None} == {
        "rfm_segment_transitions"
    }
    for name, table in tables.items():
        frame = exported[table["relation"]]
        assert set(table["columns"]) <= set(frame.columns), name
        assert len(frame) > 0, name
        if table["latest"] is not None:
            latest = frame[table["latest"]]
            assert latest.nunique() > 1, name  # the cut is really a cut here
            frame = frame[latest == latest.max()]
        if table["limit"] is not None:
            assert len(frame) > table["limit"], name  # the cut is really a cut here
            frame = frame.sort_values(table["order_by"], kind="stable").head(table["limit"])
        assert len(table["rows"]) == len(frame), name
        expected = [
            {column: _plain(value) for column, value in zip(table["columns"], row, strict=True)}
            for row in frame[table["columns"]].itertuples(index=False, name=None)
        ]
        assert _canonical_rows(table["rows"]) == _canonical_rows(expected), name


@pytest.mark.e2e
def test_every_node_and_column_is_documented(default_build):
    """The docs check passes on the artifacts of the main command (manifest + catalog)."""
    result = subprocess.run(
        [sys.executable, "-m", "lgs_analytics.devtools.docs_check"],
        cwd=PROJECT_ROOT,
        env=default_build.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
