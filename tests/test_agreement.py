"""Where the methods agree (explain.agreement): rank correlations on a common grid, the region
every map ranks high, and that this region finds what a model reads more often than one
method alone does."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.stand_ins.region_models import natural_photo, region_model, scene_disk
from explain import KerasModel, explain
from explain.agreement import agreement, common_grid, rank_correlation, top_region


def blocks(values: np.ndarray, cell: int = 10) -> np.ndarray:
    """A map made of cell x cell blocks, one per value."""
    return np.kron(np.asarray(values, np.float32), np.ones((cell, cell), np.float32))


def test_rank_correlation_reads_only_the_ranking():
    rng = np.random.default_rng(0)
    values = rng.permutation(14 * 14).reshape(14, 14)
    heatmap = blocks(values)  # 140 x 140: one block per cell of the common grid
    assert rank_correlation(heatmap, heatmap) == pytest.approx(1.0)
    assert rank_correlation(heatmap, np.exp(heatmap / 50)) == pytest.approx(1.0)  # monotone
    assert rank_correlation(heatmap, -heatmap) == pytest.approx(-1.0)
    # Two blocks swapped: Spearman's 1 - 6 sum d^2 / (n (n^2 - 1)), by hand.
    swapped = values.copy()
    swapped[0, 0], swapped[0, 1] = values[0, 1], values[0, 0]
    n = values.size
    d = abs(int(values[0, 0]) - int(values[0, 1]))
    expected = 1 - 6 * (2 * d**2) / (n * (n**2 - 1))
    assert rank_correlation(heatmap, blocks(swapped)) == pytest.approx(expected)
    assert rank_correlation(heatmap, np.zeros_like(heatmap)) == 0.0


def test_the_common_grid_averages_each_cell():
    heatmap = blocks(np.arange(4).reshape(2, 2), cell=7)  # 14 x 14
    np.testing.assert_allclose(common_grid(heatmap, side=2), [[0, 1], [2, 3]])


def test_the_agreed_region_is_in_every_maps_top_and_positive():
    first = blocks([[4, 3], [2, 1]])  # top quarter: the top-left block
    second = blocks([[4, 1], [3, 2]])
    third = blocks([[-1, 0], [-2, -3]])  # signed: nothing positive
    result = agreement({"a": first, "b": second}, top_fraction=0.25)
    expected = np.zeros((20, 20), bool)
    expected[:10, :10] = True
    np.testing.assert_array_equal(result.agreed, expected)
    assert result.agreed_share == pytest.approx(0.25)
    wider = agreement({"a": first, "b": second}, top_fraction=0.5)
    # Top halves: a's top row, b's left column; they share the top-left block.
    np.testing.assert_array_equal(wider.agreed, expected)
    assert not top_region(third, 0.25).any()
    assert not agreement({"a": first, "c": third}).agreed.any()


def test_bad_inputs_get_one_clear_error():
    with pytest.raises(ValueError, match="at least two maps"):
        agreement({"a": np.zeros((4, 4))})
    with pytest.raises(ValueError, match="one size"):
        agreement({"a": np.zeros((4, 4)), "b": np.zeros((4, 5))})
    with pytest.raises(ValueError, match="top_fraction"):
        agreement({"a": np.zeros((4, 4)), "b": np.zeros((4, 4))}, top_fraction=0)


SCENES = ["rocket", "motorcycle", "immunohistochemistry", "hubble_deep_field", "coins",
          "camera", "retina"]
"""scikit-image photos, each with the disk a region model reads (benchmarks/stand_ins)."""


def inside(region: np.ndarray, disk: np.ndarray) -> float:
    """The share of a region inside the disk (0 for an empty region: nothing was found)."""
    return float(disk[region].mean()) if region.any() else 0.0


def test_where_the_methods_agree_the_known_region_is_found_more_often():
    """On each photo, the model reads only a disk. A map's top fifth is scored by the share of
    it inside the disk; so is the region all maps rank high."""
    alone = {"gradcam": [], "lime": [], "shap": []}
    agreed_all, agreed_perturbation = [], []
    for name in SCENES:
        image = natural_photo(name, 128)
        disk = scene_disk(name, image.shape[:2]) > 0
        model = KerasModel(region_model(disk.astype(np.float32)), output_names=["disk"])
        maps = {method: explain(method, model, image, seed=0, faithfulness=False).heatmap
                for method in alone}
        for method, heatmap in maps.items():
            alone[method].append(inside(top_region(heatmap), disk))
        agreed_all.append(inside(agreement(maps).agreed, disk))
        agreed_perturbation.append(inside(
            agreement({m: maps[m] for m in ("lime", "shap")}).agreed, disk))
    means = {method: np.mean(shares) for method, shares in alone.items()}
    # Grad-CAM reads this model's masked features directly and is exact here; the agreement
    # keeps that, and beats each perturbation method by a wide margin.
    assert np.mean(agreed_all) >= max(means.values()) - 1e-9
    assert np.mean(agreed_perturbation) > max(means["lime"], means["shap"]) + 0.1, (
        np.mean(agreed_perturbation), means)
    # Photo by photo, the agreement is never worse than the better of LIME and SHAP.
    for shared, lime_share, shap_share in zip(agreed_perturbation, alone["lime"],
                                              alone["shap"], strict=True):
        assert shared >= max(lime_share, shap_share) - 0.05


def test_the_agreed_region_view_keeps_the_region_and_dims_the_rest():
    from demos.figures.agreement import DIM, agreed_region_view, agreement_caption

    photo = np.full((20, 20, 3), 200, np.uint8)
    found = agreement({"lime": blocks([[4, 3], [2, 1]]), "shap": blocks([[4, 1], [3, 2]])},
                      top_fraction=0.25)
    view = agreed_region_view(photo, found)
    assert (view[15, 15] == round(200 * DIM)).all()  # outside: dimmed
    assert (view[5, 5] == 200).all()  # inside, away from the edge: the photo itself
    assert not (view[0, 0] == 200).all()  # the region's edge is drawn
    caption = agreement_caption(found, {"lime": "LIME", "shap": "SHAP"})
    assert "LIME and SHAP +" in caption and "25%" in caption
    with pytest.raises(ValueError, match="photo"):
        agreed_region_view(np.zeros((10, 10, 3), np.uint8), found)
