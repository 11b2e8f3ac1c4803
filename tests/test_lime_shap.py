"""LIME and SHAP against models whose answer is known: each model reads only one region.

The scene is a photo (scikit-image's astronaut) with another photo (coffee) pasted into a
region, and the model scores how intact that region is: 1 - mean |image - scene| / 255 over the
region's pixels. Hiding any part of the region lowers the score and nothing outside matters, so
a faithful map must put its most positive pixels in the region. (A brightness model would not
do: LIME's mean-colour fill and SHAP's blur both keep a region's mean brightness, so neither
could see it.)
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import pytest
from skimage import data
from skimage import segmentation as skseg
from skimage.draw import disk
from skimage.transform import resize

from benchmarks.stand_ins.region_models import (
    NATURAL_SCENES,
    natural_photo,
    region_model,
    scene_disk,
    top_fraction_inside,
)
from explain import FunctionModel, KerasModel, default_budget, explain
from explain.lime_explainer import default_segmentation_options

HEIGHT, WIDTH = 64, 96


def fitted(image: np.ndarray, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    small = resize(image, (height, width), preserve_range=True, anti_aliasing=True)
    return np.clip(np.rint(small), 0, 255).astype(np.uint8)


def region_mask(region: str) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), bool)
    if region == "rectangle":
        mask[10:50, 44:92] = True  # 31% of the image
    else:
        rows, cols = disk((34, 32), 24, shape=mask.shape)  # 29%
        mask[rows, cols] = True
    return mask


def scene(region: str) -> tuple[np.ndarray, np.ndarray]:
    """(image, region mask): coffee pasted into the astronaut inside the region."""
    mask = region_mask(region)
    image = fitted(data.astronaut())
    image[mask] = fitted(data.coffee())[mask]
    return image, mask


def intact_score(reference: np.ndarray, mask: np.ndarray):
    """fn(images) -> N x 1: how unchanged the region is (1 for the reference itself)."""
    reference = reference.astype(np.float32)

    def fn(images: np.ndarray) -> np.ndarray:
        change = np.abs(images.astype(np.float32) - reference).mean(axis=-1)
        return 1 - (change * mask).sum(axis=(1, 2))[:, None] / (mask.sum() * 255)

    return fn


def intact_keras_model(reference: np.ndarray, mask: np.ndarray):
    """The same score as a Keras functional model: |x - reference| -> mask -> GAP -> Dense."""
    import keras

    inputs = keras.Input((HEIGHT, WIDTH, 3))
    change = keras.ops.abs(inputs - reference.astype("float32"))
    inside = change * mask[..., None].astype("float32")
    pooled = keras.layers.GlobalAveragePooling2D()(inside)  # mean over the whole image
    dense = keras.layers.Dense(1, name="score")
    outputs = dense(pooled)
    # Sum over channels, rescaled from the whole image's mean to the region's.
    dense.set_weights([np.full((3, 1), -1 / (3 * 255 * mask.mean()), np.float32),
                       np.ones(1, np.float32)])
    return keras.Model(inputs, outputs)


_KERAS_CACHE: dict = {}


def ground_truth_model(adapter: str, region: str):
    """(model, image, mask) for one region, as a FunctionModel or a KerasModel."""
    image, mask = scene(region)
    if adapter == "function":
        return FunctionModel(intact_score(image, mask), ["intact"]), image, mask
    if region not in _KERAS_CACHE:  # building a Keras model costs more than explaining here
        _KERAS_CACHE[region] = intact_keras_model(image, mask)
    return KerasModel(_KERAS_CACHE[region], output_names=["intact"]), image, mask


def top_inside(heatmap: np.ndarray, mask: np.ndarray, fraction: float = 0.1) -> float:
    """Share of the `fraction` most positive pixels that lie in `mask` (non-positive ones
    never count as inside)."""
    threshold = np.quantile(heatmap, 1 - fraction)
    top = heatmap >= threshold
    return float((top & mask & (heatmap > 0)).sum() / top.sum())


# === Ground truth ===


@pytest.mark.parametrize("adapter", ["function", "keras"])
@pytest.mark.parametrize("region", ["rectangle", "disk"])
@pytest.mark.parametrize("method", ["lime", "shap"])
def test_map_finds_the_only_region_the_model_reads(method, region, adapter):
    model, image, mask = ground_truth_model(adapter, region)
    exp = explain(method, model, image, target=0, seed=0)

    assert exp.signed and exp.heatmap.shape == mask.shape
    assert top_inside(exp.heatmap, mask) >= 0.7
    faith = exp.faithfulness
    assert faith.deletion_auc < faith.random_deletion_auc
    assert faith.insertion_auc > faith.random_insertion_auc
    assert exp.meta["evaluations"] <= default_budget(method)


@pytest.mark.parametrize("segmentation", ["quickshift", "slic", "felzenszwalb"])
def test_every_segmentation_localises(segmentation):
    model, image, mask = ground_truth_model("function", "rectangle")
    exp = explain("lime", model, image, seed=0, segmentation=segmentation)

    assert exp.meta["segmentation"] == segmentation
    assert 20 <= exp.meta["segments"] <= 150  # the defaults aim at roughly 40-100
    # The map is constant on each of scikit-image's own segments for that algorithm.
    params = default_segmentation_options(segmentation, HEIGHT, WIDTH)
    if segmentation == "quickshift":
        labels = skseg.quickshift(image, rng=0, **params)
    else:
        labels = getattr(skseg, segmentation)(image, **params)
    assert all(np.ptp(exp.heatmap[labels == label]) == 0 for label in np.unique(labels))
    assert top_inside(exp.heatmap, mask) >= 0.7
    assert exp.faithfulness.beats_random


def test_segmentation_options_replace_the_defaults():
    model, image, _ = ground_truth_model("function", "rectangle")
    coarse = explain("lime", model, image, segmentation="slic", n_segments=8, budget=20,
                     faithfulness=False)
    assert coarse.meta["segments"] <= 12  # the default asks for 150
    assert len(np.unique(coarse.heatmap)) == coarse.meta["segments"]


def test_inpainting_masker_localises(monkeypatch):
    calls = []

    def counting_inpaint(*args, **kwargs):
        calls.append(1)
        return inpaint(*args, **kwargs)

    inpaint = cv2.inpaint
    monkeypatch.setattr(cv2, "inpaint", counting_inpaint)  # shap's masker calls cv2.inpaint
    model, image, mask = ground_truth_model("function", "disk")
    exp = explain("shap", model, image, seed=0, masker="inpaint")

    assert exp.meta["masker"] == "inpaint_telea" and calls
    assert top_inside(exp.heatmap, mask) >= 0.7
    assert exp.faithfulness.beats_random


# === Unseen photos: LIME's defaults must find a disk wherever it is ===


@functools.cache
def natural_scene(name: str):
    """(image, disk mask, KerasModel reading only the disk) for one of NATURAL_SCENES."""
    image = natural_photo(name)
    mask = scene_disk(name, image.shape[:2])
    return image, mask, KerasModel(region_model(mask), output_names=["disk"])


def inside_share(heatmap: np.ndarray, mask: np.ndarray) -> float:
    """Share of the map's top pixels inside the disk, taking as many top pixels as the disk
    has: a perfect map scores 1 whatever the disk's size (a fixed top 10% could not reach 1
    for a disk smaller than that)."""
    return top_fraction_inside(heatmap, mask, float(mask.mean()))


@pytest.mark.parametrize("method", ["lime", "gradcam", "cam"])
@pytest.mark.parametrize("name", list(NATURAL_SCENES))
def test_defaults_find_a_disk_on_photos_no_other_test_uses(name, method):
    """The model reads brightness and edges inside one disk of a natural photo (128 pixels,
    the disk 5-17% of it, in a different place on each), and nothing else."""
    image, mask, model = natural_scene(name)
    exp = explain(method, model, image, seed=0)

    assert inside_share(exp.heatmap, mask) >= 0.6
    assert exp.faithfulness.beats_random, exp.faithfulness
    if method == "lime":
        assert exp.meta["segmentation"] == "slic" and exp.meta["samples"] == 200


def shaps_own_pixel_map(model, image, budget: int) -> np.ndarray:
    """shap's Partition explainer with its own blur masker over every pixel and channel, as
    shap's documentation runs it: the reference the grid is compared with."""
    import shap

    from explain.shap_explainer import default_blur_size

    size = default_blur_size(*image.shape[:2])
    masker = shap.maskers.Image(f"blur({size},{size})", image.shape)
    explainer = shap.explainers.Partition(lambda batch: model.predict(batch.astype(np.uint8)),
                                          masker)
    values = explainer(image[None], max_evals=budget, batch_size=64, silent=True).values
    return values[0, ..., 0].sum(axis=-1)


@pytest.mark.parametrize("name", ["rocket", "camera", "china"])
def test_shap_on_a_photo_larger_than_its_grid_finds_the_disk_as_well_as_per_pixel(name):
    """At 384 pixels SHAP hides and shows blocks of a 128-cell grid (explain.shap_explainer
    .MASK_GRID_SIDE); the model still scores the 384-pixel photo. The map, resized from the
    grid, lands on the disk as well as shap's own per-pixel run with the same budget."""
    from explain.shap_explainer import mask_grid

    image = natural_photo(name, 384)
    mask = scene_disk(name, image.shape[:2])
    model = KerasModel(region_model(mask), output_names=["disk"], work_side=384)
    exp = explain("shap", model, image, seed=0)

    grid = mask_grid(*image.shape[:2])
    assert max(grid) == 128 and exp.meta["grid"] == grid
    assert exp.heatmap.shape == image.shape[:2]
    per_pixel = inside_share(shaps_own_pixel_map(model, image, exp.meta["max_evals"]), mask)
    assert inside_share(exp.heatmap, mask) >= max(0.6, per_pixel - 0.05)
    assert exp.faithfulness.beats_random, exp.faithfulness


def test_lime_own_defaults_miss_the_disk_on_most_of_those_photos():
    """What the defaults replaced: quickshift segments hidden with their mean colour. The bar
    above is one they miss, so the test above can tell the two apart."""
    shares = []
    for name in NATURAL_SCENES:
        image, mask, model = natural_scene(name)
        exp = explain("lime", model, image, seed=0, segmentation="quickshift", hide_color=None,
                      faithfulness=False)
        shares.append(inside_share(exp.heatmap, mask))
    assert sum(share < 0.6 for share in shares) >= len(shares) // 2, shares


# === Hand-computed checks ===


def test_lime_weights_match_an_additive_model_on_given_segments():
    """With a 4 x 4 grid of given segments hidden to black, the score is additive over
    segments, so LIME's ridge must recover each cell's own effect."""
    rng = np.random.default_rng(1)
    image = fitted(data.astronaut())
    # Given at twice the image's size: LIME must bring it down with nearest-neighbour.
    rows, cols = np.indices((2 * HEIGHT, 2 * WIDTH))
    grid = (rows // (2 * HEIGHT // 4)) * 4 + cols // (2 * WIDTH // 4)
    cells = (np.indices((HEIGHT, WIDTH))[0] // (HEIGHT // 4)) * 4 + (
        np.indices((HEIGHT, WIDTH))[1] // (WIDTH // 4))
    coefficients = rng.uniform(-1, 1, 16)

    def fn(images):
        grey = images.astype(np.float64).mean(axis=-1) / 255
        return np.stack([coefficients[k] * grey[:, cells == k].mean(axis=1)
                         for k in range(16)]).sum(axis=0)[:, None]

    exp = explain("lime", FunctionModel(fn, ["additive"]), image, seed=0, segments=grid,
                  hide_color=0, faithfulness=False)

    assert exp.meta["segments"] == 16 and exp.meta["segmentation"] == "given"
    grey = image.astype(np.float64).mean(axis=-1) / 255
    effects = np.array([coefficients[k] * grey[cells == k].mean() for k in range(16)])
    painted = np.array([exp.heatmap[cells == k] for k in range(16)], dtype=object)
    assert all(np.ptp(values) == 0 for values in painted)  # one weight per segment
    weights = np.array([values[0] for values in painted], np.float64)
    assert np.corrcoef(weights, effects)[0, 1] > 0.99
    assert np.array_equal(np.sign(weights), np.sign(effects))
    assert np.abs(weights).max() == pytest.approx(1.0)  # normalised to [-1, 1]


def test_lime_fast_sampling_reproduces_limes_own_loop():
    """The vectorised `data_labels` draws the same samples and builds the same images as
    lime's per-image loop, for the same random state."""
    from lime.lime_image import LimeImageExplainer

    from explain.lime_explainer import _BatchedLimeImageExplainer, segment

    image = fitted(data.chelsea())
    segments = segment(image, "slic", {}, seed=0)
    fudged = (255 - image).astype(np.uint8)
    projection = np.random.default_rng(2).normal(size=(image.size, 3))

    def fn(batch):  # any change to any pixel changes these outputs
        return batch.reshape(len(batch), -1).astype(np.float64) @ projection

    ours = _BatchedLimeImageExplainer(random_state=5).data_labels(
        image, fudged, segments, fn, num_samples=45, batch_size=16)
    theirs = LimeImageExplainer(random_state=5).data_labels(
        image, fudged, segments, fn, num_samples=45, batch_size=16)

    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-12)


def test_shap_gives_exact_shapley_values_of_a_linear_model():
    """On a 2 x 2 image the budget expands the whole partition tree (108 evaluations), and for
    a linear model every feature's Owen value is w * (x - blurred x)."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (2, 2, 3)).astype(np.uint8)
    weights = rng.normal(size=(2, 2, 3))

    def fn(images):
        return (images.astype(np.float64) * weights).sum(axis=(1, 2, 3))[:, None]

    exp = explain("shap", FunctionModel(fn, ["linear"]), image, seed=0, budget=200,
                  blur_size=3, faithfulness=False)

    blurred = cv2.blur(image, (3, 3)).astype(np.float64)  # the masker's own background
    expected = (weights * (image - blurred)).sum(axis=-1)
    expected /= np.abs(expected).max()
    np.testing.assert_allclose(exp.heatmap, expected, atol=1e-5)
    assert exp.meta["masker"] == "blur(3,3)" and exp.meta["evaluations"] == 108


# === Seeds ===


@pytest.mark.parametrize("method", ["lime", "shap"])
def test_same_seed_gives_the_same_map(method):
    model, image, _ = ground_truth_model("function", "disk")
    first = explain(method, model, image, seed=4, budget=60, faithfulness=False)
    second = explain(method, model, image, seed=4, budget=60, faithfulness=False)
    assert np.array_equal(first.heatmap, second.heatmap)


def test_lime_seed_changes_the_samples():
    model, image, _ = ground_truth_model("function", "disk")
    first = explain("lime", model, image, seed=0, budget=60, faithfulness=False)
    second = explain("lime", model, image, seed=1, budget=60, faithfulness=False)
    assert not np.array_equal(first.heatmap, second.heatmap)


def test_shap_ignores_and_keeps_numpys_global_random_state():
    """shap breaks ties with the global np.random; a mirror-symmetric image and an exact
    (integer) score make ties, so without the explainer's own seeding these two maps differ."""
    quarter = np.random.default_rng(0).integers(0, 256, (16, 24, 3)).astype(np.uint8)
    half = np.concatenate([quarter, quarter[:, ::-1]], axis=1)
    image = np.concatenate([half, half[::-1]], axis=0)
    reference = image.astype(np.int64)

    def fn(images):
        return np.abs(images.astype(np.int64) - reference).sum(axis=(1, 2, 3))[:, None] / 1e6

    model = FunctionModel(fn, ["change"])
    maps = []
    outer = np.random.get_state()  # this test's own seeding must not leak into other tests
    try:
        for global_seed in (1, 2):
            np.random.seed(global_seed)
            before = np.random.get_state()[1].copy()
            maps.append(explain("shap", model, image, seed=0, budget=40,
                                faithfulness=False).heatmap)
            assert np.array_equal(np.random.get_state()[1], before)
    finally:
        np.random.set_state(outer)
    assert np.array_equal(maps[0], maps[1])


# === Budgets and progress ===


@pytest.mark.parametrize("budget", [40, 41, 100, 101])
@pytest.mark.parametrize("method", ["lime", "shap"])
def test_budget_caps_model_evaluations(method, budget):
    image, mask = scene("rectangle")
    score = intact_score(image, mask)
    seen = []

    def counting(images):
        seen.append(len(images))
        return score(images)

    model = FunctionModel(counting, ["intact"], batch_size=32)
    exp = explain(method, model, image, seed=0, budget=budget, faithfulness=False)

    assert exp.meta["evaluations"] == model.evaluations == sum(seen)
    if method == "lime":
        assert exp.meta["evaluations"] == budget  # one evaluation per sample, the image first
    else:
        # shap's Partition would spend budget + 1 on an odd max_evals; the cap must hold.
        assert budget - 1 <= exp.meta["evaluations"] <= budget
    assert max(seen) <= model.batch_size


@pytest.mark.parametrize("method", ["lime", "shap"])
def test_budget_below_minimum_is_refused(method):
    image, mask = scene("rectangle")
    with pytest.raises(ValueError, match="at least"):
        explain(method, FunctionModel(intact_score(image, mask), ["intact"]), image, budget=2)


@pytest.mark.parametrize("method", ["lime", "shap"])
def test_progress_rises_from_inside_the_method_to_one(method):
    image, mask = scene("rectangle")
    model = FunctionModel(intact_score(image, mask), ["intact"], batch_size=16)
    reported = []
    explain(method, model, image, seed=0, budget=100, progress=reported.append,
            faithfulness=False)

    assert reported == sorted(reported)
    assert reported[-1] == 1.0
    assert len([value for value in reported if 0 < value < 1]) >= 3  # reported per batch


# === Options and inputs ===


def test_unknown_segmentation_or_masker_is_refused():
    model, image, _ = ground_truth_model("function", "rectangle")
    with pytest.raises(ValueError, match="quickshift, slic, felzenszwalb"):
        explain("lime", model, image, segmentation="watershed")
    with pytest.raises(ValueError, match="slic does not take kernel_size"):
        explain("lime", model, image, segmentation="slic", kernel_size=3)
    with pytest.raises(ValueError, match="hide_color"):
        explain("lime", model, image, hide_color=(0, 300, 0))
    with pytest.raises(ValueError, match="blur, inpaint"):
        explain("shap", model, image, masker="zeros")
    with pytest.raises(ValueError, match="blur_size"):
        explain("shap", model, image, blur_size=0)


def test_default_blur_is_odd_and_scales_with_the_image():
    from explain.shap_explainer import default_blur_size

    assert default_blur_size(256, 171) == 33
    assert default_blur_size(64, 96) == 13
    assert default_blur_size(3, 2) == 1


@pytest.mark.parametrize("size", [(37, 53), (200, 91)])
@pytest.mark.parametrize("method", ["lime", "shap"])
@pytest.mark.parametrize("adapter", ["function", "keras"])
def test_odd_and_non_square_images(method, size, adapter):
    image = fitted(data.astronaut(), *size)
    if adapter == "function":
        # Depends on the top-left quarter of whatever size it is given.
        def fn(images):
            quarter = images[:, : images.shape[1] // 2, : images.shape[2] // 2]
            return quarter.astype(np.float32).mean(axis=(1, 2, 3))[:, None] / 255
        model = FunctionModel(fn, ["corner"])
    else:
        model, _, _ = ground_truth_model("keras", "rectangle")  # resizes to 64 x 96 itself
    exp = explain(method, model, image, seed=0, budget=30)

    assert exp.heatmap.shape == size
    assert np.isfinite(exp.heatmap).all() and np.abs(exp.heatmap).max() == pytest.approx(1.0)
    assert exp.meta["evaluations"] <= 30


def test_gradcam_refuses_a_function_model():
    model, image, _ = ground_truth_model("function", "rectangle")
    with pytest.raises(ValueError, match="gradients"):
        explain("gradcam", model, image)
