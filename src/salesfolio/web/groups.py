"""Grouped reads for the Segments, Team and Models pages and the overview's forecast cards.

Every function is scoped like those of :mod:`salesfolio.web.queries`, which this module continues.

Group keys (:data:`GROUP_COLUMNS`, :data:`RFM_KEYS`) name columns in addresses; :func:`group_totals` sums clients
and money per group in one SQL ``GROUP BY`` (the reference that :mod:`salesfolio.web.rollups` reads faster from
the per-owner totals); cells of a segmentation list their clients (:func:`cell_clients`); the cost-to-serve
matrix, open deals, reps and their hours come from here too.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select, true
from sqlalchemy.orm import Session, defer

from salesfolio.analytics.timeseries import add_months
from salesfolio.contract import ACTIVITIES, OPPORTUNITIES, REPS
from salesfolio.store.models import SnapshotClient
from salesfolio.warehouse import Warehouse
from salesfolio.web.queries import MAP_LIMIT, ClientPage, ClientScope, _feature, _opt_float, _rows

NOT_SET = "__none__"
"""The value of a group key in an address that selects the clients without that key (shown as "not set")."""
CELL_PAGE_SIZE = 25
"""Clients per page of a cell's list (Segments page)."""

GROUP_COLUMNS: dict[str, Any] = {
    "segment": SnapshotClient.segment,
    "cts_segment": SnapshotClient.cts_segment,
    "rfm_segment": SnapshotClient.rfm_segment,
    "abc_revenue": SnapshotClient.abc_revenue,
    "abc_margin": SnapshotClient.abc_margin,
    "owner": SnapshotClient.owner_id,
    "team": SnapshotClient.team,
    "region": SnapshotClient.region,
    "industry": SnapshotClient.industry,
    "size_class": SnapshotClient.size_class,
    "contract_type": SnapshotClient.contract_type,
}
"""Columns clients can be grouped by (heatmaps, quadrants, ABC, reps), by their name in addresses."""
RFM_KEYS = ("rfm_r", "rfm_f")
"""Group keys of the RFM grid: the R and F digits of ``details.features.rfm_score`` (such as ``"543"``)."""


def group_key(key: str) -> ColumnElement[Any]:
    """The SQL expression of a group key (:data:`GROUP_COLUMNS` or :data:`RFM_KEYS`); empty text counts as NULL."""
    if key in RFM_KEYS:
        code = func.coalesce(SnapshotClient.rfm_score, SnapshotClient.details[("features", "rfm_score")].as_string())
        return func.nullif(func.substr(code, 1 if key == "rfm_r" else 2, 1), "")
    if key in GROUP_COLUMNS:
        return func.nullif(GROUP_COLUMNS[key], "")
    raise ValueError(f"unknown group key {key!r}; known keys: {', '.join([*GROUP_COLUMNS, *RFM_KEYS])}")


def cell_condition(cell: Mapping[str, str]) -> ColumnElement[bool]:
    """The SQL condition of one cell: each key equals its value (:data:`NOT_SET`: the key is missing or empty)."""
    parts = [group_key(k).is_(None) if v == NOT_SET else group_key(k) == v for k, v in cell.items()]
    return and_(true(), *parts)


def cell_clients(
    db: Session,
    snapshot_id: int,
    scope: ClientScope,
    cell: Mapping[str, str],
    page: int = 1,
    page_size: int = CELL_PAGE_SIZE,
) -> ClientPage:
    """One page of the clients in scope that fall in ``cell``, largest revenue first (a page past the end: the last).

    ``cell`` maps group keys to values, e.g. ``{"segment": "strategic", "region": "Mazowsze"}`` (a heatmap cell)
    or ``{"rfm_r": "5", "rfm_f": "4"}``; an empty ``cell`` is every client in scope.
    """
    base = (
        select(SnapshotClient)
        .options(defer(SnapshotClient.details, raiseload=True))
        .where(SnapshotClient.snapshot_id == snapshot_id, scope.clause(), cell_condition(cell))
    )
    total = int(db.scalar(select(func.count()).select_from(base.subquery())) or 0)
    page = min(max(1, page), max(1, math.ceil(total / page_size)))
    order = (SnapshotClient.revenue_ttm.desc().nulls_last(), SnapshotClient.client_id.asc())
    rows = list(db.scalars(base.order_by(*order).limit(page_size).offset((page - 1) * page_size)))
    return ClientPage(rows, total, page, page_size)


@dataclass(frozen=True)
class GroupTotal:
    """One group of the clients in scope: its key values (None: not set), clients and money.

    ``revenue_positive`` and ``margin_positive`` add only positive values (the base of ABC shares); the other sums
    are None when no client of the group has the value.
    """

    keys: tuple[str | None, ...]
    clients: int
    revenue_ttm: float | None
    revenue_positive: float
    margin_ttm: float | None
    margin_positive: float
    potential: float | None
    headroom: float | None
    expected_loss: float | None
    expected_revenue: float | None
    high_risk: int


def group_totals(db: Session, snapshot_id: int, scope: ClientScope, keys: Sequence[str]) -> list[GroupTotal]:
    """Clients and money per group of the clients in scope: one SQL ``GROUP BY`` over the snapshot rows.

    ``keys`` are :data:`GROUP_COLUMNS` or :data:`RFM_KEYS` (one for a segment table, two for a heatmap). Groups
    come sorted by their key values, missing values last.
    """
    exprs = [group_key(k) for k in keys]

    def positive(column: Any) -> Any:
        return func.coalesce(func.sum(case((column > 0, column), else_=0.0)), 0.0)

    stmt = (
        select(
            *exprs,
            func.count(),
            func.sum(SnapshotClient.revenue_ttm),
            positive(SnapshotClient.revenue_ttm),
            func.sum(SnapshotClient.margin_ttm),
            positive(SnapshotClient.margin_ttm),
            func.sum(SnapshotClient.potential),
            func.sum(SnapshotClient.headroom),
            func.sum(SnapshotClient.expected_loss),
            func.sum(SnapshotClient.expected_revenue),
            func.count().filter(SnapshotClient.risk_level == "high"),
        )
        .where(SnapshotClient.snapshot_id == snapshot_id, scope.clause())
        .group_by(*exprs)
    )
    n = len(exprs)
    out = [
        GroupTotal(
            keys=tuple(None if v is None else str(v) for v in row[:n]),
            clients=int(row[n]),
            revenue_ttm=_opt_float(row[n + 1]),
            revenue_positive=float(row[n + 2] or 0.0),
            margin_ttm=_opt_float(row[n + 3]),
            margin_positive=float(row[n + 4] or 0.0),
            potential=_opt_float(row[n + 5]),
            headroom=_opt_float(row[n + 6]),
            expected_loss=_opt_float(row[n + 7]),
            expected_revenue=_opt_float(row[n + 8]),
            high_risk=int(row[n + 9]),
        )
        for row in db.execute(stmt)
    ]
    return sorted(out, key=lambda g: tuple((k is None, k or "") for k in g.keys))


@dataclass(frozen=True)
class CtsPoint:
    """A client on the cost-to-serve x net price matrix (both indexes known)."""

    client_id: str
    name: str
    revenue_ttm: float | None
    net_price_index: float
    cost_to_serve_index: float
    segment: str | None


def _cts_axes() -> tuple[ColumnElement[float], ColumnElement[float]]:
    # The axes of salesfolio.analytics.segments.cost_to_serve_inputs, in SQL over the stored features.
    price = _feature("margin_pct_ttm")
    cost = case(
        (SnapshotClient.revenue_ttm > 0, _feature("cost_to_serve_ttm") / SnapshotClient.revenue_ttm),
        else_=None,
    )
    return price, cost


def cts_points(db: Session, snapshot_id: int, scope: ClientScope, limit: int = MAP_LIMIT) -> tuple[list[CtsPoint], int]:
    """The ``limit`` largest clients in scope (by revenue) with both cost-to-serve axes, and how many have them.

    Axes as :func:`salesfolio.analytics.segments.cost_to_serve_inputs`: net price index = ``margin_pct_ttm``,
    cost to serve index = ``cost_to_serve_ttm / revenue_ttm`` (revenue positive).
    """
    price, cost = _cts_axes()
    where = (SnapshotClient.snapshot_id == snapshot_id, scope.clause(), price.is_not(None), cost.is_not(None))
    rows = db.execute(
        select(SnapshotClient.client_id, SnapshotClient.name, SnapshotClient.revenue_ttm, price, cost)
        .add_columns(SnapshotClient.cts_segment)
        .where(*where)
        .order_by(SnapshotClient.revenue_ttm.desc().nulls_last(), SnapshotClient.client_id)
        .limit(limit)
    ).all()
    total = int(db.scalar(select(func.count()).where(*where)) or 0)
    points = [CtsPoint(str(r[0]), str(r[1] or r[0]), _opt_float(r[2]), float(r[3]), float(r[4]), r[5]) for r in rows]
    return points, total


CTS_HIGH_COST = ("carriage_trade", "aggressive")
CTS_HIGH_PRICE = ("carriage_trade", "passive")


def cts_splits(db: Session, snapshot_id: int, scope: ClientScope) -> tuple[float | None, float | None]:
    """(cost split, price split) that the stored ``cts_segment`` of the clients in scope imply.

    The analysis split at the median of all clients (or at the configured values); the page draws the line midway
    between the largest index classed low and the smallest classed high among the clients the user sees, so the
    line separates the points exactly as they were classed, without reading clients outside the scope. With
    clients on one side only, the line goes through the nearest of them; None when no client is classed.
    """
    price, cost = _cts_axes()
    segment = SnapshotClient.cts_segment
    row = db.execute(
        select(
            func.max(case((segment.in_(("passive", "bargain_basement")), cost), else_=None)),
            func.min(case((segment.in_(CTS_HIGH_COST), cost), else_=None)),
            func.max(case((segment.in_(("aggressive", "bargain_basement")), price), else_=None)),
            func.min(case((segment.in_(CTS_HIGH_PRICE), price), else_=None)),
        ).where(SnapshotClient.snapshot_id == snapshot_id, scope.clause())
    ).one()

    def between(low: Any, high: Any) -> float | None:
        if low is not None and high is not None:
            return (float(low) + float(high)) / 2
        return _opt_float(high if high is not None else low)

    return between(row[0], row[1]), between(row[2], row[3])


def open_deals(warehouse: Warehouse) -> list[dict[str, Any]]:
    """Every open opportunity (no close date, no outcome) of the warehouse, prospects without a client included."""
    t = warehouse.table(OPPORTUNITIES.name)
    names = ("opportunity_id", "client_id", "owner_id", "stage", "value", "probability", "expected_close")
    return _rows(t.filter(t.closed.isnull(), t.won.isnull()).select(*names))


def clients_in_scope(db: Session, snapshot_id: int, scope: ClientScope, client_ids: Collection[str]) -> dict[str, str]:
    """Of ``client_ids``, those in this snapshot and in scope, with their names (looked up 500 at a time)."""
    wanted = sorted({str(c) for c in client_ids})
    found: dict[str, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        stmt = select(SnapshotClient.client_id, SnapshotClient.name).where(
            SnapshotClient.snapshot_id == snapshot_id, scope.clause(), SnapshotClient.client_id.in_(chunk)
        )
        found.update({str(cid): str(name or cid) for cid, name in db.execute(stmt)})
    return found


def rep_in_scope(scope: ClientScope, rep_id: str | None, team: str | None) -> bool:
    """Whether a rep's own figures (name, hours, capacity) are in ``scope``.

    Board and admin see every rep, a manager the reps of the team, a rep only themself.
    """
    if scope.kind == "all":
        return True
    if scope.kind == "team":
        return bool(scope.value) and team == scope.value
    if scope.kind == "owner":
        return bool(scope.value) and rep_id == scope.value
    return False


def reps_table(warehouse: Warehouse) -> list[dict[str, Any]]:
    """The warehouse's reps: ``rep_id``, ``name``, ``team``, ``capacity_hours`` (selling hours per quarter)."""
    t = warehouse.table(REPS.name)
    return _rows(t.select("rep_id", "name", "team", "capacity_hours"))


def hours_by_rep(warehouse: Warehouse, as_of: dt.date, rep_ids: Collection[str] | None) -> dict[str, float]:
    """Hours per rep from ``activities`` in the 12 months up to ``as_of``, summed inside the warehouse engine.

    The window is the features' TTM (``as_of - 12 months < date <= as_of``); only ``rep_ids`` (None: every rep).
    """
    if rep_ids is not None and not rep_ids:
        return {}
    t = warehouse.table(ACTIVITIES.name)
    inside = t.filter(t.rep_id.notnull(), t.date > add_months(as_of, -12), t.date <= as_of)
    if rep_ids is not None:
        inside = inside.filter(inside.rep_id.isin(sorted(rep_ids)))
    expr = inside.group_by("rep_id").aggregate(hours=inside.hours.sum())
    return {str(r["rep_id"]): float(r["hours"] or 0.0) for r in _rows(expr)}


@dataclass(frozen=True)
class ForecastTotals:
    """Expected revenue over the forecast horizon of the clients in scope that have a forecast."""

    clients: int
    expected_revenue: float | None
    revenue_ttm: float | None
    """Revenue TTM of the same clients (the comparison base)."""


def forecast_totals(db: Session, snapshot_id: int, scope: ClientScope) -> ForecastTotals:
    """Sum of ``expected_revenue`` (BG/NBD + Gamma-Gamma) and of the revenue TTM of the clients that have one."""
    row = db.execute(
        select(func.count(), func.sum(SnapshotClient.expected_revenue), func.sum(SnapshotClient.revenue_ttm)).where(
            SnapshotClient.snapshot_id == snapshot_id, scope.clause(), SnapshotClient.expected_revenue.is_not(None)
        )
    ).one()
    return ForecastTotals(int(row[0]), _opt_float(row[1]), _opt_float(row[2]))


def top_growers(
    db: Session, snapshot_id: int, scope: ClientScope, years: float, limit: int = 10
) -> list[tuple[SnapshotClient, float]]:
    """The clients in scope expected to grow most: ``expected_revenue / years - revenue_ttm``, largest first.

    ``years`` is the forecast horizon in years (24 months: 2), so the expected revenue per year is compared with
    the last 12 months; only clients with a positive expected growth are listed.
    """
    growth = SnapshotClient.expected_revenue / years - func.coalesce(SnapshotClient.revenue_ttm, 0.0)
    stmt = (
        select(SnapshotClient, growth)
        .options(defer(SnapshotClient.details, raiseload=True))
        .where(
            SnapshotClient.snapshot_id == snapshot_id,
            scope.clause(),
            SnapshotClient.expected_revenue.is_not(None),
            growth > 0,
        )
        .order_by(growth.desc(), SnapshotClient.client_id)
        .limit(limit)
    )
    return [(row[0], float(row[1] or 0.0)) for row in db.execute(stmt)]
