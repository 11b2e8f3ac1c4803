"""The calibration set: three package photos and their spoiled copies.

Two parts of the rating are fitted on it: the zero-shot content score is centred on its median
margin (`models.aesthetic.zero_shot.zero_shot_offset`), and the attribute surrogate that SHAP
explains is fitted on its scores (`models.aesthetic.surrogate`). The set depends on no model:
the photos ship with installed packages and the copies are seeded, so it is built once a
process.
"""

from __future__ import annotations

import threading

import numpy as np

from models.aesthetic.photos import HELD_OUT_PHOTOS, load_photo

__all__ = ["CALIBRATION_PHOTOS", "CALIBRATION_VARIANTS", "calibration_photos",
           "calibration_set"]

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

_built: list[tuple[tuple[str, ...], list[np.ndarray]]] = []
_lock = threading.Lock()


def calibration_photos() -> dict[str, np.ndarray]:
    """The pristine CALIBRATION_PHOTOS, read from the installed packages."""
    return {name: load_photo(name) for name in CALIBRATION_PHOTOS}


def calibration_set() -> tuple[tuple[str, ...], list[np.ndarray]]:
    """(names, photos) of the calibration set: each calibration photo ("coffee"), then its
    spoiled copies ("coffee + gaussian_blur 4"; CALIBRATION_VARIANTS, seeded), built once per
    process."""
    with _lock:
        if not _built:
            from models.aesthetic import distortions

            names, photos = [], []
            for name, photo in calibration_photos().items():
                names.append(name)
                photos.append(photo)
                for distortion, level in CALIBRATION_VARIANTS:
                    names.append(f"{name} + {distortion} {level}")
                    photos.append(distortions.distort(photo, distortion, level,
                                                      np.random.default_rng(level)))
            _built.append((tuple(names), photos))
        return _built[0]
