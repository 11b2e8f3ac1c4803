"""`classify(image)`: which fashion style is this outfit?

The photo is judged as its `judged_copy` (at most 512 pixels a side), like every task's. The
main person is found and cropped with a margin (`models.style.crop`), and the crop is
classified by the best source this machine has:

1. a trained VGG16-GAP (`style_vgg16`) or CLIP head (`style_head`), when the manifest names one
   and the request uses its labels (`models.style.trained`);
2. CLIP zero-shot: each label's prompts averaged into one text vector (prompt ensembling), and
   a softmax over the crop's cosines at a temperature fitted on labelled photos when the
   manifest names one for the label set (`style_temperature`), else at CLIP's own learned
   temperature (its logit scale, read from the checkpoint). Never set by hand.

Without either, `StyleUnavailable` says in one sentence what is missing and the commands that
fix it; nothing is made up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.images import judged_copy, prepare_photo
from models.style.crop import Box, cropped, person_box
from models.style.labels import LabelSet, resolve_label_set

ZERO_SHOT = "CLIP zero-shot"
TRAIN_COMMAND = "python -m models.train style --data DIR --backbone clip|vgg16"
NO_PERSON_NOTE = "No person found: the whole photo was classified."


class StyleUnavailable(RuntimeError):
    """Neither the CLIP weights nor a trained classifier are here; `summary` says so in one
    sentence, with the commands that fix it."""

    def __init__(self):
        from weights.prefetch import waiting_note

        arriving = waiting_note("clip")
        if arriving:
            # The note starts with the model's name ("CLIP ViT-B/32 ..."), kept as it is.
            self.summary = (f"Style needs the CLIP weights, and {arriving}: try again once it "
                            "has arrived.")
        else:
            self.summary = ("Style needs the CLIP weights (python -m weights pull clip) or a "
                            f"trained classifier ({TRAIN_COMMAND}); neither is on this "
                            "machine.")
        super().__init__(self.summary)


@dataclass(frozen=True)
class StyleResult:
    """A photo's style.

    Attributes:
        probabilities: label -> probability, every label of the set, in its order; they sum
            to 1.
        top: the most probable label.
        margin: its probability minus the runner-up's.
        source: what classified it ("CLIP zero-shot", or the trained model's description).
        label_set: the set's name ("everyday", "fashionstyle14", "custom", or a trained
            model's).
        crop: (top, left, height, width) of the classified region in `photo`, or None when no
            person was found and the whole photo was classified.
        photo: the judged copy of the photo (what `crop` refers to).
        notes: sentences a user should read beside the result.
    """

    probabilities: dict[str, float]
    top: str
    margin: float
    source: str
    label_set: str
    crop: Box | None
    photo: np.ndarray
    notes: tuple[str, ...] = ()

    @property
    def crop_image(self) -> np.ndarray:
        """The region that was classified."""
        return cropped(self.photo, self.crop)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.probabilities)


def result_of(probabilities: np.ndarray, labels, *, source: str, label_set: str,
              crop: Box | None, photo: np.ndarray, notes=()) -> StyleResult:
    """A StyleResult from one row of probabilities over `labels`."""
    probabilities = np.asarray(probabilities, np.float64)
    order = np.argsort(-probabilities, kind="stable")
    runner_up = probabilities[order[1]] if len(order) > 1 else 0.0
    return StyleResult({label: float(p) for label, p in zip(labels, probabilities, strict=True)},
                       labels[int(order[0])], float(probabilities[order[0]] - runner_up),
                       source, label_set, crop, photo, tuple(notes))


def clip_available() -> bool:
    """Whether the CLIP weights are on this machine (never downloads)."""
    import weights

    return weights.available("clip")


def trained_model():
    """The trained classifier the manifest names and this machine has, or None."""
    from models.style.trained import trained_style_model

    return trained_style_model()


def describe(trained) -> str:
    """A trained model as a result's source names it."""
    kind = "VGG16-GAP" if trained.backbone == "vgg16" else "CLIP head"
    return f"trained {kind} ({trained.name})"


def choose_source(label_set: str | None, custom: bool):
    """The trained model when it serves this request, else None for CLIP zero-shot.

    A trained model serves a request for the default or its own label set; a request for
    another set, or for the user's own labels, goes to CLIP zero-shot. With no CLIP, the
    trained model answers any request but one with the user's own labels (a note says so).

    Raises:
        StyleUnavailable: nothing here can answer the request.
    """
    trained = None if custom else trained_model()
    if trained is not None and label_set in (None, trained.label_set):
        return trained
    if clip_available():
        return None
    if trained is not None:
        return trained
    raise StyleUnavailable()


TEMPERATURE = "style_temperature"
"""Manifest name of a zero-shot temperature fitted on labelled photos
(`python -m models.train style_temperature`); the shipped manifest names none."""

TEMPERATURE_FILE = "temperature.json"
"""The file of the TEMPERATURE artifact, which `models.style.calibrate` writes."""


def _fitted_temperature(path) -> dict:
    """The fitted temperature's file, read once per version of it (LIME and SHAP ask for every
    batch)."""
    import json

    stamp = path.stat().st_mtime_ns
    cached = _temperature_cache.get(str(path))
    if cached is None or cached[0] != stamp:
        cached = (stamp, json.loads(path.read_text()))
        _temperature_cache.clear()
        _temperature_cache[str(path)] = cached
    return cached[1]


_temperature_cache: dict[str, tuple[int, dict]] = {}


def zero_shot_temperature(label_set: LabelSet) -> float:
    """The softmax temperature for zero-shot on `label_set`: the fitted one when the manifest
    names one for exactly these labels, else CLIP's own learned logit scale."""
    import weights
    from models import clip

    if weights.available(TEMPERATURE):
        fitted = _fitted_temperature(weights.locate(TEMPERATURE).path / TEMPERATURE_FILE)
        if (fitted.get("label_set") == label_set.name
                and fitted.get("labels") == list(label_set.labels)):
            return float(fitted["temperature"])
    return clip.get_clip().logit_scale


def zero_shot_probabilities(crops, label_set: LabelSet) -> np.ndarray:
    """CLIP zero-shot probabilities (N, L) of each crop over the set's labels: a softmax of the
    cosines at `zero_shot_temperature`."""
    from models import clip as clip_module

    return zero_shot_probabilities_of_embeddings(clip_module.get_clip().embed_images(list(crops)),
                                                 label_set)


def zero_shot_probabilities_of_embeddings(embeddings, label_set: LabelSet) -> np.ndarray:
    """`zero_shot_probabilities` of crops whose unit CLIP embeddings (N x D) are given."""
    from models import clip as clip_module

    clip = clip_module.get_clip()
    cosines = np.asarray(embeddings) @ clip.label_embeddings(label_set.prompts).T
    logits = zero_shot_temperature(label_set) * cosines.astype(np.float64)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def classify(image, labels=None, label_set: str | None = None) -> StyleResult:
    """Classify the main person's outfit in a photo.

    Args:
        image: anything `prepare_photo` takes (odd photos follow its policy; the notes say what
            was done).
        labels: the user's own style names (2 to 30), classified zero-shot; None uses
            `label_set`.
        label_set: a shipped set's name ("everyday", the default, or "fashionstyle14").

    Returns:
        A StyleResult.

    Raises:
        models.images.InvalidImage: the photo cannot be used.
        models.style.labels.InvalidLabels: an unknown set or unusable labels.
        StyleUnavailable: no classifier on this machine.
    """
    chosen = resolve_label_set(label_set, labels)  # a bad set or list fails before any work
    prepared = prepare_photo(image)
    photo = judged_copy(prepared.image)
    source = choose_source(label_set, custom=labels is not None)
    box = person_box(photo)
    notes = list(prepared.notes())
    if box is None:
        notes.append(NO_PERSON_NOTE)
    crop = cropped(photo, box)
    if source is None:
        probabilities = zero_shot_probabilities([crop], chosen)[0]
        return result_of(probabilities, chosen.labels, source=ZERO_SHOT, label_set=chosen.name,
                         crop=box, photo=photo, notes=notes)
    if label_set not in (None, source.label_set):
        notes.append(f"Classified by the {describe(source)} with its own labels "
                     f"({source.label_set}): the CLIP weights for the {label_set!r} set are "
                     f"not on this machine.")
    probabilities = source.probabilities([crop])[0]
    return result_of(probabilities, source.labels, source=describe(source),
                     label_set=source.label_set, crop=box, photo=photo, notes=notes)
