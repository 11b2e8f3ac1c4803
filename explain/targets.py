"""What is explained: an output index, an output name, or a small callable over the outputs.

Separating *what* from *how* lets one Grad-CAM serve a style class, a tag, an aesthetic score and
a similarity to a reference alike.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Target:
    """A resolved target.

    Attributes:
        label: what to show for it (the output name, or the callable's name).
        index: the output index, or None for a callable.
        score: maps the model's outputs (N x K, a NumPy array or a tensor) to N scores.
    """

    label: Any
    index: int | None
    score: Callable[[Any], Any]


def resolve_target(target: Any, output_names: tuple[str, ...] | None, n_outputs: int) -> Target:
    """Turn a user's target into a Target, or raise one clear ValueError."""
    if callable(target):
        return Target(getattr(target, "__name__", "custom target"), None, target)
    if isinstance(target, str):
        if not output_names or target not in output_names:
            known = ", ".join(output_names) if output_names else "none (the model has no names)"
            raise ValueError(f"Unknown target {target!r}; output names: {known}.")
        index = output_names.index(target)
    elif isinstance(target, int) and not isinstance(target, bool):
        index = target
    else:
        raise ValueError(f"target must be an output index, name or callable, not {target!r}.")
    if not 0 <= index < n_outputs:
        raise ValueError(
            f"target {target!r} is out of range: the model has {n_outputs} output(s), "
            f"indices 0 to {n_outputs - 1}."
        )
    return Target(target, index, _column(index))


@functools.cache
def _column(index: int) -> Callable[[Any], Any]:
    """The score of one output column; one function per index, so compiled graphs are reused."""

    def score(outputs):
        return outputs[:, index]

    score.__name__ = f"output_{index}"
    # Lets a compiled gradient take the column as an argument (one graph for every column)
    # instead of a graph per function (explain.keras_model.KerasModel.gradients).
    score.output_index = index
    return score
