"""A feed's measures, its visual-concept score, and the score's Shapley breakdowns.

**The measures.** Each is computed from the photos' own measures (`PhotoReading`), has a unit
and a score in [0, 1] (1 = holds together perfectly), and belongs to one group:

- palette: *palette distance*, the mean over pairs of photos of `palette_distance`
  (Delta E); score exp(-value / 20);
- tone: *brightness spread*, the standard deviation of the photos' brightness (EV), score
  exp(-value / 0.75); *contrast spread* (L* units), exp(-value / 8); *saturation spread*
  (C*ab), exp(-value / 10); *temperature spread* (mireds), exp(-value / 30);
- content: *content cohesion*, the mean over pairs of the cosine of their CLIP embeddings;
  score (value - 0.5) / 0.4, clipped to [0, 1];
- quality: *quality floor*, the lowest technical quality in the feed (1-10); score
  (value - 1) / 9.

A group's score is the mean of its measures' scores. The scales are where a spread starts to
show in a grid: a 0.75 EV spread is a visible step between neighbouring tiles, 30 mireds is
about the gap between daylight and shade.

**The visual-concept score** runs from 0 to 100:

    score = 100 x sum(weight[g] x group score[g]) / sum(weight[g]),

over the groups present, with weights palette 0.3, tone 0.3, content 0.2, quality 0.2. Content
needs CLIP's embeddings; without the CLIP weights the group is left out and the others keep
their relative weights.

**Baseline.** A feed that shows no evidence either way scores `BASELINE` = 50: every group
at 0.5. A concept needs at least two photos, so a feed of fewer than two scores the baseline.

**Shapley breakdowns** (Shapley 1953), with the score as the game:

- by measure group: the players are the groups; a coalition keeps its groups' scores and puts
  the others at 0.5. The score is linear in the group scores, so each group's value is exactly
  100 x weight x (its score - 0.5) / the weights' sum;
- by photo: the players are the photos; a coalition's value is the score of the feed made of
  only those photos, in their order (the baseline for fewer than two). A photo's value is how
  much it raises or lowers the score, averaged over every order in which the feed could have
  been assembled. Up to `EXACT_PLAYERS` photos every coalition is scored (exact values);
  above, `SAMPLED_PERMUTATIONS` random orders (in antithetic pairs: each order and its
  reverse) are, seeded.

Either way the values sum to the score minus the baseline: each sampled order's marginal
contributions add up to exactly that.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from models.profile.measures import Palette, Tones, palette_distance

BASELINE = 50.0
GROUP_WEIGHTS = {"palette": 0.3, "tone": 0.3, "content": 0.2, "quality": 0.2}
GROUP_LABELS = {"palette": "palette", "tone": "tones (light and colour)",
                "content": "content (CLIP)", "quality": "technical quality"}
EXACT_PLAYERS = 12
"""Photos up to which the by-photo Shapley values are exact (2^12 = 4096 coalitions)."""
SAMPLED_PERMUTATIONS = 256
"""Orders of the photos sampled above `EXACT_PLAYERS` (128 antithetic pairs)."""


@dataclass(frozen=True)
class PhotoReading:
    """What `check` measured in one photo of the feed.

    Attributes:
        index: its number: its position in the feed as uploaded, from 1 (an unreadable photo
            before it still counts, so numbers may skip).
        name: its file name, or "photo N".
        image: uint8 H x W x 3, the judged copy (longest side at most 512).
        palette: its dominant colours (`models.profile.measures.palette`).
        tones: brightness, contrast, saturation, temperature.
        quality: technical quality in [0, 1] (BRISQUE through models.aesthetic).
        brisque: the BRISQUE score itself (lower is better; LIVE's scale runs about 0 to 100,
            and a photo may score below 0 or above 100).
        content: content aesthetics in [0, 1] from models.aesthetic, or None without CLIP.
        embedding: unit-length CLIP image embedding, or None without CLIP.
        fits_good_feed: RAN-56's probability that the photo fits a good feed, or None when
            no trained RAN-56 is named in the manifest.
    """

    index: int
    name: str
    image: np.ndarray
    palette: Palette
    tones: Tones
    quality: float
    brisque: float
    content: float | None = None
    embedding: np.ndarray | None = None
    fits_good_feed: float | None = None

    @property
    def quality_score(self) -> float:
        """Technical quality on the Aesthetic tab's 1-10 scale."""
        return 1 + 9 * self.quality


@dataclass(frozen=True)
class FeedMeasure:
    """One measure of the whole feed.

    Attributes:
        key: e.g. "brightness_spread".
        label: e.g. "brightness spread".
        group: "palette", "tone", "content" or "quality".
        value: in `unit`.
        unit: e.g. "EV".
        score: in [0, 1], 1 = holds together.
        reading: what the value means, in plain words.
    """

    key: str
    label: str
    group: str
    value: float
    unit: str
    score: float
    reading: str

    def shown_value(self) -> str:
        digits = 2 if self.unit in ("EV", "cosine") else 1
        return f"{self.value:.{digits}f} {self.unit}"


# The measures' score curves, shared by `FeedTables.measures` (one feed, with readings) and
# `FeedTables.scores` (thousands of sub-feeds at once), so that the two cannot drift apart.
TONE_SCALES = {"brightness_spread": 0.75, "contrast_spread": 8.0, "saturation_spread": 10.0,
               "temperature_spread": 30.0}


def palette_score(distance):
    return np.exp(-np.asarray(distance, np.float64) / 20)


def tone_score(key: str, spread):
    return np.exp(-np.asarray(spread, np.float64) / TONE_SCALES[key])


def cohesion_score(cosine):
    return np.clip((np.asarray(cosine, np.float64) - 0.5) / 0.4, 0, 1)


def floor_score(floor):
    return (np.asarray(floor, np.float64) - 1) / 9


def _reading(value: float, steps: Sequence[tuple[float, str]], last: str) -> str:
    for bound, words in steps:
        if value < bound:
            return words
    return last


class FeedTables:
    """The photos' measures as arrays and pairwise tables, so that the score of any sub-feed
    (a coalition) costs microseconds: the Shapley breakdown by photo scores thousands."""

    def __init__(self, photos: Sequence[PhotoReading]):
        self.count = len(photos)
        self.brightness = np.array([p.tones.brightness_ev for p in photos])
        self.contrast = np.array([p.tones.contrast for p in photos])
        self.saturation = np.array([p.tones.saturation for p in photos])
        self.mired = np.array([p.tones.temperature_mired for p in photos])
        self.quality = np.array([p.quality for p in photos])
        self.palette_gaps = np.array([[palette_distance(a.palette, b.palette) for b in photos]
                                      for a in photos]).reshape(self.count, self.count)
        embeddings = [p.embedding for p in photos]
        self.cosines = None
        if photos and all(e is not None for e in embeddings):
            stacked = np.stack(embeddings).astype(np.float64)
            self.cosines = stacked @ stacked.T

    @property
    def has_content(self) -> bool:
        return self.cosines is not None

    def measures(self, members: Sequence[int] | None = None) -> list[FeedMeasure]:
        """The feed measures of the photos at `members` (0-based; default all), at least 2."""
        members = np.arange(self.count) if members is None else np.asarray(members, int)
        if len(members) < 2:
            raise ValueError("A feed's measures need at least two photos.")
        pairs = np.triu_indices(len(members), k=1)
        palette_value = float(self.palette_gaps[np.ix_(members, members)][pairs].mean())
        result = [FeedMeasure(
            "palette_distance", "palette distance", "palette", palette_value, "Delta E",
            float(palette_score(palette_value)),
            _reading(palette_value, [(10, "one shared palette"), (20, "related palettes"),
                                     (30, "loosely related palettes")],
                     "palettes that do not match"))]
        for key, label, values, unit, steps, last in (
            ("brightness_spread", "brightness spread", self.brightness, "EV",
             [(0.3, "even exposure"), (0.7, "slightly uneven exposure"),
              (1.2, "uneven exposure")], "very uneven exposure"),
            ("contrast_spread", "contrast spread", self.contrast, "L*",
             [(4, "consistent contrast"), (8, "somewhat varied contrast")], "varied contrast"),
            ("saturation_spread", "saturation spread", self.saturation, "C*",
             [(5, "consistent saturation"), (10, "somewhat varied saturation")],
             "varied saturation"),
            ("temperature_spread", "temperature spread", self.mired, "mired",
             [(15, "one white balance"), (35, "somewhat mixed white balance")],
             "mixed warm and cool photos"),
        ):
            spread = float(values[members].std())
            result.append(FeedMeasure(key, label, "tone", spread, unit,
                                      float(tone_score(key, spread)),
                                      _reading(spread, steps, last)))
        if self.cosines is not None:
            cohesion = float(self.cosines[np.ix_(members, members)][pairs].mean())
            result.append(FeedMeasure(
                "content_cohesion", "content cohesion", "content", cohesion, "cosine",
                float(cohesion_score(cohesion)),
                _reading(cohesion, [(0.65, "unrelated subjects"), (0.8, "related subjects")],
                         "one subject or theme")))
        floor = float(1 + 9 * self.quality[members].min())
        result.append(FeedMeasure(
            "quality_floor", "quality floor", "quality", floor, "/ 10", float(floor_score(floor)),
            _reading(floor, [(5, "at least one technically poor photo"),
                             (7, "the weakest photo is fair")],
                     "every photo is technically sound")))
        return result

    def score(self, members: Sequence[int] | None = None) -> float:
        """The visual-concept score (0-100) of the photos at `members` (default all); the
        baseline for fewer than two."""
        if members is not None and len(members) < 2:
            return BASELINE
        return concept_score(group_scores(self.measures(members)))

    def scores(self, coalitions: np.ndarray) -> np.ndarray:
        """The scores of many sub-feeds at once: `coalitions` is a boolean K x count matrix
        (row k keeps the photos where it is True). Equal to `score` row by row, computed with
        array arithmetic instead of one Python call a row, because the by-photo Shapley
        values need 4,096 (12 photos) to 7,936 (30 photos) of them."""
        kept = np.asarray(coalitions, bool).reshape(-1, self.count)
        weights = kept.astype(np.float64)
        sizes = weights.sum(axis=1)
        many = sizes >= 2
        safe_sizes = np.where(many, sizes, 2.0)
        pairs = safe_sizes * (safe_sizes - 1) / 2

        def mean_over_pairs(table: np.ndarray) -> np.ndarray:
            # i < j, both kept: the upper triangle seen through each row's mask
            upper = np.triu(table, k=1)
            return np.einsum("ki,ij,kj->k", weights, upper, weights) / pairs

        def spread(values: np.ndarray) -> np.ndarray:  # population standard deviation
            mean = weights @ values / safe_sizes
            return np.sqrt((weights * (values[None] - mean[:, None]) ** 2).sum(1) / safe_sizes)

        groups = {
            "palette": palette_score(mean_over_pairs(self.palette_gaps)),
            "tone": np.mean([tone_score(key, spread(values)) for key, values in (
                ("brightness_spread", self.brightness), ("contrast_spread", self.contrast),
                ("saturation_spread", self.saturation), ("temperature_spread", self.mired),
            )], axis=0),
        }
        if self.cosines is not None:
            groups["content"] = cohesion_score(mean_over_pairs(self.cosines))
        lowest = np.where(kept, self.quality[None], np.inf).min(axis=1)
        groups["quality"] = floor_score(1 + 9 * np.where(many, lowest, 0.0))
        total = sum(GROUP_WEIGHTS[g] for g in groups)
        combined = 100.0 * sum(GROUP_WEIGHTS[g] * groups[g] for g in groups) / total
        return np.where(many, combined, BASELINE)


def group_scores(measures: Sequence[FeedMeasure]) -> dict[str, float]:
    """Each group's score: the mean of its measures' scores, groups in GROUP_WEIGHTS' order."""
    groups: dict[str, list[float]] = {}
    for measure in measures:
        groups.setdefault(measure.group, []).append(measure.score)
    return {g: float(np.mean(groups[g])) for g in GROUP_WEIGHTS if g in groups}


def concept_score(groups: dict[str, float]) -> float:
    """100 x the weighted mean of the group scores present."""
    total = sum(GROUP_WEIGHTS[g] for g in groups)
    return 100.0 * sum(GROUP_WEIGHTS[g] * s for g, s in groups.items()) / total


def shapley_by_group(groups: dict[str, float]) -> dict[str, float]:
    """Each group's Shapley value: a coalition keeps its groups' scores, the rest sit at 0.5
    (so the empty coalition is the baseline)."""
    names = list(groups)

    def value(members: Sequence[int]) -> float:
        kept = set(members)
        return concept_score({g: (groups[g] if i in kept else 0.5)
                              for i, g in enumerate(names)})

    values, _ = shapley_values(len(names), value)
    return dict(zip(names, values.tolist(), strict=True))


def shapley_values(players: int, value: Callable, *, batched: bool = False,
                   exact_up_to: int = EXACT_PLAYERS, permutations: int = SAMPLED_PERMUTATIONS,
                   seed: int = 0) -> tuple[np.ndarray, bool]:
    """Shapley values of a game with `players` players.

    Args:
        value: v(coalition) for a sorted sequence of player indices (0-based); or, with
            `batched`, the values of many coalitions at once, given as a boolean K x players
            matrix, returned as K numbers.
        exact_up_to: up to this many players, every coalition is valued: phi_i = sum over S
            not holding i of |S|! (n - |S| - 1)! / n! x (v(S + i) - v(S)).
        permutations: above it, this many random orders (rounded up to even: each order and
            its reverse), each player's value its mean marginal contribution.
        seed: the orders' seed.

    Returns:
        (values, exact): values sum to v(all) - v(none) either way.
    """
    if players == 0:
        return np.zeros(0), True

    def worth_of(coalitions: np.ndarray) -> np.ndarray:
        if batched:
            return np.asarray(value(coalitions), np.float64).reshape(len(coalitions))
        return np.array([value(np.flatnonzero(row).tolist()) for row in coalitions],
                        np.float64)

    if players <= exact_up_to:
        masks = np.arange(1 << players)
        worth = worth_of((masks[:, None] >> np.arange(players) & 1).astype(bool))
        sizes = np.array([bin(mask).count("1") for mask in masks])
        weights = np.array([math.factorial(s) * math.factorial(players - s - 1)
                            for s in range(players)], np.float64) / math.factorial(players)
        values = np.zeros(players)
        for i in range(players):
            without = masks[(masks >> i & 1) == 0]
            values[i] = (weights[sizes[without]] * (worth[without | 1 << i] - worth[without])
                         ).sum()
        return values, True
    rng = np.random.default_rng(seed)
    orders = []
    for _ in range((permutations + 1) // 2):
        order = rng.permutation(players)
        orders += [order, order[::-1]]
    orders = np.array(orders)
    # Row t of an order's block holds its first t players: the coalition before the t-th joins.
    ranks = np.argsort(orders, axis=1)  # where each player comes in each order
    prefixes = ranks[:, None, :] < np.arange(players + 1)[None, :, None]
    worth = worth_of(prefixes.reshape(-1, players)).reshape(len(orders), players + 1)
    marginals = np.diff(worth, axis=1)  # column t: what orders[:, t] added
    totals = np.zeros(players)
    np.add.at(totals, orders, marginals)
    return totals / len(orders), False
