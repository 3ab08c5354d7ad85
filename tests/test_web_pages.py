"""The pages through real HTTP: overview numbers per role, the client list, the client page, exports, escaping, PL.

Expected numbers are worked out by hand from ``web_fixtures.CLIENT_ROWS`` (newest snapshot):
whole portfolio revenue 500 + 120 + 80 + 0 + 10 + 300 + 50 = 1 060 k, prior 960 k (growth +10.4 %), margin 252 k
on 980 k of revenue with a margin (25.7 %), prior margin 212 k (+18.9 %), expected loss 214 k (20.2 %);
rep R1 (team North): revenue 710 k, prior 660 k (+7.6 %), margin 182 k, prior 152 k (+19.7 %), loss 119 k.
"""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from collections.abc import Iterator

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from web_fixtures import (
    HOSTILE_FORMULA,
    HOSTILE_HTML,
    World,
    add_bulk_snapshot,
    csrf_of,
    module_world,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from module_world(tmp_path_factory)


NBSP = "\u00a0"


def text_of(page: str, element_id: str) -> str:
    """The text inside the element with this id (up to its first closing div or td), tags removed."""
    match = re.search(rf'id="{re.escape(element_id)}"[^>]*>(.*?)</(?:div|td|p|h1)>', page, re.S)
    assert match, element_id
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


def figure(page: str, element_id: str) -> dict:
    match = re.search(rf'id="{re.escape(element_id)}"[^>]*data-figure="([^"]*)"', page)
    assert match, element_id
    return json.loads(html.unescape(match.group(1)))


def client_ids(page: str) -> list[str]:
    """Client IDs in the order the list shows them (the small line under each name)."""
    return re.findall(r'<div class="small text-secondary">([^<·]+?)(?: ·|</div>)', page.split('id="clients"')[1])


# -- overview ---------------------------------------------------------------------------------------------------
def test_overview_board_sees_whole_portfolio(world: World) -> None:
    page = world.login("board").get("/").text
    assert text_of(page, "kpi-revenue") == "PLN1.1M"
    assert text_of(page, "kpi-revenue-note") == "▲ +10.4%"
    assert text_of(page, "kpi-margin") == "PLN252K"
    assert text_of(page, "kpi-margin-note") == "▲ +18.9% · 25.7% of revenue"
    assert text_of(page, "kpi-active") == "6"
    assert text_of(page, "kpi-active-note") == "bought in the last 12 months, of 7"
    assert text_of(page, "kpi-top10") == "100.0%"
    assert text_of(page, "kpi-risk") == "PLN214K"
    assert text_of(page, "kpi-risk-note") == "20.2% of revenue · 2 high-risk clients"
    assert text_of(page, "kpi-headroom") == "PLN400K"
    assert "Whole portfolio" in page
    assert "Snapshot 2025 H1 · as of Jun 30, 2025" in html.unescape(page)


def test_overview_map_pareto_segments_alerts(world: World) -> None:
    page = world.login("board").get("/").text
    fig = figure(page, "portfolio-map")
    shown = {cid for trace in fig["data"] for cid in trace.get("customdata", [])}
    assert shown == {"C001", "C101", "C002", "C003", "C102", "C005"}  # K/2024/7 has no revenue (log axis)
    assert all(trace["type"] == "scattergl" for trace in fig["data"])
    open_markers = {
        cid
        for t in fig["data"]
        if t.get("marker", {}).get("symbol") == "circle-open"
        for cid in t.get("customdata", [])
    }
    assert open_markers == {"C002", "C003", "C102", "C005"}  # no potential estimate: drawn at 0, open marker
    assert 'data-click-url="/clients/__ID__"' in page
    pareto = figure(page, "pareto-chart")
    assert pareto["layout"]["annotations"][0]["text"] == "3 clients (50.0%) make 80% of revenue"
    segments = page.split('id="segments-table"')[1].split("</table>")[0]
    rows = [re.sub(r"<[^>]+>|\s+", " ", r).split() for r in segments.split("<tr>")[2:]]
    assert rows[0] == ["Strategic", "1", "PLN500,000", "47.2%", "PLN150,000", "PLN300,000"]
    assert rows[-1] == ["Operational", "4", "PLN140,000", "13.2%", "PLN12,000", "–"]
    alerts = page.split('id="alerts-table"')[1]
    assert re.findall(r'<div class="small text-secondary">([^<]+)</div>', alerts) == [
        "C101",
        "C002",
        "C003",
    ]
    assert "Revenue down 20% on the prior 12 months" in alerts


@pytest.mark.parametrize("username", ["anna", "maria"])
def test_overview_rep_and_manager_see_team_north_only(world: World, username: str) -> None:
    page = world.login(username).get("/").text
    assert text_of(page, "kpi-revenue") == "PLN710K"
    assert text_of(page, "kpi-revenue-note") == "▲ +7.6%"
    assert text_of(page, "kpi-margin") == "PLN182K"
    assert text_of(page, "kpi-margin-note").startswith("▲ +19.7%")
    assert text_of(page, "kpi-active") == "4"
    assert text_of(page, "kpi-risk") == "PLN119K"
    assert text_of(page, "kpi-risk-note") == "16.8% of revenue · 2 high-risk clients"
    assert text_of(page, "kpi-headroom") == "PLN300K"
    shown = {cid for t in figure(page, "portfolio-map")["data"] for cid in t.get("customdata", [])}
    assert shown == {"C001", "C002", "C003", "C005"}
    assert "C101" not in page and "Beta Logistics" not in page
    assert ("Your clients" if username == "anna" else "Team North") in page


def test_overview_in_polish_with_polish_numbers(world: World) -> None:
    http = world.login("bartek")
    http.post("/language", data={"language": "pl", "next": "/", "csrf_token": csrf_of(http)})
    page = http.get("/").text
    assert '<html lang="pl">' in page
    assert text_of(page, "kpi-revenue") == f"350{NBSP}tys.{NBSP}zł"
    assert text_of(page, "kpi-revenue-note") == "▲ +16,7%"
    assert "Mapa portfela" in page and "Najważniejsze alerty" in page and "Zagrożony przychód" in page
    assert "Analiza 2025 H1 · stan na 30 cze 2025" in html.unescape(page)
    segments = page.split('id="segments-table"')[1]
    assert f"300{NBSP}000{NBSP}zł" in segments
    assert "Do utrzymania" in segments  # segment label from the analytics catalogue
    pareto = figure(page, "pareto-chart")
    assert pareto["layout"]["separators"] == f",{NBSP}"
    assert pareto["layout"]["annotations"][0]["text"] == "1 klient (50,0%) daje 80% przychodu"
    http.post("/language", data={"language": "en", "next": "/", "csrf_token": csrf_of(http)})


def test_overview_of_an_older_snapshot(world: World) -> None:
    page = world.login("board").get(f"/?snapshot={world.old_snapshot_id}").text
    assert text_of(page, "kpi-revenue") == "PLN530K"  # revenues of the older snapshot are halved
    assert "Snapshot 2024 H2" in page
    assert f'href="/clients?snapshot={world.old_snapshot_id}"' in page  # navigation keeps the snapshot
    assert f'data-click-url="/clients/__ID__?snapshot={world.old_snapshot_id}"' in page
    assert world.login("board").get("/?snapshot=999").status_code == 404


def test_overview_before_the_first_analysis(tmp_path) -> None:
    from salesfolio.services.users import create_user
    from salesfolio.web.app import create_app
    from salesfolio.workspace import Workspace
    from web_fixtures import cheap_passwords

    with cheap_passwords():
        ws = Workspace.init(tmp_path / "empty")
        with ws.sessions.begin() as db:
            create_user(db, username="board", password="correct-horse-1", role="board")
        from fastapi.testclient import TestClient

        http = TestClient(create_app(ws), follow_redirects=False)
        token = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/login").text).group(1)
        http.post("/login", data={"username": "board", "password": "correct-horse-1", "csrf_token": token})
        for path in ("/", "/clients"):
            page = http.get(path)
            assert page.status_code == 200
            assert "No analysis yet" in page.text and "salesfolio analyze" in page.text
        assert http.get("/api/clients").json() == {
            "snapshot_id": None,
            "total": 0,
            "page": 1,
            "page_size": 50,
            "pages": 1,
            "items": [],
        }
        assert http.get("/clients/C001").status_code == 404
        ws.close()


# -- client list ------------------------------------------------------------------------------------------------
def test_client_list_default_sort_and_scope(world: World) -> None:
    board = world.login("board").get("/clients").text
    assert client_ids(board) == ["C001", "C101", "C002", "C003", "C102", "C005", "K/2024/7"]
    assert "1–7 of 7 clients" in board
    anna = world.login("anna").get("/clients").text
    assert client_ids(anna) == ["C001", "C002", "C003", "C005", "K/2024/7"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sort=name&order=asc", ["C005", "C002", "C003", "C001", "C101", "C102", "K/2024/7"]),
        ("sort=growth&order=asc", ["K/2024/7", "C002", "C003", "C005", "C102", "C101", "C001"]),  # ties by ID
        ("sort=risk&order=desc", ["C002", "K/2024/7", "C003", "C101", "C001", "C005", "C102"]),
        ("sort=headroom", ["C001", "C101", "C002", "C003", "C005", "C102", "K/2024/7"]),  # missing values last
        ("risk=high", ["C002", "K/2024/7"]),
        ("owner=R2", ["C101", "C102"]),
        ("segment=operational&region=Pomorze", ["C003", "K/2024/7"]),
        ("industry=Food&abc=A", ["C001"]),
        ("q=ALFA", ["C001"]),
        ("q=k%2F2024", ["K/2024/7"]),
        ("q=%25", ["C005"]),  # a literal % matches only names with %
        ("q=_", ["C005"]),  # a literal _ likewise
        ("q=50%25_off", ["C005"]),
        ("q=nothing-like-this", []),
    ],
)
def test_client_list_sort_filter_search(world: World, query: str, expected: list[str]) -> None:
    page = world.login("board").get(f"/clients?{query}").text
    assert client_ids(page) == expected


def test_client_list_htmx_partial(world: World) -> None:
    http = world.login("board")
    response = http.get("/clients?risk=high", headers={"HX-Request": "true", "HX-Target": "clients-table"})
    assert response.status_code == 200
    assert "<html" not in response.text and "<nav" not in response.text
    assert response.text.lstrip().startswith('<input type="hidden" name="sort" value="revenue" form="client-filters">')
    assert client_ids(response.text) == ["C002", "K/2024/7"]
    assert response.headers["vary"].startswith("HX-Request, HX-Target")
    assert response.headers["hx-push-url"] == "/clients?risk=high"  # canonical address, defaults left out
    # the export links follow the filter
    assert 'href="/exports/clients.csv?risk=high"' in response.text
    full = http.get("/clients?risk=high")
    assert "<nav" in full.text and 'hx-push-url="true"' in full.text


def test_client_list_pagination(world: World) -> None:
    bulk = add_bulk_snapshot(world, 120)
    http = world.login("board")
    first = http.get(f"/clients?snapshot={bulk}").text
    assert client_ids(first)[:2] == ["Z0120", "Z0119"] and len(client_ids(first)) == 50
    assert "1–50 of 120 clients" in first and "Page 1 of 3" in first
    assert (
        f'href="/clients?page=2&amp;snapshot={bulk}"' in first or f'href="/clients?snapshot={bulk}&amp;page=2"' in first
    )
    third = http.get(f"/clients?snapshot={bulk}&page=3").text
    assert client_ids(third) == [f"Z{i:04d}" for i in range(20, 0, -1)]
    assert "101–120 of 120 clients" in third
    beyond = http.get(f"/clients?snapshot={bulk}&page=9").text  # past the end: the last page
    assert client_ids(beyond) == client_ids(third) and "Page 3 of 3" in beyond
    filtered = http.get(f"/clients?snapshot={bulk}&industry=Even&sort=revenue&order=asc&page=2").text
    assert client_ids(filtered)[0] == "Z0102" and "51–60 of 60 clients" in filtered
    # a rep sees none of rep R3's clients in that snapshot
    assert client_ids(world.login("anna").get(f"/clients?snapshot={bulk}").text) == []


# -- client page ------------------------------------------------------------------------------------------------
def test_client_page_sections(world: World) -> None:
    page = world.login("anna").get("/clients/C001").text
    assert text_of(page, "client-name") == "Alfa Sp. z o.o."
    for section in ("score-breakdown", "history", "signals", "whitespace", "pipeline", "assessments"):
        assert f'id="{section}"' in page, section
    contributions = figure(page, "contributions-chart")["data"][0]
    assert contributions["y"] == ["Churn risk", "Margin", "Growth potential", "Current value"]
    assert contributions["x"] == [7.0, 20.0, 25.0, 30.0]
    history = figure(page, "history-chart")["data"]
    assert len(history[0]["x"]) == 24 and history[0]["x"][0] == "2023-07-01"
    revenue = dict(zip(history[0]["x"], history[0]["y"], strict=True))
    assert revenue["2025-01-01"] == 1000.0 and revenue["2025-03-01"] == 2500.0 and revenue["2025-06-01"] == 0.0
    pipeline = page.split('id="pipeline"')[1].split("</table>")[0]
    assert "O1" in pipeline and "PLN20,000" in pipeline and "O2" not in pipeline  # O2 is closed
    assessments = page.split('id="assessments-table"')[1]
    assert "Jan 2025" in assessments and "PLN750,000" in assessments and "imported" in assessments
    assert 'id="assessment-form"' in page  # reps may assess their own clients
    assert "Packaging" in page and "60%" in page
    assert "Days since the last purchase: 40 against a typical 20 raises the risk" in page


def test_client_page_for_the_board_has_no_form(world: World) -> None:
    page = world.login("board").get("/clients/C101").text
    assert "Beta Logistics" in page and 'id="assessment-form"' not in page
    assert "Revenue down 20% on the prior 12 months" in page


def test_client_id_with_a_slash(world: World) -> None:
    http = world.login("anna")
    page = http.get("/clients/K%2F2024%2F7")
    assert page.status_code == 200 and "Kappa Slash" in page.text
    assert 'action="/clients/K%2F2024%2F7/assessments"' in page.text
    listing = http.get("/clients?q=kappa").text
    assert 'href="/clients/K%2F2024%2F7"' in listing


def test_client_page_of_an_older_snapshot_and_history_across(world: World) -> None:
    page = world.login("board").get(f"/clients/C001?snapshot={world.old_snapshot_id}").text
    assert "PLN250,000" in page  # revenue in the older snapshot
    across = page.split('id="score-history"')[1]
    assert "2025 H1" in across and "2024 H2" in across


# -- escaping ---------------------------------------------------------------------------------------------------
def test_hostile_names_are_escaped_everywhere(world: World) -> None:
    http = world.login("anna")
    for path in ("/", "/clients", "/clients/C002", "/clients?q=script", "/api/docs"):
        body = http.get(path).text
        assert HOSTILE_HTML not in body, path
        assert "<b>" not in body.split("<body")[1].replace("<b>%", ""), path  # workspace name "Test & Co <b>"
    client_page = http.get("/clients/C002").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client_page
    overview = http.get("/").text
    hover = [t for trace in figure(overview, "portfolio-map")["data"] for t in trace.get("text", [])]
    assert any("&lt;script&gt;alert(1)&lt;/script&gt;" in t for t in hover)
    assert not any("<script>" in t for t in hover)
    assert "Test &amp; Co &lt;b&gt;" in overview


# -- exports ----------------------------------------------------------------------------------------------------
def test_csv_export_follows_filter_and_scope(world: World) -> None:
    response = world.login("anna").get("/exports/clients.csv?risk=high")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="clients-2025-06-30-s2.csv"'
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeffclient_id,name,owner_id,team,industry")
    lines = text.splitlines()
    assert len(lines) == 3
    assert lines[1].startswith("C002,<script>alert(1)</script>,R1,North,Retail,Mazowsze,PL,development,B,high,55.0,")
    assert lines[2].startswith("K/2024/7,Kappa Slash,")
    everything = world.login("anna").get("/exports/clients.csv").content.decode("utf-8")
    assert "C101" not in everything and "Beta" not in everything
    row = next(line for line in everything.splitlines() if line.startswith("C003"))
    assert row.startswith('C003,"\'=HYPERLINK(""http://evil.example"",""click"")",R1')


def test_xlsx_export_formats_and_formula_safety(world: World) -> None:
    response = world.login("board").get("/exports/clients.xlsx?sort=name&order=asc")
    assert response.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    workbook = CalamineWorkbook.from_filelike(io.BytesIO(response.content))
    assert workbook.sheet_names == ["Clients", "About"]
    rows = workbook.get_sheet_by_name("Clients").to_python()
    assert rows[0][:3] == ["Client ID", "Client", "Owner"]
    assert [r[0] for r in rows[1:]] == ["C005", "C002", "C003", "C001", "C101", "C102", "K/2024/7"]
    c003 = next(r for r in rows if r[0] == "C003")
    assert c003[1] == "'" + HOSTILE_FORMULA
    c001 = next(r for r in rows if r[0] == "C001")
    assert c001[12] == 500000.0 and c001[14] == pytest.approx(0.25)
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    sheet = book["Clients"]
    assert sheet["M1"].value == "Revenue TTM" and sheet["M5"].number_format == "#,##0"
    assert sheet["O5"].number_format == "0.0%"
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)  # no formula anywhere
    about = dict(workbook.get_sheet_by_name("About").to_python()[2:])
    assert about["Snapshot"] == "2025 H1 (2025-06-30)" and about["Exported by"] == "board"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert not any(name.startswith("xl/externalLinks") for name in archive.namelist())


def test_xlsx_export_in_polish(world: World) -> None:
    http = world.login("maria")
    http.post("/language", data={"language": "pl", "next": "/", "csrf_token": csrf_of(http)})
    response = http.get("/exports/clients.xlsx?risk=high")
    workbook = CalamineWorkbook.from_filelike(io.BytesIO(response.content))
    assert workbook.sheet_names == ["Klienci", "Informacje"]
    rows = workbook.get_sheet_by_name("Klienci").to_python()
    assert rows[0][:3] == ["ID klienta", "Klient", "Opiekun"]
    assert [r[0] for r in rows[1:]] == ["C002", "K/2024/7"]
    assert rows[1][9] == "Wysokie ryzyko" and rows[1][7] == "Rozwojowi"
    about = dict(workbook.get_sheet_by_name("Informacje").to_python()[2:])
    assert about["Ryzyko"] == "high"
    http.post("/language", data={"language": "en", "next": "/", "csrf_token": csrf_of(http)})


def test_churn_reasons_in_polish(world: World) -> None:
    http = world.login("bartek")
    http.post("/language", data={"language": "pl", "next": "/", "csrf_token": csrf_of(http)})
    page = http.get("/clients/C101").text
    assert "Dni od ostatniego zakupu: podnosi ryzyko o 5,0 pkt proc." in page
    assert "Przychód spadł o 20% względem poprzednich 12 miesięcy" in page  # the analysis's own Polish message
    http.post("/language", data={"language": "en", "next": "/", "csrf_token": csrf_of(http)})
