"""End to end on the Style tab: `python app.py --offline` with the tests' tiny CLIP preset
(random weights: the styles it names are not judgements) and a leaderboard database of its own,
driven by headless Chromium. Classify an example, share it, find it on the leaderboard, delete
it; and a new photo clears the old result.

Set INSTAVIS_SCREENSHOT_DIR to keep `style-tab.png` (the README's is taken here).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.test_browser import app_with_tiny_clip, page_on_tab

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def style_app_url(tmp_path_factory):
    with app_with_tiny_clip("style", tmp_path_factory) as url:
        yield url


@pytest.fixture(scope="module")
def page(style_app_url):
    with page_on_tab(style_app_url, "Style") as page:
        yield page


def pick(page, label: str, stem: str) -> None:
    from playwright.sync_api import expect

    page.locator("#style-examples").get_by_text(label, exact=False).click()
    expect(page.locator("#style-photo img")).to_have_attribute(
        "src", re.compile(rf"{stem}\.jpg"), timeout=20_000)


def test_classify_share_see_and_delete(page, tmp_path_factory):
    from playwright.sync_api import expect

    pick(page, "The astronaut", "astronaut")
    page.locator("#style-classify").click()
    verdict = page.locator("#style-verdict .iv-headline")
    expect(verdict).to_contain_text("%", timeout=90_000)
    expect(page.locator("#style-crop img")).to_have_count(1, timeout=20_000)
    expect(page.locator("#style-chart img")).to_have_count(1, timeout=20_000)
    style = verdict.inner_text().split("(")[0].strip().lower()

    page.locator("#style-explain-run").click()
    expect(page.locator("#style-explain-gallery img").first).to_be_visible(timeout=90_000)
    # The map explains the top style unless another is picked.
    expect(page.locator("#style-explain-status")).to_contain_text(f"Explained {style} ",
                                                                  ignore_case=True)

    page.locator("#style-nickname textarea, #style-nickname input").first.fill("ada")
    page.locator("#style-share").click()
    status = page.locator("#style-share-status")
    expect(status).to_contain_text("delete token", timeout=30_000)
    table = page.locator("#style-table")
    expect(table).to_contain_text("ada", timeout=20_000)
    expect(table).to_contain_text(style)
    entry = re.search(r"entry (\d+)", status.inner_text()).group(1)
    token = status.locator("code").inner_text()

    shots = Path(os.environ.get("INSTAVIS_SCREENSHOT_DIR") or tmp_path_factory.mktemp("shots"))
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "style-tab.png"), full_page=True)

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


def test_a_new_photo_clears_the_old_style(page):
    from playwright.sync_api import expect

    pick(page, "Grace Hopper", "grace_hopper")
    page.locator("#style-classify").click()
    expect(page.locator("#style-verdict .iv-headline")).to_contain_text("%", timeout=90_000)
    page.locator("#style-examples").get_by_text("No person", exact=False).click()
    expect(page.locator("#style-verdict .iv-headline")).to_have_count(0, timeout=10_000)
    expect(page.locator("#style-crop img")).to_have_count(0)
    expect(page.locator("#style-chart img")).to_have_count(0)
    page.locator("#style-classify").click()
    expect(page.locator("#style-verdict")).to_contain_text("No person found", timeout=60_000)
