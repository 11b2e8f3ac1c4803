"""Where the database lives and how many shares a minute a client may make, read from the
environment.

- `INSTAVIS_DATABASE_URL`: an SQLAlchemy URL. `sqlite:///PATH` or `postgresql+psycopg://...`;
  `postgresql://` and `postgres://` (the form hosting services print) are read as psycopg 3.
  Unset or empty: the SQLite file `instavis.sqlite3` in the data folder.
- `INSTAVIS_DATA_DIR`: the data folder. Unset: `/data` on a Hugging Face Space whose persistent
  storage is attached (`SPACE_ID` is set and `/data` is a writable folder), else
  `$XDG_DATA_HOME/instavis`, else `~/.local/share/instavis` (the XDG default, so it needs no
  extra package).
- `INSTAVIS_SHARES_PER_MINUTE`: the rate limit per client, a whole number from 1 (default 5).
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from store.errors import BadSetting

ENV_DATABASE_URL = "INSTAVIS_DATABASE_URL"
ENV_DATA_DIR = "INSTAVIS_DATA_DIR"
ENV_SHARES_PER_MINUTE = "INSTAVIS_SHARES_PER_MINUTE"

SQLITE_FILE_NAME = "instavis.sqlite3"
SPACE_DATA_DIR = Path("/data")
DEFAULT_SHARES_PER_MINUTE = 5

_ACCEPTED_URLS = "sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST/DATABASE"


def data_dir() -> Path:
    """The folder for the default SQLite file (and, later, anything else the app keeps)."""
    chosen = os.environ.get(ENV_DATA_DIR, "").strip()
    if chosen:
        return Path(chosen).expanduser()
    # A Space's persistent storage is mounted at /data; without it, /data is missing or
    # read-only and a file written elsewhere is lost on restart anyway.
    on_space = bool(os.environ.get("SPACE_ID"))
    if on_space and SPACE_DATA_DIR.is_dir() and os.access(SPACE_DATA_DIR, os.W_OK):
        return SPACE_DATA_DIR
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "instavis"


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
