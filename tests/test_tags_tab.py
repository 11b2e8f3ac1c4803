"""The Tags tab's handlers, in-process, with the tiny keras-hub CLIP preset (random weights: the
tags are not judgements): what each shows, the gallery round trip, and what a user reads when
something is refused."""

from __future__ import annotations

import gradio as gr
import pytest

from demos import TABS, tags_tab

EXAMPLE = str(tags_tab.EXAMPLES_DIR / "rocket.jpg")


def test_the_tab_is_in_the_app_and_its_examples_are_recorded():
    assert "tags" in [tab.KEY for tab in TABS]
    readme = (tags_tab.EXAMPLES_DIR / "README.md").read_text()
    for name, _ in tags_tab.EXAMPLES:
        assert (tags_tab.EXAMPLES_DIR / name).stat().st_size < 80_000, name
        assert f"`{name}`" in readme


def test_tagging_shows_the_card_the_chart_the_rules_and_the_tags_to_post(tiny_clip):
    verdict, chart, rows, numbers, to_post, picker = tags_tab.tag_photo(EXAMPLE, "launch pad")
    probabilities = [tag["probability"] for tag in numbers["tags"]]
    assert len(rows) == len(numbers["tags"]) == 25  # the 24 concepts and the own tag
    assert probabilities == sorted(probabilities, reverse=True)
    assert [row[0] for row in rows] == [tag["tag"] for tag in numbers["tags"]]
    assert len(chart.axes[0].patches) == 25
    applied = numbers["applied"]
    assert "of 25" in verdict and "CLIP zero-shot" in verdict
    assert to_post == ", ".join(tag.replace("_", " ") for tag in applied)
    assert picker["tags"] == [tag["tag"] for tag in numbers["tags"]]
    assert picker["top"] == (applied[0] if applied else numbers["tags"][0]["tag"])
    assert next(t for t in numbers["tags"] if t["tag"] == "launch pad")["own"]


def test_one_threshold_for_every_tag_is_said_on_the_card(tiny_clip):
    verdict, _, rows, numbers, _, _ = tags_tab.tag_photo(EXAMPLE, None, False, 0.05)
    assert numbers["threshold"] == 0.05 and "Applied from your threshold, 5%." in verdict
    assert all(row[3] == 0.05 and row[2] == ("yes" if row[1] >= 0.05 else "no")
               for row in rows)


def test_without_weights_one_sentence_says_what_is_missing():
    with pytest.raises(gr.Error) as missing:
        tags_tab.tag_photo(EXAMPLE)
    message = str(missing.value.message)
    assert "python -m weights pull clip" in message and "python -m models.train tags" in message
    assert "\n" not in message


def test_any_tag_can_be_explained_and_others_are_refused(tiny_clip):
    request = tags_tab.make_request(EXAMPLE, target="sea")
    assert request.target == "sea" and "'sea' (" in request.target_label
    with pytest.raises(Exception, match=r"^target: got 'ufo'; expected one of this photo's"):
        tags_tab.make_request(EXAMPLE, target="ufo")


def test_post_find_edit_and_delete_in_the_gallery(tiny_clip):
    message = tags_tab.post(EXAMPLE, "sky, launch pad")
    photo_id, token = int(message.split("**")[1]), message.split("`")[1]
    items, line, ids = tags_tab.browse("launch pad")
    assert ids == [photo_id] and line.startswith("1 photo with launch pad, newest first")
    assert items[0][1] == f"#{photo_id}: launch pad, sky"
    _, shown, _ = tags_tab.show_photo(photo_id)
    assert "`launch pad`" in shown and "`sky`" in shown

    with pytest.raises(gr.Error, match="wrong delete token for photo"):
        tags_tab.edit(photo_id, "not the token", "sea")
    assert tags_tab.edit(photo_id, token, "sea, night") == (
        f"Photo {photo_id} now has the tags: night, sea.")
    assert tags_tab.browse("launch pad")[2] == []
    assert tags_tab.browse("sea, night")[2] == [photo_id]
    assert tags_tab.delete(photo_id, token) == f"Photo {photo_id} is deleted."
    assert tags_tab.browse("")[1] == "No photos yet."


def test_the_gallery_line_escapes_what_was_searched_and_says_when_a_page_is_past_the_end(
        tiny_clip):
    tags_tab.post(EXAMPLE, "sky")
    _, line, _ = tags_tab.browse("sky", 7)
    assert line == "1 photo with sky; page 7 is past the last page, 1."
    with pytest.raises(gr.Error, match=r"search\[0\]: got '<b>x</b>'"):
        tags_tab.browse("<b>x</b>")


def test_the_tab_says_before_any_click_whether_it_can_tag(tiny_clip, monkeypatch):
    from demos import tags_tab

    assert tags_tab.missing_tagger() is None  # the tiny CLIP counts as CLIP weights
    monkeypatch.delenv("INSTAVIS_WEIGHTS_DIR")
    reason = tags_tab.missing_tagger()
    assert reason and "python -m weights pull clip" in reason
