"""`python -m models.evaluate quality`: how well each technical-quality candidate ranks defects.

Two evaluations:

- `--whole-photos` (the one that chose what ships): every photograph that an installed package
  ships and the quality CNN did not train on (`WHOLE_PHOTOS`), each as the app judges it (the
  `judged_copy`, at most 512 pixels a side), distorted by blur, noise, JPEG, under- and
  over-exposure and a colour cast at 4 levels. For each candidate and each distortion, it
  prints the mean over photos of the Spearman correlation between the level (0 = pristine to 4)
  and the drop in quality, and the share of photos whose pristine version scores better than
  its heaviest distortion. Candidates: the project's CNN (`weights/quality`), BRISQUE
  (`models.aesthetic.brisque`, the LIVE model), their average, and the shipped quality
  (`models.aesthetic.technical.quality_scores`); plus the `brisque` package's own scorer when it
  happens to be importable, for comparison.
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
    """The project's CNN as the tab used it: five crops and their mirrors of each photo
    resized to a 256-pixel short side, averaged."""
    from models.aesthetic import quality

    out = []
    for image in images:
        five = quality.crops_for_scoring(quality.resize_short_side(image))
        out.append(float(quality.scores_of(np.concatenate([five, five[:, :, ::-1]])).mean()))
    return np.array(out)


def _brisque_scores(images) -> np.ndarray:
    from models.aesthetic import brisque

    return brisque.quality_from_score(brisque.brisque_scores(images))


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


def candidates() -> dict[str, Callable]:
    """Candidate name -> fn(list of uint8 photos) -> quality (N,), higher is better."""
    out = {"CNN": _cnn_scores, "BRISQUE": _brisque_scores}
    out["mean of both"] = None  # computed from the two above, not scored again
    out["shipped (BRISQUE)"] = _shipped_scores
    package = _package_scorer()
    if package is not None:
        out["brisque package"] = package
    return out


# === Whole-photo evaluation ===


def whole_photo_evaluation(levels=DEFAULT_LEVELS, seed: int = 0, progress=None) -> dict:
    """Score every WHOLE_PHOTOS photo, pristine and distorted, with every candidate.

    Returns:
        {"photos", "levels", "seconds", "candidates": {name: {"distortions": {distortion:
        {"spearman", "pristine_wins"}}, "pristine_wins"}}}: Spearman is the mean over photos of
        the rank correlation between the level (0 pristine, then `levels`) and minus the
        quality; pristine_wins the share of photos (per distortion; over all pairs of the six
        kinds; and, as pristine_wins_bar, over blur, noise and JPEG) where the pristine photo
        scores strictly higher than its heaviest distortion.
    """
    from scipy.stats import spearmanr

    from models.aesthetic import distortions
    from models.images import judged_copy

    photos = {name: judged_copy(load_whole_photo(name)) for name in WHOLE_PHOTOS}
    # One batch: for each photo, its pristine copy, then each distortion at each level, with
    # one generator per (photo, distortion) so the noise pattern and cast hue stay the same
    # while only the strength grows.
    batch = []
    for p, photo in enumerate(photos.values()):
        batch.append(photo)
        for d, name in enumerate(WHOLE_DISTORTIONS):
            for level in levels:
                rng = np.random.default_rng([seed, p, d])
                batch.append(distortions.distort(photo, name, level, rng))
    per_photo = 1 + len(WHOLE_DISTORTIONS) * len(levels)
    scored, seconds = {}, {}
    scorers = candidates()
    for name, score in scorers.items():
        if score is None:
            continue
        started = time.perf_counter()
        scored[name] = np.asarray(score(batch), np.float64).reshape(len(photos), per_photo)
        seconds[name] = time.perf_counter() - started
        if progress:
            progress(f"{name}: {seconds[name]:.0f} s")
    scored["mean of both"] = (scored["CNN"] + scored["BRISQUE"]) / 2
    ordered = {name: scored[name] for name in scorers}

    ranks = np.arange(len(levels) + 1)
    result = {"photos": list(photos), "levels": list(levels),
              "seconds": seconds, "candidates": {}}
    for name, scores in ordered.items():
        pristine = scores[:, 0]
        rows, wins, bar_wins = {}, [], []
        for d, distortion in enumerate(WHOLE_DISTORTIONS):
            distorted = scores[:, 1 + d * len(levels): 1 + (d + 1) * len(levels)]
            series = np.column_stack([pristine, distorted])
            rhos = [spearmanr(ranks, -row).statistic for row in series]
            won = pristine > distorted[:, -1]
            wins.extend(won)
            if distortion in BAR_DISTORTIONS:
                bar_wins.extend(won)
            rows[distortion] = {"spearman": float(np.nanmean(rhos)),
                                "pristine_wins": float(won.mean())}
        result["candidates"][name] = {"distortions": rows, "pristine_wins": float(np.mean(wins)),
                                      "pristine_wins_bar": float(np.mean(bar_wins))}
    return result


def meets_bar(row: dict) -> bool:
    """Whether a candidate reaches the shipping bar: BAR_SPEARMAN on each of BAR_DISTORTIONS,
    and BAR_PRISTINE_WINS over their pairs."""
    return (all(row["distortions"][d]["spearman"] >= BAR_SPEARMAN for d in BAR_DISTORTIONS)
            and row["pristine_wins_bar"] >= BAR_PRISTINE_WINS)


SHORT = {"gaussian_blur": "blur", "gaussian_noise": "noise", "jpeg": "JPEG",
         "under_exposure": "under", "over_exposure": "over", "colour_cast": "cast"}


def format_whole_photos(result: dict) -> str:
    """The whole-photo evaluation as a Markdown table, one row per candidate."""
    head = ["candidate", *(f"{SHORT[d]} rho" for d in WHOLE_DISTORTIONS),
            "pristine wins: blur, noise, JPEG", "pristine wins: all six", "meets bar"]
    lines = [f"{len(result['photos'])} unseen whole photos, levels 0 (pristine) and "
             f"{', '.join(map(str, result['levels']))}; rho = mean over photos of "
             "Spearman(level, -quality); pristine wins = share of (photo, distortion) pairs "
             "where the pristine photo scores higher than its heaviest distortion. Bar: rho >= "
             f"{BAR_SPEARMAN} for blur, noise and JPEG, pristine wins >= "
             f"{BAR_PRISTINE_WINS:.0%} on them.",
             "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in result["candidates"].items():
        cells = [name, *(f"{row['distortions'][d]['spearman']:.2f}" for d in WHOLE_DISTORTIONS),
                 f"{row['pristine_wins_bar']:.0%}", f"{row['pristine_wins']:.0%}",
                 "yes" if meets_bar(row) else "no"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "pristine beats heaviest, per kind:"]
    for name, row in result["candidates"].items():
        per_kind = ", ".join(f"{SHORT[d]} {row['distortions'][d]['pristine_wins']:.0%}"
                             for d in WHOLE_DISTORTIONS)
        lines.append(f"  {name}: {per_kind}")
    timing = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in result["seconds"].items())
    lines.append(f"scoring time for {len(result['photos'])} x "
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
