"""The attribute surrogate: a linear model of the combined score on the nine attribute scores.

The score comes from BRISQUE and CLIP, not from the attributes, so what the chart explains is a
surrogate of it: the score regressed on the attribute scores over the calibration set
(`models.aesthetic.calibration`), within each calibration photo's spoiled copies. The fit
depends on how content is scored, so it is kept per content scorer
(`models.aesthetic.content.content_identity`). SHAP reads it in
`models.aesthetic.contributions`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.aesthetic.attributes import ATTRIBUTE_NAMES, PhotoAttributes, measure
from models.artifacts import BoundedCache

__all__ = ["GOOD_END_ATTRIBUTES", "SURROGATE_ATTRIBUTES", "Surrogate", "attribute_scores",
           "fit_surrogate", "surrogate", "surrogate_fit"]

GOOD_END_ATTRIBUTES = ("exposure", "contrast", "sharpness", "noise", "thirds", "horizon tilt")
"""Attributes whose score has a good end (1 = best). The surrogate may only reward them: a photo
never loses points for being sharper. The others (colourfulness, saturation, symmetry) are
tastes, and their weight may take either sign."""

SURROGATE_ATTRIBUTES = ("exposure", "contrast", "colourfulness", "saturation", "sharpness",
                        "noise")
"""The attributes the surrogate can learn from the calibration set: those its spoiled copies vary.
Blur, noise or a cast do not move the subject, so thirds, symmetry and horizon tilt hardly
change between a photo and its copies, and their effect on the score cannot be measured here;
the chart shows them at 0, marked as not measured."""


@dataclass(frozen=True)
class Surrogate:
    """The surrogate fitted for one content scorer, with the calibration set it was fitted on.

    Attributes:
        names: "coffee" or "coffee + gaussian_blur 4", one per calibration entry.
        scores: combined score of every calibration entry, in [0, 1].
        attributes: attribute scores of every entry (rows, ATTRIBUTE_NAMES order).
        coefficients: score ~ intercept + attribute scores @ coefficients.
        intercept: see coefficients.
        fit_r2: R^2 of the fitted variation (within each calibration photo's copies).
    """

    names: tuple[str, ...]
    scores: np.ndarray
    attributes: np.ndarray
    coefficients: np.ndarray
    intercept: float
    fit_r2: float


_surrogates: BoundedCache = BoundedCache(2)


def attribute_scores(attributes: PhotoAttributes) -> np.ndarray:
    """The nine attribute scores in ATTRIBUTE_NAMES order; a photo with no horizon to tilt
    scores 1 for horizon tilt (it is as good as level)."""
    return np.array([1.0 if a.score is None else a.score for a in attributes.attributes()])


def fit_surrogate(features: np.ndarray, scores: np.ndarray, groups: np.ndarray | None = None,
                  alpha: float = 1.0) -> tuple[np.ndarray, float, float]:
    """Ridge regression of the score on the attribute scores of SURROGATE_ATTRIBUTES, with the
    weights of GOOD_END_ATTRIBUTES kept at or above zero (bounded least squares).

    The attribute scores all lie in [0, 1], so the ridge penalty acts on comparable weights and
    no attribute can earn a huge weight from a tiny spread. With `groups` (one id per row: which
    reference photo it is a copy of), the fit uses only the variation within each group, as a
    fixed-effects regression does: it learns how the score moves when an attribute of the same
    photo changes, and cannot pass off the differences between a handful of photos as an
    attribute's effect. Attributes outside SURROGATE_ATTRIBUTES, or that do not vary, get 0.

    Returns:
        (coefficients on the raw attribute scores, intercept, R^2 of the fitted variation).
    """
    from scipy.optimize import lsq_linear

    x, y = features.astype(np.float64), scores.astype(np.float64)
    if groups is None:
        groups = np.zeros(len(y), int)
    for group in np.unique(groups):
        rows = groups == group
        x[rows] -= x[rows].mean(axis=0)
        y[rows] -= y[rows].mean()
    used = np.array([name in SURROGATE_ATTRIBUTES for name in ATTRIBUTE_NAMES]) & \
        (x.std(axis=0) > 1e-6)
    # Ridge as least squares: sqrt(alpha) x identity rows pull every weight towards 0.
    design = np.vstack([x[:, used], np.sqrt(alpha) * np.eye(int(used.sum()))])
    padded = np.concatenate([y, np.zeros(int(used.sum()))])
    lower = np.array([0.0 if name in GOOD_END_ATTRIBUTES else -np.inf
                      for name, kept in zip(ATTRIBUTE_NAMES, used, strict=True) if kept])
    coefficients = np.zeros(features.shape[1])
    coefficients[used] = lsq_linear(design, padded, bounds=(lower, np.inf)).x
    intercept = float(scores.mean() - features.mean(axis=0) @ coefficients)
    residual = y - x @ coefficients
    r2 = 1.0 - float((residual ** 2).sum() / max((y ** 2).sum(), 1e-12))
    return coefficients, intercept, r2


def _build_surrogate(content: tuple | None) -> Surrogate:
    """Score the calibration set with content scored as `content` says, measure its
    attributes, and fit the surrogate: a few seconds of work (`surrogate` caches it)."""
    from models.aesthetic.calibration import calibration_set
    from models.aesthetic.scoring import combined_scores

    names, photos = calibration_set()
    scores = combined_scores(photos, with_content=content is not None)
    features = np.stack([attribute_scores(measure(photo)) for photo in photos])
    groups = np.array([name.split(" + ")[0] for name in names])
    coefficients, intercept, r2 = fit_surrogate(features, scores, groups)
    return Surrogate(tuple(names), scores, features, coefficients, intercept, r2)


def surrogate(content: tuple | None) -> Surrogate:
    """The surrogate for the content scorer `content` identifies (`content_identity()`; None:
    no content score), fitted once per scorer.

    The fit runs while the cache's lock is held, so a request that arrives while another
    thread (the start-up warm-up, or a first request) is fitting waits for that result instead
    of fitting a second time."""
    return _surrogates.get(content, lambda: _build_surrogate(content))


def surrogate_fit() -> float:
    """R^2 of the attribute surrogate for the content scorer here now: the share of the score's
    variation across each calibration photo's spoiled copies that the attributes account
    for."""
    from models.aesthetic.content import content_identity

    return surrogate(content_identity()).fit_r2
