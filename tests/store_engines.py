"""The two engines every store test runs on: a SQLite file and a real PostgreSQL.

PostgreSQL is, in this order:

1. the server `$INSTAVIS_TEST_DATABASE_URL` names, when it is set;
2. else a throwaway server the tests start themselves (`ThrowawayPostgres`), once per test
   process (each pytest-xdist worker that runs a PostgreSQL test has its own), when the
   server binaries are installed (Debian's `postgresql` package puts them in
   /usr/lib/postgresql/<major>/bin). It lives in a temporary folder, listens on a Unix socket
   there and on no TCP port, and is stopped and removed when the session ends;
3. else nothing: the PostgreSQL tests are skipped, all under one summary line that says how to
   install the binaries, except in CI (`$CI` set), where they fail: a CI run must never pass
   by silently skipping them.

Each test gets a schema of its own, made before and dropped after, reached by a URL whose
search_path names it, so tests share no state and leave nothing behind on the server.
"""

from __future__ import annotations

import atexit
import getpass
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import URL, make_url

from benchmarks.stand_ins.postgres import throwaway_schema

ENV_TEST_DATABASE_URL = "INSTAVIS_TEST_DATABASE_URL"
ENGINES = ("sqlite", "postgresql")
# The one reason every PostgreSQL test skips with when there is no server to be had; conftest's
# pytest_runtest_makereport files all of them under one location so they fold into one line.
NO_POSTGRES = ("no PostgreSQL server for the store tests: install its binaries "
               "(apt-get install postgresql) and the tests start a throwaway one, or set "
               f"${ENV_TEST_DATABASE_URL}")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def postgres_bindir() -> Path | None:
    """The folder with the newest installed `initdb` and `pg_ctl`, or None.

    Debian keeps them off PATH, in /usr/lib/postgresql/<major>/bin; elsewhere (Homebrew, a
    source build) they are on PATH.
    """
    def has_server(folder: Path) -> bool:
        return all(os.access(folder / name, os.X_OK) for name in ("initdb", "pg_ctl"))

    def major(folder: Path) -> tuple[int, str]:
        name = folder.parent.name
        return (int(name), name) if name.isdigit() else (-1, name)

    debian = sorted((folder for folder in Path("/usr/lib/postgresql").glob("*/bin")
                     if has_server(folder)), key=major)
    if debian:
        return debian[-1]
    on_path = shutil.which("initdb")
    if on_path and has_server(Path(on_path).parent):
        return Path(on_path).parent
    return None


class ThrowawayPostgres:
    """A PostgreSQL cluster in a fresh temporary folder, reached only by the Unix socket in
    that folder (no TCP port, so it clashes with nothing), with no durability (fsync off: it
    is thrown away), removed on `stop`.

    initdb refuses to run as root, so as root the server runs as the `postgres` user (which
    Debian's package creates) through `runuser`; as anyone else it runs as that user.
    """

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.as_root = os.geteuid() == 0
        self.role = "postgres" if self.as_root else getpass.getuser()
        self.folder: Path | None = None

    def _run(self, program: str, *args: str) -> None:
        owner = ["runuser", "-u", "postgres", "--"] if self.as_root else []
        command = [*owner, str(self.bindir / program), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.folder / "server.log" if self.folder else None
            server_log = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n"
                               f"{done.stdout[-2000:]}{done.stderr[-2000:]}{server_log}")

    def start(self) -> URL:
        """initdb, start, and return the URL of its `postgres` database.

        Raises:
            RuntimeError: the cluster could not be made or started (initdb's or pg_ctl's
                output and the server log say why).
        """
        self.folder = Path(tempfile.mkdtemp(prefix="instavis-pg-"))
        try:
            self._start(self.folder)
        except (OSError, KeyError, subprocess.SubprocessError) as error:
            raise RuntimeError(f"could not start a throwaway PostgreSQL in {self.folder} "
                               f"with {self.bindir}: {error}") from error
        return URL.create("postgresql+psycopg", username=self.role, database="postgres",
                          query={"host": str(self.folder)})

    def _start(self, folder: Path) -> None:
        folder.chmod(0o700)
        if self.as_root:
            owner = pwd.getpwnam("postgres")
            os.chown(folder, owner.pw_uid, owner.pw_gid)
        data = folder / "data"
        # --no-sync and fsync off: nothing here needs to survive a power cut, and the tests
        # commit often.
        self._run("initdb", "-D", str(data), "-U", self.role, "-A", "trust", "-E", "UTF8",
                  "--no-locale", "--no-sync")
        socket_folder = str(folder).replace("'", "''")
        with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(f"\nlisten_addresses = ''\nunix_socket_directories = '{socket_folder}'\n"
                       "fsync = off\nfull_page_writes = off\nsynchronous_commit = off\n")
        self._run("pg_ctl", "-D", str(data), "-l", str(folder / "server.log"),
                  "-w", "-t", "60", "start")

    def stop(self) -> None:
        """Stop the server (at once: its data is thrown away) and remove its folder."""
        if self.folder is None:
            return
        try:
            if (self.folder / "data" / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w",
                          "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


_server: ThrowawayPostgres | None = None
_server_url: URL | None = None
_server_error: RuntimeError | None = None  # a failed start is not retried by every test
_server_lock = threading.Lock()


def stop_throwaway_server() -> None:
    """Stop this process's throwaway server, if it started one (conftest calls it when the
    session ends; atexit too, should the session die first)."""
    global _server, _server_url
    with _server_lock:
        server, _server, _server_url = _server, None, None
    if server is not None:
        server.stop()


def postgres_base_url() -> URL:
    """The test server's URL: $INSTAVIS_TEST_DATABASE_URL's, else this process's throwaway
    server's (started on the first call), else skip (fail in CI)."""
    global _server, _server_url, _server_error
    raw = os.environ.get(ENV_TEST_DATABASE_URL, "").strip()
    if raw:
        return make_url(raw).set(drivername="postgresql+psycopg")
    with _server_lock:
        if _server_error is not None:
            raise _server_error
        if _server_url is None:
            bindir = postgres_bindir()
            if bindir is None:
                if in_ci():
                    pytest.fail(f"CI is set but there is {NO_POSTGRES}", pytrace=False)
                pytest.skip(NO_POSTGRES)
            server = ThrowawayPostgres(bindir)
            try:
                _server_url = server.start()
            except RuntimeError as error:
                server.stop()
                _server_error = error
                raise
            _server = server
            atexit.register(stop_throwaway_server)
        return _server_url


# Where the PostgreSQL skips are reported (see NO_POSTGRES): postgres_base_url, which skips.
NO_POSTGRES_LOCATION = (str(Path(__file__).resolve()), postgres_base_url.__code__.co_firstlineno)


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
