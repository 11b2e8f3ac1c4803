"""The Style tab's leaderboard: share a result, read the best per style, count, delete.

```python
from store import leaderboard
entry = leaderboard.share(nickname="ada", label_set="everyday", style="street",
                          label_sets={"everyday": ["casual", "street", ...]},
                          probability=0.91, source="zero-shot", thumbnail=photo_array,
                          client=request.client.host)
entry.delete_token    # show it once: it is the only way to delete the entry
leaderboard.top(style="street", label_set="everyday", limit=10)
leaderboard.style_counts(label_set="everyday")
leaderboard.delete(entry.id, entry.delete_token)
```

Each function takes `database=None`, meaning `store.default_database()`; tests pass their own.
Refusals are `store.Refused` subclasses with a one-line message (see `store.errors`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from PIL import Image
from sqlalchemy import func, select

from store.database import Database, default_database
from store.entries import delete_entry, enforce_rate_limit
from store.errors import InvalidEntry
from store.tables import NAME_MAX_CHARS, NICKNAME_MAX_CHARS, StyleShare
from store.thumbnails import make_thumbnail
from store.tokens import hash_delete_token, new_delete_token
from store.validation import (
    check_label,
    check_name,
    check_nickname,
    check_probability,
    check_whole,
)

MAX_TOP = 100
# A client key is an address or a session id; anything longer is not one.
CLIENT_MAX_CHARS = 256


def _or_default(database: Database | None) -> Database:
    return database if database is not None else default_database()


@dataclass(frozen=True)
class SharedEntry:
    """A share that landed.

    Attributes:
        id: the entry's id, shown on the leaderboard.
        delete_token: the only way to delete the entry. It is shown to the user once and not
            stored anywhere (the database keeps its sha256).
        created_at: when it was stored, aware UTC.
    """

    id: int
    delete_token: str
    created_at: datetime


@dataclass(frozen=True)
class LeaderboardEntry:
    """One row of the leaderboard. `rank` counts from 1 within its label set and style."""

    id: int
    rank: int
    nickname: str
    label_set: str
    style: str
    probability: float
    source: str
    created_at: datetime
    # JPEG, at most 160 px on the longest side, no metadata; left out of repr (kilobytes).
    thumbnail: bytes = field(repr=False)


@dataclass(frozen=True)
class StyleCount:
    """How many entries one style of one label set has."""

    label_set: str
    style: str
    count: int


def share(*, nickname: str, label_set: str, style: str,
          label_sets: Mapping[str, Collection[str]], probability: float, source: str,
          thumbnail: bytes | Image.Image | np.ndarray, client: str,
          database: Database | None = None) -> SharedEntry:
    """Store a style result on the leaderboard, in one transaction.

    Args:
        nickname: 1-32 printable characters once stripped, stored NFC-normalised; text that
            reads as SQL is refused (`store.validation.check_nickname`).
        label_set: the name of the label set the result came from; one of `label_sets`.
        style: the label shared; one of `label_sets[label_set]`.
        label_sets: every label set the app offers, name -> its labels. The store knows no
            labels of its own; a set not given here cannot be shared.
        probability: the style's probability, 0 to 1.
        source: where it came from ("zero-shot", "head", "vgg16"...), a short name.
        thumbnail: the photo, as `store.thumbnails.make_thumbnail` accepts it; it is
            re-encoded to a JPEG of at most 160 px with all metadata stripped.
        client: the sharer's address or session id, for the rate limit; stored only as a
            keyed hash.
        database: None for `store.default_database()`.

    Returns:
        The new entry's id and its delete token, which only this return value ever holds.

    Raises:
        InvalidEntry: a field is not acceptable (one line naming it); nothing is stored.
        RateLimited: this client shared `database.shares_per_minute` entries in the last
            minute; nothing is stored.
    """
    nickname = check_nickname("nickname", nickname, NICKNAME_MAX_CHARS)
    label_set, style = check_label(label_set, style, label_sets)
    probability = check_probability("probability", probability)
    source = check_name("source", source, NAME_MAX_CHARS)
    if not isinstance(client, str) or not client or len(client) > CLIENT_MAX_CHARS:
        raise InvalidEntry("client", client, f"the client's address or session id, 1 to "
                           f"{CLIENT_MAX_CHARS} characters")
    # The slow part, outside the transaction so the write lock is held only for the insert.
    thumbnail_bytes = make_thumbnail(thumbnail)

    database = _or_default(database)
    client_key_hash = database.client_key_hash(client)
    token = new_delete_token()
    with database.write(lock=client_key_hash) as session:
        now = database.clock()  # read under the lock, so entries are counted in commit order
        enforce_rate_limit(session, StyleShare, client_key_hash, now, database.shares_per_minute)
        row = StyleShare(
            created_at=now, nickname=nickname, label_set=label_set, style=style,
            probability=probability, source=source, thumbnail=thumbnail_bytes,
            delete_token_hash=hash_delete_token(token), client_key_hash=client_key_hash,
        )
        session.add(row)
        session.flush()
        entry = SharedEntry(id=row.id, delete_token=token, created_at=now)
    return entry


def top(*, style: str | None = None, label_set: str | None = None, limit: int = 10,
        database: Database | None = None) -> list[LeaderboardEntry]:
    """The `limit` most probable entries of each (label set, style), best first.

    Args:
        style: only this style (None: every style).
        label_set: only this label set (None: every set).
        limit: entries per style, 1 to 100.
        database: None for `store.default_database()`.

    Returns:
        Entries ordered by label set, style, then rank (probability descending; among equal
        probabilities, the earlier share first).
    """
    limit = check_whole("limit", limit, 1, MAX_TOP)
    if style is not None:
        style = check_name("style", style, NAME_MAX_CHARS)
    if label_set is not None:
        label_set = check_name("label_set", label_set, NAME_MAX_CHARS)

    rank = func.row_number().over(
        partition_by=(StyleShare.label_set, StyleShare.style),
        order_by=(StyleShare.probability.desc(), StyleShare.id),
    ).label("rank")
    # Rank ids only (ix_style_shares_leaderboard serves it alone), then fetch the few rows
    # that made it, thumbnails included: the window never drags 10,000 thumbnails along.
    ranked = select(StyleShare.id, rank)
    if style is not None:
        ranked = ranked.where(StyleShare.style == style)
    if label_set is not None:
        ranked = ranked.where(StyleShare.label_set == label_set)
    ranked = ranked.subquery()
    query = (
        select(StyleShare, ranked.c.rank)
        .join(ranked, ranked.c.id == StyleShare.id)
        .where(ranked.c.rank <= limit)
        .order_by(StyleShare.label_set, StyleShare.style, ranked.c.rank)
    )
    with _or_default(database).read() as session:
        return [
            LeaderboardEntry(
                id=row.id, rank=row_rank, nickname=row.nickname, label_set=row.label_set,
                style=row.style, probability=row.probability, source=row.source,
                created_at=row.created_at, thumbnail=row.thumbnail,
            )
            for row, row_rank in session.execute(query)
        ]


def style_counts(*, label_set: str | None = None,
                 database: Database | None = None) -> list[StyleCount]:
    """How many entries each style has, most first (for the leaderboard's chart).

    Args:
        label_set: only this label set (None: every set).
        database: None for `store.default_database()`.
    """
    if label_set is not None:
        label_set = check_name("label_set", label_set, NAME_MAX_CHARS)
    count = func.count().label("count")
    query = (
        select(StyleShare.label_set, StyleShare.style, count)
        .group_by(StyleShare.label_set, StyleShare.style)
        .order_by(count.desc(), StyleShare.label_set, StyleShare.style)
    )
    if label_set is not None:
        query = query.where(StyleShare.label_set == label_set)
    with _or_default(database).read() as session:
        return [StyleCount(label_set=ls, style=st, count=n) for ls, st, n in session.execute(query)]


def delete(entry_id: int, token: str, *, database: Database | None = None) -> None:
    """Delete a leaderboard entry with the token `share` returned.

    Raises:
        InvalidEntry: `entry_id` or `token` is malformed.
        NoSuchEntry: there is no entry `entry_id`.
        WrongToken: the token is not that entry's; the entry stays.
    """
    delete_entry(_or_default(database), StyleShare, entry_id, token)
