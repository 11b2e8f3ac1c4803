"""The InstaModel pair dataset: photos by site and pose, turned into labelled pairs.

The InstaModel research scraped 355 Instagram photos of 14 sites (Big Ben, the Sphinx, the
Colosseum, ...). Each site folder holds one folder per pose, with several photos of people
striking that pose there, plus `_zz`, photos of the site with nobody in front::

    DIR/SITE/POSE/*.jpg      people posing at the site, one folder per pose
    DIR/SITE/_zz/*.jpg       the site alone

A Siamese network learns from pairs. A positive pair shows the same pose at the same site. The
research generated about as many negative pairs as positive ones, to keep the set balanced
(363 + 44 positive and 369 + 38 negative pairs), and split the pairs 90/10 into training and
validation, by pair: one photo could be in a training pair and in a validation pair, and every
site was on both sides. Here the photos are split first, by site (or by photo), into training,
validation (for early stopping) and test (for the reported accuracy), and pairs are built inside
each split (`split_pairs`). The negatives mix three kinds, in equal shares where the photos
allow:

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
    "SPLIT_BY_PHOTO",
    "SPLIT_BY_SITE",
    "SPLIT_KINDS",
    "DatasetLayoutError",
    "PairSplit",
    "Photo",
    "PhotoPair",
    "PoseDataset",
    "build_pairs",
    "load_photos",
    "make_pair_split",
    "pair_counts_text",
    "read_split_record",
    "scan_pose_dataset",
    "split_dataset",
    "split_pairs",
    "split_record",
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

# The research split its pairs 90/10 into training and validation and had no test split.
# Here a tenth is held out for early stopping and another tenth for the reported accuracy.
VALIDATION_FRACTION = 0.1
TEST_FRACTION = 0.1

SPLIT_BY_SITE = "site"
SPLIT_BY_PHOTO = "photo"
SPLIT_KINDS = (SPLIT_BY_SITE, SPLIT_BY_PHOTO)
SPLIT_DESCRIPTIONS = {
    SPLIT_BY_SITE: "by site: no site (so no photo) is in two splits",
    SPLIT_BY_PHOTO: "by photo: no photo is in two splits (whole pose folders together); "
                    "a site can be",
}


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
    """Training, validation and test pairs, built inside disjoint sets of photos.

    Attributes:
        train: the pairs the network learns from.
        validation: the pairs early stopping watches (never reported as the result).
        test: the pairs the reported accuracy is measured on.
        by: how the photos were split, SPLIT_BY_SITE or SPLIT_BY_PHOTO.
    """

    train: tuple[PhotoPair, ...]
    validation: tuple[PhotoPair, ...]
    test: tuple[PhotoPair, ...]
    by: str

    def splits(self) -> dict[str, tuple[PhotoPair, ...]]:
        return {"train": self.train, "validation": self.validation, "test": self.test}

    def counts(self) -> dict[str, dict[str, int]]:
        """{"train": {"positive": n, "negative": m}, "validation": {...}, "test": {...}}."""
        return {
            name: {"positive": sum(p.same for p in pairs),
                   "negative": sum(not p.same for p in pairs)}
            for name, pairs in self.splits().items()
        }

    def photos(self, name: str) -> set[Path]:
        """The files the pairs of one split use."""
        return {photo.path for pair in self.splits()[name] for photo in (pair.a, pair.b)}

    def sites(self, name: str) -> list[str]:
        """The sites the pairs of one split show, sorted."""
        return sorted({photo.site for pair in self.splits()[name]
                       for photo in (pair.a, pair.b)})

    def description(self) -> str:
        """One line saying how the photos were split, for the report and metrics.json."""
        return SPLIT_DESCRIPTIONS[self.by]


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


def _share_count(total: int, fraction: float) -> int:
    """How many of `total` units a held-out share gets: round(fraction * total), at least one."""
    return max(1, round(fraction * total))


def _deal(units: list, validation_fraction: float, test_fraction: float,
          rng: np.random.Generator) -> tuple[list, list, list]:
    """Shuffle units and deal them into (train, validation, test), at least one each.

    Raises:
        ValueError: fewer than three units, so one split would be empty.
    """
    if len(units) < 3:
        raise ValueError(f"need at least 3 to split, got {len(units)}")
    order = [units[i] for i in rng.permutation(len(units))]
    test = _share_count(len(units), test_fraction)
    validation = _share_count(len(units), validation_fraction)
    while test + validation > len(units) - 1:  # training keeps at least one
        if validation >= test:
            validation -= 1
        else:
            test -= 1
    return (order[test + validation:], order[test:test + validation], order[:test])


def split_dataset(dataset: PoseDataset, by: str = SPLIT_BY_SITE,
                  validation_fraction: float = VALIDATION_FRACTION,
                  test_fraction: float = TEST_FRACTION,
                  seed: int = 0) -> dict[str, PoseDataset]:
    """Deal the photos into training, validation and test, so that no photo is in two.

    Pairs are built afterwards inside each split, so a pair never joins photos of two splits
    and the test pairs show photos the network never trained or stopped on.

    - by site (SPLIT_BY_SITE): whole site folders go to one split, so no site appears in two.
      The test then measures recognising the same pose at a place never seen in training.
    - by photo (SPLIT_BY_PHOTO): whole pose folders go to one split (so every split has
      same-pose pairs), and each site's photos of the site alone are dealt one by one. No photo
      is in two splits, but a site can be.

    Args:
        dataset: from `scan_pose_dataset`.
        by: SPLIT_BY_SITE or SPLIT_BY_PHOTO.
        validation_fraction, test_fraction: shares of the sites (or pose folders) held out,
            each at least one.
        seed: the same seed gives the same split.

    Returns:
        {"train": ..., "validation": ..., "test": ...}, each a PoseDataset with the same root.

    Raises:
        ValueError: an unknown `by`, fractions that leave nothing to train on, or fewer than
            three sites (three pose folders by photo) to deal; the message is one line.
    """
    if by not in SPLIT_KINDS:
        raise ValueError(f"split by one of {', '.join(SPLIT_KINDS)}, not {by!r}")
    for name, fraction in (("validation", validation_fraction), ("test", test_fraction)):
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"the {name} fraction must be in (0, 1), got {fraction}")
    if validation_fraction + test_fraction >= 1.0:
        raise ValueError("the validation and test fractions leave nothing to train on")
    rng = np.random.default_rng(seed)
    names = ("train", "validation", "test")
    chosen: dict[str, list[Photo]] = {name: [] for name in names}
    if by == SPLIT_BY_SITE:
        sites = list(dataset.sites)
        if len(sites) < 3:
            raise ValueError(f"splitting by site needs at least 3 sites, {dataset.root} has "
                             f"{len(sites)}; add sites or split by photo")
        for name, part in zip(names, _deal(sites, validation_fraction, test_fraction, rng),
                              strict=True):
            chosen[name] = [photo for photo in dataset.photos if photo.site in set(part)]
    else:
        groups = dataset.groups()
        if len(groups) < 3:
            raise ValueError(f"splitting by photo needs at least 3 pose folders, "
                             f"{dataset.root} has {len(groups)}")
        keys = list(groups)
        for name, part in zip(names, _deal(keys, validation_fraction, test_fraction, rng),
                              strict=True):
            chosen[name] = [photo for key in part for photo in groups[key]]
        for photos in dataset.site_only().values():
            shuffled = [photos[i] for i in rng.permutation(len(photos))]
            test = round(test_fraction * len(shuffled))
            validation = round(validation_fraction * len(shuffled))
            chosen["test"].extend(shuffled[:test])
            chosen["validation"].extend(shuffled[test:test + validation])
            chosen["train"].extend(shuffled[test + validation:])
    return {name: PoseDataset(dataset.root, tuple(sorted(photos)))
            for name, photos in chosen.items()}


def split_pairs(dataset: PoseDataset, by: str = SPLIT_BY_SITE,
                validation_fraction: float = VALIDATION_FRACTION,
                test_fraction: float = TEST_FRACTION, seed: int = 0) -> PairSplit:
    """Training, validation and test pairs, with no photo (and, by site, no site) in two.

    The research split its pairs 90/10 by pair, so one photo could sit in a training pair and
    in a validation pair, and every site was on both sides: its validation accuracy partly
    measured recognising photos seen in training. Here the photos are split first
    (`split_dataset`), then `build_pairs` makes balanced pairs inside each split.

    Args:
        dataset: from `scan_pose_dataset`.
        by: SPLIT_BY_SITE (the default) or SPLIT_BY_PHOTO.
        validation_fraction: share of the sites (or pose folders) the early stopping watches.
        test_fraction: share held out for the reported accuracy.
        seed: the same seed gives the same split and pairs.

    Returns:
        A PairSplit.

    Raises:
        ValueError: the photos cannot be split that way, or a split gets no positive or no
            negative pair; the message is one line.
    """
    parts = split_dataset(dataset, by, validation_fraction, test_fraction, seed)
    pairs = {name: build_pairs(part, seed) if part.photos else () for name, part in parts.items()}
    for name, made in pairs.items():
        if not any(pair.same for pair in made) or all(pair.same for pair in made):
            sites = ", ".join(parts[name].sites) or "none"
            raise ValueError(
                f"the {name} split (sites: {sites}) has no "
                f"{'positive' if not any(p.same for p in made) else 'negative'} pair when "
                f"split by {by} with seed {seed}; try another --seed, other fractions or "
                f"--split-by {SPLIT_BY_PHOTO if by == SPLIT_BY_SITE else SPLIT_BY_SITE}")
    return PairSplit(pairs["train"], pairs["validation"], pairs["test"], by)


def make_pair_split(root: str | Path, seed: int = 0, by: str = SPLIT_BY_SITE,
                    validation_fraction: float = VALIDATION_FRACTION,
                    test_fraction: float = TEST_FRACTION) -> PairSplit:
    """`scan_pose_dataset` and `split_pairs` in one call."""
    return split_pairs(scan_pose_dataset(root), by, validation_fraction, test_fraction, seed)


# === Saving a split ===


def split_record(split: PairSplit, root: Path) -> dict[str, dict[str, list]]:
    """Which photos and which pairs went to training, validation and test, as JSON-ready lists
    of paths relative to `root` (so the record survives the data folder moving).

    Returns:
        {"files": {split name: [relative path, ...]},
         "pairs": {split name: [{"a": path, "b": path, "same": bool, "kind": str}, ...]}},
        the pairs in the order they were built (which the batches of an evaluation follow).
    """
    def relative(photo: Photo) -> str:
        return photo.path.relative_to(root).as_posix()

    return {
        "files": {name: sorted(path.relative_to(root).as_posix() for path in split.photos(name))
                  for name in split.splits()},
        "pairs": {name: [{"a": relative(pair.a), "b": relative(pair.b), "same": pair.same,
                          "kind": pair.kind} for pair in pairs]
                  for name, pairs in split.splits().items()},
    }


def read_split_record(record: dict, root: str | Path, by: str) -> PairSplit:
    """The PairSplit a `split_record` describes, its photos under `root` (which may be the
    folder the data moved to).

    Args:
        record: what `split_record` returned (its "pairs" part is read).
        root: the data folder.
        by: how the photos were split (SPLIT_BY_SITE or SPLIT_BY_PHOTO).

    Raises:
        ValueError: the record holds no pairs for a split, or a pair is malformed; one line.
    """
    root = Path(root)

    def photo(relative: str) -> Photo:
        parts = Path(relative).parts
        if len(parts) != 3:
            raise ValueError(f"{relative!r} is not SITE/POSE/FILE")
        site, pose, _ = parts
        return Photo(root / relative, site, None if pose == SITE_ONLY_FOLDER else pose)

    pairs = record.get("pairs") if isinstance(record, dict) else None
    if not isinstance(pairs, dict):
        raise ValueError("no pairs recorded")
    built = {}
    for name in ("train", "validation", "test"):
        if not isinstance(pairs.get(name), list):
            raise ValueError(f"no {name} pairs recorded")
        try:
            built[name] = tuple(PhotoPair(photo(p["a"]), photo(p["b"]), bool(p["same"]),
                                          str(p["kind"])) for p in pairs[name])
        except (KeyError, TypeError) as error:
            raise ValueError(f"a {name} pair is malformed ({error!r})") from error
    return PairSplit(built["train"], built["validation"], built["test"], by)


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
    """Pair counts in one line, e.g. "train 363 positive / 369 negative, validation 44 ...,
    test ..."."""
    counts = split.counts()
    return ", ".join(
        f"{name} {counts[name]['positive']} positive / {counts[name]['negative']} negative"
        for name in ("train", "validation", "test")
    )
