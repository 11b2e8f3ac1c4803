"""What the Style tab's explanation panel explains: the probability of any label, on the crop
that was classified.

The maps explain exactly the number the tab shows: the classifier that produced the result
(CLIP zero-shot or the trained model) scores the same crop, and each label is one output, so
the user can ask about the top style or any other.
- Grad-CAM: CLIP's patch grid (the zero-shot softmax, or the trained CLIP head), or VGG16's last
  conv features.
- CAM: only the VGG16-GAP network, whose head is the GAP -> Dense that CAM is defined for.
- LIME and SHAP: the same classifier as a black box.
"""

from __future__ import annotations

import numpy as np

from models.artifacts import BoundedCache, SameObject
from models.clip import IMAGE_BATCH
from models.images import JUDGED_SIDE
from models.style.classify import ZERO_SHOT, StyleResult, describe, trained_model
from models.style.labels import resolve_label_set

CAM_NEEDS_VGG16 = ("CAM needs the VGG16-GAP classifier (python -m models.train style --data DIR "
                   "--backbone vgg16); Grad-CAM reads CLIP's patch grid instead.")
CAM_NOT_FOR_HEAD = ("CAM is defined for a GAP -> Dense head on conv features; the trained CLIP "
                    "head reads an embedding. Grad-CAM reads CLIP's patch grid instead.")

_ADAPTERS_KEPT = 4
_zero_shot_adapters = BoundedCache(_ADAPTERS_KEPT)
"""Zero-shot Grad-CAM adapters, keyed by the CLIP they run on and the labels' prompts."""


def zero_shot_gradcam_adapter(labels: tuple[str, ...], prompts: dict[str, tuple[str, ...]],
                              temperature: float):
    """A model computing exactly the zero-shot probabilities: CLIP's vision tower -> unit
    embedding -> cosines with the label vectors -> softmax at `temperature`. Built once per
    label list and temperature (a few are kept: each is a head of a few numbers on the shared
    tower)."""
    import keras

    from explain import TowerHeadModel
    from models import clip as clip_module

    clip = clip_module.get_clip()
    # Keyed by the very CLIP object (not its id, which a later model may reuse once this one
    # is collected): an adapter is that model's tower.
    key = (SameObject(clip), labels, tuple(prompts[label] for label in labels), temperature)

    def build():
        # A small head on CLIP's shared tower (models.clip.CLIPModel.embedding_tower).
        cosines = clip.similarity_head(clip.label_embeddings(prompts))
        scaled = keras.layers.Rescaling(temperature, name="temperature")(cosines.output)
        probabilities = keras.layers.Softmax(name="style_probabilities")(scaled)
        return TowerHeadModel(clip.embedding_tower(), keras.Model(cosines.input, probabilities),
                              output_names=list(labels), batch_size=IMAGE_BATCH,
                              work_side=JUDGED_SIDE)

    return _zero_shot_adapters.get(key, build)


def explanation_setup(result: StyleResult):
    """How to explain any label's probability of `result`, on its crop.

    Returns:
        An ExplanationSetup whose photo is the crop that was classified, with one adapter per
        method ("gradcam", "cam", "lime", "shap") whose outputs are the result's labels, or the
        sentence saying why a method cannot explain this result.
    """
    from explain import FunctionModel
    from models.explaining import ExplanationSetup, clip_patch_model
    from models.style.classify import (
        zero_shot_probabilities,
        zero_shot_probabilities_of_embeddings,
        zero_shot_temperature,
    )

    crop = np.ascontiguousarray(result.crop_image)
    labels = result.labels
    if result.source == ZERO_SHOT:
        chosen = (resolve_label_set(result.label_set) if result.label_set != "custom"
                  else resolve_label_set(labels=list(labels)))
        # LIME and SHAP hide CLIP's own patches, left out of its token sequence.
        black_box = clip_patch_model(
            lambda images: zero_shot_probabilities(list(images), chosen),
            lambda vectors: zero_shot_probabilities_of_embeddings(vectors, chosen),
            list(labels), work_side=JUDGED_SIDE)
        return ExplanationSetup(crop, {
            "gradcam": zero_shot_gradcam_adapter(labels, chosen.prompts,
                                                 zero_shot_temperature(chosen)),
            "cam": CAM_NEEDS_VGG16, "lime": black_box, "shap": black_box})
    trained = trained_model()
    if trained is None or describe(trained) != result.source:
        raise ValueError("The classifier that made this result is no longer on this machine; "
                         "classify the photo again.")
    black_box = FunctionModel(lambda images: trained.probabilities(list(images)), list(labels),
                              batch_size=IMAGE_BATCH, work_side=JUDGED_SIDE)
    gradient = trained.explain_adapter()
    return ExplanationSetup(crop, {
        "gradcam": gradient, "cam": gradient if trained.backbone == "vgg16" else CAM_NOT_FOR_HEAD,
        "lime": black_box, "shap": black_box})
