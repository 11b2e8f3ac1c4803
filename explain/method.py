"""What a method hands back to `explain`, and the progress helper methods report through."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class MethodResult:
    """A method's raw map, before `explain` adds faithfulness and wraps it in an Explanation.

    Attributes:
        heatmap: float32 map with the size of the image the method was given, normalised
            ([0, 1] unsigned, [-1, 1] signed).
        signed: whether negative values carry meaning.
        meta: method details (segments, layer, ...).
    """

    heatmap: np.ndarray
    signed: bool
    meta: dict = field(default_factory=dict)


class Progress:
    """Maps a method's own 0..1 progress into a slice of the caller's, never going backwards."""

    def __init__(self, report: Callable[[float], None] | None, start: float = 0.0,
                 end: float = 1.0, _last: list[float] | None = None):
        self._report = report
        self._start = start
        self._end = end
        self._last = _last if _last is not None else [-1.0]  # shared with every slice

    def __call__(self, fraction: float) -> None:
        if self._report is None:
            return
        fraction = min(max(float(fraction), 0.0), 1.0)
        value = self._start + (self._end - self._start) * fraction
        if value > self._last[0]:
            self._last[0] = value
            self._report(value)

    def slice(self, start: float, end: float) -> Progress:
        """A Progress covering [start, end] of this one, sharing its high-water mark."""
        span = self._end - self._start
        return Progress(self._report, self._start + span * start, self._start + span * end,
                        self._last)
