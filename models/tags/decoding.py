"""Decoding a photo file into the pixels a backbone sees, as TensorFlow ops.

Both of the bottleneck cache's batch producers run these ops: the local tf.data pipeline
(`models.tags.cache.local_batches`) and the Ray workers (`models.tags.ray_cache`). So a photo
decodes to the same pixels whichever path embeds it, and to the pixels `models.images.load_image`
gives: JPEG decoded exactly as Pillow decodes it, EXIF orientation applied as
`PIL.ImageOps.exif_transpose` applies it, then `square_resize` to the backbone's input.

Caveat: TensorFlow drops transparency rather than compositing it over white as `load_image`
does; MIRFLICKR-25K is all JPEG, where both agree exactly.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["decode_failure_reason", "decode_photo", "orient", "photo_pixels",
           "why_not_decodable"]


def decode_photo(data, orientation):
    """TensorFlow ops: encoded bytes -> upright (height, width, 3) uint8.

    JPEG is decoded with the accurate integer DCT, which gives exactly Pillow's pixels (so
    `load_image`'s); PNG, GIF (first frame) and BMP with `tf.io.decode_image`. `orientation`
    (EXIF, 1 to 8) is applied as `PIL.ImageOps.exif_transpose` applies it. Raises (at run time)
    on bytes that do not decode.
    """
    import tensorflow as tf

    image = tf.cond(
        tf.io.is_jpeg(data),
        lambda: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"),
        lambda: tf.ensure_shape(
            tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False),
            (None, None, 3)))
    return orient(image, orientation)


def orient(image, orientation):
    """TensorFlow ops: `image` turned upright as EXIF `orientation` (1 to 8) says, as
    `PIL.ImageOps.exif_transpose` does; any other value leaves it as it is."""
    import tensorflow as tf

    def transpose(x):
        return tf.transpose(x, (1, 0, 2))

    branches = [
        lambda: image,  # 1: upright
        lambda: tf.reverse(image, axis=[1]),  # 2: mirrored left-right
        lambda: tf.image.rot90(image, 2),  # 3: upside down
        lambda: tf.reverse(image, axis=[0]),  # 4: mirrored top-bottom
        lambda: transpose(image),  # 5: transposed
        lambda: tf.image.rot90(image, 3),  # 6: rotated: turn 90 degrees clockwise
        lambda: tf.image.rot90(transpose(image), 2),  # 7: transversed
        lambda: tf.image.rot90(image, 1),  # 8: turn 90 degrees counter-clockwise
    ]
    index = tf.cast(orientation, tf.int32) - 1
    index = tf.where((index >= 0) & (index < 8), index, 0)
    return tf.switch_case(index, branches)


def photo_pixels(path, orientation, size: int):
    """TensorFlow ops: a photo file -> the (size, size, 3) uint8 the backbone sees (read,
    `decode_photo`, `square_resize`). The tf.data pipeline and the Ray workers both run it."""
    import tensorflow as tf

    from models.tags.embedders import square_resize

    return square_resize(decode_photo(tf.io.read_file(path), orientation), size)


def why_not_decodable(path: Path, orientation: int, size: int) -> str:
    """The reason `photo_pixels` fails on a photo, in one line."""
    import tensorflow as tf

    try:
        photo_pixels(tf.constant(str(path)), tf.constant(orientation), size)
    except tf.errors.OpError as error:
        return decode_failure_reason(error)
    return "could not be decoded in the pipeline, though it decodes now; build again"


def decode_failure_reason(error) -> str:
    """TensorFlow's message without its op names: 'Unknown image file format. ...'."""
    text = " ".join(str(getattr(error, "message", None) or error).split())
    text = re.sub(r"\{\{[^}]*\}\}", "", text)  # {{function_node ...}}, {{node DecodeJpeg}}
    text = re.sub(r"\[\[\s*\]\]|\[Op:[^\]]*\]", "", text)
    return "cannot decode: " + (" ".join(text.split()) or type(error).__name__)
