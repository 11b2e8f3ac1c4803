"""Technical quality as the Aesthetic tab shows it: BRISQUE on the photo's own pixels.

BRISQUE (`models.aesthetic.brisque`) is a model of human quality ratings on the LIVE database
(Mittal, Moorthy and Bovik 2012), whose regression ships as plain numbers in
`models/aesthetic/brisque_live.npz`; it works offline. It was chosen over the project's own CNN
by `python -m models.evaluate quality --whole-photos` (docs/training/quality.md).

**Native pixels.** LIVE's ratings, and so BRISQUE's regression, were made on photos at their
own resolution. Every other score of the tab is computed on the `judged_copy` (longest side at
most 512, Lanczos), and that resample averages JPEG's 8 x 8 blocks and fine noise away:
BRISQUE of the judged copy ranks noise levels worse than BRISQUE of the photo itself, and on
large uploads that were JPEG already, compression levels too (docs/training/quality.md,
"Chosen by measurement"; tests/test_quality_native.py). So BRISQUE reads the prepared photo
(`models.images.prepare_photo`, before the judged copy is made):

- whole, when it has at most `WHOLE_PHOTO_PIXELS` pixels (every photo no larger than the judged
  copy, so those score exactly as before, and a 640 x 480 photo too);
- else on `NATIVE_TILE_SIDE`-pixel tiles at its own resolution (`tile_boxes`): the centre and
  the middle of each quarter, their statistics pooled into one BRISQUE score. Five tiles cost
  what a photo of 5 x 256 x 256 pixels does, whatever the upload's size, which keeps the rating
  inside its 150 ms budget.

The explanations perturb the judged copy, as it is shown, and `NativeQuality` carries each
perturbation back onto the native pixels before scoring, so the maps explain this number.
"""

from __future__ import annotations

import numpy as np

from models.images import judged_copy

__all__ = ["NATIVE_TILE_SIDE", "QUALITY_SOURCE", "TILE_CENTRES", "WHOLE_PHOTO_PIXELS",
           "NativeQuality", "brisque_scores", "native_parts", "quality_scores", "tile_boxes"]

QUALITY_SOURCE = "BRISQUE, a model of human quality ratings on LIVE"
"""What the technical quality on the card is, in the card's words."""

NATIVE_TILE_SIDE = 256
"""Side of each native-resolution tile BRISQUE reads on a large photo. 256 pixels hold 1,024
JPEG blocks and enough MSCN samples (65k a tile, 16k at half scale) for stable fits; LIVE's
own photos are 768 x 512."""

TILE_CENTRES = ((0.5, 0.5), (0.25, 0.25), (0.25, 0.75), (0.75, 0.25), (0.75, 0.75))
"""Where the tiles sit, as (row, column) fractions of the photo: the centre, where a subject
usually is, and the middle of each quarter, so that a defect in one part of the frame (a
blurred background, a blocky sky) is seen too."""

WHOLE_PHOTO_PIXELS = len(TILE_CENTRES) * NATIVE_TILE_SIDE ** 2
"""A photo with at most this many pixels (327,680: 640 x 512) is read whole: the tiles would
cost as much and see less."""

Box = tuple[int, int, int, int]


def _starts(length: int, side: int) -> dict[float, int]:
    """Where a tile of `side` starts along an axis of `length`, for each centre fraction. The
    far quarter's tile is the mirror image of the near one's, so a photo and its mirror image
    are read on mirrored tiles (the centre tile too, when length - side is even)."""
    near = min(max(0, round(length / 4 - side / 2)), length - side)
    return {0.5: (length - side) // 2, 0.25: near, 0.75: length - side - near}


def tile_boxes(height: int, width: int) -> tuple[Box, ...]:
    """The parts of a height x width photo BRISQUE reads, as (top, left, bottom, right) boxes.

    One box, the whole photo, when it has at most WHOLE_PHOTO_PIXELS pixels; else a
    NATIVE_TILE_SIDE square (shorter on a side the photo lacks) at each of TILE_CENTRES,
    inside the photo.
    """
    if height * width <= WHOLE_PHOTO_PIXELS:
        return ((0, 0, height, width),)
    tile_height, tile_width = min(NATIVE_TILE_SIDE, height), min(NATIVE_TILE_SIDE, width)
    rows, columns = _starts(height, tile_height), _starts(width, tile_width)
    return tuple((rows[r], columns[c], rows[r] + tile_height, columns[c] + tile_width)
                 for r, c in TILE_CENTRES)


def native_parts(image: np.ndarray) -> list[np.ndarray]:
    """The parts of a photo (uint8 H x W x 3, as `prepare_photo` gives it) that BRISQUE reads
    (`tile_boxes`): the photo itself when it is read whole, else copies of its tiles, so the
    full-size photo need not be kept to score them later."""
    image = np.asarray(image)
    boxes = tile_boxes(*image.shape[:2])
    if len(boxes) == 1:
        return [image]
    return [image[top:bottom, left:right].copy() for top, left, bottom, right in boxes]


def brisque_scores(images) -> np.ndarray:
    """BRISQUE score of each photo on its own pixels (`native_parts`): lower is better.

    Args:
        images: uint8 arrays of any size, as `prepare_photo` gives them (not their judged
            copies: on a photo larger than the judged copy those have lost JPEG's blocks).
    """
    from models.aesthetic import brisque

    return brisque.brisque_scores([native_parts(image) for image in images])


def quality_scores(images) -> np.ndarray:
    """Technical quality of each photo in [0, 1]: BRISQUE through `quality_from_score`.

    BRISQUE reads each photo's own pixels (`native_parts`); the explainers, which perturb the
    judged copy, score through `NativeQuality`, which gives exactly this number for the
    unperturbed copy. The statistics do not change when the photo is mirrored, apart from the
    diagonal neighbour pairs trading places."""
    from models.aesthetic import brisque

    return brisque.quality_from_score(brisque_scores(images))


class NativeQuality:
    """Technical quality of perturbed copies of one photo's judged copy, read on its own pixels.

    LIME and SHAP hide regions of the photo as it is shown (the judged copy, where their maps
    are drawn) and re-score it hundreds of times. BRISQUE, though, reads the native pixels
    (`native_parts`), and of them only the grey levels (`brisque.luminance`). For each
    perturbed judged copy, the pixels that differ from the judged copy are the hidden ones;
    that mask is carried to native resolution (each native pixel takes the mask of the judged
    pixel its centre falls in), and inside it the native grey levels are replaced by the
    perturbed copy's, enlarged to native size (bilinear) and rounded to whole levels, whatever
    the explainer filled them with: black, a blur. The rest keeps its native grey levels,
    blocks and noise and all. (A hidden pixel that the fill happens to leave at its own colour
    counts as shown and keeps its native pixels, which it matches at the copy's resolution.)
    Unperturbed, the copy scores exactly `quality_scores([photo])`, the card's number.

    Args:
        photo: uint8 H x W x 3, the prepared photo (`prepare_photo(...).image`).
    """

    BILINEAR_MARGIN = 2
    """Judged pixels kept around each tile's region: bilinear enlargement reads one beyond."""

    def __init__(self, photo: np.ndarray):
        from models.aesthetic.brisque import luminance

        self.photo = np.asarray(photo)
        self.judged = judged_copy(self.photo)
        self.boxes = tile_boxes(*self.photo.shape[:2])
        height, width = self.photo.shape[:2]
        judged_height, judged_width = self.judged.shape[:2]
        # judged_copy resizes the whole photo, so judged pixel i covers native pixels
        # [i / scale, (i + 1) / scale) on each axis: native row r lies in judged row
        # floor((r + 0.5) x scale).
        row_scale, column_scale = judged_height / height, judged_width / width
        # For each tile: its grey levels, the judged pixels over it with a margin of
        # BILINEAR_MARGIN (the enlargement reads one pixel beyond the tile's edge), and the
        # tile's box in that region's coordinates. Only that region is compared and enlarged,
        # not the whole copy: the tiles cover a small part of a large photo, and this runs
        # per sample.
        self._tiles = []
        for top, left, bottom, right in self.boxes:
            first_row = max(0, int((top + 0.5) * row_scale) - self.BILINEAR_MARGIN)
            first_column = max(0, int((left + 0.5) * column_scale) - self.BILINEAR_MARGIN)
            region = (slice(first_row, min(judged_height, int((bottom - 0.5) * row_scale)
                                          + 1 + self.BILINEAR_MARGIN)),
                      slice(first_column, min(judged_width, int((right - 0.5) * column_scale)
                                              + 1 + self.BILINEAR_MARGIN)))
            box = (left * column_scale - first_column, top * row_scale - first_row,
                   right * column_scale - first_column, bottom * row_scale - first_row)
            self._tiles.append((luminance(self.photo[top:bottom, left:right]), region, box,
                                (right - left, bottom - top)))

    def native_parts(self, copy: np.ndarray) -> list[np.ndarray]:
        """The parts BRISQUE reads for one perturbed judged copy (uint8, the judged copy's
        shape), as described in the class: RGB when the photo is its own judged copy, else
        the tiles' grey levels.

        Raises:
            ValueError: `copy` is not the judged copy's size.
        """
        from PIL import Image

        from models.aesthetic.brisque import luminance

        copy = np.asarray(copy)
        if copy.shape != self.judged.shape:
            raise ValueError(f"NativeQuality scores perturbed copies of the {self.judged.shape} "
                             f"judged copy, not a {copy.shape} image.")
        if self.judged is self.photo:  # no larger than the judged copy: it is the native photo
            return [copy[top:bottom, left:right] for top, left, bottom, right in self.boxes]
        parts = []
        for grey, region, box, size in self._tiles:
            hidden = np.any(copy[region] != self.judged[region], axis=-1)
            if not hidden.any():
                parts.append(grey)
                continue
            # Nearest: each native pixel takes the mask of the judged pixel its centre is in.
            hidden_here = np.asarray(Image.fromarray(hidden.view(np.uint8)).resize(
                size, Image.Resampling.NEAREST, box=box)).astype(bool)
            enlarged = np.asarray(Image.fromarray(
                luminance(copy[region]).astype(np.float32), mode="F").resize(
                size, Image.Resampling.BILINEAR, box=box))
            parts.append(np.where(hidden_here, np.rint(enlarged), grey))
        return parts

    def __call__(self, copies) -> np.ndarray:
        """Technical quality in [0, 1] of each perturbed judged copy (N x h x w x 3): (N,)."""
        from models.aesthetic import brisque

        scores = brisque.brisque_scores([self.native_parts(copy) for copy in copies])
        return brisque.quality_from_score(scores)
