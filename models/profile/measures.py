"""What the Profile tab measures in each photo of a feed, offline: a palette and four tones.

- **Palette**: `PALETTE_SIZE` colours by k-means in CIELAB (D65) on a small copy of the photo,
  each with the share of the photo it covers. Lab, not RGB, so that "far apart" means "looks
  different": a Euclidean distance in Lab is the CIE76 colour difference, Delta E*ab, where
  about 2.3 is just noticeable.
- **Brightness** in EV (stops) from a mid-grey: log2(mean linear luminance / 0.18). One EV is
  one stop of exposure, so "1 EV darker" is what a photographer corrects with +1 exposure.
- **Contrast**: the standard deviation of L* (RMS contrast, in L* units, 0-100 scale).
- **Saturation**: the mean chroma C*ab = sqrt(a*^2 + b*^2) over the pixels.
- **Colour temperature** in kelvin: the correlated colour temperature of the photo's mean
  linear colour (the grey-world estimate of its white balance), by McCamy's cubic (McCamy
  1992, "Correlated color temperature as an explicit function of chromaticity coordinates").
  Differences are compared in mireds (1e6 / K), in which equal steps look about equally
  large, which kelvins do not (1000 K is a big change at 3000 K and a small one at 9000 K).

Everything here is numbers from pixels, no model; the quality, content and CLIP parts of a
photo's measures come from `models.aesthetic` and `models.clip` (see `models.profile.check`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PALETTE_SIZE = 5
PALETTE_SIDE = 64
"""Longest side of the copy k-means runs on (at most 4096 pixels): a palette is about large
areas, which survive the shrink, and k-means then costs a few milliseconds."""
KMEANS_ROUNDS = 20
MID_GREY = 0.18
"""Linear luminance of photographic mid-grey (an 18% grey card): 0 EV."""
DARKEST = 1e-4
"""Linear luminance floor before the logarithm, so a black photo reads about -10.8 EV."""
CCT_RANGE = (1500.0, 20000.0)
"""Kelvins McCamy's cubic is clipped to: outside about 2000-12500 K its error grows, and a
photo of a green lawn has no meaningful colour temperature anyway."""

# sRGB's primaries and white (IEC 61966-2-1): linear RGB -> CIE XYZ, D65 white.
_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
_D65_WHITE = _RGB_TO_XYZ.sum(axis=1)


@dataclass(frozen=True)
class Palette:
    """A photo's dominant colours, largest share first.

    Attributes:
        lab: K x 3 CIELAB colours.
        rgb: K x 3 uint8 sRGB colours (for swatches).
        shares: K shares of the photo's pixels, summing to 1.
    """

    lab: np.ndarray
    rgb: np.ndarray
    shares: np.ndarray

    def hex_codes(self) -> list[str]:
        return ["#{:02x}{:02x}{:02x}".format(*colour) for colour in self.rgb]


@dataclass(frozen=True)
class Tones:
    """The four tonal measures of one photo (units in the module docstring)."""

    brightness_ev: float
    contrast: float
    saturation: float
    temperature_k: float

    @property
    def temperature_mired(self) -> float:
        return 1e6 / self.temperature_k


# === Colour conversions (written out, so the units above are exactly what is computed) ===


def linear_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 sRGB ... x 3 -> linear RGB in [0, 1] (the sRGB transfer curve undone)."""
    srgb = np.asarray(image, np.float64) / 255.0
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def srgb_from_linear(linear: np.ndarray) -> np.ndarray:
    """Linear RGB in [0, 1] -> uint8 sRGB."""
    linear = np.clip(linear, 0.0, 1.0)
    srgb = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.round(srgb * 255.0).astype(np.uint8)


def lab_from_linear(linear: np.ndarray) -> np.ndarray:
    """Linear RGB ... x 3 -> CIELAB ... x 3, D65 white."""
    xyz = linear @ _RGB_TO_XYZ.T / _D65_WHITE
    epsilon, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > epsilon, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]),
                     200 * (f[..., 1] - f[..., 2])], axis=-1)


def linear_from_lab(lab: np.ndarray) -> np.ndarray:
    """CIELAB ... x 3 -> linear RGB (unclipped), D65 white."""
    fy = (lab[..., 0] + 16) / 116
    fx, fz = fy + lab[..., 1] / 500, fy - lab[..., 2] / 200
    epsilon, kappa = 216 / 24389, 24389 / 27
    f = np.stack([fx, fy, fz], axis=-1)
    xyz = np.where(f**3 > epsilon, f**3, (116 * f - 16) / kappa) * _D65_WHITE
    return xyz @ np.linalg.inv(_RGB_TO_XYZ).T


def correlated_colour_temperature(linear_colour: np.ndarray) -> float:
    """Kelvins of a linear RGB colour by McCamy's cubic on its xy chromaticity, clipped to
    `CCT_RANGE`. A black colour has no chromaticity: it reads as D65 (about 6500 K)."""
    xyz = _RGB_TO_XYZ @ np.asarray(linear_colour, np.float64)
    total = xyz.sum()
    if total <= 1e-9:
        xyz, total = _D65_WHITE, _D65_WHITE.sum()
    x, y = xyz[0] / total, xyz[1] / total
    if abs(0.1858 - y) < 1e-9:  # the formula's pole, far outside any photo's white balance
        return CCT_RANGE[1]
    n = (x - 0.3320) / (0.1858 - y)
    kelvin = 449 * n**3 + 3525 * n**2 + 6823.3 * n + 5520.33
    return float(np.clip(kelvin, *CCT_RANGE))


# === One photo ===


def small_copy(image: np.ndarray, side: int = PALETTE_SIDE) -> np.ndarray:
    """uint8 copy whose longest side is at most `side` (Pillow's box filter when shrinking)."""
    from PIL import Image

    height, width = image.shape[:2]
    scale = side / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))


def palette(image: np.ndarray, size: int = PALETTE_SIZE, seed: int = 0) -> Palette:
    """The photo's `size` dominant colours: k-means in Lab (k-means++ start, seeded, Lloyd
    rounds) on its small copy. A photo with fewer distinct colours than `size` repeats none:
    the palette is then shorter."""
    pixels = lab_from_linear(linear_rgb(small_copy(image))).reshape(-1, 3)
    centres = _kmeans(pixels, size, np.random.default_rng(seed))
    nearest = _nearest(pixels, centres)
    shares = np.bincount(nearest, minlength=len(centres)) / len(pixels)
    order = np.argsort(-shares, kind="stable")
    keep = order[shares[order] > 0]
    lab = centres[keep]
    return Palette(lab=lab, rgb=srgb_from_linear(linear_from_lab(lab)), shares=shares[keep])


def _nearest(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    distances = ((points[:, None, :] - centres[None]) ** 2).sum(axis=-1)
    return distances.argmin(axis=1)


def _kmeans(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    distinct = np.unique(np.round(points, 6), axis=0)
    if len(distinct) <= k:
        return distinct
    # k-means++ (Arthur and Vassilvitskii 2007): each new centre drawn in proportion to the
    # squared distance to the nearest centre so far.
    centres = [points[rng.integers(len(points))]]
    for _ in range(1, k):
        gaps = ((points[:, None, :] - np.array(centres)[None]) ** 2).sum(-1).min(axis=1)
        total = gaps.sum()
        if total <= 0:
            break
        centres.append(points[rng.choice(len(points), p=gaps / total)])
    centres = np.array(centres)
    for _ in range(KMEANS_ROUNDS):
        nearest = _nearest(points, centres)
        moved = np.array([points[nearest == c].mean(axis=0) if np.any(nearest == c)
                          else centres[c] for c in range(len(centres))])
        if np.allclose(moved, centres, atol=1e-6):
            break
        centres = moved
    return centres


def tones(image: np.ndarray) -> Tones:
    """Brightness (EV), contrast (L* std), saturation (mean C*ab) and colour temperature (K)
    of a uint8 photo, on its copy with a longest side of 256 pixels."""
    linear = linear_rgb(small_copy(image, 256)).reshape(-1, 3)
    luminance = linear @ _RGB_TO_XYZ[1]
    lab = lab_from_linear(linear)
    return Tones(
        brightness_ev=float(np.log2(max(luminance.mean(), DARKEST) / MID_GREY)),
        contrast=float(lab[:, 0].std()),
        saturation=float(np.hypot(lab[:, 1], lab[:, 2]).mean()),
        temperature_k=correlated_colour_temperature(linear.mean(axis=0)),
    )


def palette_distance(first: Palette, second: Palette) -> float:
    """How far apart two palettes look, in Delta E*ab (CIE76): each colour's distance to the
    other palette's nearest colour, weighted by its share, averaged both ways (symmetric; 0
    for the same palette)."""
    gaps = np.linalg.norm(first.lab[:, None, :] - second.lab[None], axis=-1)
    one_way = (gaps.min(axis=1) * first.shares).sum()
    other_way = (gaps.min(axis=0) * second.shares).sum()
    return float((one_way + other_way) / 2)
