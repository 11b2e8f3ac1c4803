"""The one result every explainer returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Faithfulness:
    """How faithful a map is to the model, against random maps of the same image.

    Deletion removes the most important pixels first and tracks the target score: a faithful map
    makes it fall fast, so *lower* deletion AUC is better. Insertion adds them to a blurred canvas
    first: a faithful map makes the score rise fast, so *higher* insertion AUC is better
    (Petsiuk et al. 2018, "RISE"). Raw AUCs are in the model's own score units, averaged over the
    fraction of pixels changed (the area under the curve on [0, 1]).

    The map is compared with `random_maps` random maps (coarse random blocks, seeded), whose
    curves take `random_steps` steps to keep the pass cheap. Fewer points change an AUC (a curve
    that drops within the first step reads higher), so the verdict reads the map's own curves
    at those same points (`compared_deletion_auc`, `compared_insertion_auc`): both sides are
    measured alike.

    Normalised AUCs put every curve on the scale its own end points span, so two targets (or
    models) can be compared: the deletion curve is (score - score of the all-black image) /
    (score of the photo - score of the all-black image), the insertion curve is (score - score
    of the blurred photo) / (score of the photo - score of the blurred photo). Both run from 1
    (the photo) to 0 (fully deleted or fully blurred) at their ends; in between they can leave
    [0, 1] when the score is not monotone. An affine change of the score (a * score + b, a != 0)
    leaves them unchanged. They are None when the two end scores are equal (no range to divide
    by). Every curve shares the same end points, so on the normalised scale the comparison with
    the random maps comes out as on the raw one whenever the photo scores above the fully
    perturbed image.

    Attributes:
        deletion_auc: AUC of the map's deletion curve (all `steps` steps).
        insertion_auc: AUC of the map's insertion curve.
        random_deletion_auc: mean deletion AUC over the random maps.
        random_insertion_auc: mean insertion AUC over the random maps.
        steps: how many equal steps the map's curves take.
        deletion_curve: target score after each deletion step (steps + 1 values; the first is
            the photo's score, the last the all-black image's).
        insertion_curve: target score after each insertion step (the first is the blurred
            photo's score, the last the photo's).
        random_deletion_spread: standard deviation of the random maps' deletion AUCs (the
            sample one, dividing by random_maps - 1).
        random_insertion_spread: the same for insertion.
        random_maps: how many random maps were measured.
        random_steps: how many equal steps each random map's curves take (divides `steps`).
        compared_deletion_auc: AUC of the map's deletion curve read every
            steps / random_steps points, on the random maps' grid: what the verdict compares.
        compared_insertion_auc: the same for insertion.
    """

    deletion_auc: float
    insertion_auc: float
    random_deletion_auc: float
    random_insertion_auc: float
    steps: int
    deletion_curve: tuple[float, ...]
    insertion_curve: tuple[float, ...]
    random_deletion_spread: float
    random_insertion_spread: float
    random_maps: int
    random_steps: int
    compared_deletion_auc: float
    compared_insertion_auc: float

    @property
    def beats_random(self) -> bool:
        """True when the map beats the random maps by more than their spread on both curves:
        deletion below their mean minus one standard deviation, insertion above their mean plus
        one."""
        return (self.compared_deletion_auc
                < self.random_deletion_auc - self.random_deletion_spread
                and self.compared_insertion_auc
                > self.random_insertion_auc + self.random_insertion_spread)

    @property
    def verdict(self) -> str:
        """ "faithful" or "no better than chance", for a UI to show as it is."""
        return "faithful" if self.beats_random else "no better than chance"

    # === Normalised AUCs: 1 is the photo's score, 0 the fully deleted or blurred image's ===

    def normalise_deletion(self, value: float) -> float | None:
        """A deletion AUC (or a score) on the normalised scale: (value - score of the all-black
        image) / (score of the photo - score of the all-black image); None for a zero range."""
        return _on_scale(value, self.deletion_curve[0], self.deletion_curve[-1])

    def normalise_insertion(self, value: float) -> float | None:
        """An insertion AUC (or a score) on the normalised scale: (value - score of the blurred
        photo) / (score of the photo - score of the blurred photo); None for a zero range."""
        return _on_scale(value, self.insertion_curve[-1], self.insertion_curve[0])

    @property
    def deletion_auc_normalised(self) -> float | None:
        return self.normalise_deletion(self.deletion_auc)

    @property
    def insertion_auc_normalised(self) -> float | None:
        return self.normalise_insertion(self.insertion_auc)

    @property
    def random_deletion_auc_normalised(self) -> float | None:
        return self.normalise_deletion(self.random_deletion_auc)

    @property
    def random_insertion_auc_normalised(self) -> float | None:
        return self.normalise_insertion(self.random_insertion_auc)

    @property
    def random_deletion_spread_normalised(self) -> float | None:
        """The random maps' deletion spread on the normalised scale (a width: divided by the
        range's size, never negative)."""
        return _on_scale(self.random_deletion_spread, self.deletion_curve[0],
                         self.deletion_curve[-1], width=True)

    @property
    def random_insertion_spread_normalised(self) -> float | None:
        return _on_scale(self.random_insertion_spread, self.insertion_curve[-1],
                         self.insertion_curve[0], width=True)


def _on_scale(value: float, one: float, zero: float, width: bool = False) -> float | None:
    """`value` on the scale where the score `one` is 1 and `zero` is 0, or None when the two
    are equal. A `width` (a spread) is only divided by the range's size.

    Scores come from float32 models, so two end scores within a millionth of each other count
    as equal: dividing by a difference of a few rounding errors would only magnify noise.
    """
    span = one - zero
    if span == 0 or abs(span) <= 1e-6 * max(abs(one), abs(zero)):
        return None
    if width:
        return value / abs(span)
    return (value - zero) / span


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
        faithfulness: deletion and insertion AUC with their random-maps baselines, or None
            when `faithfulness=False` was asked.
        meta: read-only details: evaluations (model evaluations used by the map), seconds,
            segments (perturbation methods), layer (CAM methods), and the faithfulness pass's own
            evaluations and seconds. When the random maps' curves were shared (`explain(...,
            baselines=...)`), also random_maps_evaluations (what measuring them cost) and
            random_maps_reused (True: measured for an earlier map and not counted in this
            one's faithfulness_evaluations; False: measured and counted here).
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
