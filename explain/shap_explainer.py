"""SHAP (Lundberg and Lee 2017, "A Unified Approach to Interpreting Model Predictions"), with
shap's Partition explainer: Owen values over a hierarchy of image halves."""

from __future__ import annotations

import functools
import threading
import warnings
from collections.abc import Callable

import cv2
import numpy as np

with warnings.catch_warnings():
    # shap's plotting colours call matplotlib APIs that warn on import; we never plot.
    warnings.simplefilter("ignore", PendingDeprecationWarning)
    import shap

from explain.image_ops import check_fill_image, fill_to_size, normalise_signed
from explain.incremental import Incremental, OverBudget, check_every, values_at_growing_budgets
from explain.method import MethodResult, Progress
from explain.specs import SPECS
from explain.targets import Target

MASKERS = ("blur", "inpaint")

# shap's Partition explainer breaks ties in its work queue with the *global* np.random.randn
# (shap 0.49, explainers/_partition.py `owen`): when two pending splits change the score by
# exactly the same amount (a symmetric image, an exact score), the draw decides which one the
# budget refines. To make the same seed give the same map we seed the global generator for the
# call and restore it afterwards. The lock keeps two of our calls from interleaving their draws,
# so concurrent SHAP explanations run one at a time (the model is the bottleneck anyway).
_GLOBAL_RNG_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _partition_tree(shape: tuple[int, int, int]) -> np.ndarray:
    """shap's axis-aligned partition tree of an image shape, built once per shape.

    shap.maskers.Image builds it in its constructor with one leaf per pixel *and channel*;
    at 256 x 256 x 3 that takes ~1 s every time (numba, a heap over 196,608 leaves), which
    is a sixth of the whole explanation's budget. The tree depends only on the shape.
    """
    tree = shap.maskers.Image(0.0, shape).clustering
    tree.setflags(write=False)  # shared between calls
    return tree


MASK_GRID_SIDE = 128
"""SHAP's players are the pixels (and channels) of a grid at most this long on its longest
side, laid over the photo; each grid cell hides or shows the block of the photo under it.

shap's Partition explainer keeps a mask over all its players for every evaluation it queues:
on a 512 x 512 photo's 786,432 players, 200 evaluations held 270 MB, and 64-image batches
another 300 MB (tracemalloc), half the app's headroom under its 3 GB. A budget of at most
2,000 evaluations never splits the photo into regions finer than a few cells of a 128-cell
grid, so the map loses nothing; the model still scores the photo at its own size."""


def mask_grid(height: int, width: int, side: int = MASK_GRID_SIDE) -> tuple[int, int]:
    """The player grid (rows, columns) for a photo: the photo's own size when it fits in
    `side`, otherwise scaled down to `side` on its longest side (at least 1 cell each way)."""
    scale = min(1.0, side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


class _GridMasker(shap.maskers.Image):
    """shap.maskers.Image over the player grid, returning the masks themselves: every player
    is 1 ("shown"), the mask value is 0 ("hidden"). Its partition tree comes from the
    per-shape cache."""

    def __init__(self, grid: tuple[int, int]):
        super().__init__(np.zeros((*grid, 3), np.uint8))

    def build_partition_tree(self):
        self.clustering = _partition_tree(tuple(int(side) for side in self.input_shape))


def default_blur_size(height: int, width: int) -> int:
    """A box blur an eighth of the longest side, odd so the kernel is centred on its pixel.

    cv2.blur accepts any size; an even one shifts the image by half a pixel.
    """
    size = max(1, round(max(height, width) / 8))
    return size if size % 2 else size + 1


class SHAPExplainer:
    """Partition SHAP: Owen values of the target, with hidden regions blurred or inpainted.

    Lundberg and Lee 2017, "A Unified Approach to Interpreting Model Predictions" (NeurIPS);
    shap's Partition explainer recursively splits the image in halves along its longest side
    and spends the budget on the splits whose halves change the score most, so a small budget
    gives a coarse map that is refined where it matters.

    Args:
        masker: "blur" (a box blur, shap's usual image masker) or "inpaint" (OpenCV's Telea
            inpainting; much slower: ~25 ms a sample at 256 pixels, ~5 s for 200 samples,
            so it does not fit the 10 s budget with a ResNet50-sized model).
        blur_size: the blur's kernel side in pixels (default: `default_blur_size`).
        fill_image: an image (uint8 H x W x 3) whose pixels a hidden block shows instead of
            the masker's, e.g. the photo with a person inpainted away; resized to the image
            the method is given.
        perturb: "patches" to hide the model's own input patches (a PatchModel's: for a ViT,
            left out of its token sequence; `explain.patch_perturbation`), "pixels" for the
            pixel grid, None (default) for patches whenever the model can leave them out.

    Raises:
        ValueError: an unknown masker, a bad blur size or a bad fill_image.
    """

    name = "shap"
    needs_gradients = False
    # max_evals (= model evaluations, see __call__). At ~30 ms an image for ResNet50 at 224 x 224
    # on 2 cores, 200 evaluations take ~6 s, plus ~0.3 s of masking and bookkeeping once the
    # partition tree is cached (the first image of a size adds ~1 s). The benchmark tunes it.
    default_budget = SPECS["shap"].default_budget
    # Partition spends 2 evaluations on the fully hidden and fully shown image, 2 on the first
    # split into halves, then 2 on each half it refines (in each of two contexts): 10 is the
    # least that gets below halves to a coarse map.
    min_budget = SPECS["shap"].min_budget

    def __init__(self, masker: str = "blur", blur_size: int | None = None, fill_image=None,
                 perturb=None):
        from explain.patch_perturbation import uses_patches

        uses_patches(None, perturb if perturb != "patches" else None)  # an unknown mode fails
        self.perturb = perturb
        if masker not in MASKERS:
            raise ValueError(f"Unknown masker {masker!r}; choose one of: {', '.join(MASKERS)}.")
        if blur_size is not None and (not isinstance(blur_size, (int, np.integer))
                                      or isinstance(blur_size, bool) or blur_size < 1):
            raise ValueError(f"blur_size must be a positive whole number of pixels, "
                             f"got {blur_size!r}.")
        self.masker = masker
        self.blur_size = blur_size
        self.fill_image = None if fill_image is None else check_fill_image(fill_image)

    def hidden_fill(self, image: np.ndarray) -> tuple[Callable, str]:
        """What a hidden block shows, as fill(image, shown) -> the masked photo, and the
        masker's description for meta. `shown` is a boolean H x W x 3 mask of the photo; the
        blur's and the given image's fills also take a batch of them (B x H x W x 3) and
        return B photos."""
        if self.fill_image is not None:
            fill = fill_to_size(self.fill_image, *image.shape[:2])
            return (lambda image, shown: np.where(shown, image, fill)), "given image"
        if self.masker == "inpaint":
            def inpainted(image, shown):
                hidden = (~shown).any(axis=2)
                if hidden.all():  # nothing left to inpaint from: the photo's mean colour
                    return np.broadcast_to(image.mean((0, 1)).astype(np.uint8), image.shape)
                # shap's own inpaint settings (radius 3, Telea).
                return cv2.inpaint(image, hidden.astype(np.uint8), 3, cv2.INPAINT_TELEA)

            return inpainted, "inpaint_telea"
        size = self.blur_size or default_blur_size(*image.shape[:2])
        blurred = cv2.blur(image, (size, size))
        return (lambda image, shown: np.where(shown, image, blurred)), f"blur({size},{size})"

    def __call__(self, model, image: np.ndarray, target: Target, *, seed: int = 0,
                 budget: int | None = None, progress: Progress | None = None,
                 incremental: Incremental | None = None) -> MethodResult:
        """Explain `target` on `image` with at most `budget` model evaluations.

        Args:
            model: a KerasModel or FunctionModel.
            image: uint8 H x W x 3.
            target: the explained output.
            seed: seeds the Partition explainer's tie-breaking.
            budget: the most model evaluations to use.
            progress: told the fraction of the budget evaluated.
            incremental: told the map every `explain.incremental.check_every` evaluations,
                and may stop there. Partition spends a budget greedily, so a run with a
                smaller budget evaluates a subset of a larger one's masks: each check runs
                Partition with the budget so far and evaluates only the masks no earlier check
                did (remembered), so the evaluations add up to those of one run.

        Returns:
            A signed map: each pixel's SHAP value summed over its channels, scaled into [-1, 1].
        """
        progress = progress or Progress(None)
        progress(0.0)
        budget = budget or self.default_budget
        # shap 0.49's Partition evaluates the fully hidden and the fully shown image, then runs
        # its splitting loop with max_evals - 2; that loop adds a split's *two* masks while its
        # count is below the limit, so an odd limit can be overrun by one. An even max_evals
        # keeps the true count at or below the budget.
        max_evals = budget - budget % 2
        # Whole splits per batch for the same reason; an even batch of at most the model's own
        # batch size then reaches the model as one call.
        batch_size = max(2, model.batch_size - model.batch_size % 2)
        from explain.patch_perturbation import shap_over_patches, uses_patches

        if uses_patches(model, self.perturb):
            result = shap_over_patches(model, image, target, seed=seed, max_evals=max_evals,
                                       batch_size=batch_size, progress=progress,
                                       rng_lock=_GLOBAL_RNG_LOCK,
                                       partition_tree=_partition_tree, incremental=incremental)
            progress(1.0)
            return result
        height, width = image.shape[:2]
        grid = mask_grid(height, width)
        # Each photo row and column reads the grid cell it falls in (nearest neighbour).
        rows = np.arange(height) * grid[0] // height
        cols = np.arange(width) * grid[1] // width
        fill, masker_name = self.hidden_fill(image)
        done = 0

        def score(masks: np.ndarray) -> np.ndarray:
            cells = np.asarray(masks).reshape(-1, *grid, 3) > 0
            if remembered is None:
                return evaluate(cells)
            keys = [np.packbits(cell).tobytes() for cell in cells]
            new, seen = [], set()
            for i, key in enumerate(keys):
                if key not in remembered and key not in seen:
                    new.append(i)
                    seen.add(key)
            if done + len(new) > max_evals:  # never past the budget, whatever shap asks
                raise OverBudget
            if new:
                for i, value in zip(new, evaluate(cells[new]).ravel(), strict=True):
                    remembered[keys[i]] = value
            return np.array([remembered[key] for key in keys]).reshape(-1, 1)

        def evaluate(cells: np.ndarray) -> np.ndarray:
            nonlocal done
            # Each cell's mask spread over its pixels, the whole batch in one step: with a
            # fast model (BRISQUE) composing the photos is SHAP's own main cost.
            shown = cells.take(rows, axis=1).take(cols, axis=2)
            if self.masker == "inpaint" and self.fill_image is None:
                masked = np.stack([fill(image, one) for one in shown])
            else:
                masked = fill(image, shown)
            scores = np.asarray(target.score(model.predict(masked)), np.float64)
            done += len(masked)
            progress(done / max_evals)
            return scores.reshape(-1, 1)

        def cell_values(limit: int) -> np.ndarray:
            """Partition's values per grid cell (rows x columns) with `limit` evaluations."""
            # Partition directly, not shap.Explainer (which picks an algorithm and then
            # changes its own class to it).
            explainer = shap.explainers.Partition(score, _GridMasker(grid))
            np.random.seed(seed)
            values = explainer(np.ones((1, *grid, 3), np.uint8), max_evals=limit,
                               batch_size=batch_size, silent=True).values
            # values: 1 x rows x columns x 3 x 1 (one grid, one output); a cell's value is
            # its channels' sum.
            return np.asarray(values, np.float64)[0, ..., 0].sum(axis=-1)

        remembered = None if incremental is None else {}
        with _GLOBAL_RNG_LOCK:
            state = np.random.get_state()
            try:
                if incremental is None:
                    values = cell_values(max_evals)
                else:
                    values = values_at_growing_budgets(cell_values, incremental, max_evals,
                                             check_every(max_evals, batch_size), lambda: done)
            finally:
                np.random.set_state(state)
        # explain() resizes the grid's map to the photo.
        heatmap = normalise_signed(values)
        progress(1.0)
        return MethodResult(heatmap, signed=True, meta={
            "max_evals": max_evals, "masker": masker_name, "grid": grid,
        })
