"""The reference photos a rating is ranked among, and the percentile.

Their combined scores depend on how content is scored, so they are kept per content scorer
(`models.aesthetic.content.content_identity`): a head that arrives or changes is ranked
against reference scores it gave itself.
"""

from __future__ import annotations

import numpy as np

from models.aesthetic.photos import load_photo
from models.artifacts import BoundedCache

__all__ = ["REFERENCE_PHOTOS", "TIE", "percentile_of", "reference_photos", "reference_scores"]

REFERENCE_PHOTOS = ("astronaut", "rocket", "china", "grace_hopper", "coffee", "chelsea",
                    "flower")
"""The photos a rating is ranked among: every unedited colour photograph of an everyday scene
that the installed packages ship (scikit-image's astronaut, rocket, coffee and chelsea the
cat; scikit-learn's china and flower; matplotlib's Grace Hopper). Neither BRISQUE nor CLIP
was trained on them. Seven photos: the percentile says "higher than 5 of the 7", no finer."""

TIE = 1e-9
"""Combined scores (0-1) closer than this are the same score to `percentile_of`."""

_scores: BoundedCache = BoundedCache(2)


def reference_photos() -> dict[str, np.ndarray]:
    """The REFERENCE_PHOTOS, read from the installed packages."""
    return {name: load_photo(name) for name in REFERENCE_PHOTOS}


def _score_reference_photos(content: tuple | None) -> np.ndarray:
    """The combined score of each of REFERENCE_PHOTOS, content scored as `content` says."""
    from models.aesthetic.scoring import combined_scores

    return combined_scores(list(reference_photos().values()), with_content=content is not None)


def reference_scores(content: tuple | None) -> np.ndarray:
    """The combined score of each of REFERENCE_PHOTOS, in [0, 1], computed once per content
    scorer.

    Args:
        content: the scorer's `content_identity()` (None: no content score).
    """
    return _scores.get(content, lambda: _score_reference_photos(content))


def percentile_of(combined: float, content: tuple | None) -> float:
    """Share of the REFERENCE_PHOTOS whose combined score is below `combined`, 0-100, with
    content scored by the scorer `content` identifies. A reference photo rated again ties its
    own score up to rounding (1e-14 either way, as the photo is scored alone or in the
    reference batch), so scores within `TIE` count as equal, not lower: a reference photo never
    counts itself."""
    return float((reference_scores(content) < combined - TIE).mean() * 100)
