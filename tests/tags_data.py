"""A tiny MIRFLICKR-25K in the real release's layout, whose tags can be learned from pixels.

`make_mirflickr(root)` writes

    root/mirflickr/im1.jpg ... im<N>.jpg             the photos (JPEG), numbered from 1
    root/mirflickr25k_annotations_v080/<concept>.txt one photo number per line, for all 24
    root/mirflickr25k_annotations_v080/<concept>_r1.txt   the "relevant" subset, for a few

and returns the labels it drew, worked out here and not by `models.tags.mirflickr`, so tests
can hold the reader to them.

Each photo is a 64-pixel-high crop of one of scikit-image's sample photos (astronaut, coffee,
chelsea, rocket, camera). Six of the 24 concepts occur at all (`PRESENT`), each drawn
independently with its own prevalence; a concept that is present paints its own pattern (a
coloured shape or texture in a region of its own) inside the central 64 x 64 square, so it
survives the square crop every backbone sees, and a head on the embeddings of even a tiny random
backbone can learn it. The other 18 concepts get empty annotation files, as rare concepts would.

`tiny_efficientnet_root(root)` saves a tiny keras-hub EfficientNetBackbone preset as
`root/efficientnet_b0/`, where `weights.resolve("efficientnet_b0")` finds it when
`INSTAVIS_WEIGHTS_DIR=root`.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from models.tags.mirflickr import CONCEPTS

# The release's folder names, spelled out here rather than taken from the reader under test.
PHOTOS_FOLDER = "mirflickr"
ANNOTATIONS_FOLDER = "mirflickr25k_annotations_v080"

SIDE = 64
"""Height of every photo, and the side of the central square the patterns are drawn in."""

WIDTHS = (64, 80)
"""Photos are 64 wide or, for some, 80 (landscape), so the square crop has work to do."""

PREVALENCE = {"animals": 0.5, "clouds": 0.4, "flower": 0.35, "night": 0.3, "sea": 0.45,
              "tree": 0.4}
"""The concepts that occur, with the chance that a photo shows each."""

PRESENT = tuple(concept for concept in CONCEPTS if concept in PREVALENCE)

RELEVANT = ("clouds", "flower", "sea")
"""Concepts that get a `_r1.txt` file, as only some do in the real release."""

RELEVANT_SHARE = 0.7
"""The chance that a photo showing a concept with an _r1 file is listed in it."""

BACKGROUNDS = ("astronaut", "coffee", "chelsea", "rocket", "camera")

UNKNOWN_PHOTO_LINES = 2
"""Annotation lines naming photos that do not exist (the reader must ignore and count them)."""


@functools.cache
def _background(name: str) -> np.ndarray:
    """A scikit-image sample photo as RGB, scaled so its height is 96 pixels."""
    from skimage import data

    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    image = Image.fromarray(np.ascontiguousarray(image[..., :3]))
    width = round(image.width * 96 / image.height)
    return np.asarray(image.resize((width, 96), Image.Resampling.BILINEAR))


def _paint(photo: np.ndarray, concept: str, left: int) -> None:
    """Paint `concept`'s pattern into the central square of `photo` (whose left edge is
    `left`), in place."""
    square = photo[:, left:left + SIDE]
    rows, cols = np.mgrid[0:SIDE, 0:SIDE]
    if concept == "animals":  # a red disc striped black, left
        disc = (rows - 30) ** 2 + (cols - 12) ** 2 <= 12 ** 2
        square[disc] = (235, 25, 25)
        square[disc & ((rows + cols) % 6 < 2)] = (0, 0, 0)
    elif concept == "clouds":  # white horizontal stripes across the top
        band = (rows < 12) & (rows % 4 < 2)
        square[band] = (250, 250, 250)
    elif concept == "flower":  # a yellow and magenta checkerboard, right
        region = (rows >= 14) & (rows < 46) & (cols >= 42)
        checks = ((rows // 4 + cols // 4) % 2) == 0
        square[region & checks] = (250, 230, 20)
        square[region & ~checks] = (200, 20, 200)
    elif concept == "sea":  # a blue wavy band along the bottom
        waves = rows >= 52 + 3 * np.sin(cols / 3.0)
        square[waves] = (20, 60, 220)
    elif concept == "tree":  # a green vertical bar with dark rungs, centre
        bar = (cols >= 26) & (cols < 38) & (rows >= 14) & (rows < 48)
        square[bar] = (20, 170, 40)
        square[bar & (rows % 6 == 0)] = (10, 60, 10)
    elif concept == "night":  # the whole photo much darker, with a blue cast
        photo[:] = (photo * np.array([0.25, 0.25, 0.45])).astype(np.uint8)
    else:
        raise ValueError(f"no pattern for {concept!r}")


def _photo(rng: np.random.Generator, shows: list[str]) -> np.ndarray:
    """One photo: a random crop of a sample photo with the patterns of `shows` painted in."""
    background = _background(BACKGROUNDS[rng.integers(len(BACKGROUNDS))])
    width = int(rng.choice(WIDTHS))
    top = int(rng.integers(0, background.shape[0] - SIDE + 1))
    left = int(rng.integers(0, background.shape[1] - width + 1))
    photo = background[top:top + SIDE, left:left + width].copy()
    square_left = (width - SIDE) // 2
    # Night first, so the shapes painted after it stay bright and learnable on their own.
    for concept in sorted(shows, key=lambda c: c != "night"):
        _paint(photo, concept, square_left)
    return photo


def _jpeg(photo: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def make_mirflickr(root: Path, n_photos: int = 60, seed: int = 0, corrupt: int = 1) -> dict:
    """Write a tiny MIRFLICKR-25K under `root` in the real layout.

    Args:
        root: the dataset folder (created if needed); `--data root` reads it.
        n_photos: how many real photos (JPEG) to write.
        seed: the draw of the photos and their concepts.
        corrupt: how many more `im<N>.jpg` files that are not images (a truncated JPEG, then
            plain text), at seeded positions among the numbers. They are annotated like any
            photo, since the reader does not open photos; the cache must log and skip them.

    Returns:
        A dict with
        - "root": `root`;
        - "photos": every `im<N>.jpg` path, by number (corrupt ones included), as the reader
          must list them;
        - "labels": (len(photos), 24) uint8, the truth for `annotations="all"`, in CONCEPTS'
          order;
        - "concepts": CONCEPTS;
        - "present": the concepts that occur at all;
        - "relevant_concepts": the concepts with an _r1 file, in CONCEPTS' order;
        - "relevant_labels": (len(photos), len(relevant_concepts)) uint8, the truth for
          `annotations="relevant"`;
        - "corrupt": the paths of the files that are not images;
        - "valid": the paths of the real photos;
        - "unknown_lines": how many annotation lines name a photo that does not exist.
    """
    root = Path(root)
    photo_dir = root / PHOTOS_FOLDER
    annotation_dir = root / ANNOTATIONS_FOLDER
    photo_dir.mkdir(parents=True, exist_ok=True)
    annotation_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    total = n_photos + corrupt
    corrupt_numbers = set((rng.permutation(total)[:corrupt] + 1).tolist())

    labels = np.zeros((total, len(CONCEPTS)), np.uint8)
    columns = {concept: CONCEPTS.index(concept) for concept in PRESENT}
    for row in range(total):
        for concept in PRESENT:
            labels[row, columns[concept]] = rng.random() < PREVALENCE[concept]
    relevant_columns = [CONCEPTS.index(concept) for concept in CONCEPTS if concept in RELEVANT]
    relevant_labels = (labels[:, relevant_columns]
                       & (rng.random((total, len(relevant_columns))) < RELEVANT_SHARE)
                       ).astype(np.uint8)

    photos, valid, broken = [], [], []
    corrupt_made = 0
    for number in range(1, total + 1):
        path = photo_dir / f"im{number}.jpg"
        shows = [c for c in PRESENT if labels[number - 1, columns[c]]]
        encoded = _jpeg(_photo(rng, shows))
        if number in corrupt_numbers:
            encoded = (encoded[:len(encoded) // 3] if corrupt_made % 2 == 0
                       else b"this is not a photo\n")
            corrupt_made += 1
            broken.append(path)
        else:
            valid.append(path)
        path.write_bytes(encoded)
        photos.append(path)

    # Lines for photos that are not there: one past the end, one far beyond it.
    strays = {"animals": [total + 1], "sea": [total + 1000]}
    for concept in CONCEPTS:
        column = CONCEPTS.index(concept)
        numbers = [int(n) + 1 for n in np.flatnonzero(labels[:, column])]
        _write_numbers(annotation_dir / f"{concept}.txt", numbers + strays.get(concept, []), rng)
        if concept in RELEVANT:
            relevant = [int(n) + 1 for n in
                        np.flatnonzero(relevant_labels[:, relevant_columns.index(column)])]
            _write_numbers(annotation_dir / f"{concept}_r1.txt", relevant, rng)
    (annotation_dir / "README.txt").write_text("MIRFLICKR-25K annotations (test stand-in)\n")

    return {
        "root": root,
        "photos": photos,
        "labels": labels,
        "concepts": CONCEPTS,
        "present": PRESENT,
        "relevant_concepts": tuple(c for c in CONCEPTS if c in RELEVANT),
        "relevant_labels": relevant_labels,
        "corrupt": broken,
        "valid": valid,
        "unknown_lines": sum(len(lines) for lines in strays.values()),
    }


def _write_numbers(path: Path, numbers: list[int], rng: np.random.Generator) -> None:
    """One number a line, shuffled (the release's files are not in order), CRLF-free."""
    shuffled = [numbers[i] for i in rng.permutation(len(numbers))]
    path.write_text("".join(f"{n}\n" for n in shuffled))


# === A tiny EfficientNet preset ===


def tiny_efficientnet_root(root: Path, seed: int = 1) -> Path:
    """Save a tiny, randomly initialised keras-hub EfficientNetBackbone as
    `root/efficientnet_b0/` (config.json + model.weights.h5, which the manifest accepts in
    place of timm's safetensors).

    Three one-block stacks (8, 16 and 24 filters) as in tests/test_multigap.py; its pooled
    output has EfficientNet's 1280 channels (keras-hub does not serialise `num_features`).

    Returns:
        `root`, for INSTAVIS_WEIGHTS_DIR.
    """
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import keras_hub

    root = Path(root)
    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.EfficientNetBackbone(
        stackwise_width_coefficients=[1.0] * 3, stackwise_depth_coefficients=[1.0] * 3,
        stackwise_kernel_sizes=[3, 3, 3], stackwise_num_repeats=[1, 1, 1],
        stackwise_input_filters=[8, 8, 16], stackwise_output_filters=[8, 16, 24],
        stackwise_expansion_ratios=[1, 2, 2], stackwise_squeeze_and_excite_ratios=[0.25] * 3,
        stackwise_strides=[1, 2, 2], stackwise_block_types=["v1"] * 3,
        stackwise_force_input_filters=[0] * 3, stackwise_nores_option=[False] * 3,
        min_depth=None, use_depth_divisor_as_min_depth=True, cap_round_filter_decrease=True,
        dropout=0.0,
    )
    backbone.save_to_preset(str(root / "efficientnet_b0"))
    return root


# === Pointing the loaders at test weights ===

TAGS_HEAD_MANIFEST_ENTRY = '''
[tags_head]
title = "Tag head (test)"
source = "hf://instavis-tests/tags-head"
revision = "main"
files = ["tags_head.keras", "tags_head.json"]
required = ["tags_head.keras", "tags_head.json"]
format = "keras"
licence = "CC0-1.0"
used_by = ["tags"]
'''
"""A manifest entry naming a trained tag head, appended to the real manifest by the tests that
train one into their weights root."""


def point_weights_at(patch, root: Path, manifest: Path) -> None:
    """Make the resolver read `manifest` and find weights under `root`, offline, and forget
    every loaded CLIP, backbone and head (`patch`: a pytest MonkeyPatch)."""
    import models.clip as clip
    import weights.manifest
    import weights.resolver
    from models.tags import head as heads
    from models.tags.embedders import reset_embedders

    patch.setattr(weights.manifest, "MANIFEST_PATH", manifest)
    patch.setattr(weights.resolver, "MANIFEST_PATH", manifest)
    patch.setenv("INSTAVIS_WEIGHTS_DIR", str(root))
    patch.setenv("HF_HUB_OFFLINE", "1")
    clip.reset_default()
    reset_embedders()
    heads.reset_default()


def run_main(module: str, argv: list[str]) -> tuple[int, str, str]:
    """Run `module.main(argv)` (a project command); (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = importlib.import_module(module).main(argv)
    return code, out.getvalue(), err.getvalue()
