"""The trainers' splits: no photo (for pose, no site) in two of training, validation and test,
checked on generated datasets against counts worked out by hand."""

from __future__ import annotations

import argparse
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.pose.pairs import (
    SITE_ONLY_FOLDER,
    SPLIT_BY_PHOTO,
    SPLIT_BY_SITE,
    scan_pose_dataset,
    split_dataset,
    split_pairs,
)

NAMES = ("train", "validation", "test")


def write_sites(root: Path, sites: int, poses: int, photos: int, alone: int) -> Path:
    """`sites` site folders, each with `poses` pose folders of `photos` photos and `alone`
    photos of the site alone. Every file is a distinct 4 x 4 picture."""
    counter = 0
    for site in range(sites):
        folders = [f"pose{p}" for p in range(poses)] + [SITE_ONLY_FOLDER]
        for folder in folders:
            count = alone if folder == SITE_ONLY_FOLDER else photos
            (root / f"site{site}" / folder).mkdir(parents=True)
            for k in range(count):
                counter += 1
                pixels = np.full((4, 4, 3), counter % 256, np.uint8)
                Image.fromarray(pixels).save(root / f"site{site}" / folder / f"{k}.png")
    return root


@pytest.fixture(scope="module")
def fourteen_sites(tmp_path_factory) -> Path:
    """The research's 14 sites, 3 poses of 3 photos each, 2 photos of each site alone."""
    return write_sites(tmp_path_factory.mktemp("sites"), 14, 3, 3, 2)


def photos_of(pairs) -> set[Path]:
    return {photo.path for pair in pairs for photo in (pair.a, pair.b)}


def sites_of(pairs) -> set[str]:
    return {photo.site for pair in pairs for photo in (pair.a, pair.b)}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_site_split_puts_no_site_and_no_photo_in_two_splits(fourteen_sites, seed):
    split = split_pairs(scan_pose_dataset(fourteen_sites), SPLIT_BY_SITE, 0.1, 0.1, seed)
    assert split.by == "site"
    pairs = split.splits()
    for first, second in combinations(NAMES, 2):
        assert not sites_of(pairs[first]) & sites_of(pairs[second]), (first, second)
        assert not photos_of(pairs[first]) & photos_of(pairs[second]), (first, second)
    # round(0.1 * 14) = 1 site each to validation and test, the other 12 train.
    assert [len(sites_of(pairs[name])) for name in NAMES] == [12, 1, 1]
    assert sorted(sites_of(pairs["train"]) | sites_of(pairs["validation"])
                  | sites_of(pairs["test"])) == sorted(f"site{i}" for i in range(14))
    # One site alone: 3 poses x C(3, 2) = 9 positives, and as many negatives.
    assert split.counts()["test"] == {"positive": 9, "negative": 9}
    assert split.counts()["train"] == {"positive": 12 * 9, "negative": 12 * 9}
    for pair in pairs["test"]:  # pairs are made inside a split: one site, so no "different
        assert pair.a.site == pair.b.site  # site" negatives in a one-site split


def test_a_photo_split_puts_no_photo_in_two_splits_and_keeps_pose_folders_whole(
        fourteen_sites):
    dataset = scan_pose_dataset(fourteen_sites)
    parts = split_dataset(dataset, SPLIT_BY_PHOTO, 0.1, 0.1, seed=0)
    files = {name: {photo.path for photo in part.photos} for name, part in parts.items()}
    for first, second in combinations(NAMES, 2):
        assert not files[first] & files[second]
    assert set().union(*files.values()) == {photo.path for photo in dataset.photos}
    # 42 pose folders: round(0.1 * 42) = 4 to validation and 4 to test, whole.
    for name, expected in zip(NAMES, (34, 4, 4), strict=True):
        folders = {(p.site, p.pose) for p in parts[name].photos if p.has_person}
        assert len(folders) == expected
        assert all(len(dataset.groups()[folder]) == 3 for folder in folders)
        assert sum(p.has_person for p in parts[name].photos) == 3 * expected
    split = split_pairs(dataset, SPLIT_BY_PHOTO, 0.1, 0.1, seed=0)
    assert split.by == "photo"
    for first, second in combinations(NAMES, 2):
        assert not photos_of(split.splits()[first]) & photos_of(split.splits()[second])


def test_a_site_split_of_too_few_sites_is_refused_in_one_line(tmp_path):
    dataset = scan_pose_dataset(write_sites(tmp_path, 2, 2, 3, 1))
    with pytest.raises(ValueError) as caught:
        split_pairs(dataset, SPLIT_BY_SITE)
    assert "at least 3 sites" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(ValueError, match="nothing to train on"):
        split_pairs(dataset, SPLIT_BY_PHOTO, 0.5, 0.5)


def test_a_split_without_positive_pairs_is_refused(tmp_path):
    # Sites of one photo per pose: no split can have a same-pose pair.
    dataset_root = write_sites(tmp_path / "thin", 3, 2, 1, 1)
    (tmp_path / "thin" / "site0" / "pose0" / "1.png").write_bytes(
        (tmp_path / "thin" / "site0" / "pose0" / "0.png").read_bytes())
    dataset = scan_pose_dataset(dataset_root)
    with pytest.raises(ValueError, match="no positive pair"):
        split_pairs(dataset, SPLIT_BY_SITE, seed=0)


# === The aesthetic trainers ===


@pytest.mark.parametrize("seed", [0, 3])
def test_the_rating_pipeline_split_keeps_test_validation_and_ga_photos_apart(seed):
    from models.aesthetic.train_pipeline import split_photos

    labels = np.array([1.0] * 20 + [0.0] * 30, np.float32)
    args = argparse.Namespace(test_fraction=0.2, validation_fraction=0.25,
                              selection_fraction=0.25)
    splits = split_photos(labels, args, np.random.default_rng(seed))
    shares = {"fit": splits.fit, "select": splits.select, "validation": splits.validation,
              "test": splits.test}
    for first, second in combinations(shares, 2):
        assert not set(shares[first]) & set(shares[second]), (first, second)
    assert sorted(np.concatenate(list(shares.values()))) == list(range(50))
    assert sorted(np.concatenate([splits.fit, splits.select])) == sorted(splits.train)
    # By hand, class by class: test round(0.2 * 20) = 4 good and 6 bad; validation
    # round(0.25 * 16) = 4 good and round(0.25 * 24) = 6 bad.
    assert (labels[splits.test] == 1).sum() == 4 and (labels[splits.test] == 0).sum() == 6
    assert (labels[splits.validation] == 1).sum() == 4
    assert (labels[splits.validation] == 0).sum() == 6


def test_the_head_split_gives_each_class_to_all_three_and_refuses_too_few():
    from models.aesthetic.train_head import three_way_split

    labels = np.array([1] * 8 + [0] * 8)
    train, validation, test = three_way_split(labels, 0.15, 0.15, seed=0)
    assert not set(train) & set(validation) and not set(train) & set(test)
    assert not set(validation) & set(test)
    assert sorted([*train, *validation, *test]) == list(range(16))
    # round(0.15 * 8) = 1 of each class to validation and to test.
    assert sorted(labels[test]) == [0, 1] and sorted(labels[validation]) == [0, 1]
    with pytest.raises(ValueError, match="at least 3 photos"):
        three_way_split(np.array([1, 1, 0, 0, 0]), 0.2, 0.2, seed=0)
