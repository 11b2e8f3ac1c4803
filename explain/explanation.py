"""The one result every explainer returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Faithfulness:
    """How faithful a map is to the model, against a random map of the same image.

    Deletion removes the most important pixels first and tracks the target score: a faithful map
    makes it fall fast, so *lower* deletion AUC is better. Insertion adds them to a blurred canvas
    first: a faithful map makes the score rise fast, so *higher* insertion AUC is better
    (Petsiuk et al. 2018, "RISE"). Scores are the model's raw target output, averaged over the
    fraction of pixels changed (the area under the curve on [0, 1]).

    Attributes:
        deletion_auc: AUC of the deletion curve for the map.
        insertion_auc: AUC of the insertion curve for the map.
        random_deletion_auc: the same for a random map (coarse random blocks, seeded).
        random_insertion_auc: the same for the random map.
        steps: how many equal steps each curve takes.
        deletion_curve: target score after each deletion step (steps + 1 values).
        insertion_curve: target score after each insertion step.
    """

    deletion_auc: float
    insertion_auc: float
    random_deletion_auc: float
    random_insertion_auc: float
    steps: int
    deletion_curve: tuple[float, ...] = ()
    insertion_curve: tuple[float, ...] = ()

    @property
    def beats_random(self) -> bool:
        """True when the map does better than chance on both curves."""
        return (self.deletion_auc < self.random_deletion_auc
                and self.insertion_auc > self.random_insertion_auc)


@dataclass(frozen=True)
class Explanation:
    """A heat map of what drove one output of a model on one image.

    Attributes:
        method: "gradcam", "cam", "lime" or "shap".
        target: the explained output, as given (an index, an output name, or a callable's name).
        target_index: the output index when the target is an index or a name, else None.
        heatmap: float32, H x W of the input image, read-only. Unsigned maps lie in [0, 1];
            signed maps in [-1, 1] (positive pushes the target up).
        signed: whether negative values carry meaning.
        faithfulness: deletion and insertion AUC with their random-map baselines, or None when
            `faithfulness=False` was asked.
        meta: read-only details: evaluations (model evaluations used by the map), seconds,
            segments (perturbation methods), layer (CAM methods), and the faithfulness pass's own
            evaluations and seconds.
    """

    method: str
    target: Any
    target_index: int | None
    heatmap: np.ndarray
    signed: bool
    faithfulness: Faithfulness | None
    meta: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self):
        heatmap = np.array(self.heatmap, dtype=np.float32, copy=True)
        if heatmap.ndim != 2:
            raise ValueError(f"heatmap must be H x W, got shape {heatmap.shape}")
        heatmap.flags.writeable = False
        object.__setattr__(self, "heatmap", heatmap)
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))
