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
    assert isinstance(with_clip.models["gradcam"], KerasModel)
    # Grad-CAM explains the CLIP part, under its own name.
    assert with_clip.method_targets == {"gradcam": pose_explain.GRADCAM_OUTPUT}
    without = pose_explain.explanation_setup(post, yours, gradcam=False, target=background)
    # Without CLIP, Grad-CAM maps to the reason it cannot run, said the same way however asked.
    assert without.models["gradcam"] == pose_explain.GRADCAM_NEEDS_CLIP
    assert not any(isinstance(m, KerasModel) for m in without.models.values())
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
