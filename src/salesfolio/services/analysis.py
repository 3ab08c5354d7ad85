"""Run an analysis on a workspace and store it as a snapshot (the numbers of one review period)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pandas as pd
from sqlalchemy import Integer, Select, Table, case, delete, func, insert, literal, select, update
from sqlalchemy.orm import Session

from salesfolio.analytics.portfolio import PortfolioAnalysis, analyse_portfolio, plain_values
from salesfolio.contract import TABLES
from salesfolio.reports.export import format_for, write_table
from salesfolio.services import audit
from salesfolio.store.models import ROLLUP_VERSION, Snapshot, SnapshotClient, SnapshotOwnerTotal
from salesfolio.workspace import Workspace

PROMOTED = (
    "name", "owner_id", "industry", "region", "country", "size_class", "contract_type", "revenue_ttm",
    "margin_ttm", "growth", "potential", "headroom", "score", "band", "abc_revenue", "abc_margin", "segment",
    "cts_segment", "rfm_segment", "risk_level", "expected_loss", "n_signals", "churn_probability", "p_alive",
    "expected_revenue", "revenue_prior_ttm", "margin_prior_ttm", "margin_pct_ttm", "cost_to_serve_ttm", "value_score",
    "potential_score", "rfm_score",
)  # fmt: skip
"""Per-client results stored as real (indexed, filterable) columns of ``snapshot_clients``; the features among
them (from ``revenue_prior_ttm`` on) stay in ``details["features"]`` as well, for the client page."""

DETAIL_FEATURES = (
    "revenue_prior_ttm", "margin_prior_ttm", "margin_pct_ttm", "margin_pct_prior_ttm", "margin_erosion",
    "cost_coverage", "orders_ttm", "orders_prior_ttm", "orders_total", "first_purchase", "last_purchase",
    "recency_days", "tenure_days", "frequency", "avg_order_value", "median_gap_days", "order_gap_ratio",
    "categories_ttm", "categories_prior_ttm", "lost_categories", "returns_share", "trend_slope", "cost_to_serve_ttm",
    "net_contribution", "relationship", "strategic_fit", "share_of_wallet", "pipeline_weighted", "pipeline_open",
    "win_rate", "days_since_last_opportunity", "hours_ttm", "owner_source", "status", "parent_id", "value_score",
    "potential_score", "rfm_score", "whitespace_value", "expected_purchases", "expected_growth", "signals_summary",
)  # fmt: skip
"""Further per-client values kept in ``snapshot_clients.details["features"]`` for the client page."""


class AnalysisError(RuntimeError):
    """The analysis could not run (no data, a broken warehouse); the message says what to do."""


@dataclass
class AnalysisRun:
    """A finished analysis: the portfolio result and the snapshot it was stored as."""

    result: PortfolioAnalysis
    snapshot_id: int

    @property
    def clients(self) -> pd.DataFrame:
        """The per-client table."""
        return self.result.clients


def run_analysis(
    ws: Workspace, *, as_of: dt.date, username: str | None = None, label: str | None = None
) -> AnalysisRun:
    """Analyse the workspace's warehouse as of ``as_of`` and store a snapshot in the app store."""
    with ws.warehouse() as wh:
        tables = {name: wh.table(name) for name in TABLES}
        if wh.row_count("invoice_lines") == 0 and wh.row_count("clients") == 0:
            raise AnalysisError("the warehouse has no clients and no invoice lines yet: run salesfolio import first")
        try:
            result = analyse_portfolio(tables, as_of, ws.config.analysis)
        except ValueError as exc:
            raise AnalysisError(str(exc)) from exc
    teams = _rep_teams(ws)
    with ws.sessions.begin() as session:
        snapshot = Snapshot(
            label=label or f"{as_of.isoformat()}",
            as_of=as_of,
            created_by=username,
            config=ws.config.analysis.model_dump(mode="json"),
            summary=result.summary,
            warnings=result.warnings,
            models=result.models,
            n_clients=len(result.clients),
        )
        session.add(snapshot)
        session.flush()
        rows = snapshot_rows(snapshot.id, result, teams)
        # A Core insert of the table: every row has every column, so one executemany per chunk. (The ORM's bulk
        # insert leaves out None values and so splits 100,000 rows into thousands of batches by their pattern of
        # missing values; every row sets name, n_signals and details, the only columns whose default is not None,
        # so the stored rows are the same.)
        table = cast(Table, SnapshotClient.__table__)
        for start in range(0, len(rows), 5000):
            session.execute(insert(table), rows[start : start + 5000])
        store_aggregates(session, snapshot.id)
        audit.record(
            session,
            "analysis.run",
            username=username,
            object_type="snapshot",
            object_id=str(snapshot.id),
            as_of=as_of.isoformat(),
            clients=len(rows),
        )
        snapshot_id = snapshot.id
    return AnalysisRun(result=result, snapshot_id=snapshot_id)


def _rep_teams(ws: Workspace) -> dict[str, str]:
    """rep_id -> team, so a manager's scope can be a filter on the snapshot rows."""
    with ws.warehouse() as wh:
        reps = wh.table("reps").select("rep_id", "team").execute()
    return {str(r): str(t) for r, t in zip(reps["rep_id"], reps["team"], strict=True) if pd.notna(t)}


def snapshot_rows(snapshot_id: int, result: PortfolioAnalysis, teams: dict[str, str]) -> list[dict[str, Any]]:
    """The ``snapshot_clients`` rows of a result: promoted columns plus the JSON details."""
    frame = result.clients
    promoted = [c for c in PROMOTED if c in frame.columns]
    features = [c for c in DETAIL_FEATURES if c in frame.columns]
    # Column by column (plain_values), not value by value: 100,000 clients x 70 values are 7 M conversions.
    n = len(frame)
    promoted_values = list(zip(*(plain_values(frame[c]) for c in promoted), strict=True)) if promoted else [()] * n
    feature_values = list(zip(*(plain_values(frame[c]) for c in features), strict=True)) if features else [()] * n
    rows = []
    client_ids = frame["client_id"].tolist()
    for cid_value, values, feature_row in zip(client_ids, promoted_values, feature_values, strict=True):
        cid = str(cid_value)
        row: dict[str, Any] = {"client_id": cid, **dict(zip(promoted, values, strict=True))}
        feat = dict(zip(features, feature_row, strict=True))
        row["snapshot_id"] = snapshot_id
        row["name"] = row.get("name") or cid
        row["n_signals"] = int(row.get("n_signals") or 0)
        if row.get("rfm_score") is not None:
            row["rfm_score"] = str(row["rfm_score"])
        owner = row.get("owner_id")
        row["team"] = teams.get(str(owner)) if owner is not None else None
        details = dict(result.details.get(cid, {}))
        details["features"] = feat
        row["details"] = details
        rows.append(row)
    return rows


def owner_totals_select(snapshot_id: int) -> Select[Any]:
    """The :class:`~salesfolio.store.models.SnapshotOwnerTotal` rows of a snapshot, as one ``GROUP BY`` query.

    Grouped by owner, team and segment (empty text as None); sums follow SQL ``SUM`` (None when no client of the
    group has the value), ``*_positive`` add positive values only. Revision 0004 of the app store backfills old
    snapshots with the same query.
    """
    c = SnapshotClient
    owner, team, segment = (func.nullif(col, "") for col in (c.owner_id, c.team, c.segment))

    def positive(column: Any) -> Any:
        return func.coalesce(func.sum(case((column > 0, column), else_=0.0)), 0.0)

    return (
        select(
            literal(snapshot_id, Integer),
            owner,
            team,
            segment,
            func.count(),
            func.count().filter(c.revenue_ttm > 0),
            func.sum(c.revenue_ttm),
            positive(c.revenue_ttm),
            func.sum(c.revenue_prior_ttm),
            func.sum(c.margin_ttm),
            positive(c.margin_ttm),
            func.sum(c.margin_prior_ttm),
            func.sum(c.revenue_ttm).filter(c.margin_ttm.is_not(None)),
            func.sum(c.potential),
            func.count().filter(c.potential.is_not(None)),
            func.sum(c.headroom),
            func.sum(c.expected_loss),
            func.count().filter(c.risk_level == "high"),
            func.sum(c.expected_revenue),
            func.count().filter(c.expected_revenue.is_not(None)),
            func.sum(c.revenue_ttm).filter(c.expected_revenue.is_not(None)),
        )
        .where(c.snapshot_id == snapshot_id)
        .group_by(owner, team, segment)
    )


OWNER_TOTAL_COLUMNS = (
    "snapshot_id", "owner_id", "team", "segment", "clients", "active_clients", "revenue_ttm", "revenue_positive",
    "revenue_prior_ttm", "margin_ttm", "margin_positive", "margin_prior_ttm", "margin_revenue_ttm", "potential",
    "potential_clients", "headroom", "expected_loss", "high_risk", "expected_revenue", "forecast_clients",
    "forecast_revenue_ttm",
)  # fmt: skip
"""The columns :func:`owner_totals_select` fills, in its order."""


def store_aggregates(session: Session, snapshot_id: int) -> None:
    """Store the per-owner totals of a snapshot whose rows are in place, and mark the snapshot as aggregated.

    Runs inside the caller's transaction (the analysis stores rows and totals together). Any earlier totals of
    the snapshot are replaced, so it can be run again after rows were corrected.
    """
    session.execute(delete(SnapshotOwnerTotal).where(SnapshotOwnerTotal.snapshot_id == snapshot_id))
    target = cast(Table, SnapshotOwnerTotal.__table__)
    session.execute(insert(target).from_select(list(OWNER_TOTAL_COLUMNS), owner_totals_select(snapshot_id)))
    session.execute(update(Snapshot).where(Snapshot.id == snapshot_id).values(rollup_version=ROLLUP_VERSION))


def latest_snapshot_id(ws: Workspace) -> int | None:
    """The newest snapshot's id, or None."""
    with ws.sessions() as session:
        return session.scalar(select(Snapshot.id).order_by(Snapshot.created_at.desc(), Snapshot.id.desc()).limit(1))


def export_clients(frame: pd.DataFrame, path: Path) -> None:
    """Write the per-client table to ``path`` (.csv, .xlsx or .parquet, from the extension)."""
    write_table(frame, path, format_for(path))
