"""CAM (Zhou et al. 2016, "Learning Deep Features for Discriminative Localization")."""

from __future__ import annotations

import numpy as np

from explain.base_cam import BaseCAM


class CAM(BaseCAM):
    """The last conv features weighted by the class's Dense weights after global average pooling.

    Defined only for conv -> GlobalAveragePooling2D -> Dense models (the style classifier's
    VGG16-GAP); any other model gets a ValueError pointing to gradcam. One forward pass, no
    gradients.
    """

    name = "cam"

    def feature_pass(self, model, image, target):
        if target.index is None:
            raise ValueError("CAM explains one output index or name, not a custom target.")
        model.gap_dense_head()  # refuses other heads, and points cam_layer at the pooled layer
        activations, _ = model.activations(image[None])
        return activations, None

    def channel_weights(self, model, activations, gradients, target) -> np.ndarray:
        kernel, _ = model.gap_dense_head()
        return kernel[:, target.index]
