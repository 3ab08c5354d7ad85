"""The JSON API under ``/api``: the same data, scope and role rules as the pages, through the same dependencies.

Authentication is the session cookie of the web app (log in through ``/login``); a POST also needs the session's
CSRF token in the ``X-CSRF-Token`` header (``GET /api/me`` returns it). OpenAPI: ``/openapi.json``, browsable at
``/api/docs`` (Swagger UI served by the app itself).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from salesfolio.store.models import Snapshot
from salesfolio.web import queries, rollups
from salesfolio.web.assessments import AssessmentValues, check_values, save_assessment
from salesfolio.web.client_data import client_data
from salesfolio.web.deps import (
    AnyUser,
    Assessor,
    CacheDep,
    ClientQueryDep,
    DbSession,
    Scope,
    SnapshotDep,
    get_client_cache,
    get_workspace,
    open_warehouse,
)
from salesfolio.web.schemas import (
    AssessmentIn,
    AssessmentPublic,
    ClientDetail,
    ClientHistory,
    ClientList,
    ClientSummary,
    ErrorOut,
    MonthPoint,
    OpportunityPublic,
    ScorePoint,
    SnapshotPublic,
    UserPublic,
    client_detail,
)
from salesfolio.web.security import csrf_token
from salesfolio.web.templating import NavItem, render

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The request body could not be parsed."},
    401: {"model": ErrorOut, "description": "Not logged in."},
    403: {"model": ErrorOut, "description": "The role does not allow this, or the CSRF token is missing."},
    404: {"model": ErrorOut, "description": "No such client or snapshot in the user's scope."},
}

router = APIRouter(prefix="/api", tags=["api"], responses=ERRORS)
NAV: list[NavItem] = []


class Me(BaseModel):
    """The logged-in user, and the CSRF token the API's POST requests must send (``X-CSRF-Token``)."""

    user: UserPublic
    csrf_token: str


@router.get("/docs", include_in_schema=False, name="api_docs")
def api_docs(request: Request) -> HTMLResponse:
    """Swagger UI for ``/openapi.json`` (assets served by the app)."""
    return render(request, "api_docs.html", {"openapi_url": request.app.openapi_url})


@router.get("/me", response_model=Me, name="api_me")
def me(request: Request, user: AnyUser) -> Me:
    """The logged-in user and the session's CSRF token."""
    return Me(user=UserPublic.of(user), csrf_token=csrf_token(request))


@router.get("/snapshots", response_model=list[SnapshotPublic], name="api_snapshots")
def snapshots(db: DbSession, user: AnyUser) -> list[SnapshotPublic]:
    """Every analysis snapshot, newest first."""
    return [SnapshotPublic.of(s) for s in queries.list_snapshots(db)]


@router.get("/clients", response_model=ClientList, name="api_clients")
def clients(
    db: DbSession, user: AnyUser, scope: Scope, snapshot: SnapshotDep, query: ClientQueryDep, cache: CacheDep
) -> ClientList:
    """The client list of the snapshot (default: newest), in the user's scope, with the page's filters."""
    if snapshot is None:
        return ClientList(snapshot_id=None, total=0, page=query.page, page_size=queries.PAGE_SIZE, pages=1, items=[])
    total = rollups.count_clients(db, snapshot, scope, query, cache)
    page = rollups.list_clients(db, snapshot, scope, query, cache, total)
    return ClientList(
        snapshot_id=snapshot.id,
        total=page.total,
        page=page.page,
        page_size=page.page_size,
        pages=page.pages,
        items=[ClientSummary.of(r) for r in page.rows],
    )


def _scoped_client(db: DbSession, scope: queries.ClientScope, snapshot: Snapshot | None, client_id: str) -> Any:
    client = queries.get_client(db, snapshot.id, scope, client_id) if snapshot is not None else None
    if client is None or snapshot is None:
        raise HTTPException(status_code=404, detail="No such client")
    return client


@router.get("/clients/{client_id:path}/history", response_model=ClientHistory, name="api_client_history")
def client_history(
    request: Request, client_id: str, db: DbSession, user: AnyUser, scope: Scope, snapshot: SnapshotDep
) -> ClientHistory:
    """Monthly revenue and margin (24 months to the snapshot date), open pipeline, assessments, scores."""
    client = _scoped_client(db, scope, snapshot, client_id)
    assert snapshot is not None  # noqa: S101  (_scoped_client raised otherwise)
    months: list[MonthPoint] = []
    opportunities: list[OpportunityPublic] = []
    assessments = [AssessmentPublic.of(a) for a in queries.app_assessments(db, client)]
    found = client_data(
        db, snapshot, scope, client, get_client_cache(request), lambda: open_warehouse(get_workspace(request))
    )
    if found is not None:
        months = [MonthPoint(month=m.month, revenue=m.revenue, margin=m.margin) for m in found.history]
        opportunities = [
            OpportunityPublic(**{k: o.get(k) for k in OpportunityPublic.model_fields}) for o in found.opportunities
        ]
        assessments += [AssessmentPublic.imported(r) for r in found.assessments]
    scores = [
        ScorePoint(
            snapshot_id=row.snapshot_id,
            as_of=row.snapshot.as_of,
            score=row.score,
            segment=row.segment,
            risk_level=row.risk_level,
        )
        for row in queries.client_snapshots(db, scope, client)
    ]
    return ClientHistory(
        client_id=client.client_id,
        snapshot_id=snapshot.id,
        as_of=snapshot.as_of,
        warehouse_available=found is not None,
        months=months,
        opportunities=opportunities,
        assessments=sorted(assessments, key=lambda a: a.period, reverse=True),
        scores=scores,
    )


@router.get("/clients/{client_id:path}", response_model=ClientDetail, name="api_client")
def client(client_id: str, db: DbSession, user: AnyUser, scope: Scope, snapshot: SnapshotDep) -> ClientDetail:
    """One client in the snapshot with features, score breakdown, signals, whitespace, forecast and churn."""
    return client_detail(_scoped_client(db, scope, snapshot, client_id))


class ValidationProblem(BaseModel):
    """One problem with the submitted values."""

    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorOut(BaseModel):
    """The submitted values broke a rule; one entry per problem."""

    detail: list[ValidationProblem]


@router.post(
    "/clients/{client_id:path}/assessments",
    response_model=AssessmentPublic,
    status_code=201,
    name="api_client_assess",
    responses={
        422: {
            "model": ValidationErrorOut,
            "description": "A value is missing, of the wrong type or out of range.",
        }
    },
)
def assess(
    client_id: str, body: AssessmentIn, db: DbSession, user: Assessor, scope: Scope, snapshot: SnapshotDep
) -> AssessmentPublic:
    """Save the client's assessment for a month (replacing an earlier one for the same month); audited."""
    client = _scoped_client(db, scope, snapshot, client_id)
    values = AssessmentValues(body.period, body.potential, body.relationship, body.strategic_fit, body.note.strip())
    problems = check_values(values, dt.date.today())
    if problems:
        detail = [
            {
                "loc": ["body"] if p.field == "__all__" else ["body", p.field],
                "msg": p.text(),
                "type": "value_error",
            }
            for p in problems
        ]
        raise HTTPException(status_code=422, detail=detail)
    return AssessmentPublic.of(save_assessment(db, client, values, user))
