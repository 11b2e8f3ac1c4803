"""One open database: the engine, its sessions, and the write transaction every change uses.

`open_database(url=None)` makes the engine, runs the migrations to head and returns a
`Database`. `default_database()` opens the one the environment names, once per process, for the
app's tabs; tests open their own.

Every change goes through `Database.write(lock=...)`, one transaction that commits whole or
rolls back whole, and that no other writer of the same lock key can interleave with:

- SQLite: the transaction starts with `BEGIN IMMEDIATE`, which takes the database's write lock
  at once, so between threads and processes writers run one at a time (readers carry on under
  WAL). A busy timeout makes a writer wait for the lock instead of failing.
- PostgreSQL: the transaction takes `pg_advisory_xact_lock` on the lock key first, so two
  writers for the same key (one client's shares) run one after the other, while other keys go
  on in parallel. The lock ends with the transaction.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

from store import migrate, settings
from store.tables import StoreSecret
from store.tokens import hash_client_key

# How long a SQLite writer waits for another's lock before giving up, in seconds. Writes here are
# one small row, so waiting is always better than failing a share.
SQLITE_BUSY_TIMEOUT_S = 30


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass(eq=False)
class Database:
    """An open, migrated database.

    Attributes:
        engine: the SQLAlchemy engine (one pool for the process).
        shares_per_minute: how many entries one client may add in any 60 s.
        clock: returns the current aware UTC time; tests replace it to move time on.
    """

    engine: Engine
    shares_per_minute: int
    clock: Callable[[], datetime] = utc_now
    _sessions: sessionmaker[Session] = field(init=False, repr=False)
    _write_sessions: sessionmaker[Session] = field(init=False, repr=False)
    _client_key_secret: bytes | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # On SQLite, writes begin IMMEDIATE (see make_engine); elsewhere the option is unused.
        self._write_sessions = sessionmaker(
            self.engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """"sqlite" or "postgresql"."""
        return self.engine.dialect.name

    @property
    def url(self) -> str:
        """The URL, password hidden: safe to log."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session in one read transaction, ended (never committing anything) with the block."""
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def write(self, lock: str | bytes | None = None) -> Iterator[Session]:
        """A session in one write transaction: committed when the block ends, rolled back whole
        if it raises.

        Args:
            lock: a key such as a client's hash. Writers with the same key never overlap. On
                SQLite every writer is serialised anyway; None takes no extra lock.
        """
        with self._write_sessions.begin() as session:
            if lock is not None and self.dialect == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                {"key": advisory_lock_key(lock)})
            yield session

    def client_key_hash(self, client: str) -> str:
        """The stored form of a client's address or session id (see `store.tokens`)."""
        if self._client_key_secret is None:
            with self.read() as session:
                self._client_key_secret = session.scalars(
                    select(StoreSecret.value).where(StoreSecret.name == "client_key")
                ).one()
        return hash_client_key(client, self._client_key_secret)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def advisory_lock_key(key: str | bytes) -> int:
    """A PostgreSQL advisory lock key (signed 64-bit) derived from any text or bytes."""
    data = key.encode("utf-8") if isinstance(key, str) else key
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big", signed=True)


def _use_wal(cursor: sqlite3.Cursor) -> None:
    """Put the database file in WAL mode: readers never block the writer, nor it them.

    The mode is kept in the file, so this changes something only on a new database. There the
    switch needs the file to itself, and SQLite answers "database is locked" at once, without
    its busy timeout, while another connection (a second process starting at the same moment)
    has it open; so retry until the timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def make_engine(url: URL) -> Engine:
    """An engine for `url` with the settings each backend needs for safe concurrent writes."""
    if url.get_backend_name() != "sqlite":
        # pool_pre_ping: a Space or laptop that slept has stale server connections.
        return create_engine(url, pool_pre_ping=True)

    Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _configure_sqlite(dbapi_connection, _record) -> None:
        # Let SQLAlchemy say BEGIN (below) instead of the sqlite3 module, whose legacy mode
        # begins only before DML, so reads and DDL would run outside the transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        _use_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        # IMMEDIATE takes the write lock now, not at the first INSERT: a count-then-insert (the
        # rate limit) cannot then be overtaken by another writer between its two statements.
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def open_database(url: str | URL | None = None, *, shares_per_minute: int | None = None
                  ) -> Database:
    """Open (creating if need be) and migrate the database.

    Args:
        url: an SQLAlchemy URL; None reads `$INSTAVIS_DATABASE_URL`, else the SQLite file in
            `store.settings.data_dir()`. See `store.settings.database_url`.
        shares_per_minute: the rate limit; None reads `$INSTAVIS_SHARES_PER_MINUTE` (default 5).

    Raises:
        BadSetting: the URL or the rate limit setting is unusable.
        sqlalchemy.exc.OperationalError: the server cannot be reached.
    """
    if shares_per_minute is None:
        shares_per_minute = settings.shares_per_minute()
    elif shares_per_minute < 1:
        raise ValueError(f"shares_per_minute: got {shares_per_minute}; expected 1 or more")
    engine = make_engine(settings.database_url(url))
    try:
        migrate.upgrade_to_head(engine)
    except BaseException:
        engine.dispose()
        raise
    return Database(engine=engine, shares_per_minute=shares_per_minute)


_default: Database | None = None
_default_lock = threading.Lock()


def default_database() -> Database:
    """The database the environment names, opened and migrated once per process."""
    global _default
    with _default_lock:
        if _default is None:
            _default = open_database()
        return _default


def reset_default() -> None:
    """Close and forget the default database (tests; a changed environment)."""
    global _default
    with _default_lock:
        if _default is not None:
            _default.close()
        _default = None
