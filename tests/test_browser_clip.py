"""End to end on the tabs that need CLIP: `python app.py --offline` with the tests' tiny CLIP
preset (random weights: the styles and tags it gives are not judgements), with a leaderboard
and a gallery database of its own, driven by headless Chromium.

Style: classify an example, share it, find it on the leaderboard, delete it; a new photo clears
the old result. Tags: tag an example, explain a tag, post the photo, find it by tag search, see
it, delete it; a change of photo or tags clears the old result.

The docs' pictures of the Style and Tags tabs are taken here, with the tiny stand-in CLIP
(tests/screens.py); `python -m pytest -m browser --update-screens` writes them into
docs/screens/.
"""

from __future__ import annotations

import os
import re

import pytest

from tests.browser import RunningApp, app_process, page_on_tab
from tests.screens import take

pytestmark = pytest.mark.browser

OWN_TAG = "launch pad"  # a tag no other photo has, so the search finds exactly this one


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> RunningApp:
    """The app with the tiny CLIP preset as its CLIP weights."""
    from benchmarks.stand_ins.tiny_clip import build_tiny_clip_preset

    weights_dir = tmp_path_factory.mktemp("clip_weights")
    build_tiny_clip_preset(weights_dir / "clip")
    env = {**os.environ, "INSTAVIS_WEIGHTS_DIR": str(weights_dir)}
    with app_process(env, "clip", tmp_path_factory) as running:
        # The tabs' first answers wait for the models the warm-up is loading; on a loaded
        # machine that outlasts a click's 30 s, so the clicks start once it is done.
        running.wait_for_log("warm-up: done", seconds=300)
        yield running


@pytest.fixture(scope="module")
def style_page(browser, app):
    with page_on_tab(browser, app.url, "Style") as page:
        yield page


@pytest.fixture(scope="module")
def tags_page(browser, app):
    with page_on_tab(browser, app.url, "Tags") as page:
        yield page


def pick(page, tab: str, label: str, stem: str) -> None:
    """Click the example of `tab` labelled `label`; wait until its photo is on screen."""
    from playwright.sync_api import expect

    page.locator(f"#{tab}-examples").get_by_text(label, exact=False).click()
    expect(page.locator(f"#{tab}-photo img")).to_have_attribute(
        "src", re.compile(rf"{stem}\.jpg"), timeout=20_000)


# === Style ===


def test_classify_share_see_and_delete(style_page, screens):
    page = style_page
    from playwright.sync_api import expect

    pick(page, "style", "The astronaut", "astronaut")
    page.locator("#style-classify").click()
    verdict = page.locator("#style-verdict .iv-headline")
    expect(verdict).to_contain_text("%", timeout=90_000)
    expect(page.locator("#style-crop img")).to_have_count(1, timeout=20_000)
    expect(page.locator("#style-chart img")).to_have_count(1, timeout=20_000)
    style = verdict.inner_text().split("(")[0].strip().lower()

    page.locator("#style-explain-run").click()
    expect(page.locator("#style-explain-gallery img").first).to_be_visible(timeout=90_000)
    # The map explains the top style unless another is picked.
    # The map shows first; the status names what it explains once its verdict is in.
    expect(page.locator("#style-explain-status")).to_contain_text(f"Explained {style} ",
                                                                  ignore_case=True,
                                                                  timeout=90_000)
    shot = take(page, screens / "style.png",
                [page.locator("#style-verdict"), page.locator("#style-explain-gallery")])
    # At a phone's width the map is drawn large enough to see above its caption (squeezed into
    # one of four columns, the caption took the whole thumbnail and left it a sliver).
    assert shot.picture_heights and min(shot.picture_heights) >= 80, shot.picture_heights

    page.locator("#style-nickname textarea, #style-nickname input").first.fill("ada")
    page.locator("#style-share").click()
    status = page.locator("#style-share-status")
    expect(status).to_contain_text("delete token", timeout=30_000)
    table = page.locator("#style-table")
    expect(table).to_contain_text("ada", timeout=20_000)
    expect(table).to_contain_text(style)
    entry = re.search(r"entry (\d+)", status.inner_text()).group(1)
    token = status.locator("code").inner_text()

    page.locator("#style-entry-id input").fill(entry)
    page.locator("#style-token input").fill("not the token")
    page.locator("#style-delete").click()
    expect(page.get_by_text("wrong delete token").first).to_be_visible(timeout=20_000)
    expect(table).to_contain_text("ada")
    page.locator("#style-token input").fill(token)
    page.locator("#style-delete").click()
    expect(page.locator("#style-delete-status")).to_contain_text(f"Entry {entry} is deleted",
                                                                 timeout=20_000)
    expect(table).not_to_contain_text("ada", timeout=20_000)


def test_a_new_photo_clears_the_old_style(style_page):
    page = style_page
    from playwright.sync_api import expect

    pick(page, "style", "Grace Hopper", "grace_hopper")
    page.locator("#style-classify").click()
    expect(page.locator("#style-verdict .iv-headline")).to_contain_text("%", timeout=90_000)
    page.locator("#style-examples").get_by_text("No person", exact=False).click()
    expect(page.locator("#style-verdict .iv-headline")).to_have_count(0, timeout=10_000)
    expect(page.locator("#style-crop img")).to_have_count(0)
    expect(page.locator("#style-chart img")).to_have_count(0)
    page.locator("#style-classify").click()
    expect(page.locator("#style-verdict")).to_contain_text("No person found", timeout=60_000)


# === Tags ===


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


def test_tag_explain_post_find_and_delete(tags_page, screens):
    page = tags_page
    from playwright.sync_api import expect

    pick(page, "tags", "A rocket on its pad", "rocket")
    tag_it(page)
    suggested = text_box(page, "tags-post-tags").input_value()

    page.locator("#tags-explain-run").click()
    expect(page.locator("#tags-explain-gallery img").first).to_be_visible(timeout=90_000)
    expect(page.locator("#tags-explain-status")).to_contain_text("Explained '",
                                                                 timeout=90_000)
    expect(page.locator("#tags-explain-table")).to_contain_text("Grad-CAM")
    take(page, screens / "tags.png",
         [page.locator("#tags-verdict"), page.locator("#tags-explain-gallery")])

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


def test_a_change_of_photo_or_tags_clears_the_old_result(tags_page):
    page = tags_page
    from playwright.sync_api import expect

    verdict = page.locator("#tags-verdict .iv-card")
    pick(page, "tags", "A cat", "chelsea")
    tag_it(page)
    page.locator("#tags-explain-run").click()
    expect(page.locator("#tags-explain-gallery img").first).to_be_visible(timeout=90_000)

    text_box(page, "tags-extra").fill("whiskers")
    expect(verdict).to_have_class(re.compile("empty"), timeout=10_000)
    expect(page.locator("#tags-chart img")).to_have_count(0)
    expect(page.locator("#tags-explain-gallery img")).to_have_count(0)
    expect(text_box(page, "tags-post-tags")).to_have_value("")

    tag_it(page, judged=25)  # the 24 concepts and whiskers
    pick(page, "tags", "A cup of coffee", "coffee")
    expect(verdict).to_have_class(re.compile("empty"), timeout=10_000)
    expect(page.locator("#tags-chart img")).to_have_count(0)
