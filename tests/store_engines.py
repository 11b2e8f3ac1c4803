"""The two engines every store test runs on: a SQLite file and a real PostgreSQL.

PostgreSQL comes from `$INSTAVIS_TEST_DATABASE_URL` (`.ci/run` starts a throwaway cluster and
sets it). Each test gets a schema of its own, made before and dropped after, reached by a URL
whose search_path names it, so tests share no state and leave nothing behind on the server.

Without the variable, PostgreSQL tests are skipped with the reason, except in CI (`$CI` set),
where they fail: a CI run must never pass by silently skipping them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import URL, make_url

from benchmarks.stand_ins.postgres import throwaway_schema

ENV_TEST_DATABASE_URL = "INSTAVIS_TEST_DATABASE_URL"
ENGINES = ("sqlite", "postgresql")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def postgres_base_url() -> URL:
    """The test server's URL, or skip (fail in CI) when none is given."""
    raw = os.environ.get(ENV_TEST_DATABASE_URL, "").strip()
    if not raw:
        reason = (f"PostgreSQL store tests need ${ENV_TEST_DATABASE_URL} "
                  "(postgresql+psycopg://...); .ci/run starts a throwaway server and sets it")
        if in_ci():
            pytest.fail(f"CI is set but {reason}", pytrace=False)
        pytest.skip(reason)
    return make_url(raw).set(drivername="postgresql+psycopg")


@contextmanager
def postgres_schema_url() -> Iterator[URL]:
    """A URL into a fresh, empty schema of the test server, dropped afterwards."""
    with throwaway_schema(postgres_base_url()) as url:
        yield url


@contextmanager
def engine_url(engine: str, folder: Path) -> Iterator[URL]:
    """A URL to an empty database on `engine` ("sqlite" or "postgresql")."""
    if engine == "sqlite":
        yield URL.create("sqlite+pysqlite", database=str(folder / "store.sqlite3"))
    else:
        with postgres_schema_url() as url:
            yield url


def run_at_once(count: int, work):
    """Run `work(i)` in `count` threads released together; return results or exceptions (the
    store's concurrency tests: every call must land or refuse, none may hang)."""
    import threading

    barrier = threading.Barrier(count)
    outcomes: list[object] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = work(i)
        except Exception as error:  # collected for the test to inspect
            outcomes[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a call hung"
    return outcomes
