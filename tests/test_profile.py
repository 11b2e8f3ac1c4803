"""models.profile: the per-photo measures against hand computations and published constants,
the feed score on generated feeds, the Shapley breakdowns by hand, outliers and
recommendations that follow the photos."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from skimage import data

from models.profile import advice, feed, measures
from models.profile.check import MAX_PHOTOS, ProfileError, check


def flat(colour, shape=(96, 128)) -> np.ndarray:
    return np.broadcast_to(np.array(colour, np.uint8), (*shape, 3)).copy()


# === One photo's measures ===


def test_a_mid_grey_photo_is_0_ev_flat_grey_and_d65():
    # sRGB 118 is linear ((118/255 + 0.055) / 1.055)^2.4 = 0.1812, the 18% grey card.
    tones = measures.tones(flat((118, 118, 118)))
    assert tones.brightness_ev == pytest.approx(math.log2(0.18119 / 0.18), abs=1e-3)
    assert tones.contrast == pytest.approx(0.0, abs=1e-9)
    assert tones.saturation == pytest.approx(0.0, abs=1e-3)
    # A neutral grey has D65's chromaticity, whose correlated colour temperature is 6504 K.
    assert tones.temperature_k == pytest.approx(6504, abs=15)
    # White is linear luminance 1: log2(1 / 0.18) EV.
    assert measures.tones(flat((255, 255, 255))).brightness_ev == pytest.approx(2.4739, abs=1e-3)


def test_mccamy_gives_illuminant_a_its_2856_kelvin():
    # CIE illuminant A (a tungsten lamp) sits at x = 0.44757, y = 0.40745; its CCT is 2856 K.
    x, y, luminance = 0.44757, 0.40745, 0.3
    xyz = np.array([x / y * luminance, luminance, (1 - x - y) / y * luminance])
    rgb_to_xyz = np.array([[0.4124564, 0.3575761, 0.1804375],
                           [0.2126729, 0.7151522, 0.0721750],
                           [0.0193339, 0.1191920, 0.9503041]])
    linear = np.linalg.solve(rgb_to_xyz, xyz)
    assert np.all(linear >= 0)
    assert measures.correlated_colour_temperature(linear) == pytest.approx(2856, abs=10)


def test_a_pure_red_photo_has_one_colour_at_its_published_lab():
    # sRGB red is L* 53.24, a* 80.09, b* 67.20 (D65).
    palette = measures.palette(flat((255, 0, 0)))
    assert palette.shares.tolist() == [1.0]
    np.testing.assert_allclose(palette.lab[0], [53.24, 80.09, 67.20], atol=0.02)
    assert palette.hex_codes() == ["#ff0000"]


def test_a_two_colour_photo_has_both_colours_with_their_shares_and_distance():
    photo = flat((255, 0, 0), (100, 100))
    photo[:, 70:] = (0, 0, 255)
    palette = measures.palette(photo)
    assert palette.hex_codes() == ["#ff0000", "#0000ff"]
    np.testing.assert_allclose(palette.shares, [0.7, 0.3], atol=0.02)
    # sRGB blue is L* 32.30, a* 79.19, b* -107.86: Delta E to red by hand
    red_to_blue = math.dist((53.24, 80.09, 67.20), (32.30, 79.19, -107.86))
    red = measures.palette(flat((255, 0, 0)))
    blue = measures.palette(flat((0, 0, 255)))
    assert measures.palette_distance(red, blue) == pytest.approx(red_to_blue, abs=0.1)
    assert measures.palette_distance(red, red) == 0.0
    # half red, half blue is 0 from red for its red half, 176 for its blue half, and red is
    # 0 from its nearest (red): (0.7 x 0 + 0.3 x 176.3 + 1 x 0) / 2
    assert measures.palette_distance(palette, red) == pytest.approx(
        0.15 * red_to_blue, abs=0.02 * red_to_blue)


# === Feeds ===


def crops(photo: np.ndarray, count: int, side: int = 300) -> list[np.ndarray]:
    """`count` overlapping crops of one photo: one shoot, one grade."""
    steps = [(row, col) for row in (0, 60, 120) for col in (0, 60, 120, 180)]
    return [photo[r : r + side, c : c + side] for r, c in steps[:count]]


def regraded(photo: np.ndarray, exposure: float = 1.0, warmth: float = 0.0) -> np.ndarray:
    """The photo with its exposure scaled (in linear light) and its white balance shifted
    (red up and blue down by `warmth`, in linear light)."""
    linear = measures.linear_rgb(photo) * exposure
    linear = linear * np.array([1 + warmth, 1.0, 1 - warmth])
    return measures.srgb_from_linear(linear)


@pytest.fixture(scope="module")
def coherent_and_mixed():
    astronaut = data.astronaut()
    coherent = crops(astronaut, 6)
    mixed = [regraded(data.coffee(), 0.3), regraded(data.rocket(), 1.0, 0.35),
             np.stack([data.camera()] * 3, -1), data.chelsea(),
             regraded(data.astronaut(), 2.2, -0.3), data.coffee()]
    return check(coherent), check(mixed)


def test_a_coherent_feed_scores_clearly_higher_than_a_mixed_one(coherent_and_mixed):
    coherent, mixed = coherent_and_mixed
    assert coherent.score > mixed.score + 25, (coherent.score, mixed.score)
    for key in ("palette_distance", "brightness_spread", "temperature_spread"):
        assert coherent.measure(key).value < mixed.measure(key).value
    # the score is the documented weighted mean of the group means (offline: no content)
    groups = {}
    for m in coherent.measures:
        groups.setdefault(m.group, []).append(m.score)
    expected = 100 * (0.3 * np.mean(groups["palette"]) + 0.3 * np.mean(groups["tone"])
                      + 0.2 * np.mean(groups["quality"])) / 0.8
    assert coherent.score == pytest.approx(expected)
    assert not coherent.has_content and any("CLIP" in note for note in coherent.notes)


def test_the_shapley_values_sum_to_the_score_minus_the_empty_feed(coherent_and_mixed):
    for report in coherent_and_mixed:
        assert report.baseline == 50
        assert report.by_photo.sum() == pytest.approx(report.score - 50, abs=1e-9)
        assert sum(report.by_group.values()) == pytest.approx(report.score - 50, abs=1e-9)
        assert report.by_photo_exact
        # by group, by hand: 100 x weight x (group score - 0.5) / the weights present (0.8)
        for group, value in report.by_group.items():
            weight = {"palette": 0.3, "tone": 0.3, "quality": 0.2}[group]
            assert value == pytest.approx(100 * weight * (report.group_scores[group] - 0.5)
                                          / 0.8)


def test_the_by_photo_shapley_values_of_three_photos_by_hand():
    photos = [data.astronaut(), data.coffee(), data.chelsea()]
    report = check(photos)
    tables = feed.FeedTables(report.photos)
    v = {(): 50.0, (0,): 50.0, (1,): 50.0, (2,): 50.0}  # a concept needs two photos
    for pair in ((0, 1), (0, 2), (1, 2)):
        v[pair] = tables.score(pair)
    v[(0, 1, 2)] = report.score
    # phi_i = 1/3 (v(N) - v(N - i)) + 1/6 (v(i, j) - v(j)) + 1/6 (v(i, k) - v(k)) + 1/3 (v(i) - 0)
    for i in range(3):
        j, k = (p for p in range(3) if p != i)
        by_hand = ((v[(0, 1, 2)] - v[(j, k)]) / 3 + (v[tuple(sorted((i, j)))] - v[(j,)]) / 6
                   + (v[tuple(sorted((i, k)))] - v[(k,)]) / 6 + (v[(i,)] - v[()]) / 3)
        assert report.by_photo[i] == pytest.approx(by_hand, abs=1e-9)


def test_shapley_values_of_known_games():
    # The glove game: player 0 holds a left glove, 1 and 2 right ones; a pair is worth 1.
    def gloves(members):
        return float(0 in members and (1 in members or 2 in members))

    values, exact = feed.shapley_values(3, gloves)
    assert exact
    np.testing.assert_allclose(values, [2 / 3, 1 / 6, 1 / 6], atol=1e-12)
    # Sampled (above exact_up_to) on an additive game: every marginal contribution is the
    # player's own worth, so even sampled values are exact.
    worth = np.arange(1.0, 16.0)
    values, exact = feed.shapley_values(15, lambda m: float(worth[list(m)].sum()),
                                        exact_up_to=12, permutations=6)
    assert not exact
    np.testing.assert_allclose(values, worth, atol=1e-9)
    # and the glove game sampled sums to v(all) - v(none) = 1
    values, _ = feed.shapley_values(3, gloves, exact_up_to=2, permutations=10)
    assert values.sum() == pytest.approx(1.0) and values[0] > values[1]


def test_many_sub_feeds_scored_at_once_equal_each_scored_alone():
    # FeedTables.scores (array arithmetic, what check() uses) against FeedTables.score (the
    # documented measures, one sub-feed at a time) on random coalitions, with and without CLIP
    # embeddings, including the empty feed and single photos (the baseline).
    photos = crops(data.astronaut(), 5) + [regraded(data.coffee(), 0.4), data.chelsea()]
    readings = check(photos).photos
    rng = np.random.default_rng(3)
    with_content = [dataclasses.replace(r, embedding=v / np.linalg.norm(v)) for r, v in
                    zip(readings, rng.normal(size=(len(readings), 8)), strict=True)]
    for tables in (feed.FeedTables(readings), feed.FeedTables(with_content)):
        coalitions = rng.random((200, len(readings))) < 0.5
        coalitions[:2] = False
        coalitions[1, 4] = True
        one_by_one = [tables.score(np.flatnonzero(row).tolist()) for row in coalitions]
        np.testing.assert_allclose(tables.scores(coalitions), one_by_one, atol=1e-9)
        assert tables.scores(coalitions)[0] == tables.scores(coalitions)[1] == 50.0


def test_batched_and_one_at_a_time_games_give_the_same_shapley_values():
    def gloves(members):
        return float(0 in members and (1 in members or 2 in members))

    def gloves_batched(coalitions):
        return (coalitions[:, 0] & (coalitions[:, 1] | coalitions[:, 2])).astype(float)

    for exact_up_to in (12, 2):  # every coalition, then sampled orders
        alone, _ = feed.shapley_values(3, gloves, exact_up_to=exact_up_to, permutations=10)
        batched, _ = feed.shapley_values(3, gloves_batched, batched=True,
                                         exact_up_to=exact_up_to, permutations=10)
        np.testing.assert_allclose(batched, alone, atol=1e-12)
    np.testing.assert_allclose(batched.sum(), 1.0)


def test_above_twelve_photos_the_by_photo_values_are_sampled_and_still_sum():
    photos = crops(data.astronaut(), 12) + [regraded(data.coffee(), 0.4), data.chelsea()]
    report = check(photos)
    assert not report.by_photo_exact and len(report.by_photo) == 14
    assert report.by_photo.sum() == pytest.approx(report.score - 50, abs=1e-9)
    assert any("samples" in note for note in report.notes)
    # the two photos from elsewhere lower the score most
    assert set(np.argsort(report.by_photo)[:2]) == {12, 13}


def test_the_odd_photo_in_a_feed_of_identical_photos_is_the_outlier():
    astronaut = data.astronaut()[::2, ::2]
    for odd, kind in ((regraded(astronaut, 0.35), "brightness"),
                      (regraded(astronaut, 1.0, 0.4), "temperature")):
        photos = [astronaut] * 8
        photos.insert(4, odd)
        report = check(photos)
        assert {o.photo for o in report.outliers} == {5}
        assert kind in {o.measure for o in report.outliers}
        assert int(np.argmin(report.by_photo)) == 4
        assert all(5 in r.photos for r in report.recommendations)


def test_recommendations_follow_the_feed_and_carry_its_measured_amounts():
    astronaut = data.astronaut()[::2, ::2]
    dark = [astronaut] * 5
    dark[2] = regraded(astronaut, 0.25)  # two stops down
    warm = [astronaut] * 5
    warm[1] = regraded(astronaut, 1.0, 0.4)
    dark_report, warm_report = check(dark), check(warm)
    dark_texts = [r.text for r in dark_report.recommendations]
    warm_texts = [r.text for r in warm_report.recommendations]
    assert dark_texts != warm_texts
    # The dark feed: photo 3, darker by its measured EV gap, worked out from the tones.
    ev = [measures.tones(photo).brightness_ev for photo in dark]
    gap = ev[0] - ev[2]
    assert gap == pytest.approx(2.0, abs=0.3)  # 0.25 x the light is two stops
    brightness = next(r for r in dark_report.recommendations if r.measure == "brightness")
    # each number as shown, once rounded; the amount is the difference of the shown numbers
    shown_gap = round(ev[0], 1) - round(ev[2], 1)
    assert brightness.photos == (3,)
    assert f"({ev[2]:+.1f} EV against a median of {ev[0]:+.1f} EV)" in brightness.text
    assert f"raise its exposure toward {ev[0]:+.1f} EV, by about {shown_gap:.1f} EV" in \
        brightness.text
    # The warm feed: photo 2, warmer, with the others' white balance as the target.
    temperature = next(r for r in warm_report.recommendations if r.measure == "temperature")
    kelvin = measures.tones(astronaut).temperature_k
    assert temperature.photos == (2,) and "warmer" in temperature.text
    assert f"toward {round(kelvin, -2):.0f} K" in temperature.text  # to a slider's 100 K
    # every recommendation comes from an outlier or a feed measure it names
    for report in (dark_report, warm_report):
        outlier_measures = {o.measure for o in report.outliers}
        for recommendation in report.recommendations:
            assert recommendation.measure in outlier_measures


def test_a_coherent_feed_gets_a_measured_all_clear():
    report = check(crops(data.astronaut(), 4))
    assert [r.measure for r in report.recommendations] == ["none"]
    ev = [p.tones.brightness_ev for p in report.photos]
    spread = max(abs(e - np.median(ev)) for e in ev)
    assert f"within {spread:.1f} EV" in report.recommendations[0].text


# === Bad feeds ===


def test_an_unreadable_photo_is_named_and_the_rest_are_checked(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a photo")
    good = []
    for i, photo in enumerate(crops(data.astronaut(), 3)):
        path = tmp_path / f"good{i}.png"
        from PIL import Image

        Image.fromarray(photo).save(path)
        good.append(path)
    report = check([good[0], broken, good[1], good[2]])
    assert [p.name for p in report.photos] == ["good0.png", "good1.png", "good2.png"]
    assert report.unreadable[0][0] == "broken.jpg"
    assert any("broken.jpg" in note for note in report.notes)


@pytest.mark.parametrize("photos, words", [
    ([data.astronaut()] * 2, "at least 3 readable photos"),
    ([data.astronaut()] * (MAX_PHOTOS + 1), f"at most {MAX_PHOTOS} photos"),
    ([np.zeros((10, 10, 3), np.uint8)] * 5, "0 of 5 were usable (5 could not be read)"),
])
def test_too_few_or_too_many_photos_are_refused_in_one_line(photos, words):
    with pytest.raises(ProfileError) as refused:
        check(photos)
    assert words in str(refused.value) and "\n" not in str(refused.value)


def test_outliers_need_three_photos_and_a_visible_gap():
    photos = [data.astronaut()[::2, ::2]] * 4
    report = check(photos)
    assert report.outliers == ()
    # a quarter-stop change stays under the smallest gap (half a stop)
    photos[1] = regraded(photos[0], 2 ** -0.25)
    assert advice.find_outliers(check(photos).photos) == []
