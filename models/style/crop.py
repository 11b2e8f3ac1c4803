"""Find the main person and crop to them, so the style is read from the outfit, not the room.

MediaPipe's pose landmarks (the runtime the Pose tab uses) give the person's extent: the box
around the landmarks it sees, widened by a margin so the clothes' outline and the hair stay in.
Landmarks cover the body from the ears down, so the top gets a larger margin for the head.
"""

from __future__ import annotations

import numpy as np

MIN_VISIBLE_LANDMARKS = 8
"""Fewer visible landmarks than this is no person: MediaPipe hallucinates a few on textures."""
SIDE_MARGIN = 0.15
TOP_MARGIN = 0.25
BOTTOM_MARGIN = 0.10
"""Margins as fractions of the landmark box's height (sides: of its width)."""
MIN_CROP_SHARE = 0.04
"""A crop smaller than this share of the photo is a face in a crowd, not an outfit to read."""

Box = tuple[int, int, int, int]
"""(top, left, height, width) in pixels."""


def person_box(image: np.ndarray) -> Box | None:
    """The main person's box with margins, clipped to the photo, or None when no person is
    found (or the one found is too small to show an outfit).

    Args:
        image: uint8 H x W x 3.
    """
    from models.pose.mediapipe_runtime import RUNTIME, VISIBLE

    height, width = image.shape[:2]
    landmarks = RUNTIME.landmarks(image)
    if landmarks is None:
        return None
    seen = landmarks[landmarks[:, 2] >= VISIBLE]
    if len(seen) < MIN_VISIBLE_LANDMARKS:
        return None
    xs, ys = np.clip(seen[:, 0], 0, 1) * width, np.clip(seen[:, 1], 0, 1) * height
    box_w, box_h = max(xs.max() - xs.min(), 1.0), max(ys.max() - ys.min(), 1.0)
    left = int(max(0, np.floor(xs.min() - SIDE_MARGIN * box_w)))
    right = int(min(width, np.ceil(xs.max() + SIDE_MARGIN * box_w)))
    top = int(max(0, np.floor(ys.min() - TOP_MARGIN * box_h)))
    bottom = int(min(height, np.ceil(ys.max() + BOTTOM_MARGIN * box_h)))
    if (bottom - top) * (right - left) < MIN_CROP_SHARE * height * width:
        return None
    return top, left, bottom - top, right - left


def cropped(image: np.ndarray, box: Box | None) -> np.ndarray:
    """The photo inside `box` (the photo itself for None)."""
    if box is None:
        return image
    top, left, box_h, box_w = box
    return image[top : top + box_h, left : left + box_w]
