"""The combined score: technical quality and content aesthetics mixed into one number."""

from __future__ import annotations

import numpy as np

__all__ = ["CONTENT_WEIGHT", "combine", "combined_scores"]

CONTENT_WEIGHT = 0.5
"""Share of content in the combined score when both parts exist."""


def combine(quality: float, content: float | None) -> float:
    """The combined score in [0, 1]: quality alone, or the CONTENT_WEIGHT mix with content."""
    if content is None:
        return float(quality)
    return (1 - CONTENT_WEIGHT) * float(quality) + CONTENT_WEIGHT * float(content)


def combined_scores(images, with_content: bool) -> np.ndarray:
    """The combined score of each photo, in [0, 1], with or without content (which needs the
    CLIP weights; content is scored by the scorer this machine has now)."""
    from models.aesthetic.content import content_scores
    from models.aesthetic.technical import quality_scores

    quality = quality_scores(images)
    content = content_scores(images) if with_content else [None] * len(images)
    return np.array([combine(q, c) for q, c in zip(quality, content, strict=True)])
