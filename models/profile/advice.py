"""The photos that break a feed's concept, and what to change, from the measures alone.

**Misfits.** A misfit is a photo at one end of the feed's distribution on a measure, with a
real gap between it and the rest. Per measure, the photos are sorted by their value; the k
lowest (or highest) are misfits when

    gap >= max(OUTLIER_SPREADS x the rest's robust spread, the measure's SMALLEST_GAP),

where the gap runs from the innermost of the k to the nearest of the rest, and the robust
spread is 1.4826 x the rest's median absolute deviation (their standard deviation when they
are normal, which no odd photo can inflate). `SMALLEST_GAP` is the smallest step that shows
in a grid, so a feed that is uniform on one measure (spread near 0) flags no tiny
differences. Misfits are a minority: at most `MISFIT_SHARE` of the feed per measure (one
photo in a feed of 3 to 7), and fewer than half the feed over every measure together (the
weakest groups go first). The largest k that passes is kept, so two photos equally far out
are both named. The per-photo values are:

- brightness (EV), contrast (L* spread), saturation (mean chroma C*ab), colour temperature
  (mireds: warmer is more mireds); saturation and temperature only among colour photos;
- palette: the photo's median palette distance to the others (Delta E), only farther breaks;
- technical quality (1-10) and content (the median CLIP cosine to the others): only a lower
  value breaks the feed, a better photo does not.

**Looks.** Some values are a look of their own, not a step on a scale: black and white
(mean chroma under `GREY_CHROMA`), nearly black, nearly white. A photo's look is compared as
a category: a minority of black-and-white photos in a colour feed (or of colour photos in a
black-and-white one) are misfits on "look"; a feed split between two looks, each more than a
minority, gets one recommendation to choose a look. Advice never moves a photo toward a
degenerate target (chroma 0, nearly black, nearly white): when the rest's median is one, the
advice says to choose one look instead of naming a target.

**Recommendations** are built from the misfits (the photos that break the feed on the same
measure in the same direction share one, with each photo's value and the rest's median) and
from the feed measures (a tone that varies across the whole feed with no photo to blame: no
photo is named). With nothing to change, the one recommendation says how close the photos
are, in the same units.

Every number a text shows is rounded once (`_shown`), and a gap is the difference of the
rounded numbers it sits next to, so a reader can check the arithmetic on the card.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.profile.feed import FeedMeasure, PhotoReading
from models.profile.measures import palette_distance

OUTLIER_SPREADS = 3.0
MISFIT_SHARE = 0.25
"""At most this share of the feed is called misfit on one measure (at least one photo)."""
SMALLEST_GAP = {"brightness": 0.5, "contrast": 0.5, "saturation": 0.5, "temperature": 60.0,
                "palette": 12.0, "quality": 2.0, "content": 0.1}
"""Per measure, in the unit the rule compares: 0.5 EV (half a stop); contrast and saturation
in stops too (log2 of the L* spread and of the chroma: editing apps change both by a factor,
and 8 against 12 shows as much as 20 against 30), 0.5 being a factor of 1.41; 60 mireds
(about 5500 K against 4100 K: in coherent generated feeds, content alone moves a photo's
mean-colour temperature by about 20 mireds, so a cast must be three times that to tell); 12
Delta E; 2 quality points (content alone moves BRISQUE by 30 across sharp, clean photos,
about 2 points at the top of the scale); 0.1 of cosine."""
IN_STOPS = ("contrast", "saturation")
"""Measures the rule compares as log2 of their value (texts still show the value)."""
LOOK_GAP = 6.0
"""Chroma C*ab between the majority look's median and the nearest photo of the other look (or
between the two medians, in a split feed) for black and white and colour to read as two
looks."""
ONLY_WORSE = {"palette": "high", "quality": "low", "content": "low"}
"""Measures where only one end breaks the feed: farther colours, lower quality, other content."""
GREY_CHROMA = 3.0
"""Mean chroma C*ab under which a photo is black and white (a converted photo reads 0 to 1;
a sepia or split-toned one 8 or more, a look in colour)."""
NEARLY_BLACK_EV = -5.0
"""Brightness under which a photo is nearly black (mean luminance under 0.6%)."""
NEARLY_WHITE_EV = 2.2
"""Brightness over which a photo is nearly white (mean luminance over 83%; white is 2.47)."""
BLANK_CONTRAST = 2.0
"""L* spread under which a photo is one flat tone."""
UNEVEN_SPREAD_SCORE = 0.5
"""A tone measure scoring below this (e.g. brightness spread over 0.52 EV) is worth a
feed-wide recommendation when no single photo explains it."""
FITS_GOOD_FEED_LINE = 0.5
COLOUR, GREY, BLACK, WHITE = "in colour", "black and white", "nearly black", "nearly white"
CHOOSE_ONE_LOOK = "choose one look"


@dataclass(frozen=True)
class Outlier:
    """One photo that breaks the feed on one measure.

    Attributes:
        photo: its number in the feed: its position as uploaded, from 1.
        measure: "brightness", "contrast", "saturation", "temperature", "palette", "quality",
            "content" or "look".
        value: the photo's value; others: the median of the rest (the photos compared on this
            measure that are not misfits on it), both in the measure's unit (chroma for look).
        gap: value - others; strength: the group's gap / the threshold it had to pass (>= 1).
        text: e.g. "much warmer than the rest (3300 K against a median of 5600 K)".
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
        photos: the numbers of the photos it is about (their misfits); empty for the whole feed.
        measure: the measure it comes from.
        text: the recommendation, with the measured amount.
    """

    photos: tuple[int, ...]
    measure: str
    text: str


# === Looks ===


def look_of(photo: PhotoReading) -> str:
    """COLOUR, GREY (black and white), BLACK (nearly black) or WHITE (nearly white)."""
    if photo.tones.brightness_ev < NEARLY_BLACK_EV:
        return BLACK
    if photo.tones.brightness_ev > NEARLY_WHITE_EV:
        return WHITE
    return GREY if photo.tones.saturation < GREY_CHROMA else COLOUR


def _degenerate(measure: str, target: float) -> str | None:
    """The look a target value of `measure` would be, when it is one no advice should aim at."""
    if measure == "saturation" and target < GREY_CHROMA:
        return GREY
    if measure == "brightness" and target < NEARLY_BLACK_EV:
        return BLACK
    if measure == "brightness" and target > NEARLY_WHITE_EV:
        return WHITE
    if measure == "contrast" and target < BLANK_CONTRAST:
        return "one flat tone"
    return None


def most_misfits(count: int) -> int:
    """How many photos of a feed of `count` may be misfits on one measure."""
    return max(1, math.floor(MISFIT_SHARE * count))


# === Finding the misfits ===


def robust_spread(values: np.ndarray) -> float:
    """1.4826 x the median absolute deviation: the standard deviation of normal values."""
    return 1.4826 * float(np.median(np.abs(values - np.median(values))))


@dataclass(frozen=True)
class _Group:
    measure: str
    end: str  # "low" or "high"
    members: tuple[int, ...]  # indices into the feed's photos
    strength: float


def _end_group(values: np.ndarray, end: str, limit: int, smallest_gap: float
               ) -> tuple[np.ndarray, float] | None:
    """(the positions in `values` of the largest group at `end` that stands apart, its
    strength), or None. The rest always keeps at least three values and a majority."""
    order = np.argsort(values, kind="stable")
    if end == "high":
        order = order[::-1]
    best = None
    for k in range(1, limit + 1):
        group, rest = order[:k], order[k:]
        if len(rest) < max(3, k + 1):
            break
        gap = abs(float(values[rest[0]] - values[group[-1]]))
        threshold = max(OUTLIER_SPREADS * robust_spread(values[rest]), smallest_gap)
        if gap >= threshold:
            best = (group, gap / threshold)
    return best


def _numeric_groups(measure: str, values: np.ndarray, compared: np.ndarray, limit: int
                    ) -> list[_Group]:
    """The misfit groups of one measure, among the photos at `compared` (indices)."""
    if len(compared) < 4:
        return []
    values = values[compared]
    if measure in IN_STOPS:
        values = np.log2(np.maximum(values, 1e-3))
    ends = [ONLY_WORSE[measure]] if measure in ONLY_WORSE else ["low", "high"]
    found = {end: _end_group(values, end, limit, SMALLEST_GAP[measure]) for end in ends}
    found = {end: g for end, g in found.items() if g is not None}
    if sum(len(g[0]) for g in found.values()) > limit:
        # Both ends passed but together they are too many: the stronger end keeps its group,
        # the other keeps what still fits.
        strong = max(found, key=lambda end: found[end][1])
        weak = "low" if strong == "high" else "high"
        room = limit - len(found[strong][0])
        refit = _end_group(values, weak, room, SMALLEST_GAP[measure]) if room else None
        found = {strong: found[strong], **({weak: refit} if refit else {})}
    return [_Group(measure, end, tuple(int(compared[i]) for i in group), strength)
            for end, (group, strength) in found.items()]


def _to_rest(pairwise: np.ndarray) -> np.ndarray:
    """Per photo, the median of its row of a pairwise table without itself."""
    count = len(pairwise)
    return np.array([np.median(np.delete(pairwise[i], i)) for i in range(count)])


def _photo_values(photos: Sequence[PhotoReading]) -> dict[str, np.ndarray]:
    values = {
        "brightness": np.array([p.tones.brightness_ev for p in photos]),
        "contrast": np.array([p.tones.contrast for p in photos]),
        "saturation": np.array([p.tones.saturation for p in photos]),
        "temperature": np.array([p.tones.temperature_mired for p in photos]),
        "palette": _to_rest(np.array([[palette_distance(a.palette, b.palette) for b in photos]
                                      for a in photos])),
        "quality": np.array([p.quality_score for p in photos]),
    }
    if all(p.embedding is not None for p in photos):
        embeddings = np.stack([p.embedding for p in photos]).astype(np.float64)
        values["content"] = _to_rest(embeddings @ embeddings.T)
    return values


@dataclass(frozen=True)
class _Looks:
    """The feed's photos by look (indices), and which look, if any, is a misfit minority."""

    looks: tuple[str, ...]
    colour: np.ndarray
    grey: np.ndarray
    minority: str | None  # COLOUR or GREY: the misfits' look
    split: bool  # colour and black and white, each more than a minority

    @classmethod
    def of(cls, photos: Sequence[PhotoReading]) -> _Looks:
        looks = tuple(look_of(p) for p in photos)
        colour = np.array([i for i, look in enumerate(looks) if look == COLOUR], int)
        grey = np.array([i for i, look in enumerate(looks) if look == GREY], int)
        limit = most_misfits(len(photos))
        minority, split = None, False
        if len(colour) and len(grey):
            chroma = np.array([p.tones.saturation for p in photos])
            if len(grey) <= limit and len(colour) >= 3:
                # the least grey of them against the colour photos' median
                if np.median(chroma[colour]) - chroma[grey].max() >= LOOK_GAP:
                    minority = GREY
            elif len(colour) <= limit and len(grey) >= 3:
                if chroma[colour].min() - np.median(chroma[grey]) >= LOOK_GAP:
                    minority = COLOUR
            elif np.median(chroma[colour]) - np.median(chroma[grey]) >= LOOK_GAP:
                split = True
        return cls(looks, colour, grey, minority, split)


def _all_groups(photos: Sequence[PhotoReading], looks: _Looks,
                values: dict[str, np.ndarray]) -> list[_Group]:
    count = len(photos)
    limit = most_misfits(count)
    groups = []
    if looks.minority is not None:
        members = looks.grey if looks.minority == GREY else looks.colour
        chroma = values["saturation"]
        if looks.minority == GREY:
            gap = float(np.median(chroma[looks.colour]) - chroma[looks.grey].max())
        else:
            gap = float(chroma[looks.colour].min() - np.median(chroma[looks.grey]))
        groups.append(_Group("look", "low" if looks.minority == GREY else "high",
                             tuple(int(i) for i in members), gap / LOOK_GAP))
    for measure, table in values.items():
        compared = np.array(_compared(measure, looks, count), int)
        groups.extend(_numeric_groups(measure, table, compared, limit))
    # Fewer than half the feed, strongest groups first.
    kept, flagged = [], set()
    for group in sorted(groups, key=lambda g: -g.strength):
        if len(flagged | set(group.members)) < count / 2:
            kept.append(group)
            flagged |= set(group.members)
    return kept


def find_outliers(photos: Sequence[PhotoReading]) -> list[Outlier]:
    """Every (photo, measure) that breaks the feed, strongest first (module docstring)."""
    if len(photos) < 3:
        return []
    looks = _Looks.of(photos)
    values = _photo_values(photos)
    groups = _all_groups(photos, looks, values)
    values["look"] = values["saturation"]
    found = []
    for group in groups:
        flagged_here = {i for g in groups if g.measure == group.measure for i in g.members}
        compared = _compared(group.measure, looks, len(photos))
        rest = [i for i in compared if i not in flagged_here]
        if group.measure == "look":
            rest = list(looks.colour if looks.minority == GREY else looks.grey)
        others = float(np.median(values[group.measure][rest]))
        for i in group.members:
            value = float(values[group.measure][i])
            found.append(Outlier(photos[i].index, group.measure, value, others, value - others,
                                 group.strength,
                                 _outlier_text(group.measure, value, others, group.strength)))
    return sorted(found, key=lambda o: (-o.strength, o.photo))


def _compared(measure: str, looks: _Looks, count: int) -> list[int]:
    """The photos a measure compares: colour only among colour photos (a black-and-white one
    has none to compare), contrast among all but the nearly black or white."""
    if measure in ("saturation", "temperature"):
        return [int(i) for i in looks.colour]
    if measure == "contrast":
        return [i for i in range(count) if looks.looks[i] in (COLOUR, GREY)]
    return list(range(count))


# === Words ===


def _kelvin(mired: float) -> float:
    """Kelvins of a mired value, to the nearest 100 K (a white-balance slider's step)."""
    return round(1e6 / mired, -2)


_DIGITS = {"brightness": 1, "contrast": 0, "saturation": 0, "look": 0, "palette": 0,
           "quality": 1, "content": 2}


def _shown(measure: str, value: float) -> str:
    """A value of `measure` as every text shows it (one rounding per measure)."""
    if measure == "temperature":
        return f"{_kelvin(value):.0f} K"
    if measure == "brightness":
        return f"{round(value, 1) + 0.0:+.1f} EV"
    return f"{round(value, _DIGITS[measure]) + 0.0:.{_DIGITS[measure]}f}"


def _shown_gap(measure: str, value: float, others: float) -> float:
    """|value - others| as the difference of the two shown numbers."""
    if measure == "temperature":
        return abs(_kelvin(value) - _kelvin(others))
    digits = _DIGITS[measure]
    return abs(round(value, digits) - round(others, digits))


def _outlier_text(measure: str, value: float, others: float, strength: float) -> str:
    much = "much " if strength >= 2 else ""
    above = value > others
    against = f"({{}} against a median of {_shown(measure, others)})"
    if measure == "brightness":
        return (f"{_shown_gap(measure, value, others):.1f} EV "
                f"{'brighter' if above else 'darker'} than the rest "
                + against.format(_shown(measure, value)))
    if measure == "temperature":
        return (f"{much}{'warmer' if above else 'cooler'} than the rest "
                + against.format(_shown(measure, value)))
    if measure == "saturation":
        return (f"{much}{'more' if above else 'less'} saturated than the rest "
                + against.format(f"chroma {_shown(measure, value)}"))
    if measure == "look":
        return (f"{'in colour' if above else 'black and white'} while the rest are "
                f"{'black and white' if above else 'in colour'} (chroma "
                f"{_shown(measure, value)} against a median of {_shown(measure, others)})")
    if measure == "contrast":
        return (f"{much}{'more contrasty' if above else 'flatter'} than the rest "
                + against.format(f"L* spread {_shown(measure, value)}"))
    if measure == "palette":
        return (f"{much}further from the others' colours than they are from each other "
                + against.format(f"Delta E {_shown(measure, value)}"))
    if measure == "quality":
        return (f"{much}lower technical quality than the rest "
                + against.format(f"{_shown(measure, value)} / 10"))
    return (f"{much}less like the others in content than they are like each other (CLIP "
            f"similarity {_shown(measure, value)} against a median of "
            f"{_shown(measure, others)})")


def _photo_list(photos: Sequence[int]) -> str:
    names = [str(p) for p in photos]
    if len(names) == 1:
        return f"Photo {names[0]}"
    return f"Photos {', '.join(names[:-1])} and {names[-1]}"


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def recommend(photos: Sequence[PhotoReading], outliers: Sequence[Outlier],
              measures: Sequence[FeedMeasure]) -> list[Recommendation]:
    """Concrete changes, each naming its misfits and the measured amount (module docstring)."""
    by_number = {p.index: p for p in photos}
    groups: dict[tuple[str, bool], list[Outlier]] = {}
    for outlier in outliers:
        groups.setdefault((outlier.measure, outlier.gap > 0), []).append(outlier)
    advice = []
    told_to_choose: set[int] = set()  # photos already told to choose one look
    for (measure, above), members in sorted(groups.items(),
                                            key=lambda item: -max(o.strength
                                                                  for o in item[1])):
        members = sorted(members, key=lambda o: o.photo)
        numbers = tuple(o.photo for o in members)
        text = _group_text(measure, above, members, photos, by_number)
        if CHOOSE_ONE_LOOK in text:
            if set(numbers) <= told_to_choose:
                continue  # the same photos, the same choice: said once
            told_to_choose |= set(numbers)
        advice.append(Recommendation(numbers, measure, text))
    looks = _Looks.of(photos)
    if looks.split:
        advice.append(Recommendation((), "look", _split_text(photos, looks)))
    advice.extend(_uneven_tones(photos, outliers, measures, looks))
    ran56 = [p for p in photos if p.fits_good_feed is not None
             and p.fits_good_feed < FITS_GOOD_FEED_LINE]
    if ran56:
        numbers = tuple(p.index for p in ran56)
        advice.append(Recommendation(numbers, "ran56", (
            f"{_photo_list(numbers)}: RAN-56 gives "
            + ", ".join(f"{p.fits_good_feed:.0%}" for p in ran56)
            + " as the chance of fitting a good feed; its Grad-CAM shows what it looked at.")))
    if not advice:
        advice.append(Recommendation((), "none", _nothing_stands_out(photos, looks)))
    return advice


def _group_text(measure: str, above: bool, members: Sequence[Outlier],
                photos: Sequence[PhotoReading], by_number: dict) -> str:
    numbers = [o.photo for o in members]
    who = _photo_list(numbers)
    plural = len(members) > 1
    are, their, them = ("are", "their", "them") if plural else ("is", "its", "it")
    others = members[0].others  # one median of the rest per measure
    values = _and([_shown(measure, o.value) for o in members])
    median = _shown(measure, others)
    if measure == "look":
        if above:
            return (f"{who} {are} in colour (chroma {values}) while the rest of the feed is "
                    f"black and white: choose one look for the grid, black and white or "
                    f"colour, and keep every photo to it.")
        return (f"{who} {are} black and white while the rest of the feed is in colour "
                f"(median chroma {median}): choose one look for the grid; replace {them} "
                f"with a colour photo, or move {them} out.")
    degenerate = _degenerate(measure, others)
    if measure == "palette":
        # the rest's palette is a target too: not when the rest are black and white, or black
        rest = [look_of(p) for p in photos if p.index not in numbers]
        common = max(set(rest), key=rest.count)
        degenerate = None if common == COLOUR else common
    if degenerate is not None:
        # The rest sit at a look of their own: no amount to aim at, only a choice to make.
        amount = "" if measure == "palette" else f" ({median})"
        return (f"{who} {'stand' if plural else 'stands'} apart from the rest, which are "
                f"{degenerate}{amount}: {CHOOSE_ONE_LOOK} for the grid and keep every photo "
                f"to it.")
    gaps = _and([f"{_shown_gap(measure, o.value, others):.{_gap_digits(measure)}f}"
                 for o in members])
    if measure == "brightness":
        return (f"{who} {are} {'brighter' if above else 'darker'} than the rest ({values} "
                f"against a median of {median}): {'lower' if above else 'raise'} {their} "
                f"exposure toward {median}, by about {gaps} EV.")
    if measure == "temperature":
        return (f"{who} {are} {'warmer' if above else 'cooler'} than the rest ({values} "
                f"against a median of {median}): {'cool' if above else 'warm'} {their} "
                f"white balance toward {median}.")
    if measure == "saturation":
        return (f"{who} {are} {'more' if above else 'less'} saturated than the rest (chroma "
                f"{values} against a median of {median}): {'lower' if above else 'raise'} "
                f"{their} saturation toward chroma {median}.")
    if measure == "contrast":
        return (f"{who} {are} {'more contrasty' if above else 'flatter'} than the rest (L* "
                f"spread {values} against a median of {median}): "
                f"{'soften' if above else 'add'} contrast{'' if above else ' to ' + them}.")
    if measure == "palette":
        colours = ", ".join(by_number[numbers[0]].palette.hex_codes()[:2])
        feed = ", ".join(feed_palette_hex(photos, exclude=numbers))
        return (f"{who}'s colours ({colours}{' and others' if plural else ''}) are far from "
                f"the rest of the feed (Delta E {values} against a median of {median}): grade "
                f"{them} toward the feed's palette ({feed}), or move {them} out of the grid.")
    if measure == "quality":
        worst = min(members, key=lambda o: o.value)
        return (f"{who} {'score' if plural else 'scores'} lowest for technical quality "
                f"({values} / 10 against a median of {median}; photo {worst.photo}'s BRISQUE "
                f"is {by_number[worst.photo].brisque:.0f}, where lower is better): reshoot "
                f"{them} sharper and cleaner, or replace {them}.")
    return (f"{who} {'show' if plural else 'shows'} something other than the rest (CLIP "
            f"similarity {values} to the others, against a median of {median} among them): "
            f"keep the grid to one theme, or move {them} out.")


def _gap_digits(measure: str) -> int:
    return 0 if measure == "temperature" else _DIGITS[measure]


def _split_text(photos: Sequence[PhotoReading], looks: _Looks) -> str:
    colour = [str(photos[i].index) for i in looks.colour]
    return (f"The feed is split between two looks: {len(colour)} photos in colour "
            f"(photos {_and(colour)}) and {len(looks.grey)} in black and white: choose one "
            f"look for the whole grid.")


_TONE_WORDS = {"brightness_spread": ("brightness", "exposure"),
               "temperature_spread": ("temperature", "white balance"),
               "saturation_spread": ("saturation", "saturation"),
               "contrast_spread": ("contrast", "contrast")}


def _uneven_tones(photos, outliers, measures, looks: _Looks) -> list[Recommendation]:
    """A tone that varies across the whole feed, with no misfit to blame: no photo named."""
    blamed = {o.measure for o in outliers}
    if "look" in blamed or looks.split:
        blamed |= {"saturation", "temperature"}  # the look says it already
    advice = []
    tones = {"brightness": [p.tones.brightness_ev for p in photos],
             "contrast": [p.tones.contrast for p in photos],
             "saturation": [p.tones.saturation for p in photos],
             "temperature": [p.tones.temperature_mired for p in photos]}
    for measure in measures:
        if measure.key not in _TONE_WORDS or measure.score >= UNEVEN_SPREAD_SCORE:
            continue
        name, setting = _TONE_WORDS[measure.key]
        if name in blamed:
            continue
        values = np.array(tones[name])[_compared(name, looks, len(photos))]
        if len(values) < 2:
            continue
        low, high = _shown(name, float(values.min())), _shown(name, float(values.max()))
        if name == "temperature":  # warmest (most mireds) to coolest, in kelvins
            low, high = high, low
        advice.append(Recommendation((), name, (
            f"{name.capitalize()} varies across the whole feed ({measure.reading}: spread "
            f"{measure.shown_value()}, from {low} to {high}) with no single photo to blame: "
            f"settle on one {setting} for the whole grid.")))
    return advice


def _nothing_stands_out(photos: Sequence[PhotoReading], looks: _Looks) -> str:
    ev = np.array([p.tones.brightness_ev for p in photos])
    gaps = [palette_distance(a.palette, b.palette) for i, a in enumerate(photos)
            for b in photos[i + 1:]]
    light = (f"every photo is within {np.abs(ev - np.median(ev)).max():.1f} EV of the median "
             "brightness")
    if len(looks.colour) >= 2:
        mired = np.array([photos[i].tones.temperature_mired for i in looks.colour])
        light += (f" and {np.abs(mired - np.median(mired)).max():.0f} mireds of the median "
                  "white balance")
    return (f"Nothing stands out: {light}, and no two palettes are more than Delta E "
            f"{max(gaps):.0f} apart. Keep shooting and editing this way.")


def feed_palette_hex(photos: Sequence[PhotoReading], exclude: Sequence[int] = (),
                     size: int = 3) -> list[str]:
    """The feed's own dominant colours (hex), from every photo's palette except `exclude`
    (photo numbers): the colours with the largest summed share after merging those within
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
