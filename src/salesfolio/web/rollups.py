"""Scoped totals of a snapshot read from its per-owner totals, and a cache for what still needs every row.

A snapshot stored by the analysis (or backfilled by the app store's revision 0004) carries
:class:`~salesfolio.store.models.SnapshotOwnerTotal` rows: sums per owner, team and segment. Every scope is a set
of owners (all, a team's, one rep's), so the overview's KPIs, segment table and forecast totals, the Team page's
holdings and the Segments page's value x potential table are sums over those few rows (about one per rep and
segment: 12,000 at 100,000 clients) instead of passes over every client. A snapshot without totals (written
before, or directly by a test) is aggregated from its rows by :mod:`salesfolio.web.queries`, the reference the
totals are tested against.

What cannot be summed per owner (the Pareto curve, the largest growers, heatmaps by other keys, the list's
counts) is computed from the rows once and kept in :class:`SnapshotCache`: a snapshot's rows never change, so a
result is valid for as long as the snapshot exists (keys carry its creation time, so a reused ID misses).
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from salesfolio.store.models import ROLLUP_VERSION, AuditEntry, Snapshot, SnapshotClient, SnapshotOwnerTotal
from salesfolio.web import groups, queries
from salesfolio.web.groups import ForecastTotals, GroupTotal
from salesfolio.web.i18n import Lang
from salesfolio.web.queries import ClientScope, Kpis, SegmentRow, _opt_float

T = TypeVar("T")

ROLLUP_KEYS: dict[str, Any] = {
    "owner": SnapshotOwnerTotal.owner_id,
    "team": SnapshotOwnerTotal.team,
    "segment": SnapshotOwnerTotal.segment,
}
"""Group keys (:data:`salesfolio.web.groups.GROUP_COLUMNS`) the per-owner totals can be grouped by."""


class SnapshotCache:
    """A thread-safe LRU of results computed from a snapshot's rows, keyed by snapshot, scope and question."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached value of ``key``, or ``compute()`` stored under it (computed outside the lock)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                found: T = self._items[key]
                return found
        value = compute()
        if value is None:  # nothing to keep (e.g. the warehouse was busy): asked again next time
            return value
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def clear(self) -> None:
        """Forget every result."""
        with self._lock:
            self._items.clear()


def cached(
    cache: SnapshotCache | None, snapshot: Snapshot, scope: ClientScope, question: Hashable, compute: Callable[[], T]
) -> T:
    """``compute()`` for this snapshot, scope and question, through ``cache`` (None: always computed)."""
    if cache is None:
        return compute()
    return cache.get_or_compute((snapshot.id, snapshot.created_at, scope, question), compute)


WAREHOUSE_CHANGES = ("import", "import.confirm")
"""Audit actions that change the warehouse's data: the CLI's import and a confirmed upload."""


def warehouse_version(db: Session) -> int:
    """A number that changes whenever the warehouse's data do: the newest import's audit entry (0 before any).

    Results read from the warehouse (the Team page's reps and hours) are cached under it, so an import through
    salesfolio shows on the next request. (Data written into the warehouse by other tools are not seen until the
    app restarts.)
    """
    newest = db.scalar(select(func.max(AuditEntry.id)).where(AuditEntry.action.in_(WAREHOUSE_CHANGES)))
    return int(newest or 0)


def has_totals(snapshot: Snapshot) -> bool:
    """Whether the snapshot's per-owner totals and promoted columns are stored."""
    return (snapshot.rollup_version or 0) >= ROLLUP_VERSION


def _where(snapshot_id: int, scope: ClientScope) -> tuple[ColumnElement[bool], ...]:
    t = SnapshotOwnerTotal
    return (t.snapshot_id == snapshot_id, scope.clause(owner=t.owner_id, team=t.team))


def portfolio_kpis(db: Session, snapshot: Snapshot, scope: ClientScope, cache: SnapshotCache | None = None) -> Kpis:
    """:func:`salesfolio.web.queries.portfolio_kpis` from the per-owner totals (the top 10 from the index).

    Once per snapshot and scope through ``cache``.
    """
    return cached(cache, snapshot, scope, "kpis", lambda: _portfolio_kpis(db, snapshot, scope))


def _portfolio_kpis(db: Session, snapshot: Snapshot, scope: ClientScope) -> Kpis:
    if not has_totals(snapshot):
        return queries.portfolio_kpis(db, snapshot.id, scope)
    t = SnapshotOwnerTotal
    row = db.execute(
        select(
            func.coalesce(func.sum(t.clients), 0),
            func.coalesce(func.sum(t.active_clients), 0),
            func.sum(t.revenue_ttm),
            func.sum(t.revenue_prior_ttm),
            func.sum(t.margin_ttm),
            func.sum(t.margin_prior_ttm),
            func.sum(t.margin_revenue_ttm),
            func.sum(t.expected_loss),
            func.coalesce(func.sum(t.high_risk), 0),
            func.sum(t.headroom),
            func.coalesce(func.sum(t.potential_clients), 0),
        ).where(*_where(snapshot.id, scope))
    ).one()
    return Kpis(
        clients=int(row[0]),
        active_clients=int(row[1]),
        revenue_ttm=_opt_float(row[2]),
        revenue_prior_ttm=_opt_float(row[3]),
        margin_ttm=_opt_float(row[4]),
        margin_prior_ttm=_opt_float(row[5]),
        margin_revenue_ttm=_opt_float(row[6]),
        top10_revenue=queries.top_revenue(db, snapshot.id, scope, 10),
        revenue_at_risk=_opt_float(row[7]),
        high_risk_clients=int(row[8]),
        headroom=_opt_float(row[9]),
        clients_with_potential=int(row[10]),
    )


def forecast_totals(
    db: Session, snapshot: Snapshot, scope: ClientScope, cache: SnapshotCache | None = None
) -> ForecastTotals:
    """:func:`salesfolio.web.groups.forecast_totals` from the per-owner totals, once per snapshot and scope."""
    return cached(cache, snapshot, scope, "forecast_totals", lambda: _forecast_totals(db, snapshot, scope))


def _forecast_totals(db: Session, snapshot: Snapshot, scope: ClientScope) -> ForecastTotals:
    if not has_totals(snapshot):
        return groups.forecast_totals(db, snapshot.id, scope)
    t = SnapshotOwnerTotal
    row = db.execute(
        select(
            func.coalesce(func.sum(t.forecast_clients), 0),
            func.sum(t.expected_revenue),
            func.sum(t.forecast_revenue_ttm),
        ).where(*_where(snapshot.id, scope))
    ).one()
    return ForecastTotals(int(row[0]), _opt_float(row[1]), _opt_float(row[2]))


def scope_revenue(db: Session, snapshot: Snapshot, scope: ClientScope) -> tuple[int, float | None] | None:
    """(clients, revenue TTM) in scope from the per-owner totals; None when the snapshot has none."""
    if not has_totals(snapshot):
        return None
    t = SnapshotOwnerTotal
    row = db.execute(
        select(func.coalesce(func.sum(t.clients), 0), func.sum(t.revenue_ttm)).where(*_where(snapshot.id, scope))
    ).one()
    return int(row[0]), _opt_float(row[1])


def group_totals(
    db: Session, snapshot: Snapshot, scope: ClientScope, keys: Sequence[str], cache: SnapshotCache | None = None
) -> list[GroupTotal]:
    """:func:`salesfolio.web.groups.group_totals`, from the per-owner totals where it can.

    From the totals when ``keys`` are among owner, team and segment, else from the rows; either way once per
    snapshot, scope and keys (``cache``).
    """
    return cached(
        cache, snapshot, scope, ("group_totals", tuple(keys)), lambda: _group_totals(db, snapshot, scope, keys)
    )


def _group_totals(db: Session, snapshot: Snapshot, scope: ClientScope, keys: Sequence[str]) -> list[GroupTotal]:
    if not has_totals(snapshot) or not set(keys) <= set(ROLLUP_KEYS):
        return groups.group_totals(db, snapshot.id, scope, keys)
    t = SnapshotOwnerTotal
    exprs = [ROLLUP_KEYS[k] for k in keys]
    stmt = (
        select(
            *exprs,
            func.sum(t.clients),
            func.sum(t.revenue_ttm),
            func.coalesce(func.sum(t.revenue_positive), 0.0),
            func.sum(t.margin_ttm),
            func.coalesce(func.sum(t.margin_positive), 0.0),
            func.sum(t.potential),
            func.sum(t.headroom),
            func.sum(t.expected_loss),
            func.sum(t.expected_revenue),
            func.sum(t.high_risk),
        )
        .where(*_where(snapshot.id, scope))
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
            high_risk=int(row[n + 9] or 0),
        )
        for row in db.execute(stmt)
    ]
    return sorted(out, key=lambda g: tuple((k is None, k or "") for k in g.keys))


def segment_mix(
    db: Session, snapshot: Snapshot, scope: ClientScope, cache: SnapshotCache | None = None
) -> dict[str | None, dict[str | None, int]]:
    """Clients per owner and segment in scope (owner -> segment -> clients): the Team page's mix.

    Once per snapshot and scope through ``cache`` (callers must not change the dictionaries).
    """
    return cached(cache, snapshot, scope, "segment_mix", lambda: _segment_mix(db, snapshot, scope))


def _segment_mix(db: Session, snapshot: Snapshot, scope: ClientScope) -> dict[str | None, dict[str | None, int]]:
    if not has_totals(snapshot):
        mix: dict[str | None, dict[str | None, int]] = {}
        for g in groups.group_totals(db, snapshot.id, scope, ["owner", "segment"]):
            mix.setdefault(g.keys[0], {})[g.keys[1]] = g.clients
        return mix
    t = SnapshotOwnerTotal
    # The totals' grain is (owner, team, segment) and a rep has one team, so rows are added up in Python (a few
    # thousand), without a SQL GROUP BY that would sort them first.
    out: dict[str | None, dict[str | None, int]] = {}
    for owner, segment, clients in db.execute(
        select(t.owner_id, t.segment, t.clients).where(*_where(snapshot.id, scope))
    ):
        counts = out.setdefault(owner, {})
        counts[segment] = counts.get(segment, 0) + int(clients)
    return out


def segment_summary(
    db: Session, snapshot: Snapshot, scope: ClientScope, cache: SnapshotCache | None = None
) -> list[SegmentRow]:
    """:func:`salesfolio.web.queries.segment_summary` from the per-owner totals (empty segments count as none)."""
    if not has_totals(snapshot):
        return cached(
            cache, snapshot, scope, "segment_summary", lambda: queries.segment_summary(db, snapshot.id, scope)
        )
    groups = group_totals(db, snapshot, scope, ["segment"], cache)
    return queries.segment_rows([(g.keys[0], g.clients, g.revenue_ttm, g.margin_ttm, g.headroom) for g in groups])


def lang_key(lang: Lang) -> tuple[str, str]:
    """What a figure's text depends on besides its data: the language and the workspace's currency."""
    return (lang.code, lang.currency)


def figure(
    cache: SnapshotCache | None,
    snapshot: Snapshot,
    scope: ClientScope,
    lang: Lang,
    question: Hashable,
    compute: Callable[[], str],
) -> str:
    """A page's figure JSON (:mod:`salesfolio.web.charts`), built once per snapshot, scope, language and question.

    ``question`` names the figure and carries every other input of ``compute`` that is not fixed by the snapshot
    and the scope (splits, sort orders, warehouse version): a figure is pure in its data, which never change
    for a snapshot, so the JSON can be served again as it is.
    """
    return cached(cache, snapshot, scope, ("figure", lang_key(lang), question), compute)


def map_points(
    db: Session, snapshot: Snapshot, scope: ClientScope, cache: SnapshotCache | None = None
) -> queries.MapData:
    """:func:`salesfolio.web.queries.map_points` with the scope's count and revenue from the per-owner totals.

    Read once per snapshot and scope through ``cache`` (the points of a snapshot never change).
    """
    return cached(
        cache, snapshot, scope, "map_points",
        lambda: queries.map_points(db, snapshot.id, scope, totals=scope_revenue(db, snapshot, scope)),
    )  # fmt: skip


def pareto_curve(
    db: Session, snapshot: Snapshot, scope: ClientScope, cache: SnapshotCache | None
) -> queries.ParetoCurve:
    """:func:`salesfolio.web.queries.pareto_curve`, once per snapshot and scope."""
    return cached(cache, snapshot, scope, "pareto", lambda: queries.pareto_curve(db, snapshot.id, scope))


def top_growers(
    db: Session, snapshot: Snapshot, scope: ClientScope, years: float, cache: SnapshotCache | None
) -> list[tuple[SnapshotClient, float]]:
    """:func:`salesfolio.web.groups.top_growers`, the clients and their growth found once per snapshot and scope.

    The rows themselves are read again, by primary key, in this request's session.
    """
    found = cached(
        cache, snapshot, scope, ("growers", years),
        lambda: [(row.client_id, growth) for row, growth in groups.top_growers(db, snapshot.id, scope, years)],
    )  # fmt: skip
    rows = queries.clients_by_id(db, snapshot.id, scope, [cid for cid, _ in found])
    return [(rows[cid], growth) for cid, growth in found if cid in rows]


SEARCH_ID_LIMIT = 5_000
"""At most this many matches of a search are handed to SQL as IDs; a search matching more uses ``LIKE``."""

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _folder(db: Session) -> Callable[[str], str]:
    """How the store's ``ILIKE`` folds case: SQLite's ``lower()`` and ``LIKE`` fold ASCII letters only."""
    if db.get_bind().dialect.name == "sqlite":
        return lambda text: text.translate(_ASCII_LOWER)
    return str.lower


@dataclass(frozen=True)
class NameIndex:
    """The searched text of every client in scope, case-folded as the store's ``ILIKE`` does, in one string.

    ``text`` holds, per client, its name and its ID each followed by a NUL (which a search for a NUL-free text
    cannot span); ``starts[i]`` is where client ``ids[i]``'s part begins.
    """

    ids: tuple[str, ...]
    starts: tuple[int, ...]
    text: str

    def find(self, needle: str, limit: int | None = None) -> list[str]:
        """The IDs whose name or ID contains ``needle`` (already folded; no NUL), in index order.

        With ``limit``, the search stops at ``limit + 1`` IDs (enough to tell that there are more).
        """
        found: list[str] = []
        at = self.text.find(needle)
        while at >= 0 and (limit is None or len(found) <= limit):
            row = bisect.bisect_right(self.starts, at) - 1
            found.append(self.ids[row])
            following = row + 1
            if following >= len(self.starts):
                break
            at = self.text.find(needle, self.starts[following])
        return found


def name_index(db: Session, snapshot: Snapshot, scope: ClientScope, cache: SnapshotCache | None) -> NameIndex:
    """The :class:`NameIndex` of the clients in scope, read once per snapshot and scope through ``cache``."""

    def read() -> NameIndex:
        fold = _folder(db)
        stmt = select(SnapshotClient.client_id, SnapshotClient.name).where(
            SnapshotClient.snapshot_id == snapshot.id, scope.clause()
        )
        ids: list[str] = []
        starts: list[int] = []
        parts: list[str] = []
        at = 0
        for cid, name in db.execute(stmt):
            part = f"{name or ''}\x00{cid}\x00"
            ids.append(cid)
            starts.append(at)
            parts.append(part)
            at += len(part)
        return NameIndex(tuple(ids), tuple(starts), fold("".join(parts)))

    return cached(cache, snapshot, scope, "name_index", read)


def search_matches(
    db: Session, snapshot: Snapshot, scope: ClientScope, text: str, cache: SnapshotCache | None
) -> list[str] | None:
    """The IDs of the clients in scope whose name or ID contains ``text`` as :func:`queries.like_pattern` does.

    From the cached :func:`name_index` (a substring search in memory instead of a pass over the name index in
    SQL). None when there is no cache, no text, a text with a NUL, or more than :data:`SEARCH_ID_LIMIT` matches:
    the caller searches with ``LIKE`` then.
    """
    text = text.strip()
    if cache is None or not text or "\x00" in text:
        return None
    found = name_index(db, snapshot, scope, cache).find(_folder(db)(text), SEARCH_ID_LIMIT)
    return found if len(found) <= SEARCH_ID_LIMIT else None


def count_clients(
    db: Session, snapshot: Snapshot, scope: ClientScope, query: queries.ClientQuery, cache: SnapshotCache | None
) -> int:
    """How many clients the list shows for ``query`` (search and filters; not sort or page), once per snapshot."""
    question = ("count", query.q.strip(), tuple(sorted((k, v) for k, v in query.filters.items() if v)))
    return cached(
        cache, snapshot, scope, question,
        lambda: queries.count_clients(
            db, snapshot.id, scope, query, search_matches(db, snapshot, scope, query.q, cache)
        ),
    )  # fmt: skip


def list_clients(
    db: Session,
    snapshot: Snapshot,
    scope: ClientScope,
    query: queries.ClientQuery,
    cache: SnapshotCache | None,
    total: int | None = None,
) -> queries.ClientPage:
    """:func:`salesfolio.web.queries.list_clients` with the count and the search's matches from ``cache``."""
    if total is None:
        total = count_clients(db, snapshot, scope, query, cache)
    matching = search_matches(db, snapshot, scope, query.q, cache)
    return queries.list_clients(db, snapshot.id, scope, query, total=total, matching=matching)
