"""What a task hands the explanation panel: the photo to explain, the adapter each method runs on,
and what each method explains. Shared by the task packages; imports nothing heavy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ExplanationSetup:
    """How to explain one displayed number of one photo.

    Attributes:
        photo: the exact copy the displayed number was computed on (`models.images.judged_copy`);
            the adapters' `work_side` lets the explainers use it as it is, so the unperturbed
            photo scores exactly what the tab shows.
        models: method name -> adapter (a KerasModel or FunctionModel), or -> the one sentence
            saying why that method cannot explain this number here.
        method_targets: method name -> the output it explains instead of the displayed number,
            when it cannot explain that number itself (the output's name says what it is).
        note: a sentence on how to read the maps, for the panel to show.
    """

    photo: np.ndarray
    models: Mapping[str, Any]
    method_targets: Mapping[str, Any] = field(default_factory=dict)
    note: str | None = None
