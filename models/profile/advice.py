"""The photos that break a feed's concept, and what to change, from the measures alone.

**Outliers.** For each photo and each measure, the photo's value is compared with the other
photos' median. It stands out when the gap is at least `OUTLIER_SPREADS` times the others'
robust spread (1.4826 x their median absolute deviation, which is their standard deviation
when they are normal, and which one odd photo cannot inflate) and at least the measure's
`SMALLEST_GAP`, the smallest gap that shows in a grid. In a feed of identical photos the
others' spread is 0, so any gap past `SMALLEST_GAP` stands out. The per-photo values are:

- brightness (EV), contrast (L*), saturation (C*ab), colour temperature (mireds: warmer is
  more mireds);
- palette: the photo's median palette distance to the others (Delta E), against each other
  photo's median distance to the rest (the photo itself left out);
- technical quality (1-10), and content (the median CLIP cosine to the others): only a lower
  value breaks the feed, a better photo does not.

**Recommendations** are built from the outliers (grouped: the photos that stand out on the
same measure in the same direction share one recommendation, with their mean gap as the
amount) and from the feed measures (a tone that varies across the whole feed with no single
photo to blame). Each names the photos and the measured change. With nothing to change, the
one recommendation says how close the photos are, in the same units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.profile.feed import FeedMeasure, PhotoReading
from models.profile.measures import palette_distance

OUTLIER_SPREADS = 3.0
SMALLEST_GAP = {"brightness": 0.5, "contrast": 6.0, "saturation": 8.0, "temperature": 20.0,
                "palette": 12.0, "quality": 1.5, "content": 0.1}
"""Per measure, in its unit: 0.5 EV (half a stop), 6 L*, 8 C*ab, 20 mireds (about 1000 K near
5500 K), 12 Delta E, 1.5 quality points, 0.1 of cosine."""
UNEVEN_SPREAD_SCORE = 0.5
"""A tone measure scoring below this (e.g. brightness spread over 0.52 EV) is worth a
feed-wide recommendation when no single photo explains it."""
FITS_GOOD_FEED_LINE = 0.5


@dataclass(frozen=True)
class Outlier:
    """One photo standing out on one measure.

    Attributes:
        photo: its position in the feed, from 1.
        measure: "brightness", "contrast", "saturation", "temperature", "palette", "quality"
            or "content".
        value: the photo's value; others: the other photos' median, both in the measure's unit.
        gap: value - others; strength: |gap| / the threshold it had to pass (>= 1).
        text: e.g. "much warmer than the other 11 (3300 K against 5600 K)".
    """

    photo: int
    measure: str
    value: float
    others: float
    gap: float
    strength: float
    text: str


@dataclass(frozen=True)
class Recommendation:
    """One concrete change.

    Attributes:
        photos: the positions (from 1) it is about; empty for the whole feed.
        measure: the measure it comes from.
        text: the recommendation, with the measured amount.
    """

    photos: tuple[int, ...]
    measure: str
    text: str


def _photo_values(photos: Sequence[PhotoReading]) -> dict[str, np.ndarray]:
    values = {
        "brightness": np.array([p.tones.brightness_ev for p in photos]),
        "contrast": np.array([p.tones.contrast for p in photos]),
        "saturation": np.array([p.tones.saturation for p in photos]),
        "temperature": np.array([p.tones.temperature_mired for p in photos]),
        "quality": np.array([p.quality_score for p in photos]),
    }
    if all(p.embedding is not None for p in photos):
        embeddings = np.stack([p.embedding for p in photos]).astype(np.float64)
        values["content"] = embeddings @ embeddings.T  # pairwise; read per photo below
    values["palette"] = np.array([[palette_distance(a.palette, b.palette) for b in photos]
                                  for a in photos])
    return values


def _to_rest(pairwise: np.ndarray, photo: int, left_out: int | None = None) -> float:
    """Median of row `photo` of a pairwise table, without itself (and `left_out`)."""
    keep = [j for j in range(len(pairwise)) if j not in (photo, left_out)]
    return float(np.median(pairwise[photo, keep]))


def find_outliers(photos: Sequence[PhotoReading]) -> list[Outlier]:
    """Every (photo, measure) that stands out, strongest first."""
    count = len(photos)
    if count < 3:
        return []
    values = _photo_values(photos)
    found = []
    for measure, table in values.items():
        for i in range(count):
            if table.ndim == 2:  # palette and content: distance or similarity to the rest
                value = _to_rest(table, i)
                others = np.array([_to_rest(table, j, left_out=i) for j in range(count)
                                   if j != i])
            else:
                value = float(table[i])
                others = np.delete(table, i)
            middle = float(np.median(others))
            spread = 1.4826 * float(np.median(np.abs(others - middle)))
            threshold = max(OUTLIER_SPREADS * spread, SMALLEST_GAP[measure])
            gap = value - middle
            if measure in ("quality", "content"):
                gap_that_breaks = -gap  # only worse breaks the feed
            elif measure == "palette":
                gap_that_breaks = gap  # only farther
            else:
                gap_that_breaks = abs(gap)
            if gap_that_breaks >= threshold:
                found.append(Outlier(i + 1, measure, value, middle, gap,
                                     gap_that_breaks / threshold,
                                     _outlier_text(measure, value, middle, gap,
                                                   gap_that_breaks / threshold, count - 1)))
    return sorted(found, key=lambda o: (-o.strength, o.photo))


def _kelvin(mired: float) -> float:
    return 1e6 / mired


def _outlier_text(measure: str, value: float, others: float, gap: float, strength: float,
                  rest: int) -> str:
    much = "much " if strength >= 2 else ""
    than = f"than the other {rest}"
    if measure == "brightness":
        return (f"{abs(gap):.1f} EV {'darker' if gap < 0 else 'brighter'} {than} "
                f"({value:+.1f} EV against {others:+.1f} EV)")
    if measure == "temperature":
        return (f"{much}{'warmer' if gap > 0 else 'cooler'} {than} "
                f"({_kelvin(value):.0f} K against {_kelvin(others):.0f} K)")
    if measure == "saturation":
        return (f"{much}{'more' if gap > 0 else 'less'} saturated {than} "
                f"(chroma {value:.0f} against {others:.0f})")
    if measure == "contrast":
        return (f"{much}{'more contrasty' if gap > 0 else 'flatter'} {than} "
                f"(L* spread {value:.0f} against {others:.0f})")
    if measure == "palette":
        return (f"{much}further from the others' colours than they are from each other "
                f"(Delta E {value:.0f} against {others:.0f})")
    if measure == "quality":
        return (f"{much}lower technical quality {than} ({value:.1f} / 10 against "
                f"{others:.1f})")
    return (f"{much}less like the others in content {than} are like each other (CLIP "
            f"similarity {value:.2f} against {others:.2f})")


def _photo_list(photos: Sequence[int]) -> str:
    names = [str(p) for p in photos]
    if len(names) == 1:
        return f"Photo {names[0]}"
    return f"Photos {', '.join(names[:-1])} and {names[-1]}"


def recommend(photos: Sequence[PhotoReading], outliers: Sequence[Outlier],
              measures: Sequence[FeedMeasure]) -> list[Recommendation]:
    """Concrete changes, each naming its photos and the measured amount (module docstring)."""
    groups: dict[tuple[str, bool], list[Outlier]] = {}
    for outlier in outliers:
        groups.setdefault((outlier.measure, outlier.gap > 0), []).append(outlier)
    advice = []
    for (measure, above), members in sorted(groups.items(),
                                            key=lambda item: -max(o.strength
                                                                  for o in item[1])):
        members = sorted(members, key=lambda o: o.photo)
        numbers = tuple(o.photo for o in members)
        who = _photo_list(numbers)
        plural = len(numbers) > 1
        are, their, them = ("are", "their", "them") if plural else ("is", "its", "it")
        gap = float(np.mean([o.gap for o in members]))
        others = float(np.median([o.others for o in members]))
        if measure == "brightness":
            text = (f"{who} {are} about {abs(gap):.1f} EV {'brighter' if above else 'darker'} "
                    f"than the rest (median {others:+.1f} EV): "
                    f"{'lower' if above else 'raise'} {their} exposure by about "
                    f"{abs(gap):.1f} EV.")
        elif measure == "temperature":
            value = float(np.mean([o.value for o in members]))
            text = (f"{who} {are} {'warmer' if above else 'cooler'} than the rest "
                    f"({_kelvin(value):.0f} K against {_kelvin(others):.0f} K): "
                    f"{'cool' if above else 'warm'} {their} white balance toward "
                    f"{_kelvin(others):.0f} K.")
        elif measure == "saturation":
            text = (f"{who} {are} {'more' if above else 'less'} saturated than the rest "
                    f"(chroma {others + gap:.0f} against {others:.0f}): "
                    f"{'lower' if above else 'raise'} {their} saturation toward chroma "
                    f"{others:.0f}.")
        elif measure == "contrast":
            text = (f"{who} {are} {'more contrasty' if above else 'flatter'} than the rest "
                    f"(L* spread {others + gap:.0f} against {others:.0f}): "
                    f"{'soften' if above else 'add'} contrast"
                    f"{'' if above else ' to ' + them}.")
        elif measure == "palette":
            colours = ", ".join(photos[numbers[0] - 1].palette.hex_codes()[:2])
            feed = ", ".join(feed_palette_hex(photos, exclude=numbers))
            text = (f"{who}'s colours ({colours}{' and others' if plural else ''}) are far "
                    f"from the rest of the feed (Delta E {others + gap:.0f} against "
                    f"{others:.0f}): grade {them} toward the feed's palette ({feed}), or "
                    f"move {them} out of the grid.")
        elif measure == "quality":
            worst = min(members, key=lambda o: o.value)
            text = (f"{who} {'score' if plural else 'scores'} lowest for technical quality "
                    f"({', '.join(f'{o.value:.1f}' for o in members)} / 10 against a median "
                    f"of {others:.1f}; photo {worst.photo} is BRISQUE "
                    f"{photos[worst.photo - 1].brisque:.0f}): reshoot {them} sharper and "
                    f"cleaner, or replace {them}.")
        else:
            text = (f"{who} {'show' if plural else 'shows'} something other than the rest "
                    f"(CLIP similarity {others + gap:.2f} to the others, against {others:.2f} "
                    f"among them): keep the grid to one theme, or move {them} out.")
        advice.append(Recommendation(numbers, measure, text))
    advice.extend(_uneven_tones(photos, outliers, measures))
    ran56 = [p for p in photos if p.fits_good_feed is not None
             and p.fits_good_feed < FITS_GOOD_FEED_LINE]
    if ran56:
        numbers = tuple(p.index for p in ran56)
        advice.append(Recommendation(numbers, "ran56", (
            f"{_photo_list(numbers)}: RAN-56 gives "
            + ", ".join(f"{p.fits_good_feed:.0%}" for p in ran56)
            + " as the chance of fitting a good feed; its Grad-CAM shows what it looked at.")))
    if not advice:
        advice.append(Recommendation((), "none", _nothing_stands_out(photos)))
    return advice


_TONE_WORDS = {"brightness_spread": ("brightness", "exposure", "EV"),
               "temperature_spread": ("temperature", "white balance", "K"),
               "saturation_spread": ("saturation", "saturation", "C*"),
               "contrast_spread": ("contrast", "contrast", "L*")}


def _uneven_tones(photos, outliers, measures) -> list[Recommendation]:
    blamed = {o.measure for o in outliers}
    advice = []
    for measure in measures:
        if measure.key not in _TONE_WORDS or measure.score >= UNEVEN_SPREAD_SCORE:
            continue
        name, setting, unit = _TONE_WORDS[measure.key]
        if name in blamed:
            continue
        values = {"brightness": [p.tones.brightness_ev for p in photos],
                  "temperature": [p.tones.temperature_k for p in photos],
                  "saturation": [p.tones.saturation for p in photos],
                  "contrast": [p.tones.contrast for p in photos]}[name]
        low, high = int(np.argmin(values)), int(np.argmax(values))
        digits = 1 if unit == "EV" else 0
        advice.append(Recommendation((low + 1, high + 1), name, (
            f"{name.capitalize()} varies across the whole feed ({measure.reading}: spread "
            f"{measure.shown_value()}), from photo {low + 1} at {values[low]:.{digits}f} {unit} "
            f"to photo {high + 1} at {values[high]:.{digits}f} {unit}, with no single photo to "
            f"blame: settle on one {setting} for the whole grid.")))
    return advice


def _nothing_stands_out(photos: Sequence[PhotoReading]) -> str:
    ev = np.array([p.tones.brightness_ev for p in photos])
    kelvin = np.array([p.tones.temperature_k for p in photos])
    gaps = [palette_distance(a.palette, b.palette) for i, a in enumerate(photos)
            for b in photos[i + 1:]]
    return (f"Nothing stands out: every photo is within {np.abs(ev - np.median(ev)).max():.1f} "
            f"EV of the median brightness and {np.abs(kelvin - np.median(kelvin)).max():.0f} K "
            f"of the median white balance, and no two palettes are more than "
            f"Delta E {max(gaps):.0f} apart. Keep shooting and editing this way.")


def feed_palette_hex(photos: Sequence[PhotoReading], exclude: Sequence[int] = (),
                     size: int = 3) -> list[str]:
    """The feed's own dominant colours (hex), from every photo's palette except `exclude`
    (positions from 1): the colours with the largest summed share after merging those within
    Delta E 10 of each other."""
    colours, shares, hexes = [], [], []
    for photo in photos:
        if photo.index in exclude:
            continue
        for lab, share, code in zip(photo.palette.lab, photo.palette.shares,
                                    photo.palette.hex_codes(), strict=True):
            for k, known in enumerate(colours):
                if np.linalg.norm(known - lab) < 10:
                    shares[k] += share
                    break
            else:
                colours.append(lab)
                shares.append(float(share))
                hexes.append(code)
    order = np.argsort(-np.array(shares), kind="stable")[:size]
    return [hexes[i] for i in order]
