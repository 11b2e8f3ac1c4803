"""Full-reference image quality metrics: the quality CNN's training targets.

The rating research's quality stage (Su et al.'s multi-task FR-IQA pre-training, as described in
``../shared/seeds/004``) scores each distorted copy of a pristine photo against its original
with several full-reference metrics at once, and trains one network to predict them all without
the reference. These are the metrics, each mapped to [0, 1] with 1 meaning pristine
(``fr_targets``): SSIM (Wang et al. 2004), MS-SSIM (Wang, Simoncelli and Bovik 2003), GMSD (Xue
et al. 2014) and FSIMc's chromatic similarity (Zhang et al. 2011).

Only the training (``models.aesthetic.train_quality``) and its tests use them; no judgement does.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["GMSD_MAX", "TARGETS", "chroma_similarity", "fr_targets", "gmsd", "ms_ssim", "ssim"]

TARGETS = ("ssim", "ms_ssim", "gmsd", "chroma")
"""The targets, in ``fr_targets``' order (and the quality model's outputs); each is in [0, 1]
with 1 = indistinguishable from the pristine reference. SSIM, MS-SSIM and GMSD are the metrics
the brief names; they are all but blind to a colour cast (a white-balance error moves SSIM's
luminance term by ~2%, GMSD not at all), so a fourth target, FSIMc's chromatic similarity, gives
the network a reason to see colour. The research's multi-task stage likewise mixed in
colour-aware metrics (FSIMc, VSI, MDSI)."""

GMSD_MAX = 0.35
"""GMSD values at or beyond this map to a target of 0. GMSD of 8-bit photos lies in [0, ~0.35]
for the distortions of TID2013 and LIVE (Xue et al. 2014, Fig. 5), and it is what the heaviest
levels here reach."""

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
