"""models.pose.background: filling the people in, and recognising a place by its keypoints.

The fill is checked against properties of biharmonic inpainting (it reproduces a constant and a
linear ramp); the keypoint score against hand-made matches whose inliers are known, and against
a real re-shot place (scikit-image's stereo motorcycle pair) and different places.
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data
from skimage.transform import rescale

from models.pose import background
from models.pose import comparison as pose
from models.pose.background import StructureFeatures, structure_similarity


def square_mask(height, width, top, left, size):
    mask = np.zeros((height, width), np.float32)
    mask[top : top + size, left : left + size] = 1.0
    return mask


# === Filling the people in ===


def test_a_person_on_a_plain_wall_is_filled_with_the_wall():
    wall = np.empty((120, 160, 3), np.uint8)
    wall[:] = (30, 120, 200)
    photo = wall.copy()
    mask = square_mask(120, 160, 30, 50, 40)
    photo[mask >= 0.5] = (255, 255, 255)  # the "person"
    filled = background.fill_people(photo, mask)
    assert np.abs(filled.astype(int) - wall).max() <= 1


def test_a_ramp_continues_through_the_filled_region():
    # Biharmonic inpainting reproduces any linear function (its Laplacian is zero), and bilinear
    # resizing keeps a ramp a ramp: the fill is the ramp, give or take rounding and resampling.
    columns = np.arange(200, dtype=float)
    ramp = np.repeat((40 + columns)[None, :, None], 150, axis=0).repeat(3, axis=2)
    ramp = ramp.astype(np.uint8)
    photo = ramp.copy()
    mask = square_mask(150, 200, 40, 70, 60)
    photo[mask >= 0.5] = 0
    filled = background.fill_people(photo, mask)
    region = background.fill_region(mask)
    assert region[40:100, 70:130].all()
    assert np.abs(filled[region].astype(int) - ramp[region]).max() <= 4
    assert (filled[~region] == photo[~region]).all()  # the place itself is untouched


def test_a_photo_that_is_all_person_is_filled_with_what_is_left():
    photo = np.full((100, 100, 3), 200, np.uint8)
    photo[:, :8] = (10, 20, 30)
    mask = np.ones((100, 100), np.float32)
    mask[:, :8] = 0
    filled = background.fill_people(photo, mask)
    # The mask grows by 3 pixels (3% of 100), leaving 5 columns of place: under a tenth of the
    # photo, too little to continue from, so their colour fills the rest.
    assert (filled[:, 5:] == (10, 20, 30)).all() and (filled[:, :5] == (10, 20, 30)).all()


def test_no_person_leaves_the_photo_as_it_is():
    photo = data.coffee()
    assert (background.fill_people(photo, np.zeros(photo.shape[:2])) == photo).all()


# === Keypoints: the score from known inliers ===


def features(points, descriptors):
    return StructureFeatures(np.asarray(points, np.float32), np.asarray(descriptors, bool))


def test_the_score_counts_the_matches_one_similarity_transform_explains():
    rng = np.random.default_rng(0)
    count, consistent = 50, 10
    descriptors = rng.random((count, 256)) < 0.5
    points = rng.uniform(0, 160, (count, 2))
    # b: every keypoint of a, with the same descriptor; the first 10 moved by one similarity
    # (scale 1.5, a 10 degree turn, a shift), the other 40 scattered at random.
    angle = np.radians(10)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = points @ turn.T * 1.5 + [12.0, -7.0]
    moved[consistent:] = rng.uniform(0, 160, (count - consistent, 2))
    match = structure_similarity(features(points, descriptors), features(moved, descriptors))
    assert match.matches == count
    assert match.inliers == consistent
    # By the documented formula: (inliers - chance) / (full agreement x keypoints).
    assert match.score == pytest.approx((10 - 3) / (0.2 * 50))
    assert background.CHANCE_INLIERS == 3 and background.FULL_AGREEMENT == 0.2


def test_unrelated_descriptors_score_zero():
    rng = np.random.default_rng(1)
    a = features(rng.uniform(0, 160, (60, 2)), rng.random((60, 256)) < 0.5)
    b = features(rng.uniform(0, 160, (60, 2)), rng.random((60, 256)) < 0.5)
    assert structure_similarity(a, b).score == 0.0
    assert structure_similarity(a, background.NO_FEATURES).score == 0.0


# === Keypoints on real photos ===


@pytest.fixture(scope="module")
def motorcycle():
    left, right, _ = data.stereo_motorcycle()
    return left, right


def describe(image, mask=None):
    mask = np.zeros(image.shape[:2], np.float32) if mask is None else mask
    return background.describe_structure(image, mask)


def test_a_place_survives_a_crop_a_rescale_and_less_light(motorcycle):
    left, _ = motorcycle
    height, width = left.shape[:2]
    reshot = left[int(0.1 * height) : int(0.9 * height), int(0.15 * width) : int(0.95 * width)]
    reshot = rescale(reshot, 0.7, channel_axis=-1, preserve_range=True) * 0.6
    reshot = np.clip(reshot, 0, 255).astype(np.uint8)
    first, _ = describe(left)
    second, _ = describe(reshot)
    assert structure_similarity(first, second).score > 0.5


def test_another_view_of_a_place_outranks_a_different_place(motorcycle):
    left, right = motorcycle
    first, _ = describe(left)
    other_view, _ = describe(right)
    same = structure_similarity(first, other_view).score
    different = [structure_similarity(first, describe(photo)[0]).score
                 for photo in (data.astronaut(), data.chelsea(), data.coffee(), data.rocket())]
    assert same > 0.5 and max(different) == 0.0


def test_mirrored_descriptors_match_the_mirrored_photo(motorcycle):
    # The mirrored description (corner at W - 1 - c, orientation pi - theta) must agree with
    # ORB run on the mirror image itself; a wrong orientation would match almost nothing.
    left, _ = motorcycle
    _, mirrored = describe(left)
    of_mirror, _ = describe(left[:, ::-1].copy())
    direct, _ = describe(left)
    assert structure_similarity(of_mirror, mirrored).score == 1.0
    assert structure_similarity(of_mirror, direct).score < 0.2


def test_keypoints_near_a_person_are_left_out(motorcycle):
    left, _ = motorcycle
    height, width = left.shape[:2]
    mask = np.zeros((height, width), np.float32)
    mask[:, : width // 2] = 1.0  # a "person" filling the left half
    features_outside, _ = describe(left, mask)
    assert len(features_outside) > 10
    side = background.STRUCTURE_SIDE
    small_width = side if width >= height else round(width * side / height)
    clearance = background.KEYPOINT_CLEARANCE * side
    assert (features_outside.points[:, 0] > small_width / 2 + clearance - 1).all()


def test_compare_scores_a_re_shot_place_above_a_different_one(motorcycle):
    left, right = motorcycle
    post = pose.analyse(left)
    same = pose.background_parts(post, pose.analyse(right))
    different = pose.background_parts(post, pose.analyse(data.chelsea()))
    names = pose.BACKGROUND_PARTS
    assert same[names.index("structure")] > 0.5 == different[names.index("structure")] + 0.5
    assert (pose.offline_background_similarity(same) >= pose.BACKGROUND_THRESHOLD
            > pose.offline_background_similarity(different))
