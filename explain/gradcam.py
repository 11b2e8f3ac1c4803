"""Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization")."""

from __future__ import annotations

import numpy as np

from explain.base_cam import BaseCAM


class GradCAM(BaseCAM):
    """Channel weights are the target's gradients averaged over the layer's grid.

    Works on any layer with a spatial output, and on ViT token layers through the patch grid.
    One forward and one backward pass.
    """

    name = "gradcam"

    def channel_weights(self, model, activations, gradients, target) -> np.ndarray:
        return gradients.mean(axis=(0, 1))
