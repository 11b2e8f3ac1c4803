"""Where the database lives and how many shares a minute a client may make, read from the
environment.

- `INSTAVIS_DATABASE_URL`: an SQLAlchemy URL. `sqlite:///PATH` or `postgresql+psycopg://...`;
  `postgresql://` and `postgres://` (the form hosting services print) are read as psycopg 3.
  Unset or empty: the SQLite file `instavis.sqlite3` in the data folder.
- `INSTAVIS_DATA_DIR`: the data folder, found by `data_folder.data_dir` (its home of its own,
  which `models/` imports too); `data_dir`, `ENV_DATA_DIR` and `SPACE_DATA_DIR` are its names,
  kept here for the store's callers.
- `INSTAVIS_SHARES_PER_MINUTE`: the rate limit per client, a whole number from 1 (default 5).
"""

from __future__ import annotations

import os

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from data_folder import ENV_DATA_DIR, SPACE_DATA_DIR, data_dir
from store.errors import BadSetting

__all__ = ["DEFAULT_SHARES_PER_MINUTE", "ENV_DATABASE_URL", "ENV_DATA_DIR",
           "ENV_SHARES_PER_MINUTE", "SPACE_DATA_DIR", "SQLITE_FILE_NAME", "data_dir",
           "database_url", "shares_per_minute"]

ENV_DATABASE_URL = "INSTAVIS_DATABASE_URL"
ENV_SHARES_PER_MINUTE = "INSTAVIS_SHARES_PER_MINUTE"

SQLITE_FILE_NAME = "instavis.sqlite3"
DEFAULT_SHARES_PER_MINUTE = 5

_ACCEPTED_URLS = "sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST/DATABASE"


def database_url(url: str | URL | None = None) -> URL:
    """The database to open: `url` if given, else `$INSTAVIS_DATABASE_URL`, else the SQLite
    file in `data_dir()`.

    Raises:
        BadSetting: the URL is not SQLite or PostgreSQL, or names an in-memory SQLite database
            (each pooled connection would get its own empty database).
    """
    source = "url"
    if url is None:
        url = os.environ.get(ENV_DATABASE_URL, "").strip() or None
        source = f"${ENV_DATABASE_URL}"
    if url is None:
        return URL.create("sqlite+pysqlite", database=str(data_dir() / SQLITE_FILE_NAME))
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise BadSetting(source, "<not a URL>", _ACCEPTED_URLS) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "psycopg"):
            raise BadSetting(source, parsed.render_as_string(hide_password=True),
                             "the psycopg driver (postgresql+psycopg://...)")
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory":
            raise BadSetting(source, str(parsed), "a SQLite file (sqlite:///PATH), not memory")
        return parsed
    raise BadSetting(source, parsed.render_as_string(hide_password=True), _ACCEPTED_URLS)


def shares_per_minute() -> int:
    """`$INSTAVIS_SHARES_PER_MINUTE`, or 5."""
    raw = os.environ.get(ENV_SHARES_PER_MINUTE, "").strip()
    if not raw:
        return DEFAULT_SHARES_PER_MINUTE
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise BadSetting(f"${ENV_SHARES_PER_MINUTE}", raw, "a whole number from 1")
    return value
