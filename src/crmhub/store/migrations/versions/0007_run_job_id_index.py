"""index run (job_id, id): a job's newest run in one seek

The jobs page shows each job's newest run; run ids are ULIDs, so that is the job's greatest id. The
(job_id, created_at) index made the database read every run of each listed job; this one finds the
newest with a single seek, and serves a job's history in id order.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_run_job_id_id", "run", ["job_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_run_job_id_id", table_name="run")
