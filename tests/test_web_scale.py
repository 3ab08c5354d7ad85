"""Pages at scale: per-owner totals, promoted columns, the list's index paths and the app store's revision 0004.

Every figure read from the per-owner totals (:mod:`salesfolio.web.rollups`) is compared with the direct
aggregation over the rows (:mod:`salesfolio.web.queries`, reading the features out of the ``details`` JSON as
before revision 0004) for each scope kind, with NULLs among owners, teams, segments and money; the migration is
run on SQLite and PostgreSQL over a snapshot stored at revision 0003 and must backfill the same numbers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from salesfolio.services.analysis import OWNER_TOTAL_COLUMNS, store_aggregates
from salesfolio.store.db import head_revision, make_engine, migrate, session_factory
from salesfolio.store.models import Snapshot, SnapshotClient, SnapshotOwnerTotal
from salesfolio.web import groups, queries, rollups
from salesfolio.web.queries import ClientQuery, ClientScope
from web_fixtures import OWN, PROMOTED_FEATURES, World, build_world, promote

SCOPES = [
    ClientScope("all"),
    ClientScope("team", "North"),
    ClientScope("team", "South"),
    ClientScope("owner", "R1"),
    ClientScope("owner", "R2"),
    ClientScope("owner", "R9"),
    ClientScope("none"),
]
ORPHAN = "Z900"
"""A client with no owner, team, segment or money at all (every value NULL)."""


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)
    return bool(a == b)


def _assert_same(new: Any, reference: Any) -> None:
    """Dataclasses (or lists of them) equal field by field, floats to 1e-12 (sums in another order)."""
    if isinstance(reference, list):
        assert len(new) == len(reference)
        for n, r in zip(new, reference, strict=True):
            _assert_same(n, r)
        return
    if isinstance(reference, tuple):
        assert len(new) == len(reference)
        for n, r in zip(new, reference, strict=True):
            _assert_same(n, r)
        return
    fields = getattr(reference, "__dataclass_fields__", None)
    if fields is None:
        assert _close(new, reference), (new, reference)
        return
    for name in fields:
        a, b = getattr(new, name), getattr(reference, name)
        assert (a is None and b is None) or _close(a, b) or (isinstance(b, (list, tuple, dict)) and a == b), (
            name,
            a,
            b,
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    built = build_world(tmp_path_factory.mktemp("scale"), aggregates=False)
    with built.workspace.sessions.begin() as db:
        db.add(SnapshotClient(snapshot_id=built.snapshot_id, client_id=ORPHAN, name="Orphan", details={}))
        # Scores for the matrix, an RFM code and cost-to-serve inputs on part of the clients only.
        for i, row in enumerate(
            db.scalars(select(SnapshotClient).where(SnapshotClient.snapshot_id == built.snapshot_id))
        ):
            if row.client_id == ORPHAN:
                continue
            features = dict(row.details["features"])
            features.update({"value_score": 10.0 + i, "rfm_score": f"{1 + i % 5}{5 - i % 5}3"})
            if i % 2 == 0:
                features["cost_to_serve_ttm"] = 1000.0 * (i + 1)
            details = dict(row.details, features=features)
            if i % 3 == 0:
                details["potential_score"] = 50.0 - i
            row.details = details
    yield built
    built.workspace.close()


def _figures(db: Any, snapshot: Snapshot, scope: ClientScope, cache: rollups.SnapshotCache | None) -> dict[str, Any]:
    return {
        "kpis": rollups.portfolio_kpis(db, snapshot, scope),
        "segments": rollups.segment_summary(db, snapshot, scope),
        "forecast": rollups.forecast_totals(db, snapshot, scope),
        "owner": rollups.group_totals(db, snapshot, scope, ["owner"], cache),
        "owner_segment": rollups.group_totals(db, snapshot, scope, ["owner", "segment"], cache),
        "mix": rollups.segment_mix(db, snapshot, scope),
        "team": rollups.group_totals(db, snapshot, scope, ["team"], cache),
        "segment": rollups.group_totals(db, snapshot, scope, ["segment"], cache),
        "rfm": rollups.group_totals(db, snapshot, scope, list(groups.RFM_KEYS), cache),
        "map": rollups.map_points(db, snapshot, scope),
        "pareto": rollups.pareto_curve(db, snapshot, scope, cache),
        "growers": [(r.client_id, g) for r, g in rollups.top_growers(db, snapshot, scope, 2.0, cache)],
        "cts": groups.cts_points(db, snapshot.id, scope),
        "cts_splits": groups.cts_splits(db, snapshot.id, scope),
        "count": rollups.count_clients(db, snapshot, scope, ClientQuery(q="a"), cache),
    }


def test_totals_equal_the_direct_aggregation_for_every_scope(world: World) -> None:
    factory = world.workspace.sessions
    with factory() as db:
        snapshot = db.get(Snapshot, world.snapshot_id)
        assert snapshot is not None and not rollups.has_totals(snapshot)
        # The reference: the rows aggregated directly, features read out of the JSON (the pre-0004 path).
        reference = {scope: _figures(db, snapshot, scope, None) for scope in SCOPES}
    with factory.begin() as db:
        promote(db, world.snapshot_id)
        store_aggregates(db, world.snapshot_id)
    cache = rollups.SnapshotCache()
    with factory() as db:
        snapshot = db.get(Snapshot, world.snapshot_id)
        assert snapshot is not None and rollups.has_totals(snapshot)
        for scope in SCOPES:
            new = _figures(db, snapshot, scope, cache)
            again = _figures(db, snapshot, scope, cache)  # from the cache
            for key, value in reference[scope].items():
                _assert_same(new[key], value)
                _assert_same(again[key], value)
        # By hand (web_fixtures.CLIENT_ROWS plus the orphan): every client, the orphan in no team or rep's scope.
        kpis = rollups.portfolio_kpis(db, snapshot, ClientScope("all"))
        assert kpis.clients == 8 and kpis.active_clients == 6
        assert kpis.revenue_ttm == pytest.approx(1_060_000.0)
        assert kpis.revenue_prior_ttm == pytest.approx(960_000.0)
        assert kpis.margin_prior_ttm == pytest.approx(212_000.0)  # C003 has none
        assert kpis.margin_revenue_ttm == pytest.approx(980_000.0)  # revenue of the clients with a margin
        assert kpis.clients_with_potential == 2
        north = rollups.portfolio_kpis(db, snapshot, ClientScope("team", "North"))
        assert north.clients == len(OWN["R1"]) and north.high_risk_clients == 2
        orphan_row = [g for g in rollups.group_totals(db, snapshot, ClientScope("all"), ["owner"]) if g.keys == (None,)]
        assert len(orphan_row) == 1 and orphan_row[0].clients == 1 and orphan_row[0].revenue_ttm is None
        assert rollups.portfolio_kpis(db, snapshot, ClientScope("none")).clients == 0
        assert rollups.portfolio_kpis(db, snapshot, ClientScope("none")).revenue_ttm is None


def test_list_pages_follow_the_reference_order(world: World) -> None:
    """The two-step page (IDs off the index, then rows) against the whole list sorted in Python."""
    with world.workspace.sessions() as db:
        rows = list(db.scalars(select(SnapshotClient).where(SnapshotClient.snapshot_id == world.snapshot_id)))
        for sort, order, q, filters in [
            ("revenue", "desc", "", {}),
            ("name", "asc", "", {}),
            ("name", "desc", "", {}),
            ("score", "asc", "", {}),
            ("margin", "desc", "", {}),
            ("revenue", "desc", "A", {}),
            ("revenue", "desc", "%_", {}),
            ("growth", "desc", "", {"segment": "operational"}),
            ("risk", "desc", "c0", {}),
        ]:
            for scope in SCOPES:
                query = ClientQuery(q=q, filters=filters, sort=sort, order=order)
                wanted = [r for r in rows if _in_scope(r, scope) and _matches(r, q, filters)]
                key = queries.SORT_KEYS[sort]
                values = {r.client_id: _sort_value(r, sort, key) for r in wanted}
                present = sorted(
                    (r for r in wanted if values[r.client_id] is not None),
                    key=lambda r: r.client_id,
                )
                present.sort(key=lambda r: values[r.client_id], reverse=order == "desc")
                missing = sorted((r for r in wanted if values[r.client_id] is None), key=lambda r: r.client_id)
                expected = [r.client_id for r in present + missing]
                got: list[str] = []
                for page in (1, 2, 3, 4):
                    listing = queries.list_clients(db, world.snapshot_id, scope, _with_page(query, page), page_size=3)
                    assert listing.total == len(expected)
                    got += [r.client_id for r in listing.rows]
                assert got == expected, (sort, order, q, filters, scope)


def _with_page(query: ClientQuery, page: int) -> ClientQuery:
    return ClientQuery(q=query.q, filters=query.filters, sort=query.sort, order=query.order, page=page)


def _in_scope(row: SnapshotClient, scope: ClientScope) -> bool:
    if scope.kind == "all":
        return True
    if scope.kind == "team":
        return row.team == scope.value
    if scope.kind == "owner":
        return row.owner_id == scope.value
    return False


def _matches(row: SnapshotClient, q: str, filters: dict[str, str]) -> bool:
    columns = {"segment": "segment", "owner": "owner_id", "risk": "risk_level"}
    if any(getattr(row, columns[k]) != v for k, v in filters.items()):
        return False
    return not q or q.casefold() in row.name.casefold() or q.casefold() in row.client_id.casefold()


def _sort_value(row: SnapshotClient, sort: str, key: Any) -> Any:
    if sort == "risk":
        return {"low": 1, "medium": 2, "high": 3}.get(row.risk_level or "")
    return getattr(row, key.key)


def test_cache_keys_carry_snapshot_scope_and_question() -> None:
    cache = rollups.SnapshotCache(size=2)
    first = Snapshot(id=1, created_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    reused = Snapshot(id=1, created_at=dt.datetime(2025, 2, 1, tzinfo=dt.UTC))  # an ID SQLite gave out again
    calls: list[str] = []

    def compute(value: str) -> Any:
        return lambda: calls.append(value) or value

    assert rollups.cached(cache, first, ClientScope("all"), "q", compute("a")) == "a"
    assert rollups.cached(cache, first, ClientScope("all"), "q", compute("b")) == "a"
    assert rollups.cached(cache, reused, ClientScope("all"), "q", compute("c")) == "c"
    assert rollups.cached(cache, first, ClientScope("owner", "R1"), "q", compute("d")) == "d"
    assert len(cache) == 2 and calls == ["a", "c", "d"]  # the oldest entry went
    assert rollups.cached(cache, first, ClientScope("all"), "q", compute("e")) == "e"


def test_team_table_is_paged_with_totals_over_every_rep(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from salesfolio.web.routes import team

    monkeypatch.setattr(team, "TEAM_PAGE_SIZE", 1)
    http = world.login("admin")
    bodies = []
    for page in (1, 2, 3):
        html = http.get(f"/team?sort=name&order=asc&page={page}").text
        assert 'id="team-pages"' in html and f"Page {page} of 3" in html
        bodies.append(html.split("<tbody>")[1].split("</tbody>")[0])
        total = html.split('id="team-total"')[1].split("</tr>")[0]
        assert ">8<" in total  # the total row counts every client in scope, whatever the page
    # Each rep (and the clients without an owner) on exactly one page.
    for name in ("Anna Nowak", "Bartek Wiśniewski", "No owner"):
        assert sum(name in body for body in bodies) == 1, name
    assert "Page 3 of 3" in http.get("/team?sort=name&order=asc&page=99").text  # past the end: the last page
    rep = world.login("anna").get("/team?page=2").text  # one row in a rep's scope: one page, no pager
    assert "Anna Nowak" in rep and 'id="team-pages"' not in rep and "Bartek" not in rep


# -- the migration ------------------------------------------------------------------------------------------------
V3_CLIENT_COLUMNS = (
    "snapshot_id", "client_id", "name", "owner_id", "team", "segment", "revenue_ttm", "margin_ttm", "potential",
    "headroom", "expected_loss", "expected_revenue", "risk_level", "n_signals", "details",
)  # fmt: skip


def _v3_rows(snapshot_id: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(40):
        features: dict[str, Any] = {
            "revenue_prior_ttm": None if i % 7 == 0 else 100.0 * i,
            "margin_prior_ttm": None if i % 5 == 0 else 10.5 * i,
            "margin_pct_ttm": 0.01 * i,
            "cost_to_serve_ttm": None if i % 3 == 0 else 7.25 * i,
            "value_score": 1.5 * i,
            "rfm_score": f"{1 + i % 5}{1 + i % 4}{1 + i % 3}",
        }
        details: dict[str, Any] = {"features": features}
        if i % 4 == 0:
            details["potential_score"] = 2.0 * i
        else:
            features["potential_score"] = 3.0 * i
        rows.append(
            {
                "snapshot_id": snapshot_id,
                "client_id": f"K{i:03d}",
                "name": f"Client {i}",
                "owner_id": None if i % 11 == 0 else ("" if i % 13 == 0 else f"R{i % 4}"),
                "team": None if i % 11 == 0 else f"T{i % 2}",
                "segment": None if i % 9 == 0 else ("strategic", "maintain", "operational")[i % 3],
                "revenue_ttm": None if i % 10 == 0 else (-50.0 if i % 8 == 0 else 1000.0 + i),
                "margin_ttm": None if i % 6 == 0 else (-5.0 if i % 12 == 1 else 100.0 + i),
                "potential": None if i % 2 else 500.0 + i,
                "headroom": None if i % 2 else 50.0 + i,
                "expected_loss": 3.0 * i,
                "expected_revenue": None if i % 3 == 1 else 2000.0 + i,
                "risk_level": ("high", "medium", "low", None)[i % 4],
                "n_signals": i % 3,
                "details": details,
            }
        )
    return rows


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    return str(request.getfixturevalue("pg_database"))


def test_revision_0004_backfills_promoted_columns_and_totals(store_url: str) -> None:
    engine = make_engine(store_url)
    try:
        migrate(engine, "0003")
        meta = sa.MetaData()
        snapshots = sa.Table("snapshots", meta, autoload_with=engine)
        clients = sa.Table("snapshot_clients", meta, autoload_with=engine)
        with engine.begin() as conn:
            ids = []
            for label in ("old", "older"):
                result = conn.execute(
                    sa.insert(snapshots).values(
                        label=label,
                        as_of=dt.date(2025, 6, 30),
                        created_at=dt.datetime(2025, 7, 1, tzinfo=dt.UTC),
                        status="open",
                        config={},
                        summary={},
                        warnings=[],
                        models={},
                        n_clients=40,
                    )
                )
                ids.append(int(result.inserted_primary_key[0]))
            for snapshot_id in ids:
                conn.execute(sa.insert(clients), _v3_rows(snapshot_id))
        migrate(engine)
        assert head_revision() == "0004"
        factory = session_factory(engine)
        with factory() as db:
            for snapshot_id in ids:
                snapshot = db.get(Snapshot, snapshot_id)
                assert snapshot is not None and rollups.has_totals(snapshot)
                stored = {
                    r.client_id: r
                    for r in db.scalars(select(SnapshotClient).where(SnapshotClient.snapshot_id == snapshot_id))
                }
                for row in _v3_rows(snapshot_id):
                    got = stored[row["client_id"]]
                    features = row["details"]["features"]
                    for name in PROMOTED_FEATURES:
                        assert (
                            getattr(got, name) == pytest.approx(features[name])
                            if features[name] is not None
                            else getattr(got, name) is None
                        )
                    assert got.value_score == pytest.approx(features["value_score"])
                    expected_potential = row["details"].get("potential_score", features.get("potential_score"))
                    assert got.potential_score == pytest.approx(expected_potential)
                    assert got.rfm_score == features["rfm_score"]
        backfilled = _totals(factory, ids)
        # What the analysis stores for a new snapshot (services.analysis.store_aggregates) is what was backfilled.
        with factory.begin() as db:
            for snapshot_id in ids:
                store_aggregates(db, snapshot_id)
        assert _totals(factory, ids) == backfilled
        # And both equal a direct aggregation in Python over the rows, NULLs included.
        for snapshot_id in ids:
            assert {k[1:]: v for k, v in backfilled.items() if k[0] == snapshot_id} == _python_totals(
                _v3_rows(snapshot_id)
            )
    finally:
        engine.dispose()


def _totals(factory: Any, ids: list[int]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    with factory() as db:
        out = {}
        for row in db.scalars(select(SnapshotOwnerTotal).where(SnapshotOwnerTotal.snapshot_id.in_(ids))):
            values = [getattr(row, c) for c in OWNER_TOTAL_COLUMNS]
            key = tuple(values[:4])
            assert key not in out
            out[key] = tuple(round(v, 6) if isinstance(v, float) else v for v in values[4:])
        return out


def _python_totals(rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        key = tuple(r[k] or None for k in ("owner_id", "team", "segment"))
        groups.setdefault(key, []).append(r)

    def total(values: list[Any]) -> Any:
        present = [v for v in values if v is not None]
        return round(math.fsum(present), 6) if present else None

    out = {}
    for key, members in groups.items():
        f = [m["details"]["features"] for m in members]
        out[key] = (
            len(members),
            sum(1 for m in members if (m["revenue_ttm"] or 0) > 0),
            total([m["revenue_ttm"] for m in members]),
            round(math.fsum(m["revenue_ttm"] for m in members if (m["revenue_ttm"] or 0) > 0), 6),
            total([x["revenue_prior_ttm"] for x in f]),
            total([m["margin_ttm"] for m in members]),
            round(math.fsum(m["margin_ttm"] for m in members if (m["margin_ttm"] or 0) > 0), 6),
            total([x["margin_prior_ttm"] for x in f]),
            total([m["revenue_ttm"] for m in members if m["margin_ttm"] is not None]),
            total([m["potential"] for m in members]),
            sum(1 for m in members if m["potential"] is not None),
            total([m["headroom"] for m in members]),
            total([m["expected_loss"] for m in members]),
            sum(1 for m in members if m["risk_level"] == "high"),
            total([m["expected_revenue"] for m in members]),
            sum(1 for m in members if m["expected_revenue"] is not None),
            total([m["revenue_ttm"] for m in members if m["expected_revenue"] is not None]),
        )
    return out


# -- charts of thousands of points --------------------------------------------------------------------------------
def _map_data(n: int) -> queries.MapData:
    points = [
        queries.MapPoint(
            client_id=f"K{i:05d}",
            name=f"Client <{i}> & Co" if i % 7 == 0 else f"Client {i}",
            revenue_ttm=None if i % 11 == 0 else 1000.0 * (n - i) + 0.5,
            margin_ttm=None if i % 5 == 0 else 100.0 * (n - i),
            headroom=None if i % 3 == 0 else 50.0 * i,
            value_score=None if i % 13 == 0 else (i * 37 % 1001) / 10,
            potential_score=(i * 53 % 1001) / 10,
            risk_level=("high", "medium", "low", None, "odd")[i % 5],
            segment=("strategic", "development", "maintain", "operational", None)[i % 5],
        )
        for i in range(n)
    ]
    return queries.MapData(points, n, None, None)


@pytest.mark.parametrize("language", ["en", "pl"])
def test_large_scatters_are_valid_plotly_and_keep_their_hover_text(language: str) -> None:
    """The scatters skip plotly's per-value validation; plotly must accept them and read them back unchanged."""
    import json

    import plotly.graph_objects as go
    import plotly.io as pio

    from salesfolio.web import charts
    from salesfolio.web.i18n import Lang, load_catalogues

    lang = Lang(language, load_catalogues()[language], "PLN")
    data = _map_data(300)
    for text in (
        charts.portfolio_map(data, lang, (40.0, 60.0)),
        charts.portfolio_map(
            queries.MapData([dataclasses.replace(p, value_score=None) for p in data.points], 300, None, None), lang
        ),
        charts.value_potential_chart(data, lang, (None, None), []),
    ):
        fast = json.loads(text)
        validated = json.loads(pio.to_json(go.Figure(fast), validate=True))  # raises on any unknown property
        assert validated == fast
        assert sum(len(t["x"]) for t in fast["data"] if t["x"] != [None]) > 100
    # Hover texts as before: scores formatted as Babel's decimal with no fraction digits, escaped names.
    fig = json.loads(charts.value_potential_chart(data, lang, (None, None), []))
    texts = {cid: t for trace in fig["data"] for cid, t in zip(trace["customdata"], trace["text"], strict=True)}
    p = data.points[7]
    assert texts[p.client_id].startswith("<b>Client &lt;7&gt; &amp; Co</b> (K00007)")
    assert f"{lang.decimal(p.value_score, 0)} · " in texts[p.client_id]
    for value in [i / 2 for i in range(0, 201)] + [0.49999, 99.5, 2.5, 3.5]:
        assert lang.number(value) == lang.decimal(value, 0), value


def test_team_reads_the_warehouse_once_per_import(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from salesfolio.services import audit
    from salesfolio.web.routes import team

    calls: list[str] = []
    original = team._reps_and_hours

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append("read")
        return original(*args, **kwargs)

    monkeypatch.setattr(team, "_reps_and_hours", counted)
    world.app.state.snapshot_cache = rollups.SnapshotCache()
    http = world.login("board")
    with world.workspace.sessions() as db:
        before = rollups.warehouse_version(db)
    first = http.get("/team").text
    assert http.get("/team?sort=name&order=asc").text.count("Anna Nowak") == first.count("Anna Nowak")
    assert len(calls) == 1  # the second request (another sort) read no warehouse
    with world.workspace.sessions.begin() as db:
        audit.record(db, "import", object_type="warehouse", files=["x.csv"], loaded={})
        audit.record(db, "login", username="board")  # not a change of the warehouse
    with world.workspace.sessions() as db:
        assert rollups.warehouse_version(db) > before
    assert "Anna Nowak" in http.get("/team").text
    assert len(calls) == 2  # an import: read again
    maria = world.login("maria")
    maria.get("/team")
    assert len(calls) == 3  # another scope: its own entry


def test_analysis_stores_promoted_columns_and_totals(tmp_path: Path) -> None:
    """A real analysis run (demo data): promoted columns equal the JSON features, totals the row aggregation."""
    from salesfolio import demo
    from salesfolio.services.analysis import run_analysis
    from salesfolio.workspace import Workspace

    as_of = dt.date(2026, 10, 31)
    ws = Workspace.init(tmp_path / "demo", reference_date=as_of.isoformat())
    try:
        with ws.warehouse() as wh:
            demo.load(wh, demo.generate(clients=120, years=2, seed=11, as_of=as_of))
        run = run_analysis(ws, as_of=as_of)
        with ws.sessions() as db:
            snapshot = db.get(Snapshot, run.snapshot_id)
            assert snapshot is not None and rollups.has_totals(snapshot)
            rows = list(db.scalars(select(SnapshotClient).where(SnapshotClient.snapshot_id == snapshot.id)))
            assert len(rows) == len(run.clients) > 0
            for row in rows:
                features = row.details["features"]
                for name in (*PROMOTED_FEATURES, "value_score", "potential_score"):
                    assert getattr(row, name) == features.get(name), (row.client_id, name)
                assert row.rfm_score == (None if features.get("rfm_score") is None else str(features["rfm_score"]))
            owner = next(r.owner_id for r in rows if r.owner_id)
            team = next((r.team for r in rows if r.team), None)
            scopes = [ClientScope("all"), ClientScope("owner", owner)] + ([ClientScope("team", team)] if team else [])
            for scope in scopes:
                _assert_same(
                    rollups.portfolio_kpis(db, snapshot, scope), queries.portfolio_kpis(db, snapshot.id, scope)
                )
                _assert_same(
                    rollups.forecast_totals(db, snapshot, scope), groups.forecast_totals(db, snapshot.id, scope)
                )
                for keys in (["owner"], ["segment"], ["team", "segment"]):
                    _assert_same(
                        rollups.group_totals(db, snapshot, scope, keys),
                        groups.group_totals(db, snapshot.id, scope, keys),
                    )
    finally:
        ws.close()
