"""Trained style classifiers: the research's VGG16-GAP, or a softmax head on CLIP embeddings.

`python -m models.train style` writes an artifact folder: `style.keras` (MODEL_FILE) and
`style.json` (INFO_FILE: labels, label set, backbone, input size, the data split and the test
report; nothing pickled). Named in the manifest as `style_vgg16` (STYLE_VGG16) or `style_head`
(STYLE_HEAD) and found by `weights.locate`, it replaces the zero-shot classifier. The shipped
manifest names neither: no fashion dataset ships with InstaVis.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

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
    """

    name: str
    backbone: str
    labels: tuple[str, ...]
    label_set: str
    keras_model: Any
    image_size: int | None = None
    info: dict = field(default_factory=dict, compare=False, repr=False)
    folder: Path | None = None
    _adapter: list = field(default_factory=list, init=False, compare=False, repr=False)

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
        """An `explain.KerasModel` over exactly the displayed probabilities, built once.

        vgg16: the whole network with `cam_layer="style_features"` (the last convolution), so
        CAM (the research's map) and Grad-CAM both work. clip: CLIP's vision tower -> unit
        embedding -> this head, with `cam_layer` CLIP's patch-token layer (Grad-CAM; CAM needs
        a GAP -> Dense head). Output names are the labels either way.
        """
        with _adapter_lock:
            if not self._adapter:
                self._adapter.append(self._build_adapter())
            return self._adapter[0]

    def _build_adapter(self):
        from explain import KerasModel
        from models.images import JUDGED_SIDE

        if self.backbone == VGG16_BACKBONE:
            from models.style.networks import FEATURES_LAYER, resize_photos

            size = self.image_size
            return KerasModel(self.keras_model,
                              preprocess=lambda batch: resize_photos(batch, size),
                              cam_layer=FEATURES_LAYER, output_names=list(self.labels),
                              work_side=JUDGED_SIDE)
        import keras

        from models import clip as clip_module

        clip = clip_module.get_clip()
        # similarity_model puts the vision encoder's layers at the top level (Grad-CAM reads its
        # token layer by name) and ends in the unit-length embedding this head was trained on;
        # the reference it scores against is not used.
        tower = clip.similarity_model(np.eye(1, clip.embedding_dim, dtype=np.float32))
        probabilities = self.keras_model(tower.get_layer("unit_embedding").output)
        return KerasModel(keras.Model(tower.input, probabilities),
                          preprocess=clip.preprocess_graph, cam_layer=clip.gradcam_layer_name,
                          output_names=list(self.labels), input_box=clip.crop_box,
                          work_side=JUDGED_SIDE)


_BATCH = 32  # photos per model call
_adapter_lock = threading.Lock()


def read_info(folder: str | Path) -> dict:
    """The artifact's style.json.

    Raises:
        ValueError: it is missing, not JSON, or lacks the labels or the backbone.
    """
    path = Path(folder) / INFO_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is missing or not JSON ({error}).") from error
    if not isinstance(info.get("labels"), list) or info.get("backbone") not in BACKBONES:
        raise ValueError(f"{path} names no labels or no known backbone ({', '.join(BACKBONES)}).")
    return info


def load_from_folder(folder: str | Path, name: str | None = None) -> TrainedStyleModel:
    """Load an artifact folder (style.keras + style.json) with `safe_mode=True`.

    Args:
        folder: the folder `python -m models.train style --out` wrote.
        name: the manifest name it is known by; default the backbone's artifact name.

    Raises:
        ValueError: style.json is missing or malformed.
        OSError, ValueError: style.keras cannot be read.
    """
    import keras

    folder = Path(folder)
    info = read_info(folder)
    model = keras.saving.load_model(folder / MODEL_FILE, safe_mode=True)
    return _from_parts(name or ARTIFACT_BY_BACKBONE[info["backbone"]], model, info, folder)


def _from_parts(name: str, model, info: dict, folder: Path) -> TrainedStyleModel:
    labels = tuple(str(label) for label in info["labels"])
    outputs = int(model.output.shape[-1])
    if outputs != len(labels):
        raise ValueError(f"{folder / MODEL_FILE} has {outputs} outputs for {len(labels)} labels.")
    image_size = info.get("image_size") if info["backbone"] == VGG16_BACKBONE else None
    return TrainedStyleModel(
        name=name, backbone=info["backbone"], labels=labels,
        label_set=info.get("label_set") or detect_label_set(labels), keras_model=model,
        image_size=int(image_size) if image_size else None, info=info, folder=folder,
    )


def load_artifact(name: str) -> TrainedStyleModel:
    """Load the manifest artifact `name` (STYLE_VGG16 or STYLE_HEAD) through `weights`.

    Raises:
        weights.WeightsUnavailable: the manifest names it but no copy is here.
        ValueError: the copy's style.json is missing or malformed.
    """
    import weights

    folder = weights.resolve(name)
    info = read_info(folder)
    model = weights.load_keras(name, MODEL_FILE)
    return _from_parts(name, model, info, folder)


_loaded: dict[str, TrainedStyleModel] = {}
_loaded_lock = threading.Lock()


def trained_style_model() -> TrainedStyleModel | None:
    """The trained style classifier the manifest names and this machine has: `style_vgg16`
    first (the research's network, with CAM), else `style_head`, else None.

    Asked afresh on each call (weights pulled while the app runs are seen), and loaded once per
    location, thread-safely.
    """
    import weights

    for name in (STYLE_VGG16, STYLE_HEAD):
        if not weights.available(name):
            continue
        key = f"{name}:{weights.locate(name).path}"
        with _loaded_lock:
            if key not in _loaded:
                _loaded.clear()  # at most one trained model in memory
                _loaded[key] = load_artifact(name)
            return _loaded[key]
    return None


def reset_default() -> None:
    """Forget the loaded model and its adapters (for tests, and after retraining in place)."""
    with _loaded_lock:
        _loaded.clear()
