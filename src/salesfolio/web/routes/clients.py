"""The client list (search, filters, sort, pages, exports) and the client page (with the assessment form).

The list is one page whose table is swapped by HTMX: a request with the ``HX-Request`` header gets only
``_clients_table.html``, and the browser's address follows (``hx-push-url``), so every state of the list has a
link. Exports take the same query string. Every read goes through the user's scope; a client outside it is
answered exactly like a client that does not exist (404).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from markupsafe import Markup, escape
from starlette.responses import RedirectResponse, Response

from salesfolio.store.models import ROLES, Snapshot, SnapshotClient, User
from salesfolio.web import charts, exports, labels, queries, rollups
from salesfolio.web.assessments import Problem, parse_form, save_assessment
from salesfolio.web.client_data import client_data
from salesfolio.web.deps import (
    AnyUser,
    Assessor,
    CacheDep,
    ClientQueryDep,
    DbSession,
    LangDep,
    Scope,
    SnapshotDep,
    get_client_cache,
    get_workspace,
    open_warehouse,
)
from salesfolio.web.i18n import N_, Lang
from salesfolio.web.rollups import SnapshotCache
from salesfolio.web.routes.models import churn_model_shown, client_churn, client_forecast
from salesfolio.web.schemas import AssessmentPublic, client_detail
from salesfolio.web.templating import NavItem, path_for, render

router = APIRouter(include_in_schema=False)
NAV = [NavItem("clients", N_("Clients"), ROLES, "users")]
FLASH_KEY = "flash"

LIST_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("name", N_("Client"), "text"),
    ("owner", N_("Owner"), "text"),
    ("segment", N_("Segment"), "text"),
    ("abc", N_("ABC"), "text"),
    ("score", N_("Score"), "number"),
    ("revenue", N_("Revenue TTM"), "number"),
    ("margin", N_("Margin TTM"), "number"),
    ("growth", N_("Growth"), "number"),
    ("headroom", N_("Headroom"), "number"),
    ("risk", N_("Risk"), "number"),
    ("expected_loss", N_("Revenue at risk"), "number"),
    ("churn_probability", N_("Churn probability"), "number"),
    ("p_alive", N_("P(alive)"), "number"),
    ("expected_revenue", N_("Expected revenue"), "number"),
)
"""(sort key, header, kind) of the list's columns; text columns sort A-Z first, numbers largest first."""


def _require_snapshot(snapshot: Snapshot | None) -> Snapshot:
    if snapshot is None:
        raise HTTPException(status_code=404, detail="No analysis snapshot yet")
    return snapshot


def _query_params(query: queries.ClientQuery, **changes: Any) -> dict[str, Any]:
    """The list's query string with ``changes`` applied; defaults (first page, largest revenue first) left out."""
    params: dict[str, Any] = {"q": query.q, **query.filters, "sort": query.sort, "order": query.order}
    params["page"] = query.page
    params.update(changes)
    if params.get("sort") == "revenue" and params.get("order") == "desc":
        del params["sort"], params["order"]
    if params.get("page") == 1:
        del params["page"]
    return {k: v for k, v in params.items() if v not in (None, "")}


@router.get("/clients", name="clients")
def client_list(
    request: Request,
    db: DbSession,
    user: AnyUser,
    scope: Scope,
    snapshot: SnapshotDep,
    query: ClientQueryDep,
    cache: CacheDep,
    lang: LangDep,
) -> Response:
    """The client list page, or just its table for an HTMX request."""
    partial = (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-Target") == "clients-table"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )
    headers = {"Vary": "HX-Request, HX-Target"}
    if snapshot is None:
        return render(request, "clients.html", {"empty": True}, headers=headers)
    total = rollups.count_clients(db, snapshot, scope, query, cache)
    pages = max(1, math.ceil(total / queries.PAGE_SIZE))
    if total and query.page > pages:  # past the end (an old link): the last page
        query = dataclasses.replace(query, page=pages)
    page = rollups.list_clients(db, snapshot, scope, query, cache, total)
    context = {
        "empty": False,
        "page": page,
        "query": query,
        # The churn probability is empty unless the backtest recommended the model: no empty column then.
        "columns": [c for c in LIST_COLUMNS if c[0] != "churn_probability" or churn_model_shown(snapshot)],
        "show_churn": churn_model_shown(snapshot),
        "params": lambda **changes: _query_params(query, **changes),
        "option_tags": _option_tags(_filter_options(request, db, snapshot, scope), snapshot, scope, lang, cache),
    }
    if partial:
        # The address bar gets the canonical address of this state (defaults left out), not the raw form fields.
        chosen = {"snapshot": request.query_params["snapshot"]} if "snapshot" in request.query_params else {}
        headers["HX-Push-Url"] = path_for(request, "clients", {**chosen, **_query_params(query)})
    template = "_clients_table.html" if partial else "clients.html"
    return render(request, template, context, headers=headers)


def _filter_options(
    request: Request, db: DbSession, snapshot: Snapshot, scope: queries.ClientScope
) -> dict[str, list[str]]:
    """The filter drop-downs' values, cached per snapshot and scope (a snapshot's rows do not change)."""
    cache: queries.FilterOptionsCache = request.app.state.filter_options
    key = (snapshot.id, snapshot.created_at, scope)
    found = cache.get(key)
    if found is None:
        found = queries.filter_options(db, snapshot.id, scope)
        cache.put(key, found)
    return found


def _option_tags(
    options: dict[str, list[str]],
    snapshot: Snapshot,
    scope: queries.ClientScope,
    lang: Lang,
    cache: SnapshotCache,
) -> Callable[[str, str | None], Markup]:
    """``option_tags(key, selected)``: the ``<option>`` elements of a filter drop-down, ``selected`` marked.

    The escaped elements are built once per snapshot, scope and language (an admin's owner filter lists every
    rep: thousands of options on every list page); a request only marks its selected value.
    """

    def label(key: str, value: str) -> str:
        if key == "segment":
            return labels.segment_label(lang, value)
        if key == "risk":
            return labels.risk_label(lang, value)
        return value

    def build() -> dict[str, list[tuple[str, str, str]]]:
        return {
            key: [
                (value, f'<option value="{escape(value)}"', f">{escape(label(key, value))}</option>")
                for value in values
            ]
            for key, values in options.items()
        }

    tags = rollups.cached(cache, snapshot, scope, ("filter_option_tags", rollups.lang_key(lang)), build)

    def option_tags(key: str, selected: str | None) -> Markup:
        # Every value and label was escaped above (markupsafe.escape, as Jinja2's autoescape does).
        return Markup(  # noqa: S704
            "\n".join(
                head + (" selected" if value == selected else "") + tail for value, head, tail in tags.get(key, [])
            )
        )

    return option_tags


def _export_rows(db: DbSession, snapshot: Snapshot, scope: queries.ClientScope, query: queries.ClientQuery) -> Any:
    return queries.iter_clients(db, snapshot.id, scope, query, [c.name for c in exports.EXPORT_COLUMNS])


def _filename(snapshot: Snapshot, extension: str) -> str:
    return f"clients-{snapshot.as_of.isoformat()}-s{snapshot.id}.{extension}"


@router.get("/exports/clients.csv", name="export_clients_csv")
def export_csv(db: DbSession, user: AnyUser, scope: Scope, snapshot: SnapshotDep, query: ClientQueryDep) -> Response:
    """The filtered list (every page) in the user's scope as CSV."""
    found = _require_snapshot(snapshot)
    body = exports.clients_csv(_export_rows(db, found, scope, query))
    disposition = f'attachment; filename="{_filename(found, "csv")}"'
    return Response(body, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": disposition})


@router.get("/exports/clients.xlsx", name="export_clients_xlsx")
def export_xlsx(
    db: DbSession, user: AnyUser, scope: Scope, snapshot: SnapshotDep, query: ClientQueryDep, lang: LangDep
) -> Response:
    """The filtered list (every page) in the user's scope as a formatted XLSX workbook."""
    found = _require_snapshot(snapshot)
    about = [
        (lang.gettext("Snapshot"), f"{found.label} ({found.as_of.isoformat()})"),
        (lang.gettext("Exported by"), user.username),
        (lang.gettext("Search"), query.q),
        *((lang.gettext(_filter_label(key)), value) for key, value in query.filters.items()),
    ]
    body = exports.clients_xlsx(_export_rows(db, found, scope, query), lang, about, dt.datetime.now(dt.UTC))
    disposition = f'attachment; filename="{_filename(found, "xlsx")}"'
    media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(body, media_type=media, headers={"Content-Disposition": disposition})


FILTER_LABELS = {
    "segment": N_("Segment"),
    "owner": N_("Owner"),
    "industry": N_("Industry"),
    "region": N_("Region"),
    "risk": N_("Risk"),
    "abc": N_("ABC"),
}


def _filter_label(key: str) -> str:
    return FILTER_LABELS.get(key, key)


# -- client page ------------------------------------------------------------------------------------------------
def _client_page(
    request: Request,
    db: DbSession,
    user: User,
    lang: Lang,
    scope: queries.ClientScope,
    snapshot: Snapshot,
    client: SnapshotClient,
    *,
    form: dict[str, str] | None = None,
    problems: list[Problem] | None = None,
    status_code: int = 200,
) -> Response:
    detail = client_detail(client)
    cache = get_client_cache(request)
    found = client_data(db, snapshot, scope, client, cache, lambda: open_warehouse(get_workspace(request)))
    warehouse_ok = found is not None
    history = found.history if found is not None else []
    opportunities = found.opportunities if found is not None else []
    imported = [AssessmentPublic.imported(r) for r in found.assessments] if found is not None else []
    entered = [AssessmentPublic.of(a) for a in queries.app_assessments(db, client)]
    assessments = sorted(entered + imported, key=lambda a: (a.period, a.source == "app"), reverse=True)
    features = [
        (labels.feature_label(lang, key), labels.format_feature(lang, key, detail.features.get(key)))
        for key in labels.FEATURE_LABELS
        if key in detail.features
    ]
    problem_list = problems or []
    field_errors = {p.field: p.text(lang) for p in problem_list if p.field != "__all__"}
    general_errors = [p.text(lang) for p in problem_list if p.field == "__all__"]
    today = dt.date.today()
    context = {
        "client": client,
        "detail": detail,
        "features": features,
        "contributions_figure": rollups.figure(
            cache,
            snapshot,
            scope,
            lang,
            ("contributions", client.client_id),
            lambda: charts.contributions_chart(detail.contributions, lang),
        )
        if detail.contributions
        else None,
        "history": history,
        "history_figure": rollups.figure(
            cache,
            snapshot,
            scope,
            lang,
            ("client_history", client.client_id, rollups.warehouse_version(db)),
            lambda: charts.history_chart(history, lang),
        )
        if warehouse_ok and any(m.revenue for m in history)
        else None,
        "warehouse_ok": warehouse_ok,
        "opportunities": opportunities,
        "assessments": assessments,
        "scores": queries.client_snapshots(db, scope, client),
        "can_assess": user.role in ("admin", "manager", "rep"),
        "form": form or {"period": f"{today:%Y-%m}"},
        "field_errors": field_errors,
        "general_errors": general_errors,
        "flash": request.session.pop(FLASH_KEY, None),
        "labels": labels,
        "forecast": client_forecast(snapshot, client, detail),
        "churn": client_churn(snapshot, client, detail),
    }
    return render(request, "client.html", context, status_code=status_code)


@router.post("/clients/{client_id:path}/assessments", name="client_assess")
def client_assess(
    request: Request,
    client_id: str,
    db: DbSession,
    user: Assessor,
    scope: Scope,
    snapshot: SnapshotDep,
    lang: LangDep,
    period: Annotated[str, Form(max_length=20)] = "",
    potential: Annotated[str, Form(max_length=40)] = "",
    relationship: Annotated[str, Form(max_length=10)] = "",
    strategic_fit: Annotated[str, Form(max_length=10)] = "",
    note: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    """Save an assessment from the form; on errors show the page again with the messages next to the fields."""
    found = _require_snapshot(snapshot)
    client = queries.get_client(db, found.id, scope, client_id)
    if client is None:
        raise HTTPException(status_code=404, detail="No such client")
    form = {
        "period": period,
        "potential": potential,
        "relationship": relationship,
        "strategic_fit": strategic_fit,
        "note": note,
    }
    values, problems = parse_form(form, lang, dt.date.today())
    if values is None:
        return _client_page(
            request, db, user, lang, scope, found, client, form=form, problems=problems, status_code=400
        )
    save_assessment(db, client, values, user)
    request.session[FLASH_KEY] = lang.gettext("Assessment for %(month)s saved.") % {"month": lang.month(values.period)}
    query = {"snapshot": found.id} if request.query_params.get("snapshot") else None
    target = path_for(request, "client", query, client_id=client.client_id)
    return RedirectResponse(target + "#assessments", status_code=303)


@router.get("/clients/{client_id:path}", name="client")
def client_page(
    request: Request,
    client_id: str,
    db: DbSession,
    user: AnyUser,
    scope: Scope,
    snapshot: SnapshotDep,
    lang: LangDep,
) -> Response:
    """The client page: facts, score breakdown, history, signals, whitespace, pipeline and assessments."""
    found = _require_snapshot(snapshot)
    client = queries.get_client(db, found.id, scope, client_id)
    if client is None:
        raise HTTPException(status_code=404, detail="No such client")
    return _client_page(request, db, user, lang, scope, found, client)
