"""LIME and SHAP over a ViT's own patches, hidden by leaving them out of the token sequence.

Two things must hold. The token-drop forward pass must compute what a ViT computes on the kept
tokens alone: checked against the full pass (every patch kept), against a NumPy transformer
written here from the tiny CLIP's weights, and by changing the pixels of a dropped patch. And
the maps must find what a model reads: a patch model whose score depends on known patches only
(benchmarks/stand_ins/region_models.patch_region_model), on several scikit-image photos.
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from benchmarks.stand_ins.region_models import (
    cells_mask,
    natural_photo,
    patch_region_model,
    region_cells,
    scene_disk,
    top_fraction_inside,
)
from explain import FunctionModel, PatchModel, explain


def photo() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[::8, ::6])  # 64 x 86: CLIP crops a square


# === The token-drop forward pass ===


def _layer_norm(x, layer):
    gamma, beta = (np.asarray(w, np.float64) for w in layer.get_weights())
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + layer.epsilon) * gamma + beta


def _block(x, block):
    """One CLIP encoder block in NumPy: pre-norm attention and a quick-GELU MLP, residuals."""
    attention = block.attention
    q_kernel, q_bias = (np.asarray(w, np.float64) for w in attention._query_dense.get_weights())
    k_kernel, k_bias = (np.asarray(w, np.float64) for w in attention._key_dense.get_weights())
    v_kernel, v_bias = (np.asarray(w, np.float64) for w in attention._value_dense.get_weights())
    o_kernel, o_bias = (np.asarray(w, np.float64) for w in attention._output_dense.get_weights())
    h = _layer_norm(x, block.layer_norm_1)
    q = np.einsum("td,dhk->htk", h, q_kernel) + q_bias[:, None]
    k = np.einsum("td,dhk->htk", h, k_kernel) + k_bias[:, None]
    v = np.einsum("td,dhk->htk", h, v_kernel) + v_bias[:, None]
    logits = q @ k.transpose(0, 2, 1) / np.sqrt(q.shape[-1])
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    x = x + np.einsum("htk,hkd->td", weights @ v, o_kernel) + o_bias
    h = _layer_norm(x, block.layer_norm_2)
    w1, b1 = (np.asarray(w, np.float64) for w in block.dense_1.get_weights())
    w2, b2 = (np.asarray(w, np.float64) for w in block.dense_2.get_weights())
    h = h @ w1 + b1
    h = h / (1 + np.exp(-1.702 * h))  # quick GELU
    return x + h @ w2 + b2


def reference_embedding(clip, image: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The unit embedding of `image` from a NumPy ViT that is handed only the kept patches:
    patchify with the conv weights, add each token's own position embedding, then the blocks."""
    vision = clip.backbone.vision_encoder
    pixels = np.asarray(clip.preprocess_images(image), np.float64)[0]
    size = clip.patch_size
    grid = clip.patch_grid
    patches = pixels.reshape(grid, size, grid, size, 3).swapaxes(1, 2).reshape(grid * grid, -1)
    (kernel,) = vision.embedding.patch_embedding.get_weights()
    patch_tokens = patches @ np.asarray(kernel, np.float64).reshape(-1, kernel.shape[-1])
    table = np.asarray(vision.embedding.position_embedding.get_weights()[0], np.float64)
    positions = table[np.asarray(vision.embedding.position_ids)[0]]
    class_token = np.asarray(vision.embedding.class_embedding, np.float64) + positions[0]
    kept = np.flatnonzero(keep)
    x = np.vstack([class_token, patch_tokens[kept] + positions[1 + kept]])
    x = _layer_norm(x, vision.pre_layer_norm)
    for block in vision.encoder_layers:
        x = _block(x, block)
    x = _layer_norm(x, vision.layer_norm)
    (projection,) = clip.backbone.vision_projection.get_weights()
    embedding = x[0] @ np.asarray(projection, np.float64)
    return embedding / np.linalg.norm(embedding)


@pytest.fixture
def clip_with_positions(tiny_clip_model):
    """The tiny CLIP with position i at token i, as a converted checkpoint has it (a freshly
    built keras-hub encoder starts its `position_ids` at zeros: every token the same position,
    which would hide a token given another token's position)."""
    embedding = tiny_clip_model.backbone.vision_encoder.embedding
    embedding.position_ids.assign(np.arange(embedding.num_positions)[None])
    return tiny_clip_model


def test_keeping_every_patch_is_the_ordinary_embedding(clip_with_positions):
    clip = clip_with_positions
    image = photo()
    kept = clip.embed_kept_patches(image, np.ones((1, clip.patch_count), bool))
    np.testing.assert_allclose(kept, clip.embed_images(image), atol=1e-5)


def test_a_batch_of_mixed_counts_matches_a_vit_given_only_the_kept_tokens(clip_with_positions):
    clip = clip_with_positions
    image = photo()
    rng = np.random.default_rng(3)
    keep = rng.random((9, clip.patch_count)) < 0.5
    keep[0] = False  # the class token alone
    keep[1] = True
    keep[2] = keep[3]  # two rows alike, apart in the batch
    assert len(set(keep.sum(axis=1))) >= 4  # several groups of different lengths
    got = clip.embed_kept_patches(image, keep)
    expected = np.stack([reference_embedding(clip, image, row) for row in keep])
    np.testing.assert_allclose(got, expected, atol=2e-4)
    # A batch where no row keeps a patch: each is the class token alone.
    alone = clip.embed_kept_patches(image, np.zeros((2, clip.patch_count), bool))
    np.testing.assert_allclose(alone, expected[[0, 0]], atol=2e-4)


def test_a_dropped_patch_pixels_do_not_matter_and_a_kept_patch_pixels_do(clip_with_positions):
    clip = clip_with_positions
    image = np.ascontiguousarray(data.astronaut()[::16, ::16])  # 32 x 32: no crop, no resize
    assert clip.crop_box(*image.shape[:2]) == (0, 0, 32, 32)
    changed = image.copy()
    changed[:8, :8] = 255 - changed[:8, :8]  # patch 0 (row 0, column 0)
    keep = np.ones((2, clip.patch_count), bool)
    keep[0, 0] = False  # row 0 drops patch 0; row 1 keeps it
    before = clip.embed_kept_patches(image, keep)
    after = clip.embed_kept_patches(changed, keep)
    # A bicubic resize is the identity here, so no other patch sees patch 0's pixels.
    np.testing.assert_allclose(after[0], before[0], atol=1e-6)
    assert np.abs(after[1] - before[1]).max() > 1e-3


def test_keep_rows_of_the_wrong_width_or_an_unknown_precision_are_refused(tiny_clip_model):
    with pytest.raises(ValueError, match="keep must have shape"):
        tiny_clip_model.embed_kept_patches(photo(), np.ones((2, 5), bool))
    with pytest.raises(ValueError, match="precision"):
        tiny_clip_model.embed_kept_patches(photo(), np.ones((2, 16), bool), precision="fp8")


def test_the_bfloat16_tower_points_the_same_way(clip_with_positions):
    clip = clip_with_positions
    rng = np.random.default_rng(5)
    keep = rng.random((8, clip.patch_count)) < 0.5
    full = clip.embed_kept_patches(photo(), keep)
    half = clip.embed_kept_patches(photo(), keep, precision="bfloat16")
    assert half.dtype == np.float32
    cosines = (full * half).sum(axis=1)  # both unit length
    # bfloat16 keeps 8 significant bits (about 0.4% per number): close, never the same.
    assert cosines.min() > 0.999 and np.abs(full - half).max() > 0


# === Patches on the photo ===


def test_patch_cells_cover_the_box_the_model_sees():
    model = PatchModel(lambda images: np.zeros((len(images), 1)), lambda image, keep:
                       np.zeros((len(keep), 1)), (7, 7), ["x"],
                       input_box=lambda h, w: (0, (w - h) // 2, h, h))
    labels = model.patch_labels(70, 100)
    assert (labels[:, :15] == -1).all() and (labels[:, 85:] == -1).all()
    inside = labels[:, 15:85]
    assert inside.shape == (70, 70)
    # 70 pixels cut into 7 cells of 10: cell (r, c) is number 7 r + c.
    expected = (np.arange(70)[:, None] // 10) * 7 + np.arange(70)[None, :] // 10
    np.testing.assert_array_equal(inside, expected)


# === Maps from patches, on a model whose answer is known ===

SCENES = ["rocket", "motorcycle", "coins", "camera", "hubble_deep_field"]
"""scikit-image photos of NATURAL_SCENES, each with its disk."""


def known_region(name: str):
    image = natural_photo(name, 256)
    cells = region_cells(scene_disk(name, image.shape[:2]), 7)
    return image, cells, cells_mask(cells, image.shape[:2])


@pytest.mark.parametrize("method", ["lime", "shap"])
def test_patch_maps_find_the_patches_the_model_reads(method):
    shares = []
    for name in SCENES:
        image, cells, known = known_region(name)
        model = patch_region_model(cells)
        exp = explain(method, model, image, seed=0, faithfulness=False)
        assert exp.meta["perturb"] == "patches"
        shares.append(top_fraction_inside(exp.heatmap, known, float(known.mean())))
    # LIME's 200 samples fit 49 features well; Partition SHAP at 200 evaluations stops at
    # blocks of a few patches, which still put most of the top inside on average.
    if method == "lime":
        assert min(shares) >= 0.9, shares
    else:
        assert np.mean(shares) >= 0.6 and min(shares) >= 0.4, shares


@pytest.mark.parametrize("method", ["lime", "shap"])
def test_patch_maps_stream_and_stop_once_settled_and_still_find_the_patches(method):
    """As over superpixels: partial maps come before the finished one, a settled map stops
    before its budget of 400, and it still puts its top on the patches the model reads. Watching
    without stopping changes nothing: the same map, the same evaluations."""
    budget = 400
    early = []
    for name in SCENES:
        image, cells, known = known_region(name)
        model = patch_region_model(cells)
        seen = []
        stopped = explain(method, model, image, seed=0, budget=budget, faithfulness=False,
                          on_map=seen.append, settle_at=0.95)
        assert len(seen) >= 3  # partial maps, then the finished one
        np.testing.assert_allclose(seen[-1].heatmap, stopped.heatmap, atol=1e-6)
        assert all(0 < partial.heatmap.std() for partial in seen[:-1])
        assert stopped.meta["evaluations"] <= budget
        early.append(stopped.meta["evaluations"] < budget)
        share = top_fraction_inside(stopped.heatmap, known, float(known.mean()))
        assert share >= (0.9 if method == "lime" else 0.4), (name, share)
        if name == SCENES[0]:
            whole = explain(method, model, image, seed=0, budget=budget, faithfulness=False)
            watched = explain(method, model, image, seed=0, budget=budget, faithfulness=False,
                              on_map=lambda _: None)
            np.testing.assert_allclose(watched.heatmap, whole.heatmap, atol=1e-6)
            assert watched.meta["evaluations"] == whole.meta["evaluations"]
    assert sum(early) >= 3, early


def test_patch_maps_are_faithful_by_the_pixel_deletion_test():
    faithful = 0
    for name in SCENES:
        image, cells, _ = known_region(name)
        exp = explain("lime", patch_region_model(cells), image, seed=0)
        faithful += exp.faithfulness.beats_random
    assert faithful >= 4


def test_a_patch_map_is_one_value_per_cell_and_zero_outside_the_box():
    image = natural_photo("camera", 256)
    cells = region_cells(scene_disk("camera", image.shape[:2]), 7)
    base = patch_region_model(cells)
    height, width = image.shape[:2]
    box = (0, 40, height, width - 80)
    model = PatchModel(base.fn, base.score_kept, (7, 7), ["region"], input_box=lambda h, w: box)
    exp = explain("lime", model, image, seed=0, faithfulness=False)
    labels = model.patch_labels(height, width)
    assert (exp.heatmap[labels == -1] == 0).all()
    for cell in range(49):
        assert np.ptp(exp.heatmap[labels == cell]) == 0


def test_patch_mode_never_paints_the_photo():
    image = natural_photo("coins", 128)
    cells = region_cells(scene_disk("coins", image.shape[:2]), 7)
    base = patch_region_model(cells)
    painted = []

    def whole(images):
        painted.append(len(images))
        return base.fn(images)

    model = PatchModel(whole, base.score_kept, (7, 7), ["region"])
    for method in ("lime", "shap"):
        exp = explain(method, model, image, budget=40, faithfulness=False)
        assert exp.meta["evaluations"] == 40
    assert painted == []


def test_pixels_can_still_be_asked_for_and_patches_need_a_patch_model():
    image = natural_photo("coins", 128)
    cells = region_cells(scene_disk("coins", image.shape[:2]), 7)
    exp = explain("lime", patch_region_model(cells), image, budget=20, faithfulness=False,
                  perturb="pixels")
    assert "perturb" not in exp.meta and exp.meta["segmentation"] == "slic"
    plain = FunctionModel(lambda images: images.mean(axis=(1, 2, 3))[:, None], ["mean"])
    for method in ("lime", "shap"):
        with pytest.raises(ValueError, match="PatchModel"):
            explain(method, plain, image, budget=20, perturb="patches")
        with pytest.raises(ValueError, match="Unknown perturb"):
            explain(method, plain, image, budget=20, perturb="tokens")



# === The CLIP tabs hand LIME and SHAP their patches ===


def _assert_patch_model_scores_the_photo(model, photo_copy, shown):
    assert isinstance(model, PatchModel) and model.grid == (4, 4)  # the tiny CLIP's grid
    every_patch = np.ones((1, model.n_patches), bool)
    np.testing.assert_allclose(model.predict_kept(photo_copy, every_patch)[0], shown,
                               rtol=1e-3, atol=2e-4)


def test_aesthetic_content_maps_hide_clip_patches(tiny_clip):
    from models import aesthetic

    image = data.coffee()
    rating = aesthetic.rate(image)
    setup = aesthetic.explanation_setup(image, "content")
    assert setup.models["lime"] is setup.models["shap"]
    _assert_patch_model_scores_the_photo(setup.models["lime"], setup.photo, [rating.content])
    quality = aesthetic.explanation_setup(image, "quality").models["lime"]
    assert not isinstance(quality, PatchModel)  # BRISQUE keeps its superpixels


def test_style_zero_shot_maps_hide_clip_patches(tiny_clip):
    from models.style.classify import classify
    from models.style.explanations import explanation_setup

    result = classify(data.astronaut())
    setup = explanation_setup(result)
    _assert_patch_model_scores_the_photo(setup.models["shap"], setup.photo,
                                         list(result.probabilities.values()))


def test_tags_zero_shot_maps_hide_clip_patches(tiny_clip):
    from models.tags import tag
    from models.tags.explanations import explanation_setup

    result = tag(data.astronaut(), extra="launch pad")
    setup = explanation_setup(result, "launch pad")
    model = setup.models["lime"]
    shown = [result.probabilities[name] for name in model.output_names]
    _assert_patch_model_scores_the_photo(model, setup.photo, shown)


def test_rows_are_grouped_into_the_cheapest_runs_of_similar_counts():
    from itertools import product

    from models.clip import CALL_COST_TOKENS, _length_groups

    def cost(groups, counts):
        return sum(len(g) * (counts[g].max() + 1) + CALL_COST_TOKENS for g in groups)

    rng = np.random.default_rng(2)
    for _ in range(20):
        counts = rng.integers(0, 50, rng.integers(1, 9))
        groups = _length_groups(counts)
        assert sorted(np.concatenate(groups).tolist()) == list(range(len(counts)))
        # Every split of the sorted rows into runs, by brute force.
        ordered = np.argsort(counts, kind="stable")
        cheapest = min(
            cost(np.split(ordered, [i + 1 for i, cut in enumerate(cuts) if cut]), counts)
            for cuts in product([False, True], repeat=len(counts) - 1))
        assert cost(groups, counts) == cheapest
    # Near-empty and near-full rows are not padded to one length.
    mixed = np.array([0, 1, 2, 3, 47, 48, 49, 49])
    assert len(_length_groups(mixed)) == 2


def test_a_token_cap_keeps_every_run_within_it_and_still_the_cheapest():
    """embed_kept_patches caps a call at the tokens of IMAGE_BATCH whole photos: the runs are
    the cheapest of the splits whose every run (of more than one row) holds no more."""
    from itertools import product

    from models.clip import CALL_COST_TOKENS, _length_groups

    def tokens(group, counts):
        return len(group) * (counts[group].max() + 1)

    def cost(groups, counts):
        return sum(tokens(g, counts) + CALL_COST_TOKENS for g in groups)

    rng = np.random.default_rng(3)
    cap = 4 * 50
    for _ in range(20):
        counts = rng.integers(0, 50, rng.integers(1, 10))
        groups = _length_groups(counts, cap)
        assert sorted(np.concatenate(groups).tolist()) == list(range(len(counts)))
        assert all(len(g) == 1 or tokens(g, counts) <= cap for g in groups)
        ordered = np.argsort(counts, kind="stable")
        splits = (np.split(ordered, [i + 1 for i, cut in enumerate(cuts) if cut])
                  for cuts in product([False, True], repeat=len(counts) - 1))
        cheapest = min(cost(split, counts) for split in splits
                       if all(len(g) == 1 or tokens(g, counts) <= cap for g in split))
        assert cost(groups, counts) == cheapest
    # Sixteen full rows go in four calls of four, never one of sixteen.
    assert [len(g) for g in _length_groups(np.full(16, 49), cap)] == [4, 4, 4, 4]
