"""The Aesthetic tab: the app's "aesthetic" API driven through a real Gradio server with
gradio_client, its verdict card, its explanation request, and the chart of
demos.figures.aesthetic.

The photos are the tab's own examples (demos/examples/), including the deliberately spoiled
coffee, so these tests also check that the examples are what the tab promises.
"""

from __future__ import annotations

import io

import gradio as gr
import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

from demos import TABS, aesthetic_tab
from demos.figures import aesthetic as aesthetic_drawing
from models.aesthetic.attributes import ATTRIBUTE_NAMES
from models.images import judged_copy
from tests.served import app_client

EXAMPLES = aesthetic_tab.EXAMPLES_DIR
PHOTO = EXAMPLES / "coffee.jpg"
BAD_PHOTO = EXAMPLES / "coffee_dark_blurry.jpg"


@pytest.fixture(scope="module")
def client():
    with app_client() as served:
        yield served


def rate(client, photo):
    """(verdict html, numbers, attribute table, chart) for one photo."""
    return client.predict(handle_file(str(photo)), api_name="/aesthetic")


# === The tab in the app ===


def test_the_aesthetic_tab_comes_first_and_offers_its_examples():
    from models import aesthetic

    assert [tab.KEY for tab in TABS][0] == "aesthetic"
    assert aesthetic_tab.OUTPUTS == aesthetic.OUTPUTS
    readme = (EXAMPLES / "README.md").read_text()
    for name, _ in aesthetic_tab.EXAMPLES:
        path = EXAMPLES / name
        assert path.stat().st_size < 80_000, name
        assert f"`{name}`" in readme  # every example's source and licence are recorded


def test_the_spoiled_example_is_what_make_examples_writes():
    from demos.examples import make_examples

    made = make_examples.examples()["coffee_dark_blurry.jpg"]
    shipped = np.asarray(Image.open(BAD_PHOTO).convert("RGB"), np.int16)
    assert shipped.shape == made.shape
    assert np.abs(shipped - made).mean() < 2  # JPEG noise only


def test_an_example_photo_is_rated_with_its_attributes(client):
    verdict, numbers, table, chart = rate(client, PHOTO)
    assert 1.0 <= numbers["score"] <= 10.0
    assert numbers["margin"] == pytest.approx(numbers["score"] - 5.5)
    assert "confidence" not in numbers and "confident" not in verdict
    assert 0.0 <= numbers["percentile"] <= 100.0
    assert f"{numbers['score']:.1f} <small>/ 10</small>" in verdict
    assert "of the 7 reference photos" in verdict
    assert "BRISQUE, a model of human quality ratings on LIVE" in verdict
    assert f"BRISQUE {numbers['brisque']:.1f}" in verdict
    rows = table["data"]
    assert len(rows) == len(ATTRIBUTE_NAMES) == 9
    assert [row[0] for row in rows] == list(ATTRIBUTE_NAMES)
    assert table["headers"] == aesthetic_tab.TABLE_HEADERS
    assert all(row[4] for row in rows)  # every attribute has its hint
    assert chart["type"] == "matplotlib" and chart["plot"].startswith("data:image/png")


def test_the_spoiled_example_scores_below_the_original(client):
    _, good, _, _ = rate(client, PHOTO)
    verdict, bad, table, _ = rate(client, BAD_PHOTO)
    assert bad["score"] < good["score"]
    assert bad["aesthetic"] is False and "Not aesthetic" in verdict
    hints = {row[0]: row[4] for row in table["data"]}
    assert "blurry" in hints["sharpness"]


def test_a_truncated_photo_gets_one_line(client, tmp_path):
    buffer = io.BytesIO()
    Image.open(PHOTO).save(buffer, "JPEG")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(buffer.getvalue()[:600])
    with pytest.raises(Exception) as caught:
        rate(client, broken)
    message = str(caught.value)
    assert message.startswith("That photo can't be used:")
    assert "\n" not in message and "Traceback" not in message


def test_a_thumbnail_is_refused_in_one_line(client, tmp_path):
    thumbnail = tmp_path / "thumbnail.png"
    Image.fromarray(np.full((40, 60, 3), 90, np.uint8)).save(thumbnail)
    with pytest.raises(Exception) as caught:
        rate(client, thumbnail)
    message = str(caught.value)
    assert message == ("That photo can't be used: the photo is 60 x 40 pixels; InstaVis judges "
                       "photos with at least 64 pixels on each side.")


def test_the_panel_explains_quality_through_the_api(client):
    status, gallery, table, png = client.predict(
        handle_file(str(PHOTO)), ["lime"], "quality", 0, 10, 10, api_name="/aesthetic_explain",
    )
    # Named as the target picker names it, not by the output's terse name.
    assert status.startswith("Explained **technical quality** = ") and " with LIME." in status
    assert len(gallery) == 1 and table["data"][0][0] == "LIME"
    assert gallery[0]["caption"].startswith("LIME · technical quality = ")
    assert table["data"][0][1].startswith("technical quality = ")
    assert table["data"][0][9] == 10  # the budget typed in Advanced reached LIME


# === The explanation request ===


def test_the_request_explains_the_photo_by_the_chosen_score():
    from explain import FunctionModel

    request = aesthetic_tab.make_request(str(PHOTO), "quality")
    # The copy the rating judged, so the explained number is the displayed one.
    assert request.image.shape == judged_copy(np.asarray(Image.open(PHOTO))).shape
    assert request.target == "quality"
    assert isinstance(request.model_for("lime"), FunctionModel)
    # BRISQUE is no network: Grad-CAM gets the sentence saying so, not a model.
    with pytest.raises(ValueError, match="Grad-CAM cannot explain BRISQUE"):
        request.model_for("gradcam")
    assert aesthetic_tab.make_request(str(PHOTO)).target == "quality"  # the default


def test_content_cannot_be_explained_without_clip(monkeypatch):
    from models import aesthetic

    monkeypatch.setattr(aesthetic, "content_available", lambda: False)
    with pytest.raises(gr.Error, match="python -m weights pull clip"):
        aesthetic_tab.make_request(str(PHOTO), "content")


@pytest.mark.parametrize("content, expected", [(False, ["quality"]),
                                               (True, ["quality", "content"])])
def test_the_page_offers_content_only_with_clip(monkeypatch, content, expected):
    from models import aesthetic

    monkeypatch.setattr(aesthetic, "content_available", lambda: content)
    with gr.Blocks() as demo:
        refreshers = aesthetic_tab.build()
    (picker,) = [block for block in demo.blocks.values() if isinstance(block, gr.Dropdown)
                 and block.elem_id == "aesthetic-explain-target"]
    # The server accepts both scores (content can arrive while the app runs) ...
    assert [value for _, value in picker.choices] == ["quality", "content"]
    assert picker.value == "quality"
    # ... and the refresher the page runs on load shows only what this machine has now.
    (refresh, inputs, outputs), (follow, _, _) = refreshers
    assert inputs == outputs == [picker]
    shown = refresh("quality")
    assert [value for _, value in shown.choices] == expected and shown.value == "quality"
    # The methods follow the target: no Grad-CAM for technical quality, which has no
    # gradients (the note says so); offered again for the content score.
    methods, note, _ = follow("quality", ["gradcam", "lime"])
    assert [value for _, value in methods.choices] == ["lime", "shap"]
    assert methods.value == ["lime"] and "BRISQUE, which has no gradients" in note.value
    methods, note, _ = follow("content", ["lime"])
    assert [value for _, value in methods.choices] == ["gradcam", "lime", "shap"]
    assert methods.value == ["lime"] and not note.visible


# === Verdict card ===


def rating(score=7.4, aesthetic=True, margin=1.9, quality=0.7, brisque=37.3, content=0.6,
           percentile=57.1, notes=("A note <with> markup.", "Run `python -m weights pull clip`."),
           reference_range=None):
    from models.aesthetic import rating as model

    return model.AestheticRating(score=score, aesthetic=aesthetic, margin=margin,
                                 quality=quality, brisque=brisque, content=content,
                                 content_source=None if content is None else "zero-shot",
                                 percentile=percentile,
                                 attributes=None, notes=notes, reference_range=reference_range)


def test_the_verdict_card_shows_score_verdict_percentile_and_bars():
    block = aesthetic_tab.verdict_html(rating())
    assert "7.4 <small>/ 10</small>" in block
    assert "Aesthetic <small>(1.9 points above the 5.5 line)</small>" in block
    # 57.1% of 7 photos is 4 of them.
    assert ("Scores higher than 4 of the 7 reference photos (unedited photos that ship with "
            "scikit-image, scikit-learn and matplotlib).") in block
    assert ("BRISQUE, a model of human quality ratings on LIVE (BRISQUE 37.3; lower is better)"
            in block)
    assert 'class="iv-card yes"' in block
    assert "<b>0.70</b>" in block and "width:70.0%" in block  # quality bar
    assert "<b>0.60</b>" in block and "width:60.0%" in block  # content bar
    assert "A note &lt;with&gt; markup." in block  # notes are escaped
    assert "Run <code>python -m weights pull clip</code>." in block


def test_the_card_says_which_scores_the_reference_photos_span():
    # A high score that beats none of the reference photos: they score higher still.
    block = aesthetic_tab.verdict_html(rating(score=8.6, margin=3.1, percentile=0.0,
                                              reference_range=(8.74, 9.81)))
    assert ("Scores higher than 0 of the 7 reference photos (unedited photos that ship with "
            "scikit-image, scikit-learn and matplotlib), which score 8.7 to 9.8.") in block
    # BRISQUE below 0 (a sharp photo) is said as it is, with the direction and no range
    block = aesthetic_tab.verdict_html(rating(brisque=-5.14))
    assert "(BRISQUE -5.1; lower is better)" in block and "pristine" not in block


@pytest.mark.parametrize("score, aesthetic, words", [
    (7.44, True, "1.9 points above the 5.5 line"),  # 7.4 shown: 7.4 - 5.5
    (7.46, True, "2.0 points above the 5.5 line"),  # 7.5 shown, though 7.46 - 5.5 is 1.96
    (5.52, True, "just above the 5.5 line"),  # shown as 5.5: no "0.0 points"
    (5.47, False, "just below the 5.5 line"),  # shown as 5.5 too, on the other side
    (2.0, False, "3.5 points below the 5.5 line"),
])
def test_the_distance_to_the_line_adds_up_with_the_score_shown(score, aesthetic, words):
    assert aesthetic_tab.margin_words(score, aesthetic) == words


def test_the_verdict_card_without_content_says_what_it_needs():
    block = aesthetic_tab.verdict_html(rating(score=2.0, aesthetic=False, margin=-3.5,
                                              content=None, notes=()))
    assert "Not aesthetic <small>(3.5 points below the 5.5 line)</small>" in block
    assert 'class="iv-card no"' in block
    assert aesthetic_tab.CONTENT_MISSING in block
    assert block.count('class="iv-fill"') == 1  # only the quality bar is filled
    assert "<ul" not in block


# === Drawing ===


def test_the_chart_has_a_bar_per_attribute_coloured_by_sign():
    contributions = [("exposure", 0.9, "well exposed"), ("sharpness", -0.5, "blurry"),
                     ("noise", 0.1, "clean")]
    figure = aesthetic_drawing.contribution_chart(contributions)
    (ax,) = figure.axes
    (bars,) = ax.containers
    assert len(bars) == 3
    assert [bar.get_width() for bar in bars] == pytest.approx([0.9, -0.5, 0.1])

    def colour(bar):
        return tuple(round(c * 255) for c in bar.get_facecolor()[:3])

    assert [colour(bar) for bar in bars] == [aesthetic_drawing.GREEN, aesthetic_drawing.RED,
                                             aesthetic_drawing.GREEN]
    labels = [tick.get_text() for tick in ax.get_yticklabels()]
    assert labels[1] == "Sharpness\nblurry"
    assert ax.get_title(loc="left") == aesthetic_drawing.TITLE
    assert "(SHAP)" in aesthetic_drawing.TITLE
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # the first (largest) contribution on top


def test_the_chart_marks_what_the_surrogate_cannot_measure():
    contributions = [("sharpness", -0.5, "blurry"), ("symmetry", 0.0, "asymmetric")]
    figure = aesthetic_drawing.contribution_chart(contributions, fit_r2=0.4,
                                                  unmeasured={"symmetry"})
    (ax,) = figure.axes
    texts = [text.get_text() for text in ax.texts]
    assert texts == ["-0.50", "not measured"]
    assert "40%" in figure.get_supxlabel().replace("\n", " ")


def _drawn_boxes(figure):
    """The boxes, in display pixels, of what a drawn figure shows: each axes with everything
    it draws (title, tick labels, texts) and each figure-level text."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    boxes = [("axes", ax.get_tightbbox(renderer)) for ax in figure.axes]
    return boxes + [(text.get_text(), text.get_window_extent(renderer))
                    for text in figure.texts if text.get_text().strip()]


def test_no_text_of_the_chart_is_cut_off_even_with_long_labels():
    # Long hints push the axes to the right; the caption under them once ran off the figure.
    contributions = [("horizon tilt", -0.4, "tilted by 7 degrees, straighten it in any editor"),
                     ("colourfulness", 0.3, "quite colourful, with a strong warm colour cast"),
                     ("exposure", 0.1, "well exposed")]
    figure = aesthetic_drawing.contribution_chart(contributions, fit_r2=0.39)
    boxes = _drawn_boxes(figure)
    width, height = figure.canvas.get_width_height()
    for text, box in boxes:
        assert box.x0 >= -1 and box.x1 <= width + 1, f"{text!r} leaves the figure sideways"
        assert box.y0 >= -1 and box.y1 <= height + 1, f"{text!r} leaves the figure"
    assert any("They account for 39%" in text.replace("\n", " ") for text, _ in boxes)


def test_the_chart_draws_nine_real_contributions():
    from models import aesthetic

    contributions = aesthetic.attribute_contributions(str(BAD_PHOTO))
    (ax,) = aesthetic_drawing.contribution_chart(contributions).axes
    (bars,) = ax.containers
    assert len(bars) == len(ATTRIBUTE_NAMES)
    reds = sum(bar.get_width() < 0 for bar in bars)
    assert reds == sum(value < 0 for _, value, _ in contributions)
