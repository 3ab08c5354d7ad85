"""What the client page and ``/api/clients/{id}/history`` read from the warehouse, read once per data version.

The client's 24 monthly sums, its open opportunities and the assessments imported for it come from the warehouse,
which is opened read-only for the request (a connection held by the server would lock a DuckDB file against the
CLI's imports). On DuckDB the three are read with plain SQL on the opened connection: the same aggregation as
:func:`salesfolio.analytics.timeseries.monthly_revenue_expr` and the same filters as
:func:`open_opportunities` and :func:`warehouse_assessments` (the Ibis reference, the path of every other
backend), without three Ibis compiles and table look-ups. The result is kept in the app's
:class:`~salesfolio.web.rollups.SnapshotCache` under the snapshot (its date sets the window), the user's scope, the
client and :func:`~salesfolio.web.rollups.warehouse_version`, so an import through salesfolio shows on the next
request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from salesfolio.analytics.timeseries import MonthWindow, add_months, monthly_revenue_expr
from salesfolio.contract import ASSESSMENTS, INVOICE_LINES, OPPORTUNITIES
from salesfolio.store.models import Snapshot, SnapshotClient
from salesfolio.warehouse import Warehouse
from salesfolio.web import rollups
from salesfolio.web.queries import ClientScope, MonthValue, _rows
from salesfolio.web.rollups import SnapshotCache

HISTORY_MONTHS = 24


@dataclass(frozen=True)
class ClientWarehouseData:
    """A client's monthly history, open opportunities and imported assessments (rows as the warehouse has them).

    Shared between requests through the cache: read it, do not change it.
    """

    history: list[MonthValue]
    opportunities: list[dict[str, Any]]
    assessments: list[dict[str, Any]]


def monthly_history(warehouse: Warehouse, client: SnapshotClient, as_of: dt.date, months: int = 24) -> list[MonthValue]:
    """Revenue and margin per month for the ``months`` complete months up to ``as_of``, empty months as 0.

    Uses :func:`salesfolio.analytics.timeseries.monthly_revenue_expr` (computed inside the warehouse engine).
    """
    lines = warehouse.table("invoice_lines")
    expr = monthly_revenue_expr(lines.filter(lines.client_id == client.client_id), as_of, months)
    return month_values(expr.to_pyarrow().to_pylist(), as_of, months)


def month_values(rows: Sequence[dict[str, Any]], as_of: dt.date, months: int = 24) -> list[MonthValue]:
    """The ``months`` months up to ``as_of`` from rows of (month, revenue, margin), the months without a row as 0."""
    found: dict[dt.date, tuple[float, float | None]] = {}
    for row in rows:
        month = row["month"]
        day = month.date() if isinstance(month, dt.datetime) else month
        margin = row["margin"]
        found[day] = (float(row["revenue"] or 0.0), None if margin is None else float(margin))
    window = MonthWindow.ending_at(as_of, months)
    # A month without invoices has no revenue and, when the client's lines carry costs at all, no margin either.
    empty_margin = 0.0 if any(margin is not None for _, margin in found.values()) else None
    out = []
    for i in range(months):
        day = add_months(window.first_day, i)
        revenue, margin = found.get(day, (0.0, empty_margin))
        out.append(MonthValue(day, revenue, margin))
    return out


def open_opportunities(warehouse: Warehouse, client: SnapshotClient) -> list[dict[str, Any]]:
    """Open opportunities of this client (no close date and no outcome), largest weighted value first."""
    t = warehouse.table(OPPORTUNITIES.name)
    expr = t.filter(t.client_id == client.client_id, t.closed.isnull(), t.won.isnull())
    return weighted_opportunities(_rows(expr.select(*OPPORTUNITIES.names)))


def weighted_opportunities(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Opportunity rows with their ``weighted`` value (value x probability), largest first."""
    for row in rows:
        value, probability = row.get("value"), row.get("probability")
        row["weighted"] = None if value is None or probability is None else float(value) * float(probability)
    return sorted(rows, key=lambda r: (-(r["weighted"] or 0.0), str(r["opportunity_id"])))


def warehouse_assessments(warehouse: Warehouse, client: SnapshotClient) -> list[dict[str, Any]]:
    """Assessments imported into the warehouse for this client, newest period first."""
    t = warehouse.table(ASSESSMENTS.name)
    return newest_first(_rows(t.filter(t.client_id == client.client_id).select(*ASSESSMENTS.names)))


def newest_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Assessment rows, newest period first."""
    return sorted(rows, key=lambda r: r["period"] or dt.date.min, reverse=True)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _duckdb_rows(raw: Any, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    return list(raw.execute(sql, params).to_arrow_table().to_pylist())


def _read_duckdb(warehouse: Warehouse, client_id: str, as_of: dt.date, months: int) -> ClientWarehouseData:
    raw = warehouse.con.con
    present = {
        str(r[0])
        for r in raw.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_catalog = current_database() AND table_schema = current_schema()"
        ).fetchall()
    }
    window = MonthWindow.ending_at(as_of, months)
    history: list[dict[str, Any]] = []
    if INVOICE_LINES.name in present:
        date, revenue, cost = (_q(INVOICE_LINES.column(c).name) for c in ("date", "revenue", "cost"))
        history = _duckdb_rows(
            raw,
            f"SELECT date_trunc('month', {date}) AS month, sum({revenue}) AS revenue, "
            f"sum({revenue} - {cost}) AS margin FROM {_q(INVOICE_LINES.name)} "
            f"WHERE {_q(INVOICE_LINES.column('client_id').name)} = ? AND {date} BETWEEN ? AND ? GROUP BY 1",
            [client_id, window.first_day, window.last_day],
        )
    opportunities: list[dict[str, Any]] = []
    if OPPORTUNITIES.name in present:
        opportunities = _duckdb_rows(
            raw,
            f"SELECT {', '.join(_q(n) for n in OPPORTUNITIES.names)} FROM {_q(OPPORTUNITIES.name)} "
            "WHERE client_id = ? AND closed IS NULL AND won IS NULL",
            [client_id],
        )
    assessments: list[dict[str, Any]] = []
    if ASSESSMENTS.name in present:
        assessments = _duckdb_rows(
            raw,
            f"SELECT {', '.join(_q(n) for n in ASSESSMENTS.names)} FROM {_q(ASSESSMENTS.name)} WHERE client_id = ?",
            [client_id],
        )
    return ClientWarehouseData(
        month_values(history, as_of, months),
        weighted_opportunities(opportunities),
        newest_first(assessments),
    )


def read_client_data(
    warehouse: Warehouse, client: SnapshotClient, as_of: dt.date, months: int = HISTORY_MONTHS
) -> ClientWarehouseData:
    """The client's warehouse data: plain SQL on DuckDB, the Ibis queries of :mod:`~salesfolio.web.queries` else."""
    if warehouse.backend == "duckdb":
        return _read_duckdb(warehouse, client.client_id, as_of, months)
    return ClientWarehouseData(
        monthly_history(warehouse, client, as_of, months),
        open_opportunities(warehouse, client),
        warehouse_assessments(warehouse, client),
    )


def client_data(
    db: Session,
    snapshot: Snapshot,
    scope: ClientScope,
    client: SnapshotClient,
    cache: SnapshotCache | None,
    open_warehouse: Callable[[], Any],
) -> ClientWarehouseData | None:
    """:func:`read_client_data` for a client the user may see, once per snapshot, scope, client and data version.

    ``open_warehouse`` is a context manager factory yielding the read-only warehouse or None while it is busy
    (:func:`salesfolio.web.deps.open_warehouse`); None is returned then and not kept.
    """

    def read() -> ClientWarehouseData | None:
        with open_warehouse() as warehouse:
            return None if warehouse is None else read_client_data(warehouse, client, snapshot.as_of)

    question = ("client_warehouse", client.client_id, rollups.warehouse_version(db))
    return rollups.cached(cache, snapshot, scope, question, read)
