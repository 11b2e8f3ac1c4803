"""`python -m models.aesthetic.make_calibration_copies`: write the calibration set's spoiled copies.

The rating's calibration set (`models.aesthetic.calibration`) is three package photos and, for
each, every distortion of `models.aesthetic.distortions` at a mild and a heavy level. The
distortions are training-data code (the quality CNN trains on them), and product code never
imports training-data code, so the copies are made here once and shipped as lossless WebP files
in `models/aesthetic/calibration_copies/`. The product reads those files; a test checks that
they are exactly what this command makes (the distortions are seeded), so a change to a
distortion cannot leave stale copies behind.

Run it again after changing a distortion, `CALIBRATION_PHOTOS` or `CALIBRATION_VARIANTS`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.aesthetic import distortions
from models.aesthetic.calibration import (
    CALIBRATION_VARIANTS,
    COPIES_DIR,
    calibration_photos,
    copy_file_name,
)


def spoiled_copy(photo: np.ndarray, distortion: str, level: int) -> np.ndarray:
    """One calibration copy: `distortion` at `level`, seeded by the level (as it always was)."""
    return distortions.distort(photo, distortion, level, np.random.default_rng(level))


def write_copies(folder: Path = COPIES_DIR) -> list[Path]:
    """Write every calibration copy into `folder` as lossless WebP; return the files written."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, photo in calibration_photos().items():
        for distortion, level in CALIBRATION_VARIANTS:
            path = folder / copy_file_name(name, distortion, level)
            # lossless=True keeps every RGB value; method 6 is the slowest, smallest encoding.
            Image.fromarray(spoiled_copy(photo, distortion, level)).save(
                path, "WEBP", lossless=True, quality=100, method=6)
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m models.aesthetic.make_calibration_copies",
        description="Write the aesthetic calibration set's spoiled copies (lossless WebP).")
    parser.add_argument("--out", type=Path, default=COPIES_DIR, metavar="DIR",
                        help=f"where the copies go (default: {COPIES_DIR})")
    args = parser.parse_args(argv)
    written = write_copies(args.out)
    print(f"wrote {len(written)} copies to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
