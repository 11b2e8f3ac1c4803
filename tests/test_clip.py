"""Behaviour of models.clip on a tiny CLIP preset built from the real keras-hub classes."""

import math
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import models.clip as clip
import weights
from benchmarks.stand_ins.tiny_clip import LOGIT_SCALE, PATCH_GRID, PROJECTION_DIM

REPO_ROOT = Path(__file__).resolve().parents[1]



def _images(seed=0, sizes=((32, 32), (48, 64), (65, 33), (7, 5), (1, 1), (200, 3))):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


# The expected values below never come from models.clip. They come from keras-hub's own
# CLIPBackbone (its towers and its CLIPHead, which returns exp(logit_scale) times the cosine of
# every image with every text) and from formulas written in this file, so a wrong formula in
# models.clip (normalisation, prompt ensembling, temperature, pixel scaling) makes them differ.

# OpenAI CLIP's pixel statistics, which the tiny preset stores as the real presets do.
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073])
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711])


def _pixels_by_hand(images):
    """CLIP's input for pictures already at the model's 32 x 32 size: no crop, no resize, only
    (x / 255 - mean) / std per channel."""
    return ((np.stack(images) / 255.0 - CLIP_MEAN) / CLIP_STD).astype(np.float32)


def _keras_hub_tokens(model, texts):
    """Token ids from the preset's keras-hub preprocessor, not from models.clip."""
    return np.asarray(model.preprocessor({"prompts": list(texts), "images": None})["token_ids"])


def _keras_hub_logits(model, images, texts):
    """keras-hub's CLIP forward pass: (images x texts) logits, exp(logit_scale) * cosine."""
    outputs = model.backbone({"images": _pixels_by_hand(images),
                              "token_ids": _keras_hub_tokens(model, texts)})
    return np.asarray(outputs["vision_logits"], np.float64)


def _text_vectors_by_hand(model, texts):
    """Unit text vectors from keras-hub's text tower, normalised here."""
    return _unit(np.asarray(model.backbone.get_text_embeddings(
        _keras_hub_tokens(model, texts)), np.float64))


def _image_vectors_by_hand(model, images):
    """Unit image vectors from keras-hub's vision tower, normalised here."""
    return _unit(np.asarray(model.backbone.get_vision_embeddings(_pixels_by_hand(images)),
                            np.float64))


# === Loading ===


def test_importing_the_module_does_not_load_tensorflow():
    code = (
        "import sys, models.clip; "
        "heavy = [m for m in ('tensorflow', 'keras', 'keras_hub') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_default_model_is_resolved_through_weights_dir(tiny_clip):
    before = clip.load_count
    model = clip.get_clip()
    assert model.path == tiny_clip / "clip"
    assert clip.get_clip() is model
    assert clip.load_count == before + 1
    assert model.patch_grid == PATCH_GRID
    assert model.embedding_dim == PROJECTION_DIM


def test_concurrent_first_calls_load_once(tiny_clip):
    before = clip.load_count
    barrier = threading.Barrier(8)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(clip.get_clip())
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert len(results) == 8
    assert clip.load_count == before + 1
    assert all(model is results[0] for model in results)


def test_missing_weights_raise_weights_unavailable_and_are_retried(
    tiny_clip, tmp_path, monkeypatch
):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv(weights.ENV_WEIGHTS_DIR, str(empty))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # An empty cache, so a developer's real download cannot satisfy the lookup.
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    clip.reset_default()
    with pytest.raises(weights.WeightsUnavailable):
        clip.embed_texts(["a photo of a cat"])
    # The failure is not cached: once the weights appear, the next call loads them.
    monkeypatch.setenv(weights.ENV_WEIGHTS_DIR, str(tiny_clip))
    assert clip.embed_texts(["a photo of a cat"]).shape == (1, PROJECTION_DIM)


# === Images ===


def test_image_embeddings_have_unit_norm_and_accept_any_size(tiny_clip):
    images = _images()
    vectors = clip.embed_images(images)
    assert vectors.shape == (len(images), PROJECTION_DIM)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Distinct random pictures must not collapse onto one embedding.
    distances = np.linalg.norm(vectors[:, None] - vectors[None], axis=-1)
    assert distances[~np.eye(len(images), dtype=bool)].min() > 1e-3


def test_image_embeddings_do_not_depend_on_batching(tiny_clip):
    images = _images()
    reference = clip.embed_images(images, batch_size=16)
    one_by_one = np.concatenate([clip.embed_images(image) for image in images])
    np.testing.assert_allclose(one_by_one, reference, atol=1e-5)

    # Other batch sizes, and the same pictures mixed with different neighbours.
    extra = _images(seed=1)
    order = [5, 0, 3, 1, 4, 2]
    mixed = [extra[0]] + [images[i] for i in order] + [extra[1]]
    for batch_size in (1, 3, 5):
        got = clip.embed_images(mixed, batch_size=batch_size)[1:-1]
        np.testing.assert_allclose(got, reference[order], atol=1e-5)


def test_image_embeddings_are_keras_hubs_projection_made_unit_length(tiny_clip):
    model = clip.get_clip()
    images = _images(sizes=((32, 32),) * 4)
    # The pixels the towers see are CLIP's normalisation, worked out here.
    np.testing.assert_allclose(np.asarray(model.preprocess_images(images)),
                               _pixels_by_hand(images), atol=1e-4)
    np.testing.assert_allclose(clip.embed_images(images), _image_vectors_by_hand(model, images),
                               atol=1e-5)
    # A photo's cosine with itself is 1, with another photo less.
    twice = clip.embed_images([images[0], images[0], images[1]])
    assert twice[0] @ twice[1] == pytest.approx(1.0, abs=1e-5)
    assert twice[0] @ twice[2] < 1.0 - 1e-4


def test_text_embeddings_are_keras_hubs_projection_made_unit_length(tiny_clip):
    model = clip.get_clip()
    texts = ["a photo of a cat", "a beautiful sunset", "food"]
    np.testing.assert_allclose(clip.embed_texts(texts), _text_vectors_by_hand(model, texts),
                               atol=1e-5)


def test_batch_array_single_image_and_list_agree(tiny_clip):
    images = _images(sizes=((40, 30),) * 3)
    from_list = clip.embed_images(images)
    np.testing.assert_allclose(clip.embed_images(np.stack(images)), from_list, atol=1e-5)
    np.testing.assert_allclose(clip.embed_images(images[1]), from_list[1:2], atol=1e-5)
    assert clip.embed_images([]).shape == (0, PROJECTION_DIM)


def test_preprocessing_centre_crops_to_the_reported_box(tiny_clip):
    model = clip.get_clip()
    image = _images(sizes=((45, 80),))[0]
    top, left, height, width = model.crop_box(*image.shape[:2])
    assert (top, left, height, width) == (0, 17, 45, 45)
    cropped = np.ascontiguousarray(image[top : top + height, left : left + width])
    np.testing.assert_allclose(
        np.asarray(model.preprocess_images(image)),
        np.asarray(model.preprocess_images(cropped)),
        atol=1e-5,
    )
    assert tuple(model.preprocess_images(image).shape) == (1, *model.image_size, 3)
    # Shrinking photos without a filter aliases; the loader switches it on.
    assert model.image_converter.antialias is True


def test_warmup_traces_without_touching_the_text_cache(tiny_clip):
    model = clip.get_clip()
    model.warmup()
    encoded = model.texts_encoded
    model.embed_texts("a photo")  # the text warm-up used
    assert model.texts_encoded == encoded + 1


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((32, 32, 3), np.float32),
        np.zeros((32, 32), np.uint8),
        np.zeros((32, 32, 4), np.uint8),
        np.zeros((0, 32, 3), np.uint8),
        [np.zeros((8, 8, 3), np.uint8), "not an image"],
        None,
    ],
    ids=["float", "grey", "rgba", "empty", "mixed-list", "none"],
)
def test_bad_images_are_rejected(tiny_clip, bad):
    with pytest.raises(ValueError):
        clip.embed_images(bad)


# === Texts ===


def test_text_embeddings_are_unit_norm_and_cached(tiny_clip):
    model = clip.get_clip()
    texts = ["a photo of a cat", "a photo of a dog"]
    first = clip.embed_texts(texts)
    assert first.shape == (2, PROJECTION_DIM)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(first[0], first[1])

    runs, encoded = model.text_forward_calls, model.texts_encoded
    second = clip.embed_texts(list(reversed(texts)))
    assert model.text_forward_calls == runs  # served from the cache
    np.testing.assert_array_equal(second, first[::-1])

    # A mixed request runs only the texts never seen before.
    third = clip.embed_texts(texts + ["an ugly selfie"])
    assert model.text_forward_calls == runs + 1
    assert model.texts_encoded == encoded + 1
    np.testing.assert_array_equal(third[:2], first)


def test_text_embeddings_do_not_depend_on_batching(tiny_clip):
    model = clip.get_clip()
    texts = ["a photo of a cat", "a dog", "beautiful sunset", "food", "the person", "x"]
    together = model.embed_texts(texts)
    model.clear_text_cache()
    runs = model.text_forward_calls
    apart = model.embed_texts(texts, batch_size=4)
    assert model.text_forward_calls == runs + 2
    np.testing.assert_allclose(apart, together, atol=1e-5)


def test_long_text_is_truncated_not_rejected(tiny_clip):
    vector = clip.embed_texts(" ".join(["beautiful"] * 100))
    assert vector.shape == (1, PROJECTION_DIM)
    assert np.isfinite(vector).all()


# === Zero-shot ===

PROMPTS = {
    "cat": ["a photo of a cat", "a picture of a cat"],
    "dog": ["a photo of a dog"],
    "food": ["a photo of food", "a picture of food", "food"],
}


def test_logit_scale_is_the_checkpoints_exponentiated_value(tiny_clip):
    assert clip.get_clip().logit_scale == pytest.approx(LOGIT_SCALE, rel=1e-5)


def test_logit_scale_is_capped_at_100(tiny_clip):
    model = clip.CLIPModel.from_preset(tiny_clip / "clip")  # private copy: safe to modify
    model.backbone.clip_head.logit_scale.assign(math.log(500.0))
    assert model.logit_scale == pytest.approx(clip.MAX_LOGIT_SCALE)
    images = _images(sizes=((32, 32),) * 2)
    single = {"cat": ["a photo of a cat"], "dog": ["a photo of a dog"], "food": ["food"]}
    # keras-hub's head multiplies the cosine by 500; the capped temperature is 100.
    cosine = _keras_hub_logits(model, images, [p[0] for p in single.values()]) / 500.0
    np.testing.assert_allclose(model.zero_shot(images, single), _softmax(100.0 * cosine),
                               atol=1e-5)


def test_zero_shot_of_single_prompts_is_keras_hubs_own_clip_softmax(tiny_clip):
    model = clip.get_clip()
    images = _images(sizes=((32, 32),) * 3)
    single = {"cat": ["a photo of a cat"], "dog": ["a photo of a dog"], "food": ["food"]}
    probabilities = clip.zero_shot(images, single)
    assert probabilities.shape == (3, 3)
    # The checkpoint's temperature (30) times the cosine, softmaxed over the labels: what
    # CLIP's own head gives, with no model.clip code in the expected value.
    logits = _keras_hub_logits(model, images, [p[0] for p in single.values()])
    np.testing.assert_allclose(probabilities, _softmax(logits), atol=1e-5)
    # The same by the formula, from the towers: softmax(30 * cosine).
    cosine = _image_vectors_by_hand(model, images) @ _text_vectors_by_hand(
        model, [p[0] for p in single.values()]).T
    np.testing.assert_allclose(probabilities, _softmax(LOGIT_SCALE * cosine), atol=1e-5)


def test_zero_shot_of_prompt_ensembles_matches_a_hand_computation(tiny_clip):
    model = clip.get_clip()
    images = _images(sizes=((32, 32),) * 3)
    probabilities = clip.zero_shot(images, PROMPTS)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    # CLIP's prompt ensembling (Radford et al. 2021): each label is the re-normalised mean of
    # its prompts' unit vectors.
    labels = np.stack([_unit(_text_vectors_by_hand(model, prompts).mean(axis=0))
                       for prompts in PROMPTS.values()])
    expected = _softmax(LOGIT_SCALE * _image_vectors_by_hand(model, images) @ labels.T)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)


def test_zero_shot_properties_that_need_no_embedding(tiny_clip):
    images = _images(sizes=((32, 32), (48, 64)))
    # Two labels with the same prompts are indistinguishable: one half each.
    twins = clip.zero_shot(images, {"x": ["a photo of a cat"], "y": ["a photo of a cat"]})
    np.testing.assert_allclose(twins, 0.5, atol=1e-6)
    # Repeating a prompt does not move its label; the mean of a unit vector with itself is it.
    once = clip.zero_shot(images, {"cat": ["a photo of a cat"], "dog": ["a dog"]})
    repeated = clip.zero_shot(images, {"cat": ["a photo of a cat"] * 3, "dog": ["a dog"]})
    np.testing.assert_allclose(repeated, once, atol=1e-6)


def test_prompt_ensembling_averages_normalised_prompt_embeddings(tiny_clip):
    model = clip.get_clip()
    p1, p2 = "a photo of a cat", "a beautiful cat"
    ensemble = model.label_embeddings({"cat": [p1, p2]})[0]
    first, second = _text_vectors_by_hand(model, [p1, p2])
    expected = _unit((first + second) / 2)
    np.testing.assert_allclose(ensemble, expected, atol=1e-5)
    # The mean is a genuinely new vector, not one of the prompts, and it bisects them.
    assert not np.allclose(ensemble, first, atol=1e-3)
    assert ensemble @ first == pytest.approx(ensemble @ second, abs=1e-5)


def test_zero_shot_columns_follow_label_order(tiny_clip):
    images = _images()
    forward = clip.zero_shot(images, PROMPTS)
    backward = clip.zero_shot(images, dict(reversed(PROMPTS.items())))
    np.testing.assert_allclose(backward, forward[:, ::-1], atol=1e-6)


@pytest.mark.parametrize(
    "prompts",
    [{}, {"cat": []}, {"cat": ["a cat"], "dog": ["  "]}, {"cat": [3]}, ["a cat"]],
    ids=["no-labels", "no-prompts", "blank-prompt", "non-string", "not-a-dict"],
)
def test_bad_prompts_are_rejected(tiny_clip, prompts):
    with pytest.raises(ValueError):
        clip.zero_shot(_images(sizes=((32, 32),)), prompts)


# === Grad-CAM ===


def test_gradcam_model_exposes_patch_tokens_and_the_embedding(tiny_clip):
    import tensorflow as tf

    model = clip.get_clip()
    images = _images()
    gradcam = model.image_model_for_gradcam()
    assert model.image_model_for_gradcam() is gradcam
    pixels = model.preprocess_images(images)
    with tf.GradientTape() as tape:
        activations, embedding = gradcam(pixels)
        score = tf.reduce_sum(embedding * tf.constant(np.ones(PROJECTION_DIM, np.float32)))
    assert tuple(activations.shape) == (len(images), 1 + PATCH_GRID**2, model.hidden_dim)
    assert tuple(embedding.shape) == (len(images), PROJECTION_DIM)
    np.testing.assert_allclose(_unit(np.asarray(embedding)), clip.embed_images(images), atol=1e-5)
    # Grad-CAM needs the patch tokens to influence the embedding; at the output
    # of the last block they would not (only the class token is pooled).
    gradients = np.asarray(tape.gradient(score, activations))
    assert np.abs(gradients[:, 1:]).max(axis=(1, 2)).min() > 0
    layer_names = {layer.name for layer in model.backbone.vision_encoder.layers}
    assert model.gradcam_layer_name in layer_names
