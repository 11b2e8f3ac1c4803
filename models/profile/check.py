"""`check(photos) -> ProfileReport`: does a feed hold one visual concept, and what breaks it.

Each photo is read as every tab reads a photo (`models.images.prepare_photo`, then its judged
copy), and measured: technical quality (BRISQUE on the photo's own pixels, as the Aesthetic tab
reads it, `models.aesthetic.technical.native_parts`) and, with the CLIP weights, content
aesthetics (both from `models.aesthetic`) and its CLIP embedding; a palette and four tones
(`models.profile.measures`); with a trained RAN-56 named in the manifest, its probability of
fitting a good feed. A photo that cannot be read is reported by name and left out; the rest
are still checked. The feed measures, the score and its Shapley breakdowns are in
`models.profile.feed`, the outliers and recommendations in `models.profile.advice`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from models.images import InvalidImage, judged_copy, prepare_photo
from models.profile import advice, feed, measures

MIN_PHOTOS = 3
MAX_PHOTOS = 30


class ProfileError(ValueError):
    """The feed cannot be checked (too few or too many photos); the message is one line."""


@dataclass(frozen=True)
class ProfileReport:
    """What `check` found.

    Attributes:
        photos: each readable photo's measures, in feed order; each keeps its number as
            uploaded (`PhotoReading.index`), so after an unreadable photo the numbers skip one.
        unreadable: (name, reason) of each photo that could not be read.
        measures: the feed measures (`models.profile.feed`).
        group_scores: each measure group's score in [0, 1].
        score: the visual-concept score, 0 to 100.
        baseline: the score of a feed with no evidence (an empty one): 50.
        by_group: each group's Shapley value, in score points (sums to score - baseline).
        by_photo: each photo's Shapley value, in score points (sums to score - baseline), in
            the order of `photos`.
        by_photo_exact: every coalition was scored (else sampled orders, seeded).
        outliers: the misfits, strongest first, by photo number.
        recommendations: concrete changes, each naming photos and a measured amount.
        notes: plain-words notes (what was left out and why, how content was judged).
    """

    photos: tuple[feed.PhotoReading, ...]
    unreadable: tuple[tuple[str, str], ...]
    measures: tuple[feed.FeedMeasure, ...]
    group_scores: dict[str, float]
    score: float
    baseline: float
    by_group: dict[str, float]
    by_photo: np.ndarray
    by_photo_exact: bool
    outliers: tuple[advice.Outlier, ...]
    recommendations: tuple[advice.Recommendation, ...]
    notes: tuple[str, ...]

    @property
    def has_content(self) -> bool:
        return any(m.group == "content" for m in self.measures)

    def measure(self, key: str) -> feed.FeedMeasure | None:
        return next((m for m in self.measures if m.key == key), None)


Progress = Callable[[float, str], None]


def photo_name(source, position: int) -> str:
    """A file's name, or "photo N" (N from 1) for an array or an unnamed upload."""
    path = source if isinstance(source, (str, os.PathLike)) else getattr(source, "name", None)
    return os.path.basename(str(path)) if path else f"photo {position}"


def read_feed(photos: Sequence, names: Sequence[str] | None = None
              ) -> tuple[list[tuple[str, np.ndarray, list[np.ndarray]]],
                         list[tuple[int, str, str]], list[int]]:
    """(name, judged copy, native parts) of each readable photo, (number, name, reason) of
    each other one, and each readable photo's number. A photo's number is its position as
    uploaded, from 1: leaving an unreadable photo out renumbers none of the others, so the
    fifth upload is photo 5 in every text. The native parts are what BRISQUE reads
    (`technical.native_parts`: the photo, or tiles of it at its own resolution); only they
    are kept, not the full-size photo."""
    if isinstance(photos, (str, bytes, os.PathLike, np.ndarray)):
        raise ProfileError("Give the feed as a list of photos, in the order the feed shows "
                           "them.")
    photos = list(photos)
    if len(photos) > MAX_PHOTOS:
        raise ProfileError(f"A feed holds at most {MAX_PHOTOS} photos here; got "
                           f"{len(photos)}. Check the latest {MAX_PHOTOS}.")
    if names is not None and len(names) != len(photos):
        raise ProfileError(f"{len(names)} names for {len(photos)} photos.")
    from models.aesthetic.technical import native_parts

    readable, unreadable, numbers = [], [], []
    for position, source in enumerate(photos, start=1):
        name = names[position - 1] if names is not None else photo_name(source, position)
        try:
            native = prepare_photo(source).image
            readable.append((name, judged_copy(native), native_parts(native)))
            numbers.append(position)
        except InvalidImage as problem:
            unreadable.append((position, name, str(problem)))
    if len(readable) < MIN_PHOTOS:
        skipped = f" ({len(unreadable)} could not be read)" if unreadable else ""
        raise ProfileError(f"A feed needs at least {MIN_PHOTOS} readable photos; "
                           f"{len(readable)} of {len(photos)} "
                           f"{'was' if len(readable) == 1 else 'were'} usable{skipped}.")
    return readable, unreadable, numbers


def check(photos: Sequence, *, names: Sequence[str] | None = None,
          progress: Progress | None = None, seed: int = 0) -> ProfileReport:
    """Check a feed of 3 to 30 photos, in the order the feed shows them.

    Args:
        photos: anything `prepare_photo` takes, one per photo (paths, arrays, uploads).
        names: what to call each photo (default: its file name, or "photo N").
        progress: called with (fraction done, what is being done), photo by photo.
        seed: the palettes' k-means and the sampled Shapley orders.

    Each photo's number in the report is its position in `photos` (from 1): an unreadable
    photo is left out, and nothing after it is renumbered.

    Raises:
        ProfileError: fewer than 3 readable photos, or more than 30.
    """
    tell = progress or (lambda fraction, message: None)
    tell(0.0, "Reading the photos")
    readable, unreadable, numbers = read_feed(photos, names)
    count = len(readable)
    images = [image for _, image, _ in readable]

    from models.aesthetic import brisque as aesthetic_brisque
    from models.aesthetic import content as aesthetic_content

    readings_parts = []
    for number, (name, image, native) in enumerate(readable, start=1):
        tell(0.05 + 0.6 * (number - 1) / count, f"Measuring photo {number} of {count}")
        # On the native parts, as the Aesthetic tab's technical quality: the same number.
        brisque = float(aesthetic_brisque.brisque_scores([native])[0])
        readings_parts.append(dict(
            index=numbers[number - 1], name=name, image=image,
            palette=measures.palette(image, seed=seed), tones=measures.tones(image),
            brisque=brisque))
    from models.aesthetic.brisque import quality_from_score

    notes = [f"Left out, unreadable: photo {number}"
             + ("" if name == f"photo {number}" else f", {name}")
             + f" ({reason.rstrip('.')}); the other photos keep their numbers."
             for number, name, reason in unreadable]
    content_method = aesthetic_content.content_method()
    embeddings = contents = [None] * count
    if content_method:
        tell(0.65, f"Embedding {count} photos with CLIP")
        from models import clip

        embedded = clip.embed_images(images)  # the judged copies: once for both uses
        embeddings = list(embedded)
        contents = [float(c) for c in aesthetic_content.content_scores_of_embeddings(embedded)]
    else:
        notes.append("Content cohesion needs the CLIP weights, which are not on this machine: "
                     "the score uses palette, tones and quality only (`python -m weights "
                     "pull clip`).")
    fits = [None] * count
    ran56 = _ran56()
    if ran56 is not None:
        tell(0.75, "Asking RAN-56 which photos fit a good feed")
        fits = [float(p) for p in ran56(images)]
    readings = tuple(feed.PhotoReading(
        quality=float(quality_from_score(parts["brisque"])), content=contents[i],
        embedding=None if embeddings[i] is None else np.asarray(embeddings[i], np.float64),
        fits_good_feed=fits[i], **parts) for i, parts in enumerate(readings_parts))

    tell(0.8, "Scoring the feed")
    tables = feed.FeedTables(readings)
    feed_measures = tuple(tables.measures())
    groups = feed.group_scores(feed_measures)
    score = feed.concept_score(groups)
    tell(0.85, "Sharing the score among the photos (Shapley values)")
    by_photo, exact = feed.shapley_values(count, tables.scores, batched=True, seed=seed)
    if not exact:
        notes.append(f"The by-photo breakdown samples {feed.SAMPLED_PERMUTATIONS} orders of the "
                     f"{count} photos (exact up to {feed.EXACT_PLAYERS}).")
    tell(0.95, "Finding outliers and recommendations")
    outliers = tuple(advice.find_outliers(readings))
    recommendations = tuple(advice.recommend(readings, outliers, feed_measures))
    tell(1.0, "Done")
    return ProfileReport(
        photos=readings, unreadable=tuple((name, reason) for _, name, reason in unreadable),
        measures=feed_measures,
        group_scores=groups, score=score, baseline=feed.BASELINE,
        by_group=feed.shapley_by_group(groups), by_photo=by_photo, by_photo_exact=exact,
        outliers=outliers, recommendations=recommendations, notes=tuple(notes))


def _ran56():
    """RAN-56's fits-a-good-feed function when the manifest names a trained one on this
    machine, else None."""
    from models.profile.ran56 import trained_fits_good_feed

    return trained_fits_good_feed()
