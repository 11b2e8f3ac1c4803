"""Behaviour of models.images.load_image on real files and in-memory inputs.

Every fixture file is written to disk with Pillow (or by hand, byte by byte,
where Pillow refuses to produce something broken) and then loaded through the
public API; the assertions are about the pixels that come out.
"""

import io
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.images import MAX_MEGAPIXELS, MAX_SIDE, InvalidImage, load_image

RED = (220, 20, 20)
GREEN = (20, 200, 20)
BLUE = (20, 20, 220)
WHITE = (255, 255, 255)

# JPEG is lossy (and subsamples colour), so colours are only compared loosely.
JPEG_TOLERANCE = 30


def assert_valid_output(array: np.ndarray) -> None:
    """Check the output contract that every successful load must meet."""
    assert isinstance(array, np.ndarray)
    assert array.dtype == np.uint8
    assert array.ndim == 3 and array.shape[2] == 3
    assert array.flags.c_contiguous
    assert array.flags.writeable
    assert max(array.shape[:2]) <= MAX_SIDE


def assert_colour(pixel: np.ndarray, expected: tuple[int, int, int], tolerance: int = 0) -> None:
    """Assert that an RGB pixel is within ``tolerance`` of ``expected`` per channel."""
    difference = np.abs(pixel.astype(int) - np.array(expected))
    assert difference.max() <= tolerance, f"pixel {pixel.tolist()} is not close to {expected}"


def assert_refused(source: object, reason_pattern: str) -> InvalidImage:
    """Assert that loading ``source`` fails with a one-line, specific reason."""
    with pytest.raises(InvalidImage) as caught:
        load_image(source)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    assert re.search(reason_pattern, message, flags=re.IGNORECASE), message
    return caught.value


def quadrant_image(width: int = 40, height: int = 20) -> Image.Image:
    """An asymmetric test card: red top-left quadrant, blue everywhere else."""
    image = Image.new("RGB", (width, height), BLUE)
    image.paste(RED, (0, 0, width // 2, height // 2))
    return image


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """Encode one PNG chunk: length, type, payload and CRC over type + payload."""
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_claiming_size(width: int, height: int) -> bytes:
    """A syntactically valid PNG whose header claims width x height RGB pixels.

    The image data is a single tiny compressed row, so actually decoding it
    would fail as truncated; only a loader that trusts the header and stops
    there reports the size problem.
    """
    signature = b"\x89PNG\r\n\x1a\n"
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    one_row = zlib.compress(b"\x00" + b"\x00" * 3 * 16)
    return (
        signature
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", one_row)
        + png_chunk(b"IEND", b"")
    )


def jpeg_bytes(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


# --------------------------------------------------------------------------
# Formats and colour modes read from real files
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("orientation", "expected_shape", "red_at", "blue_at"),
    [
        # 3 = rotate 180: the red top-left quadrant ends up bottom-right.
        (3, (20, 40, 3), [(15, 30)], [(5, 10), (15, 10), (5, 30)]),
        # 6 = rotate 90 clockwise: 40 wide x 20 tall becomes 20 wide x 40
        # tall and the red top-left quadrant moves to the top-right.
        (6, (40, 20, 3), [(10, 15)], [(10, 5), (30, 5), (30, 15)]),
        # 8 = rotate 90 counter-clockwise: red moves to the bottom-left.
        (8, (40, 20, 3), [(30, 5)], [(10, 5), (10, 15), (30, 15)]),
    ],
)
def test_jpeg_exif_orientation_is_applied(
    tmp_path: Path,
    orientation: int,
    expected_shape: tuple[int, int, int],
    red_at: list[tuple[int, int]],
    blue_at: list[tuple[int, int]],
) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation  # the EXIF "Orientation" tag
    path = tmp_path / "rotated.jpg"
    quadrant_image().save(path, quality=95, subsampling=0, exif=exif)

    array = load_image(path)

    assert_valid_output(array)
    assert array.shape == expected_shape
    for row, column in red_at:
        assert_colour(array[row, column], RED, JPEG_TOLERANCE)
    for row, column in blue_at:
        assert_colour(array[row, column], BLUE, JPEG_TOLERANCE)


def test_rgba_png_transparency_becomes_white(tmp_path: Path) -> None:
    image = Image.new("RGBA", (30, 10), (0, 0, 0, 0))  # fully transparent *black*
    image.paste((0, 200, 0, 255), (10, 0, 20, 10))  # opaque green in the middle
    image.paste((255, 0, 0, 128), (20, 0, 30, 10))  # half-transparent red on the right
    path = tmp_path / "transparent.png"
    image.save(path)

    array = load_image(path)

    assert_valid_output(array)
    assert_colour(array[5, 5], WHITE)
    assert_colour(array[5, 15], (0, 200, 0))
    # Half-covered red over white: red stays full, the others land halfway.
    assert_colour(array[5, 25], (255, 127, 127), tolerance=2)


def test_palette_png_with_transparent_index_becomes_white(tmp_path: Path) -> None:
    image = Image.new("P", (10, 10), 0)
    image.putpalette([0, 0, 0, *BLUE] + [0] * (256 - 2) * 3)
    image.paste(1, (5, 0, 10, 10))
    path = tmp_path / "palette.png"
    image.save(path, transparency=0)  # palette index 0 (black) is see-through

    array = load_image(path)

    assert_colour(array[5, 2], WHITE)
    assert_colour(array[5, 7], BLUE)


def test_greyscale_and_alpha_png_is_composited_on_white(tmp_path: Path) -> None:
    image = Image.new("LA", (10, 10), (0, 0))  # black and fully transparent
    image.paste((90, 255), (5, 0, 10, 10))
    path = tmp_path / "grey_alpha.png"
    image.save(path)

    array = load_image(path)

    assert_colour(array[5, 2], WHITE)
    assert_colour(array[5, 7], (90, 90, 90))


def test_animated_gif_returns_the_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (12, 12), colour) for colour in (RED, GREEN, BLUE)]
    path = tmp_path / "animated.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(path) as written:
        assert written.mode == "P" and written.n_frames == 3  # really animated

    array = load_image(path)

    assert array.shape == (12, 12, 3)
    # GIF palettes are exact for three colours, so no tolerance is needed.
    assert_colour(array[6, 6], RED)


def test_pil_image_left_on_a_later_frame_still_gives_the_first(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in (RED, GREEN)]
    path = tmp_path / "animated.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])

    with Image.open(path) as animation:
        animation.seek(1)
        array = load_image(animation)

    assert_colour(array[4, 4], RED)


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 255, 256, 32768, 65280, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    with Image.open(path) as written:
        assert written.mode == "I;16"  # the mode this test is about

    array = load_image(path)

    # Clipping would turn 255, 256 and 32768 all into 255.
    assert array[0, :, 0].tolist() == [0, 0, 1, 128, 255, 255]
    assert (array[..., 0] == array[..., 1]).all() and (array[..., 1] == array[..., 2]).all()


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path: Path) -> None:
    image = Image.new("CMYK", (32, 16), (255, 0, 0, 0))  # pure cyan
    image.paste((0, 255, 0, 0), (16, 0, 32, 16))  # pure magenta
    path = tmp_path / "print.jpg"
    image.save(path, quality=95)
    with Image.open(path) as written:
        assert written.mode == "CMYK"

    array = load_image(path)

    assert_valid_output(array)
    assert_colour(array[8, 4], (0, 255, 255), JPEG_TOLERANCE)
    assert_colour(array[8, 28], (255, 0, 255), JPEG_TOLERANCE)


def test_greyscale_png_gives_three_equal_channels(tmp_path: Path) -> None:
    path = tmp_path / "grey.png"
    Image.new("L", (7, 5), 77).save(path)

    array = load_image(path)

    assert array.shape == (5, 7, 3)
    assert (array == 77).all()


def test_one_bit_png_gives_black_and_white(tmp_path: Path) -> None:
    image = Image.new("1", (8, 8), 0)
    image.paste(1, (4, 0, 8, 8))
    path = tmp_path / "bilevel.png"
    image.save(path)

    array = load_image(path)

    assert (array[:, :4] == 0).all() and (array[:, 4:] == 255).all()


def test_lossless_webp_keeps_exact_colours(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, size=(9, 13, 3), dtype=np.uint8)
    path = tmp_path / "exact.webp"
    Image.fromarray(pixels).save(path, lossless=True)

    array = load_image(path)

    np.testing.assert_array_equal(array, pixels)


def test_single_pixel_image(tmp_path: Path) -> None:
    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), GREEN).save(path)

    array = load_image(path)

    assert array.shape == (1, 1, 3)
    assert_colour(array[0, 0], GREEN)


def test_large_png_is_shrunk_to_max_side_keeping_aspect(tmp_path: Path) -> None:
    image = Image.new("RGB", (3000, 1000), RED)
    image.paste(BLUE, (1500, 0, 3000, 1000))
    path = tmp_path / "wide.png"
    image.save(path)

    array = load_image(path)

    assert array.shape == (683, 2048, 3)  # 1000 * 2048 / 3000 = 682.7
    assert_colour(array[340, 500], RED)
    assert_colour(array[340, 1500], BLUE)


def test_large_tall_jpeg_is_shrunk_to_max_side(tmp_path: Path) -> None:
    # Big enough that the JPEG can be decoded at reduced scale first.
    image = Image.new("RGB", (1200, 5000), RED)
    image.paste(BLUE, (0, 2500, 1200, 5000))
    path = tmp_path / "tall.jpg"
    image.save(path, quality=95)

    array = load_image(path)

    assert array.shape == (2048, 492, 3)  # 1200 * 2048 / 5000 = 491.5
    assert_colour(array[500, 246], RED, JPEG_TOLERANCE)
    assert_colour(array[1500, 246], BLUE, JPEG_TOLERANCE)


@pytest.mark.parametrize("size", [(2048, 10), (10, 2048), (300, 200)])
def test_images_within_the_limit_are_not_resized(tmp_path: Path, size: tuple[int, int]) -> None:
    path = tmp_path / "fits.png"
    Image.new("RGB", size, GREEN).save(path)

    array = load_image(path)

    assert array.shape == (size[1], size[0], 3)


# --------------------------------------------------------------------------
# Other ways of handing over an image
# --------------------------------------------------------------------------


def test_accepts_str_path(tmp_path: Path) -> None:
    path = tmp_path / "plain.png"
    Image.new("RGB", (4, 3), RED).save(path)

    array = load_image(str(path))

    assert array.shape == (3, 4, 3)
    assert_colour(array[1, 1], RED)


def test_accepts_bytes_and_bytearray() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), BLUE).save(buffer, "PNG")

    for data in (buffer.getvalue(), bytearray(buffer.getvalue())):
        array = load_image(data)
        assert array.shape == (3, 4, 3)
        assert_colour(array[1, 1], BLUE)


def test_accepts_binary_file_object(tmp_path: Path) -> None:
    path = tmp_path / "stream.png"
    Image.new("RGB", (4, 3), GREEN).save(path)

    with path.open("rb") as stream:
        array = load_image(stream)

    assert_colour(array[2, 3], GREEN)


def test_accepts_pil_image_without_changing_it() -> None:
    image = Image.new("RGBA", (5, 4), (0, 0, 0, 0))
    image.paste((*RED, 255), (0, 0, 2, 4))

    array = load_image(image)

    assert array.shape == (4, 5, 3)
    assert_colour(array[1, 0], RED)
    assert_colour(array[1, 4], WHITE)
    assert image.mode == "RGBA" and image.getpixel((4, 1)) == (0, 0, 0, 0)


def test_lazily_opened_pil_image_is_not_modified(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    Image.new("RGB", (5000, 1000), GREEN).save(path)

    with Image.open(path) as image:
        array = load_image(image)
        # Shrinking may decode our own files at reduced scale, but must not
        # do that to an image object the caller still holds.
        assert image.size == (5000, 1000)

    assert array.shape == (410, 2048, 3)
    assert_colour(array[200, 1000], GREEN, JPEG_TOLERANCE)


def test_accepts_uint8_greyscale_array() -> None:
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20

    array = load_image(pixels)

    assert array.shape == (3, 4, 3)
    for channel in range(3):
        np.testing.assert_array_equal(array[..., channel], pixels)


def test_accepts_single_channel_array() -> None:
    array = load_image(np.full((3, 4, 1), 200, dtype=np.uint8))

    assert array.shape == (3, 4, 3) and (array == 200).all()


def test_accepts_rgba_array_compositing_on_white() -> None:
    pixels = np.zeros((2, 2, 4), dtype=np.uint8)
    pixels[0, 0] = (*RED, 255)  # only this pixel is visible

    array = load_image(pixels)

    assert_colour(array[0, 0], RED)
    assert_colour(array[1, 1], WHITE)


def test_accepts_rgb_array_view_that_is_not_contiguous() -> None:
    bgr = np.zeros((2, 3, 3), dtype=np.uint8)
    bgr[..., 0] = 255  # blue in BGR order
    rgb_view = bgr[..., ::-1]

    array = load_image(rgb_view)

    assert_valid_output(array)
    assert_colour(array[0, 0], (0, 0, 255))


def test_accepts_float_array_in_unit_range() -> None:
    pixels = np.array([[[0.0, 0.5, 1.0], [1.0, 0.25, 0.0]]], dtype=np.float32)

    array = load_image(pixels)

    assert array.tolist() == [[[0, 128, 255], [255, 64, 0]]]


def test_accepts_bool_and_uint16_arrays() -> None:
    mask = np.array([[False, True]])
    deep = np.array([[255, 32768, 65535]], dtype=np.uint16)

    assert load_image(mask)[0, :, 0].tolist() == [0, 255]
    assert load_image(deep)[0, :, 0].tolist() == [0, 128, 255]


def test_large_array_is_shrunk() -> None:
    array = load_image(np.zeros((1000, 4096), dtype=np.uint8))

    assert array.shape == (500, 2048, 3)


def test_float_pil_image_follows_pillow_0_to_255_range() -> None:
    image = Image.fromarray(np.array([[0.0, 127.6, 300.0, -5.0]], dtype=np.float32))
    assert image.mode == "F"

    assert load_image(image)[0, :, 0].tolist() == [0, 128, 255, 0]


# --------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------


@pytest.mark.parametrize("error_type", [InvalidImage])
def test_invalid_image_is_a_value_error(error_type: type[Exception]) -> None:
    assert issubclass(error_type, ValueError)
    assert isinstance(error_type("The file is empty."), ValueError)


def test_invalid_image_message_is_forced_onto_one_line() -> None:
    assert str(InvalidImage("first line\nsecond line")) == "first line second line"


def test_truncated_jpeg_is_refused(tmp_path: Path) -> None:
    noise = np.random.default_rng(1).integers(0, 256, size=(200, 200, 3), dtype=np.uint8)
    data = jpeg_bytes(Image.fromarray(noise))
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])

    assert_refused(path, r"damaged|truncated")


def test_corrupt_png_body_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), RED).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    # Overwrite the middle of the file (the compressed pixels) with junk.
    middle = len(data) // 2
    data[middle : middle + 8] = b"\xff" * 8
    path = tmp_path / "corrupt.png"
    path.write_bytes(bytes(data))

    assert_refused(path, r"damaged|truncated")


def test_png_metadata_bomb_is_refused(tmp_path: Path) -> None:
    # A 2 KB text chunk that inflates to 2 MB: Pillow stops with a
    # ValueError (not an OSError) while merely opening the file.
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), RED).save(buffer, "PNG")
    data = buffer.getvalue()
    end_of_header = 8 + 25  # signature, then the 25-byte IHDR chunk
    text = png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"\x00" * 2 * 1024 * 1024))
    path = tmp_path / "text_bomb.png"
    path.write_bytes(data[:end_of_header] + text + data[end_of_header:])

    assert_refused(path, r"damaged|truncated")


def test_zero_byte_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")

    assert_refused(path, r"empty")


@pytest.mark.parametrize("source", [b"", bytearray(), io.BytesIO(b"")])
def test_empty_in_memory_input_is_refused(source: object) -> None:
    assert_refused(source, r"empty")


@pytest.mark.parametrize("source", [None, ""])
def test_no_input_is_refused(source: object) -> None:
    assert_refused(source, r"no image")


def test_text_file_named_jpg_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("These are my holiday notes, not a photo.\n" * 20)

    assert_refused(path, r"not an image")


def test_eps_is_refused_even_though_pillow_knows_it(tmp_path: Path) -> None:
    # Decoding EPS would run Ghostscript on an uploaded file.
    path = tmp_path / "drawing.eps"
    path.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")

    assert_refused(path, r"not an image")


def test_png_header_claiming_too_many_megapixels_is_refused_before_decoding(
    tmp_path: Path,
) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(png_claiming_size(10_000, 6_000))

    # Had the pixels been decoded, the one-row IDAT would be reported as
    # truncated; the size message proves only the header was read.
    error = assert_refused(path, r"megapixel")
    assert str(error) == (
        f"The image is 10000 x 6000 (60.0 megapixels); the limit is {MAX_MEGAPIXELS} megapixels."
    )


@pytest.mark.parametrize(
    "size",
    [
        (10_000, 10_000),  # Pillow only *warns* about this one ...
        (20_000, 10_000),  # ... and raises DecompressionBombError for this.
    ],
)
def test_pillow_decompression_bomb_checks_become_invalid_image(
    size: tuple[int, int], recwarn: pytest.WarningsRecorder
) -> None:
    error = assert_refused(png_claiming_size(*size), r"megapixel")

    assert "Decompression" not in str(error)
    leaked = [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]
    assert not leaked, "Pillow's DecompressionBombWarning reached the caller"


def test_a_format_decoded_whole_has_a_lower_limit_than_jpeg(tmp_path: Path) -> None:
    """A PNG is decoded at full size, a JPEG at a reduced scale: 13 megapixels are refused as
    PNG, before its pixels are read (the header claims them), and accepted as JPEG."""
    from models.images import MAX_MEGAPIXELS_NOT_JPEG

    assert MAX_MEGAPIXELS_NOT_JPEG < 13 <= MAX_MEGAPIXELS
    error = assert_refused(png_claiming_size(4_000, 3_250), r"megapixel")
    assert str(error) == (
        f"The PNG is 4000 x 3250 (13.0 megapixels); the limit is {MAX_MEGAPIXELS_NOT_JPEG} "
        f"megapixels except for JPEG ({MAX_MEGAPIXELS}): save it as JPEG or make it smaller.")
    path = tmp_path / "big.jpg"
    gradient = np.linspace(0, 255, 4_000).astype(np.uint8)
    Image.fromarray(np.stack([np.broadcast_to(gradient, (3_250, 4_000))] * 3, axis=-1)).save(
        path, quality=80)
    assert load_image(path).shape == (1664, 2048, 3)  # 3250 x 4000 fitted into 2048


def test_image_just_over_the_limit_does_not_claim_to_be_at_it() -> None:
    # 50,000,001 pixels must not be described as "50.0 megapixels".
    error = assert_refused(png_claiming_size(50_000_001, 1), r"megapixel")
    assert "50.1 megapixels" in str(error)


def test_array_over_the_limit_is_refused() -> None:
    too_big = np.broadcast_to(np.uint8(0), (10_001, 5_000))  # no real memory used

    assert_refused(too_big, r"megapixel")


def test_missing_path_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "not_here.jpg"

    error = assert_refused(missing, r"no file at")
    assert "not_here.jpg" in str(error)


def test_missing_path_with_newline_in_name_still_gives_one_line(tmp_path: Path) -> None:
    assert_refused(str(tmp_path / "two\nlines.jpg"), r"no file at")


def test_folder_is_refused(tmp_path: Path) -> None:
    assert_refused(tmp_path, r"folder")


@pytest.mark.parametrize(
    ("pixels", "reason"),
    [
        (np.zeros((0, 5, 3), dtype=np.uint8), r"no pixels"),
        (np.zeros((4, 4, 2), dtype=np.uint8), r"shape"),
        (np.zeros((2, 4, 4, 3), dtype=np.uint8), r"shape"),
        (np.zeros((4, 4, 3), dtype=np.int64), r"int64"),
        (np.full((4, 4), np.nan), r"NaN"),
    ],
)
def test_unusable_arrays_are_refused(pixels: np.ndarray, reason: str) -> None:
    assert_refused(pixels, reason)


def test_unsupported_python_type_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        load_image(12345)  # type: ignore[arg-type]


def test_photos_are_decoded_two_at_a_time_and_large_ones_one_at_a_time(tmp_path, monkeypatch):
    """Eight threads load photos at the same moment. However many requests bring one, at most
    DECODE_SLOTS (2) photos are being decoded at once, and of those at most one is large: over
    LARGE_DECODE_PIXELS, or decoded whole (not a JPEG) and over LARGE_FULL_DECODE_PIXELS (each
    holds its full pixels while it is decoded). The decoding is watched where it happens, in
    PIL's Image.load."""
    import threading
    import time

    import models.images as images

    assert images.DECODE_SLOTS == 2
    monkeypatch.setattr(images, "LARGE_DECODE_PIXELS", 200 * 200)
    monkeypatch.setattr(images, "LARGE_FULL_DECODE_PIXELS", 120 * 100)
    large, small = tmp_path / "large.png", tmp_path / "small.png"
    middle_png, middle_jpeg = tmp_path / "middle.png", tmp_path / "middle.jpg"
    Image.new("RGB", (400, 300), (10, 120, 200)).save(large)
    Image.new("RGB", (100, 80), (200, 20, 20)).save(small)
    # Under LARGE_DECODE_PIXELS, over LARGE_FULL_DECODE_PIXELS: large as a PNG, which is
    # decoded whole; not as a JPEG. (Each size is of one kind, for watched_load.)
    Image.new("RGB", (150, 100), (20, 200, 20)).save(middle_png)
    Image.new("RGB", (160, 100), (20, 200, 20)).save(middle_jpeg, quality=90)
    large_sizes = {(400, 300), (150, 100)}

    decoding, most = {"large": 0, "small": 0}, {"large": 0, "small": 0, "both": 0}
    lock = threading.Lock()
    original_load = Image.Image.load

    def watched_load(image):
        if not getattr(image, "tile", None):  # decoded already, or made in memory
            return original_load(image)
        kind = "large" if image.size in large_sizes else "small"
        with lock:
            decoding[kind] += 1
            most[kind] = max(most[kind], decoding[kind])
            most["both"] = max(most["both"], decoding["large"] + decoding["small"])
        try:
            time.sleep(0.2)  # long enough for every thread to get here if nothing held it
            return original_load(image)
        finally:
            with lock:
                decoding[kind] -= 1

    monkeypatch.setattr(Image.Image, "load", watched_load)

    def load_at_once(paths):
        """Every path loaded by a thread of its own, all released at the same moment."""
        start, shapes = threading.Barrier(len(paths)), []

        def load(path):
            start.wait()
            shapes.append(load_image(path).shape)

        threads = [threading.Thread(target=load, args=(path,)) for path in paths]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sorted(shapes)

    # Small photos alone: two decode together (each sleeps long enough for the others to
    # arrive), never more.
    assert load_at_once([small] * 8) == [(80, 100, 3)] * 8
    assert most == {"large": 0, "small": 2, "both": 2}
    # Large and small at once: one large at a time, two in all.
    assert load_at_once([large] * 4 + [small] * 4) == [(80, 100, 3)] * 4 + [(300, 400, 3)] * 4
    assert most["large"] == 1 and most["both"] == 2
    # A PNG under the pixel limit but over the whole-decode one waits its turn too; the JPEG of
    # the same size does not.
    for kind in most:
        most[kind] = 0
    assert load_at_once([middle_png] * 4) == [(100, 150, 3)] * 4
    assert most == {"large": 1, "small": 0, "both": 1}
    assert load_at_once([middle_jpeg] * 4) == [(100, 160, 3)] * 4
    assert most == {"large": 1, "small": 2, "both": 2}


# === Large photos: converted and resized strip by strip ===


def _photo(name: str) -> Image.Image:
    from skimage import data

    return Image.fromarray(getattr(data, name)()).convert("RGB")


def _as_expected(image: Image.Image, max_side: int) -> np.ndarray:
    """The whole-picture steps done directly in Pillow, independently of models.images: turn
    upright, composite on white, keep the central 3:1 part, Lanczos-shrink."""
    from PIL import ImageOps

    upright = ImageOps.exif_transpose(image)
    rgba = upright.convert("RGBA")
    white = Image.new("RGBA", rgba.size, WHITE + (255,))
    rgb = Image.alpha_composite(white, rgba).convert("RGB")
    width, height = rgb.size
    if width > 3 * height:
        kept = 3 * height
        rgb = rgb.crop(((width - kept) // 2, 0, (width - kept) // 2 + kept, height))
    elif height > 3 * width:
        kept = 3 * width
        rgb = rgb.crop((0, (height - kept) // 2, width, (height - kept) // 2 + kept))
    scale = max_side / max(rgb.size)
    size = (round(rgb.width * scale), round(rgb.height * scale))
    return np.asarray(rgb.resize(size, Image.Resampling.LANCZOS))


def _with_alpha_ramp(image: Image.Image) -> Image.Image:
    """Transparent on the left edge, opaque on the right."""
    rgba = np.array(image.convert("RGBA"))
    rgba[..., 3] = np.linspace(0, 255, rgba.shape[1]).astype(np.uint8)[None, :]
    return Image.fromarray(rgba)


def _strip_of(image: Image.Image) -> Image.Image:
    """Four copies side by side: a strip 4 times as wide as it is tall, or more."""
    strip = Image.new("RGB", (image.width * 4, image.height))
    for copy in range(4):
        strip.paste(image, (copy * image.width, 0))
    return strip


LARGE_CASES = {
    "astronaut, RGB": (lambda: _photo("astronaut"), None, False),
    "chelsea, transparent edge": (lambda: _with_alpha_ramp(_photo("chelsea")), None, True),
    "coffee, turned 90 degrees by EXIF": (lambda: _photo("coffee"), 6, False),
    "rocket, mirrored by EXIF": (lambda: _photo("rocket"), 2, False),
    "coffee, a wide strip": (lambda: _strip_of(_photo("coffee")), None, False),
    "chelsea, palette with a transparent colour": (
        lambda: _photo("chelsea").quantize(64), None, True),
}


@pytest.mark.parametrize("case", LARGE_CASES)
def test_large_photos_come_out_as_the_whole_picture_steps_give_them(case, tmp_path,
                                                                    monkeypatch):
    """A photo that must be shrunk (a side over MAX_SIDE) is converted and resized in strips
    instead of being copied whole at each step. The pixels, size, uploaded size and
    transparency must still be what the whole-picture steps give, worked out here with Pillow
    alone. MAX_SIDE is lowered so natural photos of a few hundred pixels take the strip path,
    and strips are 32 rows, so each photo has several."""
    import models.images as images
    from models.images import prepare_photo

    make, orientation, transparent = LARGE_CASES[case]
    monkeypatch.setattr(images, "MAX_SIDE", 100)
    monkeypatch.setattr(images, "SHRINK_STRIP_ROWS", 32)
    image = make()
    if image.mode == "P":  # one palette colour (the most common one) becomes see-through
        image.info["transparency"] = int(np.bincount(np.asarray(image).ravel()).argmax())
    path = tmp_path / "large.png"
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    image.save(path, exif=exif, transparency=image.info.get("transparency"))
    assert max(image.size) > 100
    with Image.open(path) as saved:
        expected = _as_expected(saved, max_side=100)
        stored_size = saved.size

    photo = prepare_photo(path)

    assert photo.image.shape == expected.shape
    difference = np.abs(photo.image.astype(int) - expected.astype(int))
    # Rounding apart, the same pixels (turning upright before or after the resize, and a
    # centred cut made in either orientation, move values by a level or two here and there).
    assert difference.mean() < 0.3, difference.mean()
    assert np.percentile(difference, 99) <= 1
    turned = orientation in (5, 6, 7, 8)
    assert photo.uploaded_size == (stored_size[::-1] if turned else stored_size)
    assert photo.transparent is transparent
    assert photo.cropped is (case == "coffee, a wide strip")


def test_a_large_transparent_png_is_decoded_in_little_more_than_its_pixels(tmp_path):
    """A PNG with transparency at the limit for formats other than JPEG (12 megapixels),
    decoded in a fresh process: its pixels take 48 MB (four bytes each); the whole-picture
    steps made three more copies of that size. The process's peak resident set may grow by less
    than two and a half times the pixels (the decoded pixels, then strips and the resized
    copies, which at this size are a fifth of the pixels)."""
    import subprocess
    import sys

    width, height = 4000, 3000
    rgba = np.zeros((height, width, 4), np.uint8)
    rgba[..., 0] = np.linspace(0, 255, width).astype(np.uint8)[None, :]
    rgba[..., 2] = np.linspace(0, 255, height).astype(np.uint8)[:, None]
    rgba[..., 3] = 128
    path = tmp_path / "big.png"
    Image.fromarray(rgba).save(path, compress_level=1)
    del rgba
    script = (
        "import sys\n"
        "from models.images import prepare_photo\n"
        "def status(key):\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith(key): return int(line.split()[1]) * 1024\n"
        "before = status('VmRSS')\n"
        "photo = prepare_photo(sys.argv[1])\n"
        "assert photo.transparent and photo.image.shape == (1536, 2048, 3), photo.image.shape\n"
        "print(status('VmHWM') - before)\n")
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", script, str(path)], cwd=root,
                            capture_output=True, text=True, check=True)
    added = int(result.stdout.split()[-1])
    assert added < 2.5 * width * height * 4, f"{added / 2**20:.0f} MiB"
