"""Heads on CLIP's shared tower (explain.tower_model): the same numbers, gradients and Grad-CAM
maps as the whole model differentiated at once, and the tower compiled once for every head.
On the tiny keras-hub CLIP loaded through the real resolver, with scikit-image's photos."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from explain import KerasModel, TowerHeadModel, explain
from explain.targets import resolve_target

PHOTOS = {name: getattr(data, name)() for name in ("astronaut", "coffee", "chelsea", "rocket")}


def _temperature_softmax(keras, cosines_model):
    """cosines -> softmax at temperature 10, on top of `cosines_model` (the style head)."""
    scaled = keras.layers.Rescaling(10.0)(cosines_model.output)
    return keras.Model(cosines_model.input, keras.layers.Softmax()(scaled))


@pytest.fixture
def heads(tiny_clip_model):
    """(the whole model as a KerasModel, the same on the shared tower) for a 3-way softmax over
    three photos' embeddings."""
    import keras

    clip = tiny_clip_model
    references = clip.embed_images([PHOTOS["astronaut"], PHOTOS["coffee"], PHOTOS["rocket"]])
    whole = KerasModel(_temperature_softmax(keras, clip.similarity_model(references)),
                       preprocess=clip.preprocess_graph, cam_layer=clip.gradcam_layer_name,
                       input_box=clip.crop_box)
    on_tower = TowerHeadModel(clip.embedding_tower(),
                              _temperature_softmax(keras, clip.similarity_head(references)))
    return whole, on_tower


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_a_head_on_the_tower_gives_the_whole_models_numbers_gradients_and_map(heads, name):
    whole, on_tower = heads
    image = PHOTOS[name]
    np.testing.assert_allclose(on_tower.predict(image[None]), whole.predict(image[None]),
                               atol=1e-5)
    for column in range(3):
        target = resolve_target(column, None, 3)
        acts, grads, outs = on_tower.gradients(image[None], target.score)
        expected_acts, expected_grads, expected_outs = whole.gradients(image[None], target.score)
        np.testing.assert_allclose(acts, expected_acts, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(outs, expected_outs, atol=1e-5)
        scale = np.abs(expected_grads).max()
        assert scale > 0
        np.testing.assert_allclose(grads, expected_grads, atol=1e-4 * scale)
    mine = explain("gradcam", on_tower, image, target=0, faithfulness=False)
    theirs = explain("gradcam", whole, image, target=0, faithfulness=False)
    assert mine.meta["layer"] == theirs.meta["layer"]
    np.testing.assert_allclose(mine.heatmap, theirs.heatmap, atol=1e-3)


def test_a_prepare_step_changes_the_photos_before_the_tower(tiny_clip_model):
    """Pose's adapter fills the people of a photo before CLIP sees it: the outputs are those of
    the whole model on the changed photo."""
    import tensorflow as tf

    clip = tiny_clip_model
    reference = clip.embed_images(PHOTOS["coffee"])[0]

    def grey_left_half(images):
        width = tf.shape(images)[2]
        keep = tf.range(width)[None, None, :, None] >= width // 2
        return tf.where(keep, images, tf.cast(128, images.dtype))

    head = clip.similarity_head(reference)
    on_tower = TowerHeadModel(clip.embedding_tower(), head, prepare=grey_left_half)
    image = PHOTOS["astronaut"]
    changed = image.copy()
    changed[:, : image.shape[1] // 2] = 128
    expected = clip.embed_images(changed) @ (reference / np.linalg.norm(reference))
    np.testing.assert_allclose(on_tower.predict(image[None])[:, 0], expected, atol=1e-5)
    assert not np.allclose(on_tower.predict(image[None])[:, 0],
                           clip.embed_images(image) @ (reference / np.linalg.norm(reference)),
                           atol=1e-3)


def test_the_tabs_grad_cam_heads_compile_the_tower_once(tiny_clip_model):
    """Style's labels, two photos' tags and the content score: each a new head, and the tower's
    two passes traced once for all of them."""
    from models.aesthetic import explanations as aesthetic_explanations
    from models.style import explanations as style_explanations
    from models.tags import explanations as tags_explanations
    from models.tags.vocabulary import Tag

    clip = tiny_clip_model
    tower = clip.embedding_tower()
    adapters = [
        style_explanations.zero_shot_gradcam_adapter(
            ("film", "street"), {"film": ("a film photo",), "street": ("a street photo",)}, 50.0),
        style_explanations.zero_shot_gradcam_adapter(
            ("portrait", "food", "night"),
            {"portrait": ("a portrait",), "food": ("food",), "night": ("a photo at night",)},
            50.0),
        tags_explanations.zero_shot_gradcam_adapter(
            (Tag("cat", ("a cat",), ("no cat",)),)),
        tags_explanations.zero_shot_gradcam_adapter(
            (Tag("rocket", ("a rocket",), ("no rocket",)), Tag("sky", ("the sky",), ("indoors",)))),
        aesthetic_explanations.content_gradcam_adapter(),
    ]
    for adapter, name in zip(adapters, ("astronaut", "coffee", "chelsea", "rocket", "coffee"),
                             strict=True):
        assert adapter.tower is tower
        exp = explain("gradcam", adapter, PHOTOS[name], target=0, faithfulness=False)
        assert exp.heatmap.max() == pytest.approx(1.0)
        adapter.predict(PHOTOS[name][None])
    assert tower.tracing_count() == 2
