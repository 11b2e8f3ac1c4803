"""The docs' screenshots, taken by the browser tests so they show the app as it is.

Regenerate every picture in docs/screens/ (the app's own offline models for Aesthetic, Pose
and Profile; the tests' tiny stand-in CLIP for Style and Tags):

    python -m pytest -m browser --update-screens

Without `--update-screens` the tests take the same pictures into a temporary folder (or into
$INSTAVIS_SCREENS_DIR when it is set), so every run exercises this code and none changes the
working tree. The run that took them also composes the strip of the five tabs
(`tabs-strip.png`) from their pictures, at the end of the session (tests/conftest.py); run
every browser test (`-m browser`), so that the strip and the pictures come from one run.

Each picture is the part of a tab that matters (its verdict card, and its explanation maps where
it has them), laid out as a phone shows the page: the page is narrowed to PHONE_WIDTH CSS
pixels while the picture is taken, and drawn at SCALE device pixels per CSS pixel, so that the
text stays sharp on a phone's screen.
"""

from __future__ import annotations

import base64
import io
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
DOCS_SCREENS = ROOT / "docs" / "screens"
FOLDER_VARIABLE = "INSTAVIS_SCREENS_DIR"
"""Where the pictures go when `--update-screens` is not given; the first pytest process sets it
to a temporary folder of its own, and its xdist workers inherit it."""

PHONE_WIDTH = 540
"""The page's width while a picture is taken, in CSS pixels: a large phone's, narrow enough
that Gradio stacks a tab's columns as it does on a phone."""
SCALE = 1.5
"""Device pixels per CSS pixel: a tab's picture is about 700 pixels wide, sharp on a phone's
screen and on a desktop page alike."""
GAP = 12  # device pixels between the parts of one picture

STRIP_TABS = ("aesthetic", "pose", "style", "tags", "profile")
"""The tabs of the strip, left to right; each one's picture is f"{key}.png"."""
STAND_IN_TABS = ("style", "tags")
"""The tabs that need CLIP, whose pictures the tests take with a tiny stand-in CLIP of random
weights: its styles and tags are not judgements, and the strip says so over them."""
STAND_IN_NOTE = "stand-in CLIP, random weights"
STRIP_NAME = "tabs-strip.png"
STRIP_PANEL_WIDTH = 420  # pixels: five panels make a strip about 2,200 pixels wide
STRIP_PANEL_HEIGHT = 840  # pixels: a long card (Profile's) is drawn smaller, not taller
STRIP_MARGIN = 16
LABEL_HEIGHT = 56


def folder(update: bool) -> Path:
    """Where this run's pictures go: docs/screens/ with `--update-screens`, else the folder
    named by $INSTAVIS_SCREENS_DIR, made when missing."""
    path = DOCS_SCREENS if update else Path(os.environ[FOLDER_VARIABLE])
    path.mkdir(parents=True, exist_ok=True)
    return path


def make_temporary_folder() -> Path | None:
    """Set $INSTAVIS_SCREENS_DIR to a new temporary folder, unless it is set; return the new
    folder (for whoever made it to remove), or None."""
    if os.environ.get(FOLDER_VARIABLE):
        return None
    made = Path(tempfile.mkdtemp(prefix="instavis-screens-"))
    os.environ[FOLDER_VARIABLE] = str(made)
    return made


# Ready to be pictured: every picture in the parts loaded (not broken), and no progress shown
# over them (Gradio's status tracker has the class "hide" while its component is idle).
_READY = """parts => {
    const pictures = parts.flatMap(part => part.tagName === 'IMG' ? [part]
                                           : [...part.querySelectorAll('img')]);
    const busy = parts.some(part => [...part.querySelectorAll('[data-testid=status-tracker]')]
        .some(tracker => !tracker.classList.contains('hide')));
    return !busy && pictures.every(picture => picture.complete && picture.naturalWidth > 0);
}"""

# Once the fonts are loaded and two frames drawn (the page was just narrowed and laid out
# afresh): the parts' common box on the page and the height each picture in them is drawn at,
# in CSS pixels. A picture's box is where it is drawn: Gradio shows an image centred in its box
# and scaled to fit it (object-fit "contain" or "scale-down"), which it may fill only in part.
_DRAWN = """async parts => {
    await document.fonts.ready;
    await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
    const drawn = element => {
        const box = element.getBoundingClientRect();
        const fit = getComputedStyle(element).objectFit;
        if (element.tagName !== 'IMG' || !['contain', 'scale-down'].includes(fit)) return box;
        let scale = Math.min(box.width / element.naturalWidth,
                             box.height / element.naturalHeight);
        if (fit === 'scale-down') scale = Math.min(scale, 1);
        const width = element.naturalWidth * scale, height = element.naturalHeight * scale;
        const left = box.left + (box.width - width) / 2, top = box.top + (box.height - height) / 2;
        return {left, top, right: left + width, bottom: top + height, height};
    };
    const pictures = parts.flatMap(part => part.tagName === 'IMG' ? [part]
                                           : [...part.querySelectorAll('img')]);
    const boxes = parts.map(drawn);
    const left = Math.min(...boxes.map(b => b.left)), top = Math.min(...boxes.map(b => b.top));
    const right = Math.max(...boxes.map(b => b.right));
    const bottom = Math.max(...boxes.map(b => b.bottom));
    return {box: {x: left + scrollX, y: top + scrollY, width: right - left,
                  height: bottom - top},
            heights: pictures.map(picture => drawn(picture).height)};
}"""


@dataclass(frozen=True)
class Taken:
    """A picture `take` saved: its file, and the height each picture in it (a map, a photo) is
    drawn at on the narrowed page, in CSS pixels."""

    path: Path
    picture_heights: list[float]


def take(page, path: Path, parts: Sequence, width: int = PHONE_WIDTH,
         scale: float = SCALE) -> Taken:
    """Save the picture made of `parts`, top to bottom, into `path`.

    Args:
        page: a Playwright page showing the result, settled: the test has seen every part it
            pictures (a result is on screen, its maps are drawn).
        path: the PNG to write.
        parts: each a locator, or a tuple of locators whose common box is one part (e.g. two
            photos side by side); every locator must match one element. An image's part is
            the picture as drawn, not the box around it.
        width: the page's width meanwhile, in CSS pixels (a wide table reads better wider).
        scale: device pixels per CSS pixel.
    """
    original = page.viewport_size
    page.set_viewport_size({"width": width, "height": original["height"]})
    # Playwright's own screenshots are drawn at the page's scale (1); the DevTools protocol's
    # takes a scale of its own, and draws the page at it rather than enlarging the pixels.
    session = page.context.new_cdp_session(page)
    crops, heights = [], []
    try:
        for part in parts:
            crop, part_heights = _crop(page, session,
                                       part if isinstance(part, tuple) else (part,), scale)
            crops.append(crop)
            heights += part_heights
    finally:
        session.detach()
        page.set_viewport_size(original)
    path.parent.mkdir(parents=True, exist_ok=True)
    stack(crops).save(path, optimize=True)
    return Taken(path, heights)


def _crop(page, session, locators: tuple, scale: float) -> tuple[Image.Image, list[float]]:
    # In view, so that lazily loaded pictures load (the page is as tall as before, but
    # narrower, so the part may have moved).
    locators[0].scroll_into_view_if_needed()
    handles = [locator.element_handle() for locator in locators]
    # The test saw the result before it called `take`: this waits for pictures the narrower
    # page loads afresh and a tracker about to hide, and fails loudly on a broken picture.
    page.wait_for_function(_READY, arg=handles, timeout=20_000)
    drawn = page.evaluate(_DRAWN, handles)
    shot = session.send("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {**drawn["box"], "scale": scale}})
    crop = Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB")
    return crop, drawn["heights"]


def stack(crops: Sequence[Image.Image]) -> Image.Image:
    """The crops one under another, left-aligned on white, GAP apart."""
    width = max(crop.width for crop in crops)
    height = sum(crop.height for crop in crops) + GAP * (len(crops) - 1)
    picture = Image.new("RGB", (width, height), "white")
    top = 0
    for crop in crops:
        picture.paste(crop, (0, top))
        top += crop.height + GAP
    return picture


def compose_strip(pictures: Sequence[tuple[str, str, Image.Image]]) -> Image.Image:
    """The pictures side by side in columns STRIP_PANEL_WIDTH wide, on white, top-aligned.

    Each of `pictures` is (name, note, picture): the name labels its column, the note (may be
    "") follows it in grey, and the picture is scaled to fill the column's width, or, when that
    would make it taller than STRIP_PANEL_HEIGHT, to that height (and narrower).
    """
    panels = []
    for name, note, picture in pictures:
        scale = min(STRIP_PANEL_WIDTH / picture.width, STRIP_PANEL_HEIGHT / picture.height)
        size = (round(picture.width * scale), round(picture.height * scale))
        panels.append((name, note,
                       picture.convert("RGB").resize(size, Image.Resampling.LANCZOS)))
    width = len(panels) * STRIP_PANEL_WIDTH + (len(panels) + 1) * STRIP_MARGIN
    height = LABEL_HEIGHT + max(panel.height for _, _, panel in panels) + STRIP_MARGIN
    strip = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(strip)
    name_font = ImageFont.load_default(size=round(LABEL_HEIGHT * 0.6))
    note_font = ImageFont.load_default(size=round(LABEL_HEIGHT * 0.36))
    for index, (name, note, panel) in enumerate(panels):
        left = STRIP_MARGIN + index * (STRIP_PANEL_WIDTH + STRIP_MARGIN)
        baseline = round(LABEL_HEIGHT * 0.75)
        draw.text((left + 4, baseline), name, fill="black", font=name_font, anchor="ls")
        if note:
            after = left + 4 + draw.textlength(name, font=name_font) + 12
            draw.text((after, baseline), note, fill=(110, 110, 110), font=note_font,
                      anchor="ls")
        strip.paste(panel, (left, LABEL_HEIGHT))
    return strip


def write_strip(where: Path) -> Path | None:
    """Compose `where`/tabs-strip.png from the five tabs' pictures there; None, and nothing
    written, when one of them is missing (a run of only some of the browser tests)."""
    paths = [where / f"{key}.png" for key in STRIP_TABS]
    if not all(path.is_file() for path in paths):
        return None
    pictures = []
    for key, path in zip(STRIP_TABS, paths, strict=True):
        with Image.open(path) as picture:
            note = STAND_IN_NOTE if key in STAND_IN_TABS else ""
            pictures.append((key.capitalize(), note, picture.copy()))
    strip = where / STRIP_NAME
    compose_strip(pictures).save(strip, optimize=True)
    return strip
