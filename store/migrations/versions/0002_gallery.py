"""The Tags gallery: gallery_photos, and gallery_tags (one row per tag of a photo).

gallery_tags is keyed (tag, photo_id), so a search by tag is a range scan of the key, and is
made WITHOUT ROWID on SQLite, where the key is then the table itself. Its foreign key deletes a
photo's tags with the photo (store.database turns SQLite's foreign keys on for every
connection). A later migration that rebuilds gallery_tags in SQLite's batch mode must pass
`sqlite_with_rowid=False` again: reflection does not carry it over.

Revision ID: 0002_gallery
Revises: 0001_style_shares
Create Date: 2026-11-15
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_gallery"
down_revision: str | Sequence[str] | None = "0001_style_shares"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gallery_photos",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("delete_token_hash", sa.String(64), nullable=False),
        sa.Column("client_key_hash", sa.String(64), nullable=False),
        sa.Column("thumbnail", sa.LargeBinary(), nullable=False),
        sa.Column("image", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(
            "width >= 1 AND height >= 1", name=op.f("ck_gallery_photos_size_positive")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gallery_photos")),
    )
    op.create_index("ix_gallery_photos_newest", "gallery_photos", ["created_at", "id"])
    op.create_index(
        "ix_gallery_photos_client_created", "gallery_photos", ["client_key_hash", "created_at"]
    )

    op.create_table(
        "gallery_tags",
        sa.Column("tag", sa.String(32), nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["photo_id"], ["gallery_photos.id"], ondelete="CASCADE",
            name=op.f("fk_gallery_tags_photo_id_gallery_photos"),
        ),
        sa.PrimaryKeyConstraint("tag", "photo_id", name=op.f("pk_gallery_tags")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_gallery_tags_photo_id", "gallery_tags", ["photo_id"])


def downgrade() -> None:
    op.drop_index("ix_gallery_tags_photo_id", table_name="gallery_tags")
    op.drop_table("gallery_tags")
    op.drop_index("ix_gallery_photos_client_created", table_name="gallery_photos")
    op.drop_index("ix_gallery_photos_newest", table_name="gallery_photos")
    op.drop_table("gallery_photos")
