"""LIME (Ribeiro et al. 2016, "'Why Should I Trust You?': Explaining the Predictions of Any
Classifier")."""

from __future__ import annotations

import numpy as np

from explain.image_ops import check_fill_image, fill_to_size, normalise_signed
from explain.incremental import Incremental, check_every
from explain.lime_base import StoppableLime
from explain.method import MethodResult, Progress
from explain.specs import SPECS
from explain.targets import Target

SEGMENTATIONS = ("quickshift", "slic", "felzenszwalb")

DEFAULT_SEGMENTATION = "slic"
SLIC_SEGMENTS = 150
DEFAULT_HIDE_COLOR = 0
"""The defaults were chosen on ten photos no other test uses, with a model that reads only a
disk (tests/test_lime_shap.py; `python -m benchmarks.explain --quality`; docs/explanations.md).
At 256 pixels LIME's own defaults, quickshift segments hidden with their mean colour, put 0.58
of the map's top pixels inside the disk on average and 0.30 on the worst photo: quickshift's
segments straddle the disk's edge, and a segment filled with its own mean keeps its colour and
brightness, so a model reading those barely notices it hidden. 150 SLIC segments hidden in
black put 0.78 inside on average and at least 0.63 on every photo. (A grey fill hides nothing
on grey content, and 100 or 200 SLIC segments, or 300 samples, did no better.) Black is also
the deletion curve's fill, which flatters the deletion AUC; the share inside the disk and the
insertion curve (a blur) do not depend on that choice."""

REFERENCE_SIDE = 256
"""The defaults below are tuned at this size (explain's work size). For other sizes the
pixel-valued ones are scaled, so a 64-pixel image still gets about as many segments as a
256-pixel one instead of collapsing into a handful."""


def default_segmentation_options(segmentation: str, height: int, width: int) -> dict:
    """scikit-image parameters for photos of any size.

    slic (the default) asks for 150 segments and gets about 90-150 on photos; quickshift and
    felzenszwalb give roughly 40-100. Measured on scikit-image's astronaut, chelsea, coffee,
    rocket and immunohistochemistry images at 256 pixels (longest side): quickshift 49-107
    segments, felzenszwalb 39-92; at 64 pixels the counts stay within about a factor of two.
    """
    scale = max(height, width) / REFERENCE_SIDE
    area = height * width / REFERENCE_SIDE**2
    if segmentation == "quickshift":
        # LIME's own choice is kernel_size=4, max_dist=200, ratio=0.2; a kernel of 3 gives
        # more segments (4 gave only 24-55) and runs faster (~0.2 s instead of ~0.35 s).
        return {"kernel_size": max(1.0, 3.0 * scale), "max_dist": 100.0 * scale, "ratio": 0.2}
    if segmentation == "slic":
        # n_segments is only a target: SLIC returned 87-148 segments for 150 asked on ten
        # photos at 128 and 256 pixels. 150 found a region best (docs/explanations.md: 100 and 200
        # did worse); compactness is scikit-image's own default.
        return {"n_segments": SLIC_SEGMENTS, "compactness": 10.0}
    if segmentation == "felzenszwalb":
        # The merge threshold scales with the square root of the area and the minimum segment
        # with the area: scaling both by the area over-segments small images.
        return {"scale": 150.0 * np.sqrt(area), "sigma": 0.5,
                "min_size": max(2, round(150 * area))}
    raise ValueError(f"Unknown segmentation {segmentation!r}; choose one of: "
                     f"{', '.join(SEGMENTATIONS)}.")


def segmentation_function(segmentation: str):
    """The scikit-image function behind a segmentation name."""
    from skimage import segmentation as skseg

    if segmentation not in SEGMENTATIONS:
        raise ValueError(f"Unknown segmentation {segmentation!r}; choose one of: "
                         f"{', '.join(SEGMENTATIONS)}.")
    return getattr(skseg, segmentation)


def check_segmentation_options(segmentation: str, options: dict) -> None:
    """Refuse options the scikit-image function does not take, before any work is done."""
    import inspect

    accepted = set(inspect.signature(segmentation_function(segmentation)).parameters)
    accepted -= {"image", "channel_axis"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ValueError(f"{segmentation} does not take {', '.join(unknown)}; its options are: "
                         f"{', '.join(sorted(accepted))}.")


def segment(image: np.ndarray, segmentation: str, options: dict, seed: int) -> np.ndarray:
    """Superpixel labels 0..n-1 (int64, H x W) of `image`.

    LIME indexes its features by label value, so labels must run from 0 without gaps.
    """
    height, width = image.shape[:2]
    params = default_segmentation_options(segmentation, height, width)
    if segmentation == "quickshift":
        # Quickshift breaks ties with random noise; seeding it keeps the same seed -> same map.
        params["rng"] = seed
    labels = segmentation_function(segmentation)(image, **{**params, **options})
    return relabel(labels)


def relabel(labels: np.ndarray) -> np.ndarray:
    """The same regions, numbered 0..n-1."""
    _, inverse = np.unique(labels, return_inverse=True)
    return inverse.reshape(labels.shape).astype(np.int64)


def given_segments(segments, height: int, width: int) -> np.ndarray:
    """A caller's label map, resized (nearest) to the image LIME sees and renumbered."""
    from skimage.transform import resize

    segments = np.asarray(segments)
    if segments.ndim != 2 or not np.issubdtype(segments.dtype, np.integer):
        raise ValueError(f"segments must be an integer H x W label map, got {segments.dtype} "
                         f"{segments.shape}.")
    if segments.shape != (height, width):
        # explain() hands LIME a shrunken copy of the image, so a map made for the original
        # is brought to that size; nearest-neighbour keeps labels whole.
        segments = resize(segments, (height, width), order=0, preserve_range=True,
                          anti_aliasing=False).astype(np.int64)
    return relabel(segments)


class _BatchedLimeImageExplainer(StoppableLime):
    """lime's image explainer with a vectorised sampling step.

    `LimeImageExplainer.data_labels` builds every perturbed image in a Python loop (one
    deep copy and one full-image comparison per hidden segment) behind a tqdm bar; at 256
    pixels that is ~0.36 s for 200 samples. This override draws exactly the same random
    on/off matrix from the same random state, then composes each batch of images with one
    NumPy step per channel (~0.09 s for 200 at 224 pixels), with no progress bar.
    """

    fill_image = None
    """When set (an image of the explained image's size), a hidden segment shows its pixels
    instead of the hide colour."""

    def data_labels(self, image, fudged_image, segments, classifier_fn, num_samples,
                    batch_size=10):
        if self.fill_image is not None:
            fudged_image = self.fill_image
        n_features = np.unique(segments).shape[0]
        # The same call lime makes, so a given random_state gives lime's own samples.
        data = self.random_state.randint(0, 2, num_samples * n_features).reshape(
            (num_samples, n_features))
        data[0, :] = 1  # sample 0 is the unperturbed image; lime's kernel measures from it
        flat_labels = segments.ravel()
        flat_image = image.reshape(-1, image.shape[-1])
        flat_fudged = fudged_image.reshape(-1, image.shape[-1])
        labels = []
        for start in range(0, num_samples, batch_size):
            keep = np.take(data[start : start + batch_size].astype(bool), flat_labels, axis=1)
            batch = np.empty((len(keep),) + flat_image.shape, image.dtype)
            # One channel at a time: a 2-D np.where is about twice as fast as a masked copy
            # broadcast over the channel axis, and this is LIME's own time on a fast model.
            for channel in range(flat_image.shape[-1]):
                batch[..., channel] = np.where(keep, flat_image[:, channel],
                                               flat_fudged[:, channel])
            labels.append(classifier_fn(batch.reshape((len(keep),) + image.shape)))
            done = start + len(keep)
            if self.after_batch is not None and done < num_samples \
                    and self.after_batch(data[:done], np.concatenate(labels)):
                return data[:done], np.concatenate(labels)
        return data, np.concatenate(labels)


class LIMEExplainer:
    """LIME over superpixels: fit a weighted linear model to the target's response when random
    subsets of segments are hidden; each segment's coefficient is its importance.

    Ribeiro, Singh and Guestrin 2016, "'Why Should I Trust You?': Explaining the Predictions
    of Any Classifier" (KDD). Wraps `lime.lime_image.LimeImageExplainer` with its defaults
    (exponential kernel of width 0.25 on cosine distance, ridge regression with alpha 1), fitting
    every segment (no feature selection) so the map covers the whole image.

    Args:
        segmentation: "slic" (the default: about 150 segments), "quickshift" (LIME's own
            default) or "felzenszwalb" (scikit-image).
        segments: an integer label map to use instead of a segmentation (e.g. a person mask);
            resized with nearest-neighbour to the image the method is given.
        hide_color: what a hidden segment becomes: a grey level (default 0, black) or an RGB
            triple, or None for the segment's own mean colour (LIME's default). See
            DEFAULT_HIDE_COLOR for why black.
        fill_image: an image (uint8 H x W x 3) whose pixels a hidden segment shows instead,
            e.g. the photo with a person inpainted away, so hiding a part removes it rather
            than leaving its silhouette; resized to the image the method is given.
        perturb: "patches" to hide the model's own input patches (a PatchModel's: for a ViT,
            left out of its token sequence; `explain.patch_perturbation`), "pixels" for
            superpixels, None (default) for patches whenever the model can leave them out.
        **segmentation_options: scikit-image parameters replacing the defaults of
            `default_segmentation_options` (which are scaled to the image size; these are not).

    Raises:
        ValueError: an unknown segmentation or segmentation option, a bad hide_color or
            fill_image.
    """

    name = "lime"
    needs_gradients = False
    # Samples (= model evaluations). ResNet50 at 224 x 224 runs about 30 ms an image batched on
    # 2 cores, so 200 samples take ~6 s plus ~0.3 s of segmentation, sampling and fitting:
    # inside the 10 s budget with room for slower models. The benchmark tunes it; 300 samples
    # found the disk no better than 200 on the photos of docs/explanations.md.
    default_budget = SPECS["lime"].default_budget
    min_budget = SPECS["lime"].min_budget

    def __init__(self, segmentation: str = DEFAULT_SEGMENTATION, segments=None,
                 hide_color=DEFAULT_HIDE_COLOR, fill_image=None, perturb=None,
                 **segmentation_options):
        from explain.patch_perturbation import uses_patches

        check_segmentation_options(segmentation, segmentation_options)
        uses_patches(None, perturb if perturb != "patches" else None)  # an unknown mode fails
        self.perturb = perturb
        if hide_color is not None:
            color = np.asarray(hide_color)
            if color.shape not in ((), (3,)) or not np.all((color >= 0) & (color <= 255)):
                raise ValueError(f"hide_color must be None, a grey level or an RGB triple in "
                                 f"0..255, got {hide_color!r}.")
        self.segmentation = segmentation
        self.segments = segments
        self.hide_color = hide_color
        self.fill_image = None if fill_image is None else check_fill_image(fill_image)
        self.segmentation_options = segmentation_options

    def __call__(self, model, image: np.ndarray, target: Target, *, seed: int = 0,
                 budget: int | None = None, progress: Progress | None = None,
                 incremental: Incremental | None = None) -> MethodResult:
        """Explain `target` on `image` with at most `budget` model evaluations.

        Args:
            model: a KerasModel or FunctionModel.
            image: uint8 H x W x 3.
            target: the explained output.
            seed: seeds the segmentation, the samples and hence the map.
            budget: samples to draw (each is one evaluation; sample 0 is the image itself).
            progress: told the fraction of samples evaluated.
            incremental: told the map fitted to the samples so far every
                `explain.incremental.check_every` samples, and may stop the sampling there
                (the samples are the same ones a full run draws, so a run that does not stop
                gives the same map as without it).

        Returns:
            A signed map: each pixel carries its segment's coefficient, scaled into [-1, 1].
        """
        progress = progress or Progress(None)
        progress(0.0)
        num_samples = budget or self.default_budget
        from explain.patch_perturbation import lime_over_patches, uses_patches

        if uses_patches(model, self.perturb):
            result = lime_over_patches(model, image, target, seed=seed,
                                       num_samples=num_samples, progress=progress,
                                       incremental=incremental)
            progress(1.0)
            return result
        height, width = image.shape[:2]
        if self.segments is not None:
            segments, segmentation = given_segments(self.segments, height, width), "given"
        else:
            segments = segment(image, self.segmentation, self.segmentation_options, seed)
            segmentation = self.segmentation
        n_segments = int(segments.max()) + 1
        done = 0

        def classifier_fn(batch: np.ndarray) -> np.ndarray:
            nonlocal done
            if batch.dtype != np.uint8:  # only if lime ever hands back floats
                batch = np.clip(np.rint(batch), 0, 255).astype(np.uint8)
            scores = np.asarray(target.score(model.predict(batch)), np.float64)
            done += len(batch)
            progress(done / num_samples)
            # One column, so LIME's label 0 is our target whatever the model's outputs are.
            return scores.reshape(-1, 1)

        # feature_selection="none": every segment gets a coefficient (the default "auto"
        # would fit an extra ridge only to rank them).
        explainer = _BatchedLimeImageExplainer(feature_selection="none", random_state=seed)
        if self.fill_image is not None:
            explainer.fill_image = fill_to_size(self.fill_image, height, width)
        batch_size = model.batch_size
        if incremental is not None:
            batch_size = check_every(num_samples, model.batch_size)

            def after_batch(data, labels):
                weights = explainer.fit_weights(data, labels, n_segments)
                return incremental.check(weights, lambda: normalise_signed(weights[segments]),
                                         len(data), num_samples)

            explainer.after_batch = after_batch
        explanation = explainer.explain_instance(
            image, classifier_fn, labels=(0,), top_labels=None, hide_color=self.hide_color,
            num_features=n_segments, num_samples=num_samples, batch_size=batch_size,
            segmentation_fn=lambda _: segments, random_seed=seed,
        )
        weights = np.zeros(n_segments, np.float32)
        for feature, weight in explanation.local_exp[0]:
            weights[feature] = weight
        heatmap = normalise_signed(weights[segments])
        progress(1.0)
        return MethodResult(heatmap, signed=True, meta={
            "segments": n_segments, "segmentation": segmentation, "samples": done,
            "hidden_as": "given image" if self.fill_image is not None else self.hide_color,
            "fit_r2": float(explanation.score),
        })
