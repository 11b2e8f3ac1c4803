"""Grad-CAM and CAM: hand-computed maps, ground-truth regions, ViT tokens, the sanity check, and
the errors a bad call gets."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from benchmarks.stand_ins.region_models import (
    disk_mask,
    photo,
    rectangle_mask,
    region_model,
    token_model,
    top_fraction_inside,
)
from explain import FunctionModel, KerasModel, explain, sanity_check
from explain.base_cam import tokens_to_grid
from explain.sanity import randomised_copy

# A 4 x 4 image with small integer values keeps the hand computation exact.
IMAGE_4x4 = np.arange(48, dtype=np.uint8).reshape(4, 4, 3) % 5
KERNEL = np.array([[1.0, 0.0, -1.0], [0.5, 1.0, 0.0], [0.0, -0.5, 1.0]], np.float32)
# Chosen so that every target's map has positive and negative cells: the ReLU matters.
DENSE = np.array([[-0.5, -0.5], [2.0, 2.0], [-2.0, 0.5]], np.float32)


def four_by_four_model(square: bool):
    """(4, 4, 3) -> 1x1 conv "features" [-> square] -> GAP -> Dense(2), with fixed weights."""
    inputs = keras.Input((4, 4, 3))
    features = keras.layers.Conv2D(3, 1, use_bias=False, name="features")(inputs)
    x = keras.layers.Activation(keras.ops.square, name="squared")(features) if square else features
    pooled = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, name="head")(pooled)
    model = keras.Model(inputs, outputs)
    model.get_layer("features").set_weights([KERNEL[None, None]])
    model.get_layer("head").set_weights([DENSE, np.array([0.1, -0.1], np.float32)])
    return model


def normalised_relu(cam):
    cam = np.maximum(cam, 0)
    return cam / cam.max()


def test_gradcam_matches_a_hand_computation_on_a_4x4_feature_map():
    model = KerasModel(four_by_four_model(square=True), cam_layer="features")
    activations = IMAGE_4x4.astype(np.float32) @ KERNEL  # 4 x 4 x 3, the "features" output
    for target in (0, 1):
        # y = sum_c W[c, t] * mean_ij(A_ijc^2), so dy/dA_ijc = W[c, t] * 2 * A_ijc / 16 and the
        # Grad-CAM weight of channel c is the mean of that over the 16 positions.
        weights = DENSE[:, target] * 2 * activations.mean(axis=(0, 1)) / 16
        expected = normalised_relu(activations @ weights)
        exp = explain("gradcam", model, IMAGE_4x4, target=target, faithfulness=False)
        np.testing.assert_allclose(exp.heatmap, expected, atol=1e-5)
        assert exp.meta["layer"] == "features" and exp.meta["evaluations"] == 1


def test_gradcam_finds_the_last_spatial_layer_by_itself():
    assert KerasModel(four_by_four_model(square=True)).cam_layer.name == "squared"


def test_cam_matches_a_hand_computation_on_a_4x4_feature_map():
    model = KerasModel(four_by_four_model(square=False), output_names=["warm", "cool"])
    activations = IMAGE_4x4.astype(np.float32) @ KERNEL
    for target, name in enumerate(("warm", "cool")):
        expected = normalised_relu(activations @ DENSE[:, target])
        exp = explain("cam", model, IMAGE_4x4, target=name, faithfulness=False)
        np.testing.assert_allclose(exp.heatmap, expected, atol=1e-5)
        assert exp.target == name and exp.target_index == target
    # The two targets weight the channels differently, so their maps differ.
    maps = [explain("cam", model, IMAGE_4x4, t, faithfulness=False).heatmap for t in (0, 1)]
    assert not np.allclose(*maps)


@pytest.mark.parametrize("method", ["gradcam", "cam"])
@pytest.mark.parametrize("make_mask", [rectangle_mask, disk_mask], ids=["rectangle", "disk"])
def test_maps_find_the_only_region_the_model_looks_at(method, make_mask):
    mask = make_mask(72, 104)
    model = KerasModel(region_model(mask))
    exp = explain(method, model, photo(72, 104), target=0, seed=0)
    assert exp.heatmap.shape == (72, 104) and not exp.signed
    assert top_fraction_inside(exp.heatmap, mask) >= 0.7
    assert exp.faithfulness.deletion_auc < exp.faithfulness.random_deletion_auc
    assert exp.faithfulness.insertion_auc > exp.faithfulness.random_insertion_auc
    assert exp.faithfulness.beats_random


def test_gradcam_reads_vit_tokens_on_their_patch_grid():
    grid_mask = np.zeros((6, 6), np.float32)
    grid_mask[1:3, 3:5] = 1  # four patches, top right
    model = KerasModel(token_model(grid_mask, patch=8), cam_layer="tokens")
    image = photo(48, 48)
    exp = explain("gradcam", model, image, target=0)
    pixel_mask = np.kron(grid_mask, np.ones((8, 8), np.float32))
    assert exp.meta["grid"] == (6, 6)
    assert top_fraction_inside(exp.heatmap, pixel_mask) >= 0.7
    assert exp.faithfulness.beats_random


def test_tokens_to_grid_drops_the_class_token():
    tokens = np.arange(1 * 10 * 2, dtype=np.float32).reshape(1, 10, 2)  # 1 + 3 x 3 tokens
    grid = tokens_to_grid(tokens)
    assert grid.shape == (1, 3, 3, 2)
    np.testing.assert_array_equal(grid[0, 0, 0], tokens[0, 1])
    np.testing.assert_array_equal(grid[0, 2, 2], tokens[0, 9])
    with pytest.raises(ValueError, match="square patch grid"):
        tokens_to_grid(np.zeros((1, 7, 2), np.float32))


def test_gradcam_on_the_keras_hub_clip_vision_encoder(tiny_clip_model):
    """CLIP's patch grid, its centre crop mapped back onto a non-square photo."""
    clip = tiny_clip_model
    vision = clip.backbone.vision_encoder
    sequence = vision.output
    embedding = clip.backbone.vision_projection(clip.backbone.vision_pooler(sequence))
    direction = np.random.default_rng(0).normal(size=(clip.embedding_dim, 1)).astype(np.float32)
    score = keras.layers.Dense(1, use_bias=False, name="similarity")(embedding)
    flat = keras.Model(vision.input, score)
    flat.get_layer("similarity").set_weights([direction])
    model = KerasModel(flat, preprocess=clip.preprocess_graph, cam_layer=clip.gradcam_layer_name,
                       input_box=clip.crop_box)

    image = photo(40, 64)  # wider than tall: the converter crops the middle 40 x 40
    exp = explain("gradcam", model, image, target=0, faithfulness=False)
    top, left, height, width = clip.crop_box(40, 64)
    assert (top, left, height, width) == (0, 12, 40, 40)
    assert exp.heatmap.shape == (40, 64)
    assert exp.meta["grid"] == (clip.patch_grid, clip.patch_grid)
    assert exp.heatmap[:, :left].max() == 0 and exp.heatmap[:, left + width :].max() == 0
    assert exp.heatmap[:, left : left + width].max() == pytest.approx(1.0)


def test_sanity_check_separates_trained_from_randomised_weights():
    """A 1x1-conv model reads red and blue; its head uses only red. Re-drawing the head's weights
    must change the map (low correlation), and re-drawing nothing must leave it unchanged."""
    inputs = keras.Input((32, 32, 3))
    features = keras.layers.Conv2D(2, 1, use_bias=False, activation="relu", name="rb")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    head = keras.layers.Dense(1, name="head")(pooled)
    net = keras.Model(inputs, head)
    net.get_layer("rb").set_weights([np.array([[[[1, 0], [0, 0], [0, 1]]]], np.float32)])
    net.get_layer("head").set_weights([np.array([[1.0], [-1.0]], np.float32), np.zeros(1)])
    rng = np.random.default_rng(1)
    image = np.zeros((32, 32, 3), np.uint8)
    image[..., 0] = np.kron(rng.integers(0, 255, (4, 4)), np.ones((8, 8)))
    image[..., 2] = np.kron(rng.integers(0, 255, (4, 4)), np.ones((8, 8)))
    model = KerasModel(net)

    unchanged = sanity_check("gradcam", model, image, top_layers=0)
    assert unchanged.rank_correlation > 0.99 and unchanged.randomised_layers == ()
    correlations = [
        sanity_check("gradcam", model, image, top_layers=None, seed=seed).rank_correlation
        for seed in range(5)
    ]
    assert np.median(correlations) < 0.5, correlations
    # The original model is untouched by the randomisation.
    np.testing.assert_array_equal(net.get_layer("head").get_weights()[0], [[1.0], [-1.0]])


def test_randomised_copy_redraws_only_the_top_layers():
    net = region_model(rectangle_mask(16, 16))
    clone, names = randomised_copy(net, top_layers=1, seed=0)
    assert names == ("score",)
    assert not np.allclose(clone.get_layer("score").get_weights()[0],
                           net.get_layer("score").get_weights()[0])
    np.testing.assert_array_equal(clone.get_layer("features").get_weights()[0],
                                  net.get_layer("features").get_weights()[0])


# === Bad calls: one clear ValueError each ===


@pytest.fixture(scope="module")
def small_model():
    return KerasModel(region_model(rectangle_mask(16, 16)), output_names=["score"])


def test_unknown_method(small_model):
    with pytest.raises(ValueError, match="Unknown method 'occlusion'.*gradcam"):
        explain("occlusion", small_model, photo(16, 16))


@pytest.mark.parametrize("target, message", [(1, "out of range"), (-1, "out of range"),
                                             ("nope", "Unknown target 'nope'"),
                                             (1.5, "output index, name or callable")])
def test_bad_targets(small_model, target, message):
    with pytest.raises(ValueError, match=message):
        explain("gradcam", small_model, photo(16, 16), target=target)


def test_cam_refuses_a_model_without_a_gap_head():
    inputs = keras.Input((16, 16, 3))
    features = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(features))
    model = KerasModel(keras.Model(inputs, outputs))
    with pytest.raises(ValueError, match="GlobalAveragePooling2D.*use gradcam"):
        explain("cam", model, photo(16, 16))


def test_gradient_methods_refuse_a_function_model():
    black_box = FunctionModel(lambda images: images.mean(axis=(1, 2, 3))[:, None], ["mean"])
    for method in ("gradcam", "cam"):
        with pytest.raises(ValueError, match="needs gradients.*KerasModel"):
            explain(method, black_box, photo(16, 16))


def test_bad_images_and_budgets(small_model):
    with pytest.raises(ValueError, match="uint8 H x W x 3"):
        explain("gradcam", small_model, np.zeros((16, 16), np.uint8))
    with pytest.raises(ValueError, match="uint8 H x W x 3"):
        explain("gradcam", small_model, np.zeros((16, 16, 3), np.float32))
    with pytest.raises(ValueError, match="budget"):
        explain("gradcam", small_model, photo(16, 16), budget=0)
