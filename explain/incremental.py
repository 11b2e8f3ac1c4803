"""Perturbation maps that improve as they go, and stop once they have settled.

LIME and SHAP spend their budget a batch of evaluations at a time. Given an `Incremental`, they
hand it their current estimate after each check (`check_every` evaluations), so a caller can
show the map long before the budget is spent, and, when asked to, they stop as soon as the
ranking of the regions no longer changes: the Spearman rank correlation of the region weights
between one check and the next is at least `settle_at` on `SETTLED_CHECKS` checks in a row.
They never use more than the budget, and the result's meta says how many evaluations it used.

The ranking is what a map is read for (which parts matter most) and what the faithfulness
pass perturbs in order, so it is what has to have settled; the weights' scale does not matter.
The correlation is taken over the regions in the top TOP_SHARE of either map: SHAP refines a
coarse map a block at a time, so over the whole map the many cells a step leaves alone keep the
correlation near 1 while the top block is still being split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from explain.image_ops import normalise_signed

SETTLE_AT = 0.95
"""Spearman correlation between the region weights of two checks at which the ranking counts
as settled. Chosen on the ten natural photos of `benchmarks.stand_ins.region_models` with a
model that reads only one disk (`python -m benchmarks.settling`, docs/explanations.md,
"Stopping early")."""

TOP_SHARE = 0.2
"""The correlation compares the regions in the top fifth of either map (see above)."""

SETTLED_CHECKS = 2
"""Checks in a row that must reach SETTLE_AT: one high correlation can be a lucky pair."""

CHECKS_PER_BUDGET = 10
"""A check every tenth of the budget (at least MIN_CHECK_EVERY evaluations, at most one model
batch): a partial map every 20 evaluations at the default budget of 200."""

MIN_CHECK_EVERY = 10


def check_every(budget: int, batch_size: int) -> int:
    """Evaluations between two checks for a run of `budget` evaluations on a model that takes
    `batch_size` images a call."""
    return max(1, min(max(MIN_CHECK_EVERY, budget // CHECKS_PER_BUDGET), batch_size, budget))


def settling_correlation(previous: np.ndarray, current: np.ndarray,
                         top: float = TOP_SHARE) -> float:
    """Spearman's correlation of two estimates' region weights, over the regions in the top
    `top` share of either (all of them when `top` is 1)."""
    previous, current = np.ravel(previous), np.ravel(current)
    if top < 1:
        leading = ((previous >= np.quantile(previous, 1 - top))
                   | (current >= np.quantile(current, 1 - top)))
        previous, current = previous[leading], current[leading]
    return rank_correlation(previous, current)


def rank_correlation(first: np.ndarray, second: np.ndarray) -> float:
    """Spearman's rank correlation of two weight vectors (ties take their mean rank); nan when
    either is constant (no ranking to compare)."""
    from scipy.stats import rankdata

    first = rankdata(np.ravel(first))
    second = rankdata(np.ravel(second))
    if first.std() == 0 or second.std() == 0:
        return float("nan")
    return float(np.corrcoef(first, second)[0, 1])


@dataclass(frozen=True)
class PartialMap:
    """A method's estimate after some of its evaluations.

    Attributes:
        heatmap: the map so far, as the method would return it (normalised, signed), at the
            size of the image the method was given.
        evaluations: model evaluations it rests on.
        budget: the most the method may use.
        correlation: Spearman correlation of its leading region weights with the previous
            check's (`settling_correlation`; nan at the first check).
    """

    heatmap: np.ndarray
    evaluations: int
    budget: int
    correlation: float


class Incremental:
    """What a perturbation method reports to as it goes, and whether it may stop early.

    Args:
        on_map: called with a PartialMap at every check (None: nobody watches).
        settle_at: stop once the region ranking's correlation between consecutive checks has
            reached this on `checks` checks in a row; None never stops early.
        checks: consecutive checks that must reach `settle_at`.
    """

    def __init__(self, on_map: Callable[[PartialMap], None] | None = None,
                 settle_at: float | None = None, checks: int = SETTLED_CHECKS):
        if settle_at is not None and not -1.0 <= float(settle_at) <= 1.0:
            raise ValueError(f"settle_at must be a correlation in [-1, 1], got {settle_at!r}.")
        if checks < 1:
            raise ValueError(f"checks must be at least 1, got {checks}.")
        self.on_map = on_map
        self.settle_at = None if settle_at is None else float(settle_at)
        self.checks = int(checks)
        self._previous: np.ndarray | None = None
        self._in_a_row = 0
        self.correlations: list[float] = []
        self.settled = False

    def check(self, weights: np.ndarray, heatmap: Callable[[], np.ndarray], evaluations: int,
              budget: int) -> bool:
        """Take the region weights after `evaluations`; True when the method should stop.

        `heatmap()` makes the map from them; it is called only when someone watches."""
        weights = np.asarray(weights, np.float64).ravel()
        correlation = (float("nan") if self._previous is None
                       else settling_correlation(self._previous, weights))
        self._previous = weights
        self.correlations.append(correlation)
        if self.on_map is not None:
            self.on_map(PartialMap(heatmap(), int(evaluations), int(budget), correlation))
        if self.settle_at is None or not correlation >= self.settle_at:  # nan never settles
            self._in_a_row = 0
            return False
        self._in_a_row += 1
        self.settled = self._in_a_row >= self.checks
        return self.settled


class OverBudget(Exception):
    """A check's Partition run would evaluate past the budget."""


def values_at_growing_budgets(cell_values: Callable[[int], np.ndarray],
                              incremental: Incremental, max_evals: int, every: int,
                              used: Callable[[], int],
                              view: Callable[[np.ndarray], np.ndarray] | None = None
                              ) -> np.ndarray:
    """Partition's cell values at growing budgets (`every` more evaluations each, even), each
    handed to `incremental` (`view` makes the map it shows from them; default: the values
    scaled into [-1, 1]), until it says stop or the budget is spent. SHAP's Partition is
    deterministic for a seed, and a larger budget asks for a superset of a smaller one's
    masks, so a `cell_values` that remembers what it scored spends the budget once."""
    view = view or normalise_signed
    values, limit = None, 0
    while limit < max_evals:
        limit = min(max_evals, limit + every + (limit + every) % 2)
        try:
            found = cell_values(limit)
        except OverBudget:  # only if Partition ever asked for masks outside the last run's
            break
        values = found
        if limit < max_evals and incremental.check(
                values, lambda found=found: view(found), used(), max_evals):
            break
    if values is None:
        raise ValueError(f"SHAP could not make a map within {max_evals} evaluations.")
    return values
