"""Where the methods agree, in the explanation panel: the finished view of two or more maps of one
number names each pair's rank correlation in the status and draws the region every map ranks
high after the maps; views while maps stream, one-map runs and maps of different numbers get
none of it."""

from __future__ import annotations

import re
from itertools import combinations

import numpy as np
import pytest
from scipy.stats import spearmanr

from benchmarks.stand_ins.region_models import natural_photo, region_model, scene_disk
from demos.explain_runs import AGREEMENT_TITLE, ExplainRequest, run_request, stream_request
from explain import KerasModel

TITLES = {"gradcam": "Grad-CAM", "lime": "LIME", "shap": "SHAP"}
BUDGETS = {"lime": 100, "shap": 100}
BLOCK = 8
"""Pixels per side of a cell of the comparison grid: the photo below is 88 x 112, and the
grid is 14 cells on its longest side (explain.agreement.COMMON_GRID), 11 x 14 cells of 8 x 8."""


@pytest.fixture(scope="module")
def scene():
    """coins at 112 pixels, and a model that reads only the disk on it."""
    image = natural_photo("coins", 112)
    assert image.shape[:2] == (88, 112)
    disk = scene_disk("coins", image.shape[:2])
    return image, disk > 0, region_model(disk)


def correlations_in(status: str) -> dict[tuple[str, str], float]:
    """The status's "A–B ρ 0.62" pairs."""
    return {(a, b): float(r) for a, b, r in re.findall(r"([\w-]+)–([\w-]+) ρ (-?\d\.\d\d)",
                                                        status)}


def cell_means(heatmap: np.ndarray) -> np.ndarray:
    """The map's mean over each 8 x 8 cell."""
    height, width = heatmap.shape
    cells = heatmap.reshape(height // BLOCK, BLOCK, width // BLOCK, BLOCK)
    return cells.mean(axis=(1, 3))


def test_three_methods_that_find_the_region_agree_on_it_in_the_last_view_only(scene):
    image, disk, keras_model = scene
    request = ExplainRequest(image, KerasModel(keras_model, output_names=["disk"]),
                             target="disk")
    methods = ["gradcam", "lime", "shap"]
    *working, final = stream_request(request, methods, key="agree", budgets=BUDGETS)

    # While the maps stream, nothing is compared: their rankings are still moving.
    assert working
    for view in working:
        assert "agree" not in view.status and not view.agreements
        assert not any(text.startswith(AGREEMENT_TITLE) for _, text in view.gallery)

    maps = {exp.method: exp.heatmap for exp in final.explanations}
    assert list(maps) == methods
    # Each pair's Spearman correlation of the maps' cell means, as the status gives it.
    shown = correlations_in(final.status.split("\n\n")[-1])
    expected = {(TITLES[a], TITLES[b]): spearmanr(cell_means(maps[a]).ravel(),
                                                  cell_means(maps[b]).ravel()).statistic
                for a, b in combinations(methods, 2)}
    assert shown.keys() == expected.keys()
    for pair, value in expected.items():
        assert shown[pair] == pytest.approx(value, abs=0.006), pair
        assert value > 0.3, pair  # all three found the disk, so they rank alike
    assert final.status.startswith("Explained **disk** = ")
    assert "**Where the maps of disk agree**" in final.status

    # One picture per map, then the agreement: the photo itself where every map ranks high,
    # dimmed elsewhere, and that region lies in the disk the model reads.
    assert len(final.gallery) == len(methods) + 1
    picture, text = final.gallery[-1]
    assert text.startswith(f"{AGREEMENT_TITLE} · disk · Rank correlation: Grad-CAM and LIME ")
    assert picture.shape == image.shape
    as_is = np.all(picture == image, axis=-1) & (image.max(axis=-1) > 2)
    assert as_is.sum() > 50
    assert disk[as_is].mean() > 0.9, disk[as_is].mean()
    dimmed = ~as_is & (image.max(axis=-1) > 2)
    assert disk[dimmed].mean() < 0.5
    # The figure to download is still the maps side by side.
    assert final.figure_path.read_bytes().startswith(b"\x89PNG")
    assert len(final.rows) == len(methods)


def test_one_map_gets_no_agreement(scene):
    image, _, keras_model = scene
    request = ExplainRequest(image, KerasModel(keras_model, output_names=["disk"]),
                             target="disk")
    view = run_request(request, ["gradcam"], key="agree")
    assert len(view.gallery) == 1 and not view.agreements
    assert "agree" not in view.status and "ρ" not in view.status


@pytest.fixture(scope="module")
def two_numbers(scene):
    """The region model with a second number, read from the same features by another head."""
    import keras

    image, _, keras_model = scene
    pooled = keras_model.get_layer("gap").output
    other = keras.layers.Dense(1, name="other")(pooled)
    other_head = keras_model.get_layer("score").get_weights()
    keras.Model(keras_model.input, other).get_layer("other").set_weights(
        [-other_head[0][::-1], other_head[1]])
    both = keras.Model(keras_model.input,
                       keras.layers.Concatenate()([keras_model.output, other]))
    return KerasModel(both, output_names=["disk", "other"])


def test_maps_of_different_numbers_are_not_compared(scene, two_numbers):
    image, _, _ = scene
    # Grad-CAM explains "other", LIME and SHAP the request's "disk": only LIME and SHAP pair.
    request = ExplainRequest(image, two_numbers, target="disk",
                             method_targets={"gradcam": "other"})
    view = run_request(request, ["gradcam", "lime", "shap"], key="agree",
                       budgets={"lime": 30, "shap": 30})
    assert [exp.target for exp in view.explanations] == ["other", "disk", "disk"]
    assert list(correlations_in(view.status)) == [("LIME", "SHAP")]
    assert "Grad-CAM–" not in view.status and "–Grad-CAM" not in view.status
    assert [name for name, _ in view.agreements] == ["disk"]
    assert view.agreements[0][1].methods == ("lime", "shap")
    assert len(view.gallery) == 4
    assert view.gallery[-1][1].startswith(f"{AGREEMENT_TITLE} · disk · Rank correlation: "
                                          "LIME and SHAP ")

    # Two maps of two different numbers: nothing to compare.
    alone = run_request(request, ["gradcam", "lime"], key="agree", budgets={"lime": 30})
    assert len(alone.gallery) == 2 and not alone.agreements
    assert "agree" not in alone.status
