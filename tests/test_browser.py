"""End to end: `python app.py --offline` with no CLIP weights, driven by headless Chromium.

The app's data folder holds a similar-profiles index of four generated profiles, for the Profile
tab. The Style and Tags tabs, which need CLIP, are `tests/test_browser_clip.py`'s.

The docs' pictures of the Aesthetic, Pose, Profile and Models tabs are taken here
(tests/screens.py); `python -m pytest -m browser --update-screens` writes them into
docs/screens/.
"""

from __future__ import annotations

import os
import re
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

import weights
from demos import TABS
from demos.common import PhotoInput
from demos.profile_tab import EXAMPLE_FEED
from tests.browser import (
    ROOT,
    RunningApp,
    app_process,
    page_on_tab,
    show_example,
)
from tests.screens import take

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_temp_dir(tmp_path_factory) -> Path:
    """The app's own temporary folder; Gradio's cache (uploads, results) is its gradio/."""
    return tmp_path_factory.mktemp("browser_app_tmp")


@pytest.fixture(scope="module")
def app(tmp_path_factory, app_temp_dir) -> RunningApp:
    """The app, offline, with no weights but the shipped ones, and an index of four generated
    profiles (six photos each) in its data folder."""
    from models.profile.index import build_index

    data_dir = tmp_path_factory.mktemp("browser_data")
    profiles = tmp_path_factory.mktemp("profiles")
    for name, photo in (("cat_lovers", data.chelsea()), ("espresso_bar", data.coffee()),
                        ("launch_watch", data.rocket()), ("space_portraits",
                                                          data.astronaut())):
        (profiles / name).mkdir()
        for i in range(6):
            Image.fromarray(np.ascontiguousarray(photo[:, i * 30 :])).save(
                profiles / name / f"{i}.png")
    build_index(profiles, data_dir / "profile" / "index", say=lambda line: None)
    # The app's temporary folder is another one, so that, as with the default data folder
    # (~/.local/share/instavis, or a Space's /data), the data folder is neither in the app's
    # temporary folder nor in its working directory: Gradio serves neither of them freely.
    env = {k: v for k, v in os.environ.items() if k != "INSTAVIS_WEIGHTS_DIR"}
    env.update(TMPDIR=str(app_temp_dir), GRADIO_TEMP_DIR=str(app_temp_dir / "gradio"))
    with app_process(env, "browser", tmp_path_factory, data_dir=data_dir) as running:
        yield running


@pytest.fixture(scope="module")
def page(browser, app):
    with page_on_tab(browser, app.url) as page:
        yield page


@pytest.fixture(scope="module")
def profile_page(browser, app):
    with page_on_tab(browser, app.url, "Profile") as page:
        yield page


def test_the_app_serves_its_page_and_warms_up_behind_it(app):
    """The page answers at once; the warm-up then readies every part in the background, with
    nothing downloaded and nothing skipped; the server still answers after it."""
    app.wait_for_log("warm-up: done", seconds=300)
    text = app.log_text()
    for part in ("aesthetic rating", "aesthetic chart", "pose comparison", "explainers"):
        assert f"warm-up: {part} ready" in text
    assert "skipped" not in text and "Traceback" not in text
    with urllib.request.urlopen(app.url, timeout=10) as answer:
        assert answer.status == 200
    # Offline: nothing is downloaded, and the only hint about sharing names the flag.
    assert "weights: downloading" not in text
    assert "share=True" not in text
    assert "python app.py --share" in text


def test_an_upload_over_the_ceiling_is_refused_and_leaves_nothing_on_disk(app, app_temp_dir):
    """The running app takes a photo, and refuses a file over app.MAX_UPLOAD_BYTES before
    storing any of it."""
    import httpx

    import app as instavis

    def upload(name: str, content: bytes) -> httpx.Response:
        return httpx.post(f"{app.url}gradio_api/upload", files={"files": (name, content)},
                          timeout=120)

    def stored() -> set[Path]:
        return {p for p in (app_temp_dir / "gradio").rglob("*") if p.is_file()}

    photo = (ROOT / "demos" / "examples" / "coffee.jpg").read_bytes()
    taken = upload("coffee.jpg", photo)
    assert taken.status_code == 200, taken.text
    before = stored()
    assert any(p.read_bytes() == photo for p in before)

    refused = upload("huge.png", os.urandom(1024) * (instavis.MAX_UPLOAD_BYTES // 1024 + 1))
    assert refused.status_code == 413, refused.text[:300]
    assert "maximum" in refused.text.lower() or "max" in refused.text.lower()
    assert stored() == before


def test_every_tab_renders(page):
    for tab in TABS:
        page.get_by_role("tab", name=tab.TITLE).click()
        panel = page.locator(f"#tab-{tab.KEY}")
        panel.wait_for(state="visible", timeout=20_000)
        assert panel.inner_text().strip(), f"tab {tab.TITLE} is empty"


def test_tabs_that_need_clip_say_so_before_any_click(page):
    """Offline with no CLIP weights, Style and Tags say why they cannot work and their
    buttons are off; their leaderboard and gallery still work."""
    from playwright.sync_api import expect

    for tab, key, action in (("Style", "style", "classify"), ("Tags", "tags", "tag")):
        page.get_by_role("tab", name=tab).click()
        expect(page.locator(f"#{key}-not-ready")).to_contain_text(
            "the CLIP weights (python -m weights pull clip", timeout=20_000)
        expect(page.locator(f"#{key}-{action}")).to_be_disabled()
        expect(page.locator(f"#{key}-explain-run")).to_be_disabled()
    expect(page.locator("#tags-search-button")).to_be_enabled()


def test_pose_tab_compares_an_example_pair(page, screens):
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
    take(page, screens / "pose.png", [
        page.locator("#pose-verdict"),
        (page.locator("#pose-skeleton-a img"), page.locator("#pose-skeleton-b img"))])


def test_aesthetic_tab_rates_and_explains_an_example(page, screens):
    """Pick the coffee example, press Rate: the score card, attribute table and SHAP chart
    appear; then LIME and SHAP maps of the quality score fill the explanation gallery
    (Grad-CAM, which cannot explain it, is not offered)."""
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Aesthetic").click()
    show_example(page, page.locator("#aesthetic-examples"), "A cup of coffee", "#aesthetic-photo",
                 "coffee")
    page.locator("#aesthetic-rate").click()
    expect(page.locator("#aesthetic-verdict .iv-score")).to_contain_text("/ 10", timeout=90_000)
    expect(page.locator("#aesthetic-verdict")).to_contain_text("python -m weights pull clip")
    expect(page.locator("#aesthetic-chart img")).to_have_count(1, timeout=20_000)
    expect(page.locator("#aesthetic-attributes")).to_contain_text("sharpness")
    # Grad-CAM cannot explain BRISQUE (no network, no gradients): for technical quality it is
    # not offered, and the note says why. Every method offered, at small budgets; LIME is
    # ticked already.
    methods = page.locator("#aesthetic-explain-methods")
    expect(methods.locator("label", has_text="SHAP")).to_have_count(1)
    expect(methods.locator("label", has_text="Grad-CAM")).to_have_count(0)
    expect(page.locator("#aesthetic-explain-unavailable")).to_contain_text(
        "Grad-CAM (technical quality is BRISQUE, which has no gradients)")
    methods.locator("label", has_text="SHAP").click()
    page.locator("#aesthetic-explain .label-wrap", has_text="Advanced").click()
    for name in ("lime", "shap"):
        page.locator(f"#aesthetic-explain-budget-{name} input").fill("40")
    page.locator("#aesthetic-explain-run").click()
    gallery = page.locator("#aesthetic-explain-gallery")
    # The maps stream in first; the status and the table's verdicts come when both are done,
    # with where the two maps agree: a sentence, and a third picture after the maps.
    expect(page.locator("#aesthetic-explain-status")).to_contain_text(
        "Explained technical quality = ", timeout=180_000)
    expect(page.locator("#aesthetic-explain-status")).to_contain_text("LIME–SHAP ρ ")
    expect(gallery.locator("img")).to_have_count(3, timeout=30_000)
    expect(page.locator("#aesthetic-explain-table")).to_contain_text("SHAP")
    # Each caption is shown whole, on a line of its own under its map, not cut to "...".
    captions = gallery.locator(".caption-label").all()
    assert len(captions) == 3
    for number, caption in enumerate(captions):
        layout = caption.evaluate("""e => ({whole: e.scrollWidth <= e.clientWidth + 1,
            position: getComputedStyle(e).position, text: e.innerText})""")
        assert layout["whole"] and layout["position"] == "static", layout
        wanted = "Where the methods agree" if number == 2 else "random maps"
        assert wanted in layout["text"], layout
    page.locator("#aesthetic-explain .label-wrap", has_text="Advanced").click()
    take(page, screens / "aesthetic.png",
         [page.locator("#aesthetic-verdict"), gallery])


def test_pose_with_no_person_explains_the_background_by_default(page, screens):
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
    take(page, screens / "pose-no-person.png",
         [page.locator("#pose-verdict"), page.locator("#pose-explain-gallery")])


def test_a_new_example_clears_every_old_result(page, app):
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
    expect(page.locator("#aesthetic-explain-status")).to_contain_text("Explained",
                                                                      timeout=90_000)

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
    # The run notices between batches that the page moved on, stops and lands nothing.
    app.wait_for_log("aesthetic_explain stopped: the page moved on to other inputs")
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
    # What is checked is where the results land, not the maps: one small LIME is enough.
    explain_with_lime_only(page, seed=0, budget=40)
    examples = page.locator("#aesthetic-examples")
    for label, stem in (("A flower", "flower"), ("A cup of coffee", "coffee")):
        show_example(page, examples, label, "#aesthetic-photo", stem)
        page.locator("#aesthetic-rate").click()
        page.locator("#aesthetic-explain-run").click()
        expect(page.locator("#aesthetic-verdict .iv-score")).to_contain_text(
            "/ 10", timeout=90_000)
        # The maps stream in; the run has landed when the status names what they explain
        # (while a run is pending, the page ignores another click of its button).
        expect(page.locator("#aesthetic-explain-status")).to_contain_text(
            "Explained", timeout=90_000)
        expect(page.locator("#aesthetic-explain-gallery img").first).to_be_visible()
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


def explain_with_lime_only(page, seed: int, budget: int = 120) -> None:
    """On the Aesthetic tab: LIME alone, `budget` samples, and `seed` (not the default 0,
    so the example's explanation computed ahead does not answer at once)."""
    methods = page.locator("#aesthetic-explain-methods")
    for name, wanted in (("LIME", True), ("SHAP", False)):
        box = methods.locator("label", has_text=name).locator("input")
        if box.is_checked() != wanted:
            methods.locator("label", has_text=name).click()
    advanced = page.locator("#aesthetic-explain .label-wrap", has_text="Advanced")
    advanced.click()
    page.locator("#aesthetic-explain-budget-lime input").fill(str(budget))
    page.locator("#aesthetic-explain-seed input").fill(str(seed))
    advanced.click()


WATCH_MAPS = """() => {
    // Every change of the panel: is a map on screen while the table has no verdict yet?
    window.__mapBeforeVerdict = false;
    const panel = document.querySelector('#aesthetic-explain');
    const look = () => {
        const maps = panel.querySelectorAll('#aesthetic-explain-gallery img').length;
        const table = panel.querySelector('#aesthetic-explain-table').innerText;
        if (maps > 0 && !/faithful|no better than chance/.test(table)) {
            window.__mapBeforeVerdict = true;
        }
    };
    new MutationObserver(look).observe(panel, {subtree: true, childList: true,
                                              characterData: true, attributes: true});
}"""


def test_a_map_shows_before_its_verdict(page):
    """Explain streams: a map is on the page while its table has no verdict yet; then the
    verdict comes, with the finished map."""
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Aesthetic").click()
    examples = page.locator("#aesthetic-examples")
    show_example(page, examples, "A flower", "#aesthetic-photo", "flower")
    show_example(page, examples, "A cup of coffee", "#aesthetic-photo", "coffee")
    explain_with_lime_only(page, seed=11)
    page.evaluate(WATCH_MAPS)
    page.locator("#aesthetic-explain-run").click()
    gallery = page.locator("#aesthetic-explain-gallery")
    expect(gallery.locator("img").first).to_be_visible(timeout=120_000)
    expect(page.locator("#aesthetic-explain-status")).to_contain_text(
        "Explained technical quality = ", timeout=180_000)
    expect(page.locator("#aesthetic-explain-table")).to_contain_text(
        re.compile("faithful|no better than chance"))
    assert page.evaluate("window.__mapBeforeVerdict") is True
    expect(gallery.locator(".caption-label").first).to_contain_text("random maps")


def test_a_new_photo_while_maps_stream_clears_everything(page, app):
    """A photo picked while the maps are still improving: the maps, table and status go at
    once, the run stops, and none of its maps comes back."""
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Aesthetic").click()
    examples = page.locator("#aesthetic-examples")
    show_example(page, examples, "A flower", "#aesthetic-photo", "flower")
    show_example(page, examples, "A cup of coffee", "#aesthetic-photo", "coffee")
    explain_with_lime_only(page, seed=12)
    page.locator("#aesthetic-explain-run").click()
    gallery = page.locator("#aesthetic-explain-gallery img")
    status = page.locator("#aesthetic-explain-status")
    expect(gallery.first).to_be_visible(timeout=120_000)
    expect(status).to_contain_text("verdict", timeout=10_000)
    expect(status).not_to_contain_text("Explained")  # still streaming

    stops = app.log_text().count("aesthetic_explain stopped: the page moved on")
    show_example(page, examples, "A flower", "#aesthetic-photo", "flower")
    expect(gallery).to_have_count(0, timeout=10_000)
    expect(status).not_to_contain_text("Explaining")
    deadline = 120
    while app.log_text().count("aesthetic_explain stopped: the page moved on") <= stops:
        page.wait_for_timeout(500)
        deadline -= 0.5
        assert deadline > 0, "the run never stopped"
    page.wait_for_timeout(1_000)  # anything the run still sent has arrived by now
    expect(gallery).to_have_count(0)
    expect(page.locator("#aesthetic-explain-table")).not_to_contain_text("LIME")
    expect(status).not_to_contain_text("Explain")


def test_models_tab_lists_the_manifest_truthfully(page, screens):
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
    # On a laptop's screen every artifact shows at once: no box in the table scrolls.
    scrolling = table.evaluate("""e => [...e.querySelectorAll('*')].filter(box =>
        ['auto', 'scroll'].includes(getComputedStyle(box).overflowY)
        && box.scrollHeight > box.clientHeight + 1).length""")
    assert scrolling == 0
    # A table of eight columns reads at a laptop's width, not a phone's.
    take(page, screens / "models.png", [page.locator("#models-network"), table],
         width=1200, scale=1)


def test_pull_offline_explains_itself(page):
    page.get_by_role("tab", name="Models").click()
    page.get_by_role("button", name="Pull from the Hub").click()
    toast = page.get_by_text("InstaVis is offline", exact=False).first
    toast.wait_for(timeout=20_000)
    assert "python -m weights pull" in toast.inner_text()
    assert "`" not in toast.inner_text()  # a toast shows Markdown's backticks as they are
    # The refusal marks the message, not the table: every artifact is still listed.
    from playwright.sync_api import expect

    table = page.locator("#models-table")
    expect(table.locator("[role=row]:not([aria-rowindex='1'])")).to_have_count(
        len(weights.artifacts()), timeout=10_000)
    expect(table).not_to_contain_text("Error")


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


# === The Profile tab: pick the example feed, check it, explain a photo; then another feed ===


def check_feed(page) -> None:
    from playwright.sync_api import expect

    page.locator("#profile-check").click()
    expect(page.locator("#profile-verdict .iv-card")).not_to_have_class(re.compile("empty"),
                                                                         timeout=180_000)


def test_check_the_example_feed_then_explain_a_photo(profile_page, screens):
    page = profile_page
    from playwright.sync_api import expect

    page.locator("#profile-examples").get_by_text("Example feed: the cat", exact=False).click()
    # the uploaded feed is drawn as a grid before it is checked
    expect(page.locator("#profile-grid img")).to_have_count(1, timeout=60_000)
    check_feed(page)
    verdict = page.locator("#profile-verdict")
    expect(verdict).to_contain_text("/ 100")
    expect(verdict).to_contain_text("Photos that break it")
    expect(verdict).to_contain_text("Photo 9")  # the underexposed cat
    expect(verdict).to_contain_text("EV darker than the rest")
    expect(verdict).to_contain_text("needs the CLIP weights")
    expect(page.locator("#profile-by-group img")).to_have_count(1, timeout=20_000)
    expect(page.locator("#profile-by-photo img")).to_have_count(1)
    expect(page.locator("#profile-similar-note")).to_contain_text("3 nearest of 4 indexed")
    expect(page.locator("#profile-similar img")).to_have_count(3, timeout=20_000)

    page.locator("#profile-explain-run").click()
    expect(page.locator("#profile-explain-gallery img").first).to_be_visible(timeout=120_000)
    # The map streams in first; the verdict, with the status naming what it explains, last.
    expect(page.locator("#profile-explain-status")).to_contain_text("Explained",
                                                                    timeout=120_000)
    expect(page.locator("#profile-explain-status")).to_contain_text("technical quality")
    expect(page.locator("#profile-explain-table")).to_contain_text("LIME")

    take(page, screens / "profile.png",
         [verdict, page.locator("#profile-explain-gallery")])


def test_a_new_feed_clears_the_old_results_and_names_a_damaged_photo(profile_page, tmp_path):
    page = profile_page
    from playwright.sync_api import expect

    if page.locator("#profile-verdict .iv-card.empty").count():
        page.locator("#profile-examples").get_by_text("Example feed: the cat", exact=False).click()
        check_feed(page)
    damaged = tmp_path / "damaged.jpg"
    damaged.write_bytes(b"\xff\xd8\xff not really a photo")
    files = [str(path) for path in EXAMPLE_FEED[:3]] + [str(damaged)]
    # An upload is a new feed: it replaces the files there, it is not added to them.
    page.locator("#profile-photos input[type=file]").set_input_files(files)
    listed = page.locator("#profile-photos")
    expect(listed).to_contain_text("damaged", timeout=20_000)
    expect(listed).not_to_contain_text("09", timeout=20_000)  # the example feed's ninth photo
    expect(page.locator("#profile-verdict .iv-card")).to_have_class(re.compile("empty"),
                                                                     timeout=10_000)
    expect(page.locator("#profile-by-photo img")).to_have_count(0)
    expect(page.locator("#profile-explain-gallery img")).to_have_count(0)
    check_feed(page)
    verdict = page.locator("#profile-verdict")
    expect(verdict).to_contain_text("3 photos")
    expect(verdict).to_contain_text("damaged.jpg")
