"""MultiGAP features for the "Image Rating using CNN" research: pooled stages plus EfficientNet.

The rating research feeds its classifier one long vector per photo, the concatenation of:

- MultiGAP features (Hii et al. 2017, "Multigap: Multi-pooled inception network with text
  augmentation for aesthetic prediction of photographs"): a global average pooling (GAP) of the
  output of several stages of a CNN, so that the vector describes the photo at several levels of
  abstraction (edges and colours early, objects late). The research pooled GoogLeNet's inception
  modules (16928 values);
- the final pooled features of an EfficientNet (Tan & Le 2019, "EfficientNet: Rethinking Model
  Scaling for Convolutional Neural Networks"), EfficientNet-B7's 2560 values in the research.

Here one ImageNet EfficientNet-B0 (`hf://timm/efficientnet_b0.ra_in1k`, converted by keras-hub's
timm converter into a `keras_hub.models.EfficientNetBackbone`) serves both parts: its
intermediate stages (keras-hub's `pyramid_outputs`: the feature map entering each downsampling
step) are pooled into the MultiGAP part, and its final feature map (1280 channels) is pooled
into the "CNN" part. B0 rather than B7 and a single network rather than GoogLeNet plus
EfficientNet: B7 has 64 M parameters and runs at 600 x 600, which a 2-core CPU cannot afford
for every photo; B0 has 5 M.

The two parts are kept apart by name (`FeatureLayout`) because the research reduced them with
separate PCAs (`models.aesthetic.rating_pipeline`).
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
    normalisation_stats,
)

__all__ = [
    "EFFICIENTNET_WEIGHTS",
    "FeatureLayout",
    "MultiGAPExtractor",
    "efficientnet_backbone",
    "multigap_extractor",
]

EFFICIENTNET_WEIGHTS = "efficientnet_b0"
"""Artifact name of the ImageNet EfficientNet-B0 in `weights/manifest.toml`."""

MULTIGAP_PART = "multigap"
CNN_PART = "cnn"


def efficientnet_backbone(folder: str | Path | None = None):
    """Load the ImageNet EfficientNet feature backbone through keras-hub.

    Args:
        folder: a backbone folder; None resolves the `efficientnet_b0` artifact with
            `weights.resolve` ($INSTAVIS_WEIGHTS_DIR/efficientnet_b0/, shipped, cached, then the
            Hub). A timm checkpoint (`config.json` + `model.safetensors`, converted by
            keras-hub's `convert_efficientnet` into an `EfficientNetBackbone`) or a keras-hub
            preset (`config.json` + `model.weights.h5`, how tests pass a tiny EfficientNet).

    Returns:
        A `keras_hub.models.EfficientNetBackbone` mapping (N, H, W, 3) normalised pixels to its
        final feature map, with `pyramid_outputs` naming its stage outputs.

    Raises:
        weights.WeightsUnavailable: no copy of the weights on this machine and none fetchable.
        ValueError: the folder is in no format keras-hub reads, or holds another architecture.
        ImportError: timm weights, and the safetensors package is missing.
    """
    return load_backbone(EFFICIENTNET_WEIGHTS, "EfficientNetBackbone", folder)


@dataclass(frozen=True)
class FeatureLayout:
    """Which columns of the feature vector come from which stage.

    Attributes:
        stages: (name, channels) of each pooled stage, in column order. The MultiGAP stages
            come first, the final EfficientNet stage ("cnn") last.
    """

    stages: tuple[tuple[str, int], ...]

    @property
    def size(self) -> int:
        """Length of the whole feature vector: the sum of the stages' channels."""
        return sum(channels for _, channels in self.stages)

    def part_slices(self) -> dict[str, slice]:
        """Columns of the two parts the research reduced separately: "multigap" and "cnn"."""
        multigap = sum(channels for name, channels in self.stages if name != CNN_PART)
        return {MULTIGAP_PART: slice(0, multigap), CNN_PART: slice(multigap, self.size)}


def _stage_outputs(backbone, layer_names: Sequence[str] | None) -> list[tuple[str, object]]:
    """(name, symbolic tensor) of every intermediate stage to pool.

    keras-hub's feature-pyramid backbones (EfficientNet, ResNet) list their stage outputs in
    `pyramid_outputs`, keyed P1, P2, ... from fine to coarse; the coarsest is the backbone's
    own output, which is the "cnn" part, so it is left out here. Other models name layers.
    """
    if layer_names:
        return [(name, backbone.get_layer(name).output) for name in layer_names]
    pyramid = dict(getattr(backbone, "pyramid_outputs", None) or {})
    if not pyramid:
        raise ValueError(
            f"{type(backbone).__name__} has no pyramid_outputs; name the stage layers to pool "
            "with layer_names=."
        )
    final = backbone.output
    levels = sorted(pyramid, key=lambda key: int(key.lstrip("P")))
    return [(level, pyramid[level]) for level in levels if pyramid[level] is not final]


class MultiGAPExtractor:
    """Photos -> MultiGAP stage features concatenated with the final pooled CNN features.

    Wraps one Keras functional model that shares the backbone's layers: normalisation, the
    backbone, one GlobalAveragePooling2D per stage and a Concatenate, so one forward pass gives
    every stage.

    Attributes:
        model: the Keras model, (N, S, S, 3) float RGB in 0..255 -> (N, layout.size).
        layout: which columns come from which stage.
        input_size: side S of the square input.
    """

    def __init__(self, model, layout: FeatureLayout, input_size: int):
        self.model = model
        self.layout = layout
        self.input_size = input_size

    def __call__(self, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """Features of a batch of photos already sized S x S.

        Args:
            images: uint8 or float (N, S, S, 3) RGB in 0..255.
            batch_size: photos a forward pass.

        Returns:
            float32 (N, layout.size).
        """
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or images.shape[1:] != (self.input_size, self.input_size, 3):
            raise ValueError(f"expected (N, {self.input_size}, {self.input_size}, 3) images, "
                             f"got {images.shape}")
        if len(images) == 0:
            return np.zeros((0, self.layout.size), np.float32)
        features = self.model.predict(images, batch_size=batch_size, verbose=0)
        return np.asarray(features, np.float32)


def multigap_extractor(backbone=None, input_size: int = 224, *,
                       layer_names: Sequence[str] | None = None,
                       mean: Sequence[float] | None = None,
                       std: Sequence[float] | None = None) -> MultiGAPExtractor:
    """Build the research's feature extractor: MultiGAP stages plus the final CNN features.

    Each stage is reduced by GAP alone. The MultiGAP paper adds a convolution before each GAP
    and trains it; the rating research used the pooled features as a fixed descriptor for PCA,
    the genetic algorithm and a separate classifier, so an untrained convolution would add
    nothing but noise.

    Args:
        backbone: a Keras functional backbone (a keras-hub `EfficientNetBackbone` or
            `ResNetBackbone`, or any model with named stage layers). None loads the ImageNet
            EfficientNet-B0 with `efficientnet_backbone()` and its pixel statistics.
        input_size: side of the square input (EfficientNet-B0's native 224).
        layer_names: stage layers to pool; default the backbone's `pyramid_outputs` minus the
            final one.
        mean, std: per-channel pixel statistics on a 0..1 scale; default those in the resolved
            weights' config.json (ImageNet's for an explicit backbone).

    Returns:
        A MultiGAPExtractor whose output size is the sum of the pooled stages' channels.

    Raises:
        weights.WeightsUnavailable: backbone None and no EfficientNet weights.
        ValueError: no stages to pool.
    """
    if backbone is None:
        import weights

        folder = weights.resolve(EFFICIENTNET_WEIGHTS)
        backbone = efficientnet_backbone(folder)
        folder_mean, folder_std = normalisation_stats(folder)
        mean = mean or folder_mean
        std = std or folder_std
    mean = tuple(mean or IMAGENET_MEAN)
    std = tuple(std or IMAGENET_STD)
    # Feature extraction only: inference-mode batch norm, no dropout.
    backbone.trainable = False

    stages = _stage_outputs(backbone, layer_names)
    stages.append((CNN_PART, backbone.output))
    # A sub-model from the backbone's input to every stage, then applied to our own input, so
    # the normalisation lives in the same saveable graph.
    stage_model = keras.Model(backbone.inputs, [tensor for _, tensor in stages],
                              name="multigap_stages")
    image = keras.Input((input_size, input_size, 3), name="image")
    normalised = keras.layers.Normalization(
        mean=[255.0 * m for m in mean], variance=[(255.0 * s) ** 2 for s in std],
        name="normalise",
    )(image)
    maps = stage_model(normalised)
    pooled = [keras.layers.GlobalAveragePooling2D(name=f"gap_{name}")(feature_map)
              for (name, _), feature_map in zip(stages, maps, strict=True)]
    features = keras.layers.Concatenate(name="multigap_features")(pooled)
    model = keras.Model(image, features, name="multigap")
    layout = FeatureLayout(tuple((name, int(tensor.shape[-1])) for name, tensor in stages))
    return MultiGAPExtractor(model, layout, input_size)
