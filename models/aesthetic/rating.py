"""Is this photo aesthetic? `rate(image) -> AestheticRating`, the Aesthetic task's entry.

The rating research judged both what a photo shows and how well it is made, so `rate` combines
two scores (`models.aesthetic.scoring.combine`):

- quality: BRISQUE, a model of human quality ratings on LIVE (`models.aesthetic.technical`);
  works offline;
- content: CLIP zero-shot, calibrated on the calibration set, or a trained head on CLIP
  embeddings when the manifest names one (`models.aesthetic.content`); only with the CLIP
  weights here.

It also measures nine weight-free attributes (`models.aesthetic.attributes`) and places the
score among a documented set of real photos (`models.aesthetic.reference`, the percentile). The
attribute chart is `models.aesthetic.contributions`, the explanation panel's adapters
`models.aesthetic.explanations`, and the start-up warm-up `models.aesthetic.warmup`.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.aesthetic.attributes import PhotoAttributes, measure
from models.aesthetic.content import clip_missing_note, content_identity, content_scores
from models.aesthetic.head import CONTENT_HEAD
from models.aesthetic.reference import percentile_of, reference_scores
from models.aesthetic.scoring import combine
from models.aesthetic.surrogate import GOOD_END_ATTRIBUTES, SURROGATE_ATTRIBUTES
from models.aesthetic.technical import brisque_scores
from models.images import prepare_photo

__all__ = ["VERDICT_LINE", "AestheticRating", "rate"]

VERDICT_LINE = 0.5
"""The combined score at and above which a photo is called aesthetic (5.5 on the 1-10 scale)."""


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
        brisque: the BRISQUE score itself, lower is better (LIVE's ratings run from about 0,
            pristine, to about 100, but the score of a photo may fall below 0 or above 100).
        content: content aesthetics in [0, 1], or None without the CLIP weights.
        content_source: "head" (a trained head), "zero-shot" (the prompt ensemble) or None.
        percentile: share of the REFERENCE_PHOTOS whose combined score is lower, in [0, 100].
        attributes: the nine photo attributes with their hints.
        notes: plain-words notes.
        reference_range: the lowest and highest score (1-10) of the REFERENCE_PHOTOS, scored
            as this rating was, so the percentile can say what it counts among; None when not
            known.
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
    reference_range: tuple[float, float] | None = None


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
    from models.aesthetic.brisque import quality_from_score  # SciPy: loaded on first use

    prepared = prepare_photo(image)
    photo = prepared.image
    attributes = measure(photo)
    brisque = float(brisque_scores([photo])[0])
    quality = float(quality_from_score(brisque))
    # The content scorer here now (a head, or CLIP zero-shot) keys the reference scores this
    # rating is ranked among, so a head that arrived since the last rating ranks by its own.
    scorer = content_identity()
    method = None if scorer is None else scorer[0]
    content = float(content_scores([photo])[0]) if scorer else None
    combined = combine(quality, content)
    percentile = percentile_of(combined, scorer)
    notes = list(prepared.notes())
    if content is None:
        notes.append(clip_missing_note())
    elif method == "head":
        notes.append(f"Content comes from the trained head `{CONTENT_HEAD}`.")
    # Only attributes with a good end can be "weak"; colourfulness and the like are tastes.
    # And only those whose effect on the score is measured: the chart marks the others "not
    # measured", and a note must not call one of them what holds the score back.
    weakest = min((a for a in attributes.attributes()
                   if a.score is not None and a.name in GOOD_END_ATTRIBUTES
                   and a.name in SURROGATE_ATTRIBUTES),
                  key=lambda a: a.score)
    if weakest.score < 0.5:
        notes.append(f"Weakest attribute: {weakest.name} ({weakest.hint}).")
    score = 1 + 9 * combined
    reference = reference_scores(scorer)
    return AestheticRating(
        score=score, aesthetic=combined >= VERDICT_LINE, margin=score - (1 + 9 * VERDICT_LINE),
        quality=quality, brisque=brisque, content=content, content_source=method,
        percentile=percentile, attributes=attributes, notes=tuple(notes),
        reference_range=(float(1 + 9 * reference.min()), float(1 + 9 * reference.max())),
    )
