"""Every route of the app, enumerated from ``app.routes``: a rep never reads another rep's client through any of them.

The test walks the app's route table, so a route added later is checked without editing this file:

* a route with a ``client_id`` path parameter is called, with every method it has, for the other rep's client
  (answer: 404, exactly like a client that does not exist) and for the rep's own client (answer: not 404, so the
  check cannot pass by accident);
* every other GET route is called with a set of queries that would surface the other rep's client if the scope
  were missing (search by its name and ID, filter by its owner, segment, an older snapshot) and the body (CSV,
  XLSX, HTML, JSON, chart data) must not contain its ID or name, while the unfiltered call shows the rep's own;
* a route with another path parameter, or a state-changing route without ``client_id``, fails the test until
  this file says how to check it; every route that is not public must refuse an anonymous request.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest

from web_fixtures import World, csrf_of, module_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from module_world(tmp_path_factory)


PUBLIC = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("POST", "/language"),
    ("GET", "/openapi.json"),
    ("GET", "/api/docs"),
    ("GET", "/static/plotly.min.js"),
    ("GET", "/static/plotly.css"),
}
"""Routes that answer without a login (they carry no client data)."""

RESTRICTED: dict[tuple[str, str], tuple[str, ...]] = {
    ("GET", "/imports"): ("admin",),
    ("POST", "/imports"): ("admin",),
    ("GET", "/imports/{job_id}"): ("admin",),
    ("POST", "/imports/{job_id}/confirm"): ("admin",),
    ("POST", "/imports/{job_id}/discard"): ("admin",),
    ("GET", "/settings"): ("admin",),
    ("POST", "/settings"): ("admin",),
    ("POST", "/settings/preview"): ("admin",),
    ("GET", "/analyses"): ("admin", "board"),
    ("POST", "/analyses"): ("admin", "board"),
    ("GET", "/analyses/jobs/{job_id}"): ("admin", "board"),
}
"""Routes for some roles only (they read every client or none): every other role must get 403 (checked below)."""
SAMPLE_PARAMS = {"job_id": {"/imports": "0123456789abcdef", "/analyses": "1"}}

OWN = {"anna": ("C001", "Alfa Sp. z o.o."), "maria": ("C001", "Alfa Sp. z o.o.")}
FOREIGN = [("C101", "Beta Logistics"), ("C102", "Gamma Ltd")]
"""Rep R2's clients: neither anna (rep R1) nor maria (manager of team North) may see them."""

QUERIES = [
    "",
    "?q=Beta",
    "?q=C101",
    "?q=gamma",
    "?owner=R2",
    "?segment=maintain",
    "?industry=Transport",
    "?region=%C5%9Al%C4%85sk",
    "?risk=medium&abc=A",
    "?sort=name&order=desc",
    "?page=2",
    "?cell=owner%3DR2",  # the Segments page's selected cell (a query string in one parameter)
    "?view=heatmap&by=region&cell=region%3D%C5%9Al%C4%85sk%26segment%3Dmaintain",
    "?view=zones&cell=zone%3DB",
    "?zone=B",
]

BODIES = {
    "assessments": ({"period": "2025-04", "relationship": "3"}, {"period": "2025-04-01", "relationship": 3}),
}
"""Valid form and JSON bodies for POST routes by the last path segment."""


def routes(world: World) -> list[tuple[str, str, set[str]]]:
    """(method, path, path parameter names) of every route in ``app.routes``, included routers flattened."""
    try:  # FastAPI >= 0.16x keeps included routers lazily in app.routes; this walks them
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI: app.routes is already flat
        contexts: list[Any] = list(world.app.routes)
    else:
        contexts = list(iter_route_contexts(world.app.routes))
    out = []
    for route in contexts:
        methods = getattr(route, "methods", None)
        if not methods:  # mounts (static files)
            continue
        params = set(getattr(route, "param_convertors", {}))
        for method in sorted(set(methods) - {"HEAD"}):
            out.append((method, str(route.path), params))
    assert len(out) >= 15, out
    return out


def body_text(response) -> str:
    """The body as text; an XLSX is unzipped and its XML parts joined."""
    if response.content[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            return "\n".join(archive.read(n).decode("utf-8", "replace") for n in archive.namelist())
    return response.content.decode("utf-8", "replace")


def call(http, method: str, path: str, token: str):
    last = path.split("?")[0].rstrip("/").split("/")[-1]
    form, json_body = BODIES.get(last, ({}, {}))
    if method == "GET":
        return http.get(path)
    if path.startswith("/api/"):
        return http.request(method, path, json=json_body, headers={"X-CSRF-Token": token})
    return http.request(method, path, data={**form, "csrf_token": token})


def test_route_table_is_known(world: World) -> None:
    """Fails when a route has a path parameter other than client_id, or changes state without a client_id."""
    unknown = []
    for method, path, params in routes(world):
        if (method, path) in PUBLIC or path.startswith("/static/") or (method, path) in RESTRICTED:
            continue
        if params - {"client_id"}:
            unknown.append((method, path, "path parameters"))
        elif method != "GET" and "client_id" not in params:
            unknown.append((method, path, "state-changing route without client_id"))
    assert unknown == [], "extend tests/test_web_scope.py for these routes"


def test_every_non_public_route_needs_a_login(world: World) -> None:
    http = world.client()
    token = csrf_of(http)
    checked = 0
    for method, path, _params in routes(world):
        if (method, path) in PUBLIC or path == "/static":
            continue
        url = path.replace("{client_id}", "C001").replace("{client_id:path}", "C001")
        response = call(http, method, url, token)
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, path)
        else:
            assert response.status_code == 303 and response.headers["location"].startswith("/login"), (method, path)
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("username", ["anna", "maria"])
def test_client_routes_answer_404_outside_the_scope(world: World, username: str) -> None:
    http = world.login(username)
    token = csrf_of(http)
    own_id, _own_name = OWN[username]
    checked = []
    for method, path, params in routes(world):
        if "client_id" not in params:
            continue
        template = path.replace("{client_id:path}", "{client_id}")
        for snapshot in ("", f"?snapshot={world.snapshot_id}", f"?snapshot={world.old_snapshot_id}"):
            for foreign_id, foreign_name in FOREIGN:
                response = call(http, method, template.format(client_id=foreign_id) + snapshot, token)
                assert response.status_code == 404, (method, path, foreign_id, snapshot)
                assert foreign_name not in response.text
            own = call(http, method, template.format(client_id=own_id) + snapshot, token)
            assert own.status_code in (200, 201, 303), (method, path, own.status_code, own.text[:300])
        checked.append((method, path))
    assert len(checked) >= 5  # page, assessment form, API detail, API history, API assessment


@pytest.mark.parametrize("username", ["anna", "maria"])
def test_list_search_export_chart_routes_never_show_foreign_clients(world: World, username: str) -> None:
    http = world.login(username)
    own_id = OWN[username][0]
    checked = []
    for method, path, params in routes(world):
        if method != "GET" or params or (method, path) in PUBLIC or (method, path) in RESTRICTED:
            continue
        shows_clients = False
        for query in QUERIES:
            for snapshot in (
                "",
                f"&snapshot={world.old_snapshot_id}" if query else f"?snapshot={world.old_snapshot_id}",
            ):
                response = http.get(path + query + snapshot)
                assert response.status_code in (200, 404), (path, query, response.status_code)
                text = body_text(response)
                typed = unquote(query).casefold()  # what the user typed is echoed in the search box
                for foreign in (token for pair in FOREIGN for token in pair):
                    if foreign.casefold() not in typed:
                        assert foreign not in text, (path, query, snapshot, foreign)
                shows_clients = shows_clients or own_id in text
        checked.append((path, shows_clients))
    paths = dict(checked)
    # the routes that list clients do show the user's own clients (the check is not vacuous)
    for listing in ("/", "/clients", "/exports/clients.csv", "/exports/clients.xlsx", "/api/clients"):
        assert paths.get(listing) is True, listing


def test_board_sees_the_foreign_clients_through_the_same_routes(world: World) -> None:
    """The control group: the same requests as the board do return rep R2's clients."""
    http = world.login("board")
    for path in ("/", "/clients?q=Beta", "/exports/clients.csv?owner=R2", "/api/clients?q=C101", "/clients/C101"):
        assert "C101" in body_text(http.get(path)), path
    assert "Beta Logistics" in body_text(http.get("/exports/clients.xlsx?owner=R2"))


def test_rep_cannot_assess_a_foreign_client(world: World) -> None:
    http = world.login("bartek")
    token = csrf_of(http)
    form = http.post("/clients/C001/assessments", data={"period": "2025-04", "relationship": "5", "csrf_token": token})
    api = http.post(
        "/api/clients/C001/assessments",
        json={"period": "2025-04-01", "relationship": 5},
        headers={"X-CSRF-Token": token},
    )
    assert form.status_code == 404 and api.status_code == 404
    from sqlalchemy import select

    from salesfolio.store.models import Assessment

    with world.workspace.sessions() as db:
        assert db.scalars(select(Assessment).where(Assessment.entered_by == "bartek")).all() == []


def test_user_without_rep_id_or_team_sees_nothing(world: World) -> None:
    from salesfolio.store.models import User
    from salesfolio.web.queries import ClientQuery, ClientScope, list_clients, portfolio_kpis, scope_for

    assert scope_for(User(role="rep", rep_id=None)) == ClientScope("none")
    assert scope_for(User(role="manager", team="")) == ClientScope("none")
    assert scope_for(User(role="viewer")) == ClientScope("none")
    with world.workspace.sessions() as db:
        assert list_clients(db, world.snapshot_id, ClientScope("none"), ClientQuery()).total == 0
        assert portfolio_kpis(db, world.snapshot_id, ClientScope("none")).clients == 0
        assert list_clients(db, world.snapshot_id, ClientScope("all"), ClientQuery()).total == 7


def _fill(path: str) -> str:
    for name, by_prefix in SAMPLE_PARAMS.items():
        for prefix, value in by_prefix.items():
            if path.startswith(prefix):
                path = path.replace("{" + name + "}", value)
    return path


@pytest.mark.parametrize("username", ["admin", "board", "maria", "anna"])
def test_restricted_routes_refuse_other_roles(world: World, username: str) -> None:
    """Each route of RESTRICTED answers 403 to the roles it does not name, and not 403 to those it does."""
    known = {(method, path) for method, path, _params in routes(world)}
    assert set(RESTRICTED) <= known, set(RESTRICTED) - known
    http = world.login(username)
    token = csrf_of(http)
    role = {"admin": "admin", "board": "board", "maria": "manager", "anna": "rep"}[username]
    for (method, path), roles in RESTRICTED.items():
        response = call(http, method, _fill(path), token)
        if role in roles:
            assert response.status_code != 403, (username, method, path)
            assert response.status_code < 500, (username, method, path, response.status_code)
        else:
            assert response.status_code == 403, (username, method, path, response.status_code)
