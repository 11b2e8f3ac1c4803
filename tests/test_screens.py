"""The strip of the five tabs the docs show, composed from the browser tests' screenshots
(tests/screens.py); here from plain coloured pictures, so the layout can be checked."""

from __future__ import annotations

from PIL import Image

from tests.screens import (
    LABEL_HEIGHT,
    STRIP_MARGIN,
    STRIP_NAME,
    STRIP_PANEL_HEIGHT,
    STRIP_PANEL_WIDTH,
    STRIP_TABS,
    write_strip,
)

COLOURS = [(200, 30, 30), (30, 160, 60), (40, 60, 200), (230, 160, 20), (120, 40, 160)]
SIZES = [(714, 950), (714, 1030), (714, 600), (714, 480), (714, 1900)]  # Profile's is long


def test_the_strip_shows_each_tab_in_order_labelled_and_no_taller_than_its_limit(tmp_path):
    for key, colour, size in zip(STRIP_TABS, COLOURS, SIZES, strict=True):
        Image.new("RGB", size, colour).save(tmp_path / f"{key}.png")

    strip = Image.open(write_strip(tmp_path)).convert("RGB")

    column = STRIP_PANEL_WIDTH + STRIP_MARGIN
    assert strip.width == len(STRIP_TABS) * column + STRIP_MARGIN
    # The tallest picture at full column width would be 420 / 714 * 1900 = 1118 pixels.
    assert strip.height == LABEL_HEIGHT + STRIP_PANEL_HEIGHT + STRIP_MARGIN
    for index, colour in enumerate(COLOURS):
        left = STRIP_MARGIN + index * column
        # Each panel's top left corner, under its label, is its tab's picture, in tab order.
        assert strip.getpixel((left + 2, LABEL_HEIGHT + 2)) == colour
        # The label above it is dark text on white.
        label = strip.crop((left, 0, left + STRIP_PANEL_WIDTH, LABEL_HEIGHT)).convert("L")
        assert min(label.getdata()) < 100 and max(label.getdata()) == 255
    # A short picture fills its column's width and stops at its own height; the long one is
    # drawn narrower, and reaches the strip's limit.
    short_left = STRIP_MARGIN + 3 * column
    assert strip.getpixel((short_left + STRIP_PANEL_WIDTH - 2, LABEL_HEIGHT + 2)) == COLOURS[3]
    assert strip.getpixel((short_left + 2, LABEL_HEIGHT + 480 * 420 // 714 + 4)) == (255, 255, 255)
    long_left = STRIP_MARGIN + 4 * column
    assert strip.getpixel((long_left + STRIP_PANEL_WIDTH - 2, LABEL_HEIGHT + 2)) == (255, 255, 255)
    assert strip.getpixel((long_left + 2, LABEL_HEIGHT + STRIP_PANEL_HEIGHT - 2)) == COLOURS[4]


def test_no_strip_is_written_while_a_tab_has_no_picture(tmp_path):
    for key in STRIP_TABS[:-1]:
        Image.new("RGB", (100, 100), "grey").save(tmp_path / f"{key}.png")
    assert write_strip(tmp_path) is None
    assert not (tmp_path / STRIP_NAME).exists()
