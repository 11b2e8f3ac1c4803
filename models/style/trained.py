"""Trained style classifiers: the research's VGG16-GAP, or a softmax head on CLIP embeddings.

`python -m models.train style` writes an artifact folder: `style.keras` (MODEL_FILE) and
`style.json` (INFO_FILE: labels, label set, backbone, input size, the data split and the test
report; nothing pickled). Named in the manifest as `style_vgg16` (STYLE_VGG16) or `style_head`
(STYLE_HEAD) and found by `weights.locate`, it replaces the zero-shot classifier. The shipped
manifest names neither: no fashion dataset ships with InstaVis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models import artifacts
from models.artifacts import ArtifactKind, BoundedCache, SameObject, identity_key

STYLE_VGG16 = "style_vgg16"
"""Manifest name of a trained VGG16-GAP: photos (N, S, S, 3) in 0..255 -> probabilities (N, K)."""
STYLE_HEAD = "style_head"
"""Manifest name of a trained CLIP head: unit-length CLIP image embeddings (N, D) ->
probabilities (N, K)."""

MODEL_FILE = "style.keras"
INFO_FILE = "style.json"

VGG16_BACKBONE = "vgg16"
CLIP_BACKBONE = "clip"
BACKBONES = (CLIP_BACKBONE, VGG16_BACKBONE)
ARTIFACT_BY_BACKBONE = {VGG16_BACKBONE: STYLE_VGG16, CLIP_BACKBONE: STYLE_HEAD}

KNOWN_LABEL_SETS: dict[str, frozenset[str]] = {
    "everyday": frozenset({"casual", "street", "formal", "sporty", "bohemian", "vintage",
                           "minimalist", "glam"}),
    # Takagi et al., ICCVW 2017.
    "fashionstyle14": frozenset({"conservative", "dressy", "ethnic", "fairy", "feminine", "gal",
                                 "girlish", "casual", "lolita", "mode", "natural", "retro",
                                 "rock", "street"}),
}
CUSTOM_LABEL_SET = "custom"

# The published FashionStyle14 archive names its casual class's folder "kireime-casual"
# (kireime: neat), so that folder counts as the set's "casual".
_LABEL_ALIASES = {"kireime_casual": "casual"}


def _normalised_label(name: str) -> str:
    key = "_".join(name.strip().lower().replace("-", "_").replace(" ", "_").split("_"))
    return _LABEL_ALIASES.get(key, key)


def detect_label_set(labels) -> str:
    """"everyday" or "fashionstyle14" when `labels` are exactly that set's classes (compared
    lowercased, with hyphens, spaces and underscores alike), else "custom"."""
    names = sorted(_normalised_label(label) for label in labels)
    for set_name, members in KNOWN_LABEL_SETS.items():
        if names == sorted(members):
            return set_name
    return CUSTOM_LABEL_SET


@dataclass(frozen=True)
class TrainedStyleModel:
    """A trained style classifier and what it was trained on.

    Attributes:
        name: the manifest name, "style_vgg16" or "style_head".
        backbone: "vgg16" or "clip".
        labels: class names in output order (the training folder's class folders, sorted).
        label_set: "fashionstyle14" or "everyday" when the labels are exactly that set,
            else "custom".
        keras_model: the loaded Keras model. vgg16: photos (N, S, S, 3) float 0..255 ->
            probabilities (N, K); clip: unit-length embeddings (N, D) -> probabilities (N, K).
        image_size: S, the side photos are resized to (vgg16); None for the clip head.
        info: the artifact's style.json (split, test report, training settings).
        folder: where the artifact was loaded from.
        identity: the `models.artifacts.ArtifactIdentity` of the files it was loaded from
            (None when built in memory); what its adapters are cached under.
    """

    name: str
    backbone: str
    labels: tuple[str, ...]
    label_set: str
    keras_model: Any
    image_size: int | None = None
    info: dict = field(default_factory=dict, compare=False, repr=False)
    folder: Path | None = None
    identity: Any = field(default=None, compare=False, repr=False)

    def probabilities(self, images: list[np.ndarray]) -> np.ndarray:
        """Class probabilities of uint8 H x W x 3 photos of any sizes.

        Returns:
            float32 (N, K); each row sums to 1.
        """
        images = list(images)
        if not images:
            return np.zeros((0, len(self.labels)), np.float32)
        if self.backbone == CLIP_BACKBONE:
            from models import clip

            inputs = clip.get_clip().embed_images(images)
        else:
            from models.style.networks import resize_photos

            inputs = resize_photos(images, self.image_size)
        outputs = [np.asarray(self.keras_model(inputs[start:start + _BATCH], training=False),
                              np.float32)
                   for start in range(0, len(images), _BATCH)]
        return np.concatenate(outputs)

    def explain_adapter(self):
        """An adapter over exactly the displayed probabilities, built once per model identity
        (and, for the clip head, per loaded CLIP); a few are kept.

        vgg16: an `explain.KerasModel` of the whole network with `cam_layer="style_features"`
        (the last convolution), so CAM (the research's map) and Grad-CAM both work. clip: an
        `explain.TowerHeadModel`, this head on CLIP's shared tower (its unit embedding, with
        CLIP's patch-token layer for Grad-CAM; CAM needs a GAP -> Dense head). Output names are
        the labels either way.
        """
        if self.backbone == VGG16_BACKBONE:
            return _adapters.get(("vgg16", identity_key(self)), self._vgg16_adapter)
        from models import clip as clip_module

        clip = clip_module.get_clip()
        # The adapter is CLIP's tower under this head: it is derived from both.
        return _adapters.get(("clip", identity_key(self), SameObject(clip)),
                             lambda: self._clip_adapter(clip))

    def _vgg16_adapter(self):
        from explain import KerasModel
        from models.images import JUDGED_SIDE
        from models.style.networks import FEATURES_LAYER, resize_photos

        size = self.image_size
        return KerasModel(self.keras_model,
                          preprocess=lambda batch: resize_photos(batch, size),
                          cam_layer=FEATURES_LAYER, output_names=list(self.labels),
                          work_side=JUDGED_SIDE)

    def _clip_adapter(self, clip):
        from explain import TowerHeadModel
        from models.clip import IMAGE_BATCH
        from models.images import JUDGED_SIDE

        # The head reads the unit-length embedding of CLIP's shared tower, the one it was
        # trained on; the tower's passes are compiled once for every head on it.
        return TowerHeadModel(clip.embedding_tower(), self.keras_model,
                              output_names=list(self.labels), batch_size=IMAGE_BATCH,
                              work_side=JUDGED_SIDE)


_BATCH = 32  # photos per model call
_ADAPTERS_KEPT = 2
_adapters = BoundedCache(_ADAPTERS_KEPT)
"""Explanation adapters, keyed by the model's identity (and the CLIP they run on)."""


def _check_info(info: dict) -> str | None:
    if not isinstance(info.get("labels"), list) or info.get("backbone") not in BACKBONES:
        return f"names no labels or no known backbone ({', '.join(BACKBONES)})"
    return None


def _build(*, model, info: dict, folder: Path, name: str | None,
           identity) -> TrainedStyleModel:
    labels = tuple(str(label) for label in info["labels"])
    outputs = int(model.output.shape[-1])
    if outputs != len(labels):
        raise ValueError(f"{folder / MODEL_FILE} has {outputs} outputs for {len(labels)} labels.")
    image_size = info.get("image_size") if info["backbone"] == VGG16_BACKBONE else None
    return TrainedStyleModel(
        name=name or ARTIFACT_BY_BACKBONE[info["backbone"]], backbone=info["backbone"],
        labels=labels, label_set=info.get("label_set") or detect_label_set(labels),
        keras_model=model, image_size=int(image_size) if image_size else None, info=info,
        folder=folder, identity=identity,
    )


KIND = ArtifactKind("style classifier", MODEL_FILE, INFO_FILE, _check_info, _build)
"""A trained style classifier, for `models.artifacts`."""


def read_info(folder: str | Path) -> dict:
    """The artifact's style.json.

    Raises:
        ValueError: it is missing, not JSON, or lacks the labels or the backbone.
    """
    return artifacts.read_info(folder, KIND)


def load_from_folder(folder: str | Path, name: str | None = None) -> TrainedStyleModel:
    """Load an artifact folder (style.keras + style.json) with `safe_mode=True`, uncached.

    Args:
        folder: the folder `python -m models.train style --out` wrote.
        name: the manifest name it is known by; default the backbone's artifact name.

    Raises:
        ValueError: style.json is missing or malformed.
        OSError, ValueError: style.keras cannot be read.
    """
    return artifacts.load_folder(folder, KIND, name)


def load_artifact(name: str) -> TrainedStyleModel:
    """The manifest artifact `name` (STYLE_VGG16 or STYLE_HEAD), through `models.artifacts`:
    loaded once per copy of its files, reloaded when they change.

    Raises:
        weights.WeightsUnavailable: the manifest names it but no copy is here.
        ValueError: the copy's style.json is missing or malformed.
    """
    return artifacts.load(name, KIND)


def trained_style_model() -> TrainedStyleModel | None:
    """The trained style classifier the manifest names and this machine has: `style_vgg16`
    first (the research's network, with CAM), else `style_head`, else None.

    Asked afresh on each call (weights pulled while the app runs are seen), loaded once per
    copy of the files and again when they change (`models.artifacts`), thread-safely; at most
    one trained style model is kept in memory.
    """
    for name in (STYLE_VGG16, STYLE_HEAD):
        model = artifacts.load_if_available(name, KIND)
        if model is not None:
            artifacts.forget(*(other for other in (STYLE_VGG16, STYLE_HEAD) if other != name))
            return model
    return None


def reset_default() -> None:
    """Forget the loaded models and their adapters (for tests)."""
    artifacts.forget(STYLE_VGG16, STYLE_HEAD)
    _adapters.clear()
