"""A throwaway schema on a PostgreSQL server, for the store's tests and benchmarks: made
before, dropped after, reached by a URL whose search_path names it, so runs share no state and
leave nothing behind on the server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def throwaway_schema(base_url, prefix: str = "instavis_test") -> Iterator:
    """A URL (sqlalchemy URL) into a fresh, empty schema of the server at `base_url`."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(base_url).set(drivername="postgresql+psycopg")
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield base.update_query_dict({"options": f"-csearch_path={schema}"})
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
