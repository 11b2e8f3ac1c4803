"""What every table of public entries shares: delete by token, and the rate limit.

A table qualifies when it has the bookkeeping columns of `store.tables.StyleShare`: `id`,
`created_at`, `delete_token_hash` and `client_key_hash`. The Style leaderboard uses this now;
the Tags gallery will too.

The rate limit lives in the database, so it holds across threads and processes. It counts the
client's writes of the last `WINDOW` in `recent_writes` (`store.tables.RecentWrite`), not the
entries still in the table: an entry deleted by its token still counts, so posting and deleting
in a loop is refused like posting. A new entry is added in the same transaction that counts and
records the write, and that transaction holds the client's write lock
(`Database.write(lock=client_key_hash)`), so two concurrent shares from one client run one
after the other and the second sees the first.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from store.database import Database
from store.errors import InvalidEntry, NoSuchEntry, RateLimited, WrongToken
from store.tables import RecentWrite
from store.tokens import token_matches

WINDOW = timedelta(seconds=60)
# A token is 43 characters; anything far longer is not one, and is not worth hashing.
TOKEN_MAX_CHARS = 200
ENTRY_ID_MAX = 2**63 - 1


def enforce_rate_limit(session: Session, table: Any, client_key_hash: str, now: datetime,
                       limit: int, actions: str = "shares") -> None:
    """Refuse a new entry if this client already wrote `limit` to `table` in the `WINDOW`
    before `now`, deleted entries included; otherwise record this write.

    Call it inside `Database.write(lock=client_key_hash)`, before adding the entry: when the
    entry is not added after all, the transaction rolls back and the write is not counted.

    Raises:
        RateLimited: with the seconds until the oldest counted write leaves the window.
    """
    _forget_old_writes(session, now)
    count, oldest = session.execute(
        select(func.count(), func.min(RecentWrite.created_at)).where(
            RecentWrite.client_key_hash == client_key_hash,
            RecentWrite.table_name == table.__tablename__,
            RecentWrite.created_at > now - WINDOW,
        )
    ).one()
    if count >= limit:
        wait = max(1, math.ceil((oldest + WINDOW - now).total_seconds()))
        raise RateLimited(limit, wait, actions)
    session.add(RecentWrite(client_key_hash=client_key_hash, table_name=table.__tablename__,
                            created_at=now))


def _forget_old_writes(session: Session, now: datetime, batch: int = 500) -> None:
    """Remove up to `batch` writes older than the window, of any client, so the table holds
    about a minute of writes. Rows another transaction is removing are skipped rather than
    waited for (PostgreSQL's SKIP LOCKED; SQLite has one writer at a time anyway), so two
    clients' writes never wait on each other here."""
    old = (select(RecentWrite.id).where(RecentWrite.created_at <= now - WINDOW)
           .limit(batch).with_for_update(skip_locked=True))
    session.execute(delete(RecentWrite).where(RecentWrite.id.in_(old.scalar_subquery())))


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
