"""Is this photo aesthetic? Technical quality, content aesthetics and photo attributes.

The rating research judged both what a photo shows and how well it is made, so `rate(image)`
combines two scores:

- quality: BRISQUE (`models.aesthetic.brisque`), a model of human quality ratings on the LIVE
  database (Mittal, Moorthy and Bovik 2012), whose regression ships as plain numbers in
  `models/aesthetic/brisque_live.npz`; works offline. It was chosen over the project's own CNN
  by `python -m models.evaluate quality --whole-photos` (README, "Technical quality");
- content: CLIP ViT-B/32 zero-shot, a prompt ensemble of beautiful, well-composed photos against
  ugly, badly composed ones, calibrated on the calibration set; or a trained head on CLIP
  embeddings when the manifest names one (`CONTENT_HEAD`); only with the CLIP weights here.

It also measures nine weight-free attributes (`models.aesthetic.attributes`), places the score
among a documented set of real photos that installed packages ship (`REFERENCE_PHOTOS`, the
percentile), and explains the score over the attributes with SHAP on a linear surrogate fitted
on a calibration set: three photos and spoiled copies of them (`CALIBRATION_PHOTOS`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from models.aesthetic.attributes import ATTRIBUTE_NAMES, PhotoAttributes, measure
from models.aesthetic.photos import HELD_OUT_PHOTOS, load_photo
from models.explaining import ExplanationSetup
from models.images import JUDGED_SIDE, judged_copy, prepare_photo

OUTPUTS = ("quality", "content")

CONTENT_PROMPTS = {
    "aesthetic": [
        "a beautiful photo", "a well-composed photograph", "a stunning professional photo",
        "an aesthetically pleasing picture", "a photo with great lighting",
    ],
    "not aesthetic": [
        "an ugly photo", "a badly composed photograph", "a boring amateur snapshot",
        "an unappealing picture", "a photo with bad lighting",
    ],
}

CONTENT_WEIGHT = 0.5  # share of content in the combined score when both parts exist

QUALITY_SOURCE = "BRISQUE, a model of human quality ratings on LIVE"
"""What the technical quality on the card is, in the card's words."""

VERDICT_LINE = 0.5
"""The combined score at and above which a photo is called aesthetic (5.5 on the 1-10 scale)."""

def clip_missing_note() -> str:
    """Why a rating has no content score, and how the CLIP weights arrive: the download under
    way on a connected machine (with how far it is), else the command that fetches them."""
    from weights.prefetch import missing_advice

    return (f"Content aesthetics need the CLIP ViT-B/32 weights: {missing_advice('clip')}. "
            "This rating uses technical quality only.")


@dataclass(frozen=True)
class AestheticRating:
    """A photo's rating and its parts.

    Attributes:
        score: from 1 to 10: 1 + 9 x the combined score.
        aesthetic: the combined score is at least VERDICT_LINE (the research's 0/1 verdict).
        margin: score - 5.5, in score points: how far the score is from the verdict line, and
            on which side. Not a probability: nothing here is calibrated on rated photos.
        quality: technical quality in [0, 1], 1 = pristine: BRISQUE on a logistic scale
            (`models.aesthetic.brisque.quality_from_score`; BRISQUE 50 gives 0.5).
        brisque: the BRISQUE score itself (about 0 pristine to 100 the worst of LIVE; lower is
            better).
        content: content aesthetics in [0, 1], or None without the CLIP weights.
        content_source: "head" (a trained head), "zero-shot" (the prompt ensemble) or None.
        percentile: share of the REFERENCE_PHOTOS whose combined score is lower, in [0, 100].
        attributes: the nine photo attributes with their hints.
        notes: plain-words notes.
    """

    score: float
    aesthetic: bool
    margin: float
    quality: float
    brisque: float
    content: float | None
    content_source: str | None
    percentile: float
    attributes: PhotoAttributes
    notes: tuple[str, ...]


def content_available() -> bool:
    """Whether the CLIP weights are on this machine (never downloads)."""
    import weights

    return weights.available("clip")


CONTENT_HEAD = "aesthetic_head"
"""Manifest name of a trained content head: a `.keras` model (HEAD_FILE) from unit-length CLIP
image embeddings (N, D) to the probability that each photo is aesthetic (N, 1), as
`python -m models.train aesthetic_head` writes it. The shipped manifest names none (no rating
dataset ships with InstaVis); add an entry, and the head replaces the zero-shot ensemble."""
HEAD_FILE = "head.keras"

_head: dict[str, object] = {}
_head_lock = threading.Lock()


def content_head():
    """The trained content head, when the manifest names one and it is on this machine (loaded
    once per location, `safe_mode=True`); otherwise None."""
    import weights

    if not weights.available(CONTENT_HEAD):
        return None
    location = weights.locate(CONTENT_HEAD).path
    with _head_lock:
        if str(location) not in _head:
            _head.clear()
            _head[str(location)] = weights.load_keras(CONTENT_HEAD, HEAD_FILE)
        return _head[str(location)]


def content_method() -> str | None:
    """How content is scored here: "head" (a trained head), "zero-shot" (the prompt ensemble)
    or None (no CLIP weights)."""
    if not content_available():
        return None
    return "head" if content_head() is not None else "zero-shot"


def combine(quality: float, content: float | None) -> float:
    """The combined score in [0, 1]: quality alone, or the CONTENT_WEIGHT mix with content."""
    if content is None:
        return float(quality)
    return (1 - CONTENT_WEIGHT) * float(quality) + CONTENT_WEIGHT * float(content)


def brisque_scores(images) -> np.ndarray:
    """BRISQUE score of each photo's `judged_copy` (uint8 arrays, any sizes): lower is better."""
    from models.aesthetic import brisque

    return brisque.brisque_scores([judged_copy(image) for image in images])


def quality_scores(images) -> np.ndarray:
    """Technical quality of each photo in [0, 1]: BRISQUE through `quality_from_score`.

    Each photo is judged as its `judged_copy`, as everything the tab shows is, so the
    explainers, which perturb that copy, explain exactly this number. BRISQUE reads the whole
    photo (no crops), and its statistics do not change when the photo is mirrored, apart from
    the diagonal neighbour pairs trading places."""
    from models.aesthetic import brisque

    return brisque.quality_from_score(brisque_scores(images))


def zero_shot_margins(images) -> np.ndarray:
    """CLIP's zero-shot logit margin of each photo: logit scale x (cosine with the "aesthetic"
    prompt ensemble - cosine with the "not aesthetic" one). Its sigmoid is the zero-shot
    probability of "aesthetic"."""
    from models import clip as clip_module

    return _margins_of_embeddings(
        clip_module.embed_images([judged_copy(image) for image in images]))


def _margins_of_embeddings(embeddings: np.ndarray) -> np.ndarray:
    """`zero_shot_margins` from the photos' unit CLIP embeddings."""
    from models import clip as clip_module

    clip = clip_module.get_clip()
    cosines = np.asarray(embeddings) @ clip.label_embeddings(CONTENT_PROMPTS).T
    return clip.logit_scale * (cosines[:, 0] - cosines[:, 1]).astype(np.float64)


def content_scores(images) -> np.ndarray:
    """Content aesthetics of each photo in [0, 1].

    With a trained head (`content_head`), its probability. Otherwise the zero-shot probability,
    calibrated on the calibration set: sigmoid(margin - its median margin). Raw
    zero-shot probabilities of a two-label prompt pair sit wherever the prompts' wording puts
    them (CLIP may call most photos "beautiful"); recentring makes 0.5 mean "as aesthetic to
    CLIP as the middle of the calibration set", and keeps the preset's logit scale as the slope.
    """
    from models import clip

    return content_scores_of_embeddings(
        clip.embed_images([judged_copy(image) for image in images]))


def content_scores_of_embeddings(embeddings: np.ndarray) -> np.ndarray:
    """`content_scores` of photos whose unit CLIP embeddings (of their judged copies) the caller
    already has, so a photo goes through the vision tower once (the Profile tab needs both)."""
    head = content_head()
    if head is not None:
        return np.asarray(head(np.asarray(embeddings), training=False), np.float64)[:, 0]
    return 1.0 / (1.0 + np.exp(-(_margins_of_embeddings(embeddings) - zero_shot_offset())))


# === The reference photos (percentile) and the calibration set (attribute surrogate) ===

REFERENCE_PHOTOS = ("astronaut", "rocket", "china", "grace_hopper", "coffee", "chelsea",
                    "flower")
"""The photos a rating is ranked among: every unedited colour photograph of an everyday scene
that the installed packages ship (scikit-image's astronaut, rocket, coffee and chelsea the
cat; scikit-learn's china and flower; matplotlib's Grace Hopper). Neither BRISQUE nor CLIP
was trained on them. Seven photos: the percentile says "higher than 5 of the 7", no finer."""

CALIBRATION_PHOTOS = tuple(HELD_OUT_PHOTOS)
"""The photos whose spoiled copies (CALIBRATION_VARIANTS) calibrate the zero-shot content score
and fit the attribute surrogate."""

CALIBRATION_VARIANTS = tuple((name, level) for name in (
    "gaussian_blur", "motion_blur", "gaussian_noise", "jpeg", "under_exposure", "over_exposure",
    "low_contrast", "colour_cast", "downscale_upscale") for level in (2, 4))
"""The spoiled copies of each calibration photo: every distortion of `models.aesthetic.distortions`
at a mild (2) and a heavy (4) level. With them the calibration set spans good and bad photos,
which the attribute surrogate needs; three pristine photos alone could not."""

GOOD_END_ATTRIBUTES = ("exposure", "contrast", "sharpness", "noise", "thirds", "horizon tilt")
"""Attributes whose score has a good end (1 = best). The surrogate may only reward them: a photo
never loses points for being sharper. The others (colourfulness, saturation, symmetry) are
tastes, and their weight may take either sign."""


SURROGATE_ATTRIBUTES = ("exposure", "contrast", "colourfulness", "saturation", "sharpness",
                        "noise")
"""The attributes the surrogate can learn from the calibration set: those its spoiled copies vary.
Blur, noise or a cast do not move the subject, so thirds, symmetry and horizon tilt hardly
change between a photo and its copies, and their effect on the score cannot be measured here;
the chart shows them at 0, marked as not measured."""


def reference_photos() -> dict[str, np.ndarray]:
    """The REFERENCE_PHOTOS, read from the installed packages."""
    return {name: load_photo(name) for name in REFERENCE_PHOTOS}


def calibration_photos() -> dict[str, np.ndarray]:
    """The pristine CALIBRATION_PHOTOS, read from the installed packages."""
    return {name: load_photo(name) for name in CALIBRATION_PHOTOS}


def attribute_scores(attributes: PhotoAttributes) -> np.ndarray:
    """The nine attribute scores in ATTRIBUTE_NAMES order; a photo with no horizon to tilt
    scores 1 for horizon tilt (it is as good as level)."""
    return np.array([1.0 if a.score is None else a.score for a in attributes.attributes()])


@dataclass(frozen=True)
class _Reference:
    photo_scores: np.ndarray  # combined score of each of REFERENCE_PHOTOS, in [0, 1]
    names: tuple[str, ...]  # "coffee" or "coffee + gaussian_blur 4", one per calibration entry
    scores: np.ndarray  # combined score of every calibration entry, in [0, 1]
    attributes: np.ndarray  # attribute scores of every entry (rows)
    coefficients: np.ndarray  # surrogate: score ~ intercept + attribute scores @ coefficients
    intercept: float
    fit_r2: float


_reference: dict[str | None, _Reference] = {}
_reference_lock = threading.RLock()  # re-entered: scoring the set needs the zero-shot offset
_variants: list[tuple[tuple[str, ...], list[np.ndarray]]] = []
_offsets: dict[str, float] = {}


def reference_variants() -> tuple[tuple[str, ...], list[np.ndarray]]:
    """(names, photos) of the calibration set: each calibration photo, then its spoiled copies
    (CALIBRATION_VARIANTS, seeded), built once per process."""
    with _reference_lock:
        if not _variants:
            from models.aesthetic import distortions

            names, photos = [], []
            for name, photo in calibration_photos().items():
                names.append(name)
                photos.append(photo)
                for distortion, level in CALIBRATION_VARIANTS:
                    names.append(f"{name} + {distortion} {level}")
                    photos.append(distortions.distort(photo, distortion, level,
                                                  np.random.default_rng(level)))
            _variants.append((tuple(names), photos))
        return _variants[0]


def zero_shot_offset() -> float:
    """The median zero-shot margin over the calibration set, for the CLIP loaded now."""
    from models import clip

    key = str(clip.get_clip().path)
    _, photos = reference_variants()
    with _reference_lock:
        if key not in _offsets:
            _offsets[key] = float(np.median(zero_shot_margins(photos)))
        return _offsets[key]


def fit_surrogate(features: np.ndarray, scores: np.ndarray, groups: np.ndarray | None = None,
                  alpha: float = 1.0) -> tuple[np.ndarray, float, float]:
    """Ridge regression of the score on the attribute scores of SURROGATE_ATTRIBUTES, with the
    weights of GOOD_END_ATTRIBUTES kept at or above zero (bounded least squares).

    The attribute scores all lie in [0, 1], so the ridge penalty acts on comparable weights and
    no attribute can earn a huge weight from a tiny spread. With `groups` (one id per row: which
    reference photo it is a copy of), the fit uses only the variation within each group, as a
    fixed-effects regression does: it learns how the score moves when an attribute of the same
    photo changes, and cannot pass off the differences between a handful of photos as an
    attribute's effect. Attributes outside SURROGATE_ATTRIBUTES, or that do not vary, get 0.

    Returns:
        (coefficients on the raw attribute scores, intercept, R^2 of the fitted variation).
    """
    from scipy.optimize import lsq_linear

    x, y = features.astype(np.float64), scores.astype(np.float64)
    if groups is None:
        groups = np.zeros(len(y), int)
    for group in np.unique(groups):
        rows = groups == group
        x[rows] -= x[rows].mean(axis=0)
        y[rows] -= y[rows].mean()
    used = np.array([name in SURROGATE_ATTRIBUTES for name in ATTRIBUTE_NAMES]) & \
        (x.std(axis=0) > 1e-6)
    # Ridge as least squares: sqrt(alpha) x identity rows pull every weight towards 0.
    design = np.vstack([x[:, used], np.sqrt(alpha) * np.eye(int(used.sum()))])
    padded = np.concatenate([y, np.zeros(int(used.sum()))])
    lower = np.array([0.0 if name in GOOD_END_ATTRIBUTES else -np.inf
                      for name, kept in zip(ATTRIBUTE_NAMES, used, strict=True) if kept])
    coefficients = np.zeros(features.shape[1])
    coefficients[used] = lsq_linear(design, padded, bounds=(lower, np.inf)).x
    intercept = float(scores.mean() - features.mean(axis=0) @ coefficients)
    residual = y - x @ coefficients
    r2 = 1.0 - float((residual ** 2).sum() / max((y ** 2).sum(), 1e-12))
    return coefficients, intercept, r2


def _build_reference(content: str | None, names: tuple[str, ...],
                     variants: list[np.ndarray]) -> _Reference:
    """Score the reference photos, and the calibration photos and their spoiled copies, with
    content scored as `content` says, and fit the attribute surrogate on the calibration set:
    a few seconds of work (`_reference_set` caches it)."""
    def combined(images):
        q = quality_scores(images)
        c = content_scores(images) if content else [None] * len(images)
        return np.array([combine(a, b) for a, b in zip(q, c, strict=True)])

    photo_scores = combined(list(reference_photos().values()))
    scores = combined(variants)
    features = np.stack([attribute_scores(measure(v)) for v in variants])
    groups = np.array([name.split(" + ")[0] for name in names])
    coefficients, intercept, r2 = fit_surrogate(features, scores, groups)
    return _Reference(photo_scores, tuple(names), scores, features, coefficients, intercept, r2)


def _reference_set(content: str | None) -> _Reference:
    """The reference photos' scores and the calibration set with its surrogate, built once per
    process and way of scoring content (`content_method()`).

    The build runs while holding `_reference_lock`, so a request that arrives while another
    thread (the start-up warm-up, or a first request) is building waits for that result
    instead of building it a second time."""
    names, variants = reference_variants()
    with _reference_lock:
        if content not in _reference:
            _reference[content] = _build_reference(content, names, variants)
        return _reference[content]


def percentile_of(combined: float, content: str | None) -> float:
    """Share of the REFERENCE_PHOTOS whose combined score is below `combined`, 0-100, with
    content scored as `content` ("head", "zero-shot" or None) says. A reference photo rated
    again ties its own score up to rounding (1e-14 either way, as the photo is scored alone or
    in the reference batch), so scores within `TIE` count as equal, not lower: a reference
    photo never counts itself."""
    return float((_reference_set(content).photo_scores < combined - TIE).mean() * 100)


TIE = 1e-9
"""Combined scores (0-1) closer than this are the same score to `percentile_of`."""


def attribute_contributions(image, attributes: PhotoAttributes | None = None,
                            ) -> list[tuple[str, float, str]]:
    """How far each attribute moves the score, in score points (SHAP over the attributes).

    The score comes from BRISQUE and CLIP, not from the attributes, so this explains a linear
    surrogate of it: the score regressed on the nine attribute scores over the calibration set,
    within each calibration photo's spoiled copies (`fit_surrogate`; `surrogate_fit()` says how
    much of that variation it explains). For a linear model with
    independent features, SHAP values are exact, and shap.LinearExplainer gives each attribute
    coefficient x (its score here - its mean over the calibration set): a positive value means
    this attribute is better here than in a typical calibration photo, and that raises the
    score.

    Args:
        image: anything `load_image` takes.
        attributes: the photo's attributes when the caller has them already (a rating's).

    Returns:
        (attribute name, signed contribution in score points on the 1-10 scale, hint), the
        largest first.
    """
    import shap

    if attributes is None:
        attributes = measure(prepare_photo(image).image)
    reference = _reference_set(content_method())
    explainer = shap.LinearExplainer((reference.coefficients, reference.intercept),
                                     reference.attributes)
    values = np.asarray(explainer.shap_values(attribute_scores(attributes)[None]))[0] * 9
    hints = {a.name: a.hint for a in attributes.attributes()}
    rows = [(name, float(value), hints.get(name, ""))
            for name, value in zip(ATTRIBUTE_NAMES, values, strict=True)]
    return sorted(rows, key=lambda row: -abs(row[1]))


def surrogate_fit() -> float:
    """R^2 of the attribute surrogate: the share of the score's variation across each
    calibration photo's spoiled copies that the attributes account for."""
    return _reference_set(content_method()).fit_r2


# === Rating ===


def rate(image) -> AestheticRating:
    """Rate a photo from 1 to 10, with the verdict, its parts and the attributes.

    Args:
        image: anything `prepare_photo` takes. Odd photos follow its policy: a long strip is
            rated on its central part, and the notes say so.

    Returns:
        An AestheticRating. Without the CLIP weights, content is None and the score is
        technical quality alone; a note says so.

    Raises:
        InvalidImage: the photo cannot be read, or is too small to rate (`prepare_photo`).
    """
    prepared = prepare_photo(image)
    photo = prepared.image
    attributes = measure(photo)
    brisque = float(brisque_scores([photo])[0])
    from models.aesthetic.brisque import quality_from_score

    quality = float(quality_from_score(brisque))
    method = content_method()
    content = float(content_scores([photo])[0]) if method else None
    combined = combine(quality, content)
    percentile = percentile_of(combined, method)
    notes = list(prepared.notes())
    if content is None:
        notes.append(clip_missing_note())
    elif method == "head":
        notes.append(f"Content comes from the trained head `{CONTENT_HEAD}`.")
    # Only attributes with a good end can be "weak"; colourfulness and the like are tastes.
    weakest = min((a for a in attributes.attributes()
                   if a.score is not None and a.name in GOOD_END_ATTRIBUTES),
                  key=lambda a: a.score)
    if weakest.score < 0.5:
        notes.append(f"Weakest attribute: {weakest.name} ({weakest.hint}).")
    score = 1 + 9 * combined
    return AestheticRating(
        score=score, aesthetic=combined >= VERDICT_LINE, margin=score - (1 + 9 * VERDICT_LINE),
        quality=quality, brisque=brisque, content=content, content_source=method,
        percentile=percentile, attributes=attributes, notes=tuple(notes),
    )


# === Warm-up ===


def warm_up() -> None:
    """Do the first rating's one-off work now, so the first request is as fast as the next.

    Reads BRISQUE's model, scores the reference photos and builds the calibration set for the
    way content is scored on this machine (with CLIP and its offset only when the CLIP weights
    are here: never a download), and rates one calibration photo and explains it over the
    attributes, which imports SHAP. Safe to call from a background thread while requests
    arrive, and more than once: every part is built once behind its lock, and a request that
    needs a part still being built waits for it.
    """
    _reference_set(content_method())
    _, photos = reference_variants()
    rating = rate(photos[0])
    attribute_contributions(photos[0], rating.attributes)


# === What the explanation panel explains ===


_adapters: dict[str, object] = {}
_adapters_lock = threading.Lock()


QUALITY_GRADCAM_REASON = (
    "Grad-CAM cannot explain BRISQUE: it needs the gradients of a neural network, and BRISQUE "
    "is image statistics fed to a support vector regression. LIME and SHAP explain it.")
"""What the panel says for Grad-CAM on technical quality."""

QUALITY_NOTE = (f"LIME and SHAP explain the technical quality on the card ({QUALITY_SOURCE}): "
                "they hide regions of the photo and watch BRISQUE's score move.")


def _content_gradcam_adapter():
    """A KerasModel for Grad-CAM on content, built once per process and way of scoring it."""
    method = content_method()
    key = f"content:{method}:{zero_shot_offset() if method == 'zero-shot' else ''}"
    with _adapters_lock:
        if key in _adapters:
            return _adapters[key]
        import keras

        from explain import KerasModel
        from models import clip as clip_module

        clip = clip_module.get_clip()
        labels = clip.label_embeddings(CONTENT_PROMPTS)
        cosines = clip.similarity_model(labels)
        head = content_head()
        if head is not None:
            # The trained head reads the same unit-length embedding the cosines use.
            score = head(cosines.get_layer("unit_embedding").output)
        else:
            # Exactly the displayed content: sigmoid(logit scale x (cos aesthetic - cos not
            # aesthetic) - the calibration set's median margin), as content_scores computes.
            calibrated = keras.layers.Dense(1, activation="sigmoid", trainable=False,
                                            name="content")
            score = calibrated(cosines.output)
            scale = clip.logit_scale
            calibrated.set_weights([np.array([[scale], [-scale]], np.float32),
                                    np.array([-zero_shot_offset()], np.float32)])
        adapter = KerasModel(keras.Model(cosines.input, score),
                             preprocess=clip.preprocess_graph,
                             cam_layer=clip.gradcam_layer_name, output_names=["content"],
                             input_box=clip.crop_box, work_side=JUDGED_SIDE)
        _adapters[key] = adapter
        return adapter


def explanation_setup(image, target: str) -> ExplanationSetup:
    """How to explain `target` ("quality" or "content") on a photo.

    Returns:
        An ExplanationSetup whose photo is the copy the rating judged, with one FunctionModel
        for LIME and SHAP that scores it exactly as `rate` does. Content also has a Grad-CAM
        KerasModel; quality's Grad-CAM maps to the sentence saying why BRISQUE has none
        (QUALITY_GRADCAM_REASON). For "content" without CLIP weights, each method maps to the
        one-sentence reason.
    """
    from explain import FunctionModel

    if target not in OUTPUTS:
        raise ValueError(f"Unknown target {target!r}; choose from {OUTPUTS}.")
    photo = judged_copy(prepare_photo(image).image)
    if target == "content" and not content_available():
        return ExplanationSetup(photo, {method: clip_missing_note()
                                        for method in ("gradcam", "lime", "shap")})
    score = quality_scores if target == "quality" else content_scores
    # BRISQUE reads one photo at a time (~30-80 ms at 512 pixels); CLIP embeds in batches of 16.
    black_box = FunctionModel(lambda images: np.asarray(score(list(images)))[:, None], [target],
                              batch_size=32 if target == "quality" else 16,
                              work_side=JUDGED_SIDE)
    if target == "quality":
        models = {"gradcam": QUALITY_GRADCAM_REASON, "lime": black_box, "shap": black_box}
        return ExplanationSetup(photo, models, note=QUALITY_NOTE)
    return ExplanationSetup(photo, {"gradcam": _content_gradcam_adapter(), "lime": black_box,
                                    "shap": black_box})
