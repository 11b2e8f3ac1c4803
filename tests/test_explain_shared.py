"""The random maps' curves measured once per (model, photo, target, seed) and shared by every map
of a request: the same verdicts and numbers as each method alone, for fewer model evaluations.

Expected values come from `explain` called for each method alone with no `baselines`, which
runs the one-pass `explain.metrics.faithfulness` (81 evaluations a map). A faithfulness pass is
3 end images (photo, all black, blurred) + 8 random maps x 2 curves x 3 inner points = 51
evaluations that do not depend on the map, and 2 curves x 15 inner points = 30 that do.
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage.data import chelsea, coffee
from skimage.transform import resize

from benchmarks.stand_ins.region_models import photo, rectangle_mask, region_model
from demos.explain_runs import ExplainRequest, explain_methods
from explain import FunctionModel, KerasModel, explain
from explain.metrics import BaselineCache, faithfulness, faithfulness_against, random_baseline
from explain.targets import resolve_target

RANDOM_PART = 3 + 8 * 2 * 3  # 51: the end images and the random maps' curves
MAP_PART = 2 * 15  # 30: one map's own curves
BUDGETS = {"lime": 30, "shap": 30}


def small(image: np.ndarray, size=(48, 64)) -> np.ndarray:
    out = resize(image, size, anti_aliasing=True, preserve_range=True)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


class CountingBox:
    """Two outputs over pixels only: 0 is the brightness and edge energy of the upper-left
    quarter, 1 the redness of the lower half. Counts every image it is shown."""

    def __init__(self):
        self.images_seen = 0

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.images_seen += len(images)
        pixels = images.astype(np.float64) / 255
        height, width = images.shape[1:3]
        corner = pixels[:, : height // 2, : width // 2]
        edges = np.abs(np.diff(corner.mean(axis=-1), axis=2)).mean(axis=(1, 2))
        bright = corner.mean(axis=(1, 2, 3))
        lower = pixels[:, height // 2 :]
        red = (lower[..., 0] - lower[..., 1:].mean(axis=-1)).mean(axis=(1, 2))
        return np.stack([bright + 4 * edges, red], axis=1)


def counting_model(batch_size: int = 64) -> tuple[FunctionModel, CountingBox]:
    box = CountingBox()
    return FunctionModel(box, ["corner", "red"], batch_size=batch_size), box


def alone(method: str, image: np.ndarray, target, seed: int):
    """`method` explained on its own, today's way, on a fresh model: (explanation, images the
    model saw)."""
    model, box = counting_model()
    exp = explain(method, model, image, target, seed=seed, budget=BUDGETS.get(method))
    return exp, box.images_seen


def same_result(got, expected) -> None:
    assert got.faithfulness == expected.faithfulness  # every AUC, spread and curve, exactly
    assert got.faithfulness.verdict == expected.faithfulness.verdict
    np.testing.assert_array_equal(got.heatmap, expected.heatmap)


# === The split pass gives the one-pass numbers ===


@pytest.mark.parametrize("seed", [0, 7])
@pytest.mark.parametrize("batch_size", [64, 7])
def test_a_baseline_plus_the_maps_curves_equals_the_one_pass(seed, batch_size):
    image = small(chelsea())
    target = resolve_target(0, None, 2)
    rows, cols = np.indices(image.shape[:2])
    maps = [rows.astype(np.float32), -cols.astype(np.float32),
            np.zeros(image.shape[:2], np.float32)]  # all ties: broken by the seeded draws
    model, box = counting_model(batch_size)
    baseline = random_baseline(model, image, target, seed=seed)
    assert box.images_seen == baseline.evaluations == RANDOM_PART
    for heatmap in maps:
        before = box.images_seen
        split = faithfulness_against(model, image, heatmap, target, baseline, seed=seed)
        assert box.images_seen - before == MAP_PART
        assert split == faithfulness(counting_model()[0], image, heatmap, target, seed=seed)


# === A request of several methods ===


def test_a_request_of_three_methods_matches_each_alone_for_fewer_evaluations():
    """Grad-CAM, LIME and SHAP on one Keras adapter: the random maps are measured once."""
    image = photo(40, 40)
    keras_model = region_model(rectangle_mask(32, 32))
    methods = ["gradcam", "lime", "shap"]
    expected = {}
    for method in methods:
        model = KerasModel(keras_model, output_names=["score"])
        exp = explain(method, model, image, 0, seed=3, budget=BUDGETS.get(method))
        expected[method] = (exp, model.evaluations)
    assert all(count == exp.meta["evaluations"] + RANDOM_PART + MAP_PART
               for exp, count in expected.values())

    model = KerasModel(keras_model, output_names=["score"])
    outcomes = explain_methods(ExplainRequest(image, model, target=0), methods, seed=3,
                               budgets=BUDGETS, baselines=BaselineCache())
    for outcome in outcomes:
        got, (want, _) = outcome.explanation, expected[outcome.method]
        assert got.faithfulness.verdict == want.faithfulness.verdict
        # A Keras model's float32 sums may round differently in other batches.
        np.testing.assert_allclose(got.faithfulness.deletion_curve,
                                   want.faithfulness.deletion_curve, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(got.faithfulness.insertion_curve,
                                   want.faithfulness.insertion_curve, rtol=1e-5, atol=1e-7)
        assert got.faithfulness.random_deletion_auc == pytest.approx(
            want.faithfulness.random_deletion_auc, rel=1e-5, abs=1e-7)
        assert got.faithfulness.random_insertion_spread == pytest.approx(
            want.faithfulness.random_insertion_spread, rel=1e-4, abs=1e-7)
    maps = sum(exp.meta["evaluations"] for exp, _ in expected.values())
    today = sum(count for _, count in expected.values())
    assert today == maps + 3 * (RANDOM_PART + MAP_PART)
    assert model.evaluations == maps + RANDOM_PART + 3 * MAP_PART < today


def test_lime_and_shap_on_one_black_box_match_each_alone_exactly():
    image = small(chelsea())
    expected = {method: alone(method, image, "red", seed=5) for method in ("lime", "shap")}

    model, box = counting_model()
    outcomes = explain_methods(ExplainRequest(image, model, target="red"), ["lime", "shap"],
                               seed=5, budgets=BUDGETS, baselines=BaselineCache())
    first, second = (o.explanation for o in outcomes)
    same_result(first, expected["lime"][0])
    same_result(second, expected["shap"][0])

    maps = first.meta["evaluations"] + second.meta["evaluations"]
    assert box.images_seen == maps + RANDOM_PART + 2 * MAP_PART
    assert expected["lime"][1] + expected["shap"][1] == maps + 2 * (RANDOM_PART + MAP_PART)
    # Each explanation reports what ran for it; together they account for every evaluation.
    assert first.meta["faithfulness_evaluations"] == RANDOM_PART + MAP_PART
    assert first.meta["random_maps_reused"] is False
    assert second.meta["faithfulness_evaluations"] == MAP_PART
    assert second.meta["random_maps_reused"] is True
    assert second.meta["random_maps_evaluations"] == RANDOM_PART
    assert box.images_seen == sum(e.meta["evaluations"] + e.meta["faithfulness_evaluations"]
                                  for e in (first, second))


# === Across requests: reused for exactly the same photo, target, seed and model ===


def test_a_repeated_request_on_the_same_pixels_measures_no_random_maps():
    image = small(chelsea())
    cache = BaselineCache()
    model, box = counting_model()
    request = ExplainRequest(image, model, target=0)
    first = explain_methods(request, ["lime", "shap"], seed=1, budgets=BUDGETS, baselines=cache)
    before = box.images_seen
    again = explain_methods(ExplainRequest(image.copy(), model, target=0), ["shap", "lime"],
                            seed=1, budgets=BUDGETS, baselines=cache)
    maps = sum(o.explanation.meta["evaluations"] for o in again)
    assert box.images_seen - before == maps + 2 * MAP_PART
    assert all(o.explanation.meta["random_maps_reused"] for o in again)
    by_method = {o.method: o.explanation for o in first}
    for outcome in again:
        same_result(outcome.explanation, by_method[outcome.method])


@pytest.mark.parametrize("change", ["photo", "target", "seed", "model"])
def test_another_photo_target_seed_or_model_measures_its_own_random_maps(change):
    image, target, seed = small(chelsea()), 0, 2
    cache = BaselineCache()
    model, box = counting_model()
    explain_methods(ExplainRequest(image, model, target=target), ["lime"], seed=seed,
                    budgets=BUDGETS, baselines=cache)

    if change == "photo":
        image = small(coffee())
    elif change == "target":
        target = 1
    elif change == "seed":
        seed = 3
    else:  # the same function behind a new adapter: nothing says it computes the same scores
        model, box = counting_model()
    before = box.images_seen
    (outcome,) = explain_methods(ExplainRequest(image, model, target=target), ["shap"],
                                 seed=seed, budgets=BUDGETS, baselines=cache)
    exp = outcome.explanation
    assert exp.meta["random_maps_reused"] is False
    assert box.images_seen - before == exp.meta["evaluations"] + RANDOM_PART + MAP_PART
    same_result(exp, alone("shap", image, target, seed)[0])


def test_one_pixel_changed_is_another_photo():
    image = small(chelsea())
    cache = BaselineCache()
    model, box = counting_model()
    target = resolve_target(0, None, 2)
    cache.baseline(model, image, target, seed=0)
    touched = image.copy()
    touched[10, 10, 0] ^= 1
    _, reused = cache.baseline(model, touched, target, seed=0)
    assert not reused and box.images_seen == 2 * RANDOM_PART


def test_the_cache_keeps_only_the_last_few_baselines():
    cache = BaselineCache(max_entries=2)
    model, box = counting_model()
    target = resolve_target(0, None, 2)
    photos = [small(chelsea()), small(coffee()), small(chelsea())[::-1].copy()]
    for image in photos:
        cache.baseline(model, image, target, seed=0)
    assert len(cache) == 2 and box.images_seen == 3 * RANDOM_PART
    assert cache.baseline(model, photos[2], target, seed=0)[1] is True
    assert cache.baseline(model, photos[0], target, seed=0)[1] is False  # dropped, measured again
    assert box.images_seen == 4 * RANDOM_PART


def test_without_a_cache_every_method_measures_its_own():
    image = small(chelsea())
    model, box = counting_model()
    outcomes = explain_methods(ExplainRequest(image, model, target=0), ["lime", "shap"],
                               seed=0, budgets=BUDGETS, baselines=None)
    maps = sum(o.explanation.meta["evaluations"] for o in outcomes)
    assert box.images_seen == maps + 2 * (RANDOM_PART + MAP_PART)
    assert all("random_maps_reused" not in o.explanation.meta for o in outcomes)
