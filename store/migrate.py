"""Schema migrations, run in code: no alembic.ini, no `alembic` command needed.

`store.open_database` calls `upgrade_to_head` on every start; on a database already at head it
only reads the version table. Upgrades are serialised between processes: on PostgreSQL by a
session advisory lock, on SQLite by the write lock of `BEGIN IMMEDIATE`, so two app processes
starting on a fresh database do not both try to create the tables.

For a new migration: copy the newest file in `store/migrations/versions/`, give it the next
number as `revision` and the previous one as `down_revision`, and write `upgrade` and
`downgrade` with `alembic.op`. `tests/test_store.py` checks that the migrated schema matches
`store.tables`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# pg_advisory_lock key for "the store is migrating"; any fixed bigint the app uses nowhere else.
MIGRATION_LOCK_KEY = 0x1257A_5EED


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config built in code, pointing at `store/migrations`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision in `store/migrations/versions/`."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "store/migrations/versions/ holds no migration"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside one transaction that no other process can be migrating in."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            # A session-level lock, taken and released outside the migration's transaction, so
            # a second process waits here and then finds the database already at head.
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
            try:
                with connection.begin():
                    yield connection
            finally:
                connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
                connection.commit()
    else:
        with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as connection:
            yield connection


def upgrade_to_head(engine: Engine) -> None:
    """Bring the database to the newest revision, in one transaction."""
    with _migration_connection(engine) as connection:
        command.upgrade(alembic_config(connection), "head")


def downgrade_to(engine: Engine, revision: str) -> None:
    """Step the database back to `revision` ("base" empties it). For tests and operators."""
    with _migration_connection(engine) as connection:
        command.downgrade(alembic_config(connection), revision)
