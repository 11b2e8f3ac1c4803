"""What a task hands the explanation panel: the photo to explain, the adapter each method runs on,
and what each method explains. Shared by the task packages; imports nothing heavy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ExplanationSetup:
    """How to explain one displayed number of one photo.

    Attributes:
        photo: the exact copy the displayed number was computed on (`models.images.judged_copy`);
            the adapters' `work_side` lets the explainers use it as it is, so the unperturbed
            photo scores exactly what the tab shows.
        models: method name -> adapter (a KerasModel or FunctionModel), or -> the one sentence
            saying why that method cannot explain this number here.
        method_targets: method name -> the output it explains instead of the displayed number,
            when it cannot explain that number itself (the output's name says what it is).
        note: a sentence on how to read the maps, for the panel to show.
    """

    photo: np.ndarray
    models: Mapping[str, Any]
    method_targets: Mapping[str, Any] = field(default_factory=dict)
    note: str | None = None


def clip_patch_model(fn, scores_of_embeddings, output_names, *, batch_size: int | None = None,
                     work_side: int | None = None):
    """The black box LIME and SHAP explain a CLIP-based number through, in CLIP's own units:
    an `explain.PatchModel` that scores whole photos with `fn` and, for a photo with some of
    its patches hidden, drops those patches from the vision tower's token sequence
    (`CLIPModel.embed_kept_patches`) and scores the embeddings with `scores_of_embeddings`.

    Args:
        fn: uint8 N x H x W x 3 -> N x K, the displayed numbers of whole photos.
        scores_of_embeddings: unit CLIP embeddings (N x D) -> N x K, so that
            `scores_of_embeddings(clip.embed_images(images))` is `fn(images)`.
        output_names: one per column.
        batch_size: photos or keep rows per call (default twice models.clip.IMAGE_BATCH:
            `fn` and `embed_images` take photos IMAGE_BATCH a pass, and `embed_kept_patches`
            puts no more tokens in one pass than IMAGE_BATCH whole photos hold, so rows that
            keep fewer patches share a pass, as many as before the batch was halved for
            memory; SHAP's Partition also batches its evaluations by it).
        work_side: the adapter's work side (the judged copy's).
    """
    from explain import PatchModel
    from models import clip as clip_module

    clip = clip_module.get_clip()
    grid = (clip.patch_grid, clip.patch_grid)
    return PatchModel(
        fn, lambda image, keep: scores_of_embeddings(clip.embed_kept_patches(image, keep)),
        grid, output_names, input_box=clip.crop_box,
        batch_size=2 * clip_module.IMAGE_BATCH if batch_size is None else batch_size,
        work_side=work_side)
