"""Residual Attention Network-56, the network of "InstaVis Checker" (../shared/seeds/000), and
the trained "fits a good feed" model the Profile tab uses when the manifest names one.

**The network** (Wang et al., "Residual Attention Network for Image Classification", CVPR
2017, Table 2 and the authors' Attention-56 Caffe prototxt), built by `build_ran56`:

- The basic unit is He et al.'s pre-activation bottleneck ("Identity Mappings in Deep Residual
  Networks", ECCV 2016): BN-ReLU-conv1x1, BN-ReLU-conv3x3 (carrying the stride, when any),
  BN-ReLU-conv1x1 to `channels`, added to the input. Where the shape or the stride changes, the
  shortcut is a 1x1 convolution (with the stride) of the pre-activated input. Nothing follows
  the addition, so a unit whose residual is zero is the identity.
- At the ImageNet configuration (224 x 224, `width=64`): conv 7x7/2 (64), BN-ReLU, max pool
  3x3/2, a unit to 256 channels, attention stage 1 at 56 x 56, a unit to 512 (/2), stage 2 at
  28 x 28, a unit to 1024 (/2), stage 3 at 14 x 14, three units to 2048 (the first /2),
  BN-ReLU (the layer `FEATURES_LAYER`, 7 x 7 x 2048, which Grad-CAM reads), global average
  pooling (the paper's 7x7 average pool at 224), a dense softmax. One attention module per
  stage is Attention-56 (Attention-92 has 1, 2 and 3).
- An attention module (p = 1, t = 2, r = 1): a unit; then a trunk branch T of two units, and a
  soft mask branch from the same input. The mask goes bottom-up by max pooling (3x3/2), one
  unit after each pooling and a second unit at the bottom, and top-down by bilinear upsampling
  (Keras `Resizing`, half-pixel centres; Caffe's Interp aligns corners) to each higher
  resolution of the bottom-up path, where a skip connection (one unit over the bottom-up
  output of that resolution) is added and one unit follows. The last upsampling goes to the
  trunk's size, with nothing added (as in the prototxt). Then BN-ReLU-conv1x1,
  BN-ReLU-conv1x1 and a sigmoid give M in (0, 1), and the module outputs (1 + M) x T
  ("attention residual learning": the mask can only add to the trunk's features, never zero
  them out), followed by one more unit. Stage 1 pools three
  times (56 -> 28 -> 14 -> 7, two skips), stage 2 twice (one skip), stage 3 once (no skip),
  so every stage's mask bottom is 7 x 7 (`STAGE_POOLINGS`).
- Small configurations: `width` scales every channel count (64 is the paper's), and a stage
  pools at most ceil(log2(side)) times, i.e. until its map is 1 x 1 (`mask_poolings`). A 32 x
  32 input with `width=4` builds the same design with 3, 2 and 1 poolings at 8, 4 and 2 pixels
  and 125,870 parameters, for tests; a stage whose map is already 1 x 1 (inputs under 32) has
  no pooling, and its mask is computed at that single position.

At the ImageNet configuration the model has 31,883,432 parameters (31,810,728 trainable, the
rest BatchNormalization's moving statistics), within 0.1% of the paper's 31.9 M; a test checks
it.

**The trained model.** `python -m models.train profile --data DIR` (`models.profile.train`)
trains it good versus weak and writes `ran56.keras` and `ran56.json`. Named in the manifest as
`profile_ran56` and found by `weights`, `trained_ran56()` loads it; its probability of "good"
joins `check`'s report as each photo's "fits a good feed", and `explain_adapter()` gives
Grad-CAM on `FEATURES_LAYER`. The shipped manifest names none: no dataset of good and weak
feeds ships here.

Preprocessing (`resize_photos`, the same in training, prediction and explanations): the whole
photo, uint8, is squeezed to the model's square input with TensorFlow's antialiased bilinear
resize, as float 0..255; the network rescales it to 0..1 itself. It is exactly what
`explain.KerasModel` does by default, so an explanation explains the displayed probability.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models import artifacts
from models.artifacts import ArtifactKind, BoundedCache, identity_key

PROFILE_RAN56 = "profile_ran56"
"""Manifest name of a trained good-versus-weak RAN-56."""
MODEL_FILE = "ran56.keras"
INFO_FILE = "ran56.json"
LABELS = ("weak", "good")
"""Output order: the probability of "good" is output 1."""
GOOD = LABELS.index("good")
FEATURES_LAYER = "ran_features"
"""The last feature map before pooling (BN-ReLU of the last unit): Grad-CAM's layer."""
IMAGENET_WIDTH = 64
STAGE_POOLINGS = (3, 2, 1)
"""Max poolings down each stage's soft mask branch at the ImageNet configuration."""
STAGE_FACTORS = (4, 8, 16)
"""Channels of each attention stage, in multiples of `width` (256, 512, 1024 at 64)."""
_BATCH = 16  # photos per model call


# === The network ===


def _layers():
    import keras

    return keras.layers


BN_MOMENTUM = 0.9
"""Moving-average momentum of every BatchNormalization (PyTorch's 0.1 in Keras's terms):
Keras's 0.99 leaves the inference statistics near their initial values for hundreds of
steps, longer than a small good-versus-weak dataset trains."""


def _batch_norm(name: str):
    return _layers().BatchNormalization(momentum=BN_MOMENTUM, name=name)


def residual_unit(x, channels: int, stride: int = 1, name: str = "unit"):
    """He et al.'s pre-activation bottleneck unit, `channels` out, its bottleneck a quarter.

    Args:
        x: a (N, H, W, C) tensor.
        channels: output channels.
        stride: of the 3x3 convolution and of the projection shortcut.
        name: prefix of its layers; the output is the layer `<name>_add`.
    """
    layers = _layers()
    inside = max(1, channels // 4)
    pre = _batch_norm(f"{name}_pre_bn")(x)
    pre = layers.ReLU(name=f"{name}_pre_relu")(pre)
    if stride != 1 or x.shape[-1] != channels:
        shortcut = layers.Conv2D(channels, 1, strides=stride, use_bias=False,
                                 name=f"{name}_shortcut")(pre)
    else:
        shortcut = x
    y = layers.Conv2D(inside, 1, use_bias=False, name=f"{name}_reduce")(pre)
    y = layers.ReLU(name=f"{name}_relu1")(_batch_norm(f"{name}_bn1")(y))
    y = layers.Conv2D(inside, 3, strides=stride, padding="same", use_bias=False,
                      name=f"{name}_conv")(y)
    y = layers.ReLU(name=f"{name}_relu2")(_batch_norm(f"{name}_bn2")(y))
    y = layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_expand")(y)
    return layers.Add(name=f"{name}_add")([shortcut, y])


def _resize_to(x, like, name: str):
    """Bilinear upsampling of `x` to `like`'s height and width (static shapes)."""
    height, width = like.shape[1], like.shape[2]
    if x.shape[1] == height and x.shape[2] == width:
        return x
    return _layers().Resizing(height, width, interpolation="bilinear", name=name)(x)


def attention_module(x, channels: int, poolings: int, name: str = "attention"):
    """One attention module: a unit, (1 + M) x T, a unit (module docstring).

    Args:
        x: the stage's input, with `channels` channels.
        channels: channels of every unit in the module.
        poolings: max poolings down the mask branch; a skip connection at every resolution
            between the first pooling and the last (poolings - 1 of them).
        name: prefix of its layers. The trunk T is `<name>_trunk2_add`, the mask M
            `<name>_mask`, (1 + M) x T `<name>_attended`, the module's output `<name>_last_add`.
    """
    layers = _layers()
    x = residual_unit(x, channels, name=f"{name}_first")
    # === Trunk branch: t = 2 units ===
    trunk = residual_unit(x, channels, name=f"{name}_trunk1")
    trunk = residual_unit(trunk, channels, name=f"{name}_trunk2")
    # === Soft mask branch, bottom-up: pool, r = 1 unit; a second unit at the bottom ===
    mask, bottom_up = x, []
    for level in range(1, poolings + 1):
        mask = layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_pool{level}")(mask)
        mask = residual_unit(mask, channels, name=f"{name}_down{level}")
        bottom_up.append(mask)
    if poolings:
        mask = residual_unit(mask, channels, name=f"{name}_bottom")
    # === Top-down: upsample, add the skip unit of the same resolution, one unit ===
    for level in range(poolings - 1, 0, -1):
        skip = residual_unit(bottom_up[level - 1], channels, name=f"{name}_skip{level}")
        mask = _resize_to(mask, skip, f"{name}_up{level + 1}")
        mask = layers.Add(name=f"{name}_join{level}")([mask, skip])
        mask = residual_unit(mask, channels, name=f"{name}_up_unit{level}")
    mask = _resize_to(mask, trunk, f"{name}_up1")
    for step in (1, 2):
        mask = _batch_norm(f"{name}_mask_bn{step}")(mask)
        mask = layers.ReLU(name=f"{name}_mask_relu{step}")(mask)
        mask = layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_mask_conv{step}")(mask)
    mask = layers.Activation("sigmoid", name=f"{name}_mask")(mask)
    # === Attention residual learning: (1 + M) x T = T + M x T ===
    attended = layers.Add(name=f"{name}_attended")(
        [trunk, layers.Multiply(name=f"{name}_mask_times_trunk")([mask, trunk])])
    return residual_unit(attended, channels, name=f"{name}_last")


def mask_poolings(side: int, paper: int) -> int:
    """Poolings of a stage whose map is `side` pixels: the paper's count, but no more than
    ceil(log2(side)), which takes the map to 1 x 1 ("same"-padded 3x3/2 pooling halves a side,
    rounding up)."""
    return min(paper, math.ceil(math.log2(side))) if side > 1 else 0


def build_ran56(input_shape=(224, 224, 3), classes: int = 1000, *, width: int = IMAGENET_WIDTH,
                dropout: float = 0.0):
    """Residual Attention Network-56 (Wang et al. 2017; module docstring).

    Args:
        input_shape: (height, width, 3); photos as float 0..255 (rescaled inside).
        classes: softmax outputs.
        width: the first convolution's channels (64 in the paper); the stages use 4x, 8x, 16x
            and 32x this.
        dropout: rate before the dense layer (the paper has none; a small dataset may want
            some).

    Returns:
        A keras.Model named "ran56": (N, H, W, 3) -> (N, classes) probabilities. Its layers
        `attention{1,2,3}_mask` are the soft masks and `FEATURES_LAYER` the last feature map.
    """
    import keras

    layers = _layers()
    inputs = keras.Input(shape=tuple(input_shape), name="photo")
    x = layers.Rescaling(1 / 255.0, name="scale")(inputs)
    # === Stem: conv 7x7/2, BN-ReLU, max pool 3x3/2 ===
    x = layers.Conv2D(width, 7, strides=2, padding="same", use_bias=False, name="conv1")(x)
    x = layers.ReLU(name="conv1_relu")(_batch_norm("conv1_bn")(x))
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    # === Three attention stages, each after a unit that sets its width (and halves the map) ===
    for stage, (paper, factor) in enumerate(zip(STAGE_POOLINGS, STAGE_FACTORS, strict=True),
                                            start=1):
        channels = width * factor
        x = residual_unit(x, channels, stride=1 if stage == 1 else 2, name=f"stage{stage}_in")
        side = min(int(x.shape[1]), int(x.shape[2]))
        x = attention_module(x, channels, mask_poolings(side, paper), name=f"attention{stage}")
    # === Three units to 32x width, the first /2; BN-ReLU; pool; classifier ===
    for index in range(1, 4):
        x = residual_unit(x, width * 32, stride=2 if index == 1 else 1, name=f"stage4_{index}")
    x = _batch_norm("final_bn")(x)
    x = layers.ReLU(name=FEATURES_LAYER)(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(classes, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name="ran56")


# === The trained "fits a good feed" model ===


def resize_photos(images, side: int) -> np.ndarray:
    """uint8 H x W x 3 photos of any sizes -> float32 (N, side, side, 3), 0..255.

    The whole photo is squeezed to the square (TensorFlow's bilinear resize, antialiased), not
    cropped: a feed's photo is judged as a whole. It is `explain.KerasModel`'s default
    preprocessing, so Grad-CAM, LIME and SHAP see the input the probabilities came from.
    """
    import tensorflow as tf

    out = np.empty((len(images), side, side, 3), np.float32)
    for index, image in enumerate(images):
        batch = tf.cast(np.asarray(image)[None], tf.float32)
        out[index] = tf.image.resize(batch, (side, side), antialias=True)[0].numpy()
    return out


@dataclass(frozen=True)
class TrainedRAN56:
    """A trained good-versus-weak RAN-56 and what it was trained on.

    Attributes:
        keras_model: photos (N, S, S, 3) float 0..255 -> (N, 2) probabilities of weak, good.
        image_size: S.
        info: the artifact's ran56.json (split, test report, settings).
        identity: the `models.artifacts.ArtifactIdentity` of the files it was loaded from
            (None when built in memory); what its adapter is cached under.
    """

    keras_model: Any
    image_size: int
    info: dict = field(default_factory=dict, compare=False, repr=False)
    identity: Any = field(default=None, compare=False, repr=False)

    def probabilities(self, images) -> np.ndarray:
        """float32 (N, 2): the probabilities of weak and good for uint8 photos of any sizes."""
        images = list(images)
        if not images:
            return np.zeros((0, len(LABELS)), np.float32)
        return np.concatenate([
            np.asarray(self.keras_model(resize_photos(images[start:start + _BATCH],
                                                      self.image_size), training=False))
            for start in range(0, len(images), _BATCH)]).astype(np.float32)

    def fits_good_feed(self, images) -> np.ndarray:
        """float32 (N,): the probability that each uint8 photo fits a good feed."""
        return self.probabilities(images)[:, GOOD]

    def explain_adapter(self):
        """An `explain.KerasModel` over the same two probabilities (output names `LABELS`),
        Grad-CAM on `FEATURES_LAYER`, working on the judged copy; built once per model
        identity (a few are kept)."""
        return _adapters.get(identity_key(self), self._build_adapter)

    def _build_adapter(self):
        from explain import KerasModel
        from models.images import JUDGED_SIDE

        # The default preprocessing is resize_photos's (see its docstring).
        return KerasModel(self.keras_model, cam_layer=FEATURES_LAYER,
                          output_names=list(LABELS), work_side=JUDGED_SIDE)


_ADAPTERS_KEPT = 2
_adapters = BoundedCache(_ADAPTERS_KEPT)
"""Grad-CAM adapters, keyed by the model's identity."""


def save_artifact(model, folder: str | Path, info: dict) -> Path:
    """Write `model` as MODEL_FILE and `info` (with at least "image_size") as INFO_FILE.

    Returns:
        The folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / MODEL_FILE)
    (folder / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return folder


def _check_info(info: dict) -> str | None:
    if not isinstance(info.get("image_size"), int):
        return "names no image_size"
    return None


def _build(*, model, info: dict, folder: Path, name: str | None, identity) -> TrainedRAN56:
    outputs = int(model.output.shape[-1])
    if outputs != len(LABELS):
        raise ValueError(f"{folder / MODEL_FILE} has {outputs} outputs; a good-versus-weak "
                         "RAN-56 has 2.")
    return TrainedRAN56(model, int(info["image_size"]), info, identity)


KIND = ArtifactKind("RAN-56", MODEL_FILE, INFO_FILE, _check_info, _build)
"""A trained good-versus-weak RAN-56, for `models.artifacts`."""


def read_info(folder: str | Path) -> dict:
    """The artifact's ran56.json.

    Raises:
        ValueError: it is missing, not JSON, or names no image size.
    """
    return artifacts.read_info(folder, KIND)


def load_from_folder(folder: str | Path) -> TrainedRAN56:
    """Load an artifact folder (ran56.keras + ran56.json) with `safe_mode=True`, uncached.

    Raises:
        ValueError: ran56.json is missing or malformed, or the model is not two-way.
        OSError, ValueError: ran56.keras cannot be read.
    """
    return artifacts.load_folder(folder, KIND)


def trained_ran56() -> TrainedRAN56 | None:
    """The trained RAN-56 the manifest names as `profile_ran56` and this machine has, else
    None (the manifest names none, or no copy is here).

    Asked afresh on each call (weights pulled while the app runs are seen), loaded once per
    copy of the files and again when they change (`models.artifacts`), thread-safely.

    Raises:
        weights.WeightsUnavailable: the copy fails its recorded checksums.
        ValueError: the copy's ran56.json is missing or malformed.
    """
    return artifacts.load_if_available(PROFILE_RAN56, KIND)


def trained_fits_good_feed():
    """`TrainedRAN56.fits_good_feed` of the manifest's trained model, or None without one."""
    model = trained_ran56()
    return None if model is None else model.fits_good_feed


def reset_default() -> None:
    """Forget the loaded model and its adapter (for tests)."""
    artifacts.forget(PROFILE_RAN56)
    _adapters.clear()
