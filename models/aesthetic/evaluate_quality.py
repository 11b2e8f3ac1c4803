"""`python -m models.evaluate quality`: how well each technical-quality candidate ranks defects.

Two evaluations:

- `--whole-photos` (the one that chose what ships): every photograph that an installed package
  ships and the quality CNN did not train on (`WHOLE_PHOTOS`), at its own size, distorted by
  blur, noise, JPEG, under- and over-exposure and a colour cast at 4 levels, at that size. Two
  passes (`PASSES`): the photos as the packages ship them, and the same photos saved once as a
  JPEG at `UPLOAD_JPEG_QUALITY` before they are distorted, as most uploads were. For each pass,
  candidate and distortion, it prints the mean over photos of the Spearman correlation between
  the level (0 = undistorted to 4) and the drop in quality, and the share of photos whose
  undistorted version scores better than its heaviest distortion. Candidates: the project's CNN
  (`weights/quality`) on the judged copy, as the tab used it; BRISQUE (`models.aesthetic.brisque`,
  the LIVE model) on the `judged_copy` (at most 512 pixels a side); the shipped quality
  (`models.aesthetic.technical.quality_scores`: BRISQUE on the photo's own pixels); the mean of
  the CNN and the shipped quality; plus the `brisque` package's own scorer when it happens to
  be importable, for comparison.
- without the flag: the CNN's own held-out crop evaluation, as `python -m models.train quality`
  printed it after training.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from models.cli import int_at_least

HELP = "Technical quality: Spearman per distortion and pristine-beats-distorted rate."

WHOLE_DISTORTIONS = ("gaussian_blur", "gaussian_noise", "jpeg", "under_exposure",
                     "over_exposure", "colour_cast")
"""The issue's six kinds of defect, as `models.aesthetic.distortions.distort` makes them."""

DEFAULT_LEVELS = (1, 2, 3, 4)
"""Four of `distortions.distort`'s five levels, mild to heavy (level 5 is left out: it is so heavy
that any candidate ranks it)."""

BAR_SPEARMAN = 0.9
BAR_PRISTINE_WINS = 0.95
"""The shipping bar: Spearman >= 0.9 for blur, noise and JPEG, and the pristine photo beating
its heaviest distortion in >= 95% of cases."""

BAR_DISTORTIONS = ("gaussian_blur", "gaussian_noise", "jpeg")

UPLOAD_JPEG_QUALITY = 85
"""The JPEG quality each photo is saved at before the second pass distorts it: about what phone
cameras and photo apps save at, so most uploads have been through it once already."""

PASSES = {"as shipped": None, f"already JPEG q{UPLOAD_JPEG_QUALITY}": UPLOAD_JPEG_QUALITY}
"""Pass name -> the JPEG quality each photo is saved at first (None: used as the package ships
it)."""

WHOLE_PHOTOS = {
    "coffee": "skimage.data.coffee",
    "chelsea": "skimage.data.chelsea",
    "hubble_deep_field": "skimage.data.hubble_deep_field",
    "retina": "skimage.data.retina",
    "immunohistochemistry": "skimage.data.immunohistochemistry",
    "motorcycle_left": "skimage.data.stereo_motorcycle[0]",
    "motorcycle_right": "skimage.data.stereo_motorcycle[1]",
    "coins": "skimage.data.coins",
    "moon": "skimage.data.moon",
    "clock": "skimage.data.clock",
    "page": "skimage.data.page",
    "text": "skimage.data.text",
    "cell": "skimage.data.cell",
    "flower": "sklearn flower.jpg",
}
"""Every photograph the installed packages ship that the CNN did not train on (its training
photos are `models.aesthetic.photos.TRAIN_PHOTOS`: astronaut, rocket, camera, brick, grass,
gravel, china, grace_hopper). Grey photos are used as grey RGB. Left out: drawings and
synthetic images (skimage's horse, logo, phantom, color, chessboard, binary blobs), pictures
under 150 pixels a side (lfw_subset's faces, microaneurysms, matplotlib's Minduka present),
and skimage photos that need a download (kidney, lily, eagle, ...)."""


def load_whole_photo(name: str) -> np.ndarray:
    """One of WHOLE_PHOTOS as uint8 RGB, read from its package."""
    if name == "flower":
        from sklearn.datasets import load_sample_image

        image = load_sample_image("flower.jpg")
    else:
        from skimage import data

        if name.startswith("motorcycle_"):
            image = data.stereo_motorcycle()[0 if name.endswith("left") else 1]
        else:
            image = getattr(data, name)()
    image = np.asarray(image, np.uint8)
    return np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image[..., :3]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The quality evaluation's flags."""
    parser.add_argument("--whole-photos", action="store_true",
                        help="compare every quality candidate on whole unseen photos (the "
                             "evaluation that chose the shipped quality)")
    parser.add_argument("--eval-crops", type=int_at_least(1), default=12,
                        help="without --whole-photos: crops per held-out photo (default: 12, "
                             "as training used)")
    parser.add_argument("--seed", type=int, default=0,
                        help="noise and colour-cast seed (default: 0)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="also write the result as JSON to FILE")


# === Candidates ===


def _cnn_scores(images) -> np.ndarray:
    """The project's CNN as the tab used it: on the judged copy, five crops and their mirrors
    of each photo resized to a 256-pixel short side, averaged."""
    from models.aesthetic import quality
    from models.images import judged_copy

    out = []
    for image in images:
        five = quality.crops_for_scoring(quality.resize_short_side(judged_copy(image)))
        out.append(float(quality.scores_of(np.concatenate([five, five[:, :, ::-1]])).mean()))
    return np.array(out)


def _judged_brisque_scores(images) -> np.ndarray:
    """BRISQUE on the judged copy (longest side at most 512, Lanczos), as the tab used to read
    it."""
    from models.aesthetic import brisque
    from models.images import judged_copy

    return brisque.quality_from_score(
        brisque.brisque_scores([judged_copy(image) for image in images]))


def _shipped_scores(images) -> np.ndarray:
    from models.aesthetic import technical

    return np.asarray(technical.quality_scores(images))


def _package_scorer() -> Callable | None:
    """The brisque package's own scorer, when it is importable (it needs OpenCV and libsvm;
    it is not a requirement of InstaVis)."""
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from brisque import BRISQUE
        scorer = BRISQUE(url=False)
    except Exception:  # any failure just leaves the comparison column out
        return None
    return lambda images: -np.array([float(scorer.score(image)) for image in images])


SHIPPED = "shipped (BRISQUE, own pixels)"
JUDGED_BRISQUE = "BRISQUE on the judged copy"
MEAN = "mean of CNN and shipped"


def candidates() -> dict[str, Callable | None]:
    """Candidate name -> fn(list of uint8 photos at their own size) -> quality (N,), higher is
    better; MEAN is None (computed from the two it averages, not scored again)."""
    out = {"CNN": _cnn_scores, JUDGED_BRISQUE: _judged_brisque_scores, MEAN: None,
           SHIPPED: _shipped_scores}
    package = _package_scorer()
    if package is not None:
        out["brisque package"] = package
    return out


# === Whole-photo evaluation ===


def whole_photo_evaluation(levels=DEFAULT_LEVELS, seed: int = 0, progress=None) -> dict:
    """Score every WHOLE_PHOTOS photo, undistorted and distorted at its own size, with every
    candidate, in each of PASSES.

    Returns:
        {"photos", "larger_than_judged", "levels", "seconds", "passes": {pass: {"candidates":
        {name: {"distortions": {distortion: {"spearman", "pristine_wins"}}, "pristine_wins",
        "pristine_wins_bar"}}}}}: Spearman is the mean over photos of the rank correlation
        between the level (0 undistorted, then `levels`) and minus the quality; pristine_wins
        the share of photos (per distortion; over all pairs of the six kinds; and, as
        pristine_wins_bar, over blur, noise and JPEG) where the undistorted photo scores
        strictly higher than its heaviest distortion.
    """
    from models.aesthetic import distortions
    from models.images import JUDGED_SIDE

    photos = {name: load_whole_photo(name) for name in WHOLE_PHOTOS}
    per_photo = 1 + len(WHOLE_DISTORTIONS) * len(levels)
    scorers = candidates()
    scored = {name: np.zeros((len(PASSES), len(photos), per_photo))
              for name, score in scorers.items() if score is not None}
    seconds = dict.fromkeys(scored, 0.0)
    for k, jpeg_quality in enumerate(PASSES.values()):
        for p, photo in enumerate(photos.values()):
            if jpeg_quality is not None:
                photo = distortions.jpeg_at(photo, jpeg_quality)
            # The undistorted photo, then each distortion at each level, applied at the
            # photo's own size, with one generator per (photo, distortion) so the noise
            # pattern and cast hue stay the same while only the strength grows. One photo's
            # set at a time: the largest (retina) is 1411 x 1411.
            batch = [photo]
            for d, kind in enumerate(WHOLE_DISTORTIONS):
                for level in levels:
                    rng = np.random.default_rng([seed, p, d])
                    batch.append(distortions.distort(photo, kind, level, rng))
            for name in scored:
                started = time.perf_counter()
                scored[name][k, p] = np.asarray(scorers[name](batch), np.float64)
                seconds[name] += time.perf_counter() - started
        if progress:
            progress(f"{list(PASSES)[k]}: " + ", ".join(
                f"{name} {spent:.0f} s" for name, spent in seconds.items()))
    scored[MEAN] = (scored["CNN"] + scored[SHIPPED]) / 2
    result = {"photos": list(photos),
              "larger_than_judged": [name for name, photo in photos.items()
                                     if max(photo.shape[:2]) > JUDGED_SIDE],
              "levels": list(levels), "seconds": seconds, "passes": {}}
    for p, pass_name in enumerate(PASSES):
        result["passes"][pass_name] = {"candidates": {
            name: _rank_rows(scored[name][p], len(levels)) for name in scorers}}
    return result


def _rank_rows(scores: np.ndarray, n_levels: int) -> dict:
    """One candidate's rows of one pass, from its scores (photos, 1 + kinds x levels)."""
    from scipy.stats import spearmanr

    ranks = np.arange(n_levels + 1)
    pristine = scores[:, 0]
    rows, wins, bar_wins = {}, [], []
    for d, distortion in enumerate(WHOLE_DISTORTIONS):
        distorted = scores[:, 1 + d * n_levels: 1 + (d + 1) * n_levels]
        series = np.column_stack([pristine, distorted])
        rhos = [spearmanr(ranks, -row).statistic for row in series]
        won = pristine > distorted[:, -1]
        wins.extend(won)
        if distortion in BAR_DISTORTIONS:
            bar_wins.extend(won)
        rows[distortion] = {"spearman": float(np.nanmean(rhos)),
                            "pristine_wins": float(won.mean())}
    return {"distortions": rows, "pristine_wins": float(np.mean(wins)),
            "pristine_wins_bar": float(np.mean(bar_wins))}


def meets_bar(row: dict) -> bool:
    """Whether a candidate reaches the shipping bar: BAR_SPEARMAN on each of BAR_DISTORTIONS,
    and BAR_PRISTINE_WINS over their pairs."""
    return (all(row["distortions"][d]["spearman"] >= BAR_SPEARMAN for d in BAR_DISTORTIONS)
            and row["pristine_wins_bar"] >= BAR_PRISTINE_WINS)


SHORT = {"gaussian_blur": "blur", "gaussian_noise": "noise", "jpeg": "JPEG",
         "under_exposure": "under", "over_exposure": "over", "colour_cast": "cast"}


def format_whole_photos(result: dict) -> str:
    """The whole-photo evaluation as a Markdown table, one row per candidate and pass."""
    head = ["candidate", "photos", *(f"{SHORT[d]} rho" for d in WHOLE_DISTORTIONS),
            "pristine wins: blur, noise, JPEG", "pristine wins: all six", "meets bar"]
    count = len(result["photos"])
    larger = result["larger_than_judged"]
    lines = [f"{count} unseen whole photos, distorted at their own size at levels 0 "
             f"(undistorted) and {', '.join(map(str, result['levels']))}, as the packages ship "
             f"them and after one save as a JPEG at quality {UPLOAD_JPEG_QUALITY}; rho = mean "
             "over photos of Spearman(level, -quality); pristine wins = share of (photo, "
             "distortion) pairs where the undistorted photo scores higher than its heaviest "
             f"distortion. Bar: rho >= {BAR_SPEARMAN} for blur, noise and JPEG, pristine wins "
             f">= {BAR_PRISTINE_WINS:.0%} on them. {len(larger)} of the {count} photos are "
             f"larger than the judged copy ({', '.join(larger)}); on the others the two "
             "BRISQUE rows read the same pixels.",
             "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for pass_name, one_pass in result["passes"].items():
        for name, row in one_pass["candidates"].items():
            cells = [name, pass_name,
                     *(f"{row['distortions'][d]['spearman']:.2f}" for d in WHOLE_DISTORTIONS),
                     f"{row['pristine_wins_bar']:.0%}", f"{row['pristine_wins']:.0%}",
                     "yes" if meets_bar(row) else "no"]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "undistorted beats heaviest, per kind:"]
    for pass_name, one_pass in result["passes"].items():
        for name, row in one_pass["candidates"].items():
            per_kind = ", ".join(f"{SHORT[d]} {row['distortions'][d]['pristine_wins']:.0%}"
                                 for d in WHOLE_DISTORTIONS)
            lines.append(f"  {name}, {pass_name}: {per_kind}")
    timing = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in result["seconds"].items())
    lines.append(f"scoring time for {len(result['passes'])} passes x {count} x "
                 f"{1 + len(WHOLE_DISTORTIONS) * len(result['levels'])} images: {timing}")
    return "\n".join(lines)


# === Run ===


def run(args: argparse.Namespace) -> int:
    """Run the chosen evaluation; the exit code."""
    from weights import WeightsUnavailable

    try:
        if args.whole_photos:
            result = whole_photo_evaluation(seed=args.seed,
                                            progress=lambda line: print(line, file=sys.stderr))
            print(format_whole_photos(result))
        else:
            from models.aesthetic import quality
            from models.aesthetic.train_quality import evaluate, format_evaluation

            result = evaluate(quality.get_model(), n_crops=args.eval_crops, seed=args.seed)
            print(format_evaluation(result))
    except WeightsUnavailable as error:
        print(" ".join(str(error).split()), file=sys.stderr)
        return 1
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0
