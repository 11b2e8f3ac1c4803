"""End to end on the Profile tab: `python app.py --offline` (no CLIP: palette, tones and
quality), with an index of four generated profiles in its data folder, driven by headless
Chromium. Pick the example feed, see its grid, check it, read the misfits and the
recommendations, see the similar profiles, explain one photo; then upload another feed with a
damaged file, and the old results go at once.

Set INSTAVIS_SCREENSHOT_DIR to keep `profile-tab.png` (the README's is taken here).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from demos.profile_tab import EXAMPLE_FEED
from tests.test_browser import app_process, page_on_tab

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def profile_app_url(tmp_path_factory):
    from models.profile.index import build_index

    data_dir = tmp_path_factory.mktemp("profile_data")
    profiles = tmp_path_factory.mktemp("profiles")
    for name, photo in (("cat_lovers", data.chelsea()), ("espresso_bar", data.coffee()),
                        ("launch_watch", data.rocket()), ("space_portraits",
                                                          data.astronaut())):
        (profiles / name).mkdir()
        for i in range(6):
            Image.fromarray(np.ascontiguousarray(photo[:, i * 30 :])).save(
                profiles / name / f"{i}.png")
    build_index(profiles, data_dir / "profile" / "index", say=lambda line: None)
    env = {k: v for k, v in os.environ.items() if k != "INSTAVIS_WEIGHTS_DIR"}
    with app_process(env, "profile", tmp_path_factory, data_dir=data_dir) as url:
        yield url


@pytest.fixture(scope="module")
def page(profile_app_url):
    with page_on_tab(profile_app_url, "Profile") as page:
        yield page


def check_feed(page) -> None:
    from playwright.sync_api import expect

    page.locator("#profile-check").click()
    expect(page.locator("#profile-verdict .iv-card")).not_to_have_class(re.compile("empty"),
                                                                         timeout=180_000)


def test_check_the_example_feed_then_explain_a_photo(page, tmp_path_factory):
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
    expect(page.locator("#profile-explain-status")).to_contain_text("technical quality")
    expect(page.locator("#profile-explain-table")).to_contain_text("LIME")

    shots = Path(os.environ.get("INSTAVIS_SCREENSHOT_DIR") or tmp_path_factory.mktemp("shots"))
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "profile-tab.png"), full_page=True)


def test_a_new_feed_clears_the_old_results_and_names_a_damaged_photo(page, tmp_path):
    from playwright.sync_api import expect

    if page.locator("#profile-verdict .iv-card.empty").count():
        page.locator("#profile-examples").get_by_text("Example feed: the cat", exact=False).click()
        check_feed(page)
    damaged = tmp_path / "damaged.jpg"
    damaged.write_bytes(b"\xff\xd8\xff not really a photo")
    files = [str(path) for path in EXAMPLE_FEED[:3]] + [str(damaged)]
    # A new upload adds to the files already there (Gradio's multi-file input): clearing them
    # first is how a user starts another feed, and it already clears the old results.
    page.locator("#profile-photos button[aria-label='Clear']").click()
    expect(page.locator("#profile-verdict .iv-card")).to_have_class(re.compile("empty"),
                                                                     timeout=10_000)
    page.locator("#profile-photos input[type=file]").set_input_files(files)
    expect(page.locator("#profile-verdict .iv-card")).to_have_class(re.compile("empty"),
                                                                     timeout=10_000)
    expect(page.locator("#profile-by-photo img")).to_have_count(0)
    expect(page.locator("#profile-explain-gallery img")).to_have_count(0)
    check_feed(page)
    verdict = page.locator("#profile-verdict")
    expect(verdict).to_contain_text("3 photos")
    expect(verdict).to_contain_text("damaged.jpg")
