"""The same subject in a crowd: crowded photos built from the example photos (people cut out with
MediaPipe's person mask and pasted at different sizes into scenes), each compared with its copy
cropped by 3% a side, scaled to 0.8 and brightened by 15%. The comparison must choose the same
main subject in both and call them the same pose; `python -m models.evaluate pose --crowded`
reports the same on held-out scenes and seeds.

The main subject here is always the astronaut, among astronauts, cameramen and Grace Hopper as
bystanders up to 0.85 of her height. MediaPipe finds no body at all in some composites of the
bent-over cameraman, whichever person is chosen, so a test on him would test MediaPipe; the
evaluation's table includes him.
"""

from __future__ import annotations

import json
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO

import numpy as np
import pytest

from models.pose import comparison as pose
from models.pose import evaluate_crowd as crowds

SEEDS = range(12)


def overlap(first, second) -> float:
    """Intersection over union of two (top, left, height, width) boxes (written here, apart
    from `crowds.overlap`, so the test does not lean on the module it checks)."""
    top, left = max(first[0], second[0]), max(first[1], second[1])
    bottom = min(first[0] + first[2], second[0] + second[2])
    right = min(first[1] + first[3], second[1] + second[3])
    inside = max(0.0, bottom - top) * max(0.0, right - left)
    return inside / (first[2] * first[3] + second[2] * second[3] - inside)


def scaled(box, factor: float):
    return tuple(value * factor for value in box)


def copy_box(box, shape):
    """Where a box of a photo of `shape` lands in its re-post: the 3% crop moves it, the 0.8
    scale shrinks it (the copy's size is rounded, so the scale is the sizes' ratio)."""
    height, width = shape[:2]
    dy, dx = round(0.03 * height), round(0.03 * width)
    scale_y = round((height - 2 * dy) * 0.8) / (height - 2 * dy)
    scale_x = round((width - 2 * dx) * 0.8) / (width - 2 * dx)
    top, left, box_h, box_w = box
    return (top - dy) * scale_y, (left - dx) * scale_x, box_h * scale_y, box_w * scale_x


@pytest.fixture(scope="module")
def crowd():
    return [crowds.crowded_photo(seed, crowds.TEST_SCENES, "astronaut") for seed in SEEDS]


def test_the_copy_is_a_crop_rescale_and_brighter(crowd):
    """The re-post is what it claims to be, and boxes map onto it: a grey photo with a dark
    square comes back 0.8 times as large, 15% brighter, the square where copy_box says."""
    photo = np.full((500, 400, 3), 100, np.uint8)
    photo[200:300, 150:230] = 20
    copy = crowds.copy_of(photo)
    assert copy.shape == (round(470 * 0.8), round(376 * 0.8), 3)
    assert copy[0, 0, 0] == 115  # 100 brighter by 15%
    rows, cols = np.nonzero(copy[..., 0] < 60)
    top, left, height, width = copy_box((200, 150, 100, 80), photo.shape)
    assert abs(rows.min() - top) <= 1 and abs(cols.min() - left) <= 1
    assert abs(rows.max() + 1 - (top + height)) <= 1 and abs(cols.max() + 1 - (left + width)) <= 1
    assert crowds.box_in_copy((200, 150, 100, 80), photo.shape) == pytest.approx(
        copy_box((200, 150, 100, 80), photo.shape))


def test_the_crowded_photos_differ_and_have_a_largest_central_subject(crowd):
    assert len({photo.image.tobytes() for photo in crowd}) == len(crowd)
    assert len({photo.scene for photo in crowd}) >= 3
    assert all(photo.bystanders for photo in crowd)
    assert sum(len(photo.bystanders) >= 2 for photo in crowd) >= len(crowd) // 2
    for photo in crowd:
        height, width = photo.image.shape[:2]
        top, left, box_h, box_w = photo.subject_box
        assert abs(left + box_w / 2 - width / 2) < 0.1 * width  # the subject stands mid-photo
        assert top + box_h == height  # on the photo's bottom edge, in front
        assert set(photo.bystanders) <= set(crowds.PEOPLE)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_re_post_keeps_the_main_subject_and_its_pose(crowd, seed):
    photo = crowd[seed]
    copy = crowds.copy_of(photo.image)
    result = pose.compare(photo.image, copy)
    original, again = result.a, result.b
    # The analyses work on copies at most 512 pixels a side; boxes are in their pixels.
    factor, copy_factor = (original.image.shape[0] / photo.image.shape[0],
                           again.image.shape[0] / copy.shape[0])
    truth = scaled(photo.subject_box, factor)
    truth_in_copy = scaled(copy_box(photo.subject_box, photo.image.shape), copy_factor)
    assert original.subject_box is not None and again.subject_box is not None
    # The person chosen is the one pasted as the main subject, in the photo and in the copy...
    assert overlap(original.subject_box, truth) >= 0.5
    assert overlap(again.subject_box, truth_in_copy) >= 0.5
    # ...so the photo's box, carried through the crop and the rescale, is the copy's.
    carried = scaled(copy_box(scaled(original.subject_box, 1 / factor), photo.image.shape),
                     copy_factor)
    assert overlap(carried, again.subject_box) >= 0.5
    # Her pose, found in both, is called the same pose: not a bystander's in either.
    assert result.pose_similarity is not None
    assert result.pose_similarity >= pose.POSE_THRESHOLD
    assert not result.mirrored


def test_a_pose_outside_the_main_subject_is_never_taken(monkeypatch):
    """When MediaPipe finds no body in the main subject's box, a body it finds elsewhere in the
    photo (a bystander's) is not compared: the photo has no pose, and the note says so."""
    photo = crowds.crowded_photo(0, crowds.TEST_SCENES, "astronaut")
    found = pose.analyse(photo.image)
    top, left, height, width = found.subject_box
    bystander = np.zeros((33, 3), np.float32)
    bystander[:, 2] = 1.0
    image_h, image_w = found.image.shape[:2]
    # Joints well to the right of the subject's box, in the whole photo's normalised
    # coordinates.
    bystander[:, 0] = min(0.99, (left + width + 0.15 * max(height, width)) / image_w)
    assert bystander[0, 0] * image_w > left + width + 0.1 * max(height, width)
    bystander[:, 1] = np.linspace(0.3, 0.9, 33)

    def landmarks(image):  # no body in any crop; the whole photo shows the bystander
        return bystander.copy() if image.shape[:2] == (image_h, image_w) else None

    monkeypatch.setattr(pose.RUNTIME, "landmarks", landmarks)
    analysis = pose.analyse(photo.image)
    assert analysis.subject_box == found.subject_box and not analysis.has_pose
    result = pose.compare_analyses(found, analysis)
    assert result.pose_similarity is None
    assert any("No body pose found for the main subject of the second photo" in note
               for note in result.notes)


def test_the_evaluation_reports_auc_hit_and_false_match_rates(tmp_path):
    """`python -m models.evaluate pose --crowded` on a few held-out photos: its JSON's rates are
    the shares of the scores it lists at the threshold, its photos share no scene or seed with
    the test's, and the printed table shows the same figures."""
    from models.evaluate import main

    out, err = StringIO(), StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["pose", "--crowded", "--photos", "4", "--json", str(tmp_path / "r.json")])
    assert code == 0, err.getvalue()
    report = json.loads((tmp_path / "r.json").read_text())
    threshold = report["threshold"]
    assert threshold == pose.POSE_THRESHOLD
    copies = [photo["copy_similarity"] for photo in report["photos"]]
    unrelated = [pair["similarity"] for pair in report["unrelated"]]
    assert len(copies) == 4 and len(unrelated) == 4  # 2 photos of each subject: 2 x 2 pairs

    def called_same(values):
        return sum(v is not None and v >= threshold for v in values) / len(values)

    assert report["hit_rate"] == pytest.approx(called_same(copies))
    assert report["false_match_rate"] == pytest.approx(called_same(unrelated))
    ranked = [[-1.0 if v is None else v for v in side] for side in (copies, unrelated)]
    wins = sum((c > u) + 0.5 * (c == u) for c in ranked[0] for u in ranked[1])
    assert report["auc"] == pytest.approx(wins / 16)
    for photo in report["photos"]:
        assert photo["scene"] in crowds.HELD_OUT_SCENES and photo["seed"] not in SEEDS
    assert not set(crowds.HELD_OUT_SCENES) & set(crowds.TEST_SCENES)
    printed = out.getvalue()
    assert f"| AUC, copies against unrelated pairs | {report['auc']:.3f} |" in printed
    assert f"| hit rate: copies called the same pose | {report['hit_rate']:.2f}" in printed
    assert ("| false-match rate: unrelated pairs called the same pose | "
            f"{report['false_match_rate']:.3f}") in printed


def test_the_evaluation_refuses_a_run_folder_with_crowded(tmp_path):
    from models.evaluate import main

    err = StringIO()
    with redirect_stderr(err), redirect_stdout(StringIO()):
        assert main(["pose", "--crowded", "--model", str(tmp_path)]) == 1
        assert main(["pose", "--photos", "4", "--model", str(tmp_path)]) == 1
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 2
    assert "takes no --model or --data" in lines[0] and "use it with --crowded" in lines[1]
