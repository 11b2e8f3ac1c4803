"""How faithful is a map? Deletion and insertion (Petsiuk et al. 2018, "RISE") against random
maps. The model-parameter randomisation check is in explain.sanity: it calls `explain`, which
calls this module, so keeping it here made the two import each other."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np

from explain.explanation import Faithfulness
from explain.image_ops import resize_map
from explain.method import Progress
from explain.targets import Target

DEFAULT_STEPS = 16
RANDOM_MAPS = 8
"""Random maps each map is compared with: enough for a mean and a spread that do not hang on
one lucky draw, at 2 * (RANDOM_STEPS - 1) evaluations each."""
RANDOM_STEPS = 4
"""Steps of each random map's curves (and of the map's curves as the verdict reads them). Over
90 maps, good and bad, of ten photos at 256 pixels (`python -m benchmarks.explain --quality`),
the verdict at 4 steps matched the one at 16 steps for 87 and at 8 steps for all 90, for 81
evaluations a pass instead of 145 (8 steps) or 273 (16)."""
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
                 insert: bool, first: int = 0, last: int | None = None) -> np.ndarray:
    """Images at steps first..last of `steps`: pixels taken from (insertion) or to (deletion)
    the canvas in `order`; step k changes round(k / steps) of the pixels."""
    height, width = image.shape[:2]
    last = steps if last is None else last
    flat_image = image.reshape(-1, 3)
    flat_canvas = canvas.reshape(-1, 3)
    out = np.empty((last - first + 1, height * width, 3), np.uint8)
    for row, step in enumerate(range(first, last + 1)):
        chosen = order[: round(step / steps * height * width)]
        if insert:
            out[row] = flat_canvas
            out[row, chosen] = flat_image[chosen]
        else:
            out[row] = flat_image
            out[row, chosen] = flat_canvas[chosen]
    return out.reshape(-1, height, width, 3)


def _curve_points(image: np.ndarray, heatmap: np.ndarray, rng: np.random.Generator,
                  steps: int, random_maps: int, random_steps: int) -> Iterator[np.ndarray]:
    """Every image one faithfulness pass scores, one at a time, in the order of its scores: the
    photo, all black and all blurred; the inner points of the map's deletion and insertion
    curves; then those of each random map's two curves. Each pixel order is made when its
    curves are reached, using `rng` in the same order as making them all first would."""
    black = np.zeros_like(image)
    canvas = blurred(image)
    yield from (image, black, canvas)
    yield from _inner_points(image, pixel_order(heatmap, rng), steps, black, canvas)
    for _ in range(random_maps):
        order = pixel_order(random_map(image.shape[:2], rng), rng)
        yield from _inner_points(image, order, random_steps, black, canvas)


def _inner_points(image, order, steps, black, canvas) -> Iterator[np.ndarray]:
    """The deletion curve's inner points (steps 1 to steps - 1), then the insertion curve's."""
    for fill, insert in ((black, False), (canvas, True)):
        for step in range(1, steps):
            yield curve_images(image, order, steps, fill, insert, step, step)[0]


def auc(curve: np.ndarray) -> float:
    """Area under a curve sampled at equal steps on [0, 1] (trapezoid rule)."""
    curve = np.asarray(curve, np.float64)
    return float(((curve[:-1] + curve[1:]) / 2).mean())


def faithfulness(model, image: np.ndarray, heatmap: np.ndarray, target: Target, *,
                 seed: int = 0, steps: int = DEFAULT_STEPS, random_maps: int = RANDOM_MAPS,
                 random_steps: int = RANDOM_STEPS,
                 progress: Progress | None = None) -> Faithfulness:
    """Deletion and insertion curves of `heatmap` and of `random_maps` random maps, scored in
    the model's batches.

    Deletion sets pixels to black, most important first; insertion paints original pixels onto
    a blurred copy, most important first (the choices of the RISE paper). The map's curves take
    `steps` steps; each random map's take `random_steps`, and the verdict compares the map's
    curves read at those same points, so both sides are measured alike. Every curve starts and
    ends at the same three images (the photo, all black, all blurred), which are evaluated once.

    Args:
        model: a KerasModel or FunctionModel.
        image: uint8 H x W x 3, the image the map explains.
        heatmap: H x W; higher means more important (signed maps: most positive first).
        target: the explained output.
        seed: seeds the random maps and tie-breaking.
        steps: equal steps of the map's curves.
        random_maps: how many random maps the map is compared with (at least 2, for a spread).
        random_steps: equal steps of each random map's curves; must divide `steps`.

    The pass costs `faithfulness_evaluations(steps, random_maps, random_steps)` evaluations.
    """
    if random_maps < 2:
        raise ValueError(f"random_maps must be at least 2 to have a spread, got {random_maps}.")
    if steps < 1 or random_steps < 1 or steps % random_steps:
        raise ValueError(f"random_steps ({random_steps}) must divide steps ({steps}).")
    progress = progress or Progress(None)
    rng = np.random.default_rng(seed)
    heatmap = resize_map(heatmap, image.shape[:2])
    images = _curve_points(image, heatmap, rng, steps, random_maps, random_steps)
    total = faithfulness_evaluations(steps, random_maps, random_steps)
    progress(0.1)
    scores = np.empty(total, np.float64)
    # The images go to the model a batch at a time, made as they are needed: all 81 at once
    # held 81 copies of the photo (and its float conversions) in memory together. Each batch
    # is a new array, as a black box may keep the images it was given.
    done = 0
    while done < total:
        batch = np.stack(list(itertools.islice(images, model.batch_size)))
        scores[done : done + len(batch)] = np.asarray(target.score(model.predict(batch)),
                                                      np.float64)
        done += len(batch)
        progress(0.1 + 0.9 * done / total)

    photo, deleted, blur = scores[:3]
    inner, random_inner = steps - 1, random_steps - 1
    deletion = np.concatenate([[photo], scores[3 : 3 + inner], [deleted]])
    insertion = np.concatenate([[blur], scores[3 + inner : 3 + 2 * inner], [photo]])
    rest = scores[3 + 2 * inner :].reshape(random_maps, 2, random_inner)
    random_deletion = [auc([photo, *curve, deleted]) for curve in rest[:, 0]]
    random_insertion = [auc([blur, *curve, photo]) for curve in rest[:, 1]]
    every = steps // random_steps
    return Faithfulness(
        deletion_auc=auc(deletion), insertion_auc=auc(insertion),
        random_deletion_auc=float(np.mean(random_deletion)),
        random_insertion_auc=float(np.mean(random_insertion)),
        random_deletion_spread=float(np.std(random_deletion, ddof=1)),
        random_insertion_spread=float(np.std(random_insertion, ddof=1)),
        compared_deletion_auc=auc(deletion[::every]),
        compared_insertion_auc=auc(insertion[::every]),
        steps=steps, random_steps=random_steps, random_maps=random_maps,
        deletion_curve=tuple(map(float, deletion)), insertion_curve=tuple(map(float, insertion)),
    )


def faithfulness_evaluations(steps: int = DEFAULT_STEPS, random_maps: int = RANDOM_MAPS,
                             random_steps: int = RANDOM_STEPS) -> int:
    """Model evaluations one faithfulness pass costs: the three shared end images, the map's
    two curves' inner points and every random map's."""
    return 3 + 2 * (steps - 1) + random_maps * 2 * (random_steps - 1)
