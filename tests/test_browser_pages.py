"""Journeys through the Segments, Team and Models pages in headless Chromium; screenshots for the user guide.

Reuses the server, browser and page fixtures of ``test_browser`` (the app on loopback, Chromium kept off the
network) and its 400-client showcase snapshot, to which the model reports of ``test_web_models`` are added.
Screenshots go to ``docs/screenshots/`` only with ``SALESFOLIO_SCREENSHOTS=1``::

    SALESFOLIO_SCREENSHOTS=1 .venv/bin/pytest tests/test_browser_pages.py
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from salesfolio.store.models import Snapshot
from test_browser import browser, login, page, server, shots  # noqa: F401  (pytest fixtures, used by name)
from test_web_models import CHURN_NOT_SHOWN, FORECAST

pytestmark = pytest.mark.browser


def assert_clean(tab, *, heatmap: bool = False) -> None:
    """No script error or failed request in the browser tab; CSP reports only plotly.js's inline styles.

    plotly.js injects a ``<style>`` element (its rules are served as a file instead) and, for a heatmap, sets a
    ``style`` attribute on the heatmap image (``image-rendering``); both are refused by the CSP without visible
    effect, so only those two are allowed here, and the second only on heatmap pages.
    """
    assert tab.errors == []
    allowed = {"style-src-elem", "style-src-attr"} if heatmap else {"style-src-elem"}
    for directive, source, _blocked in tab.evaluate("window.__csp"):
        assert directive in allowed and source.endswith("/static/plotly.min.js"), (directive, source)


def drawn(tab, selector: str) -> None:
    """Wait until the chart ``selector`` of the browser tab is drawn."""
    tab.wait_for_selector(f"{selector}[data-drawn=true]", timeout=20_000)


def cell_of(url: str) -> dict[str, list[str]]:
    return parse_qs(parse_qs(urlparse(url).query)["cell"][0])


def test_segments_matrix_lists_and_click(server, page, shots: Path) -> None:  # noqa: F811
    _world, base, _showcase = server
    login(page, base, "board")
    page.goto(f"{base}/segments")
    drawn(page, "#matrix-chart")
    assert page.locator("#matrix-chart canvas").count() >= 1  # WebGL
    assert page.locator("#segment-views .nav-link.active").inner_text() == "Value × potential"
    page.screenshot(path=str(shots / "segments.png"), full_page=True)
    # a row of the segment table loads its clients through HTMX; the address follows the selection
    page.locator("#matrix-table a", has_text="Development").click()
    page.wait_for_selector("#seg-clients")
    page.wait_for_url(re.compile(r".*/segments\?view=matrix&cell=segment%3Ddevelopment$"))
    assert page.locator("#seg-clients tbody tr").count() == 25
    assert set(page.locator("#seg-clients tbody .sf-seg").all_inner_texts()) == {"Development"}
    first = page.locator("#seg-clients tbody tr td:first-child .small").first.inner_text()
    page.locator("#seg-cells a[rel=next]").click()
    page.wait_for_url(re.compile(r".*cell=segment%3Ddevelopment&page=2$"))
    page.wait_for_function(
        "f => document.querySelector('#seg-clients tbody tr td:first-child .small').textContent !== f", arg=first
    )
    assert "26–" in page.locator("#seg-cells-count").inner_text()
    page.go_back()  # htmx keeps no history cache: the page reloads at the previous address
    page.wait_for_url(re.compile(r".*cell=segment%3Ddevelopment$"))
    page.wait_for_load_state()
    drawn(page, "#matrix-chart")
    assert page.locator("#seg-cells-count").inner_text().startswith("1–25 of ")
    # a point of the chart opens its client (through plotly's own event: pixel clicks on WebGL points are flaky)
    target = page.evaluate(
        """() => {
            const gd = document.getElementById('matrix-chart');
            const trace = gd.data.find(t => (t.customdata || []).length);
            gd.emit('plotly_click', {points: [{customdata: trace.customdata[0], data: trace}]});
            return trace.customdata[0];
        }"""
    )
    page.wait_for_url(re.compile(rf"{re.escape(base)}/clients/{target}$"))
    page.wait_for_selector("#forecast")
    assert page.locator("#churn h2").inner_text() == "Churn risk"
    assert_clean(page)


def test_heatmap_cell_click_lists_its_clients(server, page) -> None:  # noqa: F811
    _world, base, _showcase = server
    login(page, base, "maria")  # team North: reps R1 and R4
    page.goto(f"{base}/segments?view=heatmap")
    drawn(page, "#heatmap-chart")
    rows = page.evaluate("document.getElementById('heatmap-chart').data[0].y")
    assert set(rows) == {"Anna Nowak", "R4"}  # R4 is not in the reps table: its ID stands for its name
    link = page.evaluate(
        """() => {
            const gd = document.getElementById('heatmap-chart');
            const link = gd.data[0].customdata[0][0];
            gd.emit('plotly_click', {points: [{customdata: link, data: gd.data[0]}]});
            return link;
        }"""
    )
    page.wait_for_url(re.compile(r".*/segments\?view=heatmap&segmentation=segment&by=owner&metric=clients&cell=.*"))
    assert cell_of(page.url) == {k: [v] for k, v in (pair.split("=") for pair in link.split("&"))}
    page.wait_for_selector("#seg-clients")
    owner = cell_of(page.url)["owner"][0]
    assert set(page.locator("#seg-clients tbody tr td:nth-child(2)").evaluate_all("n => n.map(e => e.title)")) == {
        owner
    }
    # the colour selector redraws with revenue
    page.select_option("#heatmap-metric", "revenue")
    page.wait_for_url(re.compile(r".*metric=revenue.*"))
    drawn(page, "#heatmap-chart")
    assert page.evaluate("document.getElementById('heatmap-chart').layout") is not None
    assert_clean(page, heatmap=True)


REPS = {
    "R1": ("Anna Nowak", "North", 420.0),
    "R2": ("Bartek Wiśniewski", "South", 450.0),
    "R4": ("Marek Zieliński", "North", 400.0),
    "R5": ("Ewa Kamińska", "East", 430.0),
    "R6": ("Piotr Lewandowski", "East", None),
}


def add_team_data(world) -> None:
    """Names, teams and capacity of the showcase's reps, and a year of activities (about 3 hours a week each)."""
    import datetime as dt

    import pyarrow as pa

    rep_ids = list(REPS)
    activities: dict[str, list[object]] = {"client_id": [], "rep_id": [], "date": [], "kind": [], "hours": []}
    for n, rep in enumerate(rep_ids):
        owner_index = [1, 2, 4, 5, 6][n]  # S00001 belongs to R1, S00002 to R2, S00003 to R4, ...
        for week in range(52):
            activities["client_id"].append(
                f"S{(owner_index - 1 if owner_index < 3 else owner_index - 2) + 1 + 5 * (week % 20):05d}"
            )
            activities["rep_id"].append(rep)
            activities["date"].append(dt.date(2025, 1, 1) + dt.timedelta(days=7 * week))
            activities["kind"].append("visit" if week % 3 else "call")
            activities["hours"].append(2.0 + (week * (n + 3)) % 5)
    with world.workspace.warehouse() as wh:
        wh.upsert(
            "reps",
            pa.table(
                {
                    "rep_id": rep_ids,
                    "name": [REPS[r][0] for r in rep_ids],
                    "team": [REPS[r][1] for r in rep_ids],
                    "capacity_hours": [REPS[r][2] for r in rep_ids],
                }
            ),
        )
        wh.upsert("activities", pa.table(activities))


def test_team_page_per_role(server, page, browser, shots: Path) -> None:  # noqa: F811
    world, base, _showcase = server
    add_team_data(world)
    login(page, base, "board")
    page.goto(f"{base}/team")
    drawn(page, "#team-mix-chart")
    drawn(page, "#team-value-chart")
    assert page.locator("#team-table tbody tr").count() == 5  # reps R1, R2, R4, R5, R6 of the showcase
    page.screenshot(path=str(shots / "team.png"), full_page=True)
    page.locator("#team-table thead a", has_text="Rep").click()
    page.wait_for_url(re.compile(r".*/team\?sort=name&order=asc$"))
    names = page.locator("#team-table tbody tr td:first-child strong").all_inner_texts()
    assert names == sorted(names, key=str.casefold)
    assert_clean(page)
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    rep = context.new_page()
    login(rep, base, "anna")
    rep.goto(f"{base}/team")
    assert rep.locator("#team-table tbody tr").count() == 1
    assert rep.locator("#team-table tbody tr td:first-child strong").inner_text() == "Anna Nowak"
    context.close()


def test_models_page_and_polish(server, page, shots: Path) -> None:  # noqa: F811
    world, base, showcase = server
    with world.workspace.sessions.begin() as db:
        snapshot = db.get(Snapshot, showcase)
        assert snapshot is not None
        snapshot.models = {"forecast": FORECAST, "churn": CHURN_NOT_SHOWN}
    login(page, base, "board")
    page.goto(f"{base}/models")
    for chart in ("#frequency-chart", "#churn-auc-chart", "#churn-precision_at_k-chart", "#reliability-chart"):
        drawn(page, chart)
    assert page.locator("#churn-verdict p").first.inner_text().startswith("The churn model is not shown.")
    page.screenshot(path=str(shots / "models.png"), full_page=True)
    page.click("button.sf-lang-btn[value=pl]")
    page.wait_for_selector("html[lang=pl]")
    assert page.locator("h1.page-title").inner_text() == "Modele"
    drawn(page, "#churn-auc-chart")
    assert "+8,2%" in page.locator("#forecast-backtest").inner_text()
    page.click("button.sf-lang-btn[value=en]")
    page.wait_for_selector("html[lang=en]")
    assert_clean(page)
