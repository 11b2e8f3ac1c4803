"""The class-activation-map family: a map is a weighted sum of one layer's feature maps."""

from __future__ import annotations

import math

import numpy as np

from explain.image_ops import normalise_unsigned, place_map
from explain.method import MethodResult, Progress
from explain.targets import Target


def tokens_to_grid(activations: np.ndarray) -> np.ndarray:
    """ViT tokens (N x T x C) as a patch grid (N x g x g x C), dropping the class token.

    T = 1 + g * g (a class token first) or T = g * g (no class token).
    """
    n, tokens, channels = activations.shape
    for skip in (1, 0):
        side = math.isqrt(tokens - skip)
        if side > 0 and side * side == tokens - skip:
            return activations[:, skip:].reshape(n, side, side, channels)
    raise ValueError(
        f"Cannot lay {tokens} tokens on a square patch grid (expected g*g or 1 + g*g)."
    )


def as_grid(array: np.ndarray) -> np.ndarray:
    if array.ndim == 4:
        return array
    if array.ndim == 3:
        return tokens_to_grid(array)
    raise ValueError(f"The CAM layer's output must be N x h x w x C or N x T x C, "
                     f"got shape {array.shape}.")


class BaseCAM:
    """A CAM method: subclasses choose the channel weights, the rest is shared.

    The map is relu(sum_c w_c * A_c) over the layer's activations A, upsampled to the image (or
    to the part of it the model sees) and scaled so its maximum is 1.
    """

    name = "base"
    needs_gradients = True
    default_budget = 1
    min_budget = 1

    def channel_weights(self, model, activations, gradients, target: Target) -> np.ndarray:
        """Weights w_c, shape (C,), for one image's activations (h x w x C)."""
        raise NotImplementedError

    def feature_pass(self, model, image: np.ndarray, target: Target):
        """(activations, gradients or None) for one image; Grad-CAM needs the gradients."""
        activations, gradients, _ = model.gradients(image[None], target.score)
        return activations, gradients

    def raw_map(self, model, image: np.ndarray, target: Target) -> tuple[np.ndarray, dict]:
        """The un-normalised map on the layer's grid, and details for meta."""
        activations, gradients = self.feature_pass(model, image, target)
        acts = as_grid(activations)[0]
        grads = as_grid(gradients)[0] if gradients is not None else None
        weights = self.channel_weights(model, acts, grads, target)
        cam = np.tensordot(acts, weights, axes=([-1], [0]))
        return cam.astype(np.float32), {"layer": model.cam_layer_name, "grid": cam.shape}

    def __call__(self, model, image: np.ndarray, target: Target, *, seed: int = 0,
                 budget: int | None = None, progress: Progress | None = None) -> MethodResult:
        progress = progress or Progress(None)
        progress(0.0)
        cam, meta = self.raw_map(model, image, target)
        height, width = image.shape[:2]
        box = model.input_box(height, width) if model.input_box else None
        heatmap = place_map(normalise_unsigned(cam), (height, width), box)
        progress(1.0)
        return MethodResult(normalise_unsigned(heatmap), signed=False, meta=meta)
