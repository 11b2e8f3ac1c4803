"""models.style.classify with the tiny keras-hub CLIP preset, loaded through the real resolver:
the person crop, the zero-shot probabilities worked out by hand, label sets, and what is
explained."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from models.style import InvalidLabels, StyleUnavailable, classify, label_sets
from models.style.classify import NO_PERSON_NOTE, ZERO_SHOT
from models.style.crop import person_box


@pytest.fixture(scope="module")
def astronaut():
    return data.astronaut()


@pytest.fixture(scope="module")
def coffee():
    return data.coffee()


def test_the_person_is_found_and_cropped_with_a_margin(astronaut):
    """The astronaut stands left of centre, her head near the top, the flag to the right."""
    box = person_box(astronaut)
    assert box is not None
    top, left, height, width = box
    assert 0 <= top and 0 <= left and top + height <= 512 and left + width <= 512
    assert height * width < 0.9 * 512 * 512  # a crop, not the photo
    # Her face (about rows 70-220, columns 150-250 in the 512-pixel photo) is inside it.
    assert top <= 90 and top + height >= 220 and left <= 150 and left + width >= 250


def test_a_photo_without_a_person_has_no_crop(coffee):
    assert person_box(coffee) is None


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def test_zero_shot_probabilities_are_the_softmax_of_scaled_cosines(tiny_clip_model, astronaut):
    """Worked out from CLIP's embeddings here: each label's prompt embeddings averaged and
    re-normalised, cosines with the crop's embedding, softmax at CLIP's logit scale."""
    result = classify(astronaut)
    everyday = label_sets()["everyday"]
    assert result.source == ZERO_SHOT and result.label_set == "everyday"
    assert result.labels == everyday.labels and result.crop is not None and not result.notes

    image_vector = unit(tiny_clip_model.embed_images([result.crop_image]))[0]
    label_vectors = unit(np.stack([unit(tiny_clip_model.embed_texts(list(prompts))).mean(axis=0)
                                   for prompts in everyday.prompts.values()]))
    logits = tiny_clip_model.logit_scale * (label_vectors @ image_vector)
    expected = np.exp(logits - logits.max())
    expected /= expected.sum()
    got = np.array(list(result.probabilities.values()))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    ranked = np.sort(expected)[::-1]
    assert result.top == everyday.labels[int(np.argmax(expected))]
    assert result.margin == pytest.approx(ranked[0] - ranked[1], abs=1e-6)


def test_no_person_classifies_the_whole_photo_and_says_so(tiny_clip, coffee):
    result = classify(coffee)
    assert result.crop is None and result.notes == (NO_PERSON_NOTE,)
    assert result.crop_image.shape == result.photo.shape
    assert sum(result.probabilities.values()) == pytest.approx(1.0)


def test_fashionstyle14_and_the_users_own_labels(tiny_clip, astronaut):
    fourteen = classify(astronaut, label_set="fashionstyle14")
    assert fourteen.label_set == "fashionstyle14" and len(fourteen.probabilities) == 14
    assert {"lolita", "mode", "gal", "rock"} <= set(fourteen.labels)
    own = classify(astronaut, labels=["space suit", "  business   casual "])
    assert own.label_set == "custom" and own.labels == ("space suit", "business casual")
    assert sum(own.probabilities.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("kwargs, message", [
    ({"label_set": "goth"}, "label_set: got 'goth'; expected one of 'everyday', "
                            "'fashionstyle14'."),
    ({"labels": ["only one"]}, "labels: got 1; expected 2 to 30 style names."),
    ({"labels": ["punk", "PUNK"]}, "labels: got 'PUNK' twice; expected distinct labels."),
    ({"labels": "punk, goth"}, "labels: got 'punk, goth'; expected a list of 2 to 30 style "
                               "names."),
    ({"labels": ["punk", "x" * 41]}, "expected each label to be 1 to 40 printable characters."),
])
def test_bad_label_requests_get_one_line_before_any_work(kwargs, message, astronaut):
    with pytest.raises(InvalidLabels) as refused:
        classify(astronaut, **kwargs)
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_without_clip_or_a_trained_model_it_says_what_is_missing(astronaut):
    with pytest.raises(StyleUnavailable) as missing:
        classify(astronaut)
    assert missing.value.summary == (
        "Style needs the CLIP weights (python -m weights pull clip) or a trained classifier "
        "(python -m models.train style --data DIR --backbone clip|vgg16); neither is on this "
        "machine.")


def test_every_method_explains_the_displayed_probabilities(tiny_clip, astronaut):
    """Grad-CAM's model and the LIME/SHAP black box both score the crop exactly as the result
    shows, for every label; CAM names what it needs."""
    from models.style.explanations import CAM_NEEDS_VGG16, explanation_setup

    result = classify(astronaut)
    setup = explanation_setup(result)
    shown = np.array(list(result.probabilities.values()))
    assert setup.photo.shape == result.crop_image.shape
    assert setup.models["cam"] == CAM_NEEDS_VGG16
    for method in ("gradcam", "lime", "shap"):
        model = setup.models[method]
        assert list(model.output_names) == list(result.labels)
        np.testing.assert_allclose(model.predict(setup.photo[None])[0], shown, rtol=1e-3,
                                   atol=1e-5)


def test_a_map_for_any_label(tiny_clip, astronaut):
    """Each label is an output, so the panel can explain the runner-up as well as the top."""
    from explain import explain
    from models.style.explanations import explanation_setup

    result = classify(astronaut)
    setup = explanation_setup(result)
    runner_up = sorted(result.probabilities, key=result.probabilities.get)[-2]
    for method in ("gradcam", "lime"):
        exp = explain(method, setup.models[method], setup.photo, target=runner_up, seed=0,
                      budget=None if method == "gradcam" else 40, faithfulness=False)
        assert exp.heatmap.shape == setup.photo.shape[:2] and np.isfinite(exp.heatmap).all()
        assert exp.target == runner_up
