"""LIME and SHAP maps handed over while they improve, and stopped once they have settled,
against models whose true answer is known: each reads only one disk of a natural photo."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from benchmarks.stand_ins.region_models import (
    natural_photo,
    region_model,
    scene_disk,
    top_fraction_inside,
)
from explain import FunctionModel, KerasModel, explain
from explain.incremental import (
    SETTLE_AT,
    Incremental,
    check_every,
    rank_correlation,
    settling_correlation,
)

PHOTOS = ("coins", "china", "retina")
BUDGET = 500  # large enough that a settled map has evaluations left to save


@functools.cache
def disk_scene(name: str):
    """(image, disk mask, KerasModel that reads only the disk)."""
    image = natural_photo(name)
    mask = scene_disk(name, image.shape[:2])
    return image, mask, KerasModel(region_model(mask), output_names=["disk"])


def inside_share(heatmap: np.ndarray, mask: np.ndarray) -> float:
    """Share of the map's top pixels (as many as the disk has) inside the disk."""
    return top_fraction_inside(heatmap, mask, float(mask.mean()))


def points_at(heatmap: np.ndarray, mask: np.ndarray) -> bool:
    """The map ranks the disk above the rest: its mean inside is higher than outside, and its
    top pixels fall inside at least twice as often as the disk's share of the photo."""
    inside = mask > 0
    return (heatmap[inside].mean() > heatmap[~inside].mean()
            and inside_share(heatmap, mask) >= 2 * mask.mean())


@pytest.mark.parametrize("method", ["lime", "shap"])
@pytest.mark.parametrize("name", PHOTOS)
def test_a_settled_map_stops_early_and_still_finds_the_disk(name, method):
    image, mask, model = disk_scene(name)
    partials = []
    with model.counting() as used:
        stopped = explain(method, model, image, budget=BUDGET, faithfulness=False,
                          on_map=partials.append, settle_at=SETTLE_AT)
    full = explain(method, model, image, budget=BUDGET, faithfulness=False)

    assert stopped.meta["stopped_early"] is True
    assert stopped.meta["evaluations"] == used.value < BUDGET
    assert full.meta["evaluations"] <= BUDGET
    # Found as well as with the whole budget, give or take a tenth of the disk.
    assert inside_share(stopped.heatmap, mask) >= inside_share(full.heatmap, mask) - 0.1
    assert points_at(stopped.heatmap, mask)
    # The first map on screen already points at the disk.
    first = partials[0]
    assert first.meta["partial"] and first.faithfulness is None
    assert first.heatmap.shape == mask.shape
    assert first.meta["evaluations"] <= check_every(BUDGET, model.batch_size)
    assert points_at(first.heatmap, mask)


@pytest.mark.parametrize("method", ["lime", "shap"])
def test_watching_without_stopping_changes_nothing(method):
    """Handing over partial maps spends the same evaluations on the same samples: the final
    map is the one-shot map, and the partial maps come in order, short of the budget."""
    image, mask, model = disk_scene("camera")
    budget = 120
    partials = []
    with model.counting() as watched_used:
        watched = explain(method, model, image, budget=budget, on_map=partials.append)
    with model.counting() as plain_used:
        plain = explain(method, model, image, budget=budget)

    np.testing.assert_array_equal(watched.heatmap, plain.heatmap)
    assert watched.faithfulness == plain.faithfulness
    assert watched_used.value == plain_used.value
    assert watched.meta["evaluations"] == plain.meta["evaluations"] <= budget
    assert watched.meta["stopped_early"] is False
    counts = [p.meta["evaluations"] for p in partials]
    assert len(counts) >= 3 and counts == sorted(counts) and counts[-1] <= budget
    # The last hand-over is the finished map, before its faithfulness pass.
    np.testing.assert_allclose(partials[-1].heatmap, plain.heatmap, atol=1e-6)


@pytest.mark.parametrize("method", ["lime", "shap"])
def test_a_map_that_never_settles_spends_the_budget_and_no_more(method):
    """A model answering noise never settles: the run ends at the budget, not beyond."""
    rng = np.random.default_rng(0)
    model = FunctionModel(lambda images: rng.random((len(images), 1)), ["noise"])
    image = natural_photo("coins", side=64)
    with model.counting() as used:
        exp = explain(method, model, image, budget=60, faithfulness=False,
                      settle_at=0.999)
    assert exp.meta["stopped_early"] is False
    assert used.value == exp.meta["evaluations"] <= 60
    assert used.value >= 50  # it did spend (nearly) all of it: SHAP rounds to whole splits


def test_settling_needs_consecutive_checks_and_resets_on_a_low_one():
    seen = []
    incremental = Incremental(on_map=seen.append, settle_at=0.9, checks=2)
    base = np.arange(20.0)
    noisy = np.random.default_rng(1).permutation(20).astype(float)
    steps = [base, base, noisy, base, base, base]
    stops = [incremental.check(w, lambda w=w: w / 20, 10 * i, 100)
             for i, w in enumerate(steps, start=1)]
    # check 1: nothing to compare; 2: same (1 in a row); 3: shuffled (reset); 4: back but
    # shuffled vs base (reset); 5 and 6: same twice in a row -> stop at 6.
    assert stops == [False, False, False, False, False, True]
    assert [p.evaluations for p in seen] == [10, 20, 30, 40, 50, 60]
    assert np.isnan(seen[0].correlation) and seen[1].correlation == pytest.approx(1.0)


def test_settling_correlation_reads_the_leading_regions():
    rng = np.random.default_rng(2)
    weights = rng.normal(size=100)
    order = np.argsort(weights)
    # Shuffling the bottom half leaves the top fifth and its ranks alone.
    shuffled = weights.copy()
    shuffled[order[:50]] = rng.permutation(weights[order[:50]])
    assert settling_correlation(weights, shuffled) == pytest.approx(1.0)
    assert rank_correlation(weights, shuffled) < 0.95
    # Reversing the ranking is -1 whatever is compared.
    assert settling_correlation(weights, -weights, top=1.0) == pytest.approx(-1.0)
    assert np.isnan(rank_correlation(np.ones(5), np.arange(5)))
    # Spearman computed independently: Pearson of the ranks (no ties here).
    other = rng.normal(size=100)
    ranks = lambda x: np.argsort(np.argsort(x))  # noqa: E731
    assert rank_correlation(weights, other) == pytest.approx(
        np.corrcoef(ranks(weights), ranks(other))[0, 1])


def test_settle_at_outside_a_correlation_is_refused():
    with pytest.raises(ValueError, match="settle_at"):
        Incremental(settle_at=1.5)


def test_a_gradient_map_is_handed_over_once_before_its_verdict():
    image, mask, model = disk_scene("coins")
    seen = []
    exp = explain("gradcam", model, image, on_map=seen.append)
    assert len(seen) == 1
    assert seen[0].faithfulness is None and seen[0].meta["partial"]
    np.testing.assert_allclose(seen[0].heatmap, exp.heatmap, atol=1e-6)
    assert exp.faithfulness is not None
