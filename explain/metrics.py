"""How faithful is a map? Deletion and insertion (Petsiuk et al. 2018, "RISE") against a random
map, and the model-parameter randomisation sanity check (Adebayo et al. 2018, "Sanity Checks for
Saliency Maps")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explain.explanation import Explanation, Faithfulness
from explain.image_ops import resize_map
from explain.method import Progress
from explain.targets import Target

DEFAULT_STEPS = 16
RANDOM_GRID = 7  # the random baseline map is a 7 x 7 grid of random blocks, like a ViT-B/32 map
BLUR_SIGMA = 5.0  # the insertion canvas: RISE's Gaussian blur, for images of about 224 pixels


def pixel_order(heatmap: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Flat pixel indices, most important first; ties broken at random (seeded)."""
    flat = heatmap.astype(np.float64).ravel()
    jitter = rng.random(flat.size) * 1e-9 * (np.abs(flat).max() + 1e-12)
    return np.argsort(-(flat + jitter), kind="stable")


def random_map(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A map of random blocks on a coarse grid, upsampled to `size` (nearest)."""
    grid = rng.random((RANDOM_GRID, RANDOM_GRID)).astype(np.float32)
    rows = np.minimum((np.arange(size[0]) * RANDOM_GRID) // size[0], RANDOM_GRID - 1)
    cols = np.minimum((np.arange(size[1]) * RANDOM_GRID) // size[1], RANDOM_GRID - 1)
    return grid[np.ix_(rows, cols)]


def blurred(image: np.ndarray, sigma: float = BLUR_SIGMA) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    out = gaussian_filter(image.astype(np.float32), sigma=(sigma, sigma, 0))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def curve_images(image: np.ndarray, order: np.ndarray, steps: int, canvas: np.ndarray,
                 insert: bool) -> np.ndarray:
    """steps + 1 images: pixels taken from (insertion) or to (deletion) the canvas in `order`."""
    height, width = image.shape[:2]
    flat_image = image.reshape(-1, 3)
    flat_canvas = canvas.reshape(-1, 3)
    out = np.empty((steps + 1, height * width, 3), np.uint8)
    for step in range(steps + 1):
        count = round(step / steps * height * width)
        chosen = order[:count]
        if insert:
            out[step] = flat_canvas
            out[step, chosen] = flat_image[chosen]
        else:
            out[step] = flat_image
            out[step, chosen] = flat_canvas[chosen]
    return out.reshape(steps + 1, height, width, 3)


def auc(curve: np.ndarray) -> float:
    """Area under a curve sampled at equal steps on [0, 1] (trapezoid rule)."""
    curve = np.asarray(curve, np.float64)
    return float(((curve[:-1] + curve[1:]) / 2).mean())


def faithfulness(model, image: np.ndarray, heatmap: np.ndarray, target: Target, *,
                 seed: int = 0, steps: int = DEFAULT_STEPS,
                 progress: Progress | None = None) -> Faithfulness:
    """Deletion and insertion AUC of `heatmap`, and of a random map, in one batched pass.

    Deletion sets pixels to black, most important first; insertion paints original pixels onto
    a blurred copy, most important first (the choices of the RISE paper).

    Args:
        model: a KerasModel or FunctionModel.
        image: uint8 H x W x 3, the image the map explains.
        heatmap: H x W; higher means more important (signed maps: most positive first).
        target: the explained output.
        seed: seeds the random map and tie-breaking.
        steps: equal steps per curve; the pass costs 4 * (steps + 1) model evaluations.
    """
    progress = progress or Progress(None)
    rng = np.random.default_rng(seed)
    heatmap = resize_map(heatmap, image.shape[:2])
    black = np.zeros_like(image)
    canvas = blurred(image)
    batches = []
    for one_map in (heatmap, random_map(image.shape[:2], rng)):
        order = pixel_order(one_map, rng)
        batches.append(curve_images(image, order, steps, black, insert=False))
        batches.append(curve_images(image, order, steps, canvas, insert=True))
    progress(0.1)
    images = np.concatenate(batches)
    scores = np.asarray(target.score(model.predict(images)), np.float64)
    progress(1.0)
    deletion, insertion, random_deletion, random_insertion = scores.reshape(4, steps + 1)
    return Faithfulness(
        deletion_auc=auc(deletion), insertion_auc=auc(insertion),
        random_deletion_auc=auc(random_deletion), random_insertion_auc=auc(random_insertion),
        steps=steps, deletion_curve=tuple(map(float, deletion)),
        insertion_curve=tuple(map(float, insertion)),
    )


@dataclass(frozen=True)
class SanityCheck:
    """The model-parameter randomisation test's result.

    Attributes:
        rank_correlation: Spearman correlation between the map before and after randomising the
            top layers (absolute values for signed maps). Near 1 means the map ignores the
            weights, which a faithful explainer must not do.
        randomised_layers: the layers whose weights were re-drawn, top first.
        original: the map on the trained model.
        randomised: the map on the randomised model.
    """

    rank_correlation: float
    randomised_layers: tuple[str, ...]
    original: Explanation
    randomised: Explanation


def randomised_copy(keras_model, top_layers: int | None, seed: int):
    """A clone of `keras_model` whose top `top_layers` weighted layers (all: None) are re-drawn.

    New weights are Gaussian with each tensor's own standard deviation (biases keep theirs), so
    activations keep their scale while what the weights encode is destroyed.
    """
    import keras

    rng = np.random.default_rng(seed)
    clone = keras.models.clone_model(keras_model)
    clone.set_weights(keras_model.get_weights())
    weighted = [layer for layer in clone.layers if layer.get_weights()]
    chosen = weighted[::-1][: top_layers if top_layers is not None else len(weighted)]
    for layer in chosen:
        fresh = []
        for tensor in layer.get_weights():
            std = float(tensor.std()) or 0.05
            fresh.append(rng.normal(0.0, std, tensor.shape).astype(tensor.dtype)
                         if tensor.ndim > 1 else tensor)
        layer.set_weights(fresh)
    return clone, tuple(layer.name for layer in chosen)


def rank_correlation(a: np.ndarray, b: np.ndarray, max_side: int = 64) -> float:
    """Spearman correlation of two maps (compared at most max_side pixels a side)."""
    from scipy.stats import spearmanr

    size = (min(a.shape[0], max_side), min(a.shape[1], max_side))
    a, b = resize_map(a, size).ravel(), resize_map(b, size).ravel()
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0  # a constant map ranks nothing
    return float(spearmanr(a, b).statistic)


def sanity_check(method: str, model, image: np.ndarray, target=0, *, top_layers: int | None = 1,
                 seed: int = 0, budget: int | None = None) -> SanityCheck:
    """Adebayo et al.'s cascading randomisation test for one method on one image.

    Args:
        method: any method `explain` knows.
        model: a KerasModel (its weights are what get randomised).
        image: uint8 H x W x 3.
        target: the explained output.
        top_layers: how many weighted layers to randomise, from the top (None: all).
        seed: seeds the new weights and the explainer.
        budget: passed to the explainer.
    """
    from explain.api import explain
    from explain.keras_model import KerasModel

    if not isinstance(model, KerasModel):
        raise ValueError("sanity_check randomises weights, so it needs a KerasModel.")
    original = explain(method, model, image, target, seed=seed, budget=budget, faithfulness=False)
    clone, names = randomised_copy(model.model, top_layers, seed)
    cam_layer = model.cam_layer.name if method in ("gradcam", "cam") else None
    twin = KerasModel(clone, preprocess=model.preprocess, cam_layer=cam_layer,
                      output_names=model.output_names, batch_size=model.batch_size,
                      input_box=model.input_box)
    randomised = explain(method, twin, image, target, seed=seed, budget=budget,
                         faithfulness=False)
    a, b = original.heatmap, randomised.heatmap
    if original.signed:
        a, b = np.abs(a), np.abs(b)
    return SanityCheck(rank_correlation(a, b), names, original, randomised)
