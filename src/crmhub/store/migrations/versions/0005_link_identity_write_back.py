"""link identity route and pending hub-id write-back

``matched_by`` records how a link was made (the identification route of its hub record: ``created``,
``key``, ``match:<attribute>``, ``outbound``, …), shown in a record's lineage. ``write_back_pending``
marks a link whose hub id still has to be stamped into the remote record (``stamp_hub_id_field``):
set in the page's transaction, cleared once the CRM accepted the stamp, so a run killed in between
finishes the stamp on its next run.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("link") as batch:
        batch.add_column(sa.Column("matched_by", sa.String(length=63), nullable=True))
        batch.add_column(
            sa.Column("write_back_pending", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_index(
        "ix_link_write_back_pending",
        "link",
        ["connection_id", "remote_object"],
        unique=False,
        sqlite_where=sa.text("write_back_pending"),
        postgresql_where=sa.text("write_back_pending"),
    )


def downgrade() -> None:
    op.drop_index("ix_link_write_back_pending", table_name="link")
    with op.batch_alter_table("link") as batch:
        batch.drop_column("write_back_pending")
        batch.drop_column("matched_by")
