"""Content aesthetics by CLIP zero-shot: a prompt ensemble, calibrated on the calibration set.

CLIP ViT-B/32 compares each photo with an ensemble of prompts for beautiful, well-composed
photos and one for ugly, badly composed ones. The logit margin between the two is centred on
its median over the calibration set (`models.aesthetic.calibration`) before the sigmoid, so
0.5 means "as aesthetic to CLIP as the middle of the calibration set". Used when no trained head
is here (`models.aesthetic.content`).
"""

from __future__ import annotations

import numpy as np

from models.artifacts import BoundedCache, folder_identity
from models.images import judged_copy

__all__ = ["CONTENT_PROMPTS", "clip_identity", "margins_of_embeddings", "zero_shot_margins",
           "zero_shot_offset", "zero_shot_scores_of_embeddings"]

CONTENT_PROMPTS = {
    "aesthetic": [
        "a beautiful photo", "a well-composed photograph", "a stunning professional photo",
        "an aesthetically pleasing picture", "a photo with great lighting",
    ],
    "not aesthetic": [
        "an ugly photo", "a badly composed photograph", "a boring amateur snapshot",
        "an unappealing picture", "a photo with bad lighting",
    ],
}

_offsets: BoundedCache = BoundedCache(2)


def clip_identity() -> tuple:
    """Which CLIP scores here: the `folder_identity` of the loaded model's preset folder (loads
    CLIP on first use)."""
    from models import clip

    return folder_identity(clip.get_clip().path)


def zero_shot_margins(images) -> np.ndarray:
    """CLIP's zero-shot logit margin of each photo's `judged_copy`: logit scale x (cosine with
    the "aesthetic" prompt ensemble - cosine with the "not aesthetic" one). Its sigmoid is the
    zero-shot probability of "aesthetic"."""
    from models import clip

    return margins_of_embeddings(clip.embed_images([judged_copy(image) for image in images]))


def margins_of_embeddings(embeddings: np.ndarray) -> np.ndarray:
    """`zero_shot_margins` from the photos' unit CLIP embeddings."""
    from models import clip as clip_module

    clip = clip_module.get_clip()
    cosines = np.asarray(embeddings) @ clip.label_embeddings(CONTENT_PROMPTS).T
    return clip.logit_scale * (cosines[:, 0] - cosines[:, 1]).astype(np.float64)


def zero_shot_offset() -> float:
    """The median zero-shot margin over the calibration set, for the CLIP loaded now: computed
    once per CLIP (`clip_identity`)."""
    from models.aesthetic.calibration import calibration_set

    def median_margin() -> float:
        _, photos = calibration_set()
        return float(np.median(zero_shot_margins(photos)))

    return _offsets.get(clip_identity(), median_margin)


def zero_shot_scores_of_embeddings(embeddings: np.ndarray) -> np.ndarray:
    """The calibrated zero-shot content score of each photo, in [0, 1]: sigmoid(margin - the
    calibration set's median margin).

    Raw zero-shot probabilities of a two-label prompt pair sit wherever the prompts' wording
    puts them (CLIP may call most photos "beautiful"); recentring makes 0.5 mean "as aesthetic
    to CLIP as the middle of the calibration set", and keeps the preset's logit scale as the
    slope."""
    return 1.0 / (1.0 + np.exp(-(margins_of_embeddings(embeddings) - zero_shot_offset())))
