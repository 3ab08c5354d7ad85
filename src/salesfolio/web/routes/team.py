"""The Team page: what each rep holds (clients, segment mix, revenue, margin, potential, risk) and the effort.

One row per rep in the user's scope: board and admin see every rep, a manager the reps of the team, a rep only
themself (:func:`salesfolio.web.groups.rep_in_scope`). The holdings are SQL aggregates of the scoped snapshot
rows grouped by owner (:func:`salesfolio.web.groups.group_totals`); names, teams and capacity come from the
warehouse's reps table, and hours from its activities in the 12 months up to the snapshot date
(:func:`salesfolio.web.groups.hours_by_rep`). Capacity is entered per quarter, so a year holds four times it.
Clients without an owner form their own row (visible to board and admin only, since no team holds them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from salesfolio.analytics.segments import UNKNOWN
from salesfolio.store.models import ROLES, Snapshot
from salesfolio.web import charts, groups, queries, rollups
from salesfolio.web.deps import (
    AnyUser,
    CacheDep,
    DbSession,
    LangDep,
    Scope,
    SnapshotDep,
    get_workspace,
    open_warehouse,
)
from salesfolio.web.i18n import N_, Lang
from salesfolio.web.rollups import SnapshotCache
from salesfolio.web.templating import NavItem, render

router = APIRouter(include_in_schema=False)
NAV = [NavItem("team", N_("Team"), ROLES, "briefcase")]

QUARTERS_PER_YEAR = 4
CHART_REPS = 40
"""The charts show the first this many reps of the table (in the table's order, across its pages)."""
TEAM_PAGE_SIZE = 100
"""Reps per page of the table (the total row and the charts cover every rep in scope)."""


@dataclass(frozen=True)
class RepRow:
    """One rep's portfolio and effort (``rep_id`` None: the clients without an owner)."""

    rep_id: str | None
    name: str
    team: str | None
    clients: int
    revenue_ttm: float | None
    margin_ttm: float | None
    potential: float | None
    headroom: float | None
    expected_loss: float | None
    high_risk: int
    mix: dict[str | None, int]
    hours: float | None
    capacity_hours: float | None
    """Selling hours a year (four times the quarterly capacity of the reps table)."""

    @property
    def utilisation(self) -> float | None:
        """Hours spent on the capacity of the year."""
        if self.hours is None or not self.capacity_hours:
            return None
        return self.hours / self.capacity_hours

    @property
    def revenue_per_hour(self) -> float | None:
        """Revenue TTM held per hour spent."""
        if self.revenue_ttm is None or not self.hours:
            return None
        return self.revenue_ttm / self.hours

    @property
    def margin_pct(self) -> float | None:
        """Margin held as a share of revenue held."""
        if self.margin_ttm is None or not self.revenue_ttm or self.revenue_ttm <= 0:
            return None
        return self.margin_ttm / self.revenue_ttm


COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("name", N_("Rep"), "text"),
    ("clients", N_("Clients"), "number"),
    ("revenue", N_("Revenue TTM"), "number"),
    ("margin", N_("Margin TTM"), "number"),
    ("headroom", N_("Headroom"), "number"),
    ("expected_loss", N_("Revenue at risk"), "number"),
    ("hours", N_("Hours (12 months)"), "number"),
    ("revenue_per_hour", N_("Revenue per hour"), "number"),
)
"""(sort key, header, kind) of the table's columns; text sorts A-Z first, numbers largest first. Under the
figures: margin %, potential, high-risk clients, capacity and its use (sortable by ``potential``, ``high_risk``
and ``utilisation`` through the address)."""
SORT_VALUES: dict[str, Any] = {
    "name": lambda r: r.name.casefold(),
    "clients": lambda r: r.clients,
    "revenue": lambda r: r.revenue_ttm,
    "margin": lambda r: r.margin_ttm,
    "potential": lambda r: r.potential,
    "headroom": lambda r: r.headroom,
    "expected_loss": lambda r: r.expected_loss,
    "high_risk": lambda r: r.high_risk,
    "hours": lambda r: r.hours,
    "utilisation": lambda r: r.utilisation,
    "revenue_per_hour": lambda r: r.revenue_per_hour,
}
SORT_PATTERN = "^(" + "|".join(SORT_VALUES) + ")$"


def sort_rows(rows: list[RepRow], sort: str, order: str) -> list[RepRow]:
    """``rows`` sorted by ``sort`` in ``order``; missing values last, ties by name."""
    key = SORT_VALUES[sort]
    by_name = sorted(rows, key=lambda r: (r.rep_id is None, r.name.casefold()))
    present = [r for r in by_name if key(r) is not None]
    missing = [r for r in by_name if key(r) is None]
    return sorted(present, key=key, reverse=order == "desc") + missing


def _reps_and_hours(
    request: Request, as_of: Any, scope: queries.ClientScope, owners: set[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, float]] | None:
    """The reps in scope (warehouse reps table) and their hours; None when the warehouse cannot be read now."""
    with open_warehouse(get_workspace(request)) as warehouse:
        if warehouse is None:
            return None
        reps = {
            str(r["rep_id"]): r
            for r in groups.reps_table(warehouse)
            if groups.rep_in_scope(scope, str(r["rep_id"]), r["team"])
        }
        wanted = set(reps) | owners
        return reps, groups.hours_by_rep(warehouse, as_of, None if scope.kind == "all" else wanted)


def rep_rows(
    request: Request, db: DbSession, snapshot: Snapshot, scope: queries.ClientScope, cache: SnapshotCache | None = None
) -> tuple[list[RepRow], bool]:
    """The rows of the reps in scope, and whether the warehouse could be read (names, capacity, hours).

    Holdings and segment mix are sums of the snapshot's per-owner totals (:mod:`salesfolio.web.rollups`). The
    reps and their hours are read from the warehouse once per snapshot, scope and warehouse data version
    (:func:`salesfolio.web.rollups.warehouse_version`: every import changes it).
    """
    mix = rollups.segment_mix(db, snapshot, scope, cache)
    holdings = {t.keys[0]: t for t in rollups.group_totals(db, snapshot, scope, ["owner"], cache)}
    owners = {k for k in holdings if k is not None}
    found = rollups.cached(
        cache, snapshot, scope, ("team_warehouse", rollups.warehouse_version(db)),
        lambda: _reps_and_hours(request, snapshot.as_of, scope, owners),
    )  # fmt: skip
    ok = found is not None
    reps, hours = found if found is not None else ({}, {})
    rows = []
    for rep_id in sorted({*reps, *holdings}, key=lambda v: (v is None, v or "")):
        held = holdings.get(rep_id)
        info = reps.get(rep_id, {}) if rep_id is not None else {}
        capacity = info.get("capacity_hours")
        rows.append(
            RepRow(
                rep_id=rep_id,
                name=str(info.get("name") or rep_id or ""),
                team=info.get("team"),
                clients=held.clients if held else 0,
                revenue_ttm=held.revenue_ttm if held else None,
                margin_ttm=held.margin_ttm if held else None,
                potential=held.potential if held else None,
                headroom=held.headroom if held else None,
                expected_loss=held.expected_loss if held else None,
                high_risk=held.high_risk if held else 0,
                mix=mix.get(rep_id, {}),
                hours=hours.get(rep_id, 0.0) if hours and rep_id is not None else None,
                capacity_hours=float(capacity) * QUARTERS_PER_YEAR if capacity is not None else None,
            )
        )
    return rows, ok


def _sum(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return math.fsum(present) if present else None


@dataclass(frozen=True)
class TeamView:
    """The Team page apart from its table page: rows in order with display names, total, segments and figures."""

    rows: list[RepRow]
    names: list[str]
    total: RepRow
    warehouse_ok: bool
    with_clients: int
    charted: int
    mix_figure: str | None
    value_figure: str | None


def team_view(rows: list[RepRow], warehouse_ok: bool, sort: str, order: str, lang: Lang) -> TeamView:
    """The Team page's content for ``rows`` (:func:`rep_rows`) in ``sort`` order, its figures built."""
    rows = sort_rows(rows, sort, order)
    unnamed = lang.gettext("No owner")
    names = [r.name if r.rep_id is not None else unnamed for r in rows]
    segments = [s for s in (*queries.SEGMENT_ORDER, UNKNOWN, None) if any(r.mix.get(s) for r in rows)]
    segments += sorted({s for r in rows for s in r.mix if s not in segments and s is not None})
    # The total's capacity only when every rep has one: hours could not be set against part of the team.
    capacities = [r.capacity_hours for r in rows if r.rep_id is not None]
    total = RepRow(
        rep_id="",
        name=lang.gettext("Total"),
        team=None,
        clients=sum(r.clients for r in rows),
        revenue_ttm=_sum([r.revenue_ttm for r in rows]),
        margin_ttm=_sum([r.margin_ttm for r in rows]),
        potential=_sum([r.potential for r in rows]),
        headroom=_sum([r.headroom for r in rows]),
        expected_loss=_sum([r.expected_loss for r in rows]),
        high_risk=sum(r.high_risk for r in rows),
        mix={},
        hours=_sum([r.hours for r in rows]),
        capacity_hours=_sum(capacities) if capacities and None not in capacities else None,
    )
    with_clients = [(n, r) for n, r in zip(names, rows, strict=True) if r.clients][:CHART_REPS]
    chart_names = [n for n, _ in with_clients]
    return TeamView(
        rows=rows,
        names=names,
        total=total,
        warehouse_ok=warehouse_ok,
        with_clients=sum(1 for r in rows if r.clients),
        charted=len(with_clients),
        mix_figure=charts.segment_mix_chart(
            chart_names, segments, [[r.mix.get(s, 0) for s in segments] for _, r in with_clients], lang
        )
        if with_clients
        else None,
        value_figure=charts.rep_value_chart(
            chart_names, [r.revenue_ttm for _, r in with_clients], [r.headroom for _, r in with_clients], lang
        )
        if with_clients
        else None,
    )


def cached_team_view(
    request: Request,
    db: DbSession,
    snapshot: Snapshot,
    scope: queries.ClientScope,
    cache: SnapshotCache,
    sort: str,
    order: str,
    lang: Lang,
) -> TeamView:
    """:func:`team_view` once per snapshot, scope, warehouse data version, order and language.

    Not kept while the warehouse cannot be read (the page then shows IDs and no hours, and is built again on the
    next request).
    """
    built: list[TeamView] = []

    def compute() -> TeamView | None:
        rows, ok = rep_rows(request, db, snapshot, scope, cache)
        built.append(team_view(rows, ok, sort, order, lang))
        return built[0] if ok else None

    question = ("team_view", rollups.warehouse_version(db), sort, order, rollups.lang_key(lang))
    found = rollups.cached(cache, snapshot, scope, question, compute)
    return found if found is not None else built[0]


@router.get("/team", name="team")
def team_page(
    request: Request,
    db: DbSession,
    user: AnyUser,
    scope: Scope,
    snapshot: SnapshotDep,
    lang: LangDep,
    cache: CacheDep,
    sort: Annotated[str, Query(pattern=SORT_PATTERN, description="Column to sort by.")] = "revenue",
    order: Annotated[Literal["asc", "desc"], Query(description="Sort direction.")] = "desc",
    page: Annotated[int, Query(ge=1, le=1_000_000, description="Page of the table, from 1.")] = 1,
) -> Response:
    """The Team page of the chosen (default: newest) snapshot, in the user's scope."""
    if snapshot is None:
        return render(request, "team.html", {"empty": True})
    view = cached_team_view(request, db, snapshot, scope, cache, sort, order, lang)
    rows = view.rows
    pages = max(1, math.ceil(len(rows) / TEAM_PAGE_SIZE))
    page = min(page, pages)
    start = (page - 1) * TEAM_PAGE_SIZE
    shown = slice(start, start + TEAM_PAGE_SIZE)
    context = {
        "empty": False,
        "rows": rows,
        "shown": list(zip(view.names[shown], rows[shown], strict=True)),
        "page": page,
        "pages": pages,
        "first": start + 1,
        "last": min(start + TEAM_PAGE_SIZE, len(rows)),
        "total": view.total,
        "warehouse_ok": view.warehouse_ok,
        "columns": COLUMNS,
        "sort": sort,
        "order": order,
        "charted": view.charted,
        "with_clients": view.with_clients,
        "mix_figure": view.mix_figure,
        "value_figure": view.value_figure,
    }
    return render(request, "team.html", context)
