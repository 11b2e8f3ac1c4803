"""Content aesthetics: which scorer this machine has, what it is derived from, and its scores.

A photo's content score, in [0, 1], comes from a trained head on CLIP embeddings when the
manifest names one and it is here (`models.aesthetic.head`), else from CLIP's calibrated
zero-shot ensemble (`models.aesthetic.zero_shot`), and not at all without the CLIP weights.
Every object derived from the scorer (the reference photos' scores, the attribute surrogate,
the Grad-CAM adapter) is cached under `content_identity()`, so a head that arrives or changes
is used by all of them at once.
"""

from __future__ import annotations

import numpy as np

from models.images import judged_copy

__all__ = ["clip_missing_note", "content_available", "content_identity", "content_method",
           "content_scores", "content_scores_of_embeddings"]


def content_available() -> bool:
    """Whether the CLIP weights are on this machine (never downloads)."""
    import weights

    return weights.available("clip")


def clip_missing_note() -> str:
    """Why a rating has no content score, and how the CLIP weights arrive: the download under
    way on a connected machine (with how far it is), else the command that fetches them."""
    from weights.prefetch import missing_advice

    return (f"Content aesthetics need the CLIP ViT-B/32 weights: {missing_advice('clip')}. "
            "This rating uses technical quality only.")


def content_identity() -> tuple | None:
    """What content scores are derived from here now, asked afresh on every call.

    Returns:
        None without the CLIP weights; ("head", the head's `folder_identity`, CLIP's) with a
        trained head; ("zero-shot", CLIP's `folder_identity`) otherwise. Loads CLIP when its
        weights are here.
    """
    from models.aesthetic.head import head_identity
    from models.aesthetic.zero_shot import clip_identity

    if not content_available():
        return None
    head = head_identity()
    if head is not None:
        return "head", head, clip_identity()
    return "zero-shot", clip_identity()


def content_method() -> str | None:
    """How content is scored here now: "head" (a trained head), "zero-shot" (the prompt
    ensemble) or None (no CLIP weights): the first part of `content_identity()`."""
    identity = content_identity()
    return None if identity is None else identity[0]


def content_scores(images) -> np.ndarray:
    """Content aesthetics of each photo's `judged_copy`, in [0, 1]: the trained head's
    probability, or the calibrated zero-shot score (`zero_shot_scores_of_embeddings`)."""
    from models import clip

    return content_scores_of_embeddings(
        clip.embed_images([judged_copy(image) for image in images]))


def content_scores_of_embeddings(embeddings: np.ndarray) -> np.ndarray:
    """`content_scores` of photos whose unit CLIP embeddings (of their judged copies) the caller
    already has, so a photo goes through the vision tower once (the Profile tab needs both)."""
    from models.aesthetic.head import content_head
    from models.aesthetic.zero_shot import zero_shot_scores_of_embeddings

    head = content_head()
    if head is not None:
        return np.asarray(head(np.asarray(embeddings), training=False), np.float64)[:, 0]
    return zero_shot_scores_of_embeddings(embeddings)
