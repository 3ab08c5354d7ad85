"""The Team page through real HTTP: holdings per rep, hours against capacity, scope per role, sorting, Polish.

Expected figures from ``web_fixtures.CLIENT_ROWS`` (snapshot of 2025-06-30) and the warehouse data added here:

* R1 (Anna, team North): 5 clients, revenue 710 000, margin 182 000 (25.6 %), potential 800 000, headroom
  300 000, revenue at risk 119 000, 2 high-risk clients; hours 10 + 5 = 15 (the activity of 2024-06-30 is outside
  the window ``2024-06-30 < date <= 2025-06-30``, that of 2025-07-01 after it, one without a rep counts for
  nobody); capacity 100 a quarter = 400 a year (4 %); revenue per hour 710 000 / 15 = 47 333.
* R2 (hostile name, team South): 2 clients, revenue 350 000, margin 70 000, potential 400 000, headroom 100 000,
  at risk 95 000; 20 hours, no capacity; 17 500 per hour.
* R3 (Zenon, team West): no client; 3 hours of a capacity of 50 a quarter (200 a year, 2 %).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import json
import re
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from salesfolio.web import groups
from salesfolio.web.queries import ClientScope
from salesfolio.web.rollups import SnapshotCache
from test_web_segments import add_segment_snapshot
from web_fixtures import World, csrf_of, module_world

HOSTILE_REP = '<script>alert("rep")</script>'


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    for built in module_world(tmp_path_factory):
        with built.workspace.warehouse() as wh:
            wh.upsert(
                "reps",
                pa.table(
                    {
                        "rep_id": ["R1", "R2", "R3"],
                        "name": ["Anna Nowak", HOSTILE_REP, "Zenon Zero"],
                        "team": ["North", "South", "West"],
                        "capacity_hours": [100.0, None, 50.0],
                    }
                ),
            )
            wh.upsert(
                "activities",
                pa.table(
                    {
                        "client_id": ["C001", "C002", "C001", "C001", "C101", "C101", "C005"],
                        "rep_id": ["R1", "R1", "R1", "R1", "R2", "R3", None],
                        "date": [
                            dt.date(2025, 1, 10),
                            dt.date(2025, 6, 30),
                            dt.date(2024, 6, 30),
                            dt.date(2025, 7, 1),
                            dt.date(2025, 3, 1),
                            dt.date(2025, 2, 1),
                            dt.date(2025, 1, 1),
                        ],
                        "kind": ["visit", "call", "visit", "visit", "visit", "call", "call"],
                        "hours": [10.0, 5.0, 7.0, 4.0, 20.0, 3.0, 9.0],
                    }
                ),
            )
        yield built


def rows_of(page: str) -> list[list[str]]:
    """The text of each cell of the team table's body rows (lines inside a cell joined by " | ")."""
    body = page.split('id="team-table"')[1].split("</tbody>")[0].split("<tbody>")[1]
    out = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        out.append([html.unescape(re.sub(r"\s*<div[^>]*>", " | ", re.sub(r"</div>|<(?!div)[^>]+>", "", c))).strip()
                    for c in cells])  # fmt: skip
    return out


def total_of(page: str) -> list[str]:
    foot = page.split('id="team-total"')[1].split("</tr>")[0]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", foot, re.S)
    return [html.unescape(re.sub(r"\s*<div[^>]*>", " | ", re.sub(r"</div>|<(?!div)[^>]+>", "", c))).strip()
            for c in cells]  # fmt: skip


def figure(page: str, element_id: str) -> dict[str, Any]:
    match = re.search(rf'id="{re.escape(element_id)}"[^>]*data-figure="([^"]*)"', page)
    assert match, element_id
    return json.loads(html.unescape(match.group(1)))


R1_ROW = [
    "Anna Nowak | R1 · North",
    "5",
    "PLN710,000",
    "PLN182,000 | 25.6%",
    "PLN300,000 | potential PLN800,000",
    "PLN119,000 | 2 high-risk clients",
    "15 | of 400 (4%)",
    "PLN47,333",
]


def test_board_sees_every_rep(world: World) -> None:
    page = world.login("board").get(f"/team?snapshot={world.snapshot_id}").text
    assert rows_of(page) == [
        R1_ROW,
        [
            f"{HOSTILE_REP} | R2 · South",
            "2",
            "PLN350,000",
            "PLN70,000 | 20.0%",
            "PLN100,000 | potential PLN400,000",
            "PLN95,000 | 0 high-risk clients",
            "20",
            "PLN17,500",
        ],
        [
            "Zenon Zero | R3 · West",
            "0",
            "–",
            "– | –",
            "– | potential –",
            "– | 0 high-risk clients",
            "3 | of 200 (2%)",
            "–",
        ],
    ]
    # R2 has no capacity, so the total shows none (38 hours could not be set against 600 hours of two reps)
    assert total_of(page) == [
        "Total",
        "7",
        "PLN1,060,000",
        "PLN252,000 | 23.8%",
        "PLN400,000 | potential PLN1,200,000",
        "PLN214,000 | 2 high-risk clients",
        "38",
        "PLN27,895",
    ]
    assert HOSTILE_REP not in page and "&lt;script&gt;alert(&#34;rep&#34;)&lt;/script&gt;" in page
    mix = figure(page, "team-mix-chart")
    assert mix["layout"]["barmode"] == "stack"
    assert {t["name"]: t["x"] for t in mix["data"]} == {
        "Strategic": [1, 0],
        "Development": [1, 0],
        "Maintain": [0, 1],
        "Operational": [3, 1],
    }
    assert mix["data"][0]["y"] == ["Anna Nowak", "&lt;script&gt;alert(&quot;rep&quot;)&lt;/script&gt;"]
    value = figure(page, "team-value-chart")
    assert [(t["name"], t["x"]) for t in value["data"]] == [
        ("Revenue TTM", [710000.0, 350000.0]),
        ("Headroom", [300000.0, 100000.0]),
    ]
    assert f'<a href="/clients?snapshot={world.snapshot_id}&amp;owner=R1">5</a>' in page


@pytest.mark.parametrize("username", ["anna", "maria"])
def test_north_sees_rep_r1_only(world: World, username: str) -> None:
    page = world.login(username).get(f"/team?snapshot={world.snapshot_id}").text
    assert rows_of(page) == [R1_ROW]
    assert 'id="team-total"' not in page  # one row: no total
    assert "South" not in page and "Zenon" not in page and "alert" not in page
    mix = figure(page, "team-mix-chart")
    assert [t["y"] for t in mix["data"]] == [["Anna Nowak"]] * 3


def test_rep_r2_sees_self_only(world: World) -> None:
    page = world.login("bartek").get(f"/team?snapshot={world.snapshot_id}").text
    rows = rows_of(page)
    assert [r[0] for r in rows] == [f"{HOSTILE_REP} | R2 · South"] and rows[0][6] == "20"
    assert "Anna" not in page and "PLN710,000" not in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sort=hours&order=asc", ["Zenon Zero", "Anna Nowak", HOSTILE_REP]),
        ("sort=hours&order=desc", [HOSTILE_REP, "Anna Nowak", "Zenon Zero"]),
        ("sort=name&order=asc", [HOSTILE_REP, "Anna Nowak", "Zenon Zero"]),  # "<" sorts before letters
        ("sort=revenue_per_hour&order=desc", ["Anna Nowak", HOSTILE_REP, "Zenon Zero"]),  # missing last
        ("sort=utilisation&order=desc", ["Anna Nowak", "Zenon Zero", HOSTILE_REP]),
        ("sort=potential&order=asc", [HOSTILE_REP, "Anna Nowak", "Zenon Zero"]),
    ],
)
def test_sorting(world: World, query: str, expected: list[str]) -> None:
    page = world.login("admin").get(f"/team?snapshot={world.snapshot_id}&{query}").text
    assert [r[0].split(" | ")[0] for r in rows_of(page)] == expected


def test_sort_links_and_bad_sort(world: World) -> None:
    http = world.login("board")
    page = http.get(f"/team?snapshot={world.snapshot_id}&sort=hours&order=asc").text
    assert 'aria-sort="ascending"' in page
    assert f'href="/team?snapshot={world.snapshot_id}&amp;sort=hours&amp;order=desc"' in page
    assert f'href="/team?snapshot={world.snapshot_id}&amp;sort=name&amp;order=asc"' in page  # text sorts A-Z first
    assert http.get("/team?sort=password_hash").status_code == 400


def test_clients_without_owner_form_a_row_for_the_board(world: World) -> None:
    seg = add_segment_snapshot(world)
    board = rows_of(world.login("board").get(f"/team?snapshot={seg}").text)
    orphan = next(r for r in board if r[0] == "No owner")
    assert orphan[1:4] == ["1", "PLN20,000", "PLN2,000 | 10.0%"] and orphan[6] == "–"
    assert all(r[0] != "No owner" for r in rows_of(world.login("bartek").get(f"/team?snapshot={seg}").text))


def test_busy_warehouse_shows_holdings_without_names_or_hours(world: World, monkeypatch) -> None:
    from salesfolio.web.routes import team

    @contextlib.contextmanager
    def busy(_workspace: object) -> Iterator[None]:
        yield None

    readable = team.open_warehouse
    monkeypatch.setattr(team, "open_warehouse", busy)
    # Nothing read from the warehouse before (a fresh cache): reps and hours are unknown while it is busy.
    world.app.state.snapshot_cache = SnapshotCache()
    page = world.login("maria").get(f"/team?snapshot={world.snapshot_id}").text
    assert "The warehouse is busy" in page
    assert rows_of(page)[0][:3] == ["R1 | R1", "5", "PLN710,000"] and rows_of(page)[0][6] == "–"
    # A busy read is not kept: once the warehouse can be read, names and hours are back.
    monkeypatch.setattr(team, "open_warehouse", readable)
    page = world.login("maria").get(f"/team?snapshot={world.snapshot_id}").text
    assert "The warehouse is busy" not in page and "Anna Nowak" in page


def test_team_in_polish(world: World) -> None:
    http = world.login("maria")
    http.post("/language", data={"language": "pl", "next": "/", "csrf_token": csrf_of(http)})
    try:
        page = http.get(f"/team?snapshot={world.snapshot_id}").text
        assert "Portfel handlowców" in page and "Struktura segmentów" in page
        row = rows_of(page)[0]
        assert row[2] == "710\u00a0000\u00a0zł" and row[3] == "182\u00a0000\u00a0zł | 25,6%"
        assert row[5] == "119\u00a0000\u00a0zł | 2 klientów wysokiego ryzyka" and row[6] == "15 | z 400 (4%)"
        assert figure(page, "team-mix-chart")["layout"]["separators"] == ",\u00a0"
    finally:
        http.post("/language", data={"language": "en", "next": "/", "csrf_token": csrf_of(http)})


def test_rep_scope_rule() -> None:
    assert groups.rep_in_scope(ClientScope("all"), "R9", None)
    assert groups.rep_in_scope(ClientScope("team", "North"), "R1", "North")
    assert not groups.rep_in_scope(ClientScope("team", "North"), "R2", "South")
    assert not groups.rep_in_scope(ClientScope("team", "North"), "R0", None)
    assert groups.rep_in_scope(ClientScope("owner", "R1"), "R1", "South")
    assert not groups.rep_in_scope(ClientScope("owner", "R1"), "R2", "North")
    assert not groups.rep_in_scope(ClientScope("none"), "R1", "North")


def test_hours_by_rep_window_and_filter(world: World) -> None:
    with world.workspace.warehouse() as wh:
        assert groups.hours_by_rep(wh, dt.date(2025, 6, 30), None) == {"R1": 15.0, "R2": 20.0, "R3": 3.0}
        assert groups.hours_by_rep(wh, dt.date(2025, 6, 30), {"R1", "R9"}) == {"R1": 15.0}
        assert groups.hours_by_rep(wh, dt.date(2025, 6, 30), set()) == {}
        assert groups.hours_by_rep(wh, dt.date(2025, 7, 1), {"R1"}) == {"R1": 19.0}  # 2024-07-01 < date <= 2025-07-01
