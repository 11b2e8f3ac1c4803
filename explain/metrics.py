"""How faithful is a map? Deletion and insertion (Petsiuk et al. 2018, "RISE") against random
maps. The model-parameter randomisation check is in explain.sanity: it calls `explain`, which
calls this module, so keeping it here made the two import each other."""

from __future__ import annotations

import numpy as np

from explain.explanation import Faithfulness
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
