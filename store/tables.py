"""The store's tables, as typed SQLAlchemy 2 mappings.

The schema itself is made by the Alembic migrations in `store/migrations/versions/`, never by
`create_all`; these classes must describe what the migrations build (a test compares the two).
Every table that takes public posts (`StyleShare`, `GalleryPhoto`) carries the same four
bookkeeping columns (id, created_at, delete_token_hash, client_key_hash), so `store.entries` can
delete and rate-limit any of them. `GalleryTag` hangs off `GalleryPhoto` and goes with it.
`RecentWrite` is the rate limit's own record of the last minute's writes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints, so a later migration can drop or alter them by name on either engine.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

NICKNAME_MAX_CHARS = 32
NAME_MAX_CHARS = 64
HASH_HEX_CHARS = 64
TAG_MAX_CHARS = 32


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on both engines.

    PostgreSQL stores `timestamptz`; SQLite has no time zones, so the value is stored as naive
    UTC text and read back as aware UTC. Naive datetimes are refused on the way in, because
    their zone would be a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class StoreSecret(Base):
    """Random secrets made once per database by the first migration.

    `client_key` keys the HMAC that turns a client's address into `client_key_hash`, so the
    stored hash cannot be reversed by trying every IPv4 address without this row too.
    """

    __tablename__ = "store_secrets"

    name: Mapped[str] = mapped_column(String(NAME_MAX_CHARS), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class StyleShare(Base):
    """One result shared on the Style tab's leaderboard."""

    __tablename__ = "style_shares"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    nickname: Mapped[str] = mapped_column(String(NICKNAME_MAX_CHARS), nullable=False)
    label_set: Mapped[str] = mapped_column(String(NAME_MAX_CHARS), nullable=False)
    style: Mapped[str] = mapped_column(String(NAME_MAX_CHARS), nullable=False)
    probability: Mapped[float] = mapped_column(Float, nullable=False)
    source: Mapped[str] = mapped_column(String(NAME_MAX_CHARS), nullable=False)
    thumbnail: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    # sha256 of the delete token, hex; the token itself is shown once and never stored.
    delete_token_hash: Mapped[str] = mapped_column(String(HASH_HEX_CHARS), nullable=False)
    # HMAC-SHA256 of the client's address, hex: the rate limit records it with each write
    # (`RecentWrite`), and this copy says which client made the entry.
    client_key_hash: Mapped[str] = mapped_column(String(HASH_HEX_CHARS), nullable=False)

    __table_args__ = (
        CheckConstraint("probability >= 0 AND probability <= 1", name="probability_range"),
        # top() and style_counts() read only this index: it holds every column they rank and
        # group by, in the leaderboard's own order, so they never touch the wide rows (each
        # carries a thumbnail) until the few winners are fetched.
        Index("ix_style_shares_leaderboard", "label_set", "style", probability.desc(), "id"),
    )


class GalleryPhoto(Base):
    """One photo posted to the Tags tab's gallery, re-encoded by the store (no metadata)."""

    __tablename__ = "gallery_photos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # The stored image's size in pixels, at most 1024 a side.
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    # sha256 of the delete token, hex; the token itself is shown once and never stored.
    delete_token_hash: Mapped[str] = mapped_column(String(HASH_HEX_CHARS), nullable=False)
    # HMAC-SHA256 of the client's address, hex: the rate limit records it with each write
    # (`RecentWrite`), and this copy says which client made the entry.
    client_key_hash: Mapped[str] = mapped_column(String(HASH_HEX_CHARS), nullable=False)
    # The grid's JPEG, a few kilobytes. The two images come last: SQLite reads a row's columns
    # in order, so every column before them is read without walking a blob's overflow pages.
    thumbnail: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    # The photo as re-encoded JPEG, at most 1024 px a side; read only when one photo is shown.
    image: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)

    __table_args__ = (
        CheckConstraint("width >= 1 AND height >= 1", name="size_positive"),
        # The gallery's page order (newest first: read backwards); an unfiltered page reads
        # this index and then only the photos on the page.
        Index("ix_gallery_photos_newest", "created_at", "id"),
    )


class GalleryTag(Base):
    """One tag of one gallery photo. Deleting the photo deletes its tags (ON DELETE CASCADE).

    The primary key leads with the tag, so finding the photos with a tag is a range scan of
    the key alone; the index on photo_id reads one photo's tags (and serves the cascade). On
    SQLite the table is WITHOUT ROWID: the key is the table, so neither lookup needs a second
    b-tree and each row is stored once instead of twice.
    """

    __tablename__ = "gallery_tags"

    tag: Mapped[str] = mapped_column(String(TAG_MAX_CHARS), nullable=False)
    photo_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("gallery_photos.id", ondelete="CASCADE"), nullable=False)

    __table_args__ = (
        PrimaryKeyConstraint("tag", "photo_id"),
        Index("ix_gallery_tags_photo_id", "photo_id"),
        {"sqlite_with_rowid": False},
    )


class RecentWrite(Base):
    """One write a client made to a table of public entries (a share, a post), kept for the
    rate limit's window (`store.entries.WINDOW`) whatever becomes of the entry: deleting an
    entry does not give its client the write back. Rows older than the window are removed as
    new writes come."""

    __tablename__ = "recent_writes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # HMAC-SHA256 of the client's address, hex, as the entries carry it.
    client_key_hash: Mapped[str] = mapped_column(String(HASH_HEX_CHARS), nullable=False)
    # The table written to: shares and posts are limited separately.
    table_name: Mapped[str] = mapped_column(String(NAME_MAX_CHARS), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        # The limit counts one client's writes to one table in the last minute.
        Index("ix_recent_writes_client", "client_key_hash", "table_name", "created_at"),
        # Writes older than the window are found and removed by age.
        Index("ix_recent_writes_created", "created_at"),
    )
