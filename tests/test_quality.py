"""models.aesthetic.distortions, .fr_metrics (the training data's defects and targets),
.quality (the CNN), the training CLI and the shipped model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from skimage import data
from skimage.metrics import structural_similarity

from models.aesthetic import distortions, fr_metrics, quality
from models.aesthetic.train_quality import TRAIN_PHOTOS

SHIPPED = Path(__file__).resolve().parents[1] / "weights" / "quality" / quality.MODEL_FILE


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    """A 128 x 128 crop of a real photo (the held-out coffee), at the scoring scale."""
    photo = quality.resize_short_side(data.coffee())
    return np.ascontiguousarray(photo[60:60 + quality.CROP, 150:150 + quality.CROP])


# === Metrics ===


def test_ssim_matches_skimage_with_wang_settings(crop):
    noisy = distortions.distort(crop, "gaussian_noise", 3, np.random.default_rng(0))
    expected = structural_similarity(crop, noisy, channel_axis=-1, data_range=255,
                                     gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False)
    assert fr_metrics.ssim(crop, noisy) == pytest.approx(expected, abs=1e-9)
    assert expected < 0.9  # the check means something: the images differ


def test_identical_images_score_one(crop):
    assert fr_metrics.gmsd(crop, crop) == 0.0
    assert fr_metrics.ms_ssim(crop, crop) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(fr_metrics.fr_targets(crop, crop), 1.0, atol=1e-6)


def test_ms_ssim_of_flat_images_is_the_weighted_luminance_term():
    # Flat images have no contrast or structure: cs = C2 / C2 = 1 at every scale, and MS-SSIM
    # is the coarsest scale's luminance term to the power of its (normalised) weight.
    a, b = np.full((128, 128, 3), 100, np.uint8), np.full((128, 128, 3), 160, np.uint8)
    c1 = (0.01 * 255) ** 2
    luminance = (2 * 100 * 160 + c1) / (100 ** 2 + 160 ** 2 + c1)
    weights = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
    assert fr_metrics.ms_ssim(a, b) == pytest.approx(luminance ** (weights[-1] / weights.sum()),
                                                  rel=1e-9)


def test_gmsd_hand_check_on_a_ramp_made_twice_as_steep():
    # A 64 x 64 horizontal ramp (1 a pixel) against the same ramp twice as steep. After the
    # 2 x 2 averaging and halving (32 x 32) the ramps rise 2 and 4 a pixel; Prewitt / 3 over a
    # two-pixel span gives magnitudes 4 and 8 inside, and half that in the first and last
    # columns, where nearest padding repeats the edge. So the GMS map takes two values, on 30
    # and on 2 of the 32 columns, and its standard deviation is |a - b| sqrt(p (1 - p)).
    ramp = np.tile(np.arange(64, dtype=np.float64), (64, 1))
    inside = (2 * 4 * 8 + 170) / (4 ** 2 + 8 ** 2 + 170)
    border = (2 * 2 * 4 + 170) / (2 ** 2 + 4 ** 2 + 170)
    p = 2 / 32
    expected = abs(inside - border) * np.sqrt(p * (1 - p))
    assert fr_metrics.gmsd(ramp, 2 * ramp) == pytest.approx(expected, rel=1e-12)
    assert fr_metrics.gmsd(ramp, ramp) == 0.0


@pytest.mark.parametrize("name", list(distortions.DISTORTIONS))
def test_each_distortion_lowers_the_targets_as_its_level_rises(crop, name):
    # The same generator state at every level: the same noise pattern, motion angle and cast hue,
    # so only the strength changes.
    rows = np.array([fr_metrics.fr_targets(crop, distortions.distort(crop, name, level,
                                                              np.random.default_rng(3)))
                     for level in range(distortions.LEVELS + 1)])
    means = rows.mean(axis=1)
    assert np.all(np.diff(means) < 0), f"{name}: mean target by level {means}"
    # SSIM, MS-SSIM and the GMSD target never rise with the level (colour casts barely move
    # them, which is why the chromatic target exists).
    for column, target in enumerate(quality.TARGETS[:3]):
        assert np.all(np.diff(rows[:, column]) <= 1e-3), f"{name}/{target}: {rows[:, column]}"
    assert rows[-1].min() < 0.9, f"{name}: the heaviest level should be clearly worse"


def test_distort_rejects_unknown_names_and_levels(crop):
    with pytest.raises(KeyError):
        distortions.distort(crop, "sepia", 1)
    with pytest.raises(ValueError):
        distortions.distort(crop, "jpeg", distortions.LEVELS + 1)
    np.testing.assert_array_equal(distortions.distort(crop, "jpeg", 0), crop)


def test_scoring_crops_are_the_centre_and_corners():
    photo = np.arange(256 * 384 * 3, dtype=np.uint32).reshape(256, 384, 3).astype(np.uint8)
    crops = quality.crops_for_scoring(photo)
    assert crops.shape == (5, quality.CROP, quality.CROP, 3)
    np.testing.assert_array_equal(crops[0], photo[:128, :128])
    np.testing.assert_array_equal(crops[3], photo[128:, 256:])
    np.testing.assert_array_equal(crops[4], photo[64:192, 128:256])


# === Training CLI ===


def test_tiny_training_run_writes_a_model_that_loads_through_the_resolver(tmp_path,
                                                                        monkeypatch, capsys):
    from models.train import main

    out = tmp_path / "quality"
    code = main(["quality", "--out", str(out), "--epochs", "1", "--crops", "2", "--variants",
                 "2", "--eval-crops", "1", "--width", "4", "--workers", "1"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "pristine beats heavy" in printed
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert set(evaluation["distortions"]) == set(distortions.DISTORTIONS)
    # 2 crops a photo, each with its pristine copy and 2 distorted ones.
    assert evaluation["training_samples"] == 2 * 3 * len(TRAIN_PHOTOS)

    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(tmp_path))
    quality.reset_default()
    try:
        model = quality.get_model()  # weights.load_keras: safe_mode=True
        assert model.get_layer("quality_features").filters == 16  # width 4 x 4: the tiny one
        score = quality.quality_score(data.chelsea())
        assert 0.0 <= score <= 1.0
    finally:
        quality.reset_default()


# === The shipped model ===
#
# No skips: a missing or corrupt weights/quality is a bug, and these fail on it.


def test_the_shipped_model_file_is_there():
    assert SHIPPED.is_file() and SHIPPED.stat().st_size > 10_000


@pytest.fixture(scope="module")
def shipped_model():
    quality.reset_default()
    yield quality.get_model()  # through weights.resolve("quality"), with its sha256 check
    quality.reset_default()


def test_shipped_model_prefers_a_held_out_pristine_photo_to_blurred_and_noisy_copies(
        shipped_model):
    photo = quality.resize_short_side(data.coffee())  # held out of training
    pristine = quality.quality_score(photo)
    blurred = quality.quality_score(distortions.distort(photo, "gaussian_blur", 5))
    noisy = quality.quality_score(distortions.distort(photo, "gaussian_noise", 5))
    assert pristine > blurred + 0.05
    assert pristine > noisy + 0.05


def test_gradcam_on_the_shipped_model_covers_the_photo(shipped_model):
    from explain import KerasModel, explain

    image = quality.resize_short_side(data.chelsea(), 150)  # 150 x 226: not the model's scale
    adapter = KerasModel(shipped_model, preprocess=quality.preprocess,
                         cam_layer="quality_features", output_names=list(quality.TARGETS))
    result = explain("gradcam", adapter, image, target="ssim", faithfulness=False)
    assert result.heatmap.shape == image.shape[:2]
    assert np.isfinite(result.heatmap).all() and result.heatmap.max() > 0
    assert result.meta["layer"] == "quality_features"


def test_the_shipped_model_loads_once_across_threads():
    from concurrent.futures import ThreadPoolExecutor

    quality.reset_default()
    try:
        with ThreadPoolExecutor(4) as pool:
            models = list(pool.map(lambda _: quality.get_model(), range(8)))
        assert all(m is models[0] for m in models)
        assert models[0].get_layer("quality_features") is not None
    finally:
        quality.reset_default()
