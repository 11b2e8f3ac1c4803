"""End to end on the Tags tab: `python app.py --offline` with the tests' tiny CLIP preset
(random weights: the tags it gives are not judgements) and a gallery database of its own,
driven by headless Chromium. Tag an example, explain a tag, post the photo, find it by tag
search, see it, delete it; and a change of photo or tags clears the old result.

Set INSTAVIS_SCREENSHOT_DIR to keep `tags-tab.png` (the README's is taken here).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.test_browser import app_with_tiny_clip, page_on_tab

pytestmark = pytest.mark.browser

OWN_TAG = "launch pad"  # a tag no other photo has, so the search finds exactly this one


@pytest.fixture(scope="module")
def tags_app_url(tmp_path_factory):
    with app_with_tiny_clip("tags", tmp_path_factory) as url:
        yield url


@pytest.fixture(scope="module")
def page(tags_app_url):
    with page_on_tab(tags_app_url, "Tags") as page:
        yield page


def pick(page, label: str, stem: str) -> None:
    from playwright.sync_api import expect

    page.locator("#tags-examples").get_by_text(label, exact=False).click()
    expect(page.locator("#tags-photo img")).to_have_attribute(
        "src", re.compile(rf"{stem}\.jpg"), timeout=20_000)


def text_box(page, elem_id: str):
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first


def tag_it(page, judged: int = 24) -> None:
    from playwright.sync_api import expect

    page.locator("#tags-tag").click()
    # Generous: the first tagging loads CLIP while the app's warm-up still runs, and on a
    # machine shared with other jobs that alone has taken more than 90 s.
    expect(page.locator("#tags-verdict .iv-card")).not_to_have_class(re.compile("empty"),
                                                                      timeout=240_000)
    expect(page.locator("#tags-verdict")).to_contain_text(f"of {judged}")
    expect(page.locator("#tags-chart img")).to_have_count(1, timeout=20_000)


def test_tag_explain_post_find_and_delete(page, tmp_path_factory):
    from playwright.sync_api import expect

    pick(page, "A rocket on its pad", "rocket")
    tag_it(page)
    suggested = text_box(page, "tags-post-tags").input_value()

    page.locator("#tags-explain-run").click()
    expect(page.locator("#tags-explain-gallery img").first).to_be_visible(timeout=90_000)
    expect(page.locator("#tags-explain-status")).to_contain_text("Explained '")
    expect(page.locator("#tags-explain-table")).to_contain_text("Grad-CAM")

    text_box(page, "tags-post-tags").fill(", ".join(filter(None, [suggested, OWN_TAG])))
    page.locator("#tags-post").click()
    status = page.locator("#tags-post-status")
    expect(status).to_contain_text("delete token", timeout=30_000)
    photo_id = re.search(r"photo (\d+)", status.inner_text()).group(1)
    token = status.locator("code").inner_text()

    text_box(page, "tags-search").fill(OWN_TAG)
    page.locator("#tags-search-button").click()
    expect(page.locator("#tags-page-line")).to_contain_text(f"1 photo with {OWN_TAG}",
                                                            timeout=20_000)
    expect(page.locator("#tags-grid img")).to_have_count(1)
    page.locator("#tags-grid img").first.click()
    chosen = page.locator("#tags-chosen-text")
    expect(chosen).to_contain_text(f"Photo {photo_id}", timeout=20_000)
    expect(chosen).to_contain_text(OWN_TAG)
    expect(page.locator("#tags-chosen img")).to_have_count(1)

    shots = Path(os.environ.get("INSTAVIS_SCREENSHOT_DIR") or tmp_path_factory.mktemp("shots"))
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "tags-tab.png"), full_page=True)

    text_box(page, "tags-token").fill("not the token")
    page.locator("#tags-delete").click()
    expect(page.get_by_text("wrong delete token").first).to_be_visible(timeout=20_000)
    expect(page.locator("#tags-grid img")).to_have_count(1)
    text_box(page, "tags-token").fill(token)
    page.locator("#tags-delete").click()
    expect(page.locator("#tags-delete-status")).to_contain_text(f"Photo {photo_id} is deleted",
                                                                timeout=20_000)
    expect(page.locator("#tags-page-line")).to_contain_text(f"No photos with {OWN_TAG}",
                                                            timeout=20_000)
    expect(page.locator("#tags-grid img")).to_have_count(0)
    expect(page.locator("#tags-chosen img")).to_have_count(0)
    expect(chosen).not_to_contain_text(f"Photo {photo_id}")


def test_a_change_of_photo_or_tags_clears_the_old_result(page):
    from playwright.sync_api import expect

    verdict = page.locator("#tags-verdict .iv-card")
    pick(page, "A cat", "chelsea")
    tag_it(page)
    page.locator("#tags-explain-run").click()
    expect(page.locator("#tags-explain-gallery img").first).to_be_visible(timeout=90_000)

    text_box(page, "tags-extra").fill("whiskers")
    expect(verdict).to_have_class(re.compile("empty"), timeout=10_000)
    expect(page.locator("#tags-chart img")).to_have_count(0)
    expect(page.locator("#tags-explain-gallery img")).to_have_count(0)
    expect(text_box(page, "tags-post-tags")).to_have_value("")

    tag_it(page, judged=25)  # the 24 concepts and whiskers
    pick(page, "A cup of coffee", "coffee")
    expect(verdict).to_have_class(re.compile("empty"), timeout=10_000)
    expect(page.locator("#tags-chart img")).to_have_count(0)
