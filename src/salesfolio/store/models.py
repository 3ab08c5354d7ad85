"""App-store tables (SQLAlchemy 2 declarative models).

The warehouse holds the company's data (invoice lines, accounts, pipeline); the app store holds what salesfolio
itself creates: users, analysis snapshots with their per-client results, the team's assessments, and an audit log.
Later workflow objects (account plans, initiatives, reviews) are added here with a migration each.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

ROLES = ("admin", "board", "manager", "rep")
"""admin: everything incl. users and settings; board: reads everything; manager: own team; rep: own clients."""

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """Now in UTC, timezone-aware (the one clock the store uses)."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base with constraint names that are the same on SQLite and PostgreSQL."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    """A person who logs in. ``rep_id`` ties a rep to the warehouse's reps table; ``team`` scopes a manager."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    rep_id: Mapped[str | None] = mapped_column(String(100), default=None)
    team: Mapped[str | None] = mapped_column(String(100), default=None)
    language: Mapped[str] = mapped_column(String(8), default="en")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Snapshot(Base):
    """One analysis run: the numbers of one review period, with the configuration that produced them."""

    __tablename__ = "snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(100))
    as_of: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(80), default=None)
    status: Mapped[str] = mapped_column(String(20), default="open")
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    warnings: Mapped[list[Any]] = mapped_column(JSON, default=list)
    models: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    n_clients: Mapped[int] = mapped_column(Integer, default=0)
    rollup_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """:data:`ROLLUP_VERSION` once the snapshot's aggregates are stored (see :class:`SnapshotOwnerTotal`)."""

    clients: Mapped[list[SnapshotClient]] = relationship(
        back_populates="snapshot", cascade="all, delete-orphan", passive_deletes=True
    )


class SnapshotClient(Base):
    """One client's results in a snapshot.

    The columns people filter, sort and scope by are real columns (indexed); everything else (all features,
    criterion contributions, signals, whitespace) is in ``details``.
    """

    __tablename__ = "snapshot_clients"
    __table_args__ = (
        Index("ix_snapshot_clients_owner", "snapshot_id", "owner_id"),
        Index("ix_snapshot_clients_team", "snapshot_id", "team"),
        # The list's sort keys, with the client ID that breaks ties, so a page is read off the index (see
        # salesfolio.web.queries.list_clients); the name index also serves the search (name and ID in one entry).
        Index("ix_snapshot_clients_score", "snapshot_id", "score", "client_id"),
        Index("ix_snapshot_clients_revenue", "snapshot_id", "revenue_ttm", "client_id"),
        Index("ix_snapshot_clients_name", "snapshot_id", "name", "client_id"),
        Index("ix_snapshot_clients_growth", "snapshot_id", "growth", "client_id"),
        Index("ix_snapshot_clients_headroom", "snapshot_id", "headroom", "client_id"),
        Index("ix_snapshot_clients_expected_loss", "snapshot_id", "expected_loss", "client_id"),
        # The list's equality filters (owner and team above).
        Index("ix_snapshot_clients_segment", "snapshot_id", "segment"),
        Index("ix_snapshot_clients_risk_level", "snapshot_id", "risk_level"),
        Index("ix_snapshot_clients_abc_revenue", "snapshot_id", "abc_revenue"),
        Index("ix_snapshot_clients_industry", "snapshot_id", "industry"),
        Index("ix_snapshot_clients_region", "snapshot_id", "region"),
        # One client across snapshots (the client page's history of scores).
        Index("ix_snapshot_clients_client_id", "client_id"),
    )

    snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshots.id", ondelete="CASCADE"), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(300), default="")
    owner_id: Mapped[str | None] = mapped_column(String(100), default=None)
    team: Mapped[str | None] = mapped_column(String(100), default=None)
    industry: Mapped[str | None] = mapped_column(String(100), default=None)
    region: Mapped[str | None] = mapped_column(String(100), default=None)
    country: Mapped[str | None] = mapped_column(String(100), default=None)
    size_class: Mapped[str | None] = mapped_column(String(50), default=None)
    contract_type: Mapped[str | None] = mapped_column(String(50), default=None)
    revenue_ttm: Mapped[float | None] = mapped_column(Float, default=None)
    margin_ttm: Mapped[float | None] = mapped_column(Float, default=None)
    growth: Mapped[float | None] = mapped_column(Float, default=None)
    potential: Mapped[float | None] = mapped_column(Float, default=None)
    headroom: Mapped[float | None] = mapped_column(Float, default=None)
    score: Mapped[float | None] = mapped_column(Float, default=None)
    band: Mapped[str | None] = mapped_column(String(20), default=None)
    abc_revenue: Mapped[str | None] = mapped_column(String(10), default=None)
    abc_margin: Mapped[str | None] = mapped_column(String(10), default=None)
    segment: Mapped[str | None] = mapped_column(String(30), default=None)
    cts_segment: Mapped[str | None] = mapped_column(String(30), default=None)
    rfm_segment: Mapped[str | None] = mapped_column(String(30), default=None)
    risk_level: Mapped[str | None] = mapped_column(String(10), default=None)
    expected_loss: Mapped[float | None] = mapped_column(Float, default=None)
    n_signals: Mapped[int] = mapped_column(Integer, default=0)
    churn_probability: Mapped[float | None] = mapped_column(Float, default=None)
    p_alive: Mapped[float | None] = mapped_column(Float, default=None)
    expected_revenue: Mapped[float | None] = mapped_column(Float, default=None)
    # Features that pages aggregate or plot, promoted out of details["features"] (the JSON keeps them too).
    revenue_prior_ttm: Mapped[float | None] = mapped_column(Float, default=None)
    margin_prior_ttm: Mapped[float | None] = mapped_column(Float, default=None)
    margin_pct_ttm: Mapped[float | None] = mapped_column(Float, default=None)
    cost_to_serve_ttm: Mapped[float | None] = mapped_column(Float, default=None)
    value_score: Mapped[float | None] = mapped_column(Float, default=None)
    potential_score: Mapped[float | None] = mapped_column(Float, default=None)
    rfm_score: Mapped[str | None] = mapped_column(String(10), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    snapshot: Mapped[Snapshot] = relationship(back_populates="clients")


ROLLUP_VERSION = 1
"""What ``Snapshot.rollup_version`` says when the promoted columns and :class:`SnapshotOwnerTotal` rows of a
snapshot are filled (0: only the rows are; pages then aggregate the rows themselves)."""


class SnapshotOwnerTotal(Base):
    """Sums of one snapshot's clients per owner, team and segment, made once when the snapshot is stored.

    Every scope is a set of owners (all of them, a team's, one rep's), so a scoped total is a sum over these few
    rows (about one per rep and segment) instead of a pass over every client. Sums are None when no client of the
    group has the value (as SQL ``SUM`` over the clients); ``*_positive`` add positive values only; counts are 0.
    Owner, team and segment hold None for a missing or empty value.
    """

    __tablename__ = "snapshot_owner_totals"
    __table_args__ = (
        Index("ix_snapshot_owner_totals_owner", "snapshot_id", "owner_id"),
        Index("ix_snapshot_owner_totals_team", "snapshot_id", "team"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshots.id", ondelete="CASCADE"))
    owner_id: Mapped[str | None] = mapped_column(String(100), default=None)
    team: Mapped[str | None] = mapped_column(String(100), default=None)
    segment: Mapped[str | None] = mapped_column(String(30), default=None)
    clients: Mapped[int] = mapped_column(Integer, default=0)
    active_clients: Mapped[int] = mapped_column(Integer, default=0)
    """Clients with positive revenue TTM."""
    revenue_ttm: Mapped[float | None] = mapped_column(Float, default=None)
    revenue_positive: Mapped[float] = mapped_column(Float, default=0.0)
    revenue_prior_ttm: Mapped[float | None] = mapped_column(Float, default=None)
    margin_ttm: Mapped[float | None] = mapped_column(Float, default=None)
    margin_positive: Mapped[float] = mapped_column(Float, default=0.0)
    margin_prior_ttm: Mapped[float | None] = mapped_column(Float, default=None)
    margin_revenue_ttm: Mapped[float | None] = mapped_column(Float, default=None)
    """Revenue TTM of the clients that have a margin (the base of margin %)."""
    potential: Mapped[float | None] = mapped_column(Float, default=None)
    potential_clients: Mapped[int] = mapped_column(Integer, default=0)
    headroom: Mapped[float | None] = mapped_column(Float, default=None)
    expected_loss: Mapped[float | None] = mapped_column(Float, default=None)
    high_risk: Mapped[int] = mapped_column(Integer, default=0)
    expected_revenue: Mapped[float | None] = mapped_column(Float, default=None)
    forecast_clients: Mapped[int] = mapped_column(Integer, default=0)
    """Clients with an expected revenue (a forecast)."""
    forecast_revenue_ttm: Mapped[float | None] = mapped_column(Float, default=None)
    """Revenue TTM of the clients with a forecast (the comparison base of the forecast)."""


class Assessment(Base):
    """The team's judgement of a client for a period, entered in the app (imported ones live in the warehouse)."""

    __tablename__ = "assessments"
    __table_args__ = (UniqueConstraint("client_id", "period", name="uq_assessments_client_period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(100), index=True)
    period: Mapped[dt.date] = mapped_column(Date)
    potential: Mapped[float | None] = mapped_column(Float, default=None)
    relationship: Mapped[int | None] = mapped_column(Integer, default=None)
    strategic_fit: Mapped[int | None] = mapped_column(Integer, default=None)
    note: Mapped[str] = mapped_column(Text, default="")
    entered_by: Mapped[str] = mapped_column(String(80))
    entered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEntry(Base):
    """Who did what, when: logins, imports, analysis runs, settings and assessment changes."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    username: Mapped[str | None] = mapped_column(String(80), default=None)
    action: Mapped[str] = mapped_column(String(80))
    object_type: Mapped[str | None] = mapped_column(String(50), default=None)
    object_id: Mapped[str | None] = mapped_column(String(100), default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


IMPORT_STATUSES = ("validated", "failed", "loaded", "discarded")
"""validated: checked, waiting for confirmation; failed: the check or the load found errors; loaded: in the
warehouse; discarded: the admin dropped it (its files are deleted)."""


class ImportJob(Base):
    """An upload through the web app: its files, the validation (dry-run) report and, once confirmed, the load.

    ``id`` is random (hex) and names the upload's folder ``uploads/<id>/`` in the workspace; ``files`` lists the
    stored names and sizes in bytes, ``report`` the dry run's :meth:`salesfolio.ingest.ImportReport.to_dict` and
    ``load_report`` the real import's.
    """

    __tablename__ = "import_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_by: Mapped[str | None] = mapped_column(String(80), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    status: Mapped[str] = mapped_column(String(20), default="validated")
    table: Mapped[str | None] = mapped_column(String(40), default=None)
    mapping_name: Mapped[str | None] = mapped_column(String(255), default=None)
    files: Mapped[list[Any]] = mapped_column(JSON, default=list)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    load_report: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    finished_by: Mapped[str | None] = mapped_column(String(80), default=None)


ANALYSIS_STATUSES = ("queued", "running", "done", "failed")


class AnalysisJob(Base):
    """An analysis run requested from the web app and carried out in the background (see services.jobs)."""

    __tablename__ = "analysis_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_by: Mapped[str | None] = mapped_column(String(80), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    as_of: Mapped[dt.date] = mapped_column(Date)
    label: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    message: Mapped[str] = mapped_column(Text, default="")
    snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("snapshots.id", ondelete="SET NULL"), default=None)
