"""The Style leaderboard: style_shares, and the per-database secret that keys client hashes.

Revision ID: 0001_style_shares
Revises:
Create Date: 2026-11-01
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_style_shares"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    secrets_table = op.create_table(
        "store_secrets",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_store_secrets")),
    )
    op.bulk_insert(secrets_table, [{"name": "client_key", "value": secrets.token_bytes(32)}])

    op.create_table(
        "style_shares",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("nickname", sa.String(32), nullable=False),
        sa.Column("label_set", sa.String(64), nullable=False),
        sa.Column("style", sa.String(64), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("thumbnail", sa.LargeBinary(), nullable=False),
        sa.Column("delete_token_hash", sa.String(64), nullable=False),
        sa.Column("client_key_hash", sa.String(64), nullable=False),
        sa.CheckConstraint(
            "probability >= 0 AND probability <= 1",
            name=op.f("ck_style_shares_probability_range"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_style_shares")),
    )
    op.create_index(
        "ix_style_shares_leaderboard",
        "style_shares",
        ["label_set", "style", sa.text("probability DESC"), "id"],
    )
    op.create_index(
        "ix_style_shares_client_created", "style_shares", ["client_key_hash", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_style_shares_client_created", table_name="style_shares")
    op.drop_index("ix_style_shares_leaderboard", table_name="style_shares")
    op.drop_table("style_shares")
    op.drop_table("store_secrets")
