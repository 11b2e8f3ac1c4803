"""CLIP similarity models for Grad-CAM, and the Pose tab's explanation adapters, on the tiny
keras-hub CLIP (2 layers, 16 dimensions, 32 x 32 images) loaded through the real resolver."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest

from benchmarks.stand_ins.region_models import photo
from explain import FunctionModel, KerasModel, explain
from models.pose import comparison as pose
from models.pose import explanations as pose_explain


def person_analysis(image: np.ndarray, mask: np.ndarray) -> pose.PersonAnalysis:
    """An analysis with a hand-made person mask and no pose (no MediaPipe needed)."""
    return pose.PersonAnalysis(image, 1, None, None, mask.astype(np.float32))


def centre_mask(height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), np.float32)
    mask[height // 4 : 3 * height // 4, width // 3 : 2 * width // 3] = 1.0
    return mask


# === CLIPModel.similarity_model ===


def test_similarity_model_scores_the_cosine_to_each_reference(tiny_clip_model):
    clip = tiny_clip_model
    pictures = np.stack([photo(40, 40), photo(40, 40)[::-1], photo(40, 40)[:, ::-1]])
    embeddings = clip.embed_images(pictures)
    references = np.stack([embeddings[0] * 3.0, embeddings[1]])  # unnormalised is fine
    model = clip.similarity_model(references)
    scores = np.asarray(model({"images": clip.preprocess_images(pictures)}))
    np.testing.assert_allclose(scores, embeddings @ (references / np.linalg.norm(
        references, axis=1, keepdims=True)).T, atol=1e-5)
    assert scores[0, 0] == pytest.approx(1.0, abs=1e-5) and scores[2, 0] < 0.999


def test_similarity_model_puts_the_cam_layer_at_the_top_level(tiny_clip_model):
    clip = tiny_clip_model
    reference = clip.embed_images(photo(40, 40))[0]
    model = clip.similarity_model(reference)
    assert tuple(model.output.shape) == (None, 1)
    adapter = KerasModel(model, preprocess=clip.preprocess_graph,
                         cam_layer=clip.gradcam_layer_name, input_box=clip.crop_box)
    exp = explain("gradcam", adapter, photo(40, 64), target=0, faithfulness=False)
    assert exp.heatmap.shape == (40, 64) and exp.meta["grid"] == (clip.patch_grid,) * 2
    assert exp.heatmap.max() == pytest.approx(1.0)


@pytest.mark.parametrize("references, message", [
    (np.ones(7), "must have shape"),
    (np.zeros(16), "all zeros"),
])
def test_similarity_model_refuses_bad_references(tiny_clip_model, references, message):
    with pytest.raises(ValueError, match=message):
        tiny_clip_model.similarity_model(references)


# === The Pose tab's adapters ===


def test_the_gradcam_adapter_scores_your_background_against_the_posts(tiny_clip_model):
    clip = tiny_clip_model
    post = person_analysis(photo(48, 48), centre_mask(48, 48))
    yours_image = photo(40, 64)[:, ::-1].copy()
    mask = centre_mask(40, 64)
    yours = person_analysis(yours_image, mask)
    adapter = pose_explain.background_gradcam_adapter(post, yours, clip=clip)
    assert list(adapter.output_names) == [pose_explain.GRADCAM_OUTPUT]

    cosine = float(clip.embed_images(yours.background_only())[0]
                   @ clip.embed_images(post.background_only())[0])
    expected = min(max((cosine - 0.5) / 0.5, 0.0), 1.0)  # as the comparison maps it
    score = adapter.predict(yours_image[None])[0, 0]
    assert score == pytest.approx(expected, abs=1e-4)
    # Whatever the person does, the background score cannot change: the mask is greyed out
    # inside the model, as background_only does.
    repainted = yours_image.copy()
    repainted[mask >= 0.5] = [255, 0, 0]
    assert adapter.predict(repainted[None])[0, 0] == pytest.approx(score, abs=1e-5)
    # Also at the smaller size the faithfulness curves use.
    small = yours_image[::2, ::2]
    assert np.isfinite(adapter.predict(small[None])).all()

    exp = explain("gradcam", adapter, yours_image, target=pose_explain.GRADCAM_OUTPUT)
    assert exp.heatmap.shape == (40, 64) and exp.faithfulness is not None


def test_explanation_setup_offers_gradcam_only_with_clip(tiny_clip):
    post = person_analysis(photo(32, 32), centre_mask(32, 32))
    yours = person_analysis(photo(32, 32)[::-1].copy(), centre_mask(32, 32))
    background = pose_explain.SIMILARITY_OUTPUTS[1]
    with_clip = pose_explain.explanation_setup(post, yours, target=background)
    assert pose_explain.gradcam_available()
    assert set(with_clip.models) == {"lime", "shap", "gradcam"}
    assert isinstance(with_clip.models["lime"], FunctionModel)
    assert with_clip.models["gradcam"].supports_gradients
    # Grad-CAM explains the CLIP part, under its own name.
    assert with_clip.method_targets == {"gradcam": pose_explain.GRADCAM_OUTPUT}
    without = pose_explain.explanation_setup(post, yours, gradcam=False, target=background)
    # Without CLIP, Grad-CAM maps to the reason it cannot run, said the same way however asked.
    assert without.models["gradcam"] == pose_explain.GRADCAM_NEEDS_CLIP
    assert not any(getattr(m, "supports_gradients", False) for m in without.models.values())
    # For the pose, Grad-CAM is offered with the reason it cannot explain it.
    on_pose = pose_explain.explanation_setup(post, yours)
    assert on_pose.models["gradcam"] == pose_explain.GRADCAM_SCOPE


def test_the_pose_tab_offers_gradcam_when_clip_is_here(tiny_clip):
    from demos import pose_tab

    with gr.Blocks() as demo:
        pose_tab.build()
    pickers = [block for block in demo.blocks.values()
               if isinstance(block, gr.CheckboxGroup) and block.elem_id == "pose-explain-methods"]
    assert [value for _, value in pickers[0].choices] == ["gradcam", "lime", "shap"]
    assert not any(isinstance(block, gr.Markdown) and "Not available here" in str(block.value)
                   for block in demo.blocks.values())


# === Pose maps: body parts, hidden by the place behind them ===


def test_lime_and_shap_hide_with_a_given_fill_image():
    """With `fill_image`, a hidden segment (LIME) or block (SHAP) shows the fill's pixels, not
    black or a blur: every pixel of every image the model sees is the photo's or the fill's."""
    image = photo(48, 64)
    fill = np.zeros_like(image)
    fill[..., 1] = 255  # pure green: no pixel of the photo is
    assert not (image == fill).all(axis=-1).any()
    seen = []

    def record(images):
        seen.append(images.copy())
        return images[..., 1].mean(axis=(1, 2))[:, None] / 255.0

    model = FunctionModel(record, ["green"], batch_size=8)
    segments = np.repeat(np.arange(8), 8)[None, :].repeat(48, axis=0)  # 8 vertical bands
    for method, options in (("lime", {"segments": segments}), ("shap", {})):
        seen.clear()
        exp = explain(method, model, image, budget=20, faithfulness=False, fill_image=fill,
                      **options)
        images = np.concatenate(seen)
        from_photo = (images == image).all(axis=-1)
        from_fill = (images == fill).all(axis=-1)
        assert (from_photo | from_fill).all(), method
        assert from_fill.any(axis=(1, 2)).sum() >= len(images) // 2, method
        # Hiding shows green, which raises the score: every band lowers it when shown.
        assert exp.heatmap.max() <= 0.0 + 1e-6, method


def test_a_fill_image_of_another_size_is_resized_and_a_bad_one_refused():
    image = photo(32, 32)
    model = FunctionModel(lambda images: images.mean(axis=(1, 2, 3))[:, None], ["mean"])
    big_fill = np.full((64, 64, 3), 255, np.uint8)
    exp = explain("lime", model, image, budget=10, faithfulness=False, fill_image=big_fill,
                  segments=np.arange(4).repeat(8)[None, :].repeat(32, axis=0))
    assert exp.heatmap.shape == (32, 32)
    for bad in (np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.float32)):
        with pytest.raises(ValueError, match="fill_image must be a uint8 H x W x 3 image"):
            explain("shap", model, image, budget=10, faithfulness=False, fill_image=bad)


def standing(width=200, height=300):
    """An upright figure's 13 joints (x, y) in pixels, in JOINT_NAMES order (its left on the
    image's right), and a person mask around it."""
    cx = width / 2
    points = np.array([
        [cx, 40], [cx + 30, 80], [cx - 30, 80], [cx + 40, 130], [cx - 40, 130],
        [cx + 45, 175], [cx - 45, 175], [cx + 20, 170], [cx - 20, 170],
        [cx + 22, 225], [cx - 22, 225], [cx + 24, 280], [cx - 24, 280]], np.float32)
    mask = np.zeros((height, width), np.float32)
    mask[15:295, int(cx - 55): int(cx + 55)] = 1.0
    return points, mask


def test_body_parts_split_the_person_along_the_skeleton():
    points, mask = standing()
    image = np.full((300, 200, 3), 120, np.uint8)
    analysis = pose.PersonAnalysis(image, 1, points, np.ones(13, np.float32), mask,
                                   subject_box=(15, 45, 280, 110))
    labels = pose_explain.body_parts(analysis)
    names = ["rest"] + [name for name, _ in pose_explain.BODY_PARTS]

    def part_at(x, y):
        return names[labels[y, x]]

    joint = {name: points[i] for i, name in enumerate(pose.JOINT_NAMES)}
    assert part_at(100, 38) == "head"
    assert part_at(100, 125) == "torso"  # between the shoulders and the hips
    # Midway along each bone, that limb (the figure's left is on the image's right).
    for part, (first, second) in [("left forearm", ("left elbow", "left wrist")),
                                  ("right upper arm", ("right shoulder", "right elbow")),
                                  ("left shin", ("left knee", "left ankle")),
                                  ("right thigh", ("right hip", "right knee"))]:
        x, y = np.rint((joint[first] + joint[second]) / 2).astype(int)
        assert part_at(x, y) == part
    assert part_at(5, 150) == "rest" and part_at(195, 5) == "rest"  # off the person
    assert set(np.unique(labels)) == set(range(len(names)))  # every part has pixels


def test_the_explained_pose_similarity_counts_lost_joints_as_not_matching():
    points, mask = standing()
    image = np.full((300, 200, 3), 120, np.uint8)

    def person(keypoints, visibility):
        return pose.PersonAnalysis(image, 1, keypoints, visibility, mask)

    post = person(points, np.ones(13, np.float32))
    moved = points.copy()
    moved[pose.JOINT_NAMES.index("left wrist")] += [40, -60]  # one arm raised
    yours = person(moved, np.ones(13, np.float32))
    evidence = pose.joint_evidence(post, yours)
    assert evidence == pytest.approx(13.0)  # 13 joints, both photos see each fully
    shown = pose.pose_similarity(post, yours)[0]
    # The photo itself scores what the card shows.
    assert pose.explained_pose_similarity(post, yours, evidence) == pytest.approx(shown)
    # A copy whose legs MediaPipe no longer sees: the plain mean over the joints left barely
    # moves, while the explained score loses the legs' share.
    legless = np.ones(13, np.float32)
    legs = [pose.JOINT_NAMES.index(n) for n in ("left knee", "right knee", "left ankle",
                                                 "right ankle")]
    legless[legs] = 0.1
    copy = person(moved, legless)
    plain = pose.pose_similarity(post, copy)[0]
    scores = {j.name: j.score for j in pose.pose_similarity(post, copy)[1]}
    seen = [name for name, score in scores.items() if score is not None]
    expected = sum(scores[name] for name in seen) / 13  # the lost joints count as 0
    assert pose.explained_pose_similarity(post, copy, evidence) == pytest.approx(expected)
    assert pose.explained_pose_similarity(post, copy, evidence) < 0.75 * plain
    # No body at all: 0.
    assert pose.explained_pose_similarity(post, person(None, None), evidence) == 0.0


def test_the_pose_request_hides_body_parts_with_the_inpainted_place():
    points, mask = standing()
    image = photo(300, 200)
    yours = pose.PersonAnalysis(image, 1, points, np.ones(13, np.float32), mask,
                                subject_box=(15, 45, 280, 110))
    options = pose_explain.explanation_options(yours, pose_explain.SIMILARITY_OUTPUTS[0])
    assert set(options) == {"lime", "shap"}
    np.testing.assert_array_equal(options["lime"]["segments"], pose_explain.body_parts(yours))
    for method in ("lime", "shap"):
        np.testing.assert_array_equal(options[method]["fill_image"], yours.background_only())
    assert pose_explain.explanation_options(yours, pose_explain.SIMILARITY_OUTPUTS[1]) == {}
