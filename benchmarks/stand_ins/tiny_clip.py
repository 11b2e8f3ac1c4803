"""Build a tiny, deterministic CLIP preset from the real keras-hub classes.

The preset is written with the same ``save_to_preset`` calls that produce the
real checkpoints, so loading it exercises exactly the code path the app uses
(``CLIPBackbone.from_preset`` / ``CLIPPreprocessor.from_preset``) while being
small enough to build, save and load in a couple of seconds on CPU.

Sizes: 32x32 images split into 8x8 patches (a 4x4 grid), two transformer layers
of width 16 in each tower, 16-dimensional joint embedding and a byte-level BPE
vocabulary of a few hundred tokens.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

# Must be set before keras is imported anywhere in the test process.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

IMAGE_SIZE = 32
PATCH_SIZE = 8
PATCH_GRID = IMAGE_SIZE // PATCH_SIZE
HIDDEN_DIM = 16
PROJECTION_DIM = 16
SEQUENCE_LENGTH = 16
# Deliberately not the keras-hub initial value (1 / 0.07): tests can then tell
# whether the learned scale was actually read from the checkpoint.
LOGIT_SCALE = 30.0
SEED = 1234

# Words the tests use; each gets a chain of merges so it ends up as one token,
# like frequent words do in the real CLIP vocabulary.
_WORDS = (
    "a",
    "an",
    "the",
    "photo",
    "picture",
    "of",
    "cat",
    "dog",
    "beautiful",
    "ugly",
    "selfie",
    "food",
    "sunset",
    "person",
)

# OpenAI CLIP normalisation constants; the real presets store the same values.
_MEAN = (0.48145466, 0.4578275, 0.40821073)
_STD = (0.26862954, 0.26130258, 0.27577711)


def _byte_symbols() -> list[str]:
    """Return the 256 printable symbols byte-level BPE uses for raw bytes.

    Byte-level BPE (GPT-2 / CLIP) cannot put whitespace and control bytes in a
    vocabulary file, so every byte is mapped to a printable unicode character:
    printable Latin-1 bytes map to themselves, the rest are shifted above 255.
    The tokenizer inside keras-hub applies the same mapping, so the vocabulary
    must use it too.

    Returns:
        The symbol for byte 0..255, in byte order.
    """
    printable = set(range(ord("!"), ord("~") + 1))
    printable |= set(range(ord("\u00a1"), ord("\u00ac") + 1))
    printable |= set(range(ord("\u00ae"), ord("\u00ff") + 1))
    symbols = []
    shifted = 0
    for byte in range(256):
        if byte in printable:
            symbols.append(chr(byte))
        else:
            symbols.append(chr(256 + shifted))
            shifted += 1
    return symbols


def build_vocabulary() -> tuple[dict[str, int], list[str]]:
    """Build a small but complete CLIP-style BPE vocabulary and merge list.

    Every byte is present both as a word-internal symbol and as a word-final
    ``</w>`` symbol, so any text tokenizes without falling back to the unknown
    token (CLIP's unknown token is ``<|endoftext|>``, which would corrupt the
    end-of-text pooling). ``<|endoftext|>`` gets the largest id because
    ``CLIPTextPooler`` locates the end of the prompt with ``argmax(token_ids)``.

    Returns:
        ``(vocabulary, merges)`` in the format ``CLIPTokenizer`` accepts.
    """
    symbols = _byte_symbols()
    tokens = list(symbols) + [s + "</w>" for s in symbols]
    merges: list[str] = []
    known = set(tokens)
    for word in _WORDS:
        # Merge left to right: "c a" -> "ca", "ca t</w>" -> "cat</w>".
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        current = pieces[0]
        for piece in pieces[1:]:
            rule = f"{current} {piece}"
            current = current + piece
            if rule not in merges:
                merges.append(rule)
            if current not in known:
                known.add(current)
                tokens.append(current)
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocabulary = {token: index for index, token in enumerate(tokens)}
    return vocabulary, merges


def build_tiny_clip_preset(directory: Path, image_size: int = IMAGE_SIZE,
                           patch_size: int = PATCH_SIZE, vision_width: int = HIDDEN_DIM,
                           vision_layers: int = 2, vision_heads: int = 2,
                           vision_intermediate: int = 32) -> Path:
    """Build a tiny randomly initialised CLIP and save it as a keras-hub preset.

    Args:
        directory: Destination directory; created if missing.
        image_size, patch_size, vision_width, vision_layers, vision_heads,
            vision_intermediate: the vision tower's shape. The defaults are tiny;
            ``benchmarks.aesthetic`` passes ViT-B/32's (224, 32, 768, 12, 12, 3072) to time
            a real-sized image tower through the real loading path.

    Returns:
        ``directory``, now holding ``config.json``, ``model.weights.h5``,
        ``preprocessor.json`` and the tokenizer assets.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    backbone, preprocessor = build_tiny_clip(image_size, patch_size, vision_width,
                                             vision_layers, vision_heads, vision_intermediate)
    backbone.save_to_preset(str(directory))
    preprocessor.save_to_preset(str(directory))
    return directory


def build_tiny_clip(image_size: int = IMAGE_SIZE, patch_size: int = PATCH_SIZE,
                    vision_width: int = HIDDEN_DIM, vision_layers: int = 2,
                    vision_heads: int = 2, vision_intermediate: int = 32):
    """The ``(CLIPBackbone, CLIPPreprocessor)`` pair ``build_tiny_clip_preset`` saves, in
    memory (``models.clip.CLIPModel(backbone, preprocessor)`` wraps it without a disk trip)."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(SEED)

    vision_encoder = keras_hub.models.CLIPVisionEncoder(
        patch_size=patch_size,
        hidden_dim=vision_width,
        num_layers=vision_layers,
        num_heads=vision_heads,
        intermediate_dim=vision_intermediate,
        image_shape=(image_size, image_size, 3),
        name="vision_encoder",
    )
    vocabulary, merges = build_vocabulary()
    text_encoder = keras_hub.models.CLIPTextEncoder(
        vocabulary_size=len(vocabulary),
        embedding_dim=HIDDEN_DIM,
        hidden_dim=HIDDEN_DIM,
        num_layers=2,
        num_heads=2,
        intermediate_dim=32,
        max_sequence_length=SEQUENCE_LENGTH,
        name="text_encoder",
    )
    backbone = keras_hub.models.CLIPBackbone(
        vision_encoder=vision_encoder,
        text_encoder=text_encoder,
        projection_dim=PROJECTION_DIM,
    )
    backbone.clip_head.logit_scale.assign(math.log(LOGIT_SCALE))

    tokenizer = keras_hub.models.CLIPTokenizer(vocabulary=vocabulary, merges=merges)
    image_converter = keras_hub.layers.CLIPImageConverter(
        image_size=(image_size, image_size),
        scale=[1.0 / 255.0 / s for s in _STD],
        offset=[-m / s for m, s in zip(_MEAN, _STD, strict=True)],
        interpolation="bicubic",
    )
    preprocessor = keras_hub.models.CLIPPreprocessor(
        tokenizer=tokenizer,
        image_converter=image_converter,
        sequence_length=SEQUENCE_LENGTH,
    )
    return backbone, preprocessor
