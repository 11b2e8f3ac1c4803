"""Photo attributes that need no weights: the plain-words half of the Aesthetic tab.

`measure(image)` reads nine things a photographer can act on (exposure, contrast, colourfulness,
saturation, sharpness, noise, rule-of-thirds placement of the subject, symmetry and horizon tilt)
and returns each as a number, a 0..1 score and a one-line hint such as "slightly underexposed".
`PhotoAttributes.vector()` gives the numbers in the fixed order of `ATTRIBUTE_NAMES`, so a SHAP
explanation over attributes can say how far each one moves the aesthetic score.

Everything runs on a copy whose longest side is at most `WORK_SIDE` pixels, which keeps the whole
measurement to a few tens of milliseconds on two cores; only the noise estimate looks at the
photo at the size `load_image` returned, because downscaling averages noise away. Only numpy and
models.images are imported at import time; OpenCV and SciPy load on first use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.images import load_image

__all__ = ["ATTRIBUTE_NAMES", "Attribute", "PhotoAttributes", "measure"]

ATTRIBUTE_NAMES = (
    "exposure",
    "contrast",
    "colourfulness",
    "saturation",
    "sharpness",
    "noise",
    "thirds",
    "symmetry",
    "horizon tilt",
)
"""Order of the attributes in `PhotoAttributes.vector()` and `as_rows()`."""

# === Working sizes ===

WORK_SIDE = 512  # longest side of the copy most attributes are measured on
SHARPNESS_SIDE = 512  # the sharpness copy is resized to exactly this, up or down
SYMMETRY_SIDE = 128  # small enough that a few pixels of misalignment do not count as asymmetry
SALIENCY_SIDE = 64  # Hou & Zhang compute the spectral residual at 64 px

# === Exposure ===

CLIP_HIGH = 250  # luminance (0..255) at or above which a pixel counts as a clipped highlight
CLIP_LOW = 5  # ... at or below which it counts as a crushed shadow
CLIPPED_FRACTION = 0.05  # share of clipped pixels worth mentioning in the hint

# Hasler & Süsstrunk (2003), Table 2: colourfulness M at which observers chose each category.
COLOURFULNESS_SCALE = (
    (0.0, "not colourful"),
    (15.0, "slightly colourful"),
    (33.0, "moderately colourful"),
    (45.0, "averagely colourful"),
    (59.0, "quite colourful"),
    (82.0, "highly colourful"),
    (109.0, "extremely colourful"),
)

# === Thirds ===

THIRDS_CLOSE = 1 / 12
"""Distance to the nearest thirds point (a share of the diagonal) under which the subject reads
as on the thirds grid: half the way to dead centre (1/6), a thirds score above 0.5."""

# === Horizon ===

HORIZON_MAX_ANGLE = 20.0  # degrees from horizontal that a line may be and still count
HORIZON_MIN_LENGTH = 0.25  # shortest line that counts, as a fraction of the image width
LEVEL_TILT = 1.0  # degrees under which a horizon reads as level
STRONG_TILT = 3.0  # degrees from which a tilt is called strong


@dataclass(frozen=True)
class Attribute:
    """One measured property of a photo.

    Attributes:
        name: one of `ATTRIBUTE_NAMES`.
        value: the measurement in `unit`, or None when it cannot be measured (a photo with no
            clear horizon has no tilt).
        unit: what `value` counts, e.g. "mean luminance (0-1)" or "degrees clockwise".
        score: in [0, 1]. For qualities with a good end (exposure, sharpness, noise, thirds,
            horizon) 1 is best; for tastes (colourfulness, saturation, symmetry) it is the
            normalised position on the attribute's scale. None when `value` is None.
        hint: one short line in plain words, e.g. "slightly underexposed".
    """

    name: str
    value: float | None
    unit: str
    score: float | None
    hint: str


@dataclass(frozen=True)
class PhotoAttributes:
    """All attributes of one photo, plus the details behind two of them.

    Attributes:
        exposure, contrast, colourfulness, saturation, sharpness, noise, thirds, symmetry,
        horizon_tilt: one `Attribute` each.
        clipped_highlights: share of pixels with luminance >= `CLIP_HIGH`.
        clipped_shadows: share of pixels with luminance <= `CLIP_LOW`.
        subject: (x, y) of the salient subject's centre as fractions of width and height
            (0, 0 is the top-left corner).
    """

    exposure: Attribute
    contrast: Attribute
    colourfulness: Attribute
    saturation: Attribute
    sharpness: Attribute
    noise: Attribute
    thirds: Attribute
    symmetry: Attribute
    horizon_tilt: Attribute
    clipped_highlights: float
    clipped_shadows: float
    subject: tuple[float, float]

    def attributes(self) -> tuple[Attribute, ...]:
        """Return the attributes in `ATTRIBUTE_NAMES` order."""
        return (
            self.exposure, self.contrast, self.colourfulness, self.saturation, self.sharpness,
            self.noise, self.thirds, self.symmetry, self.horizon_tilt,
        )

    def as_rows(self) -> list[list[str]]:
        """Return one row per attribute for a table: name, value, unit, score, hint."""
        return [
            [
                attribute.name,
                "n/a" if attribute.value is None else f"{attribute.value:.3g}",
                attribute.unit,
                "n/a" if attribute.score is None else f"{attribute.score:.2f}",
                attribute.hint,
            ]
            for attribute in self.attributes()
        ]

    def vector(self) -> np.ndarray:
        """Return the values as float64 in `ATTRIBUTE_NAMES` order.

        A missing horizon reads as 0 degrees: with nothing to level, the photo is as good as
        level, and an explainer over attributes needs a number, not NaN.
        """
        return np.array(
            [0.0 if attribute.value is None else attribute.value
             for attribute in self.attributes()],
            dtype=np.float64,
        )


def measure(image) -> PhotoAttributes:
    """Measure every attribute of a photo.

    Args:
        image: anything `models.images.load_image` takes (a uint8 H x W x 3 array is common).

    Returns:
        The photo's `PhotoAttributes`.

    Raises:
        InvalidImage: if `load_image` refuses the upload.
    """
    rgb = load_image(image)
    full_grey = _luminance(rgb)
    work = _shrink(rgb, WORK_SIDE)
    grey = _luminance(work)

    exposure, highlights, shadows = _exposure(grey)
    thirds, subject = _thirds(grey)
    return PhotoAttributes(
        exposure=exposure,
        contrast=_contrast(grey),
        colourfulness=_colourfulness(work),
        saturation=_saturation(work),
        sharpness=_sharpness(grey),
        noise=_noise(full_grey),
        thirds=thirds,
        symmetry=_symmetry(grey),
        horizon_tilt=_horizon_tilt(grey),
        clipped_highlights=highlights,
        clipped_shadows=shadows,
        subject=subject,
    )


# === Helpers ===


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """Return Rec. 709 luma (0..255, float32) of a uint8 RGB image.

    Luma of the gamma-encoded values, not linear luminance: exposure hints are about how bright
    the photo looks, and the encoded values are close to perceived lightness.
    """
    weights = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    return rgb.astype(np.float32) @ weights


def _shrink(image: np.ndarray, side: int) -> np.ndarray:
    """Return `image` with its longest side at most `side` (never enlarged)."""
    height, width = image.shape[:2]
    if max(height, width) <= side:
        return image
    return _resize(image, side)


def _resize(image: np.ndarray, side: int) -> np.ndarray:
    """Return `image` resized so its longest side is exactly `side`, keeping the aspect."""
    import cv2

    height, width = image.shape[:2]
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # INTER_AREA averages when shrinking (no aliasing); it is not meant for enlarging.
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, size, interpolation=interpolation)


def _clip01(value: float) -> float:
    return float(min(1.0, max(0.0, value)))


# === Attributes ===


def _exposure(grey: np.ndarray) -> tuple[Attribute, float, float]:
    """Exposure from mean luma and the shares of clipped highlights and crushed shadows.

    A mid-grey mean (0.5) scores best; every clipped pixel costs twice its share, since detail
    lost to clipping cannot be recovered in editing.
    """
    mean = float(grey.mean()) / 255.0
    highlights = float((grey >= CLIP_HIGH).mean())
    shadows = float((grey <= CLIP_LOW).mean())

    if mean < 0.2:
        hint = "strongly underexposed"
    elif mean < 0.33:
        hint = "slightly underexposed"
    elif mean > 0.8:
        hint = "strongly overexposed"
    elif mean > 0.67:
        hint = "slightly overexposed"
    else:
        hint = "well exposed"
    if highlights >= CLIPPED_FRACTION:
        hint += f", {highlights:.0%} clipped highlights"
    if shadows >= CLIPPED_FRACTION:
        hint += f", {shadows:.0%} crushed shadows"

    score = _clip01(1.0 - abs(mean - 0.5) / 0.5) * _clip01(1.0 - 2.0 * (highlights + shadows))
    attribute = Attribute("exposure", mean, "mean luma (0-1)", score, hint)
    return attribute, highlights, shadows


def _contrast(grey: np.ndarray) -> Attribute:
    """RMS contrast: the standard deviation of luma scaled to [0, 1] (Peli 1990).

    Most well-received photos sit around 0.2-0.3; the maximum, 0.5, is half black, half white.
    """
    rms = float(grey.std()) / 255.0
    if rms < 0.08:
        hint = "very flat, low contrast"
    elif rms < 0.15:
        hint = "low contrast"
    elif rms > 0.33:
        hint = "very high contrast"
    else:
        hint = "good contrast"
    # Rises to 1 at 0.2, stays there to 0.3, then falls again towards harsh black-and-white.
    score = _clip01(rms / 0.2) if rms <= 0.3 else _clip01(1.0 - (rms - 0.3) / 0.2)
    return Attribute("contrast", rms, "RMS contrast (0-0.5)", score, hint)


def _colourfulness(rgb: np.ndarray) -> Attribute:
    """Colourfulness M of Hasler & Süsstrunk (2003), "Measuring colourfulness in natural images".

    With rg = R - G and yb = (R + G) / 2 - B on 0..255 values,
    M = sqrt(sd(rg)^2 + sd(yb)^2) + 0.3 * sqrt(mean(rg)^2 + mean(yb)^2).
    The hint is the paper's category whose anchor value M has reached.
    """
    channels = rgb.astype(np.float32)
    red, green, blue = channels[..., 0], channels[..., 1], channels[..., 2]
    rg = red - green
    yb = 0.5 * (red + green) - blue
    spread = math.hypot(float(rg.std()), float(yb.std()))
    shift = math.hypot(float(rg.mean()), float(yb.mean()))
    colourfulness = spread + 0.3 * shift
    hint = next(
        label for anchor, label in reversed(COLOURFULNESS_SCALE) if colourfulness >= anchor
    )
    top_anchor = COLOURFULNESS_SCALE[-1][0]
    return Attribute(
        "colourfulness", colourfulness, "Hasler-Süsstrunk M", _clip01(colourfulness / top_anchor),
        hint,
    )


def _saturation(rgb: np.ndarray) -> Attribute:
    """Mean HSV saturation, (max - min) / max per pixel, black counting as unsaturated."""
    import cv2

    # OpenCV's 8-bit HSV stores S = 255 * (max - min) / max, and 0 for black, in one fast pass.
    per_pixel = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 1]
    saturation = float(per_pixel.mean()) / 255.0
    if saturation < 0.08:
        hint = "nearly monochrome"
    elif saturation < 0.25:
        hint = "muted colours"
    elif saturation > 0.65:
        hint = "very saturated colours"
    else:
        hint = "natural saturation"
    return Attribute("saturation", saturation, "mean HSV saturation (0-1)", saturation, hint)


def _sharpness(grey: np.ndarray) -> Attribute:
    """Variance of the Laplacian (Pech-Pacheco et al. 2000) on a copy of fixed size.

    Resizing to exactly `SHARPNESS_SIDE`, up or down, judges every photo at the same display
    size, so the number does not depend on upload resolution: the same photo uploaded twice as
    large reads about the same, and a small thumbnail, enlarged to that size, reads as soft as
    it would look. Noise also raises the variance, so read this with the noise attribute.
    """
    import cv2

    fixed = _resize(grey, SHARPNESS_SIDE)
    variance = float(cv2.Laplacian(fixed, cv2.CV_32F).var())
    if variance < 30:
        hint = "blurry"
    elif variance < 100:
        hint = "slightly soft"
    else:
        hint = "sharp"
    # Log scale: 10 (mush) scores 0, 1000 (crisp detail) scores 1.
    score = _clip01((math.log10(max(variance, 1e-6)) - 1.0) / 2.0)
    return Attribute("sharpness", variance, "Laplacian variance", score, hint)


def _noise(grey: np.ndarray) -> Attribute:
    """Noise standard deviation by Immerkær's operator (1996), made robust with a median.

    Immerkær's 3 x 3 mask (the difference of two Laplacians) cancels smooth image structure;
    on Gaussian noise of standard deviation sigma its response has standard deviation 6 sigma.
    Immerkær averages |response|, which texture and edges inflate; the median absolute response
    (Donoho & Johnstone's MAD, sigma = MAD / 0.6745) ignores them as long as they cover less than
    half the photo.
    """
    import cv2

    mask = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
    response = cv2.filter2D(grey, cv2.CV_32F, mask)
    if min(response.shape) > 2:
        # The border rows see mirrored pixels, not the photo's own neighbours.
        response = response[1:-1, 1:-1]
    # Every other row and column: the median of a quarter of a megapixel is just as steady and
    # four times faster than the median of all of it.
    sigma = float(np.median(np.abs(response[::2, ::2]))) / (0.6745 * 6.0)
    if sigma < 2.0:
        hint = "clean, no visible noise"
    elif sigma < 5.0:
        hint = "slight noise"
    elif sigma < 10.0:
        hint = "noticeable noise"
    else:
        hint = "very noisy"
    score = _clip01(1.0 - sigma / 20.0)
    return Attribute("noise", sigma, "noise sigma (0-255)", score, hint)


def _spectral_residual_saliency(grey: np.ndarray) -> np.ndarray:
    """Saliency map by the spectral residual of Hou & Zhang (2007), at `SALIENCY_SIDE` px.

    The log amplitude spectrum of natural images is locally smooth; what sticks out of its local
    average (the residual) is the unexpected, salient part. Keeping the phase and inverting the
    residual gives a map that lights up objects that stand out from their surroundings.
    """
    from scipy import ndimage

    small = _resize(grey, SALIENCY_SIDE).astype(np.float64)
    spectrum = np.fft.fft2(small)
    log_amplitude = np.log(np.abs(spectrum) + 1e-8)
    residual = log_amplitude - ndimage.uniform_filter(log_amplitude, size=3, mode="nearest")
    saliency = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    # The paper smooths with a Gaussian of sigma 8 at 64 px (here scaled to the copy's size).
    return ndimage.gaussian_filter(saliency, sigma=SALIENCY_SIDE / 64 * 2.5)


def _thirds(grey: np.ndarray) -> tuple[Attribute, tuple[float, float]]:
    """Distance from the salient subject to the nearest rule-of-thirds point.

    The subject is the strongest connected region of the spectral-residual map above three
    times its mean (Hou & Zhang's object threshold); its saliency-weighted centroid is the
    subject position. The distance is divided by the diagonal, so it is 0 on a thirds point,
    1/6 dead centre and 1/3 at the furthest corner; the score falls linearly to 0 at 1/6.
    """
    from scipy import ndimage

    saliency = _spectral_residual_saliency(grey)
    regions, count = ndimage.label(saliency > 3.0 * saliency.mean())
    if count == 0:
        # A flat map (e.g. a plain colour) has no standout region: weigh the whole frame.
        weights = saliency
    else:
        mass = ndimage.sum(saliency, regions, index=np.arange(1, count + 1))
        weights = np.where(regions == int(np.argmax(mass)) + 1, saliency, 0.0)
    map_height, map_width = saliency.shape
    rows, cols = np.indices(saliency.shape)
    total = float(weights.sum()) or 1.0
    # +0.5: the centre of a pixel, so the middle of the frame maps to exactly 0.5.
    x = float(((cols + 0.5) * weights).sum() / total / map_width)
    y = float(((rows + 0.5) * weights).sum() / total / map_height)

    height, width = grey.shape
    diagonal = math.hypot(width, height)
    distance = min(
        math.hypot((x - tx) * width, (y - ty) * height)
        for tx in (1 / 3, 2 / 3)
        for ty in (1 / 3, 2 / 3)
    ) / diagonal
    from_centre = math.hypot((x - 0.5) * width, (y - 0.5) * height) / diagonal
    near_line = min(abs(x - 1 / 3), abs(x - 2 / 3), abs(y - 1 / 3), abs(y - 2 / 3)) < 0.05

    # The words follow the distance the score is made of: "on a thirds line" only within
    # THIRDS_CLOSE of a thirds point (a score above 0.5), so a subject at a frame's edge, on
    # the line's far end, is not "on a thirds line" while scoring 0.
    if distance < 0.05:
        hint = "subject near a thirds point"
    elif distance < THIRDS_CLOSE:
        hint = "subject on a thirds line" if near_line else "subject close to a thirds point"
    elif from_centre < 0.05:
        hint = "subject dead centre"
    elif min(x, y, 1 - x, 1 - y) < 0.1:
        hint = "subject close to the edge, far from a thirds point"
    else:
        hint = "subject far from a thirds point"
    score = _clip01(1.0 - distance / (1 / 6))
    attribute = Attribute("thirds", distance, "distance to thirds point / diagonal", score, hint)
    return attribute, (x, y)


def _symmetry(grey: np.ndarray) -> Attribute:
    """Left-right mirror symmetry: correlation of the photo with its mirror image.

    Each row's mean is removed first, because a sky above and ground below is symmetric about
    any vertical axis and would otherwise make every landscape look symmetric. Correlation
    (rather than mean absolute difference) puts random texture at 0 and a true mirror at 1.
    """
    small = _shrink(grey, SYMMETRY_SIDE).astype(np.float64)
    small -= small.mean(axis=1, keepdims=True)
    mirrored = small[:, ::-1]
    energy = float(np.sqrt((small**2).sum() * (mirrored**2).sum()))
    correlation = float((small * mirrored).sum()) / energy if energy > 0 else 1.0
    symmetry = _clip01(correlation)
    if symmetry > 0.8:
        hint = "strongly symmetric"
    elif symmetry > 0.5:
        hint = "fairly symmetric"
    else:
        hint = "asymmetric"
    return Attribute("symmetry", symmetry, "mirror correlation (0-1)", symmetry, hint)


def _horizon_tilt(grey: np.ndarray) -> Attribute:
    """Tilt of the dominant near-horizontal line, in degrees clockwise.

    Canny edges (Canny 1986) feed the probabilistic Hough transform (Matas et al. 2000); lines
    within `HORIZON_MAX_ANGLE` of horizontal and at least `HORIZON_MIN_LENGTH` of the width long
    vote with their length, and the tilt is the length-weighted median of their angles, so one
    stray diagonal cannot drag it.

    Sign: positive means the horizon is turned clockwise as the viewer sees it (its right end
    lower than its left); rotating the photo by the same amount anticlockwise levels it.
    """
    import cv2

    height, width = grey.shape
    # Blurring first keeps Canny from tracing texture and noise as a forest of tiny edges.
    smooth = cv2.GaussianBlur(grey, (0, 0), 2.0).astype(np.uint8)
    edges = cv2.Canny(smooth, 30, 90)
    # Keep only edge pixels whose gradient points within HORIZON_MAX_ANGLE + 5 degrees of
    # vertical: they are the only ones a near-horizontal line can pass through, and dropping the
    # rest spares the Hough transform most of the texture in a busy photo.
    gradient_x = cv2.Sobel(smooth, cv2.CV_32F, 1, 0)
    gradient_y = cv2.Sobel(smooth, cv2.CV_32F, 0, 1)
    slope = math.tan(math.radians(HORIZON_MAX_ANGLE + 5.0))
    edges[np.abs(gradient_x) > slope * np.abs(gradient_y)] = 0
    min_length = HORIZON_MIN_LENGTH * width
    lines = cv2.HoughLinesP(
        edges, rho=1, theta=np.pi / 720, threshold=max(10, int(min_length / 2)),
        # Gaps of a few per cent of the width are bridged: noise, a pole or a figure standing
        # in front of the horizon break its edge into pieces that are still one horizon.
        minLineLength=min_length, maxLineGap=max(4, width // 30),
    )
    if lines is not None:
        x1, y1, x2, y2 = lines[:, 0, :].astype(np.float64).T
        # Image y grows downwards, so a right end lower than the left gives a positive angle:
        # clockwise as seen. Ordering each line left to right keeps angles in (-90, 90].
        flip = x2 < x1
        dx = np.where(flip, x1 - x2, x2 - x1)
        dy = np.where(flip, y1 - y2, y2 - y1)
        angles = np.degrees(np.arctan2(dy, dx))
        lengths = np.hypot(dx, dy)
        near_horizontal = np.abs(angles) <= HORIZON_MAX_ANGLE
        angles, lengths = angles[near_horizontal], lengths[near_horizontal]
    if lines is None or angles.size == 0:
        return Attribute("horizon tilt", None, "degrees clockwise", None, "no clear horizon")

    order = np.argsort(angles)
    cumulative = np.cumsum(lengths[order])
    tilt = float(angles[order][np.searchsorted(cumulative, cumulative[-1] / 2)])
    size = abs(tilt)
    direction = "clockwise" if tilt > 0 else "anticlockwise"
    if size < LEVEL_TILT:
        hint = "level horizon"
    elif size < STRONG_TILT:
        hint = f"slightly tilted horizon ({size:.1f}° {direction})"
    else:
        hint = f"strongly tilted horizon ({size:.1f}° {direction})"
    score = _clip01(1.0 - size / 5.0)
    return Attribute("horizon tilt", tilt, "degrees clockwise", score, hint)
