"""Where the methods agree: for two or more maps of the same number on the same photo, how alike
their rankings of the photo's regions are, and the regions every one of them ranks high.

Each method has its own blind spots (Grad-CAM's coarse grid, LIME's segments, SHAP's halves).
A region that every map puts in its top share is one no single method's quirk put there, so
it is the part of the explanation to trust most. `python -m benchmarks.explain --agreement`
and tests/test_agreement.py measure how often it lands in a region a model is known to read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations

import numpy as np

COMMON_GRID = 14
"""Cells on the longest side of the grid the maps are compared on. Maps come at the photo's
size, but none holds detail finer than a few percent of it (Grad-CAM's 7 x 7 patches, LIME's
~150 segments, SHAP's halves), and a pixel-level rank correlation would count the hundreds
of pixels of one segment as hundreds of agreeing votes."""

TOP_FRACTION = 0.2
"""The share of each map's pixels that counts as ranked high."""


@dataclass(frozen=True)
class Agreement:
    """How alike several maps of one number are.

    Attributes:
        methods: the maps' names, in the order given.
        correlations: (a, b) -> Spearman's rank correlation of maps a and b on the common grid,
            for every pair in `methods` order (1: same ranking, 0: unrelated, -1: reversed).
        agreed: bool H x W: the pixels in every map's top `top_fraction` (for a signed map,
            only its positive pixels can be there).
        top_fraction: the share of each map counted as its top.
    """

    methods: tuple[str, ...]
    correlations: Mapping[tuple[str, str], float]
    agreed: np.ndarray
    top_fraction: float

    @property
    def mean_correlation(self) -> float:
        """The pairs' mean rank correlation."""
        return float(np.mean(list(self.correlations.values())))

    @property
    def agreed_share(self) -> float:
        """The share of the photo every map ranks high."""
        return float(self.agreed.mean())


def common_grid(heatmap: np.ndarray, side: int = COMMON_GRID) -> np.ndarray:
    """The map's mean over each cell of a grid `side` cells long on its longest side (at least
    one cell each way), keeping the photo's shape."""
    import cv2

    heatmap = np.asarray(heatmap, np.float32)
    height, width = heatmap.shape
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(heatmap, size, interpolation=cv2.INTER_AREA)


def rank_correlation(first: np.ndarray, second: np.ndarray, side: int = COMMON_GRID) -> float:
    """Spearman's rank correlation of two maps of one photo on the common grid (0 when either
    is flat on it: a flat map ranks nothing)."""
    from scipy.stats import spearmanr

    a = common_grid(first, side).ravel()
    b = common_grid(second, side).ravel()
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)


def top_region(heatmap: np.ndarray, fraction: float = TOP_FRACTION) -> np.ndarray:
    """bool H x W: the pixels at or above the map's (1 - fraction) quantile (ties at the edge
    all count), and only positive ones: a region a signed map says lowers the score, or a flat
    zero, is not ranked high."""
    heatmap = np.asarray(heatmap, np.float32)
    cut = np.quantile(heatmap, 1 - fraction)
    return (heatmap >= cut) & (heatmap > 0)


def agreement(maps: Mapping[str, np.ndarray], top_fraction: float = TOP_FRACTION,
              side: int = COMMON_GRID) -> Agreement:
    """The pairwise rank correlations of two or more maps of one photo, and the region in every
    map's top `top_fraction`.

    Args:
        maps: name -> map (H x W, all the same size: `Explanation.heatmap`s of one photo).
        top_fraction: the share of each map that counts as its top, in (0, 1].
        side: cells on the longest side of the grid the rankings are compared on.

    Raises:
        ValueError: fewer than two maps, maps of different sizes, or a bad fraction.
    """
    if len(maps) < 2:
        raise ValueError(f"Agreement needs at least two maps, got {len(maps)}.")
    if not 0 < top_fraction <= 1:
        raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction!r}.")
    names = tuple(maps)
    arrays = {name: np.asarray(maps[name], np.float32) for name in names}
    shapes = {array.shape for array in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"The maps must be H x W of one size, got shapes "
                         f"{sorted(map(str, shapes))}.")
    correlations = {(a, b): rank_correlation(arrays[a], arrays[b], side)
                    for a, b in combinations(names, 2)}
    agreed = np.logical_and.reduce([top_region(arrays[name], top_fraction) for name in names])
    return Agreement(names, correlations, agreed, float(top_fraction))
