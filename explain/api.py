"""`explain(method, model, image, ...) -> Explanation`: the one entry point of explain/."""

from __future__ import annotations

import importlib
import inspect
import numbers
import time
from collections.abc import Callable

import numpy as np

from explain.explanation import Explanation
from explain.image_ops import WORK_SIDE, check_image, place_map, resize_map, shrink_image
from explain.incremental import Incremental, PartialMap
from explain.method import Progress
from explain.metrics import DEFAULT_STEPS, BaselineCache, faithfulness_against
from explain.metrics import faithfulness as faithfulness_of
from explain.model_base import ModelAdapter
from explain.specs import SPECS, method_spec
from explain.targets import resolve_target

# name -> "module:Class"; imported on first use so `import explain` stays light.
METHODS = {name: spec.path for name, spec in SPECS.items()}


def method_class(method: str):
    """The class implementing `method`, or a ValueError naming the known ones."""
    module, _, name = method_spec(method).path.partition(":")
    return getattr(importlib.import_module(module), name)


def default_budget(method: str) -> int:
    """Model evaluations a method uses when no budget is given (imports nothing heavy)."""
    return method_spec(method).default_budget


def explain(method: str, model, image, target=0, seed: int = 0, budget: int | None = None,
            progress=None, faithfulness: bool = True, baselines: BaselineCache | None = None,
            on_map: Callable[[Explanation], None] | None = None, settle_at: float | None = None,
            **options) -> Explanation:
    """Explain one output of a model on one image.

    Args:
        method: "gradcam", "cam", "lime" or "shap".
        model: a KerasModel (every method) or a FunctionModel (lime, shap).
        image: uint8 H x W x 3.
        target: an output index, an output name, or a callable mapping outputs (N x K) to N
            scores.
        seed: the same seed gives the same map.
        budget: the most model evaluations the map may use (None: the method's default).
        progress: called with a fraction in [0, 1] as work advances (e.g. a gr.Progress).
        faithfulness: also compute deletion and insertion AUC against random maps (one more
            batched pass of `explain.metrics.faithfulness_evaluations()` = 81 evaluations).
        baselines: where the faithfulness pass finds, or leaves, the random maps' curves
            (`explain.metrics.BaselineCache`): every map of the same model, photo, target and
            seed then measures them once (51 of the 81 evaluations) and adds only its own
            curves (30). None: each call measures them itself. The numbers are the same.
        on_map: called with the map so far while a perturbation method (LIME, SHAP) runs,
            every `explain.incremental.check_every` evaluations: an Explanation with the
            image's size, no faithfulness, and meta "partial" True, "evaluations" (so far),
            "budget" and "rank_correlation" (its region ranking's Spearman correlation with
            the previous partial map's; nan for the first). Last comes the finished map, before
            its faithfulness pass (meta as the final result's so far, "partial" still True);
            for a gradient method that is the only call.
        settle_at: LIME and SHAP stop before the budget once their region ranking has
            settled: its Spearman correlation between consecutive partial maps reached this
            on `explain.incremental.SETTLED_CHECKS` checks in a row (`explain.incremental.
            SETTLE_AT` is the measured choice). None spends the whole budget. meta
            "evaluations" says what the map used, "stopped_early" whether it stopped.
        **options: method options (lime: segmentation, ...; shap: masker, ...).

    Returns:
        An Explanation whose heatmap has the image's height and width.

    Raises:
        ValueError: unknown method, a model or target the method cannot use, a bad budget.
    """
    explainer_class = method_class(method)
    if not isinstance(model, ModelAdapter):
        raise ValueError(f"model must be a KerasModel or FunctionModel, not "
                         f"{type(model).__name__}.")
    if explainer_class.needs_gradients and not model.supports_gradients:
        raise ValueError(f"{method} needs gradients: wrap the model in KerasModel, not "
                         f"{type(model).__name__}.")
    image = check_image(image)
    target_spec = resolve_target(target, model.output_names, model.n_outputs)
    if budget is not None:
        if isinstance(budget, float) and budget.is_integer():
            budget = int(budget)
        if (isinstance(budget, bool) or not isinstance(budget, numbers.Integral)
                or budget < explainer_class.min_budget):
            raise ValueError(f"budget for {method} must be a whole number of at least "
                             f"{explainer_class.min_budget} model evaluations, got {budget!r}.")
        budget = int(budget)
    report = Progress(progress)
    map_progress = report.slice(0.0, 0.8 if faithfulness else 1.0)

    work_image = shrink_image(image, model.work_side or WORK_SIDE)
    explainer = explainer_class(**options)
    start = time.perf_counter()
    # Gradient methods see the full image (the model resizes it once); perturbation methods work
    # on the smaller copy, since each of their samples is a model evaluation.
    given = image if explainer_class.needs_gradients else work_image
    method_options = {}
    if (on_map is not None or settle_at is not None) \
            and "incremental" in inspect.signature(explainer.__call__).parameters:
        method_options["incremental"] = incremental = Incremental(
            None if on_map is None else _partial_maps(on_map, method, target_spec, image.shape),
            settle_at=settle_at)
    else:
        incremental = None
    with model.counting() as evaluations:  # this run's own, whoever else uses the model
        result = explainer(model, given, target_spec, seed=seed, budget=budget,
                           progress=map_progress, **method_options)
    meta = {"evaluations": evaluations.value,
            "seconds": time.perf_counter() - start, **result.meta}
    if incremental is not None:
        meta["stopped_early"] = incremental.settled
    heatmap = result.heatmap
    if heatmap.shape != image.shape[:2]:
        heatmap = place_map(heatmap, image.shape[:2])
    if on_map is not None:  # the finished map, before its faithfulness pass
        on_map(Explanation(
            method=method, target=target_spec.label, target_index=target_spec.index,
            heatmap=np.clip(heatmap, -1.0 if result.signed else 0.0, 1.0),
            signed=result.signed, faithfulness=None,
            meta={**meta, "partial": True, "budget": budget or explainer_class.default_budget}))

    scores = None
    if faithfulness:
        start = time.perf_counter()
        faithfulness_report = report.slice(0.8, 1.0)
        work_map = resize_map(heatmap, work_image.shape[:2])
        with model.counting() as evaluations:
            if baselines is None:
                scores = faithfulness_of(model, work_image, work_map, target_spec, seed=seed,
                                         steps=DEFAULT_STEPS, progress=faithfulness_report)
            else:
                baseline, reused = baselines.baseline(
                    model, work_image, target_spec, seed=seed,
                    progress=faithfulness_report.slice(0.0, 0.6))
                scores = faithfulness_against(model, work_image, work_map, target_spec,
                                              baseline, seed=seed, steps=DEFAULT_STEPS,
                                              progress=faithfulness_report.slice(0.6, 1.0))
                # Honest counts: this map's pass counts what it ran; random maps measured for
                # an earlier map are named, not counted again.
                meta["random_maps_reused"] = reused
                meta["random_maps_evaluations"] = baseline.evaluations
        meta["faithfulness_evaluations"] = evaluations.value
        meta["faithfulness_seconds"] = time.perf_counter() - start
    report(1.0)
    return Explanation(
        method=method, target=target_spec.label, target_index=target_spec.index,
        heatmap=np.clip(heatmap, -1.0 if result.signed else 0.0, 1.0), signed=result.signed,
        faithfulness=scores, meta=meta,
    )


def _partial_maps(on_map: Callable[[Explanation], None], method: str, target_spec,
                  image_shape: tuple) -> Callable[[PartialMap], None]:
    """What an Incremental calls: each PartialMap as an Explanation of the whole image."""
    def hand_over(partial: PartialMap) -> None:
        heatmap = partial.heatmap
        if heatmap.shape != image_shape[:2]:
            heatmap = place_map(heatmap, image_shape[:2])
        on_map(Explanation(
            method=method, target=target_spec.label, target_index=target_spec.index,
            heatmap=np.clip(heatmap, -1.0, 1.0), signed=True, faithfulness=None,
            meta={"partial": True, "evaluations": partial.evaluations, "budget": partial.budget,
                  "rank_correlation": partial.correlation}))

    return hand_over


def warm_up() -> None:
    """Pay the perturbation methods' one-off costs now, on a tiny image and a trivial model:
    importing LIME, SHAP and their segmentation code, and numba compiling SHAP's partition
    code, which makes the first SHAP explanation of a process take several seconds longer
    (about 14 s on 2 busy cores). An app calls this in the background at start."""
    from explain.function_model import FunctionModel

    image = np.zeros((32, 32, 3), np.uint8)
    image[8:24, 8:24] = 200
    model = FunctionModel(lambda images: images.mean(axis=(1, 2, 3))[:, None] / 255, ["mean"])
    for method in ("lime", "shap"):
        explain(method, model, image, budget=method_class(method).min_budget,
                faithfulness=False)

