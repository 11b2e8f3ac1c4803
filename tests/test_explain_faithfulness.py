"""Faithfulness against random maps, checked on a scene whose curves can be worked out by hand.

The photo is a checkerboard of pure red (254, 0, 0) and pure green (0, 254, 0) pixels, and the
model scores the region R (rows 20-43, columns 32-63: 768 of the 6,144 pixels, an eighth) by
the mean over R of (red / 254)^2 + (green / 254)^2. Each photo pixel in R adds 1, each black
pixel 0, and each blurred one 0.5: a Gaussian blur of sigma 5 turns a checkerboard into (127,
127, 0) wherever its 20-pixel reach stays inside the image, which R's does. So after deleting
or inserting n of R's pixels the score is known exactly, whatever order the pixels inside R go
in:

- deletion (to black): 1 - n / 768;   insertion (onto the blur): 0.5 + 0.5 * n / 768.

Step k of 16 changes 384 * k pixels. A perfect map (R first) has all of R changed by step 2; an
inverted map (R last) reaches R at step 15 (5,760 - 5,376 = 384 of R's pixels) and finishes it
at step 16.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.stand_ins.region_models import photo, rectangle_mask, region_model
from explain import Faithfulness, FunctionModel, KerasModel, explain
from explain.metrics import faithfulness, faithfulness_evaluations
from explain.targets import resolve_target

HEIGHT, WIDTH = 64, 96
REGION = (slice(20, 44), slice(32, 64))


def checkerboard() -> np.ndarray:
    rows, cols = np.indices((HEIGHT, WIDTH))
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    red = (rows + cols) % 2 == 0
    image[red, 0] = 254
    image[~red, 1] = 254
    return image


def region_mask() -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), np.float32)
    mask[REGION] = 1.0
    return mask


def colour_energy(images: np.ndarray) -> np.ndarray:
    """Mean over R of (red / 254)^2 + (green / 254)^2: N x 1."""
    inside = images[:, REGION[0], REGION[1], :2].astype(np.float64) / 254
    return (inside**2).sum(axis=-1).mean(axis=(1, 2))[:, None]


def measure(fn, heatmap: np.ndarray, seed: int = 0):
    model = FunctionModel(fn, ["energy"])
    return faithfulness(model, checkerboard(), heatmap, resolve_target(0, None, 1), seed=seed)


def trapezoid(curve) -> float:
    """AUC on [0, 1] of equally spaced points, written out for the expectations."""
    curve = list(curve)
    return sum((a + b) / 2 for a, b in zip(curve[:-1], curve[1:], strict=True)) / (len(curve) - 1)


# Hand-worked curves (see the module docstring).
PERFECT_DELETION = [1.0, 0.5] + [0.0] * 15
PERFECT_INSERTION = [0.5, 0.75] + [1.0] * 15
INVERTED_DELETION = [1.0] * 15 + [0.5, 0.0]
INVERTED_INSERTION = [0.5] * 15 + [0.75, 1.0]


def test_the_hand_worked_numbers_themselves():
    """The expectations, from the formulas, before any code under test runs."""
    assert trapezoid(PERFECT_DELETION) == 1 / 16  # (0.75 + 0.25) / 16
    assert trapezoid(PERFECT_INSERTION) == 15.5 / 16  # (0.625 + 0.875 + 14) / 16
    assert trapezoid(INVERTED_DELETION) == 15 / 16
    assert trapezoid(INVERTED_INSERTION) == 8.5 / 16
    # Read every 4th point (the random maps' 4-step grid): 1, 0, 0, 0, 0 and 0.5, 1, 1, 1, 1.
    assert trapezoid(PERFECT_DELETION[::4]) == 0.125
    assert trapezoid(PERFECT_INSERTION[::4]) == 0.9375


def test_a_perfect_map_is_faithful_with_the_hand_worked_curves():
    scores = measure(colour_energy, region_mask())

    np.testing.assert_allclose(scores.deletion_curve, PERFECT_DELETION, atol=1e-6)
    np.testing.assert_allclose(scores.insertion_curve, PERFECT_INSERTION, atol=1e-6)
    assert scores.deletion_auc == pytest.approx(1 / 16, abs=1e-6)
    assert scores.insertion_auc == pytest.approx(15.5 / 16, abs=1e-6)
    assert scores.compared_deletion_auc == pytest.approx(0.125, abs=1e-6)
    assert scores.compared_insertion_auc == pytest.approx(0.9375, abs=1e-6)
    # Ends at 1 (photo) and 0 (black / blur), so deletion is already normalised and insertion
    # maps 0.5 -> 0, 1 -> 1.
    assert scores.deletion_auc_normalised == pytest.approx(1 / 16, abs=1e-6)
    assert scores.insertion_auc_normalised == pytest.approx((15.5 / 16 - 0.5) / 0.5, abs=1e-6)

    assert (scores.steps, scores.random_maps, scores.random_steps) == (16, 8, 4)
    assert scores.random_deletion_spread > 0 and scores.random_insertion_spread > 0
    # Block-random maps reach R gradually: between the perfect and the inverted map.
    assert 0.125 < scores.random_deletion_auc < 15 / 16
    assert 8.5 / 16 < scores.random_insertion_auc < 0.9375
    assert scores.beats_random and scores.verdict == "faithful"


def test_an_inverted_map_is_no_better_than_chance():
    scores = measure(colour_energy, 1 - region_mask())

    np.testing.assert_allclose(scores.deletion_curve, INVERTED_DELETION, atol=1e-6)
    np.testing.assert_allclose(scores.insertion_curve, INVERTED_INSERTION, atol=1e-6)
    assert scores.deletion_auc == pytest.approx(15 / 16, abs=1e-6)
    assert scores.insertion_auc == pytest.approx(8.5 / 16, abs=1e-6)
    assert scores.deletion_auc > scores.random_deletion_auc  # worse than chance, not just equal
    assert not scores.beats_random and scores.verdict == "no better than chance"


@pytest.mark.parametrize("heatmap", [np.zeros((HEIGHT, WIDTH), np.float32),
                                     np.full((HEIGHT, WIDTH), 0.7, np.float32)],
                         ids=["zeros", "constant"])
def test_an_uninformative_map_is_no_better_than_chance(heatmap):
    """A constant map ranks pixels by the random tie-break alone: R is hit in proportion,
    about as a random map hits it."""
    scores = measure(colour_energy, heatmap)
    assert scores.verdict == "no better than chance"
    # Within the random maps' band, not merely on its losing side.
    assert abs(scores.compared_deletion_auc - scores.random_deletion_auc) < (
        2 * scores.random_deletion_spread)


def made(deletion, insertion):
    """A Faithfulness whose random maps have mean 0.5 / 0.7 and spread 0.1 / 0.05."""
    return Faithfulness(
        deletion_auc=deletion, insertion_auc=insertion, random_deletion_auc=0.5,
        random_insertion_auc=0.7, steps=16, deletion_curve=(1.0,) * 17,
        insertion_curve=(0.0,) * 16 + (1.0,), random_deletion_spread=0.1,
        random_insertion_spread=0.05, random_maps=8, random_steps=4,
        compared_deletion_auc=deletion, compared_insertion_auc=insertion,
    )


@pytest.mark.parametrize("deletion, insertion, faithful", [
    (0.39, 0.76, True),  # past mean - spread and mean + spread on both
    (0.45, 0.76, False),  # deletion beats the mean, but by less than the spread
    (0.39, 0.74, False),  # insertion beats the mean, but by less than the spread
    (0.40, 0.75, False),  # exactly one spread away is not more than it
    (0.10, 0.60, False),  # a great deletion does not make up for a poor insertion
])
def test_the_map_must_beat_the_random_maps_by_more_than_their_spread_on_both(
        deletion, insertion, faithful):
    scores = made(deletion, insertion)
    assert scores.beats_random is faithful
    assert scores.verdict == ("faithful" if faithful else "no better than chance")


def test_normalised_aucs_ignore_an_affine_change_of_the_score():
    """100 * score + 5 gives the same normalised AUCs and verdict; raw AUCs move with it."""
    plain = measure(colour_energy, region_mask())
    scaled = measure(lambda images: 100 * colour_energy(images) + 5, region_mask())

    assert scaled.deletion_auc == pytest.approx(100 * plain.deletion_auc + 5, rel=1e-5)
    assert scaled.random_deletion_spread == pytest.approx(100 * plain.random_deletion_spread,
                                                          rel=1e-4)
    for name in ("deletion_auc_normalised", "insertion_auc_normalised",
                 "random_deletion_auc_normalised", "random_insertion_auc_normalised",
                 "random_deletion_spread_normalised", "random_insertion_spread_normalised"):
        assert getattr(scaled, name) == pytest.approx(getattr(plain, name), abs=1e-5), name
    assert scaled.verdict == plain.verdict == "faithful"
    # The normalised random means sit between the perfect map (0.0625 / 0.9375) and chance.
    assert 0.0625 < plain.random_deletion_auc_normalised < 1
    assert 0 < plain.random_insertion_auc_normalised < 0.9375


def test_the_verdict_reads_raw_scores_so_a_flipped_score_flips_it():
    """Normalising also undoes a sign flip, but the map still shows what *raises* the score:
    for -score it points at what lowers it, and deletion then raises the score."""
    plain = measure(colour_energy, region_mask())
    flipped = measure(lambda images: -colour_energy(images), region_mask())
    assert flipped.deletion_auc_normalised == pytest.approx(plain.deletion_auc_normalised,
                                                            abs=1e-6)
    assert flipped.verdict == "no better than chance"


def test_a_score_the_perturbations_cannot_move_has_no_normalised_auc():
    scores = measure(lambda images: np.full((len(images), 1), 3.0), region_mask())
    assert scores.deletion_auc == scores.random_deletion_auc == pytest.approx(3.0)
    assert scores.random_deletion_spread == 0
    assert scores.deletion_auc_normalised is None
    assert scores.insertion_auc_normalised is None
    assert scores.random_insertion_spread_normalised is None
    assert scores.verdict == "no better than chance"


def test_the_seed_redraws_the_random_maps_not_the_maps_own_curves():
    first, second = (measure(colour_energy, region_mask(), seed=seed) for seed in (0, 1))
    assert first.deletion_curve == second.deletion_curve  # exact: R's order does not matter
    assert first.random_deletion_auc != second.random_deletion_auc


# === Cost ===


def test_one_pass_costs_the_shared_ends_once_and_fewer_steps_for_random_maps():
    seen = []

    def counting(images):
        seen.extend(images)
        return colour_energy(images)

    measure(counting, region_mask())
    # The photo, black and blurred ends once; 15 + 15 inner points of the map's curves; 3 + 3
    # for each of the 8 random maps.
    assert len(seen) == faithfulness_evaluations() == 3 + 30 + 8 * 6 == 81
    photo_seen = sum(np.array_equal(image, checkerboard()) for image in seen)
    black_seen = sum(not image.any() for image in seen)
    assert photo_seen == 1 and black_seen == 1


def test_explain_reports_the_pass_and_its_cost_apart_from_the_maps():
    model = KerasModel(region_model(rectangle_mask(32, 32)), output_names=["score"])
    exp = explain("gradcam", model, photo(32, 32))
    assert exp.meta["evaluations"] == 1
    assert exp.meta["faithfulness_evaluations"] == faithfulness_evaluations() == 81
    assert exp.faithfulness.random_maps == 8


@pytest.mark.parametrize("options, message", [
    ({"random_steps": 3}, "must divide"),
    ({"random_maps": 1}, "at least 2"),
])
def test_bad_pass_settings_are_refused(options, message):
    model = FunctionModel(colour_energy, ["energy"])
    with pytest.raises(ValueError, match=message):
        faithfulness(model, checkerboard(), region_mask(), resolve_target(0, None, 1), **options)
