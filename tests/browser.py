"""What the browser tests share: `python app.py --offline` in a subprocess, and headless Chromium.

An app process costs about 20 s of CPU before its first page (TensorFlow's import, then the
warm-up in the background), so the browser tests start two in all: `tests/test_browser.py`
runs the app as it is offline, with no CLIP weights; `tests/test_browser_clip.py` runs it with
the tests' tiny CLIP preset, for the tabs that need CLIP.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Debian's chromium (.ci/run installs it)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    return path


@dataclass(frozen=True)
class RunningApp:
    """An app started by `app_process`: where it answers, and the file its output goes to."""

    url: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_log(self, text: str, seconds: float = 120) -> None:
        """Wait until the app's output contains `text` (a time-out against hanging, not a
        speed check)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if text in self.log_text():
                return
            time.sleep(0.2)
        raise AssertionError(f"the app never printed {text!r} within {seconds} s:\n"
                             + self.log_text()[-3000:])


def wait_until_up(url: str, server: subprocess.Popen, log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"app.py exited early:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"app.py did not answer at {url} within {seconds} s")


@contextmanager
def app_process(env: dict, stem: str, tmp_path_factory, data_dir: Path | None = None
                ) -> Iterator[RunningApp]:
    """`python app.py --offline` on a free port with `env`, a Hugging Face home and a data
    folder of its own (or `data_dir`, prepared by the test); yields it running and stops it
    afterwards."""
    from tests.served import free_port

    port = free_port()
    # INSTAVIS_EXPLAIN_AHEAD=0: the examples' explanations ahead would take these servers'
    # idle moments, which here are the other test worker's CPU time (a whole suite ran about
    # 110 s longer with them); tests/test_streaming.py checks answering ahead in-process.
    env = {**env, "HF_HOME": str(tmp_path_factory.mktemp(f"{stem}_hf_home")),
           "INSTAVIS_DATA_DIR": str(data_dir or tmp_path_factory.mktemp(f"{stem}_data")),
           "INSTAVIS_EXPLAIN_AHEAD": "0"}
    # The app's output goes to a file: a pipe nobody reads fills up (TensorFlow and the
    # request log write plenty) and then blocks the app mid-request.
    log = tmp_path_factory.mktemp(f"{stem}_log") / "app.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "app.py", "--offline", "--port", str(port)],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, text=True,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, server, log)
        yield RunningApp(url, log)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        # pytest shows this only when a test of the module failed: the app's side of it.
        print(f"--- the end of {log}:\n" + "\n".join(log.read_text(errors="replace")
                                                    .splitlines()[-80:]))


@contextmanager
def headless_chromium():
    """One headless Chromium (Playwright's sync API allows one per thread): a module opens it
    once and a page per tab."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                              args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@contextmanager
def page_on_tab(browser, url: str, tab: str | None = None):
    """A new page of `browser` on the app at `url`, with the tab named `tab` open."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(url, wait_until="load")
        page.wait_for_selector("#instavis-header", timeout=60_000)
        if tab is not None:
            page.get_by_role("tab", name=tab).click()
        yield page
    finally:
        page.close()


def show_example(page, examples, label: str, photo: str, file_stem: str) -> None:
    """Click an example and wait until its photo is on screen, and no longer: a run pressed
    then must keep its result even when the example's change reaches the server after it
    (`demos.freshness`)."""
    from playwright.sync_api import expect

    examples.get_by_text(label, exact=False).click()
    expect(page.locator(f"{photo} img")).to_have_attribute(
        "src", re.compile(rf"{file_stem}\.jpg"), timeout=20_000)
