"""The rate limit's own record of writes: recent_writes, one row per share or post, kept for the
window whatever becomes of the entry, so deleting entries does not lift the limit. The entry
tables' (client, created_at) indexes, which the limit read before, go.

Revision ID: 0003_recent_writes
Revises: 0002_gallery
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_recent_writes"
down_revision: str | Sequence[str] | None = "0002_gallery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recent_writes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_key_hash", sa.String(64), nullable=False),
        sa.Column("table_name", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recent_writes")),
    )
    op.create_index("ix_recent_writes_client", "recent_writes",
                    ["client_key_hash", "table_name", "created_at"])
    op.create_index("ix_recent_writes_created", "recent_writes", ["created_at"])
    op.drop_index("ix_style_shares_client_created", table_name="style_shares")
    op.drop_index("ix_gallery_photos_client_created", table_name="gallery_photos")


def downgrade() -> None:
    op.create_index("ix_gallery_photos_client_created", "gallery_photos",
                    ["client_key_hash", "created_at"])
    op.create_index("ix_style_shares_client_created", "style_shares",
                    ["client_key_hash", "created_at"])
    op.drop_index("ix_recent_writes_created", table_name="recent_writes")
    op.drop_index("ix_recent_writes_client", table_name="recent_writes")
    op.drop_table("recent_writes")
