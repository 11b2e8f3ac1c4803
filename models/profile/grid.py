"""A feed drawn as a profile grid: three columns in posting order, each photo cut to the grid's
3:4 portrait tile (Instagram's profile grid has shown 3:4 crops since 2025), optional marks.

Posting order: the feed's first photo is its newest, so it sits top left and the grid reads
row by row, as a profile shows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

COLUMNS = 3
TILE_WIDTH = 180
TILE_HEIGHT = 240  # 3:4
GAP = 3
MARK_COLOUR = (214, 39, 40)
NUMBER_BACKGROUND = (0, 0, 0)


def tile(image: np.ndarray, width: int = TILE_WIDTH, height: int = TILE_HEIGHT) -> np.ndarray:
    """The photo's central 3:4 part (the largest that fits), resized to the tile."""
    from PIL import Image

    rows, cols = image.shape[:2]
    if cols * height > rows * width:  # too wide: keep the full height
        keep = round(rows * width / height)
        left = (cols - keep) // 2
        image = image[:, left : left + keep]
    else:
        keep = round(cols * height / width)
        top = (rows - keep) // 2
        image = image[top : top + keep]
    return np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize(
        (width, height), Image.Resampling.LANCZOS))


def draw_grid(images: Sequence[np.ndarray], marks: Mapping[int, str] | None = None, *,
              numbers: Sequence[int] | None = None, numbered: bool = True,
              tile_width: int = TILE_WIDTH) -> np.ndarray:
    """uint8 image of the grid.

    Args:
        images: the feed's photos in posting order.
        marks: photo number -> a short label (e.g. "darker"), drawn as a red frame and the
            label on the tile.
        numbers: each photo's number, as the report names it (default 1, 2, 3...): a feed with
            an unreadable photo left out keeps the numbers the photos were uploaded with.
        numbered: put each photo's number in its corner.
        tile_width: tile width in pixels (height 4/3 of it).
    """
    from PIL import Image, ImageDraw

    marks = dict(marks or {})
    numbers = list(range(1, len(images) + 1)) if numbers is None else list(numbers)
    if len(numbers) != len(images):
        raise ValueError(f"{len(numbers)} numbers for {len(images)} photos.")
    tile_height = round(tile_width * 4 / 3)
    rows = -(-len(images) // COLUMNS)
    width = COLUMNS * tile_width + (COLUMNS - 1) * GAP
    height = rows * tile_height + (rows - 1) * GAP
    canvas = Image.new("RGB", (width, max(height, 1)), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font_size = max(10, tile_width // 9)
    try:
        from PIL import ImageFont

        font = ImageFont.load_default(size=font_size)
    except TypeError:  # Pillow < 10.1 has one fixed-size default font
        font = None
    for position, (number, image) in enumerate(zip(numbers, images, strict=True), start=1):
        row, column = divmod(position - 1, COLUMNS)
        left, top = column * (tile_width + GAP), row * (tile_height + GAP)
        canvas.paste(Image.fromarray(tile(image, tile_width, tile_height)), (left, top))
        if number in marks:
            border = max(3, tile_width // 30)
            for inset in range(border):
                draw.rectangle((left + inset, top + inset, left + tile_width - 1 - inset,
                                top + tile_height - 1 - inset), outline=MARK_COLOUR)
            label = marks[number]
            box = draw.textbbox((0, 0), label, font=font)
            label_top = top + tile_height - border - (box[3] - box[1]) - 8
            draw.rectangle((left + border, label_top - 2, left + tile_width - border,
                            top + tile_height - border), fill=MARK_COLOUR)
            draw.text((left + border + 4, label_top), label, fill=(255, 255, 255), font=font)
        if numbered:
            text = str(number)
            box = draw.textbbox((0, 0), text, font=font)
            draw.rectangle((left + 4, top + 4, left + 12 + box[2] - box[0],
                            top + 10 + box[3] - box[1]), fill=NUMBER_BACKGROUND)
            draw.text((left + 8 - box[0], top + 7 - box[1]), text, fill=(255, 255, 255),
                      font=font)
    return np.asarray(canvas)
