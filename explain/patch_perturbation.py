"""LIME and SHAP in the model's own units: the patches a ViT reads, hidden by leaving them out
of its token sequence (`explain.patch_model.PatchModel`) instead of painting pixels over.

Why: a ViT-B/32 at 224 pixels sees 7 x 7 patches. Superpixels that cut across patches, hidden
in black, ask the model about photos with black holes it never saw in training; a patch left
out of the sequence is simply not there. The model then reads fewer tokens, so each evaluation
costs less (about half the tokens on average, and attention's share shrinks faster), and 49
features need fewer samples than ~150 segments for the same fit. The map is one value per
patch, drawn as cells over the part of the photo the model sees (zero elsewhere).
"""

from __future__ import annotations

import numpy as np

from explain.image_ops import normalise_signed
from explain.incremental import Incremental, OverBudget, check_every, values_at_growing_budgets
from explain.lime_base import StoppableLime
from explain.method import MethodResult, Progress
from explain.targets import Target

PERTURB_MODES = ("patches", "pixels")


def uses_patches(model, perturb: str | None) -> bool:
    """Whether LIME or SHAP works on patches: `perturb` "patches", or None (the default) with a
    model that can leave patches out (a PatchModel); "pixels" keeps the superpixels or grid.

    Raises:
        ValueError: an unknown mode, or "patches" for a model that cannot leave patches out.
    """
    from explain.patch_model import PatchModel

    if perturb not in (None, *PERTURB_MODES):
        raise ValueError(f"Unknown perturb {perturb!r}; choose one of: "
                         f"{', '.join(PERTURB_MODES)}.")
    can = isinstance(model, PatchModel)
    if perturb == "patches" and not can:
        raise ValueError("perturb='patches' needs a model that can leave patches out of its "
                         f"input (explain.patch_model.PatchModel), not {type(model).__name__}.")
    return can and perturb != "pixels"


def _cells_map(model, image: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """A signed H x W map: each patch's weight over its cell, 0 where the model does not look."""
    labels = model.patch_labels(*image.shape[:2])
    values = np.append(np.asarray(weights, np.float32), np.float32(0))  # index -1: outside
    return normalise_signed(values[labels])


class _PatchLime(StoppableLime):
    """lime's image explainer whose samples are keep-rows over patches, scored by the model
    directly: the same random on/off matrix lime draws (sample 0 keeps everything), the same
    cosine distances, kernel and ridge fit; `after_batch` may stop the sampling early, as for
    superpixels."""

    score_rows = None  # keep rows (N x patches, bool) -> N scores; set per call

    def data_labels(self, image, fudged_image, segments, classifier_fn, num_samples,
                    batch_size=10):
        n_features = np.unique(segments).shape[0]
        data = self.random_state.randint(0, 2, num_samples * n_features).reshape(
            (num_samples, n_features))
        data[0, :] = 1
        labels = []
        for start in range(0, num_samples, batch_size):
            labels.append(self.score_rows(data[start : start + batch_size].astype(bool)))
            done = min(num_samples, start + batch_size)
            if self.after_batch is not None and done < num_samples \
                    and self.after_batch(data[:done], np.concatenate(labels)):
                return data[:done], np.concatenate(labels)
        return data, np.concatenate(labels)


def lime_over_patches(model, image: np.ndarray, target: Target, *, seed: int,
                      num_samples: int, progress: Progress,
                      incremental: Incremental | None = None) -> MethodResult:
    """LIME with the PatchModel's patches as features (see the module doc). Given an
    `incremental`, the samples so far are fitted every `check_every` evaluations and handed to
    it, and it may stop the sampling there."""
    rows, cols = model.grid
    done = 0

    def score_rows(keep: np.ndarray) -> np.ndarray:
        nonlocal done
        scores = np.asarray(target.score(model.predict_kept(image, keep)), np.float64)
        done += len(keep)
        progress(done / num_samples)
        return scores.reshape(-1, 1)

    explainer = _PatchLime(feature_selection="none", random_state=seed)
    explainer.score_rows = score_rows
    batch_size = model.batch_size
    if incremental is not None:
        batch_size = check_every(num_samples, model.batch_size)

        def after_batch(data, labels):
            weights = explainer.fit_weights(data, labels, rows * cols)
            return incremental.check(weights, lambda: _cells_map(model, image, weights),
                                     len(data), num_samples)

        explainer.after_batch = after_batch
    # lime only needs an "image" whose segments are the patches: the grid itself stands in.
    grid_labels = np.arange(rows * cols).reshape(rows, cols)
    explanation = explainer.explain_instance(
        np.zeros((rows, cols, 3), np.uint8), None, labels=(0,), top_labels=None, hide_color=0,
        num_features=rows * cols, num_samples=num_samples, batch_size=batch_size,
        segmentation_fn=lambda _: grid_labels, random_seed=seed,
    )
    weights = np.zeros(rows * cols, np.float32)
    for feature, weight in explanation.local_exp[0]:
        weights[feature] = weight
    return MethodResult(_cells_map(model, image, weights), signed=True, meta={
        "segments": rows * cols, "segmentation": f"{rows} x {cols} patches",
        "samples": done, "hidden_as": "left out of the model's input",
        "fit_r2": float(explanation.score), "perturb": "patches",
    })


def shap_over_patches(model, image: np.ndarray, target: Target, *, seed: int, max_evals: int,
                      batch_size: int, progress: Progress, rng_lock, partition_tree,
                      incremental: Incremental | None = None) -> MethodResult:
    """Partition SHAP with the PatchModel's patches as players (see the module doc): shap's
    hierarchy of halves over the patch grid, a hidden half left out of the model's input.
    `rng_lock` and `partition_tree` are explain.shap_explainer's (the lock around shap's use
    of NumPy's global generator, and the cached tree of a shape). Given an `incremental`, the
    values are found at growing budgets, each run scoring only the rows no earlier run scored,
    as for the pixel grid (`explain.shap_explainer`)."""
    import shap

    rows, cols = model.grid
    done = 0
    remembered = None if incremental is None else {}

    def evaluate(keep: np.ndarray) -> np.ndarray:
        nonlocal done
        scores = np.asarray(target.score(model.predict_kept(image, keep)), np.float64)
        done += len(keep)
        progress(done / max_evals)
        return scores

    def score(masked: np.ndarray) -> np.ndarray:
        keep = np.asarray(masked).reshape(len(masked), rows * cols) > 0
        if remembered is None:
            return evaluate(keep).reshape(-1, 1)
        keys = [np.packbits(row).tobytes() for row in keep]
        new, seen = [], set()
        for i, key in enumerate(keys):
            if key not in remembered and key not in seen:
                new.append(i)
                seen.add(key)
        if done + len(new) > max_evals:  # never past the budget, whatever shap asks
            raise OverBudget
        if new:
            for i, value in zip(new, evaluate(keep[new]), strict=True):
                remembered[keys[i]] = value
        return np.array([remembered[key] for key in keys]).reshape(-1, 1)

    class PatchMasker(shap.maskers.Image):
        """One player per patch (one channel); shown players are 1, hidden 0."""

        def __init__(self):
            super().__init__(np.zeros((rows, cols, 1), np.uint8))

        def build_partition_tree(self):
            self.clustering = partition_tree((rows, cols, 1))

    def patch_values(limit: int) -> np.ndarray:
        """Partition's value per patch with `limit` evaluations."""
        explainer = shap.explainers.Partition(score, PatchMasker())
        np.random.seed(seed)
        values = explainer(np.ones((1, rows, cols, 1), np.uint8), max_evals=limit,
                           batch_size=batch_size, silent=True).values
        return np.asarray(values, np.float64)[0, ..., 0, 0].reshape(-1)

    with rng_lock:
        state = np.random.get_state()
        try:
            if incremental is None:
                weights = patch_values(max_evals)
            else:
                weights = values_at_growing_budgets(
                    patch_values, incremental, max_evals, check_every(max_evals, batch_size),
                    lambda: done, view=lambda found: _cells_map(model, image, found))
        finally:
            np.random.set_state(state)
    return MethodResult(_cells_map(model, image, weights), signed=True, meta={
        "max_evals": max_evals, "masker": "patches left out of the model's input",
        "grid": (rows, cols), "perturb": "patches",
    })
