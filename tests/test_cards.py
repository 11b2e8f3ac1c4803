"""The cards say one thing at a time: each number shown is stated once, in one rounding, on the
scale the text gives, and no sentence contradicts another on the same card.

The Aesthetic card is rendered for every example photo and the odd photos (a 4000 x 500
panorama strip, a 500 x 4000 one, a 64 x 64 square and a 2048 square, built as
tests/test_odd_photos.py builds them), and the Profile card for its example feed. The rules are
read off the rendered text, not off the code that writes it.
"""

from __future__ import annotations

import html
import re

import numpy as np
import pytest
from skimage import data, transform

from demos import aesthetic_tab, profile_tab
from models.aesthetic import attributes as aesthetic_attributes

NUMBER = r"[+-]?\d+(?:\.\d+)?"


def odd_photos() -> dict[str, np.ndarray]:
    parts = [data.coffee(), data.chelsea(), data.astronaut()]
    resized = [transform.resize(p, (500, round(p.shape[1] * 500 / p.shape[0])),
                                preserve_range=True, anti_aliasing=True).astype(np.uint8)
               for p in parts]
    strip = np.ascontiguousarray(np.concatenate(resized * 2, axis=1)[:, :4000])
    return {
        "4000 x 500 strip": strip,
        "500 x 4000 strip": np.ascontiguousarray(np.rot90(strip)),
        "64 x 64": transform.resize(data.chelsea(), (64, 64), preserve_range=True,
                                    anti_aliasing=True).astype(np.uint8),
        "2048 x 2048": transform.resize(data.astronaut(), (2048, 2048),
                                        preserve_range=True).astype(np.uint8),
    }


PHOTOS = {path.name: str(path) for path in sorted(aesthetic_tab.EXAMPLES_DIR.glob("*.jpg"))}


def card_text(card_html: str) -> str:
    """The words a reader sees on a card."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", card_html))).strip()


def decimals(token: str) -> int:
    return len(token.split(".")[1]) if "." in token else 0


def roundings_of(value: float, tokens: list[str]) -> set[int]:
    """The numbers of decimals with which `value` appears among `tokens`."""
    return {decimals(t) for t in tokens if float(t) == round(value, decimals(t))}


def scored_tokens(text: str) -> list[str]:
    """Numbers a card states as a score or a measurement: every number with decimals, and
    whole numbers that carry a scale ("47 / 100") or follow "score" or "BRISQUE"."""
    with_decimals = re.findall(rf"(?<![\w.]){NUMBER}(?=\D|$)", text)
    with_decimals = [t for t in with_decimals if "." in t]
    whole = re.findall(rf"({NUMBER}) / \d+", text)
    whole += re.findall(rf"(?:score|scores|BRISQUE) ({NUMBER})", text)
    return with_decimals + whole


# === The Aesthetic card ===


@pytest.fixture(scope="module")
def aesthetic_cards():
    """name -> (card text, rating, attribute rows, chart) for every photo."""
    from models import aesthetic

    cards = {}
    for name, photo in {**PHOTOS, **odd_photos()}.items():
        card, numbers, rows, chart = aesthetic_tab.rate(photo)
        cards[name] = (card_text(card), aesthetic.rate(photo), rows, chart, numbers)
    return cards


def test_every_number_on_the_aesthetic_card_is_stated_in_one_rounding(aesthetic_cards):
    for name, (text, rating, *_) in aesthetic_cards.items():
        tokens = scored_tokens(text)
        low, high = rating.reference_range
        quantities = {"score": rating.score, "BRISQUE": rating.brisque,
                      "quality": rating.quality, "lowest reference": low,
                      "highest reference": high}
        if rating.content is not None:
            quantities["content"] = rating.content
        for what, value in quantities.items():
            assert len(roundings_of(value, tokens)) == 1, (name, what, value, text)
        # The distance to the line is the difference of the numbers shown.
        shown = float(re.search(rf"({NUMBER}) / 10\b", text).group(1))
        margin = re.search(rf"({NUMBER}) points (above|below) the 5.5 line", text)
        if margin:
            sign = 1 if margin.group(2) == "above" else -1
            assert sign * float(margin.group(1)) == pytest.approx(shown - 5.5), (name, text)
        assert ("Not aesthetic" in text) == (not rating.aesthetic)


def test_the_percentile_sentence_agrees_with_the_score_it_sits_under(aesthetic_cards):
    for name, (text, *_) in aesthetic_cards.items():
        shown = float(re.search(rf"({NUMBER}) / 10\b", text).group(1))
        said = re.search(r"Scores higher than (\d+) of the (\d+) reference photos \([^)]*\), "
                         rf"which score ({NUMBER}) to ({NUMBER})\.", text)
        assert said, (name, text)
        beaten, size, low, high = (float(g) for g in said.groups())
        assert low <= high
        if beaten == 0:
            assert shown <= low, (name, text)  # none lower: the reference photos score higher
        elif beaten == size:
            assert shown >= high, (name, text)
        else:
            assert low <= shown <= high, (name, text)


def test_no_attribute_the_chart_calls_not_measured_is_named_the_weakest(aesthetic_cards):
    weakest_named = 0
    for name, (text, _, _, chart, _) in aesthetic_cards.items():
        (ax,) = chart.axes
        rows = {round(tick): label.get_text().split("\n")[0].lower()
                for tick, label in zip(ax.get_yticks(), ax.get_yticklabels(), strict=True)}
        unmeasured = {rows[round(t.get_position()[1])] for t in ax.texts
                      if t.get_text() == "not measured"}
        assert unmeasured, name  # thirds, symmetry and horizon tilt are never measured here
        weakest = re.search(r"Weakest attribute: ([a-z ]+) \(", text)
        if weakest:
            weakest_named += 1
            assert weakest.group(1) not in unmeasured, (name, weakest.group(1), unmeasured)
    assert weakest_named >= 2  # the rule was exercised: the spoiled coffee, the tiny square


def thirds_words_agree(hint: str, distance: float, score: float) -> None:
    """The thirds hint against the distance the score is made of."""
    close = aesthetic_attributes.THIRDS_CLOSE
    if any(w in hint for w in ("on a thirds line", "near a thirds point",
                               "close to a thirds point")):
        assert distance < close and score > 0.5, (hint, distance, score)
    else:
        assert distance >= close and score <= 0.5, (hint, distance, score)
        assert "far from a thirds point" in hint or "dead centre" in hint, hint


def test_the_thirds_words_follow_the_measured_distance(aesthetic_cards):
    for name, (_, rating, rows, chart, _) in aesthetic_cards.items():
        thirds = rating.attributes.thirds
        thirds_words_agree(thirds.hint, thirds.value, thirds.score)
        row = next(r for r in rows if r[0] == "thirds")
        assert row[4] == thirds.hint  # the table says the same
        (ax,) = chart.axes
        label = next(lb.get_text() for lb in ax.get_yticklabels()
                     if lb.get_text().startswith("Thirds"))
        assert label == f"Thirds\n{thirds.hint}", name  # and so does the chart


def test_a_subject_on_a_panoramas_thirds_line_but_far_from_its_points_is_not_on_the_grid():
    # A bright subject on the upper thirds line, at the left end of a 3:1 panorama: on a
    # thirds line as a line goes, but a third of the diagonal from the nearest thirds point.
    panorama = np.full((500, 1500), 60.0, np.float32)
    rows, cols = np.indices(panorama.shape)
    panorama[(rows - 167) ** 2 + (cols - 40) ** 2 < 30**2] = 250
    photo = np.repeat(panorama[..., None], 3, axis=-1).astype(np.uint8)
    thirds = aesthetic_attributes.measure(photo).thirds
    assert thirds.score == 0.0
    assert "on a thirds line" not in thirds.hint
    thirds_words_agree(thirds.hint, thirds.value, thirds.score)


def test_brisque_is_shown_with_the_words_its_scale_really_has(aesthetic_cards):
    import skimage.data

    from models import aesthetic

    # skimage's camera scores below 0 on its own pixels, outside LIVE's 0-100: the rule matters.
    camera = np.repeat(skimage.data.camera()[..., None], 3, axis=-1)
    cards = {**aesthetic_cards,
             "camera": (card_text(aesthetic_tab.rate(camera)[0]), aesthetic.rate(camera))}
    assert cards["camera"][1].brisque < 0
    for name, (text, rating, *_) in cards.items():
        said = re.search(rf"BRISQUE ({NUMBER})([^)]*)\)", text)
        assert said and float(said.group(1)) == round(rating.brisque, 1), (name, text)
        assert "lower is better" in said.group(2), (name, text)
        assert "pristine" not in text and "the worst" not in text, (name, text)
        # every "N / M" stays on its scale, and every bar on 0 to 1
        for value, scale in re.findall(rf"({NUMBER}) / (\d+)", text):
            assert 0 <= float(value) <= float(scale), (name, text)


def test_the_bars_show_values_on_their_own_0_to_1_scale(aesthetic_cards):
    for name, (_, rating, *_) in aesthetic_cards.items():
        card = aesthetic_tab.verdict_html(rating)
        for value in re.findall(r"<b>([^<]+)</b>", card):
            if value != aesthetic_tab.CONTENT_MISSING:
                assert 0 <= float(value) <= 1, (name, value)


# === The Profile card ===


@pytest.fixture(scope="module")
def profile_card():
    verdict, *_, numbers, _ = profile_tab.check_feed([str(p) for p in profile_tab.EXAMPLE_FEED])
    return card_text(verdict), numbers


def test_the_profile_card_states_its_score_once_in_one_rounding(profile_card):
    text, numbers = profile_card
    assert roundings_of(numbers["score"], scored_tokens(text)) == {0}
    assert re.search(rf"\b{numbers['score']:.0f} / 100\b", text)
    # and the charts' axis says the same
    assert f"{numbers['score']:.1f}" not in text


def test_the_profile_card_states_each_photos_values_in_one_rounding(profile_card):
    text, numbers = profile_card
    ev_tokens = re.findall(rf"({NUMBER}) EV", text)
    for photo in numbers["photos"]:
        assert len(roundings_of(photo["brightness_ev"], ev_tokens)) <= 1, (photo, text)
    # colour temperatures in one rounding too: to a white-balance slider's 100 K
    kelvins = re.findall(r"(\d+) K\b", text)
    assert kelvins and all(int(k) % 100 == 0 for k in kelvins), kelvins
    # the photos named are the feed's, by their numbers
    named = {int(n) for n in re.findall(r"Photos? (\d+)", text)}
    assert named <= {p["position"] for p in numbers["photos"]}


def test_a_profile_card_that_quotes_brisque_says_which_way_is_better(tmp_path):
    from PIL import Image, ImageFilter

    feed = [str(p) for p in profile_tab.EXAMPLE_FEED]
    spoiled = tmp_path / "04_blurred.png"
    Image.open(feed[3]).filter(ImageFilter.GaussianBlur(5)).save(spoiled)
    feed[3] = str(spoiled)
    verdict, *_, numbers, _ = profile_tab.check_feed(feed)
    text = card_text(verdict)
    assert any(o["photo"] == 4 and o["measure"] == "quality" for o in numbers["outliers"])
    quoted = re.findall(rf"BRISQUE is ({NUMBER}), ([a-z ]+)\)", text)
    assert quoted and all(words == "where lower is better" for _, words in quoted), text
