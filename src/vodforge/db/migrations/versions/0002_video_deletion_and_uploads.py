"""Videos: deleted_at (delete in any state, purged by the scheduler) and upload_expires_at.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("videos") as batch:
        batch.add_column(sa.Column("deleted_at", sa.Float(precision=53), nullable=True))
        batch.add_column(sa.Column("upload_expires_at", sa.Float(precision=53), nullable=True))
    op.create_index(
        "ix_videos_deleted",
        "videos",
        ["deleted_at"],
        postgresql_where=sa.text("deleted_at IS NOT NULL"),
        sqlite_where=sa.text("deleted_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_videos_deleted", table_name="videos")
    with op.batch_alter_table("videos") as batch:
        batch.drop_column("upload_expires_at")
        batch.drop_column("deleted_at")
