"""The Tags tab's gallery: post a photo with its tags, search by tags, show one, retag, delete.

```python
from store import gallery
posted = gallery.post(photo_array, ["sky", "Golden  hour"], client=request.client.host)
posted.token    # show it once: it is the only way to edit the tags or delete the photo
gallery.search(["sky", "sea"], page=1, per_page=24)   # photos with both tags, newest first
gallery.photo(posted.id)                              # the stored image and its tags
gallery.edit_tags(posted.id, posted.token, ["sky", "sunset"])
gallery.tag_counts()                                  # (("sky", 12), ("sea", 4), ...)
gallery.delete(posted.id, posted.token)
```

Tags. Wherever tags come in (post, edit_tags, search) they are normalised the same way: NFC,
whitespace stripped and collapsed to single spaces, lower case; duplicates after that count
once. A tag is then 1 to 32 characters: letters of any script (with their combining marks),
digits, spaces, hyphens and underscores. That is the tagger's own rule (`models.tags`), so any
tag it suggests can be posted; and with no quote, bracket or semicolon allowed, a tag can be
shown in HTML or a log as it is. A photo has 1 to 30 tags. The table keeps no order, so tags
come back in code-point order.

Images. The stored photo is re-encoded by `store.thumbnails`: EXIF orientation applied, RGB,
transparency on white, at most 1024 pixels a side, JPEG with no metadata at all (EXIF, GPS, ICC,
comments), plus a 256-pixel JPEG for the grid. A gallery is public: nothing of the upload but
its pixels may reach it.

Every write is one transaction, checked completely before it starts, so a refusal or a failure
leaves nothing half-stored. Each function takes `database=None`, meaning
`store.default_database()`; tests pass their own. Refusals are `store.Refused` subclasses with a
one-line message (see `store.errors`).
"""

from __future__ import annotations

import dataclasses
import math
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from PIL import Image
from sqlalchemy import delete as sql_delete
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from store.database import Database, default_database
from store.entries import check_entry_id, check_token, delete_entry, enforce_rate_limit
from store.errors import InvalidEntry, NoSuchEntry, WrongToken, shown
from store.tables import TAG_MAX_CHARS, GalleryPhoto, GalleryTag
from store.thumbnails import clean_picture, encode_jpeg
from store.tokens import hash_delete_token, new_delete_token, token_matches
from store.validation import check_client, check_whole

PHOTO, POSTED = "photo", "posted"
"""How refusals name a gallery entry and its making ("wrong delete token for photo 3")."""

MAX_TAGS = 30
# A list this long is refused before any tag in it is read: nobody types 300 tags, however
# many of them repeat, and the check should not cost more than the post.
MAX_TAG_ITEMS = 10 * MAX_TAGS
PHOTO_MAX_SIDE = 1024
PHOTO_JPEG_QUALITY = 90
GRID_SIDE = 256
GRID_JPEG_QUALITY = 85
MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000

TAG_ACCEPTS = f"1 to {TAG_MAX_CHARS} letters, digits, spaces, hyphens or underscores"
_TAG_PUNCTUATION = frozenset(" -_")


def _or_default(database: Database | None) -> Database:
    return database if database is not None else default_database()


@dataclass(frozen=True)
class PostedPhoto:
    """A photo that landed in the gallery.

    Attributes:
        id: the photo's id.
        token: the only way to edit its tags or delete it. It is shown to the user once and not
            stored anywhere (the database keeps its sha256).
    """

    id: int
    token: str


@dataclass(frozen=True)
class GalleryThumb:
    """One photo of a gallery page: what the grid shows."""

    id: int
    created_at: datetime
    tags: tuple[str, ...]
    # JPEG, at most 256 px on the longest side, no metadata; left out of repr (kilobytes).
    thumbnail: bytes = dataclasses.field(repr=False)


@dataclass(frozen=True)
class GalleryPage:
    """One page of a search, newest first.

    Attributes:
        photos: the page's photos (empty past the last page).
        page: the page asked for, from 1.
        pages: how many pages the search fills; at least 1, so an empty gallery is one empty
            page rather than "page 1 of 0".
        total: how many photos match, over all pages.
    """

    photos: tuple[GalleryThumb, ...]
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class GalleryEntry:
    """One photo in full, as stored."""

    id: int
    created_at: datetime
    width: int
    height: int
    # JPEG, at most 1024 px a side, no metadata; left out of repr (up to a megabyte).
    image: bytes = dataclasses.field(repr=False)
    tags: tuple[str, ...]


# === Tags ===


def _is_tag_text(text: str) -> bool:
    """Letters, digits, spaces, hyphens and underscores; a combining mark (the vowel signs of
    Devanagari, a decomposed accent) only right after a letter, a digit or another mark."""
    after_alnum = False
    for char in text:
        if char.isalnum():
            after_alnum = True
        elif unicodedata.category(char).startswith("M"):
            if not after_alnum:
                return False
        elif char in _TAG_PUNCTUATION:
            after_alnum = False
        else:
            return False
    return True


def normalise_tag(value: object, field: str) -> str:
    """One tag as stored: NFC, whitespace stripped and collapsed, lower case.

    Raises:
        InvalidEntry: for `field`, when the result is not 1 to 32 letters, digits, spaces,
            hyphens or underscores.
    """
    if not isinstance(value, str):
        raise InvalidEntry(field, value, f"a tag of {TAG_ACCEPTS}")
    text = unicodedata.normalize("NFC", " ".join(value.split()).lower())
    if not text:
        raise InvalidEntry(field, value, TAG_ACCEPTS)
    if len(text) > TAG_MAX_CHARS:
        raise InvalidEntry(field, value, TAG_ACCEPTS,
                           described=f"{len(text)} characters ({shown(text[:20])}...)")
    if not _is_tag_text(text):
        raise InvalidEntry(field, value, TAG_ACCEPTS)
    return text


def normalise_tags(value: object, *, field: str = "tags", minimum: int = 1) -> tuple[str, ...]:
    """A list (or tuple) of tags, each normalised, duplicates dropped, in the order given.

    Args:
        value: the tags as the caller has them.
        field: the parameter's name; a bad tag is named `field[index]`.
        minimum: the fewest distinct tags accepted (1 for a photo, 0 for a search).

    Raises:
        InvalidEntry: not a list or tuple, fewer than `minimum` or more than 30 distinct tags,
            or a tag that `normalise_tag` refuses.
    """
    accepts = (f"a list of {minimum} to {MAX_TAGS} tags, each {TAG_ACCEPTS}" if minimum
               else f"a list of up to {MAX_TAGS} tags, each {TAG_ACCEPTS}")
    if not isinstance(value, list | tuple):
        raise InvalidEntry(field, value, accepts)
    if len(value) > MAX_TAG_ITEMS:
        raise InvalidEntry(field, value, accepts, described=f"{len(value)} tags")
    tags: dict[str, None] = {}
    for index, item in enumerate(value):
        tags[normalise_tag(item, f"{field}[{index}]")] = None
        if len(tags) > MAX_TAGS:
            raise InvalidEntry(field, value, accepts, described=f"{len(value)} tags")
    if len(tags) < minimum:
        raise InvalidEntry(field, value, accepts)
    return tuple(tags)


def _tags_of(session: Session, photo_ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
    """Each photo's tags, in code-point order (read through ix_gallery_tags_photo_id)."""
    found: dict[int, list[str]] = {}
    ids = list(photo_ids)
    if ids:
        for photo_id, tag in session.execute(
                select(GalleryTag.photo_id, GalleryTag.tag).where(GalleryTag.photo_id.in_(ids))):
            found.setdefault(photo_id, []).append(tag)
    # Sorted here, not in SQL: the two engines' collations order text differently.
    return {photo_id: tuple(sorted(tags)) for photo_id, tags in found.items()}


def _add_tags(session: Session, photo_id: int, tags: tuple[str, ...]) -> None:
    session.execute(insert(GalleryTag), [{"tag": tag, "photo_id": photo_id} for tag in tags])


def _entry(session: Session, photo_id: int) -> GalleryEntry | None:
    row = session.execute(
        select(GalleryPhoto.id, GalleryPhoto.created_at, GalleryPhoto.width,
               GalleryPhoto.height, GalleryPhoto.image).where(GalleryPhoto.id == photo_id)
    ).one_or_none()
    if row is None:
        return None
    return GalleryEntry(id=row.id, created_at=row.created_at, width=row.width,
                        height=row.height, image=row.image,
                        tags=_tags_of(session, [photo_id]).get(photo_id, ()))


# === The functions ===


def post(image: bytes | Image.Image | np.ndarray, tags: list[str] | tuple[str, ...], *,
         client: str, database: Database | None = None) -> PostedPhoto:
    """Store a photo and its tags in the gallery, in one transaction.

    Args:
        image: encoded image bytes (JPEG, PNG, WebP, GIF, BMP, TIFF), a PIL image or a uint8
            array; re-encoded as the module docstring says, so nothing but its pixels is kept.
        tags: 1 to 30 tags (see the module docstring); stored normalised.
        client: the poster's address or session id, for the rate limit; stored only as a keyed
            hash.
        database: None for `store.default_database()`.

    Returns:
        The new photo's id and its delete token, which only this return value ever holds.

    Raises:
        InvalidEntry: `image`, `tags` (or one tag, `tags[i]`) or `client` is not acceptable;
            nothing is stored.
        RateLimited: this client posted `database.shares_per_minute` photos in the last minute;
            nothing is stored.
    """
    tags = normalise_tags(tags)
    client = check_client(client)
    # The slow part, outside the transaction so the write lock is held only for the inserts.
    picture = clean_picture(image, field="image", max_side=PHOTO_MAX_SIDE)
    image_bytes = encode_jpeg(picture, PHOTO_JPEG_QUALITY)
    grid = picture.copy()
    grid.thumbnail((GRID_SIDE, GRID_SIDE), Image.Resampling.LANCZOS)
    thumbnail_bytes = encode_jpeg(grid, GRID_JPEG_QUALITY)

    database = _or_default(database)
    client_key_hash = database.client_key_hash(client)
    token = new_delete_token()
    with database.write(lock=client_key_hash) as session:
        now = database.clock()  # read under the lock, so posts are counted in commit order
        enforce_rate_limit(session, GalleryPhoto, client_key_hash, now,
                           database.shares_per_minute, actions="posts")
        row = GalleryPhoto(
            created_at=now, width=picture.width, height=picture.height,
            delete_token_hash=hash_delete_token(token), client_key_hash=client_key_hash,
            thumbnail=thumbnail_bytes, image=image_bytes,
        )
        session.add(row)
        session.flush()
        _add_tags(session, row.id, tags)
        posted = PostedPhoto(id=row.id, token=token)
    return posted


def search(tags: list[str] | tuple[str, ...] | None = (), *, page: int = 1, per_page: int = 24,
           database: Database | None = None, field: str = "tags") -> GalleryPage:
    """One page of the gallery, newest first; with tags, only the photos that have all of them.

    Args:
        tags: up to 30 tags, normalised as for `post`; empty (or None) for every photo. A tag
            no photo has matches nothing.
        page: which page, from 1; past the last one it is empty, with the totals still right.
        per_page: photos a page, 1 to 100.
        database: None for `store.default_database()`.
        field: how a refusal names `tags` (the caller's own name for them, e.g. "search").

    Raises:
        InvalidEntry: a tag, `page` or `per_page` is not acceptable.
    """
    wanted = normalise_tags(tags if tags is not None else (), field=field, minimum=0)
    page = check_whole("page", page, 1, MAX_PAGE)
    per_page = check_whole("per_page", per_page, 1, MAX_PER_PAGE)

    # The photos with every wanted tag, read from gallery_tags' primary key (tag, photo_id)
    # alone: one range of the key per tag. A photo has each tag at most once (the key), so
    # "all of them" is "as many rows as there are tags".
    matching = None
    if len(wanted) == 1:
        matching = select(GalleryTag.photo_id).where(GalleryTag.tag == wanted[0])
    elif wanted:
        matching = (select(GalleryTag.photo_id).where(GalleryTag.tag.in_(wanted))
                    .group_by(GalleryTag.photo_id).having(func.count() == len(wanted)))

    if matching is None:
        count_query = select(func.count()).select_from(GalleryPhoto)
        ids_query = select(GalleryPhoto.id)
    else:
        count_query = select(func.count()).select_from(matching.subquery())
        ids_query = select(GalleryPhoto.id).where(GalleryPhoto.id.in_(matching))
    # Ids first (ix_gallery_photos_newest, read backwards, serves the order), then only the
    # page's thumbnails: the sort never carries thousands of JPEGs along.
    ids_query = (ids_query.order_by(GalleryPhoto.created_at.desc(), GalleryPhoto.id.desc())
                 .limit(per_page).offset((page - 1) * per_page))
    # With several tags, matching (the GROUP BY) is the costly part, so the page's query also
    # counts its matches (a window count) rather than a second query matching them again. For
    # one tag or none the count is an index range, and a window would cost the page its top-N
    # sort: there a plain count is faster (benchmarks/gallery_search.py, at 10,000 photos).
    counts_itself = len(wanted) > 1
    if counts_itself:
        ids_query = ids_query.add_columns(func.count().over())

    with _or_default(database).read() as session:
        found = session.execute(ids_query).all()
        ids = [row[0] for row in found]
        if counts_itself and found:
            total = found[0][1]
        else:  # one tag or none; or past the last page, where no row carries the total
            total = session.scalar(count_query) or 0
        rows = {}
        tags_of: dict[int, tuple[str, ...]] = {}
        if ids:
            rows = {row.id: row for row in session.execute(
                select(GalleryPhoto.id, GalleryPhoto.created_at, GalleryPhoto.thumbnail)
                .where(GalleryPhoto.id.in_(ids)))}
            tags_of = _tags_of(session, ids)
    # A photo deleted between the queries (PostgreSQL reads each statement afresh) is left out.
    photos = tuple(
        GalleryThumb(id=photo_id, created_at=rows[photo_id].created_at,
                     tags=tags_of.get(photo_id, ()), thumbnail=rows[photo_id].thumbnail)
        for photo_id in ids if photo_id in rows
    )
    return GalleryPage(photos=photos, page=page, pages=max(1, math.ceil(total / per_page)),
                       total=total)


def photo(photo_id: int, *, database: Database | None = None) -> GalleryEntry:
    """One photo in full, with its tags.

    Raises:
        InvalidEntry: `photo_id` is not a whole number from 1.
        NoSuchEntry: there is no photo `photo_id`.
    """
    photo_id = check_entry_id(photo_id)
    with _or_default(database).read() as session:
        entry = _entry(session, photo_id)
    if entry is None:
        raise NoSuchEntry(photo_id, PHOTO)
    return entry


def edit_tags(photo_id: int, token: str, tags: list[str] | tuple[str, ...], *,
              database: Database | None = None) -> GalleryEntry:
    """Replace a photo's tags, with the token `post` returned, in one transaction.

    Args:
        photo_id: the photo.
        token: the delete token shown when it was posted.
        tags: the new tags, 1 to 30, checked and normalised as for `post`.
        database: None for `store.default_database()`.

    Returns:
        The photo as it now stands.

    Raises:
        InvalidEntry: `photo_id`, `token` or `tags` is malformed; nothing changes.
        NoSuchEntry: there is no photo `photo_id`.
        WrongToken: the token is not that photo's; its tags stay as they were.
    """
    photo_id = check_entry_id(photo_id)
    token = check_token(token, PHOTO, POSTED)
    tags = normalise_tags(tags)
    with _or_default(database).write() as session:
        # FOR UPDATE (PostgreSQL; SQLite's IMMEDIATE already excludes other writers): an edit
        # and a delete of the same photo run one after the other.
        stored_hash = session.scalars(
            select(GalleryPhoto.delete_token_hash).where(GalleryPhoto.id == photo_id)
            .with_for_update()
        ).one_or_none()
        if stored_hash is None:
            raise NoSuchEntry(photo_id, PHOTO)
        if not token_matches(token, stored_hash):
            raise WrongToken(photo_id, PHOTO, POSTED)
        session.execute(sql_delete(GalleryTag).where(GalleryTag.photo_id == photo_id))
        _add_tags(session, photo_id, tags)
        entry = _entry(session, photo_id)
    assert entry is not None  # the row is locked
    return entry


def delete(photo_id: int, token: str, *, database: Database | None = None) -> None:
    """Delete a photo, and its tags with it, with the token `post` returned.

    The tags go by the foreign key's ON DELETE CASCADE, in the same statement (SQLite enforces
    foreign keys on every connection `store.database` opens).

    Raises:
        InvalidEntry: `photo_id` or `token` is malformed.
        NoSuchEntry: there is no photo `photo_id`.
        WrongToken: the token is not that photo's; the photo stays.
    """
    delete_entry(_or_default(database), GalleryPhoto, photo_id, token, PHOTO, POSTED)


def tag_counts(*, database: Database | None = None) -> tuple[tuple[str, int], ...]:
    """Every tag with the number of photos that have it, most used first (ties in code-point
    order): for a tag cloud. Counted from gallery_tags' primary key alone."""
    query = select(GalleryTag.tag, func.count()).group_by(GalleryTag.tag)
    with _or_default(database).read() as session:
        counts = [(tag, count) for tag, count in session.execute(query)]
    return tuple(sorted(counts, key=lambda pair: (-pair[1], pair[0])))
