"""The model-parameter randomisation sanity check (Adebayo et al. 2018, "Sanity Checks for
Saliency Maps"): a map that survives re-drawing the model's weights does not explain the model.

It lives apart from explain.metrics because it calls `explain` itself, while `explain` calls the
metrics: one module holding both made explain.api and explain.metrics import each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explain.api import explain
from explain.explanation import Explanation
from explain.image_ops import resize_map
from explain.keras_model import KerasModel


@dataclass(frozen=True)
class SanityCheck:
    """The model-parameter randomisation test's result.

    Attributes:
        rank_correlation: Spearman correlation between the map before and after randomising the
            top layers (absolute values for signed maps). Near 1 means the map ignores the
            weights, which a faithful explainer must not do.
        randomised_layers: the layers whose weights were re-drawn, top first.
        original: the map on the trained model.
        randomised: the map on the randomised model.
    """

    rank_correlation: float
    randomised_layers: tuple[str, ...]
    original: Explanation
    randomised: Explanation


def randomised_copy(keras_model, top_layers: int | None, seed: int):
    """A clone of `keras_model` whose top `top_layers` weighted layers (all: None) are re-drawn.

    New weights are Gaussian with each tensor's own standard deviation (biases keep theirs), so
    activations keep their scale while what the weights encode is destroyed.
    """
    import keras

    rng = np.random.default_rng(seed)
    clone = keras.models.clone_model(keras_model)
    clone.set_weights(keras_model.get_weights())
    weighted = [layer for layer in clone.layers if layer.get_weights()]
    chosen = weighted[::-1][: top_layers if top_layers is not None else len(weighted)]
    for layer in chosen:
        fresh = []
        for tensor in layer.get_weights():
            std = float(tensor.std()) or 0.05
            fresh.append(rng.normal(0.0, std, tensor.shape).astype(tensor.dtype)
                         if tensor.ndim > 1 else tensor)
        layer.set_weights(fresh)
    return clone, tuple(layer.name for layer in chosen)


def rank_correlation(a: np.ndarray, b: np.ndarray, max_side: int = 64) -> float:
    """Spearman correlation of two maps (compared at most max_side pixels a side)."""
    from scipy.stats import spearmanr

    size = (min(a.shape[0], max_side), min(a.shape[1], max_side))
    a, b = resize_map(a, size).ravel(), resize_map(b, size).ravel()
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0  # a constant map ranks nothing
    return float(spearmanr(a, b).statistic)


def sanity_check(method: str, model, image: np.ndarray, target=0, *, top_layers: int | None = 1,
                 seed: int = 0, budget: int | None = None) -> SanityCheck:
    """Adebayo et al.'s cascading randomisation test for one method on one image.

    Args:
        method: any method `explain` knows.
        model: a KerasModel (its weights are what get randomised).
        image: uint8 H x W x 3.
        target: the explained output.
        top_layers: how many weighted layers to randomise, from the top (None: all).
        seed: seeds the new weights and the explainer.
        budget: passed to the explainer.
    """
    if not isinstance(model, KerasModel):
        raise ValueError("sanity_check randomises weights, so it needs a KerasModel.")
    original = explain(method, model, image, target, seed=seed, budget=budget, faithfulness=False)
    clone, names = randomised_copy(model.model, top_layers, seed)
    cam_layer = model.cam_layer.name if method in ("gradcam", "cam") else None
    twin = KerasModel(clone, preprocess=model.preprocess, cam_layer=cam_layer,
                      output_names=model.output_names, batch_size=model.batch_size,
                      input_box=model.input_box, work_side=model.work_side)
    randomised = explain(method, twin, image, target, seed=seed, budget=budget,
                         faithfulness=False)
    a, b = original.heatmap, randomised.heatmap
    if original.signed:
        a, b = np.abs(a), np.abs(b)
    return SanityCheck(rank_correlation(a, b), names, original, randomised)
