"""The single entry point through which an uploaded picture enters InstaVis.

Everything downstream (models, explainers, the UI) can rely on one shape of
data: a C-contiguous ``uint8`` array of shape ``(height, width, 3)`` in RGB,
upright, with no side longer than :data:`MAX_SIDE`. Anything that cannot be
turned into that is refused with :class:`InvalidImage`, whose message is a
single human-readable sentence that the UI can show as-is.

Only numpy and Pillow are imported here so that loading an image never drags
in a deep-learning framework or the web UI.
"""

import contextlib
import io
import math
import os
import re
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np
from PIL import Image, ImageOps

__all__ = [
    "JUDGED_SIDE", "MAX_ASPECT_RATIO", "MAX_MEGAPIXELS", "MAX_MEGAPIXELS_NOT_JPEG", "MAX_SIDE",
    "MIN_SIDE", "InvalidImage", "PreparedPhoto", "judged_copy", "load_image", "prepare_photo",
]

MAX_MEGAPIXELS = 50
"""Largest accepted picture, in millions of pixels, judged from the file header."""

MAX_MEGAPIXELS_NOT_JPEG = 12
"""Largest accepted picture in any format other than JPEG. A JPEG is decoded at a reduced scale
(`draft`) close to the size it is judged at, so a 50-megapixel one costs about 55 MiB to
decode; every other format is decoded whole, at four bytes a pixel and more, about 270 MiB at
50 megapixels. Cameras and phones write their large photos as JPEG, so this limit keeps a
public server's memory bounded without refusing what people post (`python -m
benchmarks.memory` measures the worst legal mix of requests against the budget)."""
_MAX_PIXELS_NOT_JPEG = MAX_MEGAPIXELS_NOT_JPEG * 1_000_000
_SCALED_DECODE_FORMATS = ("JPEG", "MPO")  # MPO is a camera's JPEG with extra pictures

MAX_SIDE = 2048
"""Longest side, in pixels, of every array returned by :func:`load_image`."""

_MAX_PIXELS = MAX_MEGAPIXELS * 1_000_000

# Pillow can open dozens of formats, and some of them are risky for a public
# upload box: EPS is rendered by running Ghostscript, and formats without a
# magic number (such as TGA) will happily "decode" random bytes. Photos from
# phones and the web only need these. HEIF is used only if a plugin such as
# pillow-heif has registered it; the JPEG entry also covers MPO files.
_PHOTO_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "AVIF", "HEIF")

# Listed explicitly: a test like `"A" in mode` would also match "LAB".
_MODES_WITH_ALPHA = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})

_NOT_AN_IMAGE = "The file is not an image, or its format is not supported."
_DAMAGED = "The image is damaged or truncated."

ImageSource = (
    str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes] | Image.Image | np.ndarray
)


class InvalidImage(ValueError):
    """An upload that cannot be used as a picture.

    The message is always a single line written for the person who uploaded
    the file, so callers can display ``str(exc)`` directly.

    Attributes:
        reason: The same one-line sentence as ``str(exc)``.
    """

    def __init__(self, reason: str) -> None:
        # A UI toast or a log line breaks on embedded newlines, so fold any
        # that sneak in (for example from a file name) into spaces.
        self.reason = " ".join(reason.splitlines())
        super().__init__(self.reason)


def load_image(source: ImageSource | None) -> np.ndarray:
    """Load an upload as an upright RGB ``uint8`` array no larger than MAX_SIDE.

    Args:
        source: The picture, as any of: a path (``str`` or ``os.PathLike``);
            the encoded file as ``bytes``, ``bytearray`` or ``memoryview``; a
            binary file-like object with ``.read()``; a ``PIL.Image.Image``;
            or a numpy array shaped ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)``
            or ``(H, W, 4)`` with dtype ``uint8``, ``uint16``, ``bool`` or
            float (values in ``[0, 1]``).

    Returns:
        A new, writable, C-contiguous ``uint8`` array of shape ``(H, W, 3)``.
        EXIF orientation has been applied, transparency has been composited
        over white, animations are reduced to their first frame and the
        longest side has been shrunk to at most :data:`MAX_SIDE` (never
        enlarged).

    Raises:
        InvalidImage: If the source is missing or empty, is not a supported
            image, is damaged or truncated, has no pixels, or has more than
            :data:`MAX_MEGAPIXELS` megapixels.
        TypeError: If ``source`` is of a type that can never hold an image,
            which is a programming error rather than a bad upload.
    """
    return _load(source).pixels


@dataclass(frozen=True)
class _Decoded:
    pixels: np.ndarray
    transparent: bool  # some pixel was less than opaque, and now sits on white
    uncropped_size: tuple[int, int]  # (width, height), upright, before any crop or shrink


def _load(source: ImageSource | None, max_aspect_ratio: float | None = None) -> _Decoded:
    """`load_image`, optionally keeping only the central part of an extreme aspect ratio
    (`central_box`) before shrinking, so a long strip keeps its resolution."""
    if source is None:
        raise InvalidImage("No image was given.")

    if isinstance(source, np.ndarray):
        image = _image_from_array(source)
        with _refuse_unusable_images():
            return _decode(image, may_mutate=True, max_aspect_ratio=max_aspect_ratio)

    if isinstance(source, Image.Image):
        # The caller still owns this object, so it is not drafted in place.
        with _refuse_unusable_images():
            return _decode(source, may_mutate=False, max_aspect_ratio=max_aspect_ratio)

    if isinstance(source, str | os.PathLike):
        return _load_from_path(os.fspath(source), max_aspect_ratio)

    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif callable(getattr(source, "read", None)):
        data = _read_stream(source)
    else:
        raise TypeError(
            f"load_image() cannot read a {type(source).__name__}; pass a path, bytes, "
            "a binary file object, a PIL image or a numpy array."
        )

    if not data:
        raise InvalidImage("The file is empty.")
    return _open_and_decode(io.BytesIO(data), max_aspect_ratio)


LARGE_DECODE_PIXELS = 12_000_000
"""Photos over this many pixels (a 12-megapixel phone photo is the common size) are decoded one
at a time across the whole process (`_LARGE_DECODES`)."""

LARGE_FULL_DECODE_PIXELS = 6_000_000
"""A photo decoded whole (any format but JPEG: no reduced-scale decode) over this many pixels
also takes the one-at-a-time turn: at four bytes a pixel it holds 23 MiB and more while it is
decoded, up to about 105 MiB at MAX_MEGAPIXELS_NOT_JPEG. Two such decodes at once were a third
of what the worst legal mix of requests added over rest (`python -m benchmarks.memory`)."""
_LARGE_DECODES = threading.BoundedSemaphore(1)

DECODE_SLOTS = 2
"""Photos decoded at once across the whole process, whatever their size. A decode holds the
photo's decoded pixels, and every tab and explanation can bring one at the same moment, so this
number, not the number of requests, bounds the memory that decoding takes: at most one large
photo (up to about 105 MiB: a 12-megapixel PNG with transparency; a 50-megapixel JPEG, decoded
at a reduced scale, about 55 MiB) and one that is not large (a JPEG up to LARGE_DECODE_PIXELS or
another format up to LARGE_FULL_DECODE_PIXELS, at most about 55 MiB). Two is also all this
app's two-core target machine decodes at full speed."""
_DECODE_SLOTS = threading.BoundedSemaphore(DECODE_SLOTS)

JUDGED_SIDE = 512
"""Longest side of the copy of a photo that every task judges and explains (see judged_copy)."""


def judged_copy(image: np.ndarray, max_side: int = JUDGED_SIDE) -> np.ndarray:
    """The copy of a loaded photo that a task computes its displayed numbers on.

    An explanation must explain the number on the screen, and the explainers perturb and
    re-score a photo hundreds of times, so they cannot work on a 2048-pixel upload. Tasks
    therefore judge this copy, and hand the same copy to the explainers (with `work_side` set
    to `max_side`), so the unperturbed copy scores exactly what the tab shows. Every model of
    the tasks reads far fewer pixels than 512 (CLIP 224, MediaPipe 256, the quality CNN a
    shorter side of 256), so judging the copy costs nothing in accuracy.

    Args:
        image: uint8 H x W x 3, as `load_image` returns it.
        max_side: the longest side allowed.

    Returns:
        The image itself when it fits, else a Lanczos-shrunk uint8 copy; applying it twice
        changes nothing.
    """
    height, width = image.shape[:2]
    if max(height, width) <= max_side:
        return image
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


MIN_SIDE = 64
"""Shortest side, in pixels, of a photo any tab judges. Blown up to the 224-256 pixels the
models read, a thumbnail is mostly interpolation, and a single pixel would be judged as a
flawless photo; so smaller photos are refused, in every tab, with one line."""

MAX_ASPECT_RATIO = 3.0
"""Longest side / shortest side of the part of a photo a tab judges. Every model reads a
square-ish view (CLIP a 224 centre crop, MediaPipe a 256 letterbox, the quality CNN five square
crops), so a 4000 x 500 strip is not judged whole by any of them: it is squeezed, letterboxed
to a sliver or sampled in five spots, and its score belongs to no photo in it. Photos up to
3:1 (every phone panorama mode's default crop is wider, Instagram's own limits are 1.91:1 and
4:5) are judged whole; a longer strip is judged on its central 3:1 part, and the result says
so. Cropping rather than refusing keeps a panorama usable; the centre is kept because it is
where a photographer puts the subject more often than at either end."""


@dataclass(frozen=True)
class PreparedPhoto:
    """A photo as every tab judges it, with what was done to get there (`prepare_photo`).

    Attributes:
        image: uint8 H x W x 3, at most MAX_SIDE a side and MAX_ASPECT_RATIO long; tasks judge
            its `judged_copy`.
        uploaded_size: (width, height) of the upright upload before any crop or shrink (shrunk
            sizes for photos over MAX_SIDE keep their ratio, which is all the notes use).
        cropped: only the central MAX_ASPECT_RATIO part of a longer strip is kept.
        transparent: some pixels were transparent and were filled with white.
    """

    image: np.ndarray
    uploaded_size: tuple[int, int]
    cropped: bool = False
    transparent: bool = False

    def notes(self, subject: str = "The photo") -> tuple[str, ...]:
        """Plain-words sentences on what was done to the photo, naming it `subject`."""
        notes = []
        if self.cropped:
            width, height = self.uploaded_size
            ratio = max(width, height) / min(width, height)
            shape = "wide as it is tall" if width > height else "tall as it is wide"
            notes.append(f"{subject} is {ratio:.1f} times as {shape}; InstaVis judges at most "
                         f"{MAX_ASPECT_RATIO:g}:1, so only its central "
                         f"{MAX_ASPECT_RATIO:g}:1 part was judged (shown in the results).")
        if self.transparent:
            notes.append(f"{subject} has transparent areas; they were judged as white, as a "
                         "white page shows them (white counts as bright highlights).")
        return tuple(notes)


def prepare_photo(source: ImageSource | PreparedPhoto | None) -> PreparedPhoto:
    """Load a photo under the odd-photo policy every tab applies (docs/CONTRACTS.md).

    `load_image`'s checks, then: a photo under MIN_SIDE on its shorter side is refused; one
    longer than MAX_ASPECT_RATIO is cut to its central part before it is shrunk; transparency
    is filled with white, and the result records both so the tab can say so.

    Args:
        source: anything `load_image` takes, or a PreparedPhoto (returned as it is, so tasks can
            take either and a tab's upload is prepared once).

    Raises:
        InvalidImage: unreadable (see `load_image`), or too small to judge.
    """
    if isinstance(source, PreparedPhoto):
        return source
    decoded = _load(source, MAX_ASPECT_RATIO)
    width, height = decoded.uncropped_size
    if min(width, height) < MIN_SIDE:
        raise InvalidImage(f"The photo is {width} x {height} pixels; InstaVis judges photos "
                           f"with at least {MIN_SIDE} pixels on each side.")
    cropped = central_box(width, height, MAX_ASPECT_RATIO) != (0, 0, width, height)
    return PreparedPhoto(decoded.pixels, decoded.uncropped_size, cropped, decoded.transparent)


def _load_from_path(path: str, max_aspect_ratio: float | None) -> _Decoded:
    """Open a file on disk, refusing missing, empty or unreadable files clearly."""
    if not path:
        raise InvalidImage("No image was given.")
    # os.path.* rather than pathlib: these return False instead of raising
    # on odd names (such as ones containing a NUL byte).
    if not os.path.exists(path):
        raise InvalidImage(f"No file at {path!r}.")
    if os.path.isdir(path):
        raise InvalidImage(f"{path!r} is a folder, not an image file.")
    try:
        with open(path, "rb") as stream:
            if os.fstat(stream.fileno()).st_size == 0:
                raise InvalidImage("The file is empty.")
            return _open_and_decode(stream, max_aspect_ratio)
    except OSError as exc:
        # Only failures of open() itself get here: decoding errors have
        # already been turned into InvalidImage, which is not an OSError.
        raise InvalidImage(f"Could not read {path!r} ({exc.strerror or exc}).") from exc


def _read_stream(stream: IO[bytes]) -> bytes:
    """Read a whole file-like object, insisting that it yields bytes."""
    try:
        data = stream.read()
    except OSError as exc:
        raise InvalidImage("The upload could not be read.") from exc
    if isinstance(data, str):
        raise TypeError("load_image() needs a file opened in binary mode ('rb'), not text mode.")
    return bytes(data)


def _open_and_decode(stream: IO[bytes], max_aspect_ratio: float | None) -> _Decoded:
    """Identify and decode an encoded image held in a binary stream."""
    with _refuse_unusable_images():
        with Image.open(stream, formats=_openable_formats()) as image:
            _check_dimensions(*image.size)
            _check_full_size_decode(image)
            # Only the header has been read. A large photo waits for the large-photo turn
            # before it takes a decoding slot, so it never holds a slot a small one could use.
            large = _decodes_large(image)
            with _LARGE_DECODES if large else contextlib.nullcontext(), _DECODE_SLOTS:
                return _decode(image, may_mutate=True, max_aspect_ratio=max_aspect_ratio)


def _decodes_large(image: Image.Image) -> bool:
    """Whether decoding this opened (header-only) photo takes the one-at-a-time turn: over
    LARGE_DECODE_PIXELS, or decoded whole and over LARGE_FULL_DECODE_PIXELS."""
    pixels = image.width * image.height
    if image.format not in _SCALED_DECODE_FORMATS and pixels > LARGE_FULL_DECODE_PIXELS:
        return True
    return pixels > LARGE_DECODE_PIXELS


def _openable_formats() -> list[str]:
    """Return the allowed photo formats that this Pillow build can open."""
    # Image.open raises KeyError for a format name it does not know, and
    # which plugins exist depends on how Pillow was built. init() only does
    # real work the first time it is called.
    Image.init()
    return [name for name in _PHOTO_FORMATS if name in Image.OPEN]


@contextlib.contextmanager
def _refuse_unusable_images() -> Iterator[None]:
    """Turn every failure to read or decode an image into InvalidImage.

    Pillow reports problems through many exception types (OSError,
    SyntaxError, ValueError, struct.error, EOFError, ...) and, for very
    large images, through a *warning*. None of that should reach the user as
    a traceback, so everything is mapped onto a one-line reason; the original
    exception is kept as ``__cause__`` for logs.
    """
    with warnings.catch_warnings():
        # Pillow only warns (rather than raises) between ~89 and ~179
        # megapixels. Promote that warning so it is refused like every other
        # oversized image. The filter list is process-wide on Python 3.11;
        # the worst a concurrent call can do is leave this one filter in
        # place, which only makes Pillow stricter about images we reject.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        except InvalidImage:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise InvalidImage(_reason_for_bomb(exc)) from exc
        except Image.UnidentifiedImageError as exc:
            raise InvalidImage(_NOT_AN_IMAGE) from exc
        except MemoryError as exc:
            raise InvalidImage("The image is too large to decode.") from exc
        except Exception as exc:
            raise InvalidImage(_DAMAGED) from exc


def _reason_for_bomb(exc: Exception) -> str:
    """Explain a Pillow decompression-bomb refusal in our own terms."""
    # Pillow reports only the total pixel count, e.g.
    # "Image size (200000000 pixels) exceeds limit of ...".
    match = re.search(r"\((\d+) pixels\)", str(exc))
    if match is None:
        return f"The image is larger than the {MAX_MEGAPIXELS} megapixel limit."
    megapixels = _megapixels_for_display(int(match.group(1)))
    return f"The image has {megapixels} megapixels; the limit is {MAX_MEGAPIXELS} megapixels."


def _megapixels_for_display(pixels: int) -> str:
    """Format a pixel count as megapixels with one decimal, rounded up.

    Rounding up keeps the message honest right at the limit: 50,000,001
    pixels shows as 50.1 rather than the contradictory "50.0 > 50".
    """
    return f"{math.ceil(pixels / 100_000) / 10:.1f}"


def _check_dimensions(width: int, height: int) -> None:
    """Refuse empty images and ones over the megapixel limit."""
    if width <= 0 or height <= 0:
        raise InvalidImage("The image has no pixels.")
    pixels = width * height
    if pixels > _MAX_PIXELS:
        raise InvalidImage(
            f"The image is {width} x {height} ({_megapixels_for_display(pixels)} megapixels); "
            f"the limit is {MAX_MEGAPIXELS} megapixels."
        )


def _check_full_size_decode(image: Image.Image) -> None:
    """Refuse a file that would be decoded whole (any format but JPEG) over its own limit."""
    pixels = image.width * image.height
    if image.format not in _SCALED_DECODE_FORMATS and pixels > _MAX_PIXELS_NOT_JPEG:
        raise InvalidImage(
            f"The {image.format or 'image'} is {image.width} x {image.height} "
            f"({_megapixels_for_display(pixels)} megapixels); the limit is "
            f"{MAX_MEGAPIXELS_NOT_JPEG} megapixels except for JPEG ({MAX_MEGAPIXELS}): save it "
            f"as JPEG or make it smaller.")


def _decode(image: Image.Image, *, may_mutate: bool,
            max_aspect_ratio: float | None = None) -> _Decoded:
    """Run a (possibly still lazy) PIL image through the normalisation steps.

    Args:
        image: The image; for files it has been opened but not yet decoded.
        may_mutate: Whether ``image`` belongs to us. Only then is it asked to
            decode at reduced size (``draft``), which changes it in place.
        max_aspect_ratio: Keep only the central part of a longer strip (`central_box`),
            cut before the shrink to MAX_SIDE so the part keeps its resolution.

    Returns:
        The final RGB array (see :func:`load_image`) and what was done to it.
    """
    # Animations: only the first frame is meaningful for a single prediction.
    if image.tell() != 0:
        image.seek(0)

    # Pillow's open() has read only the header at this point, so this refuses
    # a huge image before any memory is spent on its pixels.
    _check_dimensions(*image.size)

    if may_mutate:
        # JPEG can decode at 1/2, 1/4 or 1/8 scale almost for free; ask for
        # the smallest such scale that is still at least the final size.
        # Orientation does not matter here because only the ratio is used.
        # A strip that will be cut needs only enough pixels for its kept part.
        width, height = image.size
        kept = central_box(width, height, max_aspect_ratio)
        kept_width, kept_height = kept[2] - kept[0], kept[3] - kept[1]
        scale = _fitted_size(kept_width, kept_height)[0] / kept_width
        target = (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale)))
        if target != image.size:
            image.draft(None, target)

    # Decode now, inside the error translation, so that truncation surfaces
    # as InvalidImage rather than later in some unrelated call.
    image.load()
    if max(image.size) > MAX_SIDE:
        return _shrink_in_strips(image, max_aspect_ratio)

    upright = _apply_exif_orientation(image)
    rgb, transparent = _to_rgb(upright)
    uncropped_size = rgb.size
    box = central_box(*rgb.size, max_aspect_ratio)
    if box != (0, 0, *rgb.size):
        rgb = rgb.crop(box)
    target = _fitted_size(*rgb.size)
    if target != rgb.size:
        rgb = rgb.resize(target, Image.Resampling.LANCZOS)

    # np.asarray() on a PIL image is read-only; np.array() gives callers a
    # private, writable copy.
    return _Decoded(np.ascontiguousarray(np.array(rgb, dtype=np.uint8)), transparent,
                    uncropped_size)


# EXIF orientation values (2-8) and the transpose that makes each photo upright.
_UPRIGHT_BY_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90,
}
_SWAPS_SIDES = frozenset({5, 6, 7, 8})

SHRINK_STRIP_ROWS = 128
"""Rows of a large decoded photo converted and resized at a time (`_shrink_in_strips`)."""


def _shrink_in_strips(image: Image.Image, max_aspect_ratio: float | None) -> _Decoded:
    """`_decode`'s steps for a decoded photo that must be shrunk (a side over MAX_SIDE), in
    little more memory than its pixels take.

    Done on the whole picture, each step copies it: turning it upright, converting it to RGB,
    compositing transparency on white (three copies at four bytes a pixel), cutting the kept
    part. A 50-megapixel PNG with transparency takes 1.1 GiB that way. Lanczos resizing is
    separable, and Pillow itself resizes rows first and columns second, so here the kept part
    goes through in strips of SHRINK_STRIP_ROWS rows: each strip is converted to RGB and
    resized to the final width (the row pass, which needs nothing from other rows), into a
    picture of the final width and the full height; one column pass then gives the final size,
    and the small result is turned upright (Lanczos is symmetric, so turning last gives the
    same pixels). No full-size copy is made. The pixels differ from the whole-picture steps
    only by rounding, and by at most one pixel in where a centred cut starts: it is made in
    the stored orientation."""
    orientation = image.getexif().get(0x0112, 1)  # the EXIF "Orientation" tag
    upright_turn = _UPRIGHT_BY_ORIENTATION.get(orientation)
    width, height = image.size
    uncropped_size = (height, width) if orientation in _SWAPS_SIDES else (width, height)
    left, top, right, bottom = central_box(width, height, max_aspect_ratio)
    final_width, final_height = _fitted_size(right - left, bottom - top)

    rows_resized = Image.new("RGB", (final_width, bottom - top))
    transparent = False
    for strip_top in range(top, bottom, SHRINK_STRIP_ROWS):
        strip_bottom = min(bottom, strip_top + SHRINK_STRIP_ROWS)
        rgb, strip_transparent = _to_rgb(image.crop((left, strip_top, right, strip_bottom)))
        transparent |= strip_transparent
        rows_resized.paste(rgb.resize((final_width, strip_bottom - strip_top),
                                      Image.Resampling.LANCZOS), (0, strip_top - top))
    shrunk = rows_resized.resize((final_width, final_height), Image.Resampling.LANCZOS)
    if upright_turn is not None:
        shrunk = shrunk.transpose(upright_turn)
    return _Decoded(np.ascontiguousarray(np.array(shrunk, dtype=np.uint8)), transparent,
                    uncropped_size)


def central_box(width: int, height: int,
                max_aspect_ratio: float | None = None) -> tuple[int, int, int, int]:
    """The central part of a photo whose long side is at most `max_aspect_ratio` times its
    short side, as a PIL box (left, top, right, bottom); the whole photo when it fits or when
    `max_aspect_ratio` is None."""
    if max_aspect_ratio is None:
        return 0, 0, width, height
    if width > height * max_aspect_ratio:
        kept = max(1, math.floor(height * max_aspect_ratio))
        left = (width - kept) // 2
        return left, 0, left + kept, height
    if height > width * max_aspect_ratio:
        kept = max(1, math.floor(width * max_aspect_ratio))
        top = (height - kept) // 2
        return 0, top, width, top + kept
    return 0, 0, width, height


def _apply_exif_orientation(image: Image.Image) -> Image.Image:
    """Rotate/flip the image as its EXIF orientation tag says, if it has one."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        # A malformed EXIF block is common in edited photos and says nothing
        # about the pixels, which have already decoded fine. Showing the
        # picture un-rotated beats refusing it.
        return image


def _fitted_size(width: int, height: int) -> tuple[int, int]:
    """Return (width, height) shrunk so the longest side is at most MAX_SIDE."""
    longest = max(width, height)
    if longest <= MAX_SIDE:
        return width, height
    scale = MAX_SIDE / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def _to_rgb(image: Image.Image) -> tuple[Image.Image, bool]:
    """Convert any Pillow mode to 8-bit RGB, compositing transparency on white.

    Returns:
        The RGB image, and whether any pixel was less than fully opaque.
    """
    if image.mode == "RGB" and "transparency" not in image.info:
        return image, False

    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        # Pillow's own conversions clip 16-bit values to 255 and truncate
        # floats, so high-bit-depth greyscale is rescaled here instead.
        image = Image.fromarray(_high_bit_depth_to_uint8(image))

    try:
        if image.mode in _MODES_WITH_ALPHA or "transparency" in image.info:
            # Transparent pixels usually store black; on white they read as
            # the background a viewer would show, instead of a black blob.
            if image.mode == "La":
                # Premultiplied LA cannot go straight to RGBA in Pillow.
                image = image.convert("LA")
            rgba = image.convert("RGBA")
            # Many PNGs carry an alpha channel that is opaque everywhere: nothing to mention.
            transparent = rgba.getextrema()[3][0] < 255
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, rgba).convert("RGB"), transparent
        return image.convert("RGB"), False
    except ValueError as exc:  # a mode Pillow has no conversion path for
        raise InvalidImage(f"Images in the {image.mode} colour mode are not supported.") from exc


def _high_bit_depth_to_uint8(image: Image.Image) -> np.ndarray:
    """Map 16/32-bit integer or float greyscale pixels onto 0..255.

    Integer modes are taken to hold 16-bit samples (what PNG and TIFF store),
    so the top byte is kept: 65535 -> 255, 32768 -> 128. Float ("F") images
    follow Pillow's convention of 0..255 and are clipped and rounded.
    """
    values = np.array(image)
    if image.mode == "F":
        if not np.isfinite(values).all():
            raise InvalidImage("The image contains invalid (NaN or infinite) pixel values.")
        return np.rint(np.clip(values, 0.0, 255.0)).astype(np.uint8)
    return (np.clip(values, 0, 65535) >> 8).astype(np.uint8)


def _image_from_array(array: np.ndarray) -> Image.Image:
    """Wrap a numpy image in a PIL image (L, RGB or RGBA) after validating it."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise InvalidImage(
            f"The array has shape {array.shape}; expected H x W, or H x W x 1, 3 or 4 channels."
        )
    height, width = array.shape[:2]
    _check_dimensions(width, height)
    return Image.fromarray(np.ascontiguousarray(_array_to_uint8(array)))


def _array_to_uint8(array: np.ndarray) -> np.ndarray:
    """Convert the supported array dtypes to uint8 without clipping real data."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if array.dtype == np.uint16:
        return (array >> 8).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise InvalidImage("The image contains invalid (NaN or infinite) pixel values.")
        return np.rint(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    raise InvalidImage(
        f"Arrays of type {array.dtype} are not supported; "
        "use uint8, uint16, bool, or float with values in [0, 1]."
    )
