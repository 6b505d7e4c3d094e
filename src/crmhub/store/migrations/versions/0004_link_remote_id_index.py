"""link remote id index

Resolving references (a contact's AccountId → the linked account's hub id) looks links up by
connection and remote id alone; without this index that read every link of the connection.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_link_connection_id_remote_id", "link", ["connection_id", "remote_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_link_connection_id_remote_id", table_name="link")
