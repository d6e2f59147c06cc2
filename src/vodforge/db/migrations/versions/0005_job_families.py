"""Jobs: parent_id, kind, spec and result, so a long video's job can parent chunk, audio and
stitch jobs (chunked encoding, SPEC §3 item 7).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Plain ADD COLUMN, never batch mode: SQLite's batch mode copies the table, which would drop
# the job-event triggers of migration 0001.


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.add_column(
            "jobs", sa.Column("parent_id", sa.String(36), sa.ForeignKey("jobs.id"), nullable=True)
        )
    else:
        # SQLite accepts REFERENCES on ADD COLUMN (the default is NULL) but Alembic's
        # add_column refuses any constraint there, so the statement is written out.
        op.execute("ALTER TABLE jobs ADD COLUMN parent_id VARCHAR(36) REFERENCES jobs (id)")
    op.add_column(
        "jobs",
        sa.Column("kind", sa.String(20), nullable=False, server_default=sa.text("'transcode'")),
    )
    op.add_column("jobs", sa.Column("spec", sa.Text(), nullable=True))
    op.add_column("jobs", sa.Column("result", sa.Text(), nullable=True))
    op.create_index("ix_jobs_parent_id", "jobs", ["parent_id"])
    op.create_index(
        "uq_jobs_one_stitch",
        "jobs",
        ["parent_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'stitch'"),
        sqlite_where=sa.text("kind = 'stitch'"),
    )


def downgrade() -> None:
    op.drop_index("uq_jobs_one_stitch", table_name="jobs")
    op.drop_index("ix_jobs_parent_id", table_name="jobs")
    for column in ("result", "spec", "kind", "parent_id"):
        op.execute(f"ALTER TABLE jobs DROP COLUMN {column}")
