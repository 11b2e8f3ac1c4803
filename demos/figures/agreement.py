"""Where the explanation methods agree (explain.agreement), drawn for a page: the photo with the
region every map ranks high, and the pairs' rank correlations in its caption."""

from __future__ import annotations

import numpy as np

AGREED = (250, 204, 21)  # amber: reads on photos and beside the maps' red-blue scale
DIM = 0.45  # how dark the rest of the photo is drawn


def agreed_region_view(photo: np.ndarray, found) -> np.ndarray:
    """uint8 H x W x 3: the photo dimmed except where every map ranks high (`found`, an
    `explain.agreement.Agreement` of maps of this photo), with that region's edge in amber."""
    from scipy.ndimage import binary_erosion

    photo = np.asarray(photo)
    agreed = np.asarray(found.agreed, bool)
    if agreed.shape != photo.shape[:2]:
        raise ValueError(f"The agreement's maps are {agreed.shape}, the photo "
                         f"{photo.shape[:2]}; draw it on the photo the maps explain.")
    view = photo.astype(np.float32)
    view[~agreed] *= DIM
    edge = agreed & ~binary_erosion(agreed, iterations=max(1, max(agreed.shape) // 150))
    view[edge] = AGREED
    return np.clip(np.rint(view), 0, 255).astype(np.uint8)


def agreement_caption(found, titles=None) -> str:
    """One line: each pair's rank correlation, and how much of the photo all rank high."""
    titles = dict(titles or {})
    pairs = ", ".join(f"{titles.get(a, a)} and {titles.get(b, b)} {r:+.2f}"
                      for (a, b), r in found.correlations.items())
    return (f"Rank correlation: {pairs}. Every map ranks {found.agreed_share:.0%} of the photo "
            f"in its top {found.top_fraction:.0%}.")
