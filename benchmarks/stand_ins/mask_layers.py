"""A Keras layer for the explainer tests: multiply features by a fixed spatial mask."""

from __future__ import annotations

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="instavis_stand_ins")
class FixedMask(keras.layers.Layer):
    """Multiplies N x h x w x C features by a constant h x w mask (no weights)."""

    def __init__(self, mask, **kwargs):
        super().__init__(**kwargs)
        self.mask = np.asarray(mask, np.float32)

    def call(self, features):
        return features * keras.ops.convert_to_tensor(self.mask[None, :, :, None])

    def get_config(self):
        return {**super().get_config(), "mask": self.mask.tolist()}


@keras.saving.register_keras_serializable(package="instavis_stand_ins")
class PrependClassToken(keras.layers.Layer):
    """Puts a zero "class token" in front of N x T x C tokens, as a ViT does."""

    def call(self, tokens):
        zeros = keras.ops.zeros_like(tokens[:, :1, :])
        return keras.ops.concatenate([zeros, tokens], axis=1)


@keras.saving.register_keras_serializable(package="instavis_stand_ins")
class TokenMask(keras.layers.Layer):
    """Zeroes the patch tokens (N x g*g x C) outside a g x g mask."""

    def __init__(self, mask, **kwargs):
        super().__init__(**kwargs)
        self.mask = np.asarray(mask, np.float32)

    def call(self, tokens):
        return tokens * keras.ops.convert_to_tensor(self.mask.reshape(1, -1, 1))

    def get_config(self):
        return {**super().get_config(), "mask": self.mask.tolist()}


@keras.saving.register_keras_serializable(package="instavis_stand_ins")
class DropClassToken(keras.layers.Layer):
    """N x (1 + T) x C tokens -> the T patch tokens."""

    def call(self, tokens):
        return tokens[:, 1:, :]
