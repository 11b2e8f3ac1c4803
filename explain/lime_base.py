"""lime's image explainer, made to fit the samples drawn so far and to stop sampling early.

Shared by LIME over superpixels (`explain.lime_explainer`) and over a ViT's own patches
(`explain.patch_perturbation`): each draws its samples its own way, and both hand the samples
evaluated so far to `after_batch` (`explain.incremental` decides whether the map has settled).
"""

from __future__ import annotations

import numpy as np
from lime.lime_image import LimeImageExplainer


class StoppableLime(LimeImageExplainer):
    """A LimeImageExplainer whose `data_labels` (written by the subclass) calls `after_batch`
    after each batch, and which can fit any prefix of its samples as `explain_instance` fits
    all of them."""

    after_batch = None
    """When set, called as after_batch(data, labels) with the samples evaluated so far after
    each batch; True stops sampling there, and LIME fits those samples only."""

    def fit_weights(self, data: np.ndarray, labels: np.ndarray, n_features: int) -> np.ndarray:
        """Each segment's coefficient fitted to these samples, as explain_instance fits them
        (its distance to the unperturbed sample 0, its kernel, its ridge)."""
        from sklearn.metrics import pairwise_distances

        distances = pairwise_distances(data, data[0].reshape(1, -1), metric="cosine").ravel()
        _, local_exp, _, _ = self.base.explain_instance_with_data(
            data, labels, distances, 0, n_features, feature_selection="none")
        weights = np.zeros(n_features, np.float32)
        for feature, weight in local_exp:
            weights[feature] = weight
        return weights
