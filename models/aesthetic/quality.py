"""Technical image quality: the project's small CNN and its inference.

The rating research's quality stage (Su et al.'s multi-task FR-IQA pre-training, as described in
``../shared/seeds/004``) distorts pristine photos (``models.aesthetic.distortions``), scores each
distorted copy against its original with several full-reference IQA metrics at once
(``models.aesthetic.fr_metrics``), and trains one CNN body with one head per metric. Objective
FR-IQA scores correlate well with human opinion, so a network that predicts them *without* the
reference learns a no-reference quality measure. This module is that network at the scale of a
2-core CPU, and its scoring:

- a small fully convolutional Keras network whose last convolution, ``quality_features``, feeds
  global average pooling and a four-unit sigmoid head, one unit per target of
  ``fr_metrics.TARGETS`` (``build_model``), so Grad-CAM works;
- ``quality_score(image)``: the mean predicted target over five crops of a resized copy.

The model is trained by ``python -m models.train quality`` and loads, lazily and once,
from ``weights.resolve("quality")`` with ``safe_mode=True``. It no longer scores the Aesthetic
tab's technical quality: on whole photos it never saw, it ranks noise and JPEG levels poorly,
and BRISQUE (``models.aesthetic.brisque``) ranks them well (``python -m models.evaluate quality
--whole-photos``). It stays as a candidate in that evaluation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from models.aesthetic.fr_metrics import TARGETS

__all__ = [
    "CROP", "MODEL_FILE", "SCORE_SIDE", "TARGETS", "WEIGHTS_NAME", "build_model",
    "crops_for_scoring", "get_model", "predict_targets", "preprocess", "quality_score",
    "reset_default", "resize_short_side", "scores_of",
]

WEIGHTS_NAME = "quality"
"""Artifact name in ``weights/manifest.toml``."""

MODEL_FILE = "quality.keras"

CROP = 128
"""Side of the square crops the network trains on and scores."""

SCORE_SIDE = 256
"""Photos are resized so their shorter side is this long before cropping, in training and in
scoring alike, so the network always sees defects at the same scale."""


# === Network ===


def build_model(width: int = 16, crop: int | None = None):
    """The quality CNN: five conv blocks, GAP and a sigmoid head, one unit per target.

    Small, after the research's shape (a CNN body, global average pooling, one output per
    FR-IQA metric) but without its ImageNet InceptionResNetV2 body, which neither trains nor
    ships in this project's budget. The input is 0..255 float RGB of any size (rescaled inside
    by a ``Rescaling`` layer, so the saved file needs no Lambda and loads with
    ``safe_mode=True``). The first convolution keeps full resolution: noise, JPEG blocking and
    fine blur live in the highest frequencies, which a strided first layer would alias away.

    Args:
        width: channels of the first block; later blocks use 1x, 2x, 2x, 3x, 4x.
        crop: a fixed input side, or None for any size (the shipped model).

    Returns:
        An uncompiled ``keras.Model`` named "quality" whose last convolution is
        ``quality_features``.
    """
    import keras
    from keras import layers

    inputs = keras.Input((crop, crop, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="rescale")(inputs)
    channels = (width, width * 2, width * 2, width * 3)
    for i, c in enumerate(channels, start=1):
        x = layers.Conv2D(c, 3, padding="same", use_bias=False, name=f"block{i}_conv")(x)
        x = layers.BatchNormalization(name=f"block{i}_bn")(x)
        x = layers.ReLU(name=f"block{i}_relu")(x)
        x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
    x = layers.Conv2D(width * 4, 3, padding="same", activation="relu",
                      name="quality_features")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(len(TARGETS), activation="sigmoid", name="targets")(x)
    return keras.Model(inputs, outputs, name="quality")


# === Scoring ===


def resize_short_side(image: np.ndarray, side: int = SCORE_SIDE) -> np.ndarray:
    """Resize (Pillow, area-aware) so the shorter side is ``side`` pixels; uint8 in and out."""
    from PIL import Image

    h, w = image.shape[:2]
    scale = side / min(h, w)
    size = (max(side, round(w * scale)), max(side, round(h * scale)))
    if size == (w, h):
        return np.asarray(image, np.uint8)
    return np.asarray(Image.fromarray(np.asarray(image, np.uint8)).resize(
        size, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC))


def crops_for_scoring(image: np.ndarray, crop: int = CROP) -> np.ndarray:
    """The centre and four corner crops of an already resized photo: uint8 (5, crop, crop, 3)."""
    h, w = image.shape[:2]
    corners = [(0, 0), (0, w - crop), (h - crop, 0), (h - crop, w - crop),
               ((h - crop) // 2, (w - crop) // 2)]
    return np.stack([image[top:top + crop, left:left + crop] for top, left in corners])


def preprocess(images):
    """KerasModel preprocess for Grad-CAM: a uint8 tf batch -> float32, shorter side 256.

    The model is fully convolutional, so it can see the whole photo at the scale it was
    trained at (``SCORE_SIDE``) and Grad-CAM covers all of it. Runs inside a tf.function.
    """
    import tensorflow as tf

    shape = tf.cast(tf.shape(images)[1:3], tf.float32)
    scale = SCORE_SIDE / tf.reduce_min(shape)
    size = tf.cast(tf.round(shape * scale), tf.int32)
    return tf.image.resize(tf.cast(images, tf.float32), size, antialias=True)


@dataclass(frozen=True)
class _Loaded:
    model: object
    predict: Callable


_default: _Loaded | None = None
_default_lock = threading.Lock()


def get_model():
    """The shipped quality model, loaded once (thread-safe) from ``weights.resolve("quality")``.

    Raises:
        weights.WeightsUnavailable: the model file is missing or fails its sha256 check.
    """
    return _get().model


def _get() -> _Loaded:
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                import tensorflow as tf

                from weights import load_keras

                model = load_keras(WEIGHTS_NAME, MODEL_FILE)
                # One traced function for the fixed (N, CROP, CROP, 3) batch: model.predict
                # builds a data pipeline per call, far slower for five crops.
                predict = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
                _default = _Loaded(model, predict)
    return _default


def reset_default() -> None:
    """Forget the loaded model (tests point INSTAVIS_WEIGHTS_DIR elsewhere and reload)."""
    global _default
    with _default_lock:
        _default = None


def predict_targets(crops: np.ndarray, model=None) -> np.ndarray:
    """Predicted targets (N, 4) for uint8 crops (N, h, w, 3), with the given or shipped model."""
    if model is None:
        return np.asarray(_get().predict(np.asarray(crops, np.float32)))
    return np.asarray(model(np.asarray(crops, np.float32), training=False))


def quality_score(image, model=None) -> float:
    """Technical quality of a photo in [0, 1], 1 = no visible distortion.

    The photo goes through ``load_image``, is resized so its shorter side is ``SCORE_SIDE``,
    and the network scores the centre and four corners (``CROP`` pixels a side), the usual
    multi-crop testing of no-reference IQA networks (e.g. Kang et al. 2014 average patch scores).
    The score is the mean over crops and over the predicted FR-IQA targets.

    Args:
        image: anything ``models.images.load_image`` accepts.
        model: a quality Keras model; default the shipped one.

    Returns:
        A float in [0, 1].
    """
    from models.images import load_image

    photo = resize_short_side(load_image(image))
    return float(predict_targets(crops_for_scoring(photo), model).mean())


def scores_of(crops: Sequence[np.ndarray] | np.ndarray, model=None,
              batch_size: int = 64) -> np.ndarray:
    """Mean predicted target of each crop, batched: float (N,)."""
    crops = np.asarray(crops)
    out = [predict_targets(crops[i:i + batch_size], model).mean(axis=1)
           for i in range(0, len(crops), batch_size)]
    return np.concatenate(out) if out else np.zeros(0)
