"""What every table of public entries shares: delete by token, and the rate limit.

A table qualifies when it has the bookkeeping columns of `store.tables.StyleShare`: `id`,
`created_at`, `delete_token_hash` and `client_key_hash`. The Style leaderboard uses this now;
the Tags gallery will too.

The rate limit lives in the database, so it holds across threads and processes: a new entry is
added in the same transaction that counts the client's entries of the last `WINDOW`, and that
transaction holds the client's write lock (`Database.write(lock=client_key_hash)`), so two
concurrent shares from one client run one after the other and the second sees the first.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from store.database import Database
from store.errors import InvalidEntry, NoSuchEntry, RateLimited, WrongToken
from store.tokens import token_matches

WINDOW = timedelta(seconds=60)
# A token is 43 characters; anything far longer is not one, and is not worth hashing.
TOKEN_MAX_CHARS = 200
ENTRY_ID_MAX = 2**63 - 1


def enforce_rate_limit(session: Session, table: Any, client_key_hash: str, now: datetime,
                       limit: int, actions: str = "shares") -> None:
    """Refuse a new entry if this client already added `limit` in the `WINDOW` before `now`.

    Call it inside `Database.write(lock=client_key_hash)`, before adding the entry.

    Raises:
        RateLimited: with the seconds until the oldest counted entry leaves the window.
    """
    count, oldest = session.execute(
        select(func.count(), func.min(table.created_at)).where(
            table.client_key_hash == client_key_hash, table.created_at > now - WINDOW
        )
    ).one()
    if count >= limit:
        wait = max(1, math.ceil((oldest + WINDOW - now).total_seconds()))
        raise RateLimited(limit, wait, actions)


def check_entry_id(entry_id: object) -> int:
    """An entry id: an int from 1 (a bool is not an id)."""
    if isinstance(entry_id, bool) or not isinstance(entry_id, int) or not (
            1 <= entry_id <= ENTRY_ID_MAX):
        raise InvalidEntry("entry_id", entry_id, "a whole number from 1")
    return entry_id


def check_token(token: object, noun: str = "entry", made: str = "shared") -> str:
    # The message never repeats the token: it is a secret, or a near miss of one.
    accepts = f"the delete token shown when the {noun} was {made}"
    if not isinstance(token, str):
        raise InvalidEntry("token", token, accepts, described=f"a {type(token).__name__}")
    stripped = token.strip()
    if not stripped or len(stripped) > TOKEN_MAX_CHARS:
        raise InvalidEntry("token", token, accepts, described=f"{len(stripped)} characters")
    return stripped


def delete_entry(database: Database, table: Any, entry_id: object, token: object,
                 noun: str = "entry", made: str = "shared") -> None:
    """Delete one entry if `token` is the one shown when it was made (`noun` and `made` word
    the refusals: "photo", "posted").

    Raises:
        InvalidEntry: `entry_id` is not a positive int, or `token` is not a string of a token's
            size.
        NoSuchEntry: no entry has that id.
        WrongToken: the token is not this entry's; the entry stays.
    """
    entry_id = check_entry_id(entry_id)
    token = check_token(token, noun, made)
    with database.write() as session:
        # FOR UPDATE (PostgreSQL; SQLite's IMMEDIATE already excludes other writers): the row
        # cannot change between the check and the delete.
        stored_hash = session.scalars(
            select(table.delete_token_hash).where(table.id == entry_id).with_for_update()
        ).one_or_none()
        if stored_hash is None:
            raise NoSuchEntry(entry_id, noun)
        if not token_matches(token, stored_hash):
            raise WrongToken(entry_id, noun, made)
        session.execute(delete(table).where(table.id == entry_id))
