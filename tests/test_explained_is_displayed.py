"""Every map explains the number its tab shows: on the same photo, the quantity an explainer
scores on the unperturbed photo equals the number on the verdict card (or, where a method
cannot explain that number, the output it explains instead is named apart and its own value is
what the panel shows).

The check uses the explanation's own record of it: the first point of the deletion curve is
the model's score on the very image the map explains, before any pixel is deleted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data

from demos import aesthetic_tab, pose_tab
from explain import explain
from models import aesthetic
from models.pose import comparison as pose
from models.pose import explanations as pose_explain

EXAMPLES = Path(__file__).resolve().parents[1] / "demos" / "examples"
BUDGET = 10  # LIME and SHAP's minimum: the unperturbed score is all these tests need


def explained_value(method, setup, target):
    exp = explain(method, setup.models[method], setup.photo,
                  target=setup.method_targets.get(method, target),
                  budget=None if method == "gradcam" else BUDGET)
    assert exp.heatmap.shape == setup.photo.shape[:2]
    return exp.target, exp.faithfulness.deletion_curve[0]


@pytest.fixture(scope="module")
def large_coffee():
    """Coffee enlarged past the judged size, so judging a copy is part of what is tested."""
    from PIL import Image

    return np.asarray(Image.fromarray(data.coffee()).resize((900, 600)))


@pytest.mark.parametrize("method", ["lime", "shap"])
def test_quality_maps_explain_the_quality_on_the_card(large_coffee, method):
    rating = aesthetic.rate(large_coffee)
    setup = aesthetic.explanation_setup(large_coffee, "quality")
    target, value = explained_value(method, setup, "quality")
    assert target == "quality"
    assert value == pytest.approx(rating.quality, abs=1e-5)


def test_quality_grad_cam_says_why_it_cannot_explain_brisque(large_coffee):
    setup = aesthetic.explanation_setup(large_coffee, "quality")
    sentence = setup.models["gradcam"]
    assert isinstance(sentence, str) and "gradient" in sentence and "BRISQUE" in sentence
    assert "\n" not in sentence


@pytest.mark.parametrize("method", ["gradcam", "lime", "shap"])
def test_content_maps_explain_the_content_on_the_card(large_coffee, tiny_clip, method):
    aesthetic.explanations._adapters.clear()
    rating = aesthetic.rate(large_coffee)
    setup = aesthetic.explanation_setup(large_coffee, "content")
    target, value = explained_value(method, setup, "content")
    assert target == "content"
    assert value == pytest.approx(rating.content, abs=1e-4)
    aesthetic.explanations._adapters.clear()


def test_the_aesthetic_tab_hands_the_panel_the_judged_photo_and_the_names(large_coffee,
                                                                        tmp_path):
    from PIL import Image

    path = tmp_path / "large.png"
    Image.fromarray(large_coffee).save(path)
    request = aesthetic_tab.make_request(str(path), "quality")
    setup = aesthetic.explanation_setup(large_coffee, "quality")
    np.testing.assert_array_equal(request.image, setup.photo)
    assert request.method_targets == {}


# === Pose ===


@pytest.fixture(scope="module")
def pair():
    from models.images import load_image

    return (load_image(EXAMPLES / "astronaut.jpg"),
            load_image(EXAMPLES / "astronaut_mirrored.jpg"))


@pytest.mark.parametrize("method", ["lime", "shap"])
@pytest.mark.parametrize("target", pose.SIMILARITY_OUTPUTS)
def test_pose_maps_explain_the_similarities_on_the_card(pair, method, target):
    a, b = pose.analyse(pair[0]), pose.analyse(pair[1])
    comparison = pose.compare_analyses(a, b)
    shown = {pose.SIMILARITY_OUTPUTS[0]: comparison.pose_similarity,
             pose.SIMILARITY_OUTPUTS[1]: comparison.background_similarity}[target]
    setup = pose_explain.explanation_setup(a, b, gradcam=False, target=target)
    # The model's own score on the photo it is handed, as the explainers see it unperturbed.
    model = setup.models[method]
    assert model.work_side >= max(setup.photo.shape[:2])  # explained as it is, not shrunk
    assert model.predict(setup.photo)[0, 0] == pytest.approx(shown, abs=1e-5)


def test_a_pose_map_run_scores_the_shown_similarity_first(pair):
    a, b = pose.analyse(pair[0]), pose.analyse(pair[1])
    comparison = pose.compare_analyses(a, b)
    setup = pose_explain.explanation_setup(a, b, gradcam=False)
    target, value = explained_value("lime", setup, pose.SIMILARITY_OUTPUTS[0])
    assert target == "pose similarity"
    assert value == pytest.approx(comparison.pose_similarity, abs=1e-5)
    assert "not matching" in setup.note  # how a joint the perturbed copy loses counts


def test_with_clip_the_background_maps_explain_the_clip_averaged_score(pair, tiny_clip):
    a, b = pose.analyse(pair[0]), pose.analyse(pair[1])
    comparison = pose.compare_analyses(a, b)
    assert comparison.background.clip is not None  # CLIP is part of the shown number
    background = pose.SIMILARITY_OUTPUTS[1]
    setup = pose_explain.explanation_setup(a, b, target=background)
    assert setup.models["lime"].predict(setup.photo)[0, 0] == pytest.approx(
        comparison.background_similarity, abs=1e-4)
    # Grad-CAM explains CLIP's part alone, named apart, and its value is that part.
    assert setup.method_targets["gradcam"] == pose_explain.GRADCAM_OUTPUT != background
    gradcam = setup.models["gradcam"]
    assert gradcam.predict(setup.photo)[0, 0] == pytest.approx(comparison.background.clip,
                                                               abs=1e-4)


def test_a_copy_with_no_person_matches_no_pose(pair):
    """Hiding the whole person loses every joint: the copy's pose similarity is 0, the far end
    of the deletion curve, not the photo's own score."""
    a, b = pose.analyse(pair[0]), pose.analyse(pair[1])
    fn = pose.similarity_function(a, b, outputs=(pose.SIMILARITY_OUTPUTS[0],))
    assert pose.pose_similarity(a, b)[0] > 0.5  # the pair itself matches
    blank = np.full_like(b.image, 90)  # nobody in it: MediaPipe finds no pose
    assert pose.analyse(blank).keypoints is None
    assert fn(blank[None])[0, 0] == 0.0


def test_the_pose_tab_hands_the_panel_the_judged_photo(pair):
    request = pose_tab.make_request(str(EXAMPLES / "astronaut.jpg"),
                                    str(EXAMPLES / "astronaut_mirrored.jpg"), True,
                                    "background similarity", gradcam=False)
    np.testing.assert_array_equal(request.image, pose.analyse(pair[1]).image)
