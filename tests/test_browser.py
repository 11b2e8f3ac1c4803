"""End to end: `python app.py --offline` in a subprocess, driven by headless Chromium.

The README's screenshot comes from here: set INSTAVIS_SCREENSHOT_DIR to keep it.
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
from pathlib import Path

import pytest

import weights
from demos import TABS
from demos.common import PhotoInput
from tests.served import free_port

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic",
]

pytestmark = pytest.mark.browser


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Debian's chromium (.ci/run installs it)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    return path


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
                ) -> Iterator[str]:
    """`python app.py --offline` on a free port with `env`, a Hugging Face home and a data
    folder of its own (or `data_dir`, prepared by the test); yields its URL and stops it
    afterwards."""
    port = free_port()
    env = {**env, "HF_HOME": str(tmp_path_factory.mktemp(f"{stem}_hf_home")),
           "INSTAVIS_DATA_DIR": str(data_dir or tmp_path_factory.mktemp(f"{stem}_data"))}
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
        yield url
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
def app_with_tiny_clip(stem: str, tmp_path_factory) -> Iterator[str]:
    """`app_process` with the tests' tiny CLIP preset (random weights) as the CLIP weights."""
    from benchmarks.stand_ins.tiny_clip import build_tiny_clip_preset

    weights_dir = tmp_path_factory.mktemp(f"{stem}_weights")
    build_tiny_clip_preset(weights_dir / "clip")
    env = {**os.environ, "INSTAVIS_WEIGHTS_DIR": str(weights_dir)}
    with app_process(env, stem, tmp_path_factory) as url:
        yield url


@contextmanager
def page_on_tab(url: str, tab: str):
    """A headless Chromium page on the app at `url`, with the tab named `tab` open."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                             args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        page.wait_for_selector("#instavis-header", timeout=60_000)
        page.get_by_role("tab", name=tab).click()
        yield page
        browser.close()


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    env = {k: v for k, v in os.environ.items() if k != "INSTAVIS_WEIGHTS_DIR"}
    with app_process(env, "browser", tmp_path_factory) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module (Playwright's sync API allows one per thread)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(browser, app_url):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(app_url)
    page.wait_for_selector("#instavis-header", timeout=60_000)
    yield page
    page.close()


def test_every_tab_renders(page):
    for tab in TABS:
        page.get_by_role("tab", name=tab.TITLE).click()
        panel = page.locator(f"#tab-{tab.KEY}")
        panel.wait_for(state="visible", timeout=20_000)
        assert panel.inner_text().strip(), f"tab {tab.TITLE} is empty"


def test_pose_tab_compares_an_example_pair(page, tmp_path_factory):
    """Click the first example pair, press Compare: the verdict, skeletons and chart appear."""
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Pose").click()
    show_example(page, page.locator("#pose-examples"), "Same pose, same place", "#pose-photo-b",
                 "astronaut_mirrored")
    page.locator("#pose-compare").click()
    headline = page.locator("#pose-verdict .iv-headline")
    expect(headline).to_have_text("✓ Same pose, same place", timeout=60_000)
    expect(page.locator("#pose-skeleton-b img")).to_have_count(1, timeout=20_000)
    expect(page.locator("#pose-chart img")).to_have_count(1, timeout=20_000)
    out_dir = Path(os.environ.get("INSTAVIS_SCREENSHOT_DIR") or tmp_path_factory.mktemp("shots"))
    out_dir.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out_dir / "pose-tab.png"), full_page=True)


def test_aesthetic_tab_rates_and_explains_an_example(page, tmp_path_factory):
    """Pick the coffee example, press Rate: the score card, attribute table and SHAP chart
    appear; then Grad-CAM of the quality score fills the explanation gallery."""
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Aesthetic").click()
    show_example(page, page.locator("#aesthetic-examples"), "A cup of coffee", "#aesthetic-photo",
                 "coffee")
    page.locator("#aesthetic-rate").click()
    expect(page.locator("#aesthetic-verdict .iv-score")).to_contain_text("/ 10", timeout=90_000)
    expect(page.locator("#aesthetic-verdict")).to_contain_text("python -m weights pull clip")
    expect(page.locator("#aesthetic-chart img")).to_have_count(1, timeout=20_000)
    expect(page.locator("#aesthetic-attributes")).to_contain_text("sharpness")
    # Every method, at small budgets. LIME is ticked already; Grad-CAM cannot explain
    # BRISQUE (no network, no gradients) and the table says so in its row.
    for name in ("Grad-CAM", "SHAP"):
        page.locator("#aesthetic-explain-methods label", has_text=name).click()
    page.locator("#aesthetic-explain .label-wrap", has_text="Advanced").click()
    for name in ("lime", "shap"):
        page.locator(f"#aesthetic-explain-budget-{name} input").fill("40")
    page.locator("#aesthetic-explain-run").click()
    gallery = page.locator("#aesthetic-explain-gallery")
    expect(gallery.locator("img")).to_have_count(2, timeout=180_000)
    expect(page.locator("#aesthetic-explain-table")).to_contain_text("SHAP")
    expect(page.locator("#aesthetic-explain-status")).to_contain_text(
        "Explained technical quality = ")
    # Each caption is shown whole, on a line of its own under its map, not cut to "...".
    for caption in gallery.locator(".caption-label").all():
        layout = caption.evaluate("""e => ({whole: e.scrollWidth <= e.clientWidth + 1,
            position: getComputedStyle(e).position, text: e.innerText})""")
        assert layout["whole"] and layout["position"] == "static", layout
        assert "random maps" in layout["text"]
    page.locator("#aesthetic-explain .label-wrap", has_text="Advanced").click()
    out_dir = Path(os.environ.get("INSTAVIS_SCREENSHOT_DIR") or tmp_path_factory.mktemp("shots"))
    out_dir.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out_dir / "aesthetic-tab.png"), full_page=True)


def test_pose_with_no_person_explains_the_background_by_default(page, tmp_path_factory):
    """The "No person in your photo" pair, compared, then explained with the panel's default
    target (pose similarity): the background is explained instead, the status says why, and
    the picker follows; the legend speaks only of the maps Pose offers here (no yellow)."""
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Pose").click()
    pairs = page.locator("#pose-examples")
    show_example(page, pairs, "No person in your photo", "#pose-photo-b", "coffee")
    page.locator("#pose-compare").click()
    expect(page.locator("#pose-verdict")).to_contain_text("No person found", timeout=60_000)
    page.locator("#pose-explain-run").click()
    status = page.locator("#pose-explain-status")
    expect(status).to_contain_text("There is no pose to compare", timeout=180_000)
    expect(status).to_contain_text("Explained background similarity = ")
    expect(page.locator("#pose-explain-gallery img").first).to_be_visible()
    expect(page.locator("#pose-explain-target input")).to_have_value("background similarity",
                                                                     timeout=10_000)
    legend = page.locator("#pose-explain-legend")
    expect(legend).to_contain_text("red raised the score")
    expect(legend).not_to_contain_text("yellow")
    out_dir = Path(os.environ.get("INSTAVIS_SCREENSHOT_DIR") or tmp_path_factory.mktemp("shots"))
    out_dir.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out_dir / "pose-no-person.png"), full_page=True)


def show_example(page, examples, label: str, photo: str, file_stem: str) -> None:
    """Click an example and wait until its photo is on screen, and no longer: a run pressed
    then must keep its result even when the example's change reaches the server after it
    (`demos.freshness`)."""
    from playwright.sync_api import expect

    examples.get_by_text(label, exact=False).click()
    expect(page.locator(f"{photo} img")).to_have_attribute(
        "src", re.compile(rf"{file_stem}\.jpg"), timeout=20_000)


def test_a_new_example_clears_every_old_result(page):
    """After a full run (rating, attributes, chart, a map), picking another example leaves no
    score, table, chart or map of the old photo beside the new one; the same on the Pose tab."""
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Aesthetic").click()
    examples = page.locator("#aesthetic-examples")
    gallery = page.locator("#aesthetic-explain-gallery img")
    # Another photo first, so the coffee is a change whatever an earlier test left on screen.
    show_example(page, examples, "A flower", "#aesthetic-photo", "flower")
    expect(gallery).to_have_count(0, timeout=10_000)
    show_example(page, examples, "A cup of coffee", "#aesthetic-photo", "coffee")
    page.locator("#aesthetic-rate").click()
    expect(page.locator("#aesthetic-verdict .iv-score")).to_contain_text("/ 10", timeout=90_000)
    page.locator("#aesthetic-explain-run").click()
    expect(gallery.first).to_be_visible(timeout=90_000)

    examples.get_by_text("A cat", exact=False).click()
    expect(page.locator("#aesthetic-verdict .iv-score")).to_have_count(0, timeout=10_000)
    expect(page.locator("#aesthetic-verdict")).to_contain_text("press Rate")
    expect(page.locator("#aesthetic-chart img")).to_have_count(0)
    expect(page.locator("#aesthetic-attributes")).not_to_contain_text("sharpness")
    expect(page.locator("#aesthetic-explain-gallery img")).to_have_count(0)
    expect(page.locator("#aesthetic-explain-table")).not_to_contain_text("Grad-CAM")
    expect(page.locator("#aesthetic-explain-status")).not_to_contain_text("Explained")

    # A run still going when the photo changes stops: its maps never land.
    page.locator("#aesthetic-explain-methods label", has_text="LIME").click()
    page.locator("#aesthetic-explain-run").click()
    page.wait_for_timeout(1_000)
    show_example(page, examples, "A flower", "#aesthetic-photo", "flower")
    page.wait_for_timeout(12_000)  # longer than the LIME run would have taken
    expect(gallery).to_have_count(0)
    expect(page.locator("#aesthetic-explain-status")).not_to_contain_text("Explained")


    page.get_by_role("tab", name="Pose").click()
    pairs = page.locator("#pose-examples")
    show_example(page, pairs, "Different pose", "#pose-photo-b", "camera")
    show_example(page, pairs, "Same pose, same place", "#pose-photo-b", "astronaut_mirrored")
    page.locator("#pose-compare").click()
    expect(page.locator("#pose-skeleton-b img")).to_have_count(1, timeout=60_000)
    pairs.get_by_text("Different pose", exact=False).click()
    expect(page.locator("#pose-verdict .iv-headline")).to_have_count(0, timeout=10_000)
    expect(page.locator("#pose-skeleton-b img")).to_have_count(0)
    expect(page.locator("#pose-chart img")).to_have_count(0)


def test_a_result_pressed_for_at_once_stays(page):
    """Rate, Compare and Explain pressed the moment an example shows: each result lands and
    stays, though the example's own change may reach the server after the run started."""
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Aesthetic").click()
    examples = page.locator("#aesthetic-examples")
    for label, stem in (("A flower", "flower"), ("A cup of coffee", "coffee")):
        show_example(page, examples, label, "#aesthetic-photo", stem)
        page.locator("#aesthetic-rate").click()
        page.locator("#aesthetic-explain-run").click()
        expect(page.locator("#aesthetic-verdict .iv-score")).to_contain_text(
            "/ 10", timeout=90_000)
        expect(page.locator("#aesthetic-explain-gallery img").first).to_be_visible(
            timeout=90_000)
        page.wait_for_timeout(2_000)
        expect(page.locator("#aesthetic-verdict .iv-score")).to_contain_text("/ 10")
        expect(page.locator("#aesthetic-explain-gallery img").first).to_be_visible()

    page.get_by_role("tab", name="Pose").click()
    pairs = page.locator("#pose-examples")
    for label, stem in (("Different pose", "camera"),
                        ("Same pose, same place", "astronaut_mirrored")):
        show_example(page, pairs, label, "#pose-photo-b", stem)
        page.locator("#pose-compare").click()
        expect(page.locator("#pose-verdict .iv-headline")).to_have_count(1, timeout=60_000)
        page.wait_for_timeout(2_000)
        expect(page.locator("#pose-verdict .iv-headline")).to_have_count(1)
        expect(page.locator("#pose-skeleton-b img")).to_have_count(1)


def test_models_tab_lists_the_manifest_truthfully(page, tmp_path_factory):
    page.get_by_role("tab", name="Models").click()
    from playwright.sync_api import expect

    table = page.locator("#models-table")
    body_rows = table.locator("[role=row]:not([aria-rowindex='1'])")
    expect(body_rows).to_have_count(len(weights.artifacts()), timeout=20_000)
    rows = {}
    for row in body_rows.all():
        cells = [cell.strip() for cell in row.locator("[role=gridcell]").all_inner_texts()]
        rows[cells[0]] = cells
    assert list(rows) == list(weights.artifacts())
    assert "missing" in rows["clip"]  # offline, with an empty Hugging Face cache
    assert "ready (installed)" in rows["mediapipe"]
    assert "BSD-3-Clause" in rows["vgg16"]

    # The table refreshes itself on page load; wait until it is no longer marked pending.
    expect(table.locator("[data-testid=status-tracker]").first).to_have_class(
        re.compile(r"\bhide\b"), timeout=20_000
    )
    out_dir = Path(os.environ.get("INSTAVIS_SCREENSHOT_DIR") or tmp_path_factory.mktemp("shots"))
    out_dir.mkdir(parents=True, exist_ok=True)
    shot = out_dir / "models-tab.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_pull_offline_explains_itself(page):
    page.get_by_role("tab", name="Models").click()
    page.get_by_role("button", name="Pull from the Hub").click()
    toast = page.get_by_text("InstaVis is offline", exact=False).first
    toast.wait_for(timeout=20_000)
    assert "python -m weights pull" in toast.inner_text()


@pytest.fixture(scope="module")
def upload_page(browser):
    """A tab-shaped app (PhotoInput -> read_upload) served in-process, opened in Chromium."""
    import gradio as gr

    from tests.served import serve
    from tests.test_upload_ui import describe

    with gr.Blocks() as demo:
        photo = PhotoInput(elem_id="photo")
        answer = gr.Textbox(elem_id="answer", label="Size")
        photo.upload(describe, photo, answer)
    with serve(demo) as url:
        page = browser.new_page()
        try:
            page.goto(url)
            page.locator("#photo").wait_for(timeout=60_000)
            yield page
        finally:
            page.close()


def test_photo_input_renders_and_bad_uploads_get_one_line(upload_page, tmp_path):
    from tests.test_images import png_claiming_size

    page = upload_page
    assert page.locator("#photo input[type=file]").count() == 1, "no upload box rendered"
    bad = tmp_path / "huge.png"
    bad.write_bytes(png_claiming_size(10_000, 6_000))
    page.locator("#photo input[type=file]").set_input_files(str(bad))
    toast = page.get_by_text("That photo can't be used", exact=False).first
    toast.wait_for(timeout=30_000)
    assert "60.0 megapixels" in toast.inner_text()
    assert "Traceback" not in page.content()
