"""`models.tags.tag`: every tag's probability, decision and rule, from CLIP zero-shot through the
real resolver (a tiny preset), and explanations that find each tag where it is."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.stand_ins.region_models import natural_photo, top_fraction_inside
from models.tags.mirflickr import CONCEPTS


def photo(side: int = 96) -> np.ndarray:
    from skimage import data
    from skimage.transform import resize

    small = resize(data.rocket(), (side, side * 3 // 2), anti_aliasing=True, preserve_range=True)
    return np.clip(np.rint(small), 0, 255).astype(np.uint8)


def expected_probabilities(clip, image, tags) -> dict[str, float]:
    """The documented rule worked out from CLIP's embeddings directly: sigmoid(scale x (cosine
    with the mean prompt vector - cosine with the mean counter-prompt vector))."""
    from models.images import judged_copy

    vector = clip.embed_images([judged_copy(image)])[0]

    def direction(prompts):
        mean = clip.embed_texts(list(prompts)).mean(axis=0)
        return mean / np.linalg.norm(mean)

    out = {}
    for tag in tags:
        margin = float(vector @ direction(tag.prompts) - vector @ direction(tag.counter_prompts))
        out[tag.name] = 1.0 / (1.0 + np.exp(-clip.logit_scale * margin))
    return out


def test_every_concept_gets_the_documented_zero_shot_probability(tiny_clip_model):
    from models.tags import tag
    from models.tags.vocabulary import concept_tag

    image = photo()
    result = tag(image)
    expected = expected_probabilities(tiny_clip_model, image, [concept_tag(c) for c in CONCEPTS])

    assert sorted(result.tags) == sorted(CONCEPTS)
    for decision in result.decisions:
        assert decision.probability == pytest.approx(expected[decision.tag], abs=1e-4)
        assert decision.applied == (decision.probability >= 0.5)
        assert decision.threshold == 0.5 and decision.source == "CLIP zero-shot"
        # The rule names the prompts compared and the numbers that decided.
        assert repr(concept_tag(decision.tag).prompts[0]) in decision.rule
        assert f"{decision.probability:.2f}" in decision.rule
    probabilities = [d.probability for d in result.decisions]
    assert probabilities == sorted(probabilities, reverse=True)
    assert result.applied == tuple(d.tag for d in result.decisions if d.probability >= 0.5)


def test_tags_are_judged_one_by_one_not_in_one_softmax(tiny_clip_model):
    """Multi-label: adding tags changes no other tag's probability (a softmax over tags
    would lower them all)."""
    from models.tags import tag

    image = photo()
    alone = tag(image, vocabulary=["sky", "water"])
    more = tag(image, vocabulary=["sky", "water"], extra="launch pad, smoke, palm trees")

    assert set(more.tags) == {"sky", "water", "launch pad", "smoke", "palm trees"}
    for name in ("sky", "water"):
        assert more.probabilities[name] == pytest.approx(alone.probabilities[name], abs=1e-6)
    own = {d.tag for d in more.decisions if d.own}
    assert own == {"launch pad", "smoke", "palm trees"}


def test_a_threshold_for_every_tag_is_applied_and_named(tiny_clip_model):
    from models.tags import tag

    image = photo()
    free = tag(image)
    cut = float(np.median([d.probability for d in free.decisions]))
    result = tag(image, threshold=cut)

    assert {d.tag for d in result.decisions if d.applied} == {
        d.tag for d in free.decisions if d.probability >= cut}
    assert all("your threshold" in d.rule for d in result.decisions)
    assert result.threshold == cut


@pytest.mark.parametrize("kwargs, field", [
    ({"extra": "a<b>"}, "extra_tags[0]"),
    ({"extra": "x" * 33}, "extra_tags[0]"),
    ({"extra": ", ".join(f"t{i}" for i in range(21))}, "extra_tags"),
    ({"extra": "fine, DROP TABLE x;--"}, "extra_tags[1]"),
    ({"threshold": 1.5}, "threshold"),
    ({"threshold": True}, "threshold"),
    ({"vocabulary": []}, "vocabulary"),
])
def test_unusable_tags_are_refused_in_one_line_before_any_model_time(kwargs, field):
    """No CLIP here: the refusal comes before the models are even looked for."""
    from models.tags import InvalidTags, tag

    with pytest.raises(InvalidTags) as caught:
        tag(photo(), **kwargs)
    message = str(caught.value)
    assert message.startswith(f"{field}:") and "\n" not in message and len(message) < 200


def test_without_clip_or_a_head_the_refusal_says_what_to_fetch():
    from models.tags import TagsUnavailable, tag

    with pytest.raises(TagsUnavailable) as caught:
        tag(photo())
    assert "python -m weights pull clip" in caught.value.summary
    assert "python -m models.train tags" in caught.value.summary


def test_odd_photos_follow_the_shared_policy(tiny_clip_model):
    from models.images import InvalidImage
    from models.tags import tag

    with pytest.raises(InvalidImage):
        tag(np.zeros((20, 20, 3), np.uint8))
    strip = np.concatenate([photo()] * 6, axis=1)  # 6:1, judged on its central 3:1 part
    result = tag(strip)
    assert any("central" in note for note in result.notes)


def test_the_grad_cam_adapter_computes_the_shown_probabilities(tiny_clip_model):
    """Grad-CAM explains exactly the number on screen: its Keras model gives every tag's
    probability as the result does."""
    from models.tags import tag
    from models.tags.explanations import explanation_setup

    result = tag(photo(), extra="launch pad")
    setup = explanation_setup(result, "sky")
    gradcam, black_box = setup.models["gradcam"], setup.models["lime"]
    names = list(gradcam.output_names)
    assert sorted(names) == sorted(result.tags)
    for adapter in (gradcam, black_box):
        row = adapter.predict(setup.photo[None])[0]
        for name, value in zip(names, row, strict=True):
            assert value == pytest.approx(result.probabilities[name], abs=2e-4)
    assert isinstance(setup.models["cam"], str)


# === Two tags of one photo point to two places ===


def two_region_model(height: int, width: int):
    """A net with two tag outputs: "sky" reads only the top third of the photo, "water" only
    the bottom third (brightness and edges under a fixed mask, as the explainer tests' region
    models do). Both masked maps are stacked in one layer, "regions", right before pooling, so
    Grad-CAM sees where each tag reads: "sky" weighs only the first six channels, which are zero
    outside the top third."""
    import keras

    from benchmarks.stand_ins.mask_layers import FixedMask

    rng = np.random.default_rng(0)
    top = np.zeros((height, width), np.float32)
    top[: height // 3] = 1
    bottom = np.zeros((height, width), np.float32)
    bottom[height - height // 3:] = 1
    inputs = keras.Input((height, width, 3))
    scaled = keras.layers.Rescaling(1 / 255)(inputs)
    features = keras.layers.Conv2D(6, 3, padding="same", use_bias=False, activation="relu",
                                   name="features")(scaled)
    regions = keras.layers.Concatenate(name="regions")(
        [FixedMask(top, name="sky_region")(features),
         FixedMask(bottom, name="water_region")(features)])
    pooled = keras.layers.GlobalAveragePooling2D()(regions)
    model = keras.Model(inputs, keras.layers.Dense(2, name="scores")(pooled))
    brightness = rng.uniform(0.05, 0.2, (3, 3, 3, 2))
    edges = rng.normal(0.0, 1.0, (3, 3, 3, 4))
    edges -= edges.mean(axis=(0, 1, 2))
    model.get_layer("features").set_weights(
        [np.concatenate([brightness, edges], axis=-1).astype(np.float32)])
    # Block weights: "sky" (column 0) reads channels 0-5 only, "water" (column 1) 6-11 only.
    # Edges weigh ten times brightness, so blurring a tag's region (SHAP's and the insertion
    # curve's canvas) lowers that tag clearly; brightness alone survives a blur.
    weights = rng.uniform(0.5, 1.5, 6) * np.array([10, 10, 100, 100, 100, 100])
    dense = np.zeros((12, 2), np.float32)
    dense[:6, 0] = weights
    dense[6:, 1] = weights
    model.get_layer("scores").set_weights([dense, np.zeros(2, np.float32)])
    return model, top.astype(bool), bottom.astype(bool)


# Photos with structure in both thirds. The rocket's top third is plain sky and the retina's
# corners are black: blurring them changes nothing, so no explainer that blurs (SHAP, the
# faithfulness curves) could see a tag read there; the test checks this precondition below.
@pytest.mark.parametrize("name", ["motorcycle", "coins", "camera", "grace_hopper"])
def test_two_tags_of_one_photo_are_found_in_their_own_places(name):
    """The tab's explanation run (a request whose target is a tag's name) on a model whose
    "sky" depends only on the top third and "water" only on the bottom third: each tag's maps
    point at its own third, by Grad-CAM, LIME and SHAP."""
    import cv2

    from demos.explain_runs import ExplainRequest, run_request
    from explain import KerasModel

    image = natural_photo(name, side=96)
    model, top, bottom = two_region_model(*image.shape[:2])
    adapter = KerasModel(model, output_names=["sky", "water"], cam_layer="regions")
    regions = {"sky": top, "water": bottom}
    blurred = cv2.blur(image, (13, 13))
    original = model.predict(image[None], verbose=0)[0]
    for column, (target, inside) in enumerate(regions.items()):
        outside = bottom if target == "sky" else top
        # Known answer: blurring the tag's own third lowers it by a tenth or more, blurring the
        # other third leaves it exactly as it was.
        for region, change in ((inside, "lowers"), (outside, "keeps")):
            spoiled = image.copy()
            spoiled[region] = blurred[region]
            ratio = model.predict(spoiled[None], verbose=0)[0][column] / original[column]
            assert ratio <= 0.9 if change == "lowers" else ratio == pytest.approx(1.0, abs=1e-5)
        view = run_request(ExplainRequest(image=image, model=adapter, target=target),
                           ["gradcam", "lime", "shap"], key="tags", seed=0)
        for explanation in view.explanations:
            share = float(inside.mean())
            # The hottest third of the pixels: at least half in the tag's own third (a blind
            # map puts a third there), at most a quarter in the other tag's third.
            assert top_fraction_inside(explanation.heatmap, inside, share) >= 0.5, (
                target, explanation.method)
            assert explanation.heatmap[inside].mean() > explanation.heatmap[outside].mean()
            assert top_fraction_inside(explanation.heatmap, outside, share) <= 0.25, (
                target, explanation.method)
