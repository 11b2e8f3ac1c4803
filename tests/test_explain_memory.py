"""What bounds an explanation's memory: model calls sized by the pixels the network reads, a
faithfulness pass that makes its images a batch at a time, and a capped set of compiled
gradient functions. Each test checks the mechanism (call sizes, traced allocations, counts),
never a time or the process's RSS, which other tests and the machine's load would move."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from benchmarks.stand_ins.region_models import photo, rectangle_mask, region_model
from explain import FunctionModel, KerasModel, explain
from explain.keras_model import GRADIENT_FUNCTIONS, MAX_BATCH_PIXELS
from explain.metrics import faithfulness
from explain.targets import resolve_target

UPSCALE = 8


def upscaling_model():
    """A region model whose preprocessing reads a 64 x 64 image at 512 x 512, as the quality
    model's preprocessing reads a 512 x 64 panorama at 2048 x 256; and the size of every batch
    the network is given."""
    import tensorflow as tf

    side = 64 * UPSCALE

    def preprocess(images):
        return tf.image.resize(tf.cast(images, tf.float32), (side, side), method="nearest")

    model = KerasModel(region_model(rectangle_mask(side, side)), preprocess=preprocess)
    seen = []
    network_call = model._predict_batch

    def recording(images):
        seen.append(len(images))
        return network_call(images)

    model._predict_batch = recording
    return model, seen


def test_large_model_inputs_go_to_the_network_in_smaller_batches_with_the_same_scores():
    model, seen = upscaling_model()
    images = np.stack([photo(64, 64)] * 20)
    images[::2] //= 2  # two kinds of image, so a mix-up between rows would show
    per_call = MAX_BATCH_PIXELS // (64 * UPSCALE) ** 2
    assert model.model_input_pixels((64, 64)) == (64 * UPSCALE) ** 2
    assert model.images_per_call((64, 64)) == per_call < model.batch_size
    scores = model.predict(images)
    assert seen and max(seen) == per_call and sum(seen) == 20
    one_by_one = np.concatenate([model.predict(image[None]) for image in images])
    np.testing.assert_allclose(scores, one_by_one, rtol=1e-5, atol=1e-6)
    assert model.evaluations == 40


def test_small_inputs_keep_the_whole_batch():
    model = KerasModel(region_model(rectangle_mask(32, 32)))
    assert model.images_per_call((32, 32)) == model.batch_size == 32


def test_the_faithfulness_pass_peak_does_not_grow_with_the_number_of_random_maps():
    """Its 3 + 30 + 6-per-random-map images used to be made all at once and then copied into
    one array: 4 random maps peaked at 122 photos' worth of memory, 32 maps at 459. Made a
    batch at a time, the peak is a batch (16 images, stacked) plus one pixel order and the
    blurred canvas, about 54, whatever the number of maps."""
    image = photo(96, 128)
    heatmap = rectangle_mask(96, 128)
    model = FunctionModel(lambda images: images[:, :1, 0, 0].astype(np.float32), ["corner"],
                          batch_size=16)
    target = resolve_target(0, None, 1)

    def peak(random_maps: int) -> int:
        faithfulness(model, image, heatmap, target, random_maps=random_maps)  # imports, caches
        tracemalloc.start()
        try:
            faithfulness(model, image, heatmap, target, random_maps=random_maps)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    few, many = peak(4), peak(32)
    assert many < 1.1 * few
    # Less than the 81 images of a default pass (8 random maps) held at once.
    assert few < 81 * image.nbytes


def test_the_faithfulness_pass_scores_in_the_models_batches_in_order():
    seen = []

    def corner(images):
        seen.append(len(images))
        return images[:, :1, 0, 0].astype(np.float32)

    image = photo(40, 40)
    model = FunctionModel(corner, ["corner"], batch_size=7)
    result = faithfulness(model, image, rectangle_mask(40, 40), resolve_target(0, None, 1))
    assert sum(seen) == 81 and max(seen) == 7
    # The first point of the deletion curve is the photo's own score, the last all black's.
    assert result.deletion_curve[0] == float(image[0, 0, 0]) and result.deletion_curve[-1] == 0


def test_a_new_callable_target_each_time_keeps_a_bounded_set_of_gradient_functions():
    model = KerasModel(region_model(rectangle_mask(32, 32)))
    image = photo(32, 32)
    for _ in range(GRADIENT_FUNCTIONS + 4):
        explain("gradcam", model, image, target=lambda outputs: outputs[:, 0],
                faithfulness=False)
    assert len(model._gradient_fns) == GRADIENT_FUNCTIONS


def test_every_output_column_is_explained_by_one_compiled_gradient():
    """A tab explains whichever tag or style comes top: a graph per column (50-70 MiB each at
    CLIP's size) would grow the process with every new top class. (That each column's map is
    its own is checked by hand in tests/test_explain_cam.py, on one model for both columns.)"""
    import keras

    inputs = keras.Input((32, 32, 3))
    features = keras.layers.Conv2D(4, 3, padding="same", name="features")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    model = KerasModel(keras.Model(inputs, keras.layers.Dense(3, name="head")(pooled)))
    image = photo(32, 32)
    for column in (0, 1, 2, 1, 0, 2):
        explain("gradcam", model, image, target=column, faithfulness=False)
    [compiled] = model._gradient_fns.values()
    assert compiled.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("sizes", [[(40, 56), (56, 40), (24, 96), (96, 24), (33, 47), (64, 64)]])
def test_new_image_sizes_reuse_the_compiled_functions(sizes):
    """A compiled function generalises to any image size after a couple of sizes, rather than
    tracing (and keeping) a graph for each new size."""
    model = KerasModel(region_model(rectangle_mask(32, 32)), output_names=["score"])
    for height, width in sizes:
        explain("gradcam", model, photo(height, width), "score")
    forward = model._forward.experimental_get_tracing_count()
    (gradient,) = model._gradient_fns.values()
    assert forward <= 3 and gradient.experimental_get_tracing_count() <= 3
    assert len(model._input_pixels) == len(sizes)


def test_shap_plays_a_bounded_grid_so_a_large_photo_costs_little_memory():
    """SHAP's players are the cells of a grid at most MASK_GRID_SIDE long, not the photo's
    pixels: on a 512 x 512 photo with 64-image batches, shap's own player masks held ~580 MB
    (tracemalloc); over the grid the explanation takes under 50 MB alone. The bound leaves room
    for what other threads of the test process allocate meanwhile (tracemalloc counts them)."""
    from explain.shap_explainer import MASK_GRID_SIDE, mask_grid

    image = photo(512, 512)
    model = FunctionModel(lambda images: images[:, 200:300, 200:300].mean(axis=(1, 2, 3))[:, None],
                          ["middle"], batch_size=64, work_side=512)
    explain("shap", model, image, seed=1, faithfulness=False)  # builds the grid's tree once
    tracemalloc.start()
    try:
        exp = explain("shap", model, image, seed=0, faithfulness=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert exp.meta["grid"] == mask_grid(512, 512) == (MASK_GRID_SIDE, MASK_GRID_SIDE)
    assert exp.heatmap.shape == (512, 512)
    assert peak < 150 * 2**20, f"{peak / 2**20:.0f} MiB"
