"""snapshot aggregates: promoted features, per-owner totals, indexes for the list

Pages that aggregate over every client of a snapshot (overview, segments, team) read per-owner sums
(``snapshot_owner_totals``) instead of every row; the features they sum or plot leave the ``details`` JSON for
real columns; the client list gets indexes for its sort keys and filters, the client history one on
``client_id``. Existing snapshots are backfilled (promoted columns from the JSON, then the totals) so pages stay
fast for them after ``salesfolio upgrade-db``.

The backfill is written here in plain SQL expressions on purpose (a migration must not change when the models
do); it computes what ``salesfolio.services.analysis.store_aggregates`` computes for a new snapshot, and
``tests/test_web_scale.py`` checks that the two agree.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 03:45:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLLUP_VERSION = 1

PROMOTED_FLOATS = (
    "revenue_prior_ttm", "margin_prior_ttm", "margin_pct_ttm", "cost_to_serve_ttm", "value_score", "potential_score",
)  # fmt: skip
SORT_INDEXES = ("growth", "headroom", "expected_loss")
FILTER_INDEXES = ("segment", "risk_level", "abc_revenue", "industry", "region")

clients = sa.table(
    "snapshot_clients",
    sa.column("snapshot_id", sa.Integer),
    sa.column("owner_id", sa.String),
    sa.column("team", sa.String),
    sa.column("segment", sa.String),
    sa.column("revenue_ttm", sa.Float),
    sa.column("margin_ttm", sa.Float),
    sa.column("potential", sa.Float),
    sa.column("headroom", sa.Float),
    sa.column("expected_loss", sa.Float),
    sa.column("expected_revenue", sa.Float),
    sa.column("risk_level", sa.String),
    *(sa.column(name, sa.Float) for name in PROMOTED_FLOATS),
)
snapshots = sa.table("snapshots", sa.column("id", sa.Integer), sa.column("rollup_version", sa.Integer))


def _json_float(dialect: str, *path: str) -> str:
    if dialect == "sqlite":
        return f"json_extract(details, '$.{'.'.join(path)}')"
    steps = "".join(f"->'{p}'" for p in path[:-1])
    return f"CAST(details{steps}->>'{path[-1]}' AS DOUBLE PRECISION)"


def _json_text(dialect: str, *path: str) -> str:
    if dialect == "sqlite":
        return f"CAST(json_extract(details, '$.{'.'.join(path)}') AS TEXT)"
    steps = "".join(f"->'{p}'" for p in path[:-1])
    return f"details{steps}->>'{path[-1]}'"


def _backfill_columns(dialect: str) -> None:
    assignments = [f"{name} = {_json_float(dialect, 'features', name)}" for name in PROMOTED_FLOATS[:4]]
    # The matrix axes may sit at the top of details or among the features (as the pages read them).
    assignments += [
        f"{name} = COALESCE({_json_float(dialect, name)}, {_json_float(dialect, 'features', name)})"
        for name in PROMOTED_FLOATS[4:]
    ]
    assignments.append(f"rfm_score = {_json_text(dialect, 'features', 'rfm_score')}")
    op.execute(f"UPDATE snapshot_clients SET {', '.join(assignments)}")


def _owner_totals(snapshot_id: int) -> sa.Select[Any]:
    c = clients.c
    owner, team, segment = (sa.func.nullif(col, "") for col in (c.owner_id, c.team, c.segment))

    def positive(col: Any) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((col > 0, col), else_=0.0)), 0.0)

    return (
        sa.select(
            sa.literal(snapshot_id, sa.Integer),
            owner,
            team,
            segment,
            sa.func.count(),
            sa.func.count().filter(c.revenue_ttm > 0),
            sa.func.sum(c.revenue_ttm),
            positive(c.revenue_ttm),
            sa.func.sum(c.revenue_prior_ttm),
            sa.func.sum(c.margin_ttm),
            positive(c.margin_ttm),
            sa.func.sum(c.margin_prior_ttm),
            sa.func.sum(c.revenue_ttm).filter(c.margin_ttm.is_not(None)),
            sa.func.sum(c.potential),
            sa.func.count().filter(c.potential.is_not(None)),
            sa.func.sum(c.headroom),
            sa.func.sum(c.expected_loss),
            sa.func.count().filter(c.risk_level == "high"),
            sa.func.sum(c.expected_revenue),
            sa.func.count().filter(c.expected_revenue.is_not(None)),
            sa.func.sum(c.revenue_ttm).filter(c.expected_revenue.is_not(None)),
        )
        .where(c.snapshot_id == snapshot_id)
        .group_by(owner, team, segment)
    )


TOTAL_COLUMNS = (
    "snapshot_id", "owner_id", "team", "segment", "clients", "active_clients", "revenue_ttm", "revenue_positive",
    "revenue_prior_ttm", "margin_ttm", "margin_positive", "margin_prior_ttm", "margin_revenue_ttm", "potential",
    "potential_clients", "headroom", "expected_loss", "high_risk", "expected_revenue", "forecast_clients",
    "forecast_revenue_ttm",
)  # fmt: skip


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name in PROMOTED_FLOATS:
        op.add_column("snapshot_clients", sa.Column(name, sa.Float(), nullable=True))
    op.add_column("snapshot_clients", sa.Column("rfm_score", sa.String(length=10), nullable=True))
    op.add_column("snapshots", sa.Column("rollup_version", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "snapshot_owner_totals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.String(length=100), nullable=True),
        sa.Column("team", sa.String(length=100), nullable=True),
        sa.Column("segment", sa.String(length=30), nullable=True),
        sa.Column("clients", sa.Integer(), nullable=False),
        sa.Column("active_clients", sa.Integer(), nullable=False),
        sa.Column("revenue_ttm", sa.Float(), nullable=True),
        sa.Column("revenue_positive", sa.Float(), nullable=False),
        sa.Column("revenue_prior_ttm", sa.Float(), nullable=True),
        sa.Column("margin_ttm", sa.Float(), nullable=True),
        sa.Column("margin_positive", sa.Float(), nullable=False),
        sa.Column("margin_prior_ttm", sa.Float(), nullable=True),
        sa.Column("margin_revenue_ttm", sa.Float(), nullable=True),
        sa.Column("potential", sa.Float(), nullable=True),
        sa.Column("potential_clients", sa.Integer(), nullable=False),
        sa.Column("headroom", sa.Float(), nullable=True),
        sa.Column("expected_loss", sa.Float(), nullable=True),
        sa.Column("high_risk", sa.Integer(), nullable=False),
        sa.Column("expected_revenue", sa.Float(), nullable=True),
        sa.Column("forecast_clients", sa.Integer(), nullable=False),
        sa.Column("forecast_revenue_ttm", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["snapshots.id"],
            name=op.f("fk_snapshot_owner_totals_snapshot_id_snapshots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshot_owner_totals")),
    )
    op.create_index("ix_snapshot_owner_totals_owner", "snapshot_owner_totals", ["snapshot_id", "owner_id"])
    op.create_index("ix_snapshot_owner_totals_team", "snapshot_owner_totals", ["snapshot_id", "team"])

    # Sort indexes carry the client ID that breaks ties; the old two-column ones are replaced.
    op.drop_index("ix_snapshot_clients_score", table_name="snapshot_clients")
    op.drop_index("ix_snapshot_clients_revenue", table_name="snapshot_clients")
    op.create_index("ix_snapshot_clients_score", "snapshot_clients", ["snapshot_id", "score", "client_id"])
    op.create_index("ix_snapshot_clients_revenue", "snapshot_clients", ["snapshot_id", "revenue_ttm", "client_id"])
    op.create_index("ix_snapshot_clients_name", "snapshot_clients", ["snapshot_id", "name", "client_id"])
    for name in SORT_INDEXES:
        op.create_index(f"ix_snapshot_clients_{name}", "snapshot_clients", ["snapshot_id", name, "client_id"])
    for name in FILTER_INDEXES:
        op.create_index(f"ix_snapshot_clients_{name}", "snapshot_clients", ["snapshot_id", name])
    op.create_index("ix_snapshot_clients_client_id", "snapshot_clients", ["client_id"])

    # Backfill: the promoted columns out of the JSON, then the totals of every snapshot.
    _backfill_columns(dialect)
    totals = sa.table("snapshot_owner_totals", *(sa.column(name) for name in TOTAL_COLUMNS))
    bind = op.get_bind()
    for (snapshot_id,) in bind.execute(sa.select(snapshots.c.id)).all():
        bind.execute(sa.insert(totals).from_select(list(TOTAL_COLUMNS), _owner_totals(int(snapshot_id))))
        bind.execute(sa.update(snapshots).where(snapshots.c.id == snapshot_id).values(rollup_version=ROLLUP_VERSION))
    if dialect == "sqlite":
        op.execute("ANALYZE snapshot_clients")  # planner statistics for the new indexes


def downgrade() -> None:
    op.drop_index("ix_snapshot_clients_client_id", table_name="snapshot_clients")
    for name in (*FILTER_INDEXES, *SORT_INDEXES, "name", "revenue", "score"):
        op.drop_index(f"ix_snapshot_clients_{name}", table_name="snapshot_clients")
    op.create_index("ix_snapshot_clients_revenue", "snapshot_clients", ["snapshot_id", "revenue_ttm"])
    op.create_index("ix_snapshot_clients_score", "snapshot_clients", ["snapshot_id", "score"])
    op.drop_index("ix_snapshot_owner_totals_team", table_name="snapshot_owner_totals")
    op.drop_index("ix_snapshot_owner_totals_owner", table_name="snapshot_owner_totals")
    op.drop_table("snapshot_owner_totals")
    with op.batch_alter_table("snapshots") as batch_op:
        batch_op.drop_column("rollup_version")
    with op.batch_alter_table("snapshot_clients") as batch_op:
        for name in (*PROMOTED_FLOATS, "rfm_score"):
            batch_op.drop_column(name)
