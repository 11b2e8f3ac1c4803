"""The Pose tab: the app's "pose" API driven through a real Gradio server with gradio_client, the
explanation requests it builds, and the pictures of demos.figures.pose.

The photos are the tab's own examples (demos/examples/: scikit-image's astronaut, camera and
coffee), so these tests also check that the examples show what their labels promise.
"""

from __future__ import annotations

import io
import re
from dataclasses import replace

import gradio as gr
import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

from demos import TABS, pose_tab
from demos.figures import pose as pose_drawing
from models.images import judged_copy
from models.pose import comparison as pose
from tests.served import serve

EXAMPLES = pose_tab.EXAMPLES_DIR
POST = EXAMPLES / "astronaut.jpg"


@pytest.fixture(scope="module")
def client():
    """The app served as app.py serves it, with the middleware that counts result streams: a
    pose map takes longer than the 10 s after which a request with no stream counted counts as
    abandoned (demos.listeners), and without it that run would be stopped."""
    from gradio_client import Client

    import app
    from demos.listeners import guard_middleware

    demo = app.build_app(offline=True)
    with serve(demo, app_kwargs={"middleware": guard_middleware(demo)}) as url:
        yield Client(url, verbose=False)


def compare(client, post, photo, allow_mirror=True):
    """(verdict html, numbers, skeleton a, skeleton b, chart, masks a b, backgrounds a b)."""
    return client.predict(handle_file(str(post)), handle_file(str(photo)), allow_mirror,
                          api_name="/pose")


# === The tab in the app ===


def test_the_pose_tab_comes_first_and_offers_its_example_pairs():
    assert [tab.KEY for tab in TABS] == ["aesthetic", "pose", "style", "tags", "profile", "models"]
    assert pose_tab.OUTPUTS == pose.SIMILARITY_OUTPUTS
    readme = (EXAMPLES / "README.md").read_text()
    for post, photo, _ in pose_tab.EXAMPLES:
        for name in (post, photo):
            path = EXAMPLES / name
            assert path.stat().st_size < 80_000, name
            assert f"`{name}`" in readme  # every example's source and licence are recorded


def test_the_same_photo_twice_is_a_recreation(client):
    verdict, numbers, skeleton_a, skeleton_b, chart, *views = compare(client, POST, POST)
    assert numbers["similar"] is True
    assert numbers["pose_similarity"] >= 0.95 and numbers["background_similarity"] >= 0.95
    assert "Same pose, same place" in verdict
    assert "0.6155" in verdict and "0.39" in verdict  # both thresholds are shown
    width, height = Image.open(POST).size
    for path in (skeleton_a, skeleton_b, *views):
        assert Image.open(path).size == (width, height)
    assert chart["type"] == "matplotlib" and chart["plot"].startswith("data:image/png")


def test_a_mirrored_cropped_brighter_copy_is_a_recreation(client):
    verdict, numbers, *_ = compare(client, POST, EXAMPLES / "astronaut_mirrored.jpg")
    assert numbers["similar"] and numbers["mirrored"]
    assert "Mirrored: <b>yes</b>" in verdict


def test_another_pose_in_another_place_is_not(client):
    verdict, numbers, *_ = compare(client, POST, EXAMPLES / "camera.jpg")
    assert numbers["similar"] is False
    assert numbers["pose_similarity"] < numbers["pose_threshold"]
    assert numbers["background_similarity"] < numbers["background_threshold"]
    assert "Different pose, different place" in verdict


def test_a_photo_without_a_person_still_compares_the_places(client):
    verdict, numbers, _, skeleton_b, chart, *_ = compare(client, POST, EXAMPLES / "coffee.jpg")
    assert numbers["pose_similarity"] is None and numbers["similar"] is False
    assert numbers["people"] == [1, 0]
    assert 0.0 <= numbers["background_similarity"] <= 1.0
    assert any("No person found in the second photo" in note for note in numbers["notes"])
    assert "No pose to compare" in verdict and "No person found in the second photo" in verdict
    # The skeleton picture is the photo with a label, not a blank.
    # It is drawn on the copy the comparison judged (longest side at most 512).
    coffee = judged_copy(np.asarray(Image.open(EXAMPLES / "coffee.jpg").convert("RGB")))
    coffee = coffee.astype(np.int16)
    labelled = np.asarray(Image.open(skeleton_b).convert("RGB"), np.int16)
    assert labelled.shape == coffee.shape and np.abs(labelled - coffee).mean() > 0.5


def test_a_truncated_photo_gets_one_line(client, tmp_path):
    buffer = io.BytesIO()
    Image.open(POST).save(buffer, "JPEG")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(buffer.getvalue()[:600])
    with pytest.raises(Exception) as caught:
        compare(client, POST, broken)
    message = str(caught.value)
    assert message.startswith("That photo of yours can't be used:")
    assert "\n" not in message and "Traceback" not in message


def test_the_panel_explains_the_background_through_the_api(client):
    status, gallery, table, png = client.predict(
        handle_file(str(POST)), handle_file(str(EXAMPLES / "astronaut_mirrored.jpg")), True,
        ["lime"], "background similarity", 0, 10, 10, api_name="/pose_explain",
    )
    assert status.startswith("Explained **background similarity** = ")
    assert " with LIME." in status
    assert len(gallery) == 1 and table["data"][0][0] == "LIME"
    assert table["data"][0][9] == 10  # the budget typed in Advanced reached LIME


@pytest.fixture(scope="module")
def example_paths():
    return {name: str(EXAMPLES / name) for name in
            ("astronaut.jpg", "astronaut_mirrored.jpg", "coffee.jpg")}


def test_the_pose_maps_of_the_showcase_pair_beat_random_maps(client):
    """The "Same pose, same place" example, explained as the tab explains it (its budgets of
    100): LIME over body parts and SHAP, both hiding with the place behind the person, beat the
    random maps on deletion and on insertion, and their normalised values stay on the 0-1
    scale the legend gives."""
    status, gallery, table, _ = client.predict(
        handle_file(str(POST)), handle_file(str(EXAMPLES / "astronaut_mirrored.jpg")), True,
        ["lime", "shap"], "pose similarity", 0, 100, 100, api_name="/pose_explain",
    )
    assert status.startswith("Explained **pose similarity** = ")
    assert "hides parts of your body" in status  # the note on how the maps perturb
    assert len(gallery) == 3  # the two maps, then where they agree
    assert gallery[-1]["caption"].startswith("Where the methods agree · pose similarity · ")
    assert "LIME–SHAP ρ " in status
    rows = {row[0]: row for row in table["data"]}
    assert set(rows) == {"LIME", "SHAP"}
    for method, row in rows.items():
        assert row[7] == "faithful", (method, row)
        deletion, insertion = (float(part.split(" ± ")[0]) for part in (row[4], row[5]))
        spreads = (float(row[4].split(" ± ")[1]), float(row[5].split(" ± ")[1]))
        assert row[2] < deletion - spreads[0] and row[3] > insertion + spreads[1]
        normalised = [float(value) for value in re.split(r" / |; ", row[6])]
        assert all(0.0 <= value <= 1.0 for value in normalised), (method, row[6])


def test_a_different_pose_gets_no_pose_map_and_says_why(example_paths):
    """The "Different pose, different place" example: asked for the pose, the request explains
    the background, its note says why there is no pose map, and the picker follows."""
    request = pose_tab.make_request(example_paths["astronaut.jpg"], str(EXAMPLES / "camera.jpg"),
                                    True, "pose similarity")
    similarity = pose.compare(example_paths["astronaut.jpg"],
                              str(EXAMPLES / "camera.jpg")).pose_similarity
    assert similarity < pose.POSE_THRESHOLD
    assert request.target == "background similarity"
    assert list(request.target_choices) == list(pose_tab.OUTPUTS)
    assert request.note.startswith(f"The poses differ (pose similarity {similarity:.2f}")
    assert "no map of it beats random maps" in request.note
    assert request.options == {}  # the background is explained with the explainers' defaults


def test_the_legend_says_what_normalised_values_past_1_mean():
    text = _legend_of_a_built_pose_tab()
    assert "put the photo's own score at 1" in text
    assert "above 1 (or below 0) means the score went past the photo's own" in text


def test_the_api_and_the_pictures_show_the_main_subject(client, tmp_path):
    """A crowded photo and its re-post (cropped, scaled, brighter): the comparison's numbers
    give each photo's main subject as shares of its size, on the pasted subject in both, and
    the skeleton pictures draw that box in the subject's blue."""
    from models.pose import evaluate_crowd as crowds

    photo = crowds.crowded_photo(2, crowds.TEST_SCENES, "astronaut")
    copy = crowds.copy_of(photo.image)
    paths = [tmp_path / "post.png", tmp_path / "photo.png"]
    for path, image in zip(paths, (photo.image, copy), strict=True):
        Image.fromarray(image).save(path)
    _, numbers, skeleton_a, skeleton_b, *_ = compare(client, *paths)
    subjects = numbers["main_subject"]
    truths = [photo.subject_box, crowds.box_in_copy(photo.subject_box, photo.image.shape)]
    for key, truth, image, picture in zip(("post", "photo"), truths, (photo.image, copy),
                                          (skeleton_a, skeleton_b), strict=True):
        found = subjects[key]
        height, width = image.shape[:2]
        box = (found["top"] * height, found["left"] * width, found["height"] * height,
               found["width"] * width)
        assert iou(box, truth) >= 0.5, key
        drawn = np.asarray(Image.open(picture).convert("RGB"), int)
        rows, cols = drawn.shape[:2]
        # Halfway down the box's left edge, the picture is the subject's blue.
        y = round((found["top"] + found["height"] / 2) * rows)
        x = round(found["left"] * cols)
        edge = drawn[y, max(0, x - 2) : x + 3]
        assert (np.abs(edge - pose_drawing.SUBJECT).sum(axis=1) < 60).any(), (key, edge)


def iou(first, second) -> float:
    top, left = max(first[0], second[0]), max(first[1], second[1])
    bottom = min(first[0] + first[2], second[0] + second[2])
    right = min(first[1] + first[3], second[1] + second[3])
    inside = max(0.0, bottom - top) * max(0.0, right - left)
    return inside / (first[2] * first[3] + second[2] * second[3] - inside)


# === The explanation request ===




def test_the_request_explains_your_photo_against_the_post(example_paths):
    from explain import FunctionModel

    request = pose_tab.make_request(example_paths["astronaut.jpg"],
                                    example_paths["astronaut_mirrored.jpg"], True,
                                    "background similarity")
    assert request.image.shape == np.asarray(
        Image.open(example_paths["astronaut_mirrored.jpg"])).shape
    assert request.target == "background similarity"
    lime = request.model_for("lime")
    assert isinstance(lime, FunctionModel)
    # Only the explained similarity is computed for each perturbed copy.
    assert list(lime.output_names) == ["background similarity"]
    # Offline, no CLIP: the request holds the reason Grad-CAM cannot run, not a model (and
    # the panel does not offer it).
    from models.pose.explanations import GRADCAM_NEEDS_CLIP

    assert request.model["gradcam"] == GRADCAM_NEEDS_CLIP
    # The function scores your photo as the comparison did.
    comparison = pose.compare(example_paths["astronaut.jpg"],
                              example_paths["astronaut_mirrored.jpg"])
    scores = lime.predict(request.image[None])
    assert scores[0, 0] == pytest.approx(comparison.background_similarity, abs=1e-5)
    pose_request = pose_tab.make_request(example_paths["astronaut.jpg"],
                                         example_paths["astronaut_mirrored.jpg"], True,
                                         "pose similarity")
    pose_model = pose_request.model_for("lime")
    assert list(pose_model.output_names) == ["pose similarity"]
    pose_scores = pose_model.predict(request.image[None])
    assert pose_scores[0, 0] == pytest.approx(comparison.pose_similarity, abs=1e-5)


def test_grad_cam_on_the_pose_is_refused_with_its_reason(example_paths):
    request = pose_tab.make_request(example_paths["astronaut.jpg"],
                                    example_paths["astronaut_mirrored.jpg"], True,
                                    "pose similarity", gradcam=True)
    with pytest.raises(ValueError, match="Grad-CAM explains the background only"):
        request.model_for("gradcam")


def test_no_pose_means_the_background_is_explained_and_the_picker_follows(example_paths):
    # The "No person in your photo" example with the panel's default target.
    request = pose_tab.make_request(example_paths["astronaut.jpg"], example_paths["coffee.jpg"],
                                    True, "pose similarity")
    assert request.target == "background similarity"
    assert request.note.startswith(pose_tab.NO_PERSON_SWITCH_NOTE)
    assert list(request.target_choices) == list(pose_tab.OUTPUTS)
    # With a person in both photos the asked target stands, and the picker is left alone.
    kept = pose_tab.make_request(example_paths["astronaut.jpg"],
                                 example_paths["astronaut_mirrored.jpg"], True, "pose similarity")
    assert kept.target == "pose similarity" and kept.target_choices is None


def test_the_tab_says_what_grad_cam_needs_when_clip_is_missing():
    with gr.Blocks() as demo:
        pose_tab.build()
    notes = [block.value for block in demo.blocks.values()
             if isinstance(block, gr.Markdown) and "Not available here" in str(block.value)]
    assert len(notes) == 1 and "python -m weights pull clip" in notes[0]


def _legend_of_a_built_pose_tab() -> str:
    with gr.Blocks() as demo:
        pose_tab.build()
    (text,) = [block.value for block in demo.blocks.values()
               if getattr(block, "elem_id", None) == "pose-explain-legend"]
    return text


def test_offline_the_legend_speaks_of_red_and_blue_only():
    # Without CLIP, Pose offers LIME and SHAP: signed maps, and no yellow to speak of.
    text = _legend_of_a_built_pose_tab()
    assert "LIME and SHAP maps are *signed*: red raised the score" in text
    assert "yellow" not in text and "Grad-CAM" not in text


def test_with_clip_the_legend_adds_grad_cams_scale(tiny_clip):
    text = _legend_of_a_built_pose_tab()
    assert "Grad-CAM maps show how much each part mattered: bright yellow" in text
    assert "LIME and SHAP maps are *signed*" in text


# === Verdict wording ===


def comparison_with(pose_similarity, background_similarity):
    blank = analysis(np.zeros((8, 8, 3), np.uint8))
    similar = (pose_similarity is not None and pose_similarity >= pose.POSE_THRESHOLD
               and background_similarity >= pose.BACKGROUND_THRESHOLD)
    return pose.PoseComparison(
        pose_similarity, background_similarity, similar,
        tuple(pose.JointScore(n, None, None) for n in pose.JOINT_NAMES), (1, 1), False,
        ("Same pose.", "A note <with> markup."),
        pose.BackgroundScore(background_similarity, 0, 0, 0), blank, blank,
    )


@pytest.mark.parametrize("pose_score, background, expected", [
    (0.9, 0.9, "✓ Same pose, same place"),
    (0.9, 0.1, "✗ Same pose, different place"),
    (0.1, 0.9, "✗ Different pose, same place"),
    (None, 0.9, "✗ No pose to compare, same place"),
])
def test_the_headline_says_which_part_fails(pose_score, background, expected):
    comparison = comparison_with(pose_score, background)
    assert pose_tab.headline(comparison)[0] == expected
    block = pose_tab.verdict_html(comparison)
    assert expected in block
    assert "A note &lt;with&gt; markup." in block  # notes are escaped
    assert "<li>Same pose.</li>" not in block  # the headline already says it


# === Drawing ===


def analysis(image, keypoints=None, visibility=None, mask=None):
    height, width = image.shape[:2]
    if keypoints is not None and visibility is None:
        visibility = np.ones(len(keypoints), np.float32)
    return pose.PersonAnalysis(
        image, 0 if keypoints is None else 1,
        None if keypoints is None else np.asarray(keypoints, np.float32), visibility,
        np.zeros((height, width), np.float32) if mask is None else mask,
    )


def standing_figure(height=300, width=200) -> np.ndarray:
    """13 joints of an upright figure in pixel coordinates (x, y), in JOINT_NAMES order."""
    cx = width / 2
    return np.array([
        [cx, 40],                                  # nose
        [cx + 30, 80], [cx - 30, 80],              # shoulders (left is on the image's right)
        [cx + 40, 130], [cx - 40, 130],            # elbows
        [cx + 45, 175], [cx - 45, 175],            # wrists
        [cx + 20, 170], [cx - 20, 170],            # hips
        [cx + 22, 225], [cx - 22, 225],            # knees
        [cx + 24, 280], [cx - 24, 280],            # ankles
    ], np.float32)


def test_the_skeleton_is_drawn_along_the_limbs_in_the_scores_colours():
    photo = np.full((300, 200, 3), 200, np.uint8)
    points = standing_figure()
    scores = [1.0] * 13
    scores[pose.JOINT_NAMES.index("right wrist")] = 0.0
    scores[pose.JOINT_NAMES.index("left knee")] = None
    drawn = pose_drawing.draw_skeleton(analysis(photo, points), scores).astype(int)
    assert drawn.shape == photo.shape and drawn.dtype == np.int64

    def colour_at(name):
        x, y = points[pose.JOINT_NAMES.index(name)]
        return drawn[round(y), round(x)]

    green, red, grey = colour_at("left wrist"), colour_at("right wrist"), colour_at("left knee")
    assert green[1] > green[0] + 60 and green[1] > green[2] + 40  # score 1: green
    assert red[0] > red[1] + 100 and red[0] > red[2] + 100  # score 0: red
    assert abs(grey[0] - grey[1]) < 20 and grey[0] < 190  # no score: grey, darker than paper
    # Along a bone (the left upper arm, both ends agreeing) the photo is painted green; far
    # from the skeleton it is untouched.
    shoulder = points[pose.JOINT_NAMES.index("left shoulder")]
    elbow = points[pose.JOINT_NAMES.index("left elbow")]
    x, y = np.rint((shoulder + elbow) / 2).astype(int)
    bone = drawn[y, x]
    assert bone[1] > bone[0] + 60 and bone[1] > bone[2] + 40
    assert (drawn[:20, :20] == 200).all() and (drawn[-10:, :] == 200).all()


def test_joints_the_photo_does_not_see_are_not_drawn():
    photo = np.full((300, 200, 3), 200, np.uint8)
    points = standing_figure()
    visibility = np.ones(13, np.float32)
    legs = [pose.JOINT_NAMES.index(n) for n in ("left knee", "right knee", "left ankle",
                                                 "right ankle")]
    visibility[legs] = 0.1
    drawn = pose_drawing.draw_skeleton(analysis(photo, points, visibility))
    assert (drawn[235:, :] == 200).all()  # nothing below the thighs' ends


def joint_scores(scores) -> tuple[pose.JointScore, ...]:
    return tuple(pose.JointScore(name, score, None)
                 for name, score in zip(pose.JOINT_NAMES, scores, strict=True))


def test_mirrored_matches_colour_your_photos_own_joints():
    comparison = comparison_with(0.9, 0.9)
    scores = [None] * 13
    scores[pose.JOINT_NAMES.index("left wrist")] = 0.25
    joints = joint_scores(scores)

    mirrored = replace(comparison, joints=joints, mirrored=True)
    b_scores = pose_drawing.scores_for_b(mirrored)
    assert b_scores[pose.JOINT_NAMES.index("right wrist")] == 0.25
    assert b_scores[pose.JOINT_NAMES.index("left wrist")] is None
    assert pose_drawing.scores_for_b(replace(mirrored, mirrored=False)) == scores


def test_the_main_subjects_box_is_drawn_around_that_person():
    photo = np.full((300, 200, 3), 200, np.uint8)
    points = standing_figure()
    subject = replace(analysis(photo, points), subject_box=(20, 40, 270, 120))
    drawn = pose_drawing.draw_skeleton(subject).astype(int)

    def blue(y, x):  # the subject's blue at or next to (y, x)
        near = drawn[max(0, y - 1) : y + 2, max(0, x - 1) : x + 2].reshape(-1, 3)
        return (np.abs(near - pose_drawing.SUBJECT).sum(axis=1) < 60).any()

    assert blue(200, 40) and blue(200, 160) and blue(290, 100)  # left, right, bottom edges
    assert not blue(200, 20) and not blue(200, 180)  # outside the box: the photo
    assert (drawn[240:270, 45:60] == 200).all()  # inside, away from the skeleton: the photo
    # Without a pose, the chosen subject's box stays, with a label saying why no skeleton.
    unposed = replace(analysis(photo), subject_box=(20, 40, 270, 120))
    drawn = pose_drawing.draw_skeleton(unposed).astype(int)
    assert blue(200, 40) and np.any(drawn[200:, 20:180] != 200)


def test_a_photo_without_a_pose_gets_a_label_not_a_skeleton():
    photo = np.full((120, 160, 3), 90, np.uint8)
    drawn = pose_drawing.draw_skeleton(analysis(photo))
    assert drawn.shape == photo.shape
    changed = np.any(drawn != photo, axis=-1)
    assert changed.any() and changed[:60].sum() == 0  # a label at the bottom only


def test_the_joint_chart_has_a_bar_per_joint_and_names_what_differs():
    scores = [0.95] * 13
    right_wrist = pose.JOINT_NAMES.index("right wrist")
    scores[right_wrist] = scores[pose.JOINT_NAMES.index("right elbow")] = 0.05
    scores[pose.JOINT_NAMES.index("left ankle")] = None
    joints = joint_scores(scores)

    figure = pose_drawing.joint_chart(replace(comparison_with(0.6, 0.9), joints=joints))
    (ax,) = figure.axes
    (bars,) = ax.containers
    assert len(bars) == 13
    widths = [bar.get_width() for bar in bars]
    assert widths[right_wrist] == pytest.approx(0.05) and widths[0] == pytest.approx(0.95)
    assert tuple(round(c * 255) for c in bars[right_wrist].get_facecolor()[:3]) == \
        pose_drawing.RED
    assert tuple(round(c * 255) for c in bars[0].get_facecolor()[:3]) == pose_drawing.GREEN
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("not seen") == 1
    assert re.search(r"Differ most: .*right forearm", ax.get_title(loc="left"))
    assert any(line.get_xdata()[0] == pose_drawing.AGREES for line in ax.lines)


def test_the_mask_view_tints_only_the_people():
    photo = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    mask = np.zeros((40, 60), np.float32)
    mask[10:30, 20:40] = 1.0
    view = pose_drawing.mask_view(analysis(photo, mask=mask))
    outside = mask == 0
    np.testing.assert_array_equal(view[outside], photo[outside])
    inside = view[~outside].astype(int) - photo[~outside]
    # Pulled towards pink: more red and blue than green.
    assert (inside[:, 0] - inside[:, 1]).mean() > 50
    background = pose_drawing.background_view(analysis(photo, mask=mask))
    # The people are filled in (the mask grown by 3% of the side, here 2 pixels), the rest is
    # the photo: random noise outside, a smooth inpainted fill inside.
    filled = np.zeros((40, 60), bool)
    filled[8:32, 18:42] = True
    np.testing.assert_array_equal(background[~filled], photo[~filled])
    steps = np.abs(np.diff(background.astype(float), axis=1)).sum(axis=-1)
    noise = np.abs(np.diff(photo.astype(float), axis=1)).sum(axis=-1)
    assert steps[12:28, 22:37].mean() < noise[12:28, 22:37].mean() / 4
