"""The style classifiers' networks: the research's VGG16-GAP and a softmax head on CLIP embeddings.

evaranks (``../shared/seeds/002_*``) fine-tuned VGG16 (Simonyan and Zisserman, ICLR 2015) on
the FashionStyle14 classes (Takagi et al., "What Makes a Style", ICCVW 2017) and drew class
activation maps (Zhou et al., "Learning Deep Features for Discriminative Localization", CVPR
2016) by multiplying the last convolutional features with the predicted class's weights. That is
exactly CAM when the head is global average pooling followed by one Dense layer, so
`build_vgg16_gap` builds that head and nothing else after the convolutions. Like Zhou et al., it
reads the last convolution *before* VGG's final max pooling, which doubles the map's resolution
(14 x 14 at 224 pixels instead of 7 x 7).

`build_clip_head` is logistic regression over the classes on unit-length CLIP image embeddings,
the way `models.aesthetic.train_head` does it for one class.

Every layer is a stock Keras layer, so a trained network saves as `.keras` and loads back with
`safe_mode=True`. Keras is imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.backbones import IMAGENET_MEAN, IMAGENET_STD

IMAGE_SIZE = 224
"""VGG16's ImageNet input side; the default side photos are resized to."""

WEIGHT_DECAY = 1e-3
"""L2 penalty on the softmax weights (the head is logistic regression)."""

FEATURES_LAYER = "style_features"
"""The VGG16-GAP network's last convolutional feature map (N x h x w x C): CAM's and Grad-CAM's
`cam_layer`."""
POOL_LAYER = "style_pool"
CLASSES_LAYER = "style_classes"
NORMALISE_LAYER = "normalise"
INPUT_NAME = "image"
EMBEDDING_INPUT_NAME = "embedding"


def softmax_regression(dimension: int, num_classes: int, *, weight_decay: float = WEIGHT_DECAY,
                       input_name: str = EMBEDDING_INPUT_NAME, name: str = "style_head"):
    """Multinomial logistic regression as a Keras model: (N, dimension) -> (N, num_classes).

    One Dense layer with a softmax and an L2 penalty: calibrated probabilities, and too few
    parameters to overfit a small dataset the way a deeper head would.
    """
    import keras

    inputs = keras.Input((dimension,), name=input_name)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name=CLASSES_LAYER,
                                 kernel_regularizer=keras.regularizers.L2(weight_decay))(inputs)
    return keras.Model(inputs, outputs, name=name)


def build_clip_head(embedding_dim: int, num_classes: int, *,
                    weight_decay: float = WEIGHT_DECAY):
    """A style head on CLIP: unit-length image embeddings (N, D) -> class probabilities (N, K).

    Args:
        embedding_dim: D, the CLIP model's embedding width (`CLIPModel.embedding_dim`).
        num_classes: K.
        weight_decay: the L2 penalty on the weights.

    Returns:
        A keras.Model whose input is named "embedding" and whose Dense layer is "style_classes".
    """
    return softmax_regression(embedding_dim, num_classes, weight_decay=weight_decay)


def feature_layers(backbone) -> list:
    """The backbone's layers from its input up to and including its last Conv2D layer (VGG16's
    `block5_conv3`), in order. VGG is a plain chain of layers, which is what this expects."""
    import keras

    layers = [layer for layer in backbone.layers
              if not isinstance(layer, keras.layers.InputLayer)]
    convolutions = [i for i, layer in enumerate(layers)
                    if isinstance(layer, keras.layers.Conv2D)]
    if not convolutions:
        raise ValueError(f"The backbone {backbone.name!r} has no Conv2D layer.")
    return layers[:convolutions[-1] + 1]


def apply_layers(layers, x):
    """Call a chain of layers on `x`."""
    for layer in layers:
        x = layer(x)
    return x


def build_vgg16_gap(backbone, num_classes: int, *, image_size: int = IMAGE_SIZE,
                    mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                    weight_decay: float = WEIGHT_DECAY):
    """The research's style network: VGG16 convolutions -> GlobalAveragePooling2D -> Dense.

    Args:
        backbone: a chain of Keras layers from normalised pixels to feature maps, such as
            `keras_hub.models.VGGBackbone` (`models.backbones.load_backbone("vgg16",
            "VGGBackbone")`). Its layers up to its last Conv2D are used (shared, not copied);
            the max pooling after it is dropped, as in Zhou et al.'s VGG-GAP.
        num_classes: K, the number of styles.
        image_size: side S of the square input photos are resized to.
        mean, std: the backbone's per-channel pixel statistics on a 0..1 scale
            (`models.backbones.normalisation_stats(folder)`; ImageNet's by default, which is what
            timm's `vgg16.tv_in1k` states).
        weight_decay: L2 penalty on the Dense weights.

    Returns:
        A flat keras.Model: (N, S, S, 3) float RGB in 0..255 (input "image") -> (N, K) softmax
        probabilities. Its layers, in order: "normalise" (Normalization), the backbone's
        convolutions and poolings under their own names, "style_features" (an Identity on the
        last convolution's output, N x h x w x C), "style_pool" (GlobalAveragePooling2D) and
        "style_classes" (Dense with softmax). The CAM of class k is then
        sum_c style_features[..., c] * kernel[c, k], which is what `explain("cam", ...)`
        computes from this head.
    """
    import keras

    image = keras.Input((image_size, image_size, 3), name=INPUT_NAME)
    x = keras.layers.Normalization(mean=[255.0 * m for m in mean],
                                   variance=[(255.0 * s) ** 2 for s in std],
                                   name=NORMALISE_LAYER)(image)
    # The backbone's layers sit at the top level of this model (not as one nested model), so
    # the feature map is a tensor of this graph that CAM can read by name. The Identity gives
    # it a stable name, whatever the backbone calls its last convolution.
    x = apply_layers(feature_layers(backbone), x)
    x = keras.layers.Identity(name=FEATURES_LAYER)(x)
    x = keras.layers.GlobalAveragePooling2D(name=POOL_LAYER)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name=CLASSES_LAYER,
                                 kernel_regularizer=keras.regularizers.L2(weight_decay))(x)
    return keras.Model(image, outputs, name="style_vgg16_gap")


def network_feature_layers(network) -> list:
    """The convolution chain of a `build_vgg16_gap` network: the layers between "normalise"
    and "style_features"."""
    names = [layer.name for layer in network.layers]
    start, end = names.index(NORMALISE_LAYER), names.index(FEATURES_LAYER)
    return network.layers[start + 1:end]


def last_block_layers(layers) -> list:
    """Of a convolution chain, the layers after its last MaxPooling2D (all when there is
    none): VGG16's block 5."""
    import keras

    pools = [i for i, layer in enumerate(layers) if isinstance(layer, keras.layers.MaxPooling2D)]
    return list(layers[pools[-1] + 1:] if pools else layers)


def freeze_features(network, train_last_block: bool = False) -> None:
    """Freeze the convolutions of a `build_vgg16_gap` network, except, with `train_last_block`,
    those of the last block (after the last max pooling)."""
    chain = network_feature_layers(network)
    trainable = set(map(id, last_block_layers(chain))) if train_last_block else set()
    for layer in chain:
        layer.trainable = id(layer) in trainable


def resize_photos(images, image_size: int):
    """uint8 photos -> the network's square float input (N, S, S, 3), 0..255.

    Args:
        images: a uint8 tf.Tensor batch (N, H, W, 3) or a list of (H, W, 3) uint8 arrays of any
            sizes.
        image_size: S.

    The whole photo is squeezed to a square (bilinear, antialiased) rather than centre-cropped:
    an outfit runs from head to feet, and a crop would cut either off on a tall photo. It is the
    same resize `explain.KerasModel` applies by default, so an explanation sees the input the
    displayed probabilities came from.
    """
    import tensorflow as tf

    size = (image_size, image_size)
    if isinstance(images, tf.Tensor):
        return tf.image.resize(tf.cast(images, tf.float32), size, antialias=True)
    resized = [tf.image.resize(tf.cast(np.asarray(photo)[None], tf.float32), size,
                               antialias=True)[0] for photo in images]
    if not resized:
        return tf.zeros((0, *size, 3), tf.float32)
    return tf.stack(resized)
