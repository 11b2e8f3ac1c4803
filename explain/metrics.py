"""How faithful is a map? Deletion and insertion (Petsiuk et al. 2018, "RISE") against random
maps. The model-parameter randomisation check is in explain.sanity: it calls `explain`, which
calls this module, so keeping it here made the two import each other.

Two ways to the same numbers:
- `faithfulness` scores one map and its random maps in one pass (81 evaluations).
- `random_baseline` scores only what does not depend on the map (the three end images and the
  random maps' curves, 51 evaluations), and `faithfulness_against` adds one map's curves to it
  (30 evaluations). Several maps of the same photo, target and seed then pay for the random maps
  once; `BaselineCache` keeps a few baselines for that.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

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
    yield from _random_points(image, rng, random_maps, random_steps, black, canvas)


def _random_points(image, rng, random_maps, random_steps, black, canvas) -> Iterator[np.ndarray]:
    """The inner points of each random map's deletion and insertion curves, in order."""
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
    _check_steps(steps, random_maps, random_steps)
    rng = np.random.default_rng(seed)
    heatmap = resize_map(heatmap, image.shape[:2])
    images = _curve_points(image, heatmap, rng, steps, random_maps, random_steps)
    total = faithfulness_evaluations(steps, random_maps, random_steps)
    scores = _scores(model, images, total, target, progress)
    inner = steps - 1
    baseline = _baseline_of(scores[:3], scores[3 + 2 * inner :], random_maps, random_steps,
                            evaluations=baseline_evaluations(random_maps, random_steps))
    return _summary(scores[3 : 3 + 2 * inner], baseline, steps)


def _check_steps(steps: int, random_maps: int, random_steps: int) -> None:
    if random_maps < 2:
        raise ValueError(f"random_maps must be at least 2 to have a spread, got {random_maps}.")
    if steps < 1 or random_steps < 1 or steps % random_steps:
        raise ValueError(f"random_steps ({random_steps}) must divide steps ({steps}).")


def _scores(model, images: Iterator[np.ndarray], total: int, target: Target,
            progress: Progress | None) -> np.ndarray:
    """The target's score on each of the `total` images `images` yields, in order.

    The images go to the model a batch at a time, made as they are needed: all 81 at once held
    81 copies of the photo (and its float conversions) in memory together. Each batch is a new
    array, as a black box may keep the images it was given.
    """
    progress = progress or Progress(None)
    progress(0.1)
    scores = np.empty(total, np.float64)
    done = 0
    while done < total:
        batch = np.stack(list(itertools.islice(images, model.batch_size)))
        scores[done : done + len(batch)] = np.asarray(target.score(model.predict(batch)),
                                                      np.float64)
        done += len(batch)
        progress(0.1 + 0.9 * done / total)
    return scores


@dataclass(frozen=True)
class RandomBaseline:
    """What a faithfulness pass measures that does not depend on the map: the scores of the
    three end images every curve shares, and the AUCs of the random maps' curves.

    Attributes:
        photo, deleted, blurred: the target's score on the photo, on the all-black image and on
            the blurred photo.
        random_deletion_aucs, random_insertion_aucs: one AUC per random map.
        random_maps, random_steps: how many random maps, and the steps of their curves.
        evaluations: model evaluations the baseline took (`baseline_evaluations`).
    """

    photo: float
    deleted: float
    blurred: float
    random_deletion_aucs: tuple[float, ...]
    random_insertion_aucs: tuple[float, ...]
    random_maps: int
    random_steps: int
    evaluations: int


def _baseline_of(ends: np.ndarray, random_inner: np.ndarray, random_maps: int,
                 random_steps: int, evaluations: int) -> RandomBaseline:
    photo, deleted, blur = map(float, ends)
    rest = random_inner.reshape(random_maps, 2, random_steps - 1)
    return RandomBaseline(
        photo=photo, deleted=deleted, blurred=blur,
        random_deletion_aucs=tuple(auc([photo, *curve, deleted]) for curve in rest[:, 0]),
        random_insertion_aucs=tuple(auc([blur, *curve, photo]) for curve in rest[:, 1]),
        random_maps=random_maps, random_steps=random_steps, evaluations=evaluations,
    )


def _summary(map_inner: np.ndarray, baseline: RandomBaseline, steps: int) -> Faithfulness:
    """The Faithfulness of a map whose curves' inner points scored `map_inner` (the deletion
    curve's steps - 1 points, then the insertion curve's), against `baseline`."""
    inner = steps - 1
    photo, deleted, blur = baseline.photo, baseline.deleted, baseline.blurred
    deletion = np.concatenate([[photo], map_inner[:inner], [deleted]])
    insertion = np.concatenate([[blur], map_inner[inner : 2 * inner], [photo]])
    every = steps // baseline.random_steps
    return Faithfulness(
        deletion_auc=auc(deletion), insertion_auc=auc(insertion),
        random_deletion_auc=float(np.mean(baseline.random_deletion_aucs)),
        random_insertion_auc=float(np.mean(baseline.random_insertion_aucs)),
        random_deletion_spread=float(np.std(baseline.random_deletion_aucs, ddof=1)),
        random_insertion_spread=float(np.std(baseline.random_insertion_aucs, ddof=1)),
        compared_deletion_auc=auc(deletion[::every]),
        compared_insertion_auc=auc(insertion[::every]),
        steps=steps, random_steps=baseline.random_steps, random_maps=baseline.random_maps,
        deletion_curve=tuple(map(float, deletion)), insertion_curve=tuple(map(float, insertion)),
    )


def random_baseline(model, image: np.ndarray, target: Target, *, seed: int = 0,
                    random_maps: int = RANDOM_MAPS, random_steps: int = RANDOM_STEPS,
                    progress: Progress | None = None) -> RandomBaseline:
    """The random maps' part of a faithfulness pass, for any map of this photo and target.

    The random maps are the very ones `faithfulness` draws with the same seed: it first spends
    one draw per pixel breaking the map's ties, then draws the random maps, so this spends
    those draws too. `faithfulness_against(..., baseline)` then gives the same numbers as
    `faithfulness` with the same seed, for `baseline_evaluations()` (51) evaluations once and
    `map_curve_evaluations()` (30) per map instead of 81 per map.
    """
    _check_steps(random_steps, random_maps, random_steps)
    rng = np.random.default_rng(seed)
    rng.random(image.shape[0] * image.shape[1])  # the map's tie-breaking draws in `faithfulness`
    black = np.zeros_like(image)
    canvas = blurred(image)

    def images():
        yield from (image, black, canvas)
        yield from _random_points(image, rng, random_maps, random_steps, black, canvas)

    total = baseline_evaluations(random_maps, random_steps)
    scores = _scores(model, images(), total, target, progress)
    return _baseline_of(scores[:3], scores[3:], random_maps, random_steps, evaluations=total)


def faithfulness_against(model, image: np.ndarray, heatmap: np.ndarray, target: Target,
                         baseline: RandomBaseline, *, seed: int = 0, steps: int = DEFAULT_STEPS,
                         progress: Progress | None = None) -> Faithfulness:
    """`faithfulness` for a map whose random maps were already measured: `baseline` must come
    from `random_baseline` on the same model, image, target and seed. Scores only the map's own
    curves (`map_curve_evaluations(steps)` evaluations)."""
    _check_steps(steps, baseline.random_maps, baseline.random_steps)
    rng = np.random.default_rng(seed)
    heatmap = resize_map(heatmap, image.shape[:2])
    black = np.zeros_like(image)
    images = _inner_points(image, pixel_order(heatmap, rng), steps, black, blurred(image))
    scores = _scores(model, images, map_curve_evaluations(steps), target, progress)
    return _summary(scores, baseline, steps)


def baseline_evaluations(random_maps: int = RANDOM_MAPS, random_steps: int = RANDOM_STEPS) -> int:
    """Model evaluations `random_baseline` costs: the three end images and every random map's
    curves' inner points."""
    return 3 + random_maps * 2 * (random_steps - 1)


def map_curve_evaluations(steps: int = DEFAULT_STEPS) -> int:
    """Model evaluations `faithfulness_against` costs: the map's two curves' inner points."""
    return 2 * (steps - 1)


def faithfulness_evaluations(steps: int = DEFAULT_STEPS, random_maps: int = RANDOM_MAPS,
                             random_steps: int = RANDOM_STEPS) -> int:
    """Model evaluations one faithfulness pass costs: the three shared end images, the map's
    two curves' inner points and every random map's."""
    return 3 + 2 * (steps - 1) + random_maps * 2 * (random_steps - 1)


BASELINES_KEPT = 8
"""Random-map baselines a BaselineCache keeps: a few photos' worth for repeated requests (each
is a handful of numbers, keyed on a hash of the pixels, so the photos themselves are not kept)."""


class BaselineCache:
    """The last few `random_baseline`s, so every map of one request, and a repeated request on
    the same photo, measure the random maps once.

    A baseline is reused only for exactly what it depends on: the same model adapter (the very
    object, held weakly, so a new adapter never matches an old one's entry), the same pixels
    (a SHA-256 of the image the curves perturb, with its shape), the same target, seed and
    random-map settings. Least recently used entries are dropped first. An adapter's function
    must not change while it is in use (a model whose weights are re-drawn needs a new adapter,
    as `explain.sanity` makes).
    """

    def __init__(self, max_entries: int = BASELINES_KEPT):
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}.")
        self.max_entries = int(max_entries)
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def _key(model, image: np.ndarray, target: Target, seed: int, random_maps: int,
             random_steps: int):
        """The baseline's key, or None when the target cannot be a key (an unhashable
        callable): then nothing is shared."""
        try:
            hash(target.score)
        except TypeError:
            return None
        pixels = hashlib.sha256(np.ascontiguousarray(image)).hexdigest()
        return (weakref.ref(model), image.shape, str(image.dtype), pixels, target.score,
                int(seed), int(random_maps), int(random_steps), BLUR_SIGMA, RANDOM_GRID)

    def baseline(self, model, image: np.ndarray, target: Target, *, seed: int = 0,
                 random_maps: int = RANDOM_MAPS, random_steps: int = RANDOM_STEPS,
                 progress: Progress | None = None) -> tuple[RandomBaseline, bool]:
        """The baseline for these arguments, and whether it was reused (True) or computed now.

        Two threads asking for the same new baseline at once may both compute it; both get
        the same numbers. A computation that fails (or is cancelled) keeps nothing.
        """
        key = self._key(model, image, target, seed, random_maps, random_steps)
        if key is not None:
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
                    return self._entries[key], True
        found = random_baseline(model, image, target, seed=seed, random_maps=random_maps,
                                random_steps=random_steps, progress=progress)
        if key is not None:
            with self._lock:
                self._entries[key] = found
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return found, False
