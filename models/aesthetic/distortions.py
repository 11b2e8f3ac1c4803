"""Synthetic distortions: nine kinds of photo defect, each at five levels.

KADIS-700k (Lin et al. 2019), on which the rating research pre-trained its quality network,
distorts pristine photos this way; so does this project, in three places:

- the rating's calibration set (`models.aesthetic.calibration`): three package photos and
  their copies spoiled at a mild (2) and a heavy (4) level, so that the zero-shot content
  score can be centred and the attribute surrogate fitted on good and bad photos alike;
- the quality CNN's training data (`models.aesthetic.train_quality`);
- the whole-photo quality evaluation (`models.aesthetic.evaluate_quality`).

Every distortion is a pure function of the photo, the level and a random generator (for a
direction: a motion angle, a cast's hue, noise); nothing here samples a data set or scores
one (the full-reference targets are `models.aesthetic.fr_metrics`).
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from scipy import ndimage

__all__ = ["DISTORTIONS", "LEVELS", "distort", "jpeg_at"]

LEVELS = 5
"""Severity levels per distortion, 1 (mild) to 5 (heavy)."""

# Every distortion maps a uint8 (H, W, 3) crop, a level in 1..LEVELS and a random generator (for
# a direction: a motion angle, a cast's hue, noise) to a uint8 crop of the same shape. Levels
# are spaced so that each step is visible: the evaluation asks for a monotonic response.

_BLUR_SIGMA = (0.8, 1.3, 2.0, 3.0, 4.5)
_MOTION_LENGTH = (4, 7, 11, 15, 21)
_NOISE_SIGMA = (5.0, 10.0, 16.0, 24.0, 36.0)
_JPEG_QUALITY = (45, 28, 16, 9, 4)
_UNDER_STOPS = (0.7, 1.2, 1.8, 2.5, 3.3)  # exposure value below the original, in stops
_OVER_STOPS = (0.5, 0.9, 1.4, 2.0, 2.7)
_CONTRAST = (0.7, 0.52, 0.37, 0.25, 0.15)  # kept fraction of the deviation from the mean
_CAST = (0.12, 0.22, 0.34, 0.48, 0.65)  # log white-balance gain along a random hue direction
_DOWNSCALE = (1.6, 2.2, 3.0, 4.2, 6.0)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _srgb_to_linear(x: np.ndarray) -> np.ndarray:
    # Exposure acts on light, not on gamma-encoded values: a camera one stop under records half
    # the photons. The 2.2 power is the usual approximation of the sRGB curve.
    return (x / 255.0) ** 2.2


def _linear_to_srgb(x: np.ndarray) -> np.ndarray:
    return 255.0 * np.clip(x, 0.0, 1.0) ** (1 / 2.2)


def _gaussian_blur(image, level, rng):
    sigma = _BLUR_SIGMA[level - 1]
    return _to_uint8(ndimage.gaussian_filter(image.astype(np.float32), (sigma, sigma, 0),
                                             mode="reflect"))


def _motion_kernel(length: int, angle: float) -> np.ndarray:
    """A normalised line of ``length`` pixels at ``angle`` radians (a linear camera shake)."""
    from skimage.draw import line

    size = length if length % 2 else length + 1
    centre = size // 2
    dx, dy = np.cos(angle) * (length - 1) / 2, np.sin(angle) * (length - 1) / 2
    kernel = np.zeros((size, size), np.float32)
    rows, cols = line(int(round(centre - dy)), int(round(centre - dx)),
                      int(round(centre + dy)), int(round(centre + dx)))
    kernel[rows, cols] = 1.0
    return kernel / kernel.sum()


def _motion_blur(image, level, rng):
    kernel = _motion_kernel(_MOTION_LENGTH[level - 1], rng.uniform(0, np.pi))
    x = image.astype(np.float32)
    out = np.stack([ndimage.convolve(x[..., c], kernel, mode="reflect") for c in range(3)], -1)
    return _to_uint8(out)


def _gaussian_noise(image, level, rng):
    noise = rng.normal(0.0, _NOISE_SIGMA[level - 1], image.shape)
    return _to_uint8(image + noise)


def jpeg_at(image: np.ndarray, quality: int) -> np.ndarray:
    """The photo saved as a JPEG at `quality` (Pillow's 1-95 scale, its default 4:2:0 chroma
    subsampling) and decoded again, at its own size: uint8 (H, W, 3)."""
    from PIL import Image

    buffer = io.BytesIO()  # in memory: the training set never touches the disk
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(
        buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


def _jpeg(image, level, rng):
    return jpeg_at(image, _JPEG_QUALITY[level - 1])


def _exposure(image, stops):
    return _to_uint8(_linear_to_srgb(_srgb_to_linear(image.astype(np.float64)) * 2.0 ** stops))


def _under_exposure(image, level, rng):
    return _exposure(image, -_UNDER_STOPS[level - 1])


def _over_exposure(image, level, rng):
    return _exposure(image, _OVER_STOPS[level - 1])


def _low_contrast(image, level, rng):
    x = image.astype(np.float32)
    mean = x.mean()
    return _to_uint8(mean + (x - mean) * _CONTRAST[level - 1])


def _colour_cast(image, level, rng):
    # A wrong white balance multiplies each channel by its own gain. The log gains lie in the
    # plane where they sum to zero (no overall brightness change), along a random hue direction,
    # so warm, cool, green and magenta casts are all seen.
    angle = rng.uniform(0, 2 * np.pi)
    basis = np.array([[1, -1, 0], [1, 1, -2]], np.float64)
    basis /= np.linalg.norm(basis, axis=1, keepdims=True)
    log_gain = _CAST[level - 1] * (np.cos(angle) * basis[0] + np.sin(angle) * basis[1])
    linear = _srgb_to_linear(image.astype(np.float64)) * np.exp(log_gain)
    return _to_uint8(_linear_to_srgb(linear))


def _downscale_upscale(image, level, rng):
    from PIL import Image

    h, w = image.shape[:2]
    factor = _DOWNSCALE[level - 1]
    small = Image.fromarray(image).resize((max(1, round(w / factor)), max(1, round(h / factor))),
                                          Image.Resampling.BILINEAR)
    return np.asarray(small.resize((w, h), Image.Resampling.BICUBIC))


DISTORTIONS: dict[str, Callable[[np.ndarray, int, np.random.Generator], np.ndarray]] = {
    "gaussian_blur": _gaussian_blur,
    "motion_blur": _motion_blur,
    "gaussian_noise": _gaussian_noise,
    "jpeg": _jpeg,
    "under_exposure": _under_exposure,
    "over_exposure": _over_exposure,
    "low_contrast": _low_contrast,
    "colour_cast": _colour_cast,
    "downscale_upscale": _downscale_upscale,
}
"""Distortion name -> fn(image uint8 HxWx3, level 1..LEVELS, rng) -> uint8 HxWx3."""


def distort(image: np.ndarray, name: str, level: int,
            rng: np.random.Generator | None = None) -> np.ndarray:
    """Apply one synthetic distortion, as KADIS-700k does to pristine photos (Lin et al. 2019).

    Args:
        image: uint8 (H, W, 3).
        name: a key of ``DISTORTIONS``.
        level: 0 (returns a copy) or 1..LEVELS, mild to heavy.
        rng: randomness for noise, motion direction and cast hue (default: seeded 0).

    Returns:
        uint8 (H, W, 3).
    """
    if name not in DISTORTIONS:
        raise KeyError(f"unknown distortion {name!r}; known: {', '.join(DISTORTIONS)}")
    if not 0 <= level <= LEVELS:
        raise ValueError(f"level {level} is outside 0..{LEVELS}")
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if level == 0:
        return image.copy()
    return DISTORTIONS[name](image, level, rng or np.random.default_rng(0))
