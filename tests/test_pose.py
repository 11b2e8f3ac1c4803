"""models.pose on real photos (scikit-image's astronaut and camera, coffee without a person) and
on hand-made keypoints for the alignment maths."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage import data
from skimage.transform import rescale

from models.images import InvalidImage
from models.pose import comparison as pose
from models.pose.background import fill_region


def rotation(degrees: float) -> np.ndarray:
    angle = math.radians(degrees)
    return np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])


STICK = np.array([[0, -3], [-1, -2], [1, -2], [-2, -1], [2, -1.5], [-2.5, 0], [3, -1],
                  [-0.8, 0.5], [0.8, 0.5], [-1, 2], [1.2, 2], [-1, 3.5], [1.5, 3.4]], float)


def test_procrustes_ignores_translation_scale_and_a_small_rotation():
    moved = (STICK @ rotation(15).T) * 3.7 + np.array([40.0, -12.0])
    residuals = pose.procrustes(STICK, moved, np.ones(len(STICK)))
    np.testing.assert_allclose(residuals, 0, atol=1e-9)


SQUARE = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])


def test_procrustes_clamps_the_rotation_and_refits_the_scale():
    # By hand: the square has unit RMS radius and is centred. Turned by 90 degrees (then
    # scaled and shifted, which the alignment removes), the best rotation back is -90, clamped
    # to -25: each point then still sits 65 degrees off its target. The best scale for that
    # rotation is sum(a . R b) / sum(|b|^2) = cos 65, and each residual is
    # |a - cos65 R65 a| = sqrt(1 + cos^2 65 - 2 cos^2 65) = sin 65.
    turned = (SQUARE @ rotation(90).T) * 2.0 + np.array([5.0, -3.0])
    residuals = pose.procrustes(SQUARE, turned, np.ones(4), max_rotation=25)
    np.testing.assert_allclose(residuals, math.sin(math.radians(65)), atol=1e-9)
    assert pose.best_rotation(SQUARE, SQUARE @ rotation(90).T, np.ones(4) / 4, 25) == (
        pytest.approx(math.radians(-25)))
    # Within the limit the rotation is undone exactly; with no limit, any rotation is.
    assert pose.best_rotation(SQUARE, SQUARE @ rotation(20).T, np.ones(4) / 4, 25) == (
        pytest.approx(math.radians(-20)))
    np.testing.assert_allclose(pose.procrustes(SQUARE, turned, np.ones(4), max_rotation=180),
                               0, atol=1e-9)
    # A half turn: the rotation clamps at 25 degrees, 155 degrees from the target, where the
    # best non-negative scale is 0; each residual is then |a| = 1.
    half_turn = SQUARE @ rotation(180).T
    np.testing.assert_allclose(pose.procrustes(SQUARE, half_turn, np.ones(4), max_rotation=25),
                               1.0, atol=1e-9)


def test_procrustes_does_not_undo_a_reflection():
    reflected = STICK * np.array([-1.0, 1.0])
    residuals = pose.procrustes(STICK, reflected, np.ones(len(STICK)))
    assert residuals.mean() > 0.2


def test_procrustes_ignores_zero_weight_joints():
    moved = STICK.copy()
    moved[5] += [50, 50]  # one wild joint, which the weights switch off
    weights = np.ones(len(STICK))
    weights[5] = 0
    residuals = pose.procrustes(STICK, moved, weights)
    assert np.delete(residuals, 5).max() < 1e-9 and residuals[5] > 1


def analysis_from(points, visibility=None):
    blank = np.zeros((8, 8, 3), np.uint8)
    vis = np.ones(len(points), np.float32) if visibility is None else visibility
    return pose.PersonAnalysis(blank, 1, np.asarray(points, np.float32), vis,
                               np.zeros((8, 8), np.float32))


def test_mirrored_pose_matches_only_when_allowed():
    a = analysis_from(STICK)
    mirrored = STICK * np.array([-1.0, 1.0])
    b = analysis_from(mirrored[pose.MIRROR_ORDER])  # a real mirror also swaps left and right
    score, joints, is_mirror = pose.pose_similarity(a, b, allow_mirror=True)
    assert is_mirror and score > 0.99
    strict, _, strict_mirror = pose.pose_similarity(a, b, allow_mirror=False)
    assert not strict_mirror and strict < score - 0.2
    assert [j.name for j in joints] == list(pose.JOINT_NAMES)


def test_a_tilted_phone_keeps_the_pose_a_quarter_turn_does_not():
    a = analysis_from(STICK)
    tilted = STICK @ rotation(8).T * 1.3 + np.array([10.0, 4.0])
    score, _, _ = pose.pose_similarity(a, analysis_from(tilted))
    assert score == pytest.approx(1.0, abs=1e-9)
    # The same skeleton lying down: 90 degrees is beyond the 25 the alignment may use, so the
    # pose differs, with or without a mirror.
    lying = STICK @ rotation(90).T
    for allow_mirror in (True, False):
        score, _, _ = pose.pose_similarity(a, analysis_from(lying), allow_mirror=allow_mirror)
        assert score < pose.POSE_THRESHOLD
    assert pose.MAX_ROTATION_DEGREES == 25


def test_too_few_shared_joints_give_no_pose_similarity():
    visibility = np.zeros(len(STICK), np.float32)
    visibility[:3] = 1
    score, joints, _ = pose.pose_similarity(analysis_from(STICK), analysis_from(STICK, visibility))
    assert score is None and all(j.score is None for j in joints)


def test_a_moved_arm_is_named():
    a = analysis_from(STICK)
    moved = STICK.copy()
    moved[pose.JOINT_NAMES.index("right wrist")] += [0, 3]  # the right hand drops
    _, joints, _ = pose.pose_similarity(a, analysis_from(moved), allow_mirror=False)
    assert pose.differing_limbs(joints) == ["right forearm"]
    by_name = {j.name: j.score for j in joints}
    others = [score for name, score in by_name.items() if name != "right wrist"]
    assert by_name["right wrist"] < 0.2 < min(others)


@pytest.fixture(scope="module")
def astronaut():
    return data.astronaut()


def test_same_photo_twice_is_similar(astronaut):
    result = pose.compare(astronaut, astronaut)
    assert result.similar and result.pose_similarity > 0.99
    assert result.background_similarity > 0.99 and result.people == (1, 1)
    assert not result.mirrored


def test_a_mirrored_crop_is_the_same_pose_and_place(astronaut):
    copy = np.clip(astronaut[20:, 10:][:, ::-1].astype(np.float32) * 1.15, 0, 255)
    result = pose.compare(astronaut, copy.astype(np.uint8))
    assert result.mirrored and result.similar
    assert "mirror image" in " ".join(result.notes)


def test_a_different_person_and_place_is_not_similar(astronaut):
    camera = np.stack([data.camera()] * 3, axis=-1)
    result = pose.compare(astronaut, camera)
    assert not result.similar
    assert result.pose_similarity is not None and result.pose_similarity < pose.POSE_THRESHOLD
    assert result.background_similarity < pose.BACKGROUND_THRESHOLD


def test_no_person_still_compares_the_places(astronaut):
    result = pose.compare(astronaut, data.coffee())
    assert result.pose_similarity is None and not result.similar
    assert result.people == (1, 0)
    assert 0 <= result.background_similarity < pose.BACKGROUND_THRESHOLD
    assert any("No person found in the second photo" in note for note in result.notes)


def test_two_people_are_counted_and_the_main_subject_compared(astronaut):
    # The astronaut at full size on the left; a smaller, mirrored copy of her on the right.
    small = np.clip(rescale(astronaut, 0.75, channel_axis=-1, preserve_range=True), 0, 255)
    small = small.astype(np.uint8)[:, ::-1]
    group = np.full((512, 512 + small.shape[1], 3), 200, np.uint8)
    group[:, :512] = astronaut
    group[-small.shape[0]:, 512:] = small
    analysis = pose.analyse(group)
    assert analysis.people == 2
    top, left, height, width = analysis.subject_box
    assert left + width <= 512 + 10, "the main subject is the larger astronaut on the left"
    result = pose.compare(astronaut, group)
    # Had the mirrored copy been picked, the match would be a mirrored one. (Her pose is
    # found in her own box, squared, not in the whole group photo, so MediaPipe's joints move
    # by a pixel or two: 0.9 rather than 0.99.)
    assert result.people == (1, 2) and result.pose_similarity > 0.85 and not result.mirrored
    assert any("2 people in the second photo" in note for note in result.notes)


def test_masks_cover_the_person_not_the_background(astronaut):
    analysis = pose.analyse(astronaut)
    mask = analysis.person_mask
    assert mask.shape == astronaut.shape[:2]
    assert mask[300:400, 200:300].mean() > 0.8  # her suit
    assert mask[20:80, 450:500].mean() < 0.2  # the flag side of the room
    background = analysis.background_only()
    # Outside the grown person region, the photo exactly; inside, an inpainted fill, not a
    # person-shaped grey hole.
    region = fill_region(mask)
    assert region[350, 250] and not region[50, 470]
    assert (background[~region] == astronaut[~region]).all()
    assert (background[region] != 128).any(axis=-1).mean() > 0.95
    # Her suit's folds and patches are gone: the fill is a smooth continuation of the room, so
    # neighbouring pixels inside it differ far less than they did on her.
    inside = region[:, 1:] & region[:, :-1]

    def step(image):
        return np.abs(np.diff(image.astype(float), axis=1)).sum(axis=-1)[inside].mean()

    assert step(background) < step(astronaut) / 3


def test_similarity_function_scores_perturbed_copies(astronaut):
    fn = pose.similarity_function(astronaut)
    blank = np.zeros_like(astronaut)
    scores = fn(np.stack([astronaut, blank]))
    assert scores.shape == (2, 2)
    assert scores[0, 0] > 0.99 and scores[0, 1] > 0.99
    assert scores[1, 0] == 0.0 and scores[1, 1] < pose.BACKGROUND_THRESHOLD


def test_similarity_function_computes_only_what_is_asked(astronaut):
    only_pose = pose.similarity_function(astronaut, outputs=("pose similarity",))
    both = pose.similarity_function(astronaut)
    copy = np.clip(astronaut.astype(np.int16) + 20, 0, 255).astype(np.uint8)
    assert only_pose(copy[None]).shape == (1, 1)
    assert only_pose(copy[None])[0, 0] == pytest.approx(both(copy[None])[0, 0])
    with pytest.raises(ValueError, match="Unknown similarity output"):
        pose.similarity_function(astronaut, outputs=("smile",))


def test_bad_photos_raise_invalid_image(tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    with pytest.raises(InvalidImage):
        pose.compare(bad, data.astronaut())


def test_clip_joins_the_background_score_when_its_weights_are_here(astronaut, tiny_clip):
    same = pose.compare(astronaut, astronaut)
    assert same.background.clip == pytest.approx(1.0, abs=1e-4)
    assert same.background_similarity == pytest.approx(
        (pose.offline_background_similarity(
            (same.background.colour, same.background.texture, same.background.layout,
             same.background.structure))
         + same.background.clip) / 2)
    offline = pose.compare(astronaut, astronaut, use_clip=False)
    assert offline.background.clip is None
    assert not any("CLIP weights absent" in note for note in same.notes)


# === Remembered analyses ===


def test_a_remembered_photo_is_analysed_once_and_read_only(monkeypatch):
    pose.ANALYSIS_MEMORY.clear()
    calls = []
    real = pose.RUNTIME.faces_and_mask
    monkeypatch.setattr(pose.RUNTIME, "faces_and_mask",
                        lambda *args, **kwargs: calls.append(1) or real(*args, **kwargs))
    photo = data.astronaut()
    first = pose.analyse(photo, remember=True)
    again = pose.analyse(photo.copy(), remember=True)  # same pixels, another array
    assert again is first and len(calls) == 1
    # and it equals a fresh analysis, which does not use the memory
    fresh = pose.analyse(photo)
    assert len(calls) == 2
    np.testing.assert_array_equal(fresh.keypoints, first.keypoints)
    np.testing.assert_array_equal(fresh.person_mask, first.person_mask)
    with pytest.raises(ValueError):
        first.image[0, 0] = 0
    # one changed pixel is another photo
    changed = photo.copy()
    changed[0, 0] = 255 - changed[0, 0]
    assert pose.analyse(changed, remember=True) is not first


def test_the_memory_keeps_the_notes_of_each_upload_apart():
    pose.ANALYSIS_MEMORY.clear()
    opaque = data.astronaut()
    see_through = np.dstack([opaque, np.full(opaque.shape[:2], 255, np.uint8)])
    see_through[:20, :20] = (255, 255, 255, 0)  # judged as white, the same pixels as:
    white_corner = opaque.copy()
    white_corner[:20, :20] = 255
    plain = pose.analyse(white_corner, remember=True)
    filled = pose.analyse(see_through, remember=True)
    np.testing.assert_array_equal(plain.image, filled.image)
    assert plain.prepared.notes() == () and filled.prepared.notes() != ()


def test_the_memory_forgets_the_least_recently_used_photo():
    pose.ANALYSIS_MEMORY.clear()
    base = data.coffee()[::2, ::2]
    photos = [np.roll(base, shift, axis=1) for shift in range(pose.REMEMBERED_ANALYSES + 1)]
    analyses = [pose.analyse(photo, pose=True, mask=True, remember=True) for photo in photos]
    # all but the first are still there; the first was pushed out by the last
    assert pose.analyse(photos[1], remember=True) is analyses[1]
    assert pose.analyse(photos[0], remember=True) is not analyses[0]
