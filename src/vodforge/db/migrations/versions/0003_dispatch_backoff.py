"""Jobs: dispatch_failures and dispatch_after, so a failing submit is retried with backoff.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Plain ADD/DROP COLUMN, never batch mode: SQLite's batch mode copies the table, which would
# drop the job-event triggers of migration 0001 (SQLite has had DROP COLUMN since 3.35).


def upgrade() -> None:
    op.add_column(
        "jobs",
        sa.Column("dispatch_failures", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.add_column("jobs", sa.Column("dispatch_after", sa.Float(precision=53), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE jobs DROP COLUMN dispatch_after")
    op.execute("ALTER TABLE jobs DROP COLUMN dispatch_failures")
