"""Journeys in headless Chromium against the app served by uvicorn on loopback; screenshots for the user guide.

The app runs in a thread of this process (``uvicorn.Server`` on a free 127.0.0.1 port). Chromium is the Debian
build at /usr/bin/chromium, started with flags that keep it off the network (stack.md, pitfall 12); the tests
skip when it is absent, except in CI (env ``CI``) where that is a failure. Screenshots of each page are written
to ``docs/screenshots/`` (committed as documentation) when ``SALESFOLIO_SCREENSHOTS=1``, else to a temporary
folder, so an ordinary test run leaves the committed images alone::

    SALESFOLIO_SCREENSHOTS=1 .venv/bin/pytest tests/test_browser.py
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from web_fixtures import PASSWORD, World, add_showcase_snapshot, build_world, cheap_passwords

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
FLAGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--disable-domain-reliability",
    "--metrics-recording-only",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
VIEWPORT = {"width": 1440, "height": 900}
CSP_PROBE = (
    "window.__csp = []; document.addEventListener('securitypolicyviolation', e => "
    "window.__csp.push([e.violatedDirective, e.sourceFile || '', e.blockedURI || '']));"
)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: docs/screenshots with SALESFOLIO_SCREENSHOTS=1, else a temporary folder."""
    return DOCS_SCREENSHOTS if os.environ.get("SALESFOLIO_SCREENSHOTS") == "1" else tmp_path_factory.mktemp("shots")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, str, int]]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is required in CI")
        pytest.skip(f"{CHROMIUM} not installed")
    import uvicorn

    with cheap_passwords():
        world = build_world(tmp_path_factory.mktemp("browser"), name="ACME Dystrybucja")
        showcase = add_showcase_snapshot(world, 400)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(world.app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        yield world, f"http://127.0.0.1:{port}", showcase
        server.should_exit = True
        thread.join(timeout=10)
        world.workspace.close()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        yield chromium
        chromium.close()


def open_page(browser):
    """A new page in its own context that records script errors, failed requests and HTTP errors in ``page.errors``."""
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB")
    page = context.new_page()
    page.add_init_script(CSP_PROBE)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # A request the browser itself aborts because the page navigated on (net::ERR_ABORTED, e.g. the favicon of
    # a page left quickly under load) is not a failure of the app; every other failure is.
    page.on(
        "requestfailed",
        lambda request: (
            None
            if "ERR_ABORTED" in (request.failure or "")
            else errors.append(f"request failed: {request.url} ({request.failure})")
        ),
    )
    page.on(
        "response",
        lambda response: errors.append(f"{response.status} {response.url}") if response.status >= 400 else None,
    )
    page.errors = errors  # type: ignore[attr-defined]
    return page


@pytest.fixture
def page(browser):
    page = open_page(browser)
    yield page
    page.context.close()


def login(page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("form button[type=submit].btn-primary")
    page.wait_for_url(f"{base}/")


def assert_clean(page) -> None:
    """No script error, no failed or refused request, and only the known CSP report (maplibre's inline style)."""
    assert page.errors == []
    for directive, source, _blocked in page.evaluate("window.__csp"):
        assert directive == "style-src-elem" and source.endswith("/static/plotly.min.js"), (directive, source)


def test_board_overview_map_click_opens_the_client(server, page, shots: Path) -> None:
    _world, base, _showcase = server
    login(page, base, "board")
    page.wait_for_selector("#portfolio-map[data-drawn=true]", timeout=20_000)
    page.wait_for_selector("#pareto-chart[data-drawn=true]")
    assert page.locator("#portfolio-map canvas").count() >= 1  # WebGL (scattergl) is drawing
    assert page.locator("#kpi-revenue").inner_text().startswith("PLN")
    page.screenshot(path=str(shots / "overview.png"), full_page=True)
    # a click on a bubble, dispatched through plotly's own event (a pixel click on WebGL points is flaky)
    target = page.evaluate(
        """() => {
            const gd = document.getElementById('portfolio-map');
            const trace = gd.data.find(t => (t.customdata || []).length);
            gd.emit('plotly_click', {points: [{customdata: trace.customdata[0], data: trace}]});
            return trace.customdata[0];
        }"""
    )
    page.wait_for_url(re.compile(rf"{re.escape(base)}/clients/{target}$"))
    page.wait_for_selector("#contributions-chart[data-drawn=true]")
    assert page.locator("#client-name").inner_text().strip() != ""
    assert_clean(page)


def test_alert_link_and_client_page(server, page, shots: Path) -> None:
    _world, base, _ = server
    login(page, base, "anna")
    page.wait_for_selector("#alerts-table a")
    page.locator("#alerts-table a").first.click()
    page.wait_for_selector("#history-chart[data-drawn=true], #history .alert, #history p", timeout=20_000)
    assert "/clients/" in page.url
    page.goto(f"{base}/clients/S00001")
    page.wait_for_selector("#history-chart[data-drawn=true]", timeout=20_000)
    page.wait_for_selector("#contributions-chart[data-drawn=true]")
    page.screenshot(path=str(shots / "client.png"), full_page=True)
    # the assessment form shows precise messages next to the fields
    page.fill("#a-potential", "lots")
    page.select_option("#a-relationship", "4")
    page.click("#assessment-form button[type=submit]")
    page.wait_for_selector("#error-potential")
    assert page.locator("#error-potential").inner_text() == "Potential must be an amount, e.g. 250000."
    assert page.errors == [f"400 {base}/clients/S00001/assessments"]  # the form answered 400, as it should
    page.errors.clear()
    page.fill("#a-potential", "1,250,000")
    page.click("#assessment-form button[type=submit]")
    page.wait_for_selector(".alert-success")
    assert "1,250,000" in page.locator("#assessments-table").inner_text()
    assert_clean(page)


def test_rep_sees_only_own_clients_and_htmx_keeps_the_url(server, page, shots: Path) -> None:
    world, base, _ = server
    login(page, base, "bartek")
    page.goto(f"{base}/clients")
    owners = set(page.locator("#clients tbody tr td:nth-child(2)").all_inner_texts())
    assert owners == {"R2"}
    page.screenshot(path=str(shots / "clients.png"), full_page=True)
    page.goto(f"{base}/clients?snapshot={world.snapshot_id}")  # the small snapshot of web_fixtures
    page.fill("#filter-q", "beta")
    page.wait_for_url(re.compile(rf".*/clients\?snapshot={world.snapshot_id}&q=beta$"))
    page.wait_for_function("document.querySelectorAll('#clients tbody tr').length === 1")
    assert "Beta Logistics" in page.locator("#clients tbody").inner_text()
    page.locator("#clients thead a", has_text="Client").click()
    page.wait_for_url(re.compile(r".*sort=name.*order=asc"))
    page.wait_for_function("document.querySelector('#clients thead th[aria-sort]') !== null")
    page.go_back()
    page.wait_for_url(re.compile(rf".*/clients\?snapshot={world.snapshot_id}&q=beta$"))
    page.wait_for_function("document.querySelectorAll('#clients tbody tr').length === 1")
    assert_clean(page)


def test_switch_to_polish(server, page, shots: Path) -> None:
    _world, base, _ = server
    login(page, base, "maria")
    page.click("button.sf-lang-btn[value=pl]")
    page.wait_for_selector("html[lang=pl]")
    assert page.locator("h1.page-title").inner_text() == "Przegląd"
    assert "zł" in page.locator("#kpi-revenue").inner_text()
    page.wait_for_selector("#portfolio-map[data-drawn=true]", timeout=20_000)
    page.screenshot(path=str(shots / "overview-pl.png"), full_page=True)
    page.goto(f"{base}/clients")
    assert page.locator("h1.page-title").inner_text() == "Klienci"
    page.click("button.sf-lang-btn[value=en]")
    page.wait_for_selector("html[lang=en]")
    assert_clean(page)


def test_login_page_and_narrow_screen(server, browser, shots: Path) -> None:
    _world, base, _ = server
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(f"{base}/login")
    page.screenshot(path=str(shots / "login.png"), full_page=True)
    login(page, base, "board")
    page.wait_for_selector("#portfolio-map[data-drawn=true]", timeout=20_000)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing forces sideways scrolling of the page on a phone
    context.close()
