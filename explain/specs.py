"""What each method needs and costs, readable without importing the method or its library (so
a UI can list methods and their budgets without paying for `import shap`)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class MethodSpec:
    """One method's facts.

    Attributes:
        name: "gradcam", "cam", "lime" or "shap".
        path: "module:Class" implementing it.
        library: the third-party package it needs, if any.
        default_budget: model evaluations it uses when no budget is given. LIME and SHAP's were
            chosen with `python -m benchmarks.explain` to stay under 10 s on 2 cores.
        min_budget: the fewest evaluations that make sense.
        needs_gradients: it works only on a KerasModel.
        signed: its maps are signed (what raised and what lowered the score), not only how
            much each region mattered.
    """

    name: str
    path: str
    library: str | None
    default_budget: int
    min_budget: int
    needs_gradients: bool
    signed: bool = False

    @property
    def installed(self) -> bool:
        return self.library is None or importlib.util.find_spec(self.library) is not None


SPECS = {
    "gradcam": MethodSpec("gradcam", "explain.gradcam:GradCAM", None, 1, 1, True),
    "cam": MethodSpec("cam", "explain.cam:CAM", None, 1, 1, True),
    # Below about 10 samples a fit over dozens of segments is noise. 200 samples over the
    # default ~150 SLIC segments found a region as well as 300 did (docs/explanations.md),
    # in ~6 s on CLIP.
    "lime": MethodSpec("lime", "explain.lime_explainer:LIMEExplainer", "lime", 200, 10, False,
                       signed=True),
    "shap": MethodSpec("shap", "explain.shap_explainer:SHAPExplainer", "shap", 200, 10, False,
                       signed=True),
}


def method_spec(method: str) -> MethodSpec:
    """The spec of `method`.

    Raises:
        ValueError: unknown method.
        ImportError: the library the method needs is not installed.
    """
    if method not in SPECS:
        raise ValueError(f"Unknown method {method!r}; choose one of: {', '.join(SPECS)}.")
    spec = SPECS[method]
    if not spec.installed:
        raise ImportError(f"{method} needs the {spec.library} package (pip install "
                          f"{spec.library}).")
    return spec
