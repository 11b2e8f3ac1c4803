"""The InstaModel pair dataset: photos by site and pose, turned into labelled pairs.

The InstaModel research scraped 355 Instagram photos of 14 sites (Big Ben, the Sphinx, the
Colosseum, ...). Each site folder holds one folder per pose, with several photos of people
striking that pose there, plus `_zz`, photos of the site with nobody in front::

    DIR/SITE/POSE/*.jpg      people posing at the site, one folder per pose
    DIR/SITE/_zz/*.jpg       the site alone

A Siamese network learns from pairs. A positive pair shows the same pose at the same site. The
research generated about as many negative pairs as positive ones, to keep the set balanced
(363 + 44 positive and 369 + 38 negative pairs), and split the pairs 90/10 into training and
validation. The negatives here mix three kinds, in equal shares where the photos allow:

- the same site, a different pose (the background matches, the pose does not);
- a different site (usually both differ);
- the site alone (`_zz`) against a person at that site (same place, no pose at all).

Only numpy and Pillow are imported here; the training CLI builds Keras inputs from these pairs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
from PIL import Image

from models.images import load_image

__all__ = [
    "DIFFERENT_SITE",
    "EXPECTED_LAYOUT",
    "NEGATIVE_KINDS",
    "SAME_POSE",
    "SAME_SITE_OTHER_POSE",
    "SITE_ONLY",
    "SITE_ONLY_FOLDER",
    "DatasetLayoutError",
    "PairSplit",
    "Photo",
    "PhotoPair",
    "PoseDataset",
    "build_pairs",
    "load_photos",
    "make_pair_split",
    "pair_counts_text",
    "scan_pose_dataset",
    "split_pairs",
]

SITE_ONLY_FOLDER = "_zz"
"""The folder, inside each site, of photos of the site with nobody posing."""

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
EXPECTED_LAYOUT = f"DIR/SITE/POSE/*.jpg, plus DIR/SITE/{SITE_ONLY_FOLDER}/*.jpg for the site alone"

# Pair kinds.
SAME_POSE = "same site, same pose"
SAME_SITE_OTHER_POSE = "same site, different pose"
DIFFERENT_SITE = "different site"
SITE_ONLY = "site alone vs person"
NEGATIVE_KINDS = (SAME_SITE_OTHER_POSE, DIFFERENT_SITE, SITE_ONLY)

VALIDATION_FRACTION = 0.1  # the research's 90/10 split


class DatasetLayoutError(ValueError):
    """The data folder is missing or not laid out as DIR/SITE/POSE/*.jpg; one-line message."""


@dataclass(frozen=True, order=True)
class Photo:
    """One photo of the dataset.

    Attributes:
        path: the file.
        site: the site folder's name.
        pose: the pose folder's name, or None for a photo of the site alone (`_zz`).
    """

    path: Path
    site: str
    pose: str | None

    @property
    def has_person(self) -> bool:
        return self.pose is not None


@dataclass(frozen=True)
class PhotoPair:
    """Two photos and whether they show the same pose at the same site.

    Attributes:
        a, b: the photos (their order carries no meaning; it is shuffled when pairs are built).
        same: the label.
        kind: SAME_POSE for positives, one of NEGATIVE_KINDS for negatives.
    """

    a: Photo
    b: Photo
    same: bool
    kind: str

    @property
    def key(self) -> frozenset[Path]:
        """The unordered pair of files: (a, b) and (b, a) are the same pair."""
        return frozenset((self.a.path, self.b.path))


@dataclass(frozen=True)
class PoseDataset:
    """The photos found under a data folder.

    Attributes:
        root: the data folder.
        photos: every photo, sorted by path (people and site-alone photos).
    """

    root: Path
    photos: tuple[Photo, ...]

    @property
    def sites(self) -> tuple[str, ...]:
        return tuple(sorted({photo.site for photo in self.photos}))

    def groups(self) -> dict[tuple[str, str], list[Photo]]:
        """(site, pose) -> its photos, for photos with a person."""
        grouped: dict[tuple[str, str], list[Photo]] = defaultdict(list)
        for photo in self.photos:
            if photo.has_person:
                grouped[(photo.site, photo.pose)].append(photo)
        return dict(sorted(grouped.items()))

    def site_only(self) -> dict[str, list[Photo]]:
        """site -> its photos without people (from `_zz`)."""
        grouped: dict[str, list[Photo]] = defaultdict(list)
        for photo in self.photos:
            if not photo.has_person:
                grouped[photo.site].append(photo)
        return dict(sorted(grouped.items()))


@dataclass(frozen=True)
class PairSplit:
    """Training and validation pairs.

    Attributes:
        train, validation: the pairs; no unordered pair is in both.
    """

    train: tuple[PhotoPair, ...]
    validation: tuple[PhotoPair, ...]

    def counts(self) -> dict[str, dict[str, int]]:
        """{"train": {"positive": n, "negative": m}, "validation": {...}}, like the research's
        pair table."""
        return {
            name: {"positive": sum(p.same for p in pairs),
                   "negative": sum(not p.same for p in pairs)}
            for name, pairs in (("train", self.train), ("validation", self.validation))
        }


# === Scanning the folder ===


def _photos_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES
                  and not p.name.startswith("."))


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def scan_pose_dataset(root: str | Path) -> PoseDataset:
    """Find the photos of a folder laid out as DIR/SITE/POSE/*.jpg (+ DIR/SITE/_zz/*.jpg).

    Files are not opened here; a photo that turns out unreadable fails when it is loaded.

    Args:
        root: the data folder.

    Returns:
        The PoseDataset.

    Raises:
        DatasetLayoutError: the folder is missing, or too little of it follows the layout to
            make both positive and negative pairs. The message is one line naming the layout.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetLayoutError(
            f"Data folder {root} does not exist or is not a folder; expected {EXPECTED_LAYOUT}."
        )
    photos = []
    for site in _subfolders(root):
        for pose in _subfolders(site):
            label = None if pose.name == SITE_ONLY_FOLDER else pose.name
            photos.extend(Photo(path, site.name, label) for path in _photos_in(pose))
    dataset = PoseDataset(root, tuple(sorted(photos)))

    groups = dataset.groups()
    if not any(len(members) >= 2 for members in groups.values()):
        raise DatasetLayoutError(
            f"No pose folder under {root} has two photos or more, so there is no positive pair; "
            f"expected {EXPECTED_LAYOUT}."
        )
    has_negative = (len(groups) >= 2  # two poses, at one site or at two
                    or any(site in dataset.site_only() for site, _ in groups))
    if not has_negative:
        raise DatasetLayoutError(
            f"{root} has a single pose folder and no {SITE_ONLY_FOLDER} photos of its site, so "
            f"there is no negative pair; expected {EXPECTED_LAYOUT}."
        )
    return dataset


# === Pairs ===


def _candidate_negatives(dataset: PoseDataset) -> dict[str, list[tuple[Photo, Photo]]]:
    """Every possible negative pair of each kind."""
    people = [photo for photo in dataset.photos if photo.has_person]
    candidates: dict[str, list[tuple[Photo, Photo]]] = {kind: [] for kind in NEGATIVE_KINDS}
    for first, second in combinations(people, 2):
        if first.site != second.site:
            candidates[DIFFERENT_SITE].append((first, second))
        elif first.pose != second.pose:
            candidates[SAME_SITE_OTHER_POSE].append((first, second))
    site_only = dataset.site_only()
    for person in people:
        for empty in site_only.get(person.site, ()):
            candidates[SITE_ONLY].append((empty, person))
    return candidates


def _shares(wanted: int, available: dict[str, int]) -> dict[str, int]:
    """Split `wanted` negatives as evenly as the kinds' supplies allow.

    Kinds that run short give their unused share to the others, so the total reaches `wanted`
    whenever the kinds together have that many.
    """
    shares = dict.fromkeys(available, 0)
    remaining = wanted
    open_kinds = [kind for kind in available if available[kind] > 0]
    while remaining > 0 and open_kinds:
        each, extra = divmod(remaining, len(open_kinds))
        for position, kind in enumerate(open_kinds):
            give = min(each + (1 if position < extra else 0), available[kind] - shares[kind])
            shares[kind] += give
            remaining -= give
        open_kinds = [kind for kind in open_kinds if shares[kind] < available[kind]]
    return shares


def build_pairs(dataset: PoseDataset, seed: int = 0) -> tuple[PhotoPair, ...]:
    """Balanced positive and negative pairs, as the research prepared them for its Siamese nets.

    Every two photos of one pose folder make a positive pair. As many negatives are sampled
    (fewer only when the photos cannot supply them), spread evenly over the three negative
    kinds where each kind has enough candidates. Which photo is `a` is drawn at random, so the
    network cannot learn a position habit.

    Args:
        dataset: from `scan_pose_dataset`.
        seed: the same seed gives the same pairs in the same order.

    Returns:
        The pairs, positives and negatives shuffled together.
    """
    rng = np.random.default_rng(seed)
    positives = [
        (first, second)
        for members in dataset.groups().values()
        for first, second in combinations(members, 2)
    ]
    candidates = _candidate_negatives(dataset)
    shares = _shares(len(positives), {kind: len(pool) for kind, pool in candidates.items()})

    labelled: list[tuple[Photo, Photo, bool, str]] = [(a, b, True, SAME_POSE)
                                                      for a, b in positives]
    for kind in NEGATIVE_KINDS:
        pool = candidates[kind]
        for index in sorted(rng.choice(len(pool), size=shares[kind], replace=False)):
            first, second = pool[index]
            labelled.append((first, second, False, kind))

    swaps = rng.random(len(labelled)) < 0.5
    order = rng.permutation(len(labelled))
    pairs = []
    for index in order:
        first, second, same, kind = labelled[index]
        if swaps[index]:
            first, second = second, first
        pairs.append(PhotoPair(first, second, same, kind))
    return tuple(pairs)


def split_pairs(pairs: tuple[PhotoPair, ...] | list[PhotoPair],
                validation_fraction: float = VALIDATION_FRACTION, seed: int = 0) -> PairSplit:
    """Split pairs into training and validation, stratified by label (the research: 90/10).

    The split is by pair, as in the research, so a photo may appear in a training pair and in
    a validation pair; no pair is in both. Each label gives round(fraction * its count) pairs
    to validation (at least one when it has two or more), so both sides stay balanced.

    Args:
        pairs: from `build_pairs`.
        validation_fraction: share of each label's pairs held out, in (0, 1).
        seed: the same seed gives the same split.

    Returns:
        A PairSplit, each side in the input's order.

    Raises:
        ValueError: the fraction is outside (0, 1), or a pair appears twice.
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    if len({pair.key for pair in pairs}) != len(pairs):
        raise ValueError("a pair appears twice; validation would leak into training")
    rng = np.random.default_rng(seed)
    held_out: set[int] = set()
    for label in (True, False):
        indices = [i for i, pair in enumerate(pairs) if pair.same == label]
        count = round(validation_fraction * len(indices))
        if len(indices) >= 2:
            count = min(max(count, 1), len(indices) - 1)
        held_out.update(int(i) for i in rng.permutation(indices)[:count])
    train = tuple(pair for i, pair in enumerate(pairs) if i not in held_out)
    validation = tuple(pair for i, pair in enumerate(pairs) if i in held_out)
    return PairSplit(train, validation)


def make_pair_split(root: str | Path, seed: int = 0,
                    validation_fraction: float = VALIDATION_FRACTION) -> PairSplit:
    """`scan_pose_dataset`, `build_pairs` and `split_pairs` in one call."""
    dataset = scan_pose_dataset(root)
    return split_pairs(build_pairs(dataset, seed), validation_fraction, seed)


# === Pixels ===


def load_photos(photos, size: int) -> np.ndarray:
    """Load photos through `load_image` and resize each to a size x size square.

    The research resized every photo to 224 x 224 without cropping; so does this (a crop could
    cut off the pose or the landmark the pair is about).

    Args:
        photos: Photo objects or paths.
        size: side of the square.

    Returns:
        uint8 (N, size, size, 3).

    Raises:
        models.images.InvalidImage: a file is not a usable photo; the message names the file.
    """
    from models.images import InvalidImage

    batch = np.empty((len(photos), size, size, 3), np.uint8)
    for index, photo in enumerate(photos):
        path = photo.path if isinstance(photo, Photo) else Path(photo)
        try:
            pixels = load_image(path)
        except InvalidImage as error:
            raise InvalidImage(f"{path}: {error.reason}") from error
        batch[index] = np.asarray(
            Image.fromarray(pixels).resize((size, size), Image.Resampling.BILINEAR)
        )
    return batch


def pair_counts_text(split: PairSplit) -> str:
    """Pair counts in one line, e.g. "train 363 positive / 369 negative, validation 44 ..."."""
    counts = split.counts()
    return ", ".join(
        f"{name} {counts[name]['positive']} positive / {counts[name]['negative']} negative"
        for name in ("train", "validation")
    )
