"""The app's per-snapshot caches: what is kept never crosses scopes or languages, and the fast paths equal the old.

Every cached piece of the pages (figure JSON, totals, the Team view, the client's warehouse data, the search index,
the list's counts and filter drop-downs) is keyed by snapshot and scope. The proof here is end to end: each page,
requested by every user in turn through one app (its cache filled by the others first), must be what the same
user gets from a fresh app with an empty cache. The fast paths are compared with the reference computations: the
DuckDB SQL of the client page with the Ibis queries, the in-memory search with ``LIKE``, the list pages read
from the end with the pages read from the start.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from salesfolio.store.models import Snapshot, SnapshotClient
from salesfolio.web import client_data, queries, rollups
from salesfolio.web.app import create_app
from salesfolio.web.i18n import Lang, load_catalogues
from salesfolio.web.queries import ClientQuery, ClientScope
from salesfolio.web.rollups import SnapshotCache
from web_fixtures import AS_OF, World, build_world, cheap_passwords, csrf_of

USERS = ["admin", "board", "maria", "anna", "bartek"]
PAGES = [
    "/",
    "/team",
    "/team?sort=name&order=asc",
    "/segments",
    "/segments?view=cts",
    "/segments?view=rfm",
    "/segments?view=abc",
    "/segments?view=zones",
    "/segments?view=zones&cell=zone%3DA",
    "/segments/deals?zone=A",
    "/segments?view=heatmap&segmentation=segment&by=owner&metric=clients",
    "/segments?view=heatmap&segmentation=segment&by=region&metric=revenue",
    "/clients",
    "/clients?q=sp",
    "/clients?q=C00",
    "/clients?page=3",
    "/clients?sort=score&order=asc&page=2",
    "/clients?segment=strategic",
    "/api/clients?q=a",
    "/api/clients?page=2&sort=name",
    "/clients/C001",
    "/api/clients/C001/history",
    "/clients/C101",
    "/api/clients/C101/history",
    "/api/clients/C101",
    "/models",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with cheap_passwords():
        built = build_world(tmp_path_factory.mktemp("cache"))
        yield built
        built.workspace.close()


def _fresh(world: World) -> World:
    return World(world.workspace, create_app(world.workspace), world.snapshot_id, world.old_snapshot_id)


def _page(http, path: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    response = http.get(path)
    # The session's CSRF token is the one part of a page that differs between two sessions of the same user.
    return response.status_code, response.text.replace(csrf_of(http), "CSRF")


@pytest.mark.parametrize("order", [USERS, list(reversed(USERS))], ids=["widest-first", "narrowest-first"])
def test_cached_pages_never_cross_scopes(world: World, order: list[str]) -> None:
    shared = _fresh(world)
    sessions = {user: shared.login(user) for user in order}
    seen: dict[tuple[str, str], tuple[int, str]] = {}
    for path in PAGES:
        for user in order:  # every user's request fills the shared cache before the next user's
            seen[(user, path)] = _page(sessions[user], path)
    for user in order:
        alone = _fresh(world).login(user)  # an app whose cache only ever saw this user
        for path in PAGES:
            assert seen[(user, path)] == _page(alone, path), (user, path)
    # The scopes do see different things (the comparison above is not between equal pages).
    assert seen[("admin", "/team")] != seen[("anna", "/team")]
    assert seen[("anna", "/clients/C101")][0] == 404 and seen[("bartek", "/clients/C101")][0] == 200
    assert len(shared.app.state.snapshot_cache) > 0 and len(shared.app.state.client_cache) > 0


def test_every_cache_key_carries_the_snapshot_and_the_scope(world: World) -> None:
    shared = _fresh(world)
    for user in USERS:
        http = shared.login(user)
        for path in PAGES:
            http.get(path)
    scoped = 0
    caches: list[SnapshotCache] = [shared.app.state.snapshot_cache, shared.app.state.client_cache]
    assert all(len(cache) for cache in caches)
    for key in [key for cache in caches for key in list(cache._items)]:
        if isinstance(key, tuple) and len(key) == 4:
            snapshot_id, created_at, scope, _ = key
            assert isinstance(snapshot_id, int) and isinstance(created_at, dt.datetime)
            assert isinstance(scope, ClientScope)
            scoped += 1
        else:  # warehouse-wide reads (rep names), keyed by the warehouse's data version, not by a snapshot
            assert key[0] == "rep_names", key
    assert scoped >= 5 * 10


def test_figures_are_keyed_by_language_and_currency(world: World) -> None:
    catalogues = load_catalogues()
    cache = SnapshotCache()
    with world.workspace.sessions() as db:
        snapshot = db.get(Snapshot, world.snapshot_id)
        assert snapshot is not None
        scope = ClientScope("all")
        built: list[str] = []
        for code, currency in [("en", "PLN"), ("pl", "PLN"), ("en", "EUR"), ("en", "PLN")]:
            lang = Lang(code, catalogues[code], currency)
            rollups.figure(cache, snapshot, scope, lang, "x", lambda c=code, m=currency: built.append(c + m) or c + m)
        assert built == ["enPLN", "plPLN", "enEUR"]  # the fourth was served from the cache
        rollups.figure(cache, snapshot, ClientScope("owner", "R1"), lang, "x", lambda: built.append("R1") or "R1")
        assert built[-1] == "R1"


def test_client_page_sql_equals_the_ibis_reference(world: World) -> None:
    with world.workspace.sessions() as db:
        rows = list(db.scalars(select(SnapshotClient).where(SnapshotClient.snapshot_id == world.snapshot_id)))
    rows.append(SnapshotClient(client_id="NOPE"))
    compared = 0
    with world.workspace.warehouse(read_only=True) as warehouse:
        assert warehouse.backend == "duckdb"
        for as_of in (AS_OF, dt.date(2024, 12, 31), dt.date(2025, 3, 15)):
            for row in rows:
                reference = client_data.ClientWarehouseData(
                    client_data.monthly_history(warehouse, row, as_of),
                    client_data.open_opportunities(warehouse, row),
                    client_data.warehouse_assessments(warehouse, row),
                )
                assert client_data.read_client_data(warehouse, row, as_of) == reference, (row.client_id, as_of)
                compared += bool(
                    reference.opportunities or reference.assessments or any(m.revenue for m in reference.history)
                )
    assert compared >= 3  # clients with history, pipeline and assessments were among them


SEARCHES = ["a", "A", "sp.", "SP. Z", "c00", "k/2024", "ś", "Ś", "%", "_", "\\", "o.o.\x00", " ", "zzz", "1"]


def test_search_from_the_name_index_equals_like(world: World) -> None:
    cache = SnapshotCache()
    with world.workspace.sessions() as db:
        snapshot = db.get(Snapshot, world.snapshot_id)
        assert snapshot is not None
        for scope in [
            ClientScope("all"),
            ClientScope("team", "North"),
            ClientScope("owner", "R1"),
            ClientScope("none"),
        ]:
            for text in SEARCHES:
                for sort in ("revenue", "name"):
                    query = ClientQuery(q=text, sort=sort)
                    matching = rollups.search_matches(db, snapshot, scope, text, cache)
                    if "\x00" in text:
                        assert matching is None
                    reference = queries.list_clients(db, snapshot.id, scope, query, page_size=1000)
                    fast = rollups.list_clients(db, snapshot, scope, query, cache)
                    assert [r.client_id for r in fast.rows] == [r.client_id for r in reference.rows][
                        : queries.PAGE_SIZE
                    ]
                    assert fast.total == reference.total == queries.count_clients(db, snapshot.id, scope, query)
        # A search matching more than the limit falls back to LIKE (same answer).
        assert rollups.search_matches(db, snapshot, ClientScope("all"), "", cache) is None


def test_list_pages_read_from_the_end_equal_pages_from_the_start(world: World) -> None:
    with world.workspace.sessions.begin() as db:
        snap = Snapshot(label="ties and nulls", as_of=dt.date(2023, 6, 30), n_clients=23)
        db.add(snap)
        db.flush()
        for i in range(23):
            db.add(
                SnapshotClient(
                    snapshot_id=snap.id,
                    client_id=f"T{i:03d}",
                    name=f"Name {i % 4}",
                    owner_id="R1",
                    team="North",
                    revenue_ttm=None if i % 5 == 0 else float(100 * (i % 3)),
                    score=None if i % 4 == 1 else float(i % 6),
                    growth=None if i % 2 else 0.1 * (i % 3),
                    headroom=None,
                    expected_loss=float(i % 2),
                    risk_level=[None, "low", "medium", "high"][i % 4],
                    details={},
                )
            )
        snapshot_id = snap.id
    with world.workspace.sessions() as db:
        for scope in [ClientScope("all"), ClientScope("owner", "R1")]:
            for sort in queries.SORT_KEYS:
                for order in ("asc", "desc"):
                    query = ClientQuery(sort=sort, order=order)
                    everything = [r.client_id for r in queries.list_clients(db, snapshot_id, scope, query, 100).rows]
                    assert len(everything) == 23
                    for size in (1, 4, 5, 10):
                        pages = []
                        for page in range(1, 30 // size + 2):
                            found = queries.list_clients(
                                db, snapshot_id, scope, ClientQuery(sort=sort, order=order, page=page), size
                            )
                            pages.extend(r.client_id for r in found.rows)
                            assert found.total == 23
                        assert pages == everything, (sort, order, size)


def test_team_view_is_not_kept_while_the_warehouse_is_busy(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from salesfolio.warehouse import WarehouseError

    fresh = _fresh(world)
    http = fresh.login("admin")

    def busy(*args: object, **kwargs: object) -> None:
        raise WarehouseError("cannot open the warehouse: locked")

    monkeypatch.setattr(type(world.workspace), "warehouse", busy)
    first = http.get("/team").text
    monkeypatch.undo()
    second = http.get("/team").text
    assert first != second  # read again once the warehouse could be opened: names and hours now
    assert _page(http, "/team") == _page(_fresh(world).login("admin"), "/team")


def test_name_index_limit(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = SnapshotCache()
    with world.workspace.sessions() as db:
        snapshot = db.get(Snapshot, world.snapshot_id)
        assert snapshot is not None
        scope = ClientScope("all")
        every = rollups.search_matches(db, snapshot, scope, "0", cache)
        assert every is not None and len(every) > 2
        monkeypatch.setattr(rollups, "SEARCH_ID_LIMIT", 2)
        assert rollups.search_matches(db, snapshot, scope, "0", cache) is None
        query = ClientQuery(q="0")
        assert rollups.list_clients(db, snapshot, scope, query, SnapshotCache()).total == len(every)
