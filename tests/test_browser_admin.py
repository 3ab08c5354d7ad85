"""Admin journeys in headless Chromium: upload, check and load files, run the analysis, tune the settings.

Served like tests/test_browser.py (uvicorn on loopback in a thread, Chromium kept off the network, skipped when
absent except in CI); the workspace holds a small demo portfolio with a first analysis, so the settings preview
has real clients to move. Screenshots ``import.png`` and ``settings.png`` go to docs/screenshots/ with
``SALESFOLIO_SCREENSHOTS=1``, else to a temporary folder.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from salesfolio import demo as demo_data
from salesfolio.services.analysis import run_analysis
from salesfolio.services.users import create_user
from salesfolio.web.app import create_app
from salesfolio.workspace import Workspace
from test_browser import CHROMIUM, DOCS_SCREENSHOTS, FLAGS, assert_clean, open_page
from web_fixtures import PASSWORD, cheap_passwords

pytestmark = pytest.mark.browser

AS_OF = dt.date(2025, 6, 30)
NEW_CLIENTS = (
    "client_id;name;industry;region\nNEW-1;Zakłady Nowe S.A.;Food;Mazowsze\nNEW-2;Hurtownia Druga;Retail;Pomorze\n"
)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return DOCS_SCREENSHOTS if os.environ.get("SALESFOLIO_SCREENSHOTS") == "1" else tmp_path_factory.mktemp("shots")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, str]]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is required in CI")
        pytest.skip(f"{CHROMIUM} not installed")
    import uvicorn

    with cheap_passwords():
        ws = Workspace.init(
            tmp_path_factory.mktemp("admin") / "ws", name="ACME Dystrybucja", reference_date="2025-06-30"
        )
        with ws.warehouse() as wh:
            demo_data.load(wh, demo_data.generate(clients=120, years=2, seed=7, as_of=AS_OF))
        with ws.sessions.begin() as db:
            create_user(db, username="admin", password=PASSWORD, role="admin", full_name="Ada Admin")
            create_user(db, username="board", password=PASSWORD, role="board", full_name="Bogdan Board")
        run_analysis(ws, as_of=AS_OF, username="admin", label="2025 H1")
        app = create_app(ws)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        yield ws, f"http://127.0.0.1:{port}"
        server.should_exit = True
        thread.join(timeout=30)
        ws.close()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        yield chromium
        chromium.close()


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


def wait_for_text(page, selector: str, ok, timeout: float = 20.0) -> str:
    """Poll the text of ``selector`` until ``ok(text)`` (the page's CSP forbids wait_for_function's eval)."""
    deadline = time.monotonic() + timeout
    while True:
        if page.locator(selector).count():
            text = page.inner_text(selector)
            if ok(text):
                return text
        assert time.monotonic() < deadline, f"{selector} did not change"
        time.sleep(0.1)


def test_upload_check_load_and_run_the_analysis(server, page, shots: Path) -> None:
    ws, base = server
    login(page, base, "admin")
    page.click("a.sf-nav-link[href='/imports']")
    page.wait_for_url(f"{base}/imports")
    # a file of a type the importer does not read is refused next to the form, nothing is stored
    page.set_input_files("#upload-files", files=[{"name": "notes.docx", "mimeType": "text/plain", "buffer": b"x"}])
    page.click("#upload-submit")
    page.wait_for_selector("#upload-feedback #import-error")
    assert "notes.docx: files of this type are not accepted" in page.inner_text("#upload-feedback")
    page.set_input_files(
        "#upload-files",
        files=[{"name": "nowi klienci.csv", "mimeType": "text/csv", "buffer": NEW_CLIENTS.encode("utf-8")}],
    )
    page.click("#upload-submit")
    page.wait_for_url(re.compile(rf"{re.escape(base)}/imports/[0-9a-f]{{16}}$"))
    assert page.inner_text("#import-status") == "checked, waiting"
    assert "nowi klienci.csv" in page.inner_text("#import-report")
    page.screenshot(path=str(shots / "import.png"), full_page=True)
    with ws.warehouse(read_only=True) as wh:
        assert wh.row_count("clients") == 120  # nothing loaded before the confirmation
    page.click("#import-confirm")
    page.wait_for_selector("#import-flash")
    assert page.inner_text("#import-status") == "loaded"
    page.click("#import-run-analysis")
    page.wait_for_url(re.compile(rf"{re.escape(base)}/analyses\?job=\d+$"))
    page.wait_for_selector("#analysis-status[data-status=done], #analysis-status[data-status=failed]", timeout=60_000)
    assert page.get_attribute("#analysis-status", "data-status") == "done"
    page.click("#analysis-open")
    page.wait_for_url(re.compile(rf"{re.escape(base)}/\?snapshot=\d+$"))
    assert "of 122" in page.inner_text("#kpi-active-note")  # the two new clients are in the new snapshot
    assert_clean(page)


def test_settings_preview_validation_and_save(server, page, shots: Path) -> None:
    ws, base = server
    login(page, base, "admin")
    page.goto(f"{base}/settings")
    page.wait_for_selector("#preview-migration")
    assert page.inner_text("#preview-changed") == "0 clients would change segment."
    page.uncheck("input[name='criteria.margin.enabled']")
    page.fill("input[name='criteria.current_value.weight']", "60")
    changed = wait_for_text(page, "#preview-changed", lambda text: not text.startswith("0 "))
    assert re.fullmatch(r"\d+ clients? would change segment\.", changed)
    assert page.locator("#preview-changes tbody tr").count() >= 1
    page.screenshot(path=str(shots / "settings.png"), full_page=True)
    # a negative weight: the message appears next to the field, the typed value stays
    page.fill("input[name='criteria.growth.weight']", "-3")
    page.wait_for_selector("#error-criteria-growth-weight:not(:empty)")
    assert page.inner_text("#error-criteria-growth-weight") == "The weight cannot be negative."
    assert page.input_value("input[name='criteria.growth.weight']") == "-3"
    page.fill("input[name='criteria.growth.weight']", "5")
    page.wait_for_selector("#error-criteria-growth-weight:empty", state="attached")
    page.wait_for_selector("#preview-migration")
    page.click("#settings-save")
    page.wait_for_selector("#settings-flash")
    assert "Settings saved" in page.inner_text("#settings-flash")
    assert not ws.config.analysis.criteria["margin"].enabled
    assert ws.config.analysis.criteria["current_value"].weight == 60.0
    assert (ws.path / "salesfolio.toml.bak").is_file()
    assert_clean(page)


def test_board_runs_analyses_but_cannot_import(server, page) -> None:
    _ws, base = server
    login(page, base, "board")
    links = page.locator("a.sf-nav-link").all_inner_texts()
    assert "Analyses" in links and "Import" not in links and "Settings" not in links
    page.goto(f"{base}/imports")
    assert page.errors == [f"403 {base}/imports"]
    page.errors.clear()
    page.goto(f"{base}/analyses")
    assert page.locator("#snapshots-table tbody tr").count() >= 1
    assert_clean(page)
