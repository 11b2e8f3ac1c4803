"""The trained content head: found through the manifest, loaded once per copy of it.

A head (`python -m models.train aesthetic_head`) maps unit-length CLIP image embeddings to the
probability that each photo is aesthetic. When the manifest names one (CONTENT_HEAD) and this
machine has it, it replaces the zero-shot prompt ensemble (`models.aesthetic.content`).
"""

from __future__ import annotations

from models.artifacts import BoundedCache, folder_identity

__all__ = ["CONTENT_HEAD", "HEAD_FILE", "content_head", "head_identity"]

CONTENT_HEAD = "aesthetic_head"
"""Manifest name of a trained content head: a `.keras` model (HEAD_FILE) from unit-length CLIP
image embeddings (N, D) to the probability that each photo is aesthetic (N, 1), as
`python -m models.train aesthetic_head` writes it. The shipped manifest names none (no rating
dataset ships with InstaVis); add an entry, and the head replaces the zero-shot ensemble."""

HEAD_FILE = "head.keras"

_heads: BoundedCache = BoundedCache(1)


def head_identity() -> tuple | None:
    """The identity of the head this machine has now (`folder_identity` of its folder), or
    None when the manifest names none or it is not here. Asked afresh on every call, so a
    head pulled or retrained while the app runs is seen by the next request."""
    import weights

    if not weights.available(CONTENT_HEAD):
        return None
    return folder_identity(weights.locate(CONTENT_HEAD).path)


def content_head():
    """The trained content head when this machine has one, loaded once per copy of it
    (`head_identity`; `safe_mode=True`) and only the latest kept; otherwise None."""
    import weights

    identity = head_identity()
    if identity is None:
        return None
    return _heads.get(identity, lambda: weights.load_keras(CONTENT_HEAD, HEAD_FILE))
