"""BRISQUE: technical quality from a model of human opinion scores.

BRISQUE, the Blind/Referenceless Image Spatial QUality Evaluator (Mittal, Moorthy and Bovik,
"No-Reference Image Quality Assessment in the Spatial Domain", IEEE TIP 21(12), 2012), describes
a photo by 36 natural-scene statistics and maps them to a quality score with a support vector
regression trained on the human ratings (DMOS) of the LIVE IQA database:

- the luminance is turned into mean-subtracted contrast-normalised (MSCN) coefficients
  (``mscn``), whose histogram is close to a unit Gaussian in undistorted photos and is
  squeezed or spread in characteristic ways by blur, noise and compression;
- a generalised Gaussian fit of the MSCN coefficients gives 2 features (shape, variance), and
  an asymmetric generalised Gaussian fit of each of the four products of neighbouring MSCN
  coefficients (horizontal, vertical, both diagonals) gives 4 more each (``features_at_scale``);
- the same 18 features at half resolution make 36 (``features``);
- each feature is scaled to [-1, 1] with the training set's ranges, and an RBF-kernel
  epsilon-SVR predicts a DMOS-like score: about 0 for a pristine photo, 100 for the worst of LIVE
  (``BRISQUEModel.predict``).

The regression's numbers (support vectors, coefficients, gamma, rho, feature ranges) are those
the ``brisque`` package 0.2.0 (Apache-2.0) ships, which are the authors' LIVE model. They were
converted once into plain numbers in ``brisque_live.npz`` by ``python -m models.aesthetic.brisque
convert`` (see ``convert_package_model``), which records the package version and the sha256 of
both source files; nothing is unpickled or downloaded when the app runs. The feature code here
is this project's own, written from the paper and checked against the package
(tests/test_brisque.py).
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage, special

__all__ = [
    "MODEL_PATH", "BRISQUEModel", "brisque_score", "brisque_scores", "convert_package_model",
    "features", "features_at_scale", "fit_aggd", "fit_ggd", "get_model", "luminance", "mscn",
    "pair_products", "provenance", "quality_from_score",
]

MODEL_PATH = Path(__file__).resolve().parent / "brisque_live.npz"
"""The LIVE-trained regression as plain arrays (``convert_package_model`` writes it)."""

PACKAGE = "brisque"
PACKAGE_VERSION = "0.2.0"
PACKAGE_LICENCE = "Apache-2.0"

WINDOW_SIDE = 7
WINDOW_SIGMA = 7 / 6
"""The local mean and deviation use a 7 x 7 circular Gaussian with sigma 7/6 (Mittal et al.,
Sec. III-A), as the LIVE model's features were computed."""

MSCN_C = 1.0
"""The constant that keeps the division stable in flat regions; 1 on the 0..255 scale."""

SHAPE_GRID = np.arange(0.2, 10.0 + 5e-4, 0.001)
"""Candidate shape parameters for the moment-matching fits: the authors' own search range and
step, so the fitted shapes fall on the same grid as the features the SVR was trained on."""

FLAT_SHAPE = 2.0
"""The shape given to coefficients that are all zero (a flat image, such as a photo LIME or
SHAP has hidden entirely): they have no spread to fit, and a Gaussian's shape keeps the
features finite so such a photo still gets a score."""

GREY_WEIGHTS = np.array([0.2989, 0.5870, 0.1140])
"""ITU-R BT.601 luma, as MATLAB's rgb2gray, with which the LIVE model's features were made."""

QUALITY_MIDPOINT = 50.0
QUALITY_SPREAD = 15.0
"""``quality_from_score`` puts the middle of LIVE's DMOS scale (0 pristine to about 100 the
worst) at quality 0.5, and a spread of 15 maps 0..100 onto about 0.97..0.03."""


# === Features ===


def luminance(image: np.ndarray) -> np.ndarray:
    """The grey level of a photo, float64 (H, W) in 0..255, rounded to whole levels.

    Args:
        image: uint8 (H, W, 3) or (H, W).

    Returns:
        BT.601 luma of an RGB photo (a grey photo as it is), rounded as an 8-bit grey image is.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        return image.astype(np.float64)
    return np.rint(image[..., :3].astype(np.float64) @ GREY_WEIGHTS)


def _gaussian_window() -> np.ndarray:
    offsets = np.arange(WINDOW_SIDE) - WINDOW_SIDE // 2
    window = np.exp(-offsets ** 2 / (2 * WINDOW_SIGMA ** 2))
    return window / window.sum()  # separable: the outer product is the normalised 2-D window


def _local_average(x: np.ndarray) -> np.ndarray:
    # Zero padding ("same" size filtering), as the LIVE model's features were computed.
    window = _gaussian_window()
    out = ndimage.correlate1d(x, window, axis=0, mode="constant", cval=0.0)
    return ndimage.correlate1d(out, window, axis=1, mode="constant", cval=0.0)


def mscn(grey: np.ndarray) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients (Mittal et al., Eq. 1).

    ``(I - mu) / (sigma + C)``, with mu and sigma the Gaussian-weighted local mean and standard
    deviation (``WINDOW_SIDE``, ``WINDOW_SIGMA``) and C = ``MSCN_C``.

    Args:
        grey: float (H, W) in 0..255.

    Returns:
        float64 (H, W).
    """
    grey = np.asarray(grey, np.float64)
    mu = _local_average(grey)
    # abs: rounding can leave a tiny negative variance in flat regions.
    sigma = np.sqrt(np.abs(_local_average(grey * grey) - mu * mu))
    return (grey - mu) / (sigma + MSCN_C)


def pair_products(coefficients: np.ndarray) -> tuple[np.ndarray, ...]:
    """Products of each MSCN coefficient with its neighbour in four directions (Eq. 7-10).

    Horizontal ``I(i, j) I(i, j+1)``, vertical ``I(i, j) I(i+1, j)``, main diagonal
    ``I(i, j) I(i+1, j+1)`` and secondary diagonal ``I(i, j) I(i+1, j-1)``, in that order (the
    order of the LIVE model's features), over the pixels that have that neighbour. The authors'
    code wraps around instead (a circular shift), pairing the left edge with the right; on a
    blurred photo, where the inside's coefficients shrink, those false pairs across the frame
    dominate the fit, and skimage's blurred `cell` then stopped ranking (see
    ``python -m models.evaluate quality --whole-photos``).
    """
    c = coefficients
    return (c[:, :-1] * c[:, 1:],
            c[:-1, :] * c[1:, :],
            c[:-1, :-1] * c[1:, 1:],
            c[:-1, 1:] * c[1:, :-1])


def _gamma_ratio(shape: np.ndarray) -> np.ndarray:
    """Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a)): E[|x|]^2 / E[x^2] of a generalised Gaussian of
    shape a. It rises monotonically with a, so the moments identify the shape."""
    log_ratio = (2 * special.gammaln(2 / shape) - special.gammaln(1 / shape)
                 - special.gammaln(3 / shape))
    return np.exp(log_ratio)


_GRID_RATIO = _gamma_ratio(SHAPE_GRID)


def _shape_for_ratio(ratio: float) -> float:
    return float(SHAPE_GRID[np.argmin((_GRID_RATIO - ratio) ** 2)])


def _ggd_moments(x: np.ndarray) -> np.ndarray:
    """The sums a zero-mean generalised Gaussian fit needs: (count, sum |x|, sum x^2).

    Sums, not means, so that the samples of several parts of a photo pool by adding them."""
    x = np.asarray(x, np.float64).ravel()
    return np.array([x.size, np.abs(x).sum(), _sum_of_squares(x)])


def _sum_of_squares(x: np.ndarray) -> float:
    # einsum's own loop rather than a BLAS dot: the BLAS threads of a dot this small waited on
    # each other for milliseconds on a busy 2-core machine.
    return float(np.einsum("i,i->", x, x))


def _fit_ggd_moments(moments: np.ndarray) -> tuple[float, float]:
    count, sum_abs, sum_squares = moments
    if sum_squares == 0:
        return FLAT_SHAPE, 0.0
    mean_square = sum_squares / count
    return _shape_for_ratio((sum_abs / count) ** 2 / mean_square), float(mean_square)


def fit_ggd(x: np.ndarray) -> tuple[float, float]:
    """Fit a zero-mean generalised Gaussian by moment matching (Sharifi and Leon-Garcia 1995).

    The density is proportional to ``exp(-(|x| / beta)^a)``; ``E[|x|]^2 / E[x^2]`` depends on
    the shape ``a`` alone (``_gamma_ratio``), so ``a`` is the grid value that matches the sample
    ratio, and the variance is the sample mean square.

    Returns:
        (shape a, variance).
    """
    return _fit_ggd_moments(_ggd_moments(x))


def _aggd_moments(x: np.ndarray) -> np.ndarray:
    """The sums an asymmetric generalised Gaussian fit needs: (count, negatives, positives,
    sum |x|, sum of squares of the negatives, sum of squares of the positives); they pool over
    parts by adding. Each side's square sum is a dot product of the clipped samples, which
    takes far fewer passes than selecting each side (this fit ran four times a scale and was
    a third of BRISQUE's time). The sides are counted on booleans: counting the nonzero
    entries of a float array is several times slower."""
    x = np.asarray(x, np.float64).ravel()
    positive, negative = np.maximum(x, 0.0), np.minimum(x, 0.0)
    return np.array([x.size, np.count_nonzero(x < 0), np.count_nonzero(x > 0),
                     positive.sum() - negative.sum(), _sum_of_squares(negative),
                     _sum_of_squares(positive)])


def _fit_aggd_moments(moments: np.ndarray) -> tuple[float, float, float, float]:
    count, negatives, positives, sum_abs, left_squares, right_squares = moments
    if sum_abs == 0:
        return FLAT_SHAPE, 0.0, 0.0, 0.0
    left_std = np.sqrt(left_squares / negatives) if negatives else 0.0
    right_std = np.sqrt(right_squares / positives) if positives else 0.0
    r_hat = (sum_abs / count) ** 2 / ((left_squares + right_squares) / count)
    gamma = left_std / right_std if right_std > 0 else 1.0
    r_norm = r_hat * (gamma ** 3 + 1) * (gamma + 1) / (gamma ** 2 + 1) ** 2
    shape = _shape_for_ratio(r_norm)
    # The AGGD's mean: (beta_r - beta_l) Gamma(2/a) / Gamma(1/a), with beta = sigma
    # sqrt(Gamma(1/a) / Gamma(3/a)) on each side (Mittal et al., Eq. 15).
    log_gamma = {k: special.gammaln(k / shape) for k in (1, 2, 3)}
    mean = (right_std - left_std) * np.exp(log_gamma[2] - log_gamma[1]) \
        * np.sqrt(np.exp(log_gamma[1] - log_gamma[3]))
    return shape, float(mean), float(left_std ** 2), float(right_std ** 2)


def fit_aggd(x: np.ndarray) -> tuple[float, float, float, float]:
    """Fit an asymmetric generalised Gaussian (Lasmar, Stitou and Berthoumieu 2009; Mittal et
    al., Eq. 11-14).

    The left and right halves have their own spreads; their ratio gamma corrects the moment
    ratio of the whole sample before the shape is matched, and the mean follows from the shape
    and both spreads.

    Returns:
        (shape, mean, left variance, right variance).
    """
    return _fit_aggd_moments(_aggd_moments(x))


def _scale_moments(grey: np.ndarray) -> list[np.ndarray]:
    """One part's sums at one scale: the MSCN coefficients' (`_ggd_moments`), then each pair
    product's (`_aggd_moments`)."""
    coefficients = mscn(grey)
    return [_ggd_moments(coefficients),
            *(_aggd_moments(product) for product in pair_products(coefficients))]


def _as_parts(image) -> list[np.ndarray]:
    """A photo given whole (one array) or as parts (a list or tuple of arrays), as a list."""
    return list(image) if isinstance(image, (list, tuple)) else [image]


def features_at_scale(grey) -> np.ndarray:
    """The 18 features of one scale: the MSCN fit (shape, variance), then (shape, mean, left
    variance, right variance) of each pair product. float64 (18,).

    Args:
        grey: float (H, W) in 0..255, or a list of such parts (tiles of one photo). Parts are
            pooled: each has its own MSCN coefficients and neighbour pairs (none across two
            parts), and every fit is made on all parts' samples together, so the features
            describe the parts as one sample of the photo's statistics.
    """
    parts = [_scale_moments(np.asarray(part, np.float64)) for part in _as_parts(grey)]
    pooled = [sum(sums) for sums in zip(*parts, strict=True)]
    out = list(_fit_ggd_moments(pooled[0]))
    for sums in pooled[1:]:
        out.extend(_fit_aggd_moments(sums))
    return np.array(out, np.float64)


def _halve(grey: np.ndarray) -> np.ndarray:
    # Bicubic (a = -0.5) with a kernel widened to the scale, as MATLAB's imresize(I, 0.5) with
    # which the LIVE features were made; Pillow resizes float ("F") images the same way.
    from PIL import Image

    h, w = grey.shape
    size = (int(np.ceil(w / 2)), int(np.ceil(h / 2)))
    halved = Image.fromarray(grey.astype(np.float32), mode="F").resize(
        size, Image.Resampling.BICUBIC)
    return np.asarray(halved, np.float64)


def features(image) -> np.ndarray:
    """The 36 BRISQUE features of a photo: 18 at full and 18 at half resolution.

    Args:
        image: uint8 (H, W, 3), or (H, W) grey levels (`luminance`'s), at least 16 pixels a
            side; or a list of such parts of one photo (tiles), whose statistics are pooled
            (`features_at_scale`).

    Returns:
        float64 (36,).
    """
    greys = [luminance(part) for part in _as_parts(image)]
    return np.concatenate([features_at_scale(greys),
                           features_at_scale([_halve(grey) for grey in greys])])


# === The regression ===


@dataclass(frozen=True)
class BRISQUEModel:
    """An RBF-kernel epsilon-SVR with min-max feature scaling, as plain arrays.

    ``predict(f) = sum_i coefficients[i] * exp(-gamma * |support_vectors[i] - s(f)|^2) - rho``,
    where ``s`` maps each feature linearly from [feature_min, feature_max] to [-1, 1]: libsvm's
    decision function for regression, written out.
    """

    support_vectors: np.ndarray  # (n, 36), in scaled units
    coefficients: np.ndarray  # (n,)
    gamma: float
    rho: float
    feature_min: np.ndarray  # (36,)
    feature_max: np.ndarray  # (36,)

    def scale(self, raw: np.ndarray) -> np.ndarray:
        """Features (..., 36) -> scaled to [-1, 1] over the training ranges."""
        return -1.0 + 2.0 * (raw - self.feature_min) / (self.feature_max - self.feature_min)

    def predict(self, raw: np.ndarray) -> np.ndarray:
        """BRISQUE scores (N,) of raw feature rows (N, 36): lower is better."""
        scaled = self.scale(np.atleast_2d(np.asarray(raw, np.float64)))
        distances = ((scaled[:, None, :] - self.support_vectors[None]) ** 2).sum(axis=-1)
        return np.exp(-self.gamma * distances) @ self.coefficients - self.rho

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> BRISQUEModel:
        """Read the arrays ``convert_package_model`` wrote (no pickle: ``allow_pickle=False``)."""
        with np.load(path, allow_pickle=False) as arrays:
            return cls(support_vectors=arrays["support_vectors"],
                       coefficients=arrays["coefficients"], gamma=float(arrays["gamma"]),
                       rho=float(arrays["rho"]), feature_min=arrays["feature_min"],
                       feature_max=arrays["feature_max"])


_model: BRISQUEModel | None = None
_model_lock = threading.Lock()


def get_model() -> BRISQUEModel:
    """The LIVE model shipped in ``brisque_live.npz``, read once (thread-safe)."""
    global _model
    if _model is None:
        with _model_lock:
            if _model is None:
                _model = BRISQUEModel.load()
    return _model


def mirrored_features(raw: np.ndarray) -> np.ndarray:
    """The features of the photo's mirror image, from its own: mirroring left-right turns every
    main-diagonal pair into a secondary-diagonal one and back (the MSCN filter, the other pairs
    and the halving are symmetric), so the two diagonals' (shape, mean, left, right) blocks
    trade places at each scale. (..., 36) -> (..., 36)."""
    out = np.array(raw, np.float64, copy=True)
    for scale in (0, 18):
        main, secondary = slice(scale + 10, scale + 14), slice(scale + 14, scale + 18)
        out[..., main], out[..., secondary] = raw[..., secondary], raw[..., main]
    return out


def brisque_scores(images) -> np.ndarray:
    """BRISQUE scores of photos, lower is better: float64 (N,).

    Each photo is a uint8 array, or a list of uint8 arrays (parts of one photo, such as tiles),
    which get one score together (`features`).

    Each is the mean of the LIVE model's prediction for the photo and for its mirror image. The
    SVR does not treat the two diagonals alike, so the raw prediction of a photo and of its
    mirror image differ (by up to 0.3 score points on the astronaut); a photo's technical
    quality should not depend on which way it faces. The mirror's features come from the
    photo's own (`mirrored_features`), so this costs no second pass."""
    rows = [features(image if isinstance(image, (list, tuple)) else np.asarray(image))
            for image in images]
    if not rows:
        return np.zeros(0)
    raw = np.stack(rows)
    model = get_model()
    return 0.5 * (model.predict(raw) + model.predict(mirrored_features(raw)))


def brisque_score(image) -> float:
    """BRISQUE score of one photo (uint8 array, or a list of its parts): about 0 pristine to
    100 the worst of LIVE."""
    return float(brisque_scores([image])[0])


def quality_from_score(score):
    """A BRISQUE score on the [0, 1] quality scale, 1 = pristine:
    ``1 / (1 + exp((score - QUALITY_MIDPOINT) / QUALITY_SPREAD))``.

    A logistic rather than ``1 - score / 100`` clipped: the SVR strays past both ends of the
    DMOS scale (sharp photos often score below 0), and clipping would tie them all at 1. It is
    a display scale, strictly decreasing in the score, not a calibration."""
    score = np.asarray(score, np.float64)
    return 1.0 / (1.0 + np.exp((score - QUALITY_MIDPOINT) / QUALITY_SPREAD))


# === One-off conversion from the installed package ===


class _NoClassesUnpickler:
    """Reads a pickle of plain dicts, lists, strings and numbers; refuses any class or
    function, so reading the package's normalisation file can run no code."""

    @staticmethod
    def load(path: Path):
        import pickle

        class Restricted(pickle.Unpickler):
            def find_class(self, module, name):
                raise pickle.UnpicklingError(
                    f"{path.name} names {module}.{name}; only plain numbers are expected")

        with open(path, "rb") as handle:
            return Restricted(handle).load()


def _package_models_dir() -> Path:
    """The installed brisque package's models/ folder, found without importing the package
    (its import needs OpenCV and libsvm, which the conversion does not)."""
    from importlib import metadata, util

    version = metadata.version(PACKAGE)
    if version != PACKAGE_VERSION:
        raise RuntimeError(f"brisque {version} is installed; the conversion is pinned to "
                           f"{PACKAGE_VERSION}: pip install --no-deps brisque=={PACKAGE_VERSION}")
    spec = util.find_spec(PACKAGE)
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _read_libsvm_regression(text: str) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(support vectors, coefficients, gamma, rho) of a libsvm epsilon-SVR model file with an
    RBF kernel. Support vectors are sparse "index:value" lists; a missing index is 0."""
    header, _, body = text.partition("\nSV\n")
    fields = dict(line.split(" ", 1) for line in header.splitlines() if " " in line)
    if fields.get("svm_type") != "epsilon_svr" or fields.get("kernel_type") != "rbf":
        raise ValueError(f"expected an RBF epsilon-SVR, found {fields.get('svm_type')} / "
                         f"{fields.get('kernel_type')}")
    rows = [line.split() for line in body.splitlines() if line.strip()]
    if len(rows) != int(fields["total_sv"]):
        raise ValueError(f"{len(rows)} support vectors, the header says {fields['total_sv']}")
    width = max(int(item.split(":")[0]) for row in rows for item in row[1:])
    vectors = np.zeros((len(rows), width))
    for r, row in enumerate(rows):
        for item in row[1:]:
            index, value = item.split(":")
            vectors[r, int(index) - 1] = float(value)
    coefficients = np.array([float(row[0]) for row in rows])
    return vectors, coefficients, float(fields["gamma"]), float(fields["rho"])


def convert_package_model(out: Path = MODEL_PATH) -> dict:
    """Write the installed brisque package's LIVE model as plain arrays to ``out``.

    Reads ``brisque/models/svm.txt`` (libsvm text) and ``brisque/models/normalize.pickle``
    (feature minima and maxima; read with an unpickler that refuses every class) from the
    installed, pinned package, never from a download, and writes an ``.npz`` with the arrays
    and the provenance: package, version, licence and the sha256 of both files. Run once, after
    ``pip install --no-deps brisque==0.2.0``:  ``python -m models.aesthetic.brisque convert``.

    Returns:
        The provenance written.
    """
    folder = _package_models_dir()
    svm_path, scaling_path = folder / "svm.txt", folder / "normalize.pickle"
    vectors, coefficients, gamma, rho = _read_libsvm_regression(svm_path.read_text())
    scaling = _NoClassesUnpickler.load(scaling_path)
    feature_min = np.array(scaling["min_"], np.float64)
    feature_max = np.array(scaling["max_"], np.float64)
    if not feature_min.shape == feature_max.shape == (vectors.shape[1],):
        raise ValueError("the scaling file does not match the model's 36 features")
    record = {
        "package": PACKAGE, "version": PACKAGE_VERSION, "licence": PACKAGE_LICENCE,
        "source": "Mittal, Moorthy and Bovik 2012, trained on the LIVE IQA database (DMOS)",
        "svm.txt sha256": hashlib.sha256(svm_path.read_bytes()).hexdigest(),
        "normalize.pickle sha256": hashlib.sha256(scaling_path.read_bytes()).hexdigest(),
    }
    np.savez_compressed(out, support_vectors=vectors, coefficients=coefficients,
                        gamma=np.float64(gamma), rho=np.float64(rho), feature_min=feature_min,
                        feature_max=feature_max, provenance=np.array(json.dumps(record)))
    return record


def provenance(path: Path = MODEL_PATH) -> dict:
    """Where the shipped arrays came from (as ``convert_package_model`` recorded it)."""
    with np.load(path, allow_pickle=False) as arrays:
        return json.loads(str(arrays["provenance"]))


if __name__ == "__main__":
    from models.cli import OneLineArgumentParser

    parser = OneLineArgumentParser(
        prog="python -m models.aesthetic.brisque",
        description="Convert the brisque package's LIVE model into brisque_live.npz (needs the "
                    f"brisque package, version {PACKAGE_VERSION}, installed).")
    parser.add_argument("command", choices=["convert"])
    parser.parse_args()
    try:
        print(json.dumps(convert_package_model(), indent=2))
    except (ImportError, RuntimeError, ValueError, OSError) as error:
        print(f"Cannot convert the brisque package's model: {error}", file=sys.stderr)
        sys.exit(1)
