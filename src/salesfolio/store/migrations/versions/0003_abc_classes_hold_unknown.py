"""abc classes hold 'unknown'

snapshot_clients.abc_revenue / abc_margin were VARCHAR(1), but the analysis writes "unknown" when a client has no
margin (or revenue) to classify. SQLite ignores the length; PostgreSQL refuses the row, so no snapshot could be
stored there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("snapshot_clients") as batch_op:
        batch_op.alter_column("abc_revenue", existing_type=sa.String(length=1), type_=sa.String(length=10))
        batch_op.alter_column("abc_margin", existing_type=sa.String(length=1), type_=sa.String(length=10))


def downgrade() -> None:
    with op.batch_alter_table("snapshot_clients") as batch_op:
        batch_op.alter_column("abc_margin", existing_type=sa.String(length=10), type_=sa.String(length=1))
        batch_op.alter_column("abc_revenue", existing_type=sa.String(length=10), type_=sa.String(length=1))
