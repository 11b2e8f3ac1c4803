"""Behaviour of models.aesthetic.attributes on photos whose true attributes are known.

Synthetic images carry an exactly known property (a colour pair, a mirror, a tilted horizon,
noise of a given sigma); the photos that scikit-image ships check that each attribute moves the
right way when the photo is darkened, blurred, desaturated and so on.
"""

import math

import cv2
import numpy as np
import pytest
from skimage import data

from models.aesthetic.attributes import ATTRIBUTE_NAMES, Attribute, PhotoAttributes, measure

PHOTOS = ("astronaut", "coffee", "chelsea", "camera", "rocket")


def photo(name: str) -> np.ndarray:
    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return image


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return photo("astronaut")


def scaled(image: np.ndarray, gain: float, offset: float = 0.0) -> np.ndarray:
    return np.clip(image.astype(np.float64) * gain + offset, 0, 255).astype(np.uint8)


def horizon(tilt_clockwise: float, size: tuple[int, int] = (300, 400), seed: int = 0):
    """Bright sky over dark ground, the boundary turned `tilt_clockwise` degrees as seen."""
    height, width = size
    rows, cols = np.indices(size)
    # Clockwise as the viewer sees it: the right end of the horizon sits lower, and image rows
    # grow downwards, so the boundary row increases with x.
    boundary = height / 2 + math.tan(math.radians(tilt_clockwise)) * (cols - width / 2)
    grey = np.where(rows < boundary, 200.0, 70.0)
    grey += np.random.default_rng(seed).normal(0, 4, size)
    return np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


# === Contract ===


def test_vector_and_rows_follow_attribute_names(astronaut):
    result = measure(astronaut)
    assert isinstance(result, PhotoAttributes)
    assert [attribute.name for attribute in result.attributes()] == list(ATTRIBUTE_NAMES)
    assert [row[0] for row in result.as_rows()] == list(ATTRIBUTE_NAMES)
    vector = result.vector()
    assert vector.shape == (len(ATTRIBUTE_NAMES),)
    assert np.all(np.isfinite(vector))
    assert vector[ATTRIBUTE_NAMES.index("colourfulness")] == result.colourfulness.value


def test_missing_horizon_is_none_in_the_attribute_and_zero_in_the_vector():
    noise = np.random.default_rng(1).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    result = measure(noise)
    assert result.horizon_tilt.value is None
    assert result.horizon_tilt.score is None
    assert result.horizon_tilt.hint == "no clear horizon"
    assert result.vector()[ATTRIBUTE_NAMES.index("horizon tilt")] == 0.0
    assert any(row[1] == "n/a" for row in result.as_rows())


def test_attributes_are_frozen(astronaut):
    result = measure(astronaut)
    with pytest.raises(AttributeError):
        result.exposure = result.contrast
    with pytest.raises(AttributeError):
        result.exposure.value = 0.0


@pytest.mark.parametrize("name", PHOTOS)
def test_hints_are_one_nonempty_line_and_scores_in_range(name):
    result = measure(photo(name))
    for attribute in result.attributes():
        assert isinstance(attribute, Attribute)
        assert attribute.hint.strip() and "\n" not in attribute.hint
        assert attribute.score is None or 0.0 <= attribute.score <= 1.0


def test_accepts_what_load_image_accepts(astronaut):
    # A greyscale 2-D array goes through load_image like any upload.
    result = measure(astronaut.mean(axis=2).astype(np.uint8))
    assert result.colourfulness.value == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("shape", [(1, 1, 3), (2, 5, 3), (10, 1000, 3)])
@pytest.mark.parametrize("fill", [0, 255])
def test_tiny_flat_and_elongated_images_give_finite_values(shape, fill):
    result = measure(np.full(shape, fill, dtype=np.uint8))
    assert np.all(np.isfinite(result.vector()))
    assert result.noise.value == pytest.approx(0.0, abs=1e-6)
    assert ("overexposed" if fill else "underexposed") in result.exposure.hint


# === Exposure and contrast ===


def test_darkened_photo_reads_darker_and_underexposed():
    coffee = photo("coffee")
    normal = measure(coffee)
    dark = measure(scaled(coffee, 0.35))
    assert dark.exposure.value < normal.exposure.value
    assert "underexposed" in dark.exposure.hint
    assert "exposed" in normal.exposure.hint and "under" not in normal.exposure.hint
    assert dark.exposure.score < normal.exposure.score


def test_brightened_clipped_photo_reads_overexposed_with_clipped_highlights():
    coffee = photo("coffee")
    bright = measure(scaled(coffee, 1.6, 90))
    assert "overexposed" in bright.exposure.hint
    assert "clipped highlights" in bright.exposure.hint
    assert bright.clipped_highlights > measure(coffee).clipped_highlights + 0.1


def test_contrast_falls_monotonically_as_contrast_is_reduced(astronaut):
    mean = astronaut.mean()
    values = [
        measure(scaled(astronaut, factor, (1 - factor) * mean)).contrast.value
        for factor in (1.0, 0.7, 0.4, 0.15)
    ]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))
    assert values[-1] == pytest.approx(0.15 * values[0], rel=0.1)


# === Colour ===


def test_grey_image_has_no_colourfulness_or_saturation():
    grey = np.full((64, 64, 3), 128, dtype=np.uint8)
    result = measure(grey)
    assert result.colourfulness.value == pytest.approx(0.0, abs=1e-6)
    assert result.colourfulness.hint == "not colourful"
    assert result.saturation.value == pytest.approx(0.0, abs=1e-6)


def test_two_colour_image_matches_hasler_susstrunk_by_hand():
    # Half pure red (rg = 255, yb = 127.5), half pure blue (rg = 0, yb = -255).
    image = np.zeros((50, 100, 3), dtype=np.uint8)
    image[:, :50, 0] = 255
    image[:, 50:, 2] = 255
    sd_rg, mean_rg = 127.5, 127.5
    sd_yb, mean_yb = (127.5 + 255) / 2, (127.5 - 255) / 2
    expected = math.hypot(sd_rg, sd_yb) + 0.3 * math.hypot(mean_rg, mean_yb)  # ~272.8
    result = measure(image)
    assert result.colourfulness.value == pytest.approx(expected, rel=1e-4)
    assert result.colourfulness.hint == "extremely colourful"


def test_astronaut_is_more_colourful_than_its_grey_copy(astronaut):
    grey = np.repeat(astronaut.mean(axis=2, keepdims=True), 3, axis=2).astype(np.uint8)
    assert measure(astronaut).colourfulness.value > 40 > measure(grey).colourfulness.value


def test_saturation_falls_monotonically_under_desaturation(astronaut):
    grey = astronaut.mean(axis=2, keepdims=True)
    values = [
        measure((grey + keep * (astronaut - grey)).round().astype(np.uint8)).saturation.value
        for keep in (1.0, 0.6, 0.3, 0.0)
    ]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))
    assert values[-1] < 0.02


# === Sharpness and noise ===


def test_blur_lowers_sharpness_monotonically(astronaut):
    values = [measure(astronaut).sharpness.value] + [
        measure(cv2.GaussianBlur(astronaut, (0, 0), sigma)).sharpness.value
        for sigma in (0.8, 1.5, 3.0)
    ]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))
    blurred = measure(cv2.GaussianBlur(astronaut, (0, 0), 3.0))
    assert blurred.sharpness.hint in {"blurry", "slightly soft"}
    assert measure(astronaut).sharpness.hint == "sharp"


def test_sharpness_barely_depends_on_resolution(astronaut):
    sharp = measure(astronaut).sharpness.value
    upscaled = measure(cv2.resize(astronaut, (1024, 1024), interpolation=cv2.INTER_CUBIC))
    blurred = measure(cv2.GaussianBlur(astronaut, (0, 0), 1.0))
    assert upscaled.sharpness.value > blurred.sharpness.value
    # Measured at native size, the 2x copy's Laplacian variance is about a tenth of the
    # original's; on the fixed-size copy only the interpolation's own softening remains.
    assert 0.5 < upscaled.sharpness.value / sharp < 2.0


def test_sharpness_is_judged_at_a_fixed_display_size(astronaut):
    # A 256 px thumbnail shown as large as the 512 px original looks softer, and reads so;
    # measured at its own size its Laplacian variance would be about twice the original's.
    thumbnail = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    assert measure(thumbnail).sharpness.value < 0.5 * measure(astronaut).sharpness.value


def test_noise_estimate_tracks_added_gaussian_noise():
    chelsea = photo("chelsea").astype(np.float64)
    rng = np.random.default_rng(0)
    estimates = []
    for sigma in (5, 10, 20):
        noisy = np.clip(chelsea + rng.normal(0, sigma, chelsea.shape), 0, 255).astype(np.uint8)
        estimates.append(measure(noisy).noise.value)
    clean = measure(photo("chelsea")).noise.value
    assert clean < estimates[0] < estimates[1] < estimates[2]
    # Luma averages R, G and B whose noise is independent, which shrinks sigma by
    # sqrt(0.2126^2 + 0.7152^2 + 0.0722^2) ~ 0.75; the estimate should be near that.
    luma_factor = math.sqrt(0.2126**2 + 0.7152**2 + 0.0722**2)
    for sigma, estimate in zip((5, 10, 20), estimates, strict=True):
        assert estimate == pytest.approx(sigma * luma_factor, rel=0.3)


# === Composition ===


def square_on_noise(centre_x: float, centre_y: float, size=(300, 450)) -> np.ndarray:
    height, width = size
    rng = np.random.default_rng(2)
    grey = rng.normal(30, 6, size)
    side = 40
    top, left = round(centre_y * height - side / 2), round(centre_x * width - side / 2)
    grey[top : top + side, left : left + side] = 230
    return np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def test_square_on_a_thirds_point_beats_the_same_square_dead_centre():
    on_thirds = measure(square_on_noise(2 / 3, 1 / 3))
    centred = measure(square_on_noise(0.5, 0.5))
    assert on_thirds.thirds.score > centred.thirds.score
    assert on_thirds.thirds.value < 0.03
    assert on_thirds.thirds.hint == "subject near a thirds point"
    assert centred.thirds.hint == "subject dead centre"
    assert on_thirds.subject == pytest.approx((2 / 3, 1 / 3), abs=0.05)
    assert centred.subject == pytest.approx((0.5, 0.5), abs=0.05)


def test_mirrored_image_is_symmetric_and_noise_is_not(astronaut):
    left = astronaut[:, :256]
    mirrored = np.concatenate([left, left[:, ::-1]], axis=1)
    noise = np.random.default_rng(3).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    assert measure(mirrored).symmetry.value > 0.95
    assert measure(mirrored).symmetry.hint == "strongly symmetric"
    assert measure(noise).symmetry.value < 0.2
    assert measure(astronaut).symmetry.value < 0.5


@pytest.mark.parametrize("tilt", [5.0, -5.0])
def test_tilted_horizon_reads_its_angle_and_direction(tilt):
    result = measure(horizon(tilt))
    assert result.horizon_tilt.value == pytest.approx(tilt, abs=0.7)
    direction = "clockwise" if tilt > 0 else "anticlockwise"
    assert result.horizon_tilt.hint.startswith("strongly tilted horizon (")
    # "° clockwise)" is not a suffix of "° anticlockwise)", so this pins the direction.
    assert result.horizon_tilt.hint.endswith(f"° {direction})")


def test_a_long_diagonal_does_not_drag_the_horizon():
    image = horizon(3.0)
    # A bright 35-degree stripe, longer than the horizon itself (a roof edge, a railing).
    cv2.line(image, (0, 20), (399, 20 + round(399 * math.tan(math.radians(35)))), (255,) * 3, 6)
    assert measure(image).horizon_tilt.value == pytest.approx(3.0, abs=0.7)


def test_rotating_a_level_horizon_anticlockwise_reads_as_anticlockwise():
    # skimage/OpenCV rotate positive angles anticlockwise as seen on screen.
    level = horizon(0.0, size=(400, 400))
    turned = cv2.warpAffine(
        level, cv2.getRotationMatrix2D((200, 200), 4.0, 1.0), (400, 400),
        borderMode=cv2.BORDER_REFLECT,
    )
    assert measure(turned).horizon_tilt.value == pytest.approx(-4.0, abs=0.7)


def test_level_horizon_reads_level():
    result = measure(horizon(0.0))
    assert result.horizon_tilt.value == pytest.approx(0.0, abs=0.5)
    assert result.horizon_tilt.hint == "level horizon"
    assert result.horizon_tilt.score > 0.9


def test_pure_noise_has_no_horizon():
    noise = np.random.default_rng(4).normal(128, 40, (300, 400))
    image = np.repeat(np.clip(noise, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    assert measure(image).horizon_tilt.value is None
