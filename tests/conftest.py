"""Shared test set-up: no test may reach a network or touch the user's own caches.

The store tests run on SQLite and on PostgreSQL (`store_url`). Where PostgreSQL's server
binaries are installed, the tests start a throwaway server themselves (tests/store_engines.py),
so a newcomer runs the same tests CI runs. That is about forty lines of subprocess calls
rather than pytest-postgresql, which does the same job in general, because its
`postgresql_proc` (1) runs initdb and pg_ctl as the current user, and initdb refuses to run as
root, which is how these tests run here and in CI (the server has to be run as `postgres`
through `runuser`); and (2) serves on a TCP port, which its executor (mirakuru's TCPExecutor)
polls to know the server is up, while a Unix socket in the server's own folder clashes with
nothing on a shared machine. Its `postgresql_noproc` only connects to a running server, which
is what `$INSTAVIS_TEST_DATABASE_URL` already does.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

# Each test process gets its own Gradio upload folder. A server's `delete_cache` empties the
# folder when it shuts down, and servers of other xdist workers (or of another test run on a
# shared machine) would lose the files they were given mid-request.
if "GRADIO_TEMP_DIR" not in os.environ:
    import atexit
    import shutil
    import tempfile

    os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(prefix="instavis-tests-gradio-")
    atexit.register(shutil.rmtree, os.environ["GRADIO_TEMP_DIR"], ignore_errors=True)

# With a pytest-xdist worker per core, each worker computes on one thread: TensorFlow's, BLAS's
# and numba's thread pools otherwise size themselves to every core, and the workers' threads
# then take turns on each core (the whole suite ran about 4% faster this way in one
# comparison). The app processes the browser tests start inherit it. Set before anything
# imports TensorFlow or numpy, which read these once.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) >= (os.cpu_count() or 1):
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "NUMBA_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ.setdefault(variable, "1")


_graph_optimizer_off = False


def graph_optimizer_off_once_tensorflow_is_in() -> None:
    """Turn TensorFlow's graph optimizer (Grappler) off in this process, once it is imported.

    Grappler rewrites each traced function the first time it runs, to make later runs faster;
    a test runs most of its functions once or a few times, so the rewrite is mostly spent for
    nothing (the TensorFlow-heavy test files ran about 12% faster without it, in one
    comparison). What the functions compute is the same, up to float rounding. The app the
    browser tests start, like the app itself, keeps the optimizer on.
    """
    global _graph_optimizer_off
    if not _graph_optimizer_off and "tensorflow" in sys.modules:
        import tensorflow as tf

        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
        _graph_optimizer_off = True


@pytest.fixture(autouse=True)
def graph_optimizer_off():
    """Checked around every test, so the optimizer goes off whichever test imports TensorFlow
    first, without importing it for a test that needs none."""
    graph_optimizer_off_once_tensorflow_is_in()
    yield
    graph_optimizer_off_once_tensorflow_is_in()


@pytest.fixture(autouse=True)
def isolated_weights(monkeypatch, tmp_path_factory):
    """Every test starts offline, with an empty Hugging Face cache and no weights override."""
    import weights.resolver

    hf_home = tmp_path_factory.mktemp("hf_home")
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("INSTAVIS_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr(weights.resolver, "_offline_flag", False)
    yield hf_home


@pytest.fixture(autouse=True)
def isolated_data_dir(monkeypatch, tmp_path_factory):
    """Every test's default database (the Style leaderboard) is a fresh SQLite file of its own,
    never the user's."""
    import store

    monkeypatch.setenv("INSTAVIS_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.delenv("INSTAVIS_DATABASE_URL", raising=False)
    store.reset_default()
    yield
    store.reset_default()


@pytest.fixture(scope="session")
def tiny_weights_root(tmp_path_factory):
    """A weights root holding a tiny keras-hub CLIP preset at <root>/clip/, built once."""
    from benchmarks.stand_ins.tiny_clip import build_tiny_clip_preset

    root = tmp_path_factory.mktemp("weights")
    build_tiny_clip_preset(root / "clip")
    return root


@pytest.fixture
def tiny_clip(tiny_weights_root, monkeypatch):
    """Point weights.resolve at the tiny preset and start from an unloaded default CLIP."""
    import models.clip as clip

    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(tiny_weights_root))
    clip.reset_default()
    yield tiny_weights_root
    clip.reset_default()


@pytest.fixture
def tiny_clip_model(tiny_clip):
    """The default CLIP, loaded from the tiny preset through the real resolver."""
    import models.clip as clip

    return clip.get_clip()


# Roughly how long the slower test files take, in seconds of worker time: each file's tests'
# setup, call and teardown times summed from one whole run (`python -m pytest --durations=0`)
# on an idle 2-core machine. pytest-xdist hands each worker whole files in collection order
# (`--no-loadscope-reorder`, pyproject.toml), and pytest_collection_modifyitems puts these
# first, longest first, so the long files start early and the many short ones fill in around
# them at the end. Left to itself xdist starts the files with the most tests first, which put
# the few-test, slow files (RAN-56 training, the browser tests) last, one worker finishing them
# while the other idled. Only the order matters: when a file becomes one of the slow ones, add
# it with its time (`.ci/run` prints the slowest tests).
FILE_SECONDS = {
    "test_browser.py": 133,
    "test_ran56.py": 82,
    "test_browser_clip.py": 70,
    "test_lime_shap.py": 50,
    "test_tags_cache.py": 36,
    "test_explained_is_displayed.py": 35,
    "test_warmup.py": 30,
    "test_pose_tab.py": 30,
    "test_style_tab.py": 30,
    "test_listeners.py": 29,
    "test_profile_misfits.py": 26,
    "test_aesthetic.py": 24,
    "test_siamese.py": 23,
    "test_artifacts.py": 22,
    "test_api.py": 21,
    "test_tags_head.py": 20,
    "test_multigap.py": 19,
    "test_clip.py": 18,
    "test_style_training.py": 17,
    "test_gallery_store.py": 17,
    "test_patch_perturbation.py": 16,
    "test_tags.py": 15,
    "test_store.py": 14,
    "test_explain_panel.py": 13,
    "test_tags_pipeline.py": 13,
    "test_live_weights.py": 12,
}


def pytest_collection_modifyitems(config, items):
    """Run the files of FILE_SECONDS first, longest first; each file's tests, and the other
    files, keep their order (a stable sort)."""
    items.sort(key=lambda item: -FILE_SECONDS.get(item.path.name, 0))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """File every "no PostgreSQL" skip under one location, so `-ra` folds them into one line
    (a skip raised in a fixture is otherwise reported at each test's own line)."""
    report = yield
    if report.skipped and isinstance(report.longrepr, tuple):
        from tests.store_engines import NO_POSTGRES, NO_POSTGRES_LOCATION

        if report.longrepr[2].endswith(NO_POSTGRES):
            report.longrepr = (*NO_POSTGRES_LOCATION, report.longrepr[2])
    return report


def pytest_addoption(parser):
    parser.addoption(
        "--update-screens", action="store_true",
        help="write the docs' screenshots, which the browser tests take, into docs/screens/ "
             "(without it they go to a temporary folder); tests/screens.py")


_screens_made_here = None  # the temporary screenshot folder this process made, if any
_strip_note = None  # with --update-screens, what became of the strip, for the summary


def pytest_configure(config):
    """The first pytest process makes the temporary screenshot folder; its xdist workers,
    started after this, inherit it through $INSTAVIS_SCREENS_DIR, so the strip of the five tabs
    can be composed from the pictures every worker took."""
    global _screens_made_here
    if not config.getoption("--update-screens"):
        from tests.screens import make_temporary_folder

        _screens_made_here = make_temporary_folder()


@pytest.fixture(scope="session")
def screens(pytestconfig):
    """The folder the browser tests save the docs' screenshots into (tests/screens.py)."""
    from tests.screens import folder

    return folder(update=pytestconfig.getoption("--update-screens"))


_SESSION_STARTED = time.time()


def remove_clients_empty_download_folders(since: float) -> int:
    """Remove the empty folders gradio_client left in the system's temp folder since `since`;
    how many. Each file a Client downloads first goes to a new folder there named by 40 random
    hex digits, and only the file is moved out (gradio_client 2.x), so every test that fetched a
    result from a server left one behind, thousands a run."""
    import re
    import tempfile

    removed = 0
    for folder in Path(tempfile.gettempdir()).iterdir():
        try:
            if (re.fullmatch(r"[0-9a-f]{40}", folder.name) and folder.is_dir()
                    and folder.stat().st_mtime >= since):
                folder.rmdir()  # refuses a folder that is not empty: only leftovers go
                removed += 1
        except OSError:
            pass
    return removed


def pytest_sessionfinish(session):
    """Stop the throwaway PostgreSQL this process may have started (tests/store_engines.py),
    and remove the empty folders gradio_client left.
    In the first pytest process (not an xdist worker), once every worker is done: compose the
    strip of the five tabs from the screenshots, and remove a temporary screenshot folder."""
    store_engines = sys.modules.get("tests.store_engines")
    if store_engines is not None:
        store_engines.stop_throwaway_server()
    remove_clients_empty_download_folders(_SESSION_STARTED)
    if hasattr(session.config, "workerinput"):
        return
    from tests.screens import folder, write_strip

    global _strip_note
    update = session.config.getoption("--update-screens")
    strip = write_strip(folder(update))
    if update:
        _strip_note = (f"screenshots: {strip} composed" if strip else
                       "screenshots: no strip; it needs all five tabs' pictures")
    if _screens_made_here is not None:
        import shutil

        shutil.rmtree(_screens_made_here, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A URL to an empty database, once a SQLite file and once a fresh PostgreSQL schema (on
    $INSTAVIS_TEST_DATABASE_URL's server, else on a throwaway one; skipped, or failed in CI,
    when neither can be had); see tests/store_engines.py."""
    from tests.store_engines import engine_url

    with engine_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store_db(store_url, monkeypatch):
    """An open, migrated store on `store_url`, at the default rate limit of 5 a minute."""
    import store

    monkeypatch.delenv("INSTAVIS_SHARES_PER_MINUTE", raising=False)
    database = store.open_database(store_url)
    yield database
    database.close()


@pytest.fixture(scope="session")
def tiny_vgg_weights_root(tmp_path_factory):
    """A weights root holding a tiny keras-hub VGG backbone preset at <root>/vgg16/, built once
    (benchmarks/stand_ins/tiny_vgg.py)."""
    from benchmarks.stand_ins.tiny_vgg import build_tiny_vgg_preset

    root = tmp_path_factory.mktemp("vgg_weights")
    build_tiny_vgg_preset(root / "vgg16")
    return root



@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for a browser test module (tests/browser.py), a page per tab."""
    from tests.browser import headless_chromium

    with headless_chromium() as chromium:
        yield chromium


def pytest_terminal_summary(terminalreporter):
    """With --update-screens, say whether the strip was composed (pytest_sessionfinish ran
    just before)."""
    if _strip_note:
        terminalreporter.write_line(_strip_note)
