"""Thumbnails the store keeps: small, re-encoded, and carrying nothing but pixels.

`make_thumbnail(image)` returns JPEG bytes at most `MAX_SIDE` (160) pixels on the longest side.
The pixels are copied into a new image before encoding, so EXIF (GPS included), XMP, ICC
profiles, comments and any other metadata of the upload are gone, whatever format it came in.
EXIF orientation is applied first, so the thumbnail stands the way the photo was shown.
`clean_picture(image, field=..., max_side=...)` and `encode_jpeg` are the same two steps for a
picture of any size (the gallery keeps photos at 1024 pixels and a grid thumbnail of its own).

It accepts what a tab has at hand: encoded image bytes (JPEG, PNG, WebP, GIF, BMP, TIFF), a PIL
image, or a uint8 array (H x W, H x W x 3 or H x W x 4). It takes no file path: the store never
opens files on the caller's behalf. Anything else, a non-image, a truncated file or a picture
over 50 megapixels (a decompression bomb), raises `InvalidEntry` for the field `thumbnail` (or
the field the caller names), before any pixel is decoded where the header tells the size.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from store.errors import InvalidEntry

MAX_SIDE = 160
MAX_PIXELS = 50_000_000
JPEG_QUALITY = 85
# Formats a photo comes in. Others Pillow could open (EPS goes through Ghostscript) are refused.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
ACCEPTS = ("image bytes (JPEG, PNG, WebP, GIF, BMP or TIFF), a PIL image or a uint8 array "
           "(H x W, H x W x 3 or H x W x 4), at most 50 megapixels")


def _refuse(value: object, why: str, field: str = "thumbnail") -> InvalidEntry:
    return InvalidEntry(field, value, ACCEPTS, described=why)


def _open_bytes(data: bytes, field: str = "thumbnail", draft_side: int = MAX_SIDE * 2
                ) -> Image.Image:
    if not data:
        raise _refuse(data, "empty bytes", field)
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 89 and 179 megapixels; here that is a refusal.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
            if image.width * image.height > MAX_PIXELS:
                raise _refuse(data, f"a {image.width} x {image.height} image", field)
            # Decode JPEGs at a reduced scale straight away: a 24-megapixel photo becomes a
            # thumbnail without ever being held in memory at full size.
            image.draft("RGB", (draft_side, draft_side))
            image.load()
    except InvalidEntry:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _refuse(data, "an image too large to decode safely", field) from None
    except UnidentifiedImageError:
        raise _refuse(data, f"{len(data)} bytes that are not an image", field) from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        reason = (str(error).splitlines() or [type(error).__name__])[0][:60]
        raise _refuse(data, f"a damaged image ({reason})", field) from None
    return image


def _from_array(array: np.ndarray, field: str = "thumbnail") -> Image.Image:
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (
            array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise _refuse(array, f"an array of {array.dtype}, shape {array.shape}", field)
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise _refuse(array, f"an empty array, shape {array.shape}", field)
    if array.shape[0] * array.shape[1] > MAX_PIXELS:
        raise _refuse(array, f"a {array.shape[1]} x {array.shape[0]} array", field)
    return Image.fromarray(np.ascontiguousarray(array))


def _upright_rgb(picture: Image.Image) -> Image.Image:
    """The picture turned by its EXIF orientation, in RGB, transparency flattened on white."""
    try:
        picture = ImageOps.exif_transpose(picture)
    except Exception:
        pass  # a broken orientation tag costs the rotation, not the share
    if picture.mode in ("RGBA", "LA", "PA") or (
            picture.mode == "P" and "transparency" in picture.info):
        rgba = picture.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return picture.convert("RGB")


def clean_picture(image: bytes | Image.Image | np.ndarray, *, field: str = "thumbnail",
                  max_side: int = MAX_SIDE) -> Image.Image:
    """A new RGB image of `image`'s pixels only: turned by its EXIF orientation, transparency
    flattened on white, shrunk (LANCZOS) to at most `max_side` on its longest side.

    Nothing of the source's metadata rides along: the result is built from raw pixel bytes.

    Raises:
        InvalidEntry: for `field`, when `image` is not an acceptable picture (see the module
            docstring).
    """
    if isinstance(image, bytes | bytearray | memoryview):
        picture = _open_bytes(bytes(image), field, max_side * 2)
    elif isinstance(image, Image.Image):
        if image.width * image.height > MAX_PIXELS:
            raise _refuse(image, f"a {image.width} x {image.height} image", field)
        if image.width == 0 or image.height == 0:
            raise _refuse(image, "an empty image", field)
        picture = image
    elif isinstance(image, np.ndarray):
        picture = _from_array(image, field)
    else:
        raise _refuse(image, f"a {type(image).__name__}", field)

    try:
        flat = _upright_rgb(picture)
    except (OSError, ValueError, SyntaxError) as error:  # a lazily opened PIL image, damaged
        reason = (str(error).splitlines() or [type(error).__name__])[0][:60]
        raise _refuse(image, f"a damaged image ({reason})", field) from None
    flat.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)

    # A new image holds the pixels only: nothing from the source's .info (EXIF, GPS, XMP, ICC,
    # comments) can ride along into the encoder.
    return Image.frombytes("RGB", flat.size, flat.tobytes())


def encode_jpeg(picture: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
    """JPEG bytes of an RGB picture, with no metadata of any kind.

    Only the pixels are passed on (a fresh image, no `exif`, `icc_profile` or `comment`
    argument), so even a picture carrying `.info` is written clean.
    """
    clean = Image.frombytes("RGB", picture.size, picture.convert("RGB").tobytes())
    out = io.BytesIO()
    clean.save(out, format="JPEG", quality=quality, optimize=True)
    return out.getvalue()


def make_thumbnail(image: bytes | Image.Image | np.ndarray) -> bytes:
    """JPEG bytes of `image` at most 160 px on its longest side, with no metadata.

    Raises:
        InvalidEntry: `image` is not an acceptable picture (see the module docstring).
    """
    return encode_jpeg(clean_picture(image, field="thumbnail", max_side=MAX_SIDE), JPEG_QUALITY)
