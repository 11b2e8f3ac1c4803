"""A black-box model for the perturbation methods (LIME, SHAP)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from explain.model_base import ModelAdapter


class FunctionModel(ModelAdapter):
    """Wrap `fn(images uint8 N x H x W x 3) -> float N x K` for LIME and SHAP.

    The function sees only pixels; all preprocessing lives inside it (in models/), so explain/
    never learns a task's internals. Gradient methods (Grad-CAM, CAM) need a KerasModel instead.

    Args:
        fn: the black box. It must accept any image size the caller's images have.
        output_names: one name per output column; their count fixes K.
        batch_size: images per call to `fn`.
        work_side: longest side of the copy explain() perturbs (None: its default).
    """

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], output_names: Sequence[str],
                 batch_size: int = 64, work_side: int | None = None):
        if not callable(fn):
            raise ValueError("FunctionModel needs a callable fn(images) -> scores.")
        if not output_names:
            raise ValueError("FunctionModel needs output_names, one per output column.")
        super().__init__(output_names, batch_size, work_side)
        self.fn = fn

    @property
    def n_outputs(self) -> int:
        return len(self.output_names)

    def _predict_batch(self, images: np.ndarray) -> np.ndarray:
        return self.fn(images)
