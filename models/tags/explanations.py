"""What the Tags tab's explanation panel explains: any tag's probability, applied or not, on the
photo that was tagged.

The maps explain exactly the number the tab shows: the source that answered the tag scores the
same judged copy, and each tag is one output.
- Grad-CAM: for zero-shot, CLIP's patch grid, in a Keras model computing the tag
  probabilities exactly as `models.tags.tagging` does (vision tower -> unit embedding ->
  cosines with the prompt and counter-prompt vectors -> logit scale x margin -> sigmoid). For
  the trained head, its backbone's last feature grid (EfficientNet's final feature map or CLIP's
  patch grid) under the head.
- LIME and SHAP: the same source as a black box.
There is no CAM: neither source ends in the GAP -> Dense head CAM is defined for.
"""

from __future__ import annotations

import numpy as np

from models.artifacts import BoundedCache, SameObject, identity_key
from models.clip import IMAGE_BATCH
from models.images import JUDGED_SIDE
from models.tags.tagging import (
    ZERO_SHOT,
    TagResult,
    describe_head,
    head_embedder,
    head_probabilities,
    trained_head,
    zero_shot_probabilities,
    zero_shot_probabilities_of_embeddings,
    zero_shot_scale,
)
from models.tags.vocabulary import Tag

NO_CAM = ("CAM needs a GAP -> Dense head on conv features, which neither CLIP zero-shot nor the "
          "tag head has; Grad-CAM reads the backbone's feature grid instead.")

_ADAPTERS_KEPT = 4
_adapters = BoundedCache(_ADAPTERS_KEPT)
"""Grad-CAM adapters, keyed by the identity of every model each is derived from (the CLIP, the
trained head, its backbone). A few are kept: each is a small head over a shared backbone, so
keeping them costs little, and rebuilding costs a trace."""


def _kept(key: tuple, build):
    """The adapter for `key`, built once while it is kept."""
    return _adapters.get(key, build)


def zero_shot_gradcam_adapter(tags: tuple[Tag, ...]):
    """A model whose outputs are the zero-shot probabilities of `tags`, for Grad-CAM."""
    import keras

    from explain import TowerHeadModel
    from models import clip as clip_module

    clip = clip_module.get_clip()
    scale = zero_shot_scale()
    key = (SameObject(clip), scale,
           tuple((t.name, t.prompts, t.counter_prompts) for t in tags))

    def build():
        prompts = clip.label_embeddings({t.name: t.prompts for t in tags})
        counters = clip.label_embeddings({t.name: t.counter_prompts for t in tags})
        cosines = clip.similarity_head(np.concatenate([prompts, counters]))
        # margin_t = cos(prompts_t) - cos(counters_t), times the logit scale: one fixed Dense.
        count = len(tags)
        weights = np.concatenate([np.eye(count), -np.eye(count)]).astype(np.float32) * scale
        margin = keras.layers.Dense(count, use_bias=False, trainable=False,
                                    name="scaled_margin")
        probabilities = keras.layers.Activation("sigmoid", name="tag_probabilities")(
            margin(cosines.output))
        margin.set_weights([weights])
        # A small head on CLIP's shared tower (models.clip.CLIPModel.embedding_tower): a new
        # set of tags compiles nothing.
        return TowerHeadModel(clip.embedding_tower(), keras.Model(cosines.input, probabilities),
                              output_names=[t.name for t in tags], batch_size=IMAGE_BATCH,
                              work_side=JUDGED_SIDE)

    return _kept(key, build)


def _tags_of(result: TagResult, source: str) -> tuple[Tag, ...]:
    """The result's tags answered by `source`, with their prompts, in the vocabulary's order."""
    return tuple(t for t in result.vocabulary if result.decision(t.name).source == source)


def explanation_setup(result: TagResult, target: str):
    """How to explain tag `target`'s probability in `result`, on the photo that was tagged.

    Returns:
        An ExplanationSetup with one adapter per method ("gradcam", "cam", "lime", "shap")
        whose outputs are the tags of the source that answered `target`, or the sentence saying
        why a method cannot explain it.

    Raises:
        KeyError: `target` is not one of the result's tags.
        ValueError: the trained head that answered is no longer on this machine.
    """
    from explain import FunctionModel
    from models.explaining import ExplanationSetup, clip_patch_model

    source = result.decision(target).source
    photo = np.ascontiguousarray(result.photo)
    if source == ZERO_SHOT:
        tags = _tags_of(result, ZERO_SHOT)
        names = [t.name for t in tags]
        # LIME and SHAP hide CLIP's own patches, left out of its token sequence.
        black_box = clip_patch_model(
            lambda images: zero_shot_probabilities(list(images), tags),
            lambda vectors: zero_shot_probabilities_of_embeddings(vectors, tags),
            names, work_side=JUDGED_SIDE)
        return ExplanationSetup(photo, {"gradcam": zero_shot_gradcam_adapter(tags), "cam": NO_CAM,
                                        "lime": black_box, "shap": black_box})
    head = trained_head()
    embedder = None if head is None else head_embedder(head)[0]
    if head is None or embedder is None or describe_head(head) != source:
        raise ValueError("The tag head that made this result is no longer on this machine; tag "
                         "the photo again.")
    names = list(head.concepts)
    black_box = FunctionModel(lambda images: head_probabilities(list(images), head, embedder),
                              names, batch_size=IMAGE_BATCH, work_side=JUDGED_SIDE)
    return ExplanationSetup(photo, {"gradcam": head_gradcam_adapter(head, embedder),
                                    "cam": NO_CAM, "lime": black_box, "shap": black_box})


def head_gradcam_adapter(head, embedder):
    """A KerasModel from pixels to the head's probabilities through its backbone, for
    Grad-CAM (`Embedder.gradcam_adapter`); kept under the identity of the head's files and of
    the backbone's (`models.artifacts.identity_key`), so a replaced head or backbone gets a
    new one."""
    return _kept(("head", identity_key(head), identity_key(embedder)),
                 lambda: embedder.gradcam_adapter(head.keras_model, list(head.concepts),
                                                  work_side=JUDGED_SIDE))
