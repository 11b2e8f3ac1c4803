"""Skeleton masks: the pose input of InstaModel's Siamese network with pose estimation.

The InstaModel research ran OpenPose (lightweight OpenPose, Osokin 2018, "Real-Time 2D
Multi-Person Pose Estimation on CPU") on every photo and saved the skeletons of the *top two*
people as a mask image: most Instagram photos have bystanders, and the subject is not always the
most confident detection. A small CNN then reads the mask.

Here MediaPipe Pose (the legacy solution, which ships inside the mediapipe 0.10.21 wheel and
works offline) finds the skeletons. It tracks one person per call, so a second person is found
by greying out the first one's body and asking again. The skeletons are drawn as white lines on
a black square the size the network wants; the whole photo is squeezed into that square exactly
as the photo itself is resized for the network, so mask and photo line up.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from models.images import load_image
from models.pose.mediapipe_runtime import RUNTIME, VISIBLE

__all__ = ["MAX_PEOPLE", "SKELETON_EDGES", "detect_skeletons", "draw_skeletons", "skeleton_mask"]

MAX_PEOPLE = 2
"""People drawn per mask: the research kept the top two poses."""

# MediaPipe Pose landmark indices.
_NOSE, _LEFT_SHOULDER, _RIGHT_SHOULDER = 0, 11, 12
_BODY_EDGES = (
    (11, 12), (11, 13), (13, 15), (12, 14), (14, 16),  # shoulders and arms
    (11, 23), (12, 24), (23, 24),  # torso
    (23, 25), (25, 27), (24, 26), (26, 28),  # legs
    (27, 31), (28, 32),  # feet
)
SKELETON_EDGES = _BODY_EDGES
"""Limbs drawn, as pairs of MediaPipe landmark indices. The face's ten points and the fingers
are left out: they are tiny at mask resolution. A nose-to-neck line is added, like OpenPose's."""

# Growth of a person's joint box before it is greyed out: joints are limb centres, the body
# extends past them (the head above the nose, hands past the wrists).
_ERASE_MARGIN = 0.2


def _joint_box(skeleton: np.ndarray, height: int, width: int) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) pixel box around a skeleton's seen joints, with a margin."""
    seen = skeleton[skeleton[:, 2] >= VISIBLE, :2]
    if len(seen) == 0:
        return None
    x0, y0 = seen.min(axis=0)
    x1, y1 = seen.max(axis=0)
    grow_x, grow_y = _ERASE_MARGIN * (x1 - x0 + 0.05), _ERASE_MARGIN * (y1 - y0 + 0.05)
    top = int(np.clip((y0 - grow_y) * height, 0, height))
    bottom = int(np.clip((y1 + grow_y) * height, 0, height))
    left = int(np.clip((x0 - grow_x) * width, 0, width))
    right = int(np.clip((x1 + grow_x) * width, 0, width))
    return top, left, bottom, right


def detect_skeletons(image, max_people: int = MAX_PEOPLE) -> list[np.ndarray]:
    """Skeletons of up to `max_people` people, most prominent first.

    MediaPipe Pose reports one person per call. After each find, that person's joint box is
    filled with the photo's median colour and the photo is searched again; a find whose joints
    centre inside an already erased box is the same person and ends the search.

    Args:
        image: anything `models.images.load_image` takes.
        max_people: how many people to look for.

    Returns:
        A list of (33, 3) float32 arrays: x and y normalised to the photo's width and height,
        and MediaPipe's visibility. Empty when nobody is found.
    """
    image = load_image(image)
    height, width = image.shape[:2]
    filler = np.median(image.reshape(-1, 3), axis=0).astype(np.uint8)
    search = image
    skeletons: list[np.ndarray] = []
    erased: list[tuple[int, int, int, int]] = []
    while len(skeletons) < max_people:
        skeleton = RUNTIME.landmarks(search)
        if skeleton is None:
            break
        box = _joint_box(skeleton, height, width)
        if box is None:
            break
        seen = skeleton[skeleton[:, 2] >= VISIBLE, :2].mean(axis=0)
        centre_y, centre_x = seen[1] * height, seen[0] * width
        if any(t <= centre_y < b and lf <= centre_x < r for t, lf, b, r in erased):
            break
        skeletons.append(skeleton)
        erased.append(box)
        if len(skeletons) < max_people:
            search = search.copy()
            top, left, bottom, right = box
            search[top:bottom, left:right] = filler
    return skeletons


def draw_skeletons(skeletons: list[np.ndarray], size: int) -> np.ndarray:
    """Draw skeletons as lines on a black (size, size) float32 square (lines are 1.0).

    Args:
        skeletons: (33, 3) arrays of normalised x, y and visibility, as `detect_skeletons` gives.
        size: side of the square; the photo's width and height both map onto it.

    Returns:
        float32 (size, size) in {0, 1}.
    """
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    line_width = max(1, round(size / 32))  # 2 pixels at 64, still a line at 16

    def point(skeleton, index):
        return float(skeleton[index, 0] * (size - 1)), float(skeleton[index, 1] * (size - 1))

    for skeleton in skeletons:
        visible = skeleton[:, 2] >= VISIBLE
        for start, end in SKELETON_EDGES:
            if visible[start] and visible[end]:
                draw.line([point(skeleton, start), point(skeleton, end)], fill=255,
                          width=line_width)
        if visible[_NOSE] and visible[_LEFT_SHOULDER] and visible[_RIGHT_SHOULDER]:
            neck = (skeleton[_LEFT_SHOULDER, :2] + skeleton[_RIGHT_SHOULDER, :2]) / 2 * (size - 1)
            draw.line([point(skeleton, _NOSE), (float(neck[0]), float(neck[1]))], fill=255,
                      width=line_width)
    return (np.asarray(canvas, np.float32) / 255.0 > 0.5).astype(np.float32)


def skeleton_mask(image, size: int = 64) -> np.ndarray:
    """The pose branch's input: the skeletons of up to two people, drawn as lines.

    Args:
        image: anything `models.images.load_image` takes.
        size: side of the square mask.

    Returns:
        float32 (size, size) with 1.0 on the skeletons' limbs; all zeros when nobody is found.
    """
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}")
    return draw_skeletons(detect_skeletons(image), size)
