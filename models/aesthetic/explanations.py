"""What the explanation panel explains on the Aesthetic tab, and the adapters it runs.

Both scores on the card can be explained: technical quality (BRISQUE, by LIME and SHAP; it is no
network, so Grad-CAM cannot) and content aesthetics (LIME, SHAP and Grad-CAM through CLIP).
Every adapter is handed the photo's judged copy, where the maps are drawn, and scores it exactly
as `rate` does: content on the copy itself, technical quality on the native pixels behind it
(`models.aesthetic.technical.NativeQuality`).
"""

from __future__ import annotations

import numpy as np

from models.aesthetic.technical import QUALITY_SOURCE
from models.artifacts import BoundedCache, SameObject
from models.clip import IMAGE_BATCH
from models.explaining import ExplanationSetup, clip_patch_model
from models.images import JUDGED_SIDE, judged_copy, prepare_photo

__all__ = ["OUTPUTS", "QUALITY_GRADCAM_REASON", "QUALITY_NOTE", "TILES_NOTE",
           "content_gradcam_adapter", "explanation_setup"]

OUTPUTS = ("quality", "content")
"""The rating's outputs the panel can explain."""

QUALITY_GRADCAM_REASON = (
    "Grad-CAM cannot explain BRISQUE: it needs the gradients of a neural network, and BRISQUE "
    "is image statistics fed to a support vector regression. LIME and SHAP explain it.")
"""What the panel says for Grad-CAM on technical quality."""

QUALITY_NOTE = (f"LIME and SHAP explain the technical quality on the card ({QUALITY_SOURCE}): "
                "they hide regions of the photo and watch BRISQUE's score move.")

TILES_NOTE = ("BRISQUE reads this photo at its own resolution in five tiles (the centre and the "
              "middle of each quarter), so only regions within them can move it.")
"""Added to QUALITY_NOTE when the photo is large enough to be read in tiles."""

_adapters: BoundedCache = BoundedCache(2)


def _build_content_gradcam_adapter(content: tuple):
    """A model from photos to the displayed content score, for the content scorer `content`
    identifies (a head, or the calibrated zero-shot ensemble): a small head on CLIP's shared
    tower (`models.clip.CLIPModel.embedding_tower`)."""
    import keras

    from explain import TowerHeadModel
    from models import clip as clip_module
    from models.aesthetic.head import content_head
    from models.aesthetic.zero_shot import CONTENT_PROMPTS, zero_shot_offset

    clip = clip_module.get_clip()
    head = content_head() if content[0] == "head" else None
    if head is None:
        # Exactly the displayed content: sigmoid(logit scale x (cos aesthetic - cos not
        # aesthetic) - the calibration set's median margin), as the zero-shot score computes.
        cosines = clip.similarity_head(clip.label_embeddings(CONTENT_PROMPTS))
        calibrated = keras.layers.Dense(1, activation="sigmoid", trainable=False,
                                        name="content")
        score = calibrated(cosines.output)
        scale = clip.logit_scale
        calibrated.set_weights([np.array([[scale], [-scale]], np.float32),
                                np.array([-zero_shot_offset()], np.float32)])
        head = keras.Model(cosines.input, score)
    # A trained head reads the same unit-length embedding as it is.
    return TowerHeadModel(clip.embedding_tower(), head, output_names=["content"],
                          batch_size=IMAGE_BATCH, work_side=JUDGED_SIDE)


def content_gradcam_adapter():
    """The model Grad-CAM explains content through, built once per content scorer
    (`content_identity()`: the head's copy and CLIP's, or CLIP's alone for zero-shot) and per
    loaded CLIP (the adapter is a head on that very model's tower).

    Raises:
        ValueError: there is no content score here (no CLIP weights).
    """
    from models import clip as clip_module
    from models.aesthetic.content import content_identity

    content = content_identity()
    if content is None:
        raise ValueError("There is no content score to explain without the CLIP weights.")
    key = (*content, SameObject(clip_module.get_clip()))
    return _adapters.get(key, lambda: _build_content_gradcam_adapter(content))


def explanation_setup(image, target: str) -> ExplanationSetup:
    """How to explain `target` ("quality" or "content") on a photo.

    Returns:
        An ExplanationSetup whose photo is the copy the rating judged, with one FunctionModel
        for LIME and SHAP that scores it exactly as `rate` does (quality through
        `NativeQuality`, on the native pixels behind the perturbed copy). Content also has a
        Grad-CAM model; quality's Grad-CAM maps to the sentence saying why BRISQUE has none
        (QUALITY_GRADCAM_REASON). For "content" without CLIP weights, each method maps to the
        one-sentence reason.
    """
    from explain import FunctionModel
    from models.aesthetic.content import (
        clip_missing_note,
        content_available,
        content_scores,
        content_scores_of_embeddings,
    )
    from models.aesthetic.technical import NativeQuality

    if target not in OUTPUTS:
        raise ValueError(f"Unknown target {target!r}; choose from {OUTPUTS}.")
    native = prepare_photo(image).image
    photo = judged_copy(native)
    if target == "content" and not content_available():
        return ExplanationSetup(photo, {method: clip_missing_note()
                                        for method in ("gradcam", "lime", "shap")})
    score = NativeQuality(native) if target == "quality" else content_scores
    if target == "quality":
        # BRISQUE reads one photo at a time (~20-50 ms) and has no patches: superpixels.
        black_box = FunctionModel(lambda images: np.asarray(score(list(images)))[:, None],
                                  [target], batch_size=32, work_side=JUDGED_SIDE)
        models = {"gradcam": QUALITY_GRADCAM_REASON, "lime": black_box, "shap": black_box}
        tiled = len(score.boxes) > 1
        return ExplanationSetup(photo, models,
                                note=f"{QUALITY_NOTE} {TILES_NOTE}" if tiled else QUALITY_NOTE)
    # LIME and SHAP hide CLIP's own patches, left out of its token sequence
    # (models.explaining.clip_patch_model); CLIP embeds in batches of IMAGE_BATCH.
    black_box = clip_patch_model(lambda images: np.asarray(score(list(images)))[:, None],
                                 lambda vectors: np.asarray(
                                     content_scores_of_embeddings(vectors))[:, None],
                                 [target], work_side=JUDGED_SIDE)
    return ExplanationSetup(photo, {"gradcam": content_gradcam_adapter(), "lime": black_box,
                                    "shap": black_box})
