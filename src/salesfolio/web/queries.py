"""Read functions over the snapshot tables and the warehouse, every one of them scoped to what a user may see.

The client scope is built once per request from the user (:func:`scope_for`): a rep sees the clients whose
``owner_id`` is their ``rep_id``, a manager the clients of their ``team``, board and admin every client. Every
function here that touches clients takes a :class:`ClientScope` and applies :meth:`ClientScope.clause` to its
query, so a new page cannot read a client without choosing a scope. Functions that read the warehouse for one
client (history, pipeline, imported assessments) take the :class:`~salesfolio.store.models.SnapshotClient` row
that a scoped :func:`get_client` returned, not a bare ID.

Numbers shown on the overview are computed here with SQL aggregates over the scoped rows (not taken from the
snapshot's portfolio-wide summary), so a rep's overview shows the rep's numbers.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import ibis
from sqlalchemy import ColumnElement, Select, case, false, func, or_, select, true
from sqlalchemy.orm import Session, defer

from salesfolio.store.models import Assessment, Snapshot, SnapshotClient, User
from salesfolio.warehouse import Warehouse

PAGE_SIZE = 50
MAP_LIMIT = 2000
"""The portfolio map shows at most this many clients (the largest by revenue); the rest are summarised."""
PARETO_POINTS = 400
"""The Pareto curve is drawn through at most this many points (exact at the 80 % crossing)."""
SEGMENT_ORDER = ("strategic", "development", "maintain", "operational")
RISK_ORDER = ("high", "medium", "low")


# -- scope ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClientScope:
    """Which clients a user may see: ``all``, those of a ``team``, those an ``owner`` (rep) owns, or ``none``."""

    kind: Literal["all", "team", "owner", "none"]
    value: str | None = None

    def clause(self, owner: Any = SnapshotClient.owner_id, team: Any = SnapshotClient.team) -> ColumnElement[bool]:
        """The SQL condition for this scope on ``snapshot_clients`` (or on the given owner and team columns)."""
        if self.kind == "all":
            return true()
        if self.kind == "team" and self.value:
            return team == self.value  # type: ignore[no-any-return]
        if self.kind == "owner" and self.value:
            return owner == self.value  # type: ignore[no-any-return]
        return false()


def scope_for(user: User) -> ClientScope:
    """The scope of ``user``: rep -> own clients, manager -> own team, board/admin -> all, else nothing."""
    if user.role in ("admin", "board"):
        return ClientScope("all")
    if user.role == "manager" and user.team:
        return ClientScope("team", user.team)
    if user.role == "rep" and user.rep_id:
        return ClientScope("owner", user.rep_id)
    return ClientScope("none")


# -- snapshots --------------------------------------------------------------------------------------------------
def list_snapshots(db: Session) -> list[Snapshot]:
    """Every snapshot, newest first (by reference date, then by creation)."""
    return list(db.scalars(select(Snapshot).order_by(Snapshot.as_of.desc(), Snapshot.id.desc())))


def latest_snapshot(db: Session) -> Snapshot | None:
    """The newest snapshot, or None before the first analysis."""
    return db.scalars(select(Snapshot).order_by(Snapshot.as_of.desc(), Snapshot.id.desc()).limit(1)).first()


def snapshot_by_id(db: Session, snapshot_id: int) -> Snapshot | None:
    """The snapshot with this ID, or None."""
    return db.get(Snapshot, snapshot_id)


# -- client list ------------------------------------------------------------------------------------------------
SORT_KEYS: dict[str, Any] = {
    "name": SnapshotClient.name,
    "client_id": SnapshotClient.client_id,
    "owner": SnapshotClient.owner_id,
    "industry": SnapshotClient.industry,
    "region": SnapshotClient.region,
    "revenue": SnapshotClient.revenue_ttm,
    "margin": SnapshotClient.margin_ttm,
    "growth": SnapshotClient.growth,
    "headroom": SnapshotClient.headroom,
    "score": SnapshotClient.score,
    "segment": SnapshotClient.segment,
    "abc": SnapshotClient.abc_revenue,
    "risk": case(
        {level: rank for rank, level in enumerate(reversed(RISK_ORDER), start=1)},
        value=SnapshotClient.risk_level,
        else_=None,
    ),
    "expected_loss": SnapshotClient.expected_loss,
    "churn_probability": SnapshotClient.churn_probability,
    "p_alive": SnapshotClient.p_alive,
    "expected_revenue": SnapshotClient.expected_revenue,
}
"""Sortable columns of the client list by their URL name."""

FILTER_COLUMNS: dict[str, Any] = {
    "segment": SnapshotClient.segment,
    "owner": SnapshotClient.owner_id,
    "industry": SnapshotClient.industry,
    "region": SnapshotClient.region,
    "risk": SnapshotClient.risk_level,
    "abc": SnapshotClient.abc_revenue,
}
"""Filterable columns of the client list by their URL name (equality filters)."""


@dataclass(frozen=True)
class ClientQuery:
    """Search, filters, sort and page of the client list (the same for the page, the exports and the API).

    ``filters`` maps a key of :data:`FILTER_COLUMNS` to the value it must equal. ``sort`` is a key of
    :data:`SORT_KEYS` (default ``revenue``), ``order`` ``asc`` or ``desc``; missing values sort last, ties by
    client ID.
    """

    q: str = ""
    filters: dict[str, str] = field(default_factory=dict)
    sort: str = "revenue"
    order: Literal["asc", "desc"] = "desc"
    page: int = 1


def like_pattern(text: str) -> str:
    r"""A ``LIKE`` pattern matching ``text`` anywhere, with ``\``, ``%`` and ``_`` escaped (escape char ``\``).

    >>> like_pattern("50%_off")
    '%50\\%\\_off%'
    """
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _client_select(
    snapshot_id: int, scope: ClientScope, query: ClientQuery, matching: Sequence[str] | None = None
) -> Select[SnapshotClient]:
    # Lists and exports never read the details JSON; not loading it makes a 10 000-row export 3x faster.
    stmt = (
        select(SnapshotClient)
        .options(defer(SnapshotClient.details, raiseload=True))
        .where(SnapshotClient.snapshot_id == snapshot_id, scope.clause())
    )
    for key, value in query.filters.items():
        if key in FILTER_COLUMNS and value:
            stmt = stmt.where(FILTER_COLUMNS[key] == value)
    text = query.q.strip()
    if text and matching is not None:  # the search's matches, found by the caller (salesfolio.web.rollups)
        stmt = stmt.where(SnapshotClient.client_id.in_(matching))
    elif text:
        # The matching IDs from the index on (snapshot, name, client ID), which holds both searched columns: a
        # pass over the index, not over the rows (the planner would otherwise walk the sort index row by row).
        pattern = like_pattern(text)
        like = (
            select(SnapshotClient.client_id)
            .with_hint(SnapshotClient, "INDEXED BY ix_snapshot_clients_name", "sqlite")
            .where(
                SnapshotClient.snapshot_id == snapshot_id,
                or_(
                    SnapshotClient.name.ilike(pattern, escape="\\"),
                    SnapshotClient.client_id.ilike(pattern, escape="\\"),
                ),
            )
        )
        stmt = stmt.where(SnapshotClient.client_id.in_(like))
    return stmt


def _ordered(stmt: Select[Any], query: ClientQuery, *, reverse: bool = False) -> Select[Any]:
    """``stmt`` in the list's order (missing values last, ties by ID), or in exactly the reverse of it."""
    column = SORT_KEYS.get(query.sort, SnapshotClient.revenue_ttm)
    not_null = query.sort in NOT_NULL_SORTS
    if not reverse:
        # Name and ID are never NULL: without NULLS LAST the index on (snapshot, name, ID) gives the order.
        if query.order == "asc":
            direction = column.asc() if not_null else column.asc().nulls_last()
        else:
            direction = column.desc().nulls_last()
    elif query.order == "asc":
        direction = column.desc() if not_null else column.desc().nulls_first()
    else:
        direction = column.asc() if not_null else column.asc().nulls_first()
    return stmt.order_by(direction, SnapshotClient.client_id.desc() if reverse else SnapshotClient.client_id.asc())


NOT_NULL_SORTS = frozenset({"name", "client_id"})
"""Sort keys whose column is NOT NULL (no NULLS LAST needed)."""


@dataclass(frozen=True)
class ClientPage:
    """One page of the client list."""

    rows: list[SnapshotClient]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        """Number of pages (at least 1)."""
        return max(1, math.ceil(self.total / self.page_size))

    @property
    def first(self) -> int:
        """1-based position of the first row shown (0 when there is none)."""
        return 0 if not self.rows else (self.page - 1) * self.page_size + 1

    @property
    def last(self) -> int:
        """1-based position of the last row shown."""
        return self.first + len(self.rows) - 1 if self.rows else 0


def count_clients(
    db: Session, snapshot_id: int, scope: ClientScope, query: ClientQuery, matching: Sequence[str] | None = None
) -> int:
    """How many clients in scope match the search and filters of ``query``.

    ``matching``: the IDs that match the search text when the caller found them (else ``LIKE`` in SQL).
    """
    base = _client_select(snapshot_id, scope, query, matching)
    return int(db.scalar(select(func.count()).select_from(base.subquery())) or 0)


def list_clients(
    db: Session,
    snapshot_id: int,
    scope: ClientScope,
    query: ClientQuery,
    page_size: int = PAGE_SIZE,
    *,
    total: int | None = None,
    matching: Sequence[str] | None = None,
) -> ClientPage:
    """The page ``query.page`` of the scoped, filtered, sorted client list (a page past the end is empty).

    ``total`` is :func:`count_clients` when the caller knows it already, ``matching`` as there. The page's client
    IDs are found first (the sort index holds the sort key and the ID, so far pages skip rows without reading
    them), then their rows. A page in the second half of the list is read from its end, in the reverse order (the
    order is total: ties are broken by the unique ID), so the last page skips as few rows as the first.
    """
    if total is None:
        total = count_clients(db, snapshot_id, scope, query, matching)
    page = max(1, query.page)
    start = (page - 1) * page_size
    end = min(start + page_size, total)
    ids: list[str] = []
    if start < end:
        ids_stmt = _client_select(snapshot_id, scope, query, matching).with_only_columns(
            SnapshotClient.client_id, maintain_column_froms=True
        )
        if start > total - end:
            ordered = _ordered(ids_stmt, query, reverse=True).limit(end - start).offset(total - end)
            ids = list(reversed(db.scalars(ordered).all()))
        else:
            ids = list(db.scalars(_ordered(ids_stmt, query).limit(end - start).offset(start)))
    found = clients_by_id(db, snapshot_id, scope, ids)
    return ClientPage([found[cid] for cid in ids if cid in found], total, page, page_size)


def clients_by_id(db: Session, snapshot_id: int, scope: ClientScope, client_ids: Sequence[str]) -> dict[str, Any]:
    """The rows (without details) of those ``client_ids`` that are in this snapshot and in scope, by ID."""
    if not client_ids:
        return {}
    stmt = (
        select(SnapshotClient)
        .options(defer(SnapshotClient.details, raiseload=True))
        .where(SnapshotClient.snapshot_id == snapshot_id, scope.clause(), SnapshotClient.client_id.in_(client_ids))
    )
    return {row.client_id: row for row in db.scalars(stmt)}


def iter_clients(
    db: Session, snapshot_id: int, scope: ClientScope, query: ClientQuery, columns: Sequence[str]
) -> Iterator[Any]:
    """Every row of the scoped, filtered, sorted list (for exports): only ``columns``, fetched in batches.

    Rows are SQLAlchemy ``Row`` objects; read the columns as attributes (``row.revenue_ttm``).
    """
    base = _client_select(snapshot_id, scope, query)
    stmt = base.with_only_columns(*(getattr(SnapshotClient, c) for c in columns), maintain_column_froms=True)
    yield from db.execute(_ordered(stmt, query).execution_options(yield_per=2000))


def filter_options(db: Session, snapshot_id: int, scope: ClientScope) -> dict[str, list[str]]:
    """For each filter, the distinct values among the clients in scope (sorted; empty values left out)."""
    options: dict[str, list[str]] = {}
    for key, column in FILTER_COLUMNS.items():
        stmt = (
            select(column)
            .where(SnapshotClient.snapshot_id == snapshot_id, scope.clause(), column.is_not(None), column != "")
            .distinct()
            .order_by(column)
        )
        options[key] = [str(v) for v in db.scalars(stmt)]
    return options


class FilterOptionsCache:
    """A small thread-safe LRU of :func:`filter_options` results, keyed by (snapshot, created_at, scope)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, dict[str, list[str]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> dict[str, list[str]] | None:
        """The cached options, or None."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: Hashable, options: dict[str, list[str]]) -> None:
        """Cache ``options``, dropping the least recently used entry when full."""
        with self._lock:
            self._items[key] = options
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def get_client(db: Session, snapshot_id: int, scope: ClientScope, client_id: str) -> SnapshotClient | None:
    """The client in this snapshot if it is in scope; None otherwise (the caller answers 404 either way)."""
    stmt = select(SnapshotClient).where(
        SnapshotClient.snapshot_id == snapshot_id, SnapshotClient.client_id == client_id, scope.clause()
    )
    return db.scalars(stmt).first()


# -- overview ---------------------------------------------------------------------------------------------------
def _json_float(*path: str) -> ColumnElement[float]:
    return SnapshotClient.details[path].as_float()  # type: ignore[no-any-return]


def _feature(name: str) -> ColumnElement[float]:
    """A promoted feature: its column, else (a snapshot stored before it was promoted) ``details.features``.

    ``COALESCE`` reads the JSON only where the column is NULL, so a snapshot with the columns filled pays for the
    JSON only on the clients that lack the value.
    """
    return func.coalesce(getattr(SnapshotClient, name), _json_float("features", name))


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


@dataclass(frozen=True)
class Kpis:
    """Headline numbers of the clients in scope (money in the workspace currency, shares 0..1)."""

    clients: int
    active_clients: int
    revenue_ttm: float | None
    revenue_prior_ttm: float | None
    margin_ttm: float | None
    margin_prior_ttm: float | None
    margin_revenue_ttm: float | None
    top10_revenue: float | None
    revenue_at_risk: float | None
    high_risk_clients: int
    headroom: float | None
    clients_with_potential: int

    @property
    def revenue_growth(self) -> float | None:
        """Revenue TTM on the prior TTM, minus 1 (None without a positive prior)."""
        ratio = _ratio(self.revenue_ttm, self.revenue_prior_ttm)
        return None if ratio is None else ratio - 1

    @property
    def margin_growth(self) -> float | None:
        """Margin TTM on the prior TTM, minus 1 (None without a positive prior)."""
        ratio = _ratio(self.margin_ttm, self.margin_prior_ttm)
        return None if ratio is None else ratio - 1

    @property
    def margin_pct(self) -> float | None:
        """Margin as a share of the revenue of the clients that have a margin."""
        return _ratio(self.margin_ttm, self.margin_revenue_ttm)

    @property
    def top10_share(self) -> float | None:
        """Share of revenue made by the 10 largest clients (concentration)."""
        return _ratio(self.top10_revenue, self.revenue_ttm)

    @property
    def at_risk_share(self) -> float | None:
        """Revenue at risk as a share of revenue."""
        return _ratio(self.revenue_at_risk, self.revenue_ttm)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def portfolio_kpis(db: Session, snapshot_id: int, scope: ClientScope) -> Kpis:
    """KPIs by SQL aggregates over the clients in scope.

    Revenue and margin growth compare the sums of ``revenue_ttm`` / ``margin_ttm`` with the sums of
    ``details.features.revenue_prior_ttm`` / ``margin_prior_ttm``; margin % is over the clients with a margin;
    active clients have ``revenue_ttm > 0``; revenue at risk is the sum of ``expected_loss``; top-10
    concentration is the revenue of the 10 largest clients over all revenue in scope.
    """
    where = (SnapshotClient.snapshot_id == snapshot_id, scope.clause())
    row = db.execute(
        select(
            func.count(),
            func.count().filter(SnapshotClient.revenue_ttm > 0),
            func.sum(SnapshotClient.revenue_ttm),
            func.sum(_feature("revenue_prior_ttm")),
            func.sum(SnapshotClient.margin_ttm),
            func.sum(_feature("margin_prior_ttm")),
            func.sum(SnapshotClient.revenue_ttm).filter(SnapshotClient.margin_ttm.is_not(None)),
            func.sum(SnapshotClient.expected_loss),
            func.count().filter(SnapshotClient.risk_level == "high"),
            func.sum(SnapshotClient.headroom),
            func.count().filter(SnapshotClient.potential.is_not(None)),
        ).where(*where)
    ).one()
    top10 = top_revenue(db, snapshot_id, scope, 10)
    return Kpis(
        clients=int(row[0]),
        active_clients=int(row[1]),
        revenue_ttm=_opt_float(row[2]),
        revenue_prior_ttm=_opt_float(row[3]),
        margin_ttm=_opt_float(row[4]),
        margin_prior_ttm=_opt_float(row[5]),
        margin_revenue_ttm=_opt_float(row[6]),
        top10_revenue=top10,
        revenue_at_risk=_opt_float(row[7]),
        high_risk_clients=int(row[8]),
        headroom=_opt_float(row[9]),
        clients_with_potential=int(row[10]),
    )


def top_revenue(db: Session, snapshot_id: int, scope: ClientScope, n: int) -> float | None:
    """Revenue TTM of the ``n`` largest clients in scope with positive revenue (None when there is none)."""
    top = (
        select(SnapshotClient.revenue_ttm.label("revenue"))
        .where(SnapshotClient.snapshot_id == snapshot_id, scope.clause(), SnapshotClient.revenue_ttm > 0)
        .order_by(SnapshotClient.revenue_ttm.desc())
        .limit(n)
        .subquery()
    )
    return _opt_float(db.scalar(select(func.sum(top.c.revenue))))


@dataclass(frozen=True)
class ParetoCurve:
    """Cumulative share of revenue against the share of clients, largest clients first.

    ``client_share`` and ``revenue_share`` start at (0, 0) and end at (1, 1); ``clients_for_80`` is the number of
    clients that together make 80 % of revenue (the smallest such number).
    """

    client_share: list[float]
    revenue_share: list[float]
    clients: int
    clients_for_80: int


def pareto_curve(db: Session, snapshot_id: int, scope: ClientScope, max_points: int = PARETO_POINTS) -> ParetoCurve:
    """The Pareto (Lorenz-type) curve of revenue TTM over the clients in scope with positive revenue.

    Method: sort revenues descending, cumulative sum over the total; the curve is thinned to ``max_points``
    evenly spaced client ranks, always keeping the first rank reaching 80 %.
    """
    revenues = [
        float(v or 0.0)
        for v in db.scalars(
            select(SnapshotClient.revenue_ttm)
            .where(SnapshotClient.snapshot_id == snapshot_id, scope.clause(), SnapshotClient.revenue_ttm > 0)
            .order_by(SnapshotClient.revenue_ttm.desc())
        )
    ]
    n = len(revenues)
    if n == 0:
        return ParetoCurve([0.0], [0.0], 0, 0)
    total = math.fsum(revenues)
    cumulative = []
    running = 0.0
    for value in revenues:
        running += value
        cumulative.append(running / total)
    clients_for_80 = next((i + 1 for i, share in enumerate(cumulative) if share >= 0.8 - 1e-12), n)
    step = max(1, math.ceil(n / max_points))
    ranks = sorted({*range(step, n + 1, step), n, clients_for_80, 1})
    return ParetoCurve([0.0, *(r / n for r in ranks)], [0.0, *(cumulative[r - 1] for r in ranks)], n, clients_for_80)


@dataclass(frozen=True)
class SegmentRow:
    """One value x potential segment: how many clients, their revenue, margin and headroom."""

    segment: str | None
    clients: int
    revenue_ttm: float | None
    margin_ttm: float | None
    headroom: float | None
    revenue_share: float | None


def segment_summary(db: Session, snapshot_id: int, scope: ClientScope) -> list[SegmentRow]:
    """Clients, revenue, margin and headroom per segment (in matrix order, then others, then none)."""
    rows = db.execute(
        select(
            SnapshotClient.segment,
            func.count(),
            func.sum(SnapshotClient.revenue_ttm),
            func.sum(SnapshotClient.margin_ttm),
            func.sum(SnapshotClient.headroom),
        )
        .where(SnapshotClient.snapshot_id == snapshot_id, scope.clause())
        .group_by(SnapshotClient.segment)
    ).all()
    return segment_rows([(r[0], int(r[1]), _opt_float(r[2]), _opt_float(r[3]), _opt_float(r[4])) for r in rows])


def segment_rows(
    groups: Sequence[tuple[str | None, int, float | None, float | None, float | None]],
) -> list[SegmentRow]:
    """:class:`SegmentRow` of (segment, clients, revenue, margin, headroom) groups.

    Revenue shares are of the positive group revenues; rows in matrix order, then other segments, then none.
    """
    total = math.fsum(r[2] for r in groups if r[2] is not None and r[2] > 0)

    def rank(segment: str | None) -> tuple[int, str]:
        if segment in SEGMENT_ORDER:
            return (SEGMENT_ORDER.index(segment), "")
        return (len(SEGMENT_ORDER) + (1 if segment is None else 0), segment or "")

    out = [
        SegmentRow(
            segment=r[0],
            clients=r[1],
            revenue_ttm=r[2],
            margin_ttm=r[3],
            headroom=r[4],
            revenue_share=_ratio(r[2], total),
        )
        for r in groups
    ]
    return sorted(out, key=lambda s: rank(s.segment))


def top_alerts(db: Session, snapshot_id: int, scope: ClientScope, limit: int = 10) -> list[SnapshotClient]:
    """The clients in scope with the highest expected loss that have at least one warning signal."""
    stmt = (
        select(SnapshotClient)
        .where(
            SnapshotClient.snapshot_id == snapshot_id,
            scope.clause(),
            SnapshotClient.expected_loss > 0,
            or_(SnapshotClient.n_signals > 0, SnapshotClient.risk_level == "high"),
        )
        .order_by(SnapshotClient.expected_loss.desc(), SnapshotClient.client_id)
        .limit(limit)
    )
    return list(db.scalars(stmt))


@dataclass(frozen=True)
class MapPoint:
    """One bubble of the portfolio map."""

    client_id: str
    name: str
    revenue_ttm: float | None
    margin_ttm: float | None
    headroom: float | None
    value_score: float | None
    potential_score: float | None
    risk_level: str | None
    segment: str | None


@dataclass(frozen=True)
class MapData:
    """The bubbles shown (the ``shown`` largest by revenue) out of ``total`` clients in scope."""

    points: list[MapPoint]
    total: int
    revenue_shown: float | None
    revenue_total: float | None

    @property
    def uses_scores(self) -> bool:
        """True when the snapshot carries value and potential scores (the matrix axes) for the points."""
        return any(p.value_score is not None and p.potential_score is not None for p in self.points)


def _score_expr(key: str) -> ColumnElement[float]:
    # The promoted column; else tolerant of where the analysis stored the matrix axes: top level of details, or
    # among the features.
    return func.coalesce(getattr(SnapshotClient, key), _json_float(key), _json_float("features", key))


def map_points(
    db: Session,
    snapshot_id: int,
    scope: ClientScope,
    limit: int = MAP_LIMIT,
    *,
    totals: tuple[int, float | None] | None = None,
) -> MapData:
    """The ``limit`` largest clients in scope by revenue, with what the portfolio map needs.

    ``totals`` are the clients and revenue TTM in scope when the caller knows them (per-owner totals).
    """
    where = (SnapshotClient.snapshot_id == snapshot_id, scope.clause())
    rows = db.execute(
        select(
            SnapshotClient.client_id,
            SnapshotClient.name,
            SnapshotClient.revenue_ttm,
            SnapshotClient.margin_ttm,
            SnapshotClient.headroom,
            _score_expr("value_score"),
            _score_expr("potential_score"),
            SnapshotClient.risk_level,
            SnapshotClient.segment,
        )
        .where(*where)
        .order_by(SnapshotClient.revenue_ttm.desc().nulls_last(), SnapshotClient.client_id)
        .limit(limit)
    ).all()
    if totals is None:
        found = db.execute(select(func.count(), func.sum(SnapshotClient.revenue_ttm)).where(*where)).one()
        totals = (int(found[0]), _opt_float(found[1]))
    total, revenue_total = totals
    points = [
        MapPoint(
            client_id=str(r[0]),
            name=str(r[1] or r[0]),
            revenue_ttm=_opt_float(r[2]),
            margin_ttm=_opt_float(r[3]),
            headroom=_opt_float(r[4]),
            value_score=_opt_float(r[5]),
            potential_score=_opt_float(r[6]),
            risk_level=r[7],
            segment=r[8],
        )
        for r in rows
    ]
    shown = math.fsum(p.revenue_ttm for p in points if p.revenue_ttm is not None)
    return MapData(points, int(total), shown if points else None, _opt_float(revenue_total))


# -- one client: app store --------------------------------------------------------------------------------------
def app_assessments(db: Session, client: SnapshotClient) -> list[Assessment]:
    """Assessments entered in the app for this (scoped) client, newest period first."""
    stmt = (
        select(Assessment)
        .where(Assessment.client_id == client.client_id)
        .order_by(Assessment.period.desc(), Assessment.entered_at.desc())
    )
    return list(db.scalars(stmt))


def client_snapshots(db: Session, scope: ClientScope, client: SnapshotClient) -> list[SnapshotClient]:
    """The same client in every snapshot where it is in scope, newest first (score and segment over time)."""
    stmt = (
        select(SnapshotClient)
        .join(Snapshot, Snapshot.id == SnapshotClient.snapshot_id)
        .where(SnapshotClient.client_id == client.client_id, scope.clause())
        .order_by(Snapshot.as_of.desc(), Snapshot.id.desc())
    )
    return list(db.scalars(stmt))


# -- one client: warehouse (read in salesfolio.web.client_data) -------------------------------------------------------
@dataclass(frozen=True)
class MonthValue:
    """Revenue and margin of one calendar month (``month`` is its first day; margin None without cost)."""

    month: dt.date
    revenue: float
    margin: float | None


def _rows(expr: ibis.Table) -> list[dict[str, Any]]:
    return list(expr.to_pyarrow().to_pylist())


def rep_names(warehouse: Warehouse) -> dict[str, str]:
    """rep_id -> name from the warehouse's reps table (reps without a name left out)."""
    t = warehouse.table("reps")
    return {str(r["rep_id"]): str(r["name"]) for r in _rows(t.select("rep_id", "name")) if r["name"]}


def sequence_or_empty(value: Any) -> Sequence[Any]:
    """``value`` when it is a list, else an empty list (tolerant reading of snapshot details)."""
    return value if isinstance(value, list) else []
