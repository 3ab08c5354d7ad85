"""Request dependencies: the database session, the current user, role guards, the client scope, the snapshot.

Every route declares what it needs with these ``Annotated`` aliases, so authorisation lives in one place:

* :data:`CurrentUser`: the logged-in, active user (else :class:`LoginRequired`: pages redirect to the login
  form, the API answers 401).
* :func:`require_role`: a dependency factory; ``Annotated[User, Depends(require_role("admin"))]`` answers 403
  to other roles. :data:`AnyUser`, :data:`Assessor` are the common ones.
* :data:`Scope`: the :class:`~salesfolio.web.queries.ClientScope` of the current user; every query over clients
  takes it.
* :data:`SnapshotDep`: ``?snapshot=ID`` or the newest snapshot (None before the first analysis); an unknown ID
  answers 404.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Query, Request
from sqlalchemy.orm import Session

from salesfolio.store.models import ROLES, Snapshot, User
from salesfolio.warehouse import Warehouse, WarehouseError
from salesfolio.web import queries
from salesfolio.web.i18n import DEFAULT_LANGUAGE, LANGUAGES, Lang
from salesfolio.web.rollups import SnapshotCache
from salesfolio.workspace import Workspace

SESSION_USER_KEY = "uid"
SESSION_LANG_KEY = "lang"


class LoginRequired(Exception):
    """No valid session: pages redirect to ``/login?next=...``, the API answers 401."""


def get_workspace(request: Request) -> Workspace:
    """The workspace the app was built for."""
    workspace: Workspace = request.app.state.workspace
    return workspace


def get_db(request: Request) -> Iterator[Session]:
    """One app-store session per request, closed afterwards (writes commit explicitly in their service)."""
    with get_workspace(request).sessions() as session:
        yield session


DbSession = Annotated[Session, Depends(get_db)]


def get_current_user(request: Request, db: DbSession) -> User:
    """The active user whose ID the signed session cookie carries; :class:`LoginRequired` otherwise."""
    uid = request.session.get(SESSION_USER_KEY)
    user = db.get(User, uid) if isinstance(uid, int) else None
    if user is None or not user.active:
        request.session.pop(SESSION_USER_KEY, None)
        raise LoginRequired
    request.state.user = user
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def session_user(request: Request) -> User | None:
    """The logged-in user for pages rendered outside a route's dependencies (error pages), else None."""
    user = getattr(request.state, "user", None)
    if isinstance(user, User):
        return user
    uid = request.session.get(SESSION_USER_KEY) if "session" in request.scope else None
    if not isinstance(uid, int):
        return None
    with get_workspace(request).sessions() as db:
        found = db.get(User, uid)
    if found is None or not found.active:
        return None
    request.state.user = found
    return found


def require_role(*roles: str) -> Callable[[User], User]:
    """A dependency that passes users with one of ``roles`` and answers 403 to the others."""
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ValueError(f"require_role needs roles among {', '.join(ROLES)}, got {roles!r}")
    allowed = frozenset(roles)

    def guard(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise HTTPException(status_code=403, detail="Your role does not allow this")
        return user

    guard.__name__ = f"require_role_{'_'.join(roles)}"
    return guard


AnyUser = Annotated[User, Depends(require_role(*ROLES))]
"""Any logged-in user (every role); what they see is limited by :data:`Scope`."""
Assessor = Annotated[User, Depends(require_role("admin", "manager", "rep"))]
"""Users who may enter assessments (the board reads only)."""


def get_scope(user: CurrentUser) -> queries.ClientScope:
    """The client scope of the current user (see :func:`salesfolio.web.queries.scope_for`)."""
    return queries.scope_for(user)


Scope = Annotated[queries.ClientScope, Depends(get_scope)]


def get_snapshot(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    snapshot: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="Snapshot ID; the newest when omitted.")
    ] = None,
) -> Snapshot | None:
    """``?snapshot=ID`` (404 when unknown) or the newest snapshot; None when there is none yet."""
    found = queries.latest_snapshot(db) if snapshot is None else queries.snapshot_by_id(db, snapshot)
    if found is None and snapshot is not None:
        raise HTTPException(status_code=404, detail="No such snapshot")
    request.state.snapshot = found
    return found


SnapshotDep = Annotated[Snapshot | None, Depends(get_snapshot)]


def get_snapshot_cache(request: Request) -> SnapshotCache:
    """The app's cache of results computed from a snapshot's rows (valid while the snapshot exists)."""
    cache: SnapshotCache = request.app.state.snapshot_cache
    return cache


CacheDep = Annotated[SnapshotCache, Depends(get_snapshot_cache)]


def get_client_cache(request: Request) -> SnapshotCache:
    """The app's cache of what one client's page reads: its warehouse data and figures.

    Apart from :func:`get_snapshot_cache`, so that browsing many clients does not push the pages' aggregates out.
    """
    cache: SnapshotCache = request.app.state.client_cache
    return cache


def language_of(request: Request) -> str:
    """The language of this request: the user's, else the one chosen before login, else the workspace's."""
    user = getattr(request.state, "user", None)
    if isinstance(user, User) and user.language in LANGUAGES:
        return user.language
    chosen = request.session.get(SESSION_LANG_KEY) if "session" in request.scope else None
    if isinstance(chosen, str) and chosen in LANGUAGES:
        return chosen
    default = get_workspace(request).config.workspace.language
    return default if default in LANGUAGES else DEFAULT_LANGUAGE


def get_lang(request: Request) -> Lang:
    """The :class:`~salesfolio.web.i18n.Lang` of this request."""
    code = language_of(request)
    return Lang(code, request.app.state.translations[code], get_workspace(request).config.workspace.currency)


LangDep = Annotated[Lang, Depends(get_lang)]


@contextlib.contextmanager
def open_warehouse(workspace: Workspace) -> Iterator[Warehouse | None]:
    """The warehouse opened read-only for one request, or None when it cannot be opened now.

    A DuckDB file is locked while an import writes to it; the pages then show what the app store holds and say
    that the warehouse is busy instead of failing.
    """
    try:
        warehouse = workspace.warehouse(read_only=True)
    except WarehouseError:
        yield None
        return
    try:
        yield warehouse
    finally:
        warehouse.close()


SORT_PATTERN = "^(" + "|".join(queries.SORT_KEYS) + ")$"


def get_client_query(
    q: Annotated[str, Query(max_length=200, description="Search in client name and ID (substring).")] = "",
    segment: Annotated[str, Query(max_length=100, description="Value x potential segment.")] = "",
    owner: Annotated[str, Query(max_length=100, description="Owner (rep ID).")] = "",
    industry: Annotated[str, Query(max_length=100)] = "",
    region: Annotated[str, Query(max_length=100)] = "",
    risk: Annotated[str, Query(max_length=10, description="Risk level: high, medium or low.")] = "",
    abc: Annotated[str, Query(max_length=1, description="ABC class on revenue: A, B or C.")] = "",
    sort: Annotated[str, Query(pattern=SORT_PATTERN, description="Column to sort by.")] = "revenue",
    order: Annotated[Literal["asc", "desc"], Query(description="Sort direction.")] = "desc",
    page: Annotated[int, Query(ge=1, le=1_000_000, description="Page number, from 1.")] = 1,
) -> queries.ClientQuery:
    """Search, filters, sort and page of the client list from the query string (pages, exports and API)."""
    filters = {
        "segment": segment,
        "owner": owner,
        "industry": industry,
        "region": region,
        "risk": risk,
        "abc": abc,
    }
    return queries.ClientQuery(
        q=q.strip(), filters={k: v for k, v in filters.items() if v}, sort=sort, order=order, page=page
    )


ClientQueryDep = Annotated[queries.ClientQuery, Depends(get_client_query)]
