"""index run (status, id) in place of run (status)

History filtered by status comes newest first (run ids are ULIDs): with the status alone the
database read every run of that status and sorted them for each page; (status, id) gives the page
in index order, and still serves every look-up by status (active runs).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_run_status_id", "run", ["status", "id"])
    op.drop_index("ix_run_status", table_name="run")


def downgrade() -> None:
    op.create_index("ix_run_status", "run", ["status"])
    op.drop_index("ix_run_status_id", table_name="run")
