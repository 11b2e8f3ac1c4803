"""The calibration set: three package photos and their spoiled copies.

Two parts of the rating are fitted on it: the zero-shot content score is centred on its median
margin (`models.aesthetic.zero_shot.zero_shot_offset`), and the attribute surrogate that SHAP
explains is fitted on its scores (`models.aesthetic.surrogate`). The set depends on no model:
the photos ship with installed packages, and their spoiled copies ship as lossless WebP files in
`calibration_copies/` (made by `python -m models.aesthetic.make_calibration_copies` with the
seeded distortions of `models.aesthetic.distortions`, training-data code the product does not
import). It is read once a process.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from models.aesthetic.photos import HELD_OUT_PHOTOS, load_photo

__all__ = ["CALIBRATION_PHOTOS", "CALIBRATION_VARIANTS", "COPIES_DIR", "calibration_photos",
           "calibration_set", "copy_file_name"]

CALIBRATION_PHOTOS = tuple(HELD_OUT_PHOTOS)
"""The photos whose spoiled copies (CALIBRATION_VARIANTS) calibrate the zero-shot content score
and fit the attribute surrogate."""

CALIBRATION_VARIANTS = tuple((name, level) for name in (
    "gaussian_blur", "motion_blur", "gaussian_noise", "jpeg", "under_exposure", "over_exposure",
    "low_contrast", "colour_cast", "downscale_upscale") for level in (2, 4))
"""The spoiled copies of each calibration photo: every distortion of
`models.aesthetic.distortions` at a mild (2) and a heavy (4) level. With them the calibration
set spans good and bad photos, which the attribute surrogate needs; three pristine photos alone
could not."""

COPIES_DIR = Path(__file__).resolve().parent / "calibration_copies"
"""The shipped spoiled copies, one lossless WebP file per (photo, distortion, level)."""

_built: list[tuple[tuple[str, ...], list[np.ndarray]]] = []
_lock = threading.Lock()


def calibration_photos() -> dict[str, np.ndarray]:
    """The pristine CALIBRATION_PHOTOS, read from the installed packages."""
    return {name: load_photo(name) for name in CALIBRATION_PHOTOS}


def copy_file_name(photo: str, distortion: str, level: int) -> str:
    """The file name of one shipped spoiled copy ("coffee-gaussian_blur-4.webp")."""
    return f"{photo}-{distortion}-{level}.webp"


def _read_copy(path: Path, like: np.ndarray) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as image:
            copy = np.asarray(image.convert("RGB"))
    except OSError as error:
        raise RuntimeError(f"the calibration copy {path} is missing or unreadable ({error}); "
                           "reinstall InstaVis or run `python -m "
                           "models.aesthetic.make_calibration_copies`.") from error
    if copy.shape != like.shape:
        raise RuntimeError(f"the calibration copy {path} is {copy.shape}, its photo "
                           f"{like.shape}; run `python -m models.aesthetic."
                           "make_calibration_copies`.")
    return copy


def calibration_set() -> tuple[tuple[str, ...], list[np.ndarray]]:
    """(names, photos) of the calibration set: each calibration photo ("coffee"), then its
    spoiled copies ("coffee + gaussian_blur 4"; CALIBRATION_VARIANTS), read once per process.

    Raises:
        RuntimeError: a shipped copy is missing, unreadable or of the wrong size.
    """
    with _lock:
        if not _built:
            names, photos = [], []
            for name, photo in calibration_photos().items():
                names.append(name)
                photos.append(photo)
                for distortion, level in CALIBRATION_VARIANTS:
                    names.append(f"{name} + {distortion} {level}")
                    photos.append(_read_copy(
                        COPIES_DIR / copy_file_name(name, distortion, level), photo))
            _built.append((tuple(names), photos))
        return _built[0]
