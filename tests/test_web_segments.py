"""The Segments page through real HTTP: every view, the cell lists, scope per role, Polish, escaping.

A seventh snapshot, built here (:func:`add_segment_snapshot`), carries what the views read: value and potential
scores, margin % and cost to serve, RFM codes, ABC classes on revenue and margin, size classes and contract types.
Its seven clients (amounts in PLN):

=====  ==========  =====  ===========  =======  ======  =====  ===========  ================  ===  =====
id     owner       team   segment      revenue  margin  cts    cost index   cts segment       RFM  ABC r/m
=====  ==========  =====  ===========  =======  ======  =====  ===========  ================  ===  =====
SG1    R1          North  strategic    400 000  30 %    40 000 10 %         carriage_trade    553  A / A
SG2    R1          North  development  100 000  10 %    20 000 20 %         aggressive        321  B / B
SG3    R1          North  operational   50 000  40 %     1 000  2 %         passive           115  C / B
SG4    R1          North  unknown            0  -       -      -            unknown           -    C / -
SG5    R2          South  maintain     300 000  15 %     3 000  1 %         bargain_basement  545  A / A
SG6    R2          South  development   80 000  30 %    12 000 15 %         carriage_trade    312  B / B
SG7    (no owner)  -      operational   20 000  10 %       200  1 %         bargain_basement  211  C / C
=====  ==========  =====  ===========  =======  ======  =====  ===========  ================  ===  =====

SG2 has a hostile HTML name, SG6 a hostile formula name. Rep R1 (anna) and manager maria (team North) see SG1-SG4;
rep R2 (bartek) SG5 and SG6; board and admin all seven.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pytest

from salesfolio.store.models import Snapshot, SnapshotClient
from web_fixtures import HOSTILE_FORMULA, HOSTILE_HTML, World, csrf_of, module_world

SEG_AS_OF = dt.date(2025, 9, 30)
# id, name, owner, team, region, industry, size, contract, revenue, margin, cts, segment, cts segment, rfm code,
# rfm segment, abc revenue, abc margin, value score, potential score, risk, expected loss, p_alive, expected revenue
SEG_ROWS: list[tuple[Any, ...]] = [
    ("SG1", "Alfa Seg", "R1", "North", "Mazowsze", "Food", "large", "framework", 400000.0, 120000.0, 40000.0,
     "strategic", "carriage_trade", "553", "champions", "A", "A", 80.0, 70.0, "low", 40000.0, 0.95, 1000000.0),
    ("SG2", HOSTILE_HTML, "R1", "North", "Mazowsze", "Retail", "small", "spot", 100000.0, 10000.0, 20000.0,
     "development", "aggressive", "321", "about_to_sleep", "B", "B", 30.0, 80.0, "high", 50000.0, 0.5, 300000.0),
    ("SG3", "Gamma Seg", "R1", "North", "Pomorze", "Food", "small", "framework", 50000.0, 20000.0, 1000.0,
     "operational", "passive", "115", "lost", "C", "B", 20.0, 20.0, "medium", 10000.0, 0.7, 60000.0),
    ("SG4", "Delta Seg", "R1", "North", "Pomorze", "Food", "medium", None, 0.0, None, None,
     "unknown", "unknown", None, "unknown", "C", None, None, None, "high", 0.0, None, None),
    ("SG5", "Beta Seg", "R2", "South", "Śląsk", "Transport", "large", "framework", 300000.0, 45000.0, 3000.0,
     "maintain", "bargain_basement", "545", "champions", "A", "A", 70.0, 30.0, "medium", 60000.0, 0.8, 800000.0),
    ("SG6", HOSTILE_FORMULA, "R2", "South", "Śląsk", "Transport", "medium", "spot", 80000.0, 24000.0, 12000.0,
     "development", "carriage_trade", "312", "about_to_sleep", "B", "B", 40.0, 60.0, "low", 8000.0, 0.6, None),
    ("SG7", "Orphan Seg", None, None, "Mazowsze", "Energy", "small", "spot", 20000.0, 2000.0, 200.0,
     "operational", "bargain_basement", "211", "hibernating", "C", "C", 10.0, 10.0, "low", 2000.0, 0.3, 30000.0),
]  # fmt: skip
NORTH = ["SG1", "SG2", "SG3", "SG4"]
SOUTH = ["SG5", "SG6"]
FOREIGN_TO_NORTH = [("SG5", "Beta Seg"), ("SG6", "HYPERLINK"), ("SG7", "Orphan Seg")]


def add_segment_snapshot(world: World, *, models: dict[str, Any] | None = None, label: str = "Segments") -> int:
    """Insert the snapshot of :data:`SEG_ROWS` (with ``models`` as its model reports); return its ID."""
    with world.workspace.sessions.begin() as db:
        snap = Snapshot(
            label=label,
            as_of=SEG_AS_OF,
            n_clients=len(SEG_ROWS),
            summary={"matrix_splits": {"value": 50.0, "potential": 50.0}},
            config={"forecast_horizon_months": 24},
            models=models or {},
        )
        db.add(snap)
        db.flush()
        for row in SEG_ROWS:
            (cid, name, owner, team, region, industry, size, contract, revenue, margin, cts, segment, cts_segment,
             rfm, rfm_segment, abc_r, abc_m, value, potential, risk, loss, p_alive, expected) = row  # fmt: skip
            features = {
                "margin_pct_ttm": None if margin is None else margin / revenue,
                "cost_to_serve_ttm": cts,
                "rfm_score": rfm,
                "value_score": value,
                "potential_score": potential,
                "orders_total": 1 if cid == "SG3" else 12,
                "expected_purchases": 6.5,
            }
            db.add(
                SnapshotClient(
                    snapshot_id=snap.id,
                    client_id=cid,
                    name=name,
                    owner_id=owner,
                    team=team,
                    region=region,
                    industry=industry,
                    size_class=size,
                    contract_type=contract,
                    revenue_ttm=revenue,
                    margin_ttm=margin,
                    segment=segment,
                    cts_segment=cts_segment,
                    rfm_segment=rfm_segment,
                    abc_revenue=abc_r,
                    abc_margin=abc_m,
                    risk_level=risk,
                    expected_loss=loss,
                    n_signals=0,
                    p_alive=p_alive,
                    expected_revenue=expected,
                    details={"features": features, "signals": [], "churn_reasons": []},
                )
            )
        return int(snap.id)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    for built in module_world(tmp_path_factory):
        with built.workspace.warehouse() as wh:
            wh.upsert(
                "opportunities",
                pa.table(
                    {
                        "opportunity_id": ["O4", "O5", "O6"],
                        "client_id": ["C002", None, "C102"],
                        "owner_id": ["R1", "R3", "R2"],
                        "stage": ["Negotiation", "Lead", "Proposal"],
                        "value": [90000.0, 5000.0, None],
                        "probability": [0.8, 0.2, 0.5],
                    },
                    schema=pa.schema(
                        [
                            ("opportunity_id", pa.string()),
                            ("client_id", pa.string()),
                            ("owner_id", pa.string()),
                            ("stage", pa.string()),
                            ("value", pa.float64()),
                            ("probability", pa.float64()),
                        ]
                    ),
                ),
            )
        yield built


@pytest.fixture(scope="module")
def seg(world: World) -> int:
    return add_segment_snapshot(world)


def figure(page: str, element_id: str) -> dict[str, Any]:
    match = re.search(rf'id="{re.escape(element_id)}"[^>]*data-figure="([^"]*)"', page)
    assert match, element_id
    return json.loads(html.unescape(match.group(1)))


def table_rows(page: str, table_id: str) -> list[list[str]]:
    """The text of each body row's cells of the table with this id."""
    body = page.split(f'id="{table_id}"')[1].split("</table>")[0].split("<tbody>")[1]
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
        rows.append([html.unescape(re.sub(r"<[^>]+>|[ \t\r\n]+", " ", c)).strip() for c in cells])
    return rows


def listed_ids(page: str) -> list[str]:
    """Client IDs of the cell list (the small line under each name)."""
    part = page.split('id="seg-clients"')[1].split("</table>")[0] if 'id="seg-clients"' in page else ""
    return re.findall(r'<div class="small text-secondary">([^<]+)</div>', part)


def customdata(fig: dict[str, Any]) -> set[str]:
    return {c for trace in fig["data"] for c in (trace.get("customdata") or []) if isinstance(c, str)}


# -- value x potential ----------------------------------------------------------------------------------------------
def test_matrix_view_board(world: World, seg: int) -> None:
    page = world.login("board").get(f"/segments?snapshot={seg}").text
    fig = figure(page, "matrix-chart")
    assert {t["type"] for t in fig["data"]} == {"scattergl"}
    assert customdata(fig) == {"SG1", "SG2", "SG3", "SG5", "SG6", "SG7"}  # SG4 has no scores
    by_segment = {t["name"]: t["customdata"] for t in fig["data"]}
    assert by_segment == {
        "Strategic": ["SG1"],
        "Development": ["SG2", "SG6"],
        "Maintain": ["SG5"],
        "Operational": ["SG3", "SG7"],  # largest revenue first
    }
    shapes = fig["layout"]["shapes"]
    assert [(s["x0"], s["y0"]) for s in shapes] == [(50.0, 0), (0, 50.0)]
    notes = [a["text"] for a in fig["layout"]["annotations"]]
    assert notes == [
        "Strategic<br>1 client · PLN400K",
        "Development<br>2 clients · PLN180K",
        "Maintain<br>1 client · PLN300K",
        "Operational<br>2 clients · PLN70K",
    ]
    assert 'data-click-url="/clients/__ID__?snapshot=' in page
    assert table_rows(page, "matrix-table") == [
        ["Strategic", "1", "PLN400,000", "42.1%", "PLN120,000", "–", "PLN40,000"],
        ["Development", "2", "PLN180,000", "18.9%", "PLN34,000", "–", "PLN58,000"],
        ["Maintain", "1", "PLN300,000", "31.6%", "PLN45,000", "–", "PLN60,000"],
        ["Operational", "2", "PLN70,000", "7.4%", "PLN22,000", "–", "PLN12,000"],
        ["Unknown", "1", "PLN0", "0.0%", "–", "–", "PLN0"],
    ]
    assert "content-security-policy" in world.login("board").get(f"/segments?snapshot={seg}").headers
    assert "'unsafe-eval'" in world.login("board").get(f"/segments?snapshot={seg}").headers["content-security-policy"]


@pytest.mark.parametrize("username", ["anna", "maria"])
def test_matrix_view_north_sees_north_only(world: World, seg: int, username: str) -> None:
    page = world.login(username).get(f"/segments?snapshot={seg}").text
    assert customdata(figure(page, "matrix-chart")) == {"SG1", "SG2", "SG3"}
    rows = table_rows(page, "matrix-table")
    assert [r[:3] for r in rows] == [
        ["Strategic", "1", "PLN400,000"],
        ["Development", "1", "PLN100,000"],
        ["Operational", "1", "PLN50,000"],
        ["Unknown", "1", "PLN0"],
    ]
    for cid, name in FOREIGN_TO_NORTH:
        assert cid not in page and name not in page


def test_segment_cell_list_per_role(world: World, seg: int) -> None:
    board = world.login("board")
    page = board.get(f"/segments?snapshot={seg}&cell=segment%3Ddevelopment").text
    assert listed_ids(page) == ["SG2", "SG6"]
    assert "Clients: Development" in page and "1–2 of 2 clients" in page
    assert listed_ids(world.login("anna").get(f"/segments?snapshot={seg}&cell=segment%3Ddevelopment").text) == ["SG2"]
    assert listed_ids(world.login("bartek").get(f"/segments?snapshot={seg}&cell=segment%3Ddevelopment").text) == ["SG6"]
    # unknown keys in the cell are dropped; a key that is not a group key cannot widen the scope
    page = world.login("anna").get(f"/segments?snapshot={seg}&cell=owner%3DR2%26segment%3Ddevelopment").text
    assert listed_ids(page) == [] and "No clients match." in page


def test_cell_list_partial_htmx_and_pagination(world: World) -> None:
    from web_fixtures import add_bulk_snapshot

    bulk = add_bulk_snapshot(world, 60)  # Z0001..Z0060, rep R3, all "operational"
    http = world.login("board")
    response = http.get(
        f"/segments/clients?snapshot={bulk}&segment=operational&industry=Even&page=2", headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert "<html" not in response.text and "<nav" not in response.text
    assert listed_ids(response.text) == [f"Z{i:04d}" for i in range(10, 0, -2)]  # 30 even clients, page 2 of 2
    assert "26–30 of 30 clients" in response.text and "Page 2 of 2" in response.text
    assert response.headers["hx-push-url"] == (
        f"/segments?snapshot={bulk}&view=matrix&cell=segment%3Doperational%26industry%3DEven&page=2"
    )
    assert (
        f'hx-get="/segments/clients?snapshot={bulk}&amp;view=matrix&amp;segment=operational&amp;industry=Even&amp;page=1"'
        in (response.text)
    )
    # the full page with the same cell shows the same list (the address is a link to the selection)
    full = http.get(f"/segments?snapshot={bulk}&cell=segment%3Doperational%26industry%3DEven&page=2").text
    assert listed_ids(full) == listed_ids(response.text)
    assert listed_ids(world.login("anna").get(f"/segments/clients?snapshot={bulk}&segment=operational").text) == []
    empty = http.get("/segments/clients")
    assert empty.status_code == 200 and "Click a row of the table or a cell of the chart" in empty.text


def test_not_set_selects_missing_values(world: World, seg: int) -> None:
    page = world.login("board").get(f"/segments/clients?snapshot={seg}&owner=__none__").text
    assert listed_ids(page) == ["SG7"] and "Clients: not set" in page
    page = world.login("board").get(f"/segments/clients?snapshot={seg}&contract_type=__none__").text
    assert listed_ids(page) == ["SG4"]
    assert listed_ids(world.login("bartek").get(f"/segments/clients?snapshot={seg}&owner=__none__").text) == []


# -- cost to serve x net price --------------------------------------------------------------------------------------
def test_cts_view_board(world: World, seg: int) -> None:
    page = world.login("board").get(f"/segments?snapshot={seg}&view=cts").text
    fig = figure(page, "cts-chart")
    points = {cid: (x, y) for t in fig["data"] for cid, x, y in zip(t["customdata"], t["x"], t["y"], strict=True)}
    assert points["SG1"] == pytest.approx((0.10, 0.30)) and points["SG3"] == pytest.approx((0.02, 0.40))
    assert set(points) == {"SG1", "SG2", "SG3", "SG5", "SG6", "SG7"}
    # splits midway between the largest index classed low and the smallest classed high (the medians here)
    shapes = fig["layout"]["shapes"]
    assert shapes[0]["x0"] == pytest.approx(0.06) and shapes[1]["y0"] == pytest.approx(0.225)
    assert "Splits: cost to serve 6.0% of revenue, net price 22.5%." in page
    assert "1 client without the data" in page
    rows = table_rows(page, "cts-table")
    assert [r[:3] for r in rows] == [
        ["Carriage trade", "2", "PLN480,000"],
        ["Passive", "1", "PLN50,000"],
        ["Aggressive", "1", "PLN100,000"],
        ["Bargain basement", "2", "PLN320,000"],
        ["Unknown", "1", "PLN0"],
    ]
    notes = [a["text"] for a in fig["layout"]["annotations"]]
    assert notes[0] == "Carriage trade<br>2 clients · PLN480K"


def test_cts_view_rep_splits_from_own_clients(world: World, seg: int) -> None:
    page = world.login("anna").get(f"/segments?snapshot={seg}&view=cts").text
    fig = figure(page, "cts-chart")
    assert customdata(fig) == {"SG1", "SG2", "SG3"}
    shapes = fig["layout"]["shapes"]
    assert shapes[0]["x0"] == pytest.approx(0.06) and shapes[1]["y0"] == pytest.approx(0.20)
    cell = world.login("anna").get(f"/segments?snapshot={seg}&view=cts&cell=cts_segment%3Dunknown").text
    assert listed_ids(cell) == ["SG4"]


def test_cts_configured_splits_win(world: World) -> None:
    snap_id = add_segment_snapshot(world, label="configured")
    with world.workspace.sessions.begin() as db:
        snap = db.get(Snapshot, snap_id)
        assert snap is not None
        snap.config = {"cost_to_serve": {"cost_split": 0.05, "price_split": 0.25}}
    page = world.login("anna").get(f"/segments?snapshot={snap_id}&view=cts").text
    shapes = figure(page, "cts-chart")["layout"]["shapes"]
    assert shapes[0]["x0"] == 0.05 and shapes[1]["y0"] == 0.25
    assert "Both are set in the analysis settings." in page


# -- opportunity zones ----------------------------------------------------------------------------------------------
def zone_table(page: str) -> dict[str, list[str]]:
    return {r[0]: r[1:] for r in table_rows(page, "zones-table")}


def test_zones_board_sees_every_deal_and_prospects(world: World) -> None:
    http = world.login("board")
    page = http.get(f"/segments?snapshot={world.snapshot_id}&view=zones").text
    # open deals: O1 C001 40 000 @ .5, O3 C101 70 000 @ .4, O4 C002 90 000 @ .8, O5 prospect 5 000 @ .2, O6 C102 no
    # value; large = the median of 40 000, 70 000, 90 000 and 5 000 = 55 000
    assert zone_table(page) == {
        "Zone A": ["1", "PLN90,000", "PLN72,000"],
        "Zone B": ["2", "PLN110,000", "PLN48,000"],
        "Zone C": ["1", "PLN5,000", "PLN1,000"],
        "No value or probability": ["1", "PLN0", "PLN0"],
    }
    assert "Large deal: PLN55,000 or more (the median of the open deals you see)" in page
    fig = figure(page, "zones-chart")
    assert {t["name"]: t["customdata"] for t in fig["data"]} == {
        "Zone A": ["C002"],
        "Zone B": ["C101", "C001"],
        "Zone C": [None],
    }
    assert fig["layout"]["shapes"][0]["x0"] == 55000.0 and fig["layout"]["shapes"][1]["y0"] == 0.5
    hover = " ".join(t for trace in fig["data"] for t in trace["text"])
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hover and "<script>" not in hover
    deals = http.get(f"/segments/deals?snapshot={world.snapshot_id}&zone=C").text
    assert "O5" in deals and "Prospect (no client)" in deals


@pytest.mark.parametrize("username", ["anna", "maria"])
def test_zones_north_sees_own_deals_only(world: World, username: str) -> None:
    http = world.login(username)
    page = http.get(f"/segments?snapshot={world.snapshot_id}&view=zones").text
    # O1 and O4 only; large = the median of 40 000 and 90 000 = 65 000, so O4 is A and O1 (likely, small) B
    assert zone_table(page) == {
        "Zone A": ["1", "PLN90,000", "PLN72,000"],
        "Zone B": ["1", "PLN40,000", "PLN20,000"],
        "Zone C": ["0", "PLN0", "PLN0"],
    }
    for zone in ("A", "B", "C", "unknown"):
        deals = http.get(f"/segments/deals?snapshot={world.snapshot_id}&zone={zone}").text
        assert "O3" not in deals and "O5" not in deals and "O6" not in deals and "C101" not in deals
    deals = http.get(f"/segments/deals?snapshot={world.snapshot_id}&zone=A").text
    assert "O4" in deals and "&lt;script&gt;alert(1)&lt;/script&gt;" in deals and "<script>alert" not in deals
    assert "1 open deal" in deals


# -- RFM, ABC, heatmaps ---------------------------------------------------------------------------------------------
def test_rfm_view(world: World, seg: int) -> None:
    page = world.login("board").get(f"/segments?snapshot={seg}&view=rfm").text
    fig = figure(page, "rfm-chart")
    heat = fig["data"][0]
    assert heat["type"] == "heatmap"
    assert heat["y"] == ["R 5", "R 4", "R 3", "R 2", "R 1"] and heat["x"] == ["F 1", "F 2", "F 3", "F 4", "F 5"]
    assert heat["z"][0] == [None, None, None, 1, 1]  # R5: SG5 (F4), SG1 (F5)
    assert heat["z"][2][:2] == [1, 1]  # R3: SG6 (F1), SG2 (F2)
    assert heat["customdata"][0][3] == "rfm_r=5&rfm_f=4"
    assert heat["text"][0][4] == "Champions<br>1 · PLN400K"
    assert 'data-click-url="/segments?snapshot=' in page and "cell=__ID__" in page
    cell = world.login("board").get(f"/segments?snapshot={seg}&view=rfm&cell=rfm_r%3D3%26rfm_f%3D2").text
    assert listed_ids(cell) == ["SG2"] and "Clients: R 3 · F 2" in cell
    rows = {r[0]: r[1] for r in table_rows(page, "rfm-table")}
    assert rows == {"Champions": "2", "About to sleep": "2", "Hibernating": "1", "Lost": "1", "Unknown": "1"}
    anna = world.login("anna").get(f"/segments?snapshot={seg}&view=rfm").text
    assert figure(anna, "rfm-chart")["data"][0]["z"][0] == [None, None, None, None, 1]  # SG1 only


def test_abc_view(world: World, seg: int) -> None:
    page = world.login("anna").get(f"/segments?snapshot={seg}&view=abc").text
    # revenue in scope 550 000: A 400 000 (72.7 %), B 100 000 (18.2 %), C 50 000 + 0 (9.1 %)
    assert [r[:4] for r in table_rows(page, "abc-revenue-table")] == [
        ["A", "1", "PLN400,000", "72.7%"],
        ["B", "1", "PLN100,000", "18.2%"],
        ["C", "2", "PLN50,000", "9.1%"],
    ]
    # margin: A 120 000, B 10 000 + 20 000, SG4 without a class; shares of 150 000
    assert [r[:4] for r in table_rows(page, "abc-margin-table")] == [
        ["A", "1", "PLN120,000", "80.0%"],
        ["B", "2", "PLN30,000", "20.0%"],
        ["not set", "1", "–", "0.0%"],
    ]
    cell = world.login("anna").get(f"/segments?snapshot={seg}&view=abc&cell=abc_margin%3DB").text
    assert listed_ids(cell) == ["SG2", "SG3"]


def heat_cells(fig: dict[str, Any]) -> dict[tuple[str, str], int]:
    heat = fig["data"][0]
    return {
        (html.unescape(y), html.unescape(x)): z
        for y, row in zip(heat["y"], heat["z"], strict=True)
        for x, z in zip(heat["x"], row, strict=True)
        if z is not None
    }


def test_heatmap_segment_by_rep_per_role(world: World, seg: int) -> None:
    board = world.login("board").get(f"/segments?snapshot={seg}&view=heatmap").text
    assert heat_cells(figure(board, "heatmap-chart")) == {
        ("Anna Nowak", "Strategic"): 1,
        ("Anna Nowak", "Development"): 1,
        ("Anna Nowak", "Operational"): 1,
        ("Anna Nowak", "Unknown"): 1,
        ("Bartek Wiśniewski", "Development"): 1,
        ("Bartek Wiśniewski", "Maintain"): 1,
        ("not set", "Operational"): 1,
    }
    for username in ("anna", "maria"):
        page = world.login(username).get(f"/segments?snapshot={seg}&view=heatmap").text
        assert set(heat_cells(figure(page, "heatmap-chart"))) == {
            ("Anna Nowak", "Strategic"),
            ("Anna Nowak", "Development"),
            ("Anna Nowak", "Operational"),
            ("Anna Nowak", "Unknown"),
        }
        assert "Bartek" not in page
    bartek = world.login("bartek").get(f"/segments?snapshot={seg}&view=heatmap&by=region&metric=revenue").text
    fig = figure(bartek, "heatmap-chart")
    assert heat_cells(fig) == {("Śląsk", "Maintain"): 300000.0, ("Śląsk", "Development"): 80000.0}
    assert fig["data"][0]["colorbar"]["title"]["text"] == "Revenue TTM"


def test_heatmap_other_segmentations_and_cell(world: World, seg: int) -> None:
    http = world.login("board")
    page = http.get(f"/segments?snapshot={seg}&view=heatmap&by=size_class&segmentation=cts_segment").text
    fig = figure(page, "heatmap-chart")
    assert fig["data"][0]["x"] == ["Carriage trade", "Passive", "Aggressive", "Bargain basement", "Unknown"]
    assert fig["data"][0]["y"] == ["large", "small", "medium"]  # by revenue: 700 000, 170 000, 80 000
    link = fig["data"][0]["customdata"][0][0]
    assert link == "size_class=large&cts_segment=carriage_trade"
    cell = http.get(f"/segments?snapshot={seg}&view=heatmap&by=size_class&segmentation=cts_segment&cell={quote(link)}")
    assert listed_ids(cell.text) == ["SG1"]
    table = page.split('id="heatmap-table"')[1]
    assert 'hx-get="/segments/clients?snapshot=' in table and "size_class=large&amp;cts_segment=carriage_trade" in table
    assert http.get(f"/segments?snapshot={seg}&view=heatmap&by=password").status_code == 400
    contract = http.get(f"/segments?snapshot={seg}&view=heatmap&by=contract_type&segmentation=abc_revenue").text
    assert ("not set", "C") in heat_cells(figure(contract, "heatmap-chart"))


def test_hostile_names_are_escaped_in_charts_and_lists(world: World, seg: int) -> None:
    with world.workspace.warehouse() as wh:
        wh.upsert("reps", pa.table({"rep_id": ["R2"], "name": ['<img src=x onerror="alert(2)">'], "team": ["South"]}))
    _imported(world)  # as `salesfolio import` does: the app reads rep names again after an import
    try:
        http = world.login("board")
        page = http.get(f"/segments?snapshot={seg}&view=heatmap").text
        assert "<img src=x" not in page
        heat = figure(page, "heatmap-chart")["data"][0]
        assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in heat["y"]
        matrix = http.get(f"/segments?snapshot={seg}&cell=segment%3Ddevelopment").text
        hover = " ".join(t for trace in figure(matrix, "matrix-chart")["data"] for t in trace["text"])
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hover and "<script>" not in hover
        listing = matrix.split('id="seg-clients"')[1]
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listing and "<script>alert(1)" not in listing
        assert "&lt;img src=x" in listing  # the owner column shows the (escaped) rep name
    finally:
        with world.workspace.warehouse() as wh:
            wh.upsert("reps", pa.table({"rep_id": ["R2"], "name": ["Bartek Wiśniewski"], "team": ["South"]}))
        _imported(world)


def _imported(world: World) -> None:
    from salesfolio.services import audit

    with world.workspace.sessions.begin() as db:
        audit.record(db, "import", object_type="warehouse", files=["reps.csv"], loaded={"reps": 1})


def test_segments_in_polish(world: World, seg: int) -> None:
    http = world.login("bartek")
    http.post("/language", data={"language": "pl", "next": "/", "csrf_token": csrf_of(http)})
    try:
        page = http.get(f"/segments?snapshot={seg}").text
        assert "Wartość × potencjał" in page and "Koszt obsługi × cena netto" in page
        assert table_rows(page, "matrix-table")[1][:4] == ["Do utrzymania", "1", "300\u00a0000\u00a0zł", "78,9%"]
        fig = figure(page, "matrix-chart")
        assert fig["layout"]["separators"] == ",\u00a0"
        assert "Do utrzymania<br>1 klient · 300\u00a0tys.\u00a0zł" in [a["text"] for a in fig["layout"]["annotations"]]
        cts = http.get(f"/segments?snapshot={seg}&view=cts").text
        assert "Wymagający premium" in cts and "Okazyjni" in cts
        deals = http.get(f"/segments/deals?snapshot={world.snapshot_id}&zone=B").text
        assert "Otwarte szanse w strefie B" in deals and "70\u00a0000\u00a0zł" in deals
    finally:
        http.post("/language", data={"language": "en", "next": "/", "csrf_token": csrf_of(http)})


def test_segments_before_the_first_analysis(tmp_path) -> None:
    from fastapi.testclient import TestClient

    from salesfolio.services.users import create_user
    from salesfolio.web.app import create_app
    from salesfolio.workspace import Workspace
    from web_fixtures import cheap_passwords

    with cheap_passwords():
        ws = Workspace.init(tmp_path / "empty")
        with ws.sessions.begin() as db:
            create_user(db, username="board", password="correct-horse-1", role="board")
        http = TestClient(create_app(ws), follow_redirects=False)
        token = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/login").text).group(1)
        http.post("/login", data={"username": "board", "password": "correct-horse-1", "csrf_token": token})
        for path in ("/segments", "/segments?view=zones", "/team", "/models"):
            page = http.get(path)
            assert page.status_code == 200 and "No analysis yet" in page.text, path
        assert "Click a row" in http.get("/segments/clients?segment=strategic").text
        ws.close()


@pytest.mark.parametrize(("username", "own"), [("maria", NORTH), ("bartek", SOUTH)])
def test_every_heatmap_cell_lists_only_clients_in_scope(world: World, seg: int, username: str, own: list[str]) -> None:
    """Every rows x columns choice adds up to the user's clients; the cells of every rows choice (against the
    value x potential segment) and of every columns choice (against the rep) list only those clients."""
    from salesfolio.web.routes.segments import DIMENSIONS, SEGMENTATIONS

    http = world.login(username)
    for by in DIMENSIONS:
        for segmentation in SEGMENTATIONS:
            query = f"snapshot={seg}&view=heatmap&by={by}&segmentation={segmentation}"
            heat = figure(http.get(f"/segments?{query}").text, "heatmap-chart")["data"][0]
            assert sum(z for row in heat["z"] for z in row if z) == len(own), (by, segmentation)
            if segmentation != "segment" and by != "owner":
                continue
            listed: list[str] = []
            for link in (c for row in heat["customdata"] for c in row if c):
                listed += listed_ids(http.get(f"/segments/clients?{query}&{link}").text)
            assert sorted(listed) == own, (by, segmentation)


def test_zones_when_the_warehouse_is_busy(world: World, monkeypatch) -> None:
    import contextlib

    from salesfolio.web.routes import segments

    @contextlib.contextmanager
    def busy(_workspace: object) -> Iterator[None]:
        yield None

    monkeypatch.setattr(segments, "open_warehouse", busy)
    http = world.login("anna")
    page = http.get(f"/segments?snapshot={world.snapshot_id}&view=zones&cell=zone%3DA")
    assert page.status_code == 200 and "The warehouse is busy (an import is running)" in page.text
    deals = http.get(f"/segments/deals?snapshot={world.snapshot_id}&zone=A").text
    assert "The warehouse is busy (an import is running)" in deals
    matrix = http.get(f"/segments?snapshot={world.snapshot_id}").text  # rep names are missing, nothing else
    assert "Strategic" in matrix and 'id="matrix-table"' in matrix
