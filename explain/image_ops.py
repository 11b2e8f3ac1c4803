"""Small image operations the explainers share: resizing maps and images, normalising maps."""

from __future__ import annotations

import numpy as np

WORK_SIDE = 256
"""Perturbation methods and faithfulness curves work on a copy no larger than this (longest
side): every sample is one model evaluation, and the model sees about 224 pixels anyway."""


def resize_map(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a 2-D map to (height, width), float32."""
    from skimage.transform import resize

    heatmap = np.asarray(heatmap, np.float32)
    if heatmap.shape == tuple(size):
        return heatmap.copy()
    return resize(heatmap, size, order=1, mode="edge", anti_aliasing=False,
                  preserve_range=True).astype(np.float32)


def place_map(heatmap: np.ndarray, image_size: tuple[int, int],
              box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Resize a map into `box` (top, left, height, width) of an image-sized zero canvas."""
    if box is None:
        return resize_map(heatmap, image_size)
    top, left, height, width = box
    canvas = np.zeros(image_size, np.float32)
    canvas[top : top + height, left : left + width] = resize_map(heatmap, (height, width))
    return canvas


def shrink_image(image: np.ndarray, max_side: int = WORK_SIDE) -> np.ndarray:
    """A uint8 copy whose longest side is at most `max_side` (the image itself if it fits)."""
    from skimage.transform import resize

    height, width = image.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    small = resize(image, size, order=1, anti_aliasing=True, preserve_range=True)
    return np.clip(np.rint(small), 0, 255).astype(np.uint8)


def normalise_unsigned(heatmap: np.ndarray) -> np.ndarray:
    """Negative values to 0, then scaled so the maximum is 1 (an all-zero map stays zero)."""
    heatmap = np.maximum(np.asarray(heatmap, np.float32), 0)
    peak = float(heatmap.max()) if heatmap.size else 0.0
    return heatmap / peak if peak > 0 else heatmap


def normalise_signed(heatmap: np.ndarray) -> np.ndarray:
    """Scaled into [-1, 1] by the largest magnitude, keeping signs."""
    heatmap = np.asarray(heatmap, np.float32)
    peak = float(np.abs(heatmap).max()) if heatmap.size else 0.0
    return heatmap / peak if peak > 0 else heatmap


def check_image(image) -> np.ndarray:
    """One uint8 H x W x 3 image, or one clear ValueError."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 H x W x 3, got {image.dtype} {image.shape}.")
    if min(image.shape[:2]) < 1:
        raise ValueError("image has no pixels.")
    return image


def check_fill_image(fill_image) -> np.ndarray:
    """A fill image as uint8 H x W x 3, or a ValueError saying what it must be."""
    fill = np.asarray(fill_image)
    if fill.ndim != 3 or fill.shape[-1] != 3 or fill.dtype != np.uint8 or 0 in fill.shape:
        raise ValueError(f"fill_image must be a uint8 H x W x 3 image, got {fill.dtype} "
                         f"{fill.shape}.")
    return fill


def fill_to_size(fill: np.ndarray, height: int, width: int) -> np.ndarray:
    """The fill image at (height, width): explain() hands a method a shrunken copy of the
    photo, so a fill made for the photo is brought to that size (bilinear, as pixels)."""
    if fill.shape[:2] == (height, width):
        return fill
    from PIL import Image

    return np.asarray(Image.fromarray(fill).resize((width, height),
                                                   Image.Resampling.BILINEAR))
