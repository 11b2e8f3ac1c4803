"""The Siamese networks of the InstaModel research: same pose *and* same place?

InstaModel ("Identifying role models on Instagram") asks whether a later post copies an earlier
one: two photos count as similar when they show a similar pose in front of the same background.
It compares three ways of answering, all built on an ImageNet ResNet50 (He et al. 2016,
"Deep Residual Learning for Image Recognition"):

- the baseline: the 2048-long global-average-pooled (GAP) ResNet50 features of each photo,
  compared by cosine similarity and by Euclidean distance against a threshold
  (`gap_feature_extractor`, `cosine_similarity`, `euclidean_distance`, `fit_threshold`);
- Method 1, a Siamese network (Koch et al. 2015, "Siamese Neural Networks for One-Shot Image
  Recognition"): one ResNet50 shared by both photos, then fully connected layers with dropout
  and a sigmoid "same" output, trained with binary cross-entropy and SGD at a learning rate of
  1e-4, either with the backbone frozen ("last layer") or fine-tuned ("full");
- Method 2, the same network with a pose branch: a skeleton mask of each photo's top two people
  (the research drew OpenPose skeletons; see `models.pose.skeleton_mask`) goes through a small
  shared CNN whose features join the image features before the fully connected head.

Every layer here is a stock Keras or keras-hub layer, so a trained network saves as `.keras` and
loads back with `safe_mode=True` (no Lambda layer, nothing unpickled).

The ResNet50 comes from the Hub as `hf://timm/resnet50.a1_in1k`; keras-hub's timm converter
turns timm's `config.json` + `model.safetensors` into a `keras_hub.models.ResNetBackbone`.
`resnet50_backbone` also accepts a keras-hub preset folder (`config.json` + `model.weights.h5`,
as written by `save_to_preset`), which is how tests pass a tiny ResNet.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Only a default: a process that already chose the TensorFlow backend keeps it.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402 - the backend must be chosen before Keras is imported
import numpy as np  # noqa: E402

from models.backbones import (  # noqa: E402
    IMAGENET_MEAN,
    IMAGENET_STD,
    load_backbone,
)

__all__ = [
    "RESNET50_WEIGHTS",
    "ThresholdRule",
    "compile_siamese",
    "cosine_similarity",
    "euclidean_distance",
    "fit_threshold",
    "gap_feature_extractor",
    "load_siamese",
    "pose_feature_extractor",
    "resnet50_backbone",
    "siamese_network",
]

RESNET50_WEIGHTS = "resnet50"
"""Artifact name of the ImageNet ResNet50 in `weights/manifest.toml`."""

LEARNING_RATE = 1e-4  # the research's SGD learning rate
# The write-up gives no head widths, dropout rate or pose-CNN size; these are small choices
# that suit a few hundred training pairs.
DENSE_UNITS = (256, 64)
DROPOUT = 0.5
POSE_MASK_SIZE = 64
POSE_FILTERS = (16, 32, 64)

# === The backbone ===


def resnet50_backbone(folder: str | Path | None = None):
    """Load the ImageNet ResNet50 feature backbone through keras-hub.

    Args:
        folder: a backbone folder; None resolves the `resnet50` artifact with
            `weights.resolve` ($INSTAVIS_WEIGHTS_DIR/resnet50/, shipped, cached, then the Hub).
            Either format works: a timm checkpoint (`config.json` + `model.safetensors`, which
            keras-hub's timm converter maps onto a `ResNetBackbone`) or a keras-hub preset.

    Returns:
        A `keras_hub.models.ResNetBackbone` mapping (N, H, W, 3) normalised pixels to its last
        feature map (2048 channels for ResNet50). `normalisation_stats(folder)` gives the pixel
        statistics it expects.

    Raises:
        weights.WeightsUnavailable: no copy of the weights on this machine and none fetchable.
        ValueError: the folder is in no format keras-hub reads, or holds a non-ResNet backbone.
        ImportError: timm weights, and the safetensors package is missing.
    """
    return load_backbone(RESNET50_WEIGHTS, "ResNetBackbone", folder)


def _normalisation_layer(mean: Sequence[float], std: Sequence[float], name: str):
    """Map 0..255 RGB pixels to the backbone's normalised input with a stock, saveable layer."""
    return keras.layers.Normalization(
        mean=[255.0 * m for m in mean],
        variance=[(255.0 * s) ** 2 for s in std],
        name=name,
    )


def _set_backbone_training(backbone, train_backbone: bool) -> None:
    """Freeze the backbone ("last layer" training) or fine-tune it ("full" training).

    When fine-tuning, batch normalisation stays frozen: with the small batches that fit on a
    CPU (8 pairs, 16 images) batch statistics are too noisy to replace ImageNet's, the usual
    Keras transfer-learning practice. A frozen BatchNormalization layer in Keras 3 also runs in
    inference mode.
    """
    backbone.trainable = True
    if not train_backbone:
        backbone.trainable = False
        return
    for layer in _all_layers(backbone):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def _all_layers(model):
    """Every layer inside `model`, descending into nested models."""
    for layer in getattr(model, "layers", ()):
        yield layer
        yield from _all_layers(layer)


def gap_feature_extractor(backbone, input_size: int, *, mean: Sequence[float] = IMAGENET_MEAN,
                          std: Sequence[float] = IMAGENET_STD, name: str = "image_tower"):
    """One photo -> its global-average-pooled backbone features (the baseline's descriptor).

    The same sub-model is the image tower of the Siamese network, so both towers share one set
    of weights by construction.

    Args:
        backbone: a Keras model mapping (N, S, S, 3) normalised pixels to a feature map.
        input_size: side S of the square input.
        mean, std: the backbone's per-channel pixel statistics on a 0..1 scale
            (`normalisation_stats(folder)`; ImageNet's by default).
        name: the sub-model's name.

    Returns:
        A Keras model: (N, S, S, 3) float RGB in 0..255 -> (N, C) features.
    """
    image = keras.Input((input_size, input_size, 3), name="image")
    x = _normalisation_layer(mean, std, "normalise")(image)
    x = backbone(x)
    features = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(image, features, name=name)


def pose_feature_extractor(pose_size: int = POSE_MASK_SIZE, filters=POSE_FILTERS,
                           name: str = "pose_tower"):
    """The research's "small CNN" feature extractor for skeleton-mask images.

    Three 3 x 3 convolution + max-pool stages and global average pooling: the masks are thin
    lines on black, so a few filters suffice to tell limb directions apart.

    Args:
        pose_size: side of the square single-channel mask.
        filters: filters of each convolution stage.
        name: the sub-model's name.

    Returns:
        A Keras model: (N, P, P, 1) masks in 0..1 -> (N, filters[-1]) features.
    """
    mask = keras.Input((pose_size, pose_size, 1), name="skeleton")
    x = mask
    for stage, width in enumerate(filters):
        x = keras.layers.Conv2D(width, 3, padding="same", activation="relu",
                                name=f"pose_conv{stage + 1}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pose_pool{stage + 1}")(x)
    features = keras.layers.GlobalAveragePooling2D(name="pose_gap")(x)
    return keras.Model(mask, features, name=name)


def _pair_features(features_a, features_b, prefix: str):
    """Order-free features of a pair: |a - b| and a * b, concatenated.

    Both are symmetric in a and b, so the network's answer does not depend on which photo comes
    first. |a - b| is written as max(a - b, b - a) so that it needs only stock layers.
    """
    a_minus_b = keras.layers.Subtract(name=f"{prefix}_a_minus_b")([features_a, features_b])
    b_minus_a = keras.layers.Subtract(name=f"{prefix}_b_minus_a")([features_b, features_a])
    distance = keras.layers.Maximum(name=f"{prefix}_abs_difference")([a_minus_b, b_minus_a])
    product = keras.layers.Multiply(name=f"{prefix}_product")([features_a, features_b])
    return keras.layers.Concatenate(name=f"{prefix}_pair_features")([distance, product])


def siamese_network(backbone, input_size: int, pose_branch: bool,
                    dense_units: Sequence[int] = DENSE_UNITS, dropout: float = DROPOUT, *,
                    pose_size: int = POSE_MASK_SIZE, train_backbone: bool = False,
                    mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                    name: str | None = None):
    """The InstaModel Siamese network, with or without its pose branch.

    Method 1 of the research (after Koch et al. 2015): both photos go through ONE backbone
    (weights shared), each is pooled to a feature vector, the pair is described by |f_a - f_b|
    and f_a * f_b, and fully connected layers with dropout end in a sigmoid "same pose and same
    place" probability. Method 2 adds the skeleton masks of both photos, through a small shared
    CNN, whose pair features are concatenated with the image pair features before the head.

    Args:
        backbone: the feature backbone (e.g. `resnet50_backbone()`, or a tiny model in tests).
            Its `trainable` flag is set here (see `train_backbone`).
        input_size: side of the square photos (the research used 224).
        pose_branch: add the skeleton-mask inputs and the pose CNN.
        dense_units: widths of the hidden fully connected layers, each followed by dropout.
        dropout: dropout rate after each hidden layer (the research used dropout against
            overfitting; the rate is not given, 0.5 is Keras' customary choice).
        pose_size: side of the square skeleton masks.
        train_backbone: False trains the head only (the research's "Last Layer" rows); True
            fine-tunes the backbone too ("Full" rows), with batch normalisation kept frozen.
        mean, std: the backbone's pixel statistics (see `gap_feature_extractor`).
        name: the model's name; default "siamese" or "siamese_pose".

    Returns:
        An uncompiled Keras model. Inputs, by name: "image_a", "image_b" ((N, S, S, 3) float
        RGB in 0..255) and, with the pose branch, "pose_a", "pose_b" ((N, P, P, 1) in 0..1).
        Output "same": (N, 1) probability that the photos show the same pose in the same place.
    """
    _set_backbone_training(backbone, train_backbone)

    # === Inputs ===
    image_a = keras.Input((input_size, input_size, 3), name="image_a")
    image_b = keras.Input((input_size, input_size, 3), name="image_b")
    inputs = {"image_a": image_a, "image_b": image_b}

    # === Shared image tower ===
    image_tower = gap_feature_extractor(backbone, input_size, mean=mean, std=std)
    pair = _pair_features(image_tower(image_a), image_tower(image_b), "image")

    # === Shared pose tower ===
    if pose_branch:
        pose_a = keras.Input((pose_size, pose_size, 1), name="pose_a")
        pose_b = keras.Input((pose_size, pose_size, 1), name="pose_b")
        inputs.update(pose_a=pose_a, pose_b=pose_b)
        pose_tower = pose_feature_extractor(pose_size)
        pose_pair = _pair_features(pose_tower(pose_a), pose_tower(pose_b), "pose")
        pair = keras.layers.Concatenate(name="image_and_pose")([pair, pose_pair])

    # === Fully connected head ===
    x = pair
    for index, units in enumerate(dense_units):
        x = keras.layers.Dense(units, activation="relu", name=f"fc{index + 1}")(x)
        x = keras.layers.Dropout(dropout, name=f"dropout{index + 1}")(x)
    same = keras.layers.Dense(1, activation="sigmoid", name="same")(x)
    return keras.Model(inputs, same, name=name or ("siamese_pose" if pose_branch else "siamese"))


def compile_siamese(model, learning_rate: float = LEARNING_RATE, momentum: float = 0.0):
    """Compile as the research trained: binary cross-entropy, plain SGD at 1e-4, accuracy.

    Args:
        model: a `siamese_network`.
        learning_rate: SGD step size (the research: 0.0001).
        momentum: SGD momentum (the research names plain SGD: 0).

    Returns:
        The same model, compiled.
    """
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
    )
    return model


def load_siamese(path: str | Path):
    """Load a saved Siamese network with `safe_mode=True` (stock layers only, nothing unpickled).

    keras-hub is imported first because it registers `ResNetBackbone`, the nested backbone's
    class, with Keras' serialisation registry.
    """
    import keras_hub  # noqa: F401 - registers keras_hub>ResNetBackbone for deserialisation

    return keras.saving.load_model(Path(path), safe_mode=True)


# === The baseline: thresholds on GAP features ===


def cosine_similarity(features_a: np.ndarray, features_b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (N, D) feature arrays; an all-zero row scores 0."""
    a = np.asarray(features_a, np.float64)
    b = np.asarray(features_b, np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (np.sum(a * b, axis=1) / np.maximum(norms, 1e-12)).astype(np.float32)


def euclidean_distance(features_a: np.ndarray, features_b: np.ndarray) -> np.ndarray:
    """Row-wise Euclidean distance of two (N, D) feature arrays (raw features, as the research)."""
    a = np.asarray(features_a, np.float64)
    b = np.asarray(features_b, np.float64)
    return np.linalg.norm(a - b, axis=1).astype(np.float32)


@dataclass(frozen=True)
class ThresholdRule:
    """"Same" when a score passes a threshold: the research's baseline decision rule.

    Attributes:
        metric: what the score is, e.g. "cosine" or "euclidean".
        threshold: the cut.
        higher_means_same: True for a similarity (same when score >= threshold), False for a
            distance (same when score <= threshold).
        training_accuracy: accuracy of the rule on the pairs it was fitted on.
    """

    metric: str
    threshold: float
    higher_means_same: bool
    training_accuracy: float

    def predict(self, scores: np.ndarray) -> np.ndarray:
        """Boolean "same" decisions for an array of scores."""
        scores = np.asarray(scores, np.float64)
        if self.higher_means_same:
            return scores >= self.threshold
        return scores <= self.threshold

    def accuracy(self, scores: np.ndarray, labels: np.ndarray) -> float:
        """Fraction of pairs whose decision matches its label."""
        labels = np.asarray(labels).astype(bool)
        if labels.size == 0:
            return float("nan")
        return float(np.mean(self.predict(scores) == labels))


def fit_threshold(scores: np.ndarray, labels: np.ndarray, *, higher_means_same: bool,
                  metric: str) -> ThresholdRule:
    """The threshold that classifies the training pairs best.

    Every midpoint between consecutive distinct scores is a candidate, plus one cut below and
    one above them all (calling every pair "same" or every pair "different"). Among equally
    accurate cuts, the one in the widest gap between training scores wins: it has the largest
    margin, so it is the least likely to flip on a slightly different pair.

    Args:
        scores: one score per training pair.
        labels: one bool (or 0/1) per training pair, True for "same".
        higher_means_same: True for similarities, False for distances.
        metric: the score's name, kept on the rule.

    Returns:
        A ThresholdRule with its training accuracy.

    Raises:
        ValueError: no pairs, or scores and labels differ in length.
    """
    scores = np.asarray(scores, np.float64).ravel()
    labels = np.asarray(labels).astype(bool).ravel()
    if scores.size == 0 or scores.size != labels.size:
        raise ValueError(f"need one label per score, got {scores.size} scores and "
                         f"{labels.size} labels")
    distinct = np.unique(scores)
    candidates = np.concatenate([
        [distinct[0] - 1.0], (distinct[:-1] + distinct[1:]) / 2.0, [distinct[-1] + 1.0],
    ])
    if higher_means_same:
        decisions = scores[None, :] >= candidates[:, None]
    else:
        decisions = scores[None, :] <= candidates[:, None]
    accuracies = np.mean(decisions == labels[None, :], axis=1)
    # The two outer cuts decide nothing between pairs; a zero gap makes them lose every tie.
    gaps = np.concatenate([[0.0], np.diff(distinct), [0.0]])
    best = np.flatnonzero(accuracies == accuracies.max())
    chosen = best[np.argmax(gaps[best])]
    return ThresholdRule(metric, float(candidates[chosen]), higher_means_same,
                         float(accuracies[chosen]))
