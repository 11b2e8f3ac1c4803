"""The Style tab's handlers, in-process, with the tiny keras-hub CLIP preset: what each shows,
the leaderboard round trip, and the refusals a user sees."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest

from demos import TABS, style_tab

EXAMPLE = str(style_tab.EXAMPLES_DIR / "astronaut.jpg")
NO_PERSON = str(style_tab.EXAMPLES_DIR / "coffee.jpg")


def test_the_tab_is_in_the_app_and_its_examples_are_recorded():
    assert "style" in [tab.KEY for tab in TABS]
    readme = (style_tab.EXAMPLES_DIR / "README.md").read_text()
    for name, _ in style_tab.EXAMPLES:
        assert (style_tab.EXAMPLES_DIR / name).stat().st_size < 80_000, name
        assert f"`{name}`" in readme


def test_classify_shows_the_card_the_crop_the_chart_and_the_numbers(tiny_clip):
    verdict, crop, chart, numbers, styles = style_tab.classify_photo(EXAMPLE)
    assert numbers["top"].capitalize() in verdict and numbers["source"] in verdict
    assert crop.shape[:2] == (numbers["crop"][2], numbers["crop"][3])
    assert len(chart.axes[0].patches) == 8 == len(styles["styles"])
    assert styles == {"styles": list(numbers["probabilities"]), "top": numbers["top"]}
    assert sum(numbers["probabilities"].values()) == pytest.approx(1.0)
    assert numbers["probability"] == max(numbers["probabilities"].values())


def test_no_person_is_said_on_the_card(tiny_clip):
    verdict, crop, _, numbers, _ = style_tab.classify_photo(NO_PERSON)
    assert numbers["crop"] is None and "No person found" in verdict
    assert crop.shape[:2] == (341, 512)  # the whole judged copy (at most 512 a side)


def test_without_weights_one_sentence_says_what_is_missing():
    with pytest.raises(gr.Error) as missing:
        style_tab.classify_photo(EXAMPLE)
    assert "python -m weights pull clip" in str(missing.value.message)
    assert "python -m models.train style" in str(missing.value.message)


def test_the_explanation_explains_any_style_and_refuses_others(tiny_clip):
    request = style_tab.make_request(EXAMPLE, "everyday", None, target="bohemian")
    assert request.target == "bohemian"
    assert request.image.shape[:2] != (512, 512)  # the crop, not the photo
    top = style_tab.make_request(EXAMPLE, "everyday", None).target
    assert top == style_tab.classify_photo(EXAMPLE)[3]["top"]
    with pytest.raises(Exception, match=r"^target: got 'goth'; expected one of this photo's"):
        style_tab.make_request(EXAMPLE, "everyday", None, target="goth")


def test_share_then_see_it_on_the_leaderboard_then_delete_it(tiny_clip):
    message = style_tab.share(EXAMPLE, "everyday", None, "ada")
    entry, token = int(message.split("**")[1]), message.split("`")[1]
    rows, chart = style_tab.show_leaderboard()
    assert [row[1] for row in rows] == ["ada"] and rows[0][-1] == entry
    assert chart.axes[0].patches  # one bar for the style shared
    one_style, _ = style_tab.show_leaderboard(rows[0][2])
    assert [row[1] for row in one_style] == ["ada"]
    with pytest.raises(gr.Error, match="wrong delete token"):
        style_tab.delete(entry, "x" * 43)
    assert style_tab.show_leaderboard()[0] == rows
    assert style_tab.delete(entry, token) == f"Entry {entry} is deleted."
    assert style_tab.show_leaderboard()[0] == []


def test_a_shared_thumbnail_is_the_crop_small_and_stripped(tiny_clip):
    import io

    from PIL import Image

    from store import leaderboard

    style_tab.share(EXAMPLE, "everyday", None, "ada")
    (entry,) = leaderboard.top()
    thumbnail = Image.open(io.BytesIO(entry.thumbnail))
    assert max(thumbnail.size) <= 160 and not thumbnail.getexif()
    crop_ratio = np.divide(*style_tab.classify_photo(EXAMPLE)[1].shape[:2])
    assert thumbnail.height / thumbnail.width == pytest.approx(crop_ratio, rel=0.05)


@pytest.mark.parametrize("proxies", ["0", "1"])
def test_forged_forwarded_addresses_and_deleting_between_shares_are_still_limited(
        tiny_clip, monkeypatch, proxies):
    """A client that writes a new X-Forwarded-For address on each share, and deletes each share
    with its token at once, is still one client with one count: refused after the limit (5 a
    minute). With one declared proxy, the proxy adds the address it saw on the right."""
    from tests.test_clients import request

    monkeypatch.setenv("INSTAVIS_TRUSTED_PROXIES", proxies)
    monkeypatch.delenv("INSTAVIS_SHARES_PER_MINUTE", raising=False)

    def forged(i: int):
        chain = [f"6.6.{i}.{i}"] + (["198.51.100.9"] if proxies == "1" else [])
        return request(", ".join(chain), session=f"session-{i}")

    for i in range(5):
        message = style_tab.share(EXAMPLE, "everyday", None, "ada", request=forged(i))
        entry, token = int(message.split("**")[1]), message.split("`")[1]
        assert style_tab.delete(entry, token) == f"Entry {entry} is deleted."
    with pytest.raises(gr.Error, match="Too many shares: at most 5 a minute from one client"):
        style_tab.share(EXAMPLE, "everyday", None, "ada", request=forged(5))


def test_the_tab_says_before_any_click_whether_it_can_classify(tiny_clip, monkeypatch):
    assert style_tab.missing_classifier() is None  # the tiny CLIP counts as CLIP weights
    monkeypatch.delenv("INSTAVIS_WEIGHTS_DIR")
    reason = style_tab.missing_classifier()
    assert reason and "python -m weights pull clip" in reason
