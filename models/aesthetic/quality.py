"""Technical image quality: synthetic distortions, full-reference targets and a small CNN.

The rating research's quality stage (Su et al.'s multi-task FR-IQA pre-training, as described in
``../shared/seeds/004``) distorts pristine photos, scores each distorted copy against its
original with several full-reference IQA metrics at once, and trains one CNN body with one head
per metric. Objective FR-IQA scores correlate well with human opinion, so a network that predicts
them *without* the reference learns a no-reference quality measure. This module is that recipe
at the scale of a 2-core CPU and the pristine photos that installed packages ship:

- nine distortions, each at five levels (``DISTORTIONS``, ``distort``);
- four full-reference targets in [0, 1], 1 meaning pristine: SSIM (Wang et al. 2004), MS-SSIM
  (Wang, Simoncelli and Bovik 2003), GMSD (Xue et al. 2014) and FSIMc's chromatic similarity
  (Zhang et al. 2011) (``fr_targets``);
- a small fully convolutional Keras network whose last convolution, ``quality_features``, feeds
  global average pooling and a four-unit sigmoid head (``build_model``), so Grad-CAM works;
- ``quality_score(image)``: the mean predicted target over five crops of a resized copy.

The model is trained by ``python -m models.train quality`` and loads, lazily and once,
from ``weights.resolve("quality")`` with ``safe_mode=True``. It no longer scores the Aesthetic
tab's technical quality: on whole photos it never saw, it ranks noise and JPEG levels poorly,
and BRISQUE (``models.aesthetic.brisque``) ranks them well (``python -m models.evaluate quality
--whole-photos``). It stays as a candidate in that evaluation; the distortions here are used by
the evaluation and by the rating's calibration set.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = [
    "CROP", "DISTORTIONS", "LEVELS", "MODEL_FILE", "SCORE_SIDE", "TARGETS", "WEIGHTS_NAME",
    "build_model", "chroma_similarity", "crops_for_scoring", "distort", "fr_targets", "get_model",
    "gmsd", "ms_ssim", "predict_targets", "preprocess", "quality_score", "reset_default",
    "resize_short_side", "scores_of", "ssim",
]

WEIGHTS_NAME = "quality"
"""Artifact name in ``weights/manifest.toml``."""

MODEL_FILE = "quality.keras"

TARGETS = ("ssim", "ms_ssim", "gmsd", "chroma")
"""The model's outputs, in order; each is in [0, 1] with 1 = indistinguishable from the pristine
reference. SSIM, MS-SSIM and GMSD are the metrics the brief names; they are all but blind to a
colour cast (a white-balance error moves SSIM's luminance term by ~2%, GMSD not at all), so a
fourth target, FSIMc's chromatic similarity, gives the network a reason to see colour. The
research's multi-task stage likewise mixed in colour-aware metrics (FSIMc, VSI, MDSI)."""

CROP = 128
"""Side of the square crops the network trains on and scores."""

SCORE_SIDE = 256
"""Photos are resized so their shorter side is this long before cropping, in training and in
scoring alike, so the network always sees defects at the same scale."""

LEVELS = 5
"""Severity levels per distortion, 1 (mild) to 5 (heavy)."""

GMSD_MAX = 0.35
"""GMSD values at or beyond this map to a target of 0. GMSD of 8-bit photos lies in [0, ~0.35]
for the distortions of TID2013 and LIVE (Xue et al. 2014, Fig. 5), and it is what the heaviest
levels here reach."""

# === Distortions ===
#
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


def _jpeg(image, level, rng):
    from PIL import Image

    buffer = io.BytesIO()  # in memory: the training set never touches the disk
    Image.fromarray(image).save(buffer, format="JPEG", quality=_JPEG_QUALITY[level - 1])
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


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


# === Full-reference metrics ===

_SSIM_SIGMA = 1.5  # Wang et al. 2004: 11 x 11 circular-symmetric Gaussian, sigma 1.5
_K1, _K2 = 0.01, 0.03
_MS_SSIM_WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])  # Wang et al. 2003, Sec. 3
_GMSD_C = 170.0  # Xue et al. 2014, for 8-bit images


def _ssim_terms(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean SSIM and mean contrast-structure term ``cs`` of two float64 (H, W) images in 0..255.

    Gaussian-weighted local statistics with the population covariance, as in Wang et al. 2004
    and ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=255)``, which this matches. ``cs`` is needed
    separately for MS-SSIM, which skimage does not expose.
    """
    c1, c2 = (_K1 * 255) ** 2, (_K2 * 255) ** 2

    def blur(a):  # truncate=3.5 gives skimage's 11-tap window for sigma 1.5
        return ndimage.gaussian_filter(a, _SSIM_SIGMA, mode="reflect", truncate=3.5)

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    cs = (2 * cxy + c2) / (vx + vy + c2)
    luminance = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    # skimage averages over the image minus a (win_size - 1) / 2 border; so do we, to match.
    pad = 5 if min(x.shape) > 11 else 0
    inner = (slice(pad, x.shape[0] - pad or None), slice(pad, x.shape[1] - pad or None))
    return float((luminance * cs)[inner].mean()), float(cs[inner].mean())


def _channels(image: np.ndarray) -> list[np.ndarray]:
    image = np.asarray(image, np.float64)
    return [image] if image.ndim == 2 else [image[..., c] for c in range(image.shape[-1])]


def ssim(reference: np.ndarray, distorted: np.ndarray) -> float:
    """SSIM (Wang, Bovik, Sheikh and Simoncelli 2004), averaged over the RGB channels.

    Per channel rather than on luminance, as skimage's ``channel_axis`` does, so that a colour
    cast, which barely changes luminance, still lowers the score.

    Args:
        reference: uint8 (H, W, 3) or (H, W).
        distorted: same shape.

    Returns:
        SSIM, at most 1 (identical images).
    """
    pairs = zip(_channels(reference), _channels(distorted), strict=True)
    return float(np.mean([_ssim_terms(r, d)[0] for r, d in pairs]))


def _halve(x: np.ndarray) -> np.ndarray:
    # Wang et al. 2003's reference code: a 2 x 2 average filter, then every other pixel.
    h, w = (x.shape[0] // 2) * 2, (x.shape[1] // 2) * 2
    x = x[:h, :w]
    return 0.25 * (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2])


def ms_ssim(reference: np.ndarray, distorted: np.ndarray) -> float:
    """Multi-scale SSIM (Wang, Simoncelli and Bovik 2003), averaged over the RGB channels.

    Five scales of a dyadic low-pass pyramid: the contrast-structure term at every scale and the
    luminance term at the coarsest, combined as a weighted geometric mean with the paper's
    weights. Negative ``cs`` values (anti-correlated structure) are clipped to 0 so the powers
    stay real, as most implementations do.

    Args:
        reference: uint8 (H, W, 3) or (H, W), at least 16 pixels a side (128 for 5 full scales;
            smaller inputs use fewer scales, renormalising the weights).
        distorted: same shape.

    Returns:
        MS-SSIM in [0, 1]; 1 for identical images.
    """
    scores = []
    for r, d in zip(_channels(reference), _channels(distorted), strict=True):
        values = []
        for scale in range(len(_MS_SSIM_WEIGHTS)):
            full, cs = _ssim_terms(r, d)
            last = scale == len(_MS_SSIM_WEIGHTS) - 1 or min(r.shape) < 16
            values.append(max(full if last else cs, 0.0))
            if last:
                break
            r, d = _halve(r), _halve(d)
        weights = _MS_SSIM_WEIGHTS[:len(values)]
        weights = weights / weights.sum()
        scores.append(float(np.prod(np.power(values, weights))))
    return float(np.mean(scores))


def _luminance(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, np.float64)
    if image.ndim == 2:
        return image
    return image @ np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, as GMSD's code (rgb2gray)


_PREWITT_X = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], np.float64) / 3.0


def gmsd(reference: np.ndarray, distorted: np.ndarray) -> float:
    """Gradient Magnitude Similarity Deviation (Xue, Zhang, Mou and Bovik 2014).

    Both images go to luminance, are averaged over 2 x 2 blocks and halved (the paper's
    down-sampling), and their Prewitt gradient magnitudes ``m_r`` and ``m_d`` give the local
    similarity ``GMS = (2 m_r m_d + c) / (m_r^2 + m_d^2 + c)`` with c = 170. GMSD is the standard
    deviation of the GMS map: a distortion that degrades some regions more than others scores
    worse than a uniform one.

    Args:
        reference: uint8 (H, W, 3) or (H, W).
        distorted: same shape.

    Returns:
        GMSD >= 0; 0 for identical images, larger is worse.
    """
    maps = []
    for image in (reference, distorted):
        y = _halve(_luminance(image))
        gx = ndimage.correlate(y, _PREWITT_X, mode="nearest")
        gy = ndimage.correlate(y, _PREWITT_X.T, mode="nearest")
        maps.append(np.hypot(gx, gy))
    mr, md = maps
    gms = (2 * mr * md + _GMSD_C) / (mr * mr + md * md + _GMSD_C)
    return float(gms.std())


_YIQ_IQ = np.array([[0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_CHROMA_T = 200.0  # FSIMc's T3 = T4 for 8-bit images (Zhang et al. 2011)


def chroma_similarity(reference: np.ndarray, distorted: np.ndarray) -> float:
    """FSIMc's chromatic similarity (Zhang, Zhang, Mou and Zhang 2011), averaged over pixels.

    Both images go to the I and Q chrominance channels of YIQ, are 2 x 2 averaged and halved
    (FSIM's down-sampling for small viewing distances), and each pixel scores
    ``S_I * S_Q`` with ``S = (2 a b + T) / (a^2 + b^2 + T)``, T = 200. FSIMc weights this by
    phase congruency; a plain mean is used here, since the structural part is already covered
    by SSIM, MS-SSIM and GMSD.

    Args:
        reference: uint8 (H, W, 3).
        distorted: same shape.

    Returns:
        A similarity in (0, 1]; 1 for identical colours.
    """
    def iq(image):
        x = np.asarray(image, np.float64)
        if x.ndim == 2:
            x = np.repeat(x[..., None], 3, axis=-1)
        x = x @ _YIQ_IQ.T
        return _halve(x[..., 0]), _halve(x[..., 1])

    (i1, q1), (i2, q2) = iq(reference), iq(distorted)
    s_i = (2 * i1 * i2 + _CHROMA_T) / (i1 * i1 + i2 * i2 + _CHROMA_T)
    s_q = (2 * q1 * q2 + _CHROMA_T) / (q1 * q1 + q2 * q2 + _CHROMA_T)
    return float((s_i * s_q).mean())


def fr_targets(reference: np.ndarray, distorted: np.ndarray) -> np.ndarray:
    """The training targets of a distorted image, each in [0, 1] with 1 = pristine.

    SSIM is clipped to [0, 1]; MS-SSIM already lies there; GMSD maps to
    ``1 - min(gmsd / GMSD_MAX, 1)``; the chromatic similarity is clipped to [0, 1].

    Returns:
        float32 (4,), in the order of ``TARGETS``.
    """
    return np.array([
        np.clip(ssim(reference, distorted), 0.0, 1.0),
        ms_ssim(reference, distorted),
        1.0 - min(gmsd(reference, distorted) / GMSD_MAX, 1.0),
        np.clip(chroma_similarity(reference, distorted), 0.0, 1.0),
    ], np.float32)


# === Network ===


def build_model(width: int = 16, crop: int | None = None):
    """The quality CNN: five conv blocks, GAP and a sigmoid head, one unit per target.

    Small, after the research's shape (a CNN body, global average pooling, one output per
    FR-IQA metric) but without its ImageNet InceptionResNetV2 body, which neither trains nor
    ships in this project's budget. The input is 0..255 float RGB of any size (rescaled inside
    by a ``Rescaling`` layer, so the saved file needs no Lambda and loads with
    ``safe_mode=True``). The first convolution keeps full resolution: noise, JPEG blocking and
    fine blur live in the highest frequencies, which a strided first layer would alias away.

    Args:
        width: channels of the first block; later blocks use 1x, 2x, 2x, 3x, 4x.
        crop: a fixed input side, or None for any size (the shipped model).

    Returns:
        An uncompiled ``keras.Model`` named "quality" whose last convolution is
        ``quality_features``.
    """
    import keras
    from keras import layers

    inputs = keras.Input((crop, crop, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="rescale")(inputs)
    channels = (width, width * 2, width * 2, width * 3)
    for i, c in enumerate(channels, start=1):
        x = layers.Conv2D(c, 3, padding="same", use_bias=False, name=f"block{i}_conv")(x)
        x = layers.BatchNormalization(name=f"block{i}_bn")(x)
        x = layers.ReLU(name=f"block{i}_relu")(x)
        x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
    x = layers.Conv2D(width * 4, 3, padding="same", activation="relu",
                      name="quality_features")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(len(TARGETS), activation="sigmoid", name="targets")(x)
    return keras.Model(inputs, outputs, name="quality")


# === Scoring ===


def resize_short_side(image: np.ndarray, side: int = SCORE_SIDE) -> np.ndarray:
    """Resize (Pillow, area-aware) so the shorter side is ``side`` pixels; uint8 in and out."""
    from PIL import Image

    h, w = image.shape[:2]
    scale = side / min(h, w)
    size = (max(side, round(w * scale)), max(side, round(h * scale)))
    if size == (w, h):
        return np.asarray(image, np.uint8)
    return np.asarray(Image.fromarray(np.asarray(image, np.uint8)).resize(
        size, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC))


def crops_for_scoring(image: np.ndarray, crop: int = CROP) -> np.ndarray:
    """The centre and four corner crops of an already resized photo: uint8 (5, crop, crop, 3)."""
    h, w = image.shape[:2]
    corners = [(0, 0), (0, w - crop), (h - crop, 0), (h - crop, w - crop),
               ((h - crop) // 2, (w - crop) // 2)]
    return np.stack([image[top:top + crop, left:left + crop] for top, left in corners])


def preprocess(images):
    """KerasModel preprocess for Grad-CAM: a uint8 tf batch -> float32, shorter side 256.

    The model is fully convolutional, so it can see the whole photo at the scale it was
    trained at (``SCORE_SIDE``) and Grad-CAM covers all of it. Runs inside a tf.function.
    """
    import tensorflow as tf

    shape = tf.cast(tf.shape(images)[1:3], tf.float32)
    scale = SCORE_SIDE / tf.reduce_min(shape)
    size = tf.cast(tf.round(shape * scale), tf.int32)
    return tf.image.resize(tf.cast(images, tf.float32), size, antialias=True)


@dataclass(frozen=True)
class _Loaded:
    model: object
    predict: Callable


_default: _Loaded | None = None
_default_lock = threading.Lock()


def get_model():
    """The shipped quality model, loaded once (thread-safe) from ``weights.resolve("quality")``.

    Raises:
        weights.WeightsUnavailable: the model file is missing or fails its sha256 check.
    """
    return _get().model


def _get() -> _Loaded:
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                import tensorflow as tf

                from weights import load_keras

                model = load_keras(WEIGHTS_NAME, MODEL_FILE)
                # One traced function for the fixed (N, CROP, CROP, 3) batch: model.predict
                # builds a data pipeline per call, far slower for five crops.
                predict = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
                _default = _Loaded(model, predict)
    return _default


def reset_default() -> None:
    """Forget the loaded model (tests point INSTAVIS_WEIGHTS_DIR elsewhere and reload)."""
    global _default
    with _default_lock:
        _default = None


def predict_targets(crops: np.ndarray, model=None) -> np.ndarray:
    """Predicted targets (N, 4) for uint8 crops (N, h, w, 3), with the given or shipped model."""
    if model is None:
        return np.asarray(_get().predict(np.asarray(crops, np.float32)))
    return np.asarray(model(np.asarray(crops, np.float32), training=False))


def quality_score(image, model=None) -> float:
    """Technical quality of a photo in [0, 1], 1 = no visible distortion.

    The photo goes through ``load_image``, is resized so its shorter side is ``SCORE_SIDE``,
    and the network scores the centre and four corners (``CROP`` pixels a side), the usual
    multi-crop testing of no-reference IQA networks (e.g. Kang et al. 2014 average patch scores).
    The score is the mean over crops and over the predicted FR-IQA targets.

    Args:
        image: anything ``models.images.load_image`` accepts.
        model: a quality Keras model; default the shipped one.

    Returns:
        A float in [0, 1].
    """
    from models.images import load_image

    photo = resize_short_side(load_image(image))
    return float(predict_targets(crops_for_scoring(photo), model).mean())


def scores_of(crops: Sequence[np.ndarray] | np.ndarray, model=None,
              batch_size: int = 64) -> np.ndarray:
    """Mean predicted target of each crop, batched: float (N,)."""
    crops = np.asarray(crops)
    out = [predict_targets(crops[i:i + batch_size], model).mean(axis=1)
           for i in range(0, len(crops), batch_size)]
    return np.concatenate(out) if out else np.zeros(0)
