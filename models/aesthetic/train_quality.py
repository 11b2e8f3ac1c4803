"""`python -m models.train quality`: the technical-quality CNN, trained on synthetic distortions.

The rating research's first IQA stage (multi-task learning on KADIS-700k, see
``../shared/seeds/004``) distorts pristine photos, scores each copy with several full-reference
IQA metrics and trains one CNN to predict all of them from the distorted copy alone. Here the
pristine photos are the permissively licensed ones that installed packages ship, the metrics are
SSIM, MS-SSIM, GMSD and FSIMc's chromatic term (``models.aesthetic.fr_metrics.fr_targets``), and
the CNN is ``models.aesthetic.quality.build_model``. Three photos are held out of training and
used only for the evaluation, which prints, per distortion, the Spearman correlation between
predicted quality and severity, and the share of (pristine, heavily distorted) crop pairs the
pristine crop wins.

Writes ``quality.keras`` and ``evaluation.json`` to ``--out`` (default ``weights/quality``).
The Aesthetic tab no longer uses this CNN for its technical quality (BRISQUE ranks defects far
better on whole unseen photos: ``python -m models.evaluate quality --whole-photos``); it is
kept as a candidate there and as the project's example of the research's FR-IQA recipe.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from models.aesthetic.photos import HELD_OUT_PHOTOS, TRAIN_PHOTOS, load_photo
from models.cli import fail, int_at_least

HELP = "Technical quality: a small CNN trained on synthetic distortions with FR-IQA targets."

VERSION = 1
"""Bumped whenever the recipe changes; recorded in evaluation.json and the manifest revision."""

TARGET_SPEARMAN = 0.9
TARGET_PAIR_RATE = 0.95


# === Flags ===


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The quality task's flags."""
    parser.add_argument("--out", type=Path, default=Path("weights/quality"), metavar="DIR",
                        help="where quality.keras and evaluation.json go "
                             "(default: weights/quality)")
    parser.add_argument("--epochs", type=int_at_least(1), default=8,
                        help="training epochs (default: 8)")
    parser.add_argument("--crops", type=int_at_least(1), default=96,
                        help="random crops per training photo (default: 96)")
    parser.add_argument("--variants", type=int_at_least(1), default=12,
                        help="random (distortion, level) copies per crop, besides the pristine "
                             "crop itself (default: 12)")
    parser.add_argument("--eval-crops", type=int_at_least(1), default=12,
                        help="crops per held-out photo for the evaluation (default: 12)")
    parser.add_argument("--width", type=int_at_least(2), default=16,
                        help="channels of the first conv block (default: 16)")
    parser.add_argument("--batch-size", type=int_at_least(1), default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-3,
                        help="Adam learning rate, cosine-decayed to 0 (default: 0.002)")
    parser.add_argument("--workers", type=int_at_least(1), default=min(2, os.cpu_count() or 1),
                        help="processes computing the FR-IQA targets (default: 2)")
    parser.add_argument("--seed", type=int, default=0, help="crops, distortions and training")


# === Data ===


def _random_crop(photo: np.ndarray, rng: np.random.Generator, crop: int) -> np.ndarray:
    h, w = photo.shape[:2]
    top, left = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
    out = photo[top:top + crop, left:left + crop]
    return out[:, ::-1] if rng.random() < 0.5 else out


def _samples_for_photo(job) -> tuple[np.ndarray, np.ndarray]:
    """All (image, target) samples of one photo; runs in a worker process."""
    from models.aesthetic import distortions, fr_metrics, quality

    name, n_crops, n_variants, seed = job
    rng = np.random.default_rng(seed)
    photo = load_photo(name)
    # Two scales around the scoring scale, so the network does not tie quality to one zoom.
    scaled = [quality.resize_short_side(photo, side)
              for side in (quality.SCORE_SIDE, int(quality.SCORE_SIDE * 1.5))]
    names = list(distortions.DISTORTIONS)
    images, targets = [], []
    for _ in range(n_crops):
        crop = np.ascontiguousarray(_random_crop(scaled[rng.integers(len(scaled))], rng,
                                                 quality.CROP))
        images.append(crop)
        targets.append(np.ones(len(quality.TARGETS), np.float32))
        for _ in range(n_variants):
            distorted = distortions.distort(crop, names[rng.integers(len(names))],
                                        int(rng.integers(1, distortions.LEVELS + 1)), rng)
            images.append(distorted)
            targets.append(fr_metrics.fr_targets(crop, distorted))
    return np.stack(images), np.stack(targets)


def make_training_set(photos, n_crops: int, n_variants: int, seed: int, workers: int):
    """uint8 images (N, CROP, CROP, 3) and float32 targets (N, 4) from the training photos."""
    jobs = [(name, n_crops, n_variants, seed * 1000 + i) for i, name in enumerate(photos)]
    if workers > 1:
        import multiprocessing

        # spawn: the parent may already hold TensorFlow's threads, which fork would copy.
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            parts = pool.map(_samples_for_photo, jobs)
    else:
        parts = [_samples_for_photo(job) for job in jobs]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


# === Evaluation ===


def evaluate(model, photos=tuple(HELD_OUT_PHOTOS), n_crops: int = 12, seed: int = 0) -> dict:
    """Score held-out crops at every distortion level and summarise.

    For each held-out photo (resized like ``quality_score`` does), ``n_crops`` seeded random
    crops are distorted at levels 0 (pristine) to 5 with every distortion. Per distortion:

    - ``spearman``: Spearman's rho between the mean predicted quality at each level and the
      level's rank from best to worst (so 1 means quality falls at every step);
    - ``spearman_crops``: the same over every crop's own score (stricter: crops differ);
    - ``pair_rate``: the share of crops whose pristine score beats its level-5 copy.

    The targets are judged on these crops, distorted at the scale the network sees. The result
    also holds ``photos``, the same measures for whole photos as a user uploads them
    (``evaluate_photos``), which is stricter and reported alongside, not judged.

    Returns:
        A JSON-ready dict with ``distortions`` (name -> metrics, per-level means), the overall
        ``pair_rate``, whether both targets are met, and ``photos``.
    """
    from scipy.stats import spearmanr

    from models.aesthetic import distortions, quality

    rng = np.random.default_rng(seed + 12345)
    crops = []
    for name in photos:
        photo = quality.resize_short_side(load_photo(name))
        crops += [np.ascontiguousarray(_random_crop(photo, rng, quality.CROP))
                  for _ in range(n_crops)]
    crops = np.stack(crops)
    pristine = quality.scores_of(crops, model)
    levels = np.arange(distortions.LEVELS + 1)
    table, wins, pairs = {}, 0, 0
    for name in distortions.DISTORTIONS:
        by_level = [pristine]
        for level in levels[1:]:
            distorted = np.stack([distortions.distort(c, name, int(level),
                                                  np.random.default_rng(seed + i))
                                  for i, c in enumerate(crops)])
            by_level.append(quality.scores_of(distorted, model))
        means = [float(s.mean()) for s in by_level]
        rho = spearmanr(means, -levels).statistic
        rho_crops = spearmanr(np.concatenate(by_level),
                              -np.repeat(levels, len(crops))).statistic
        won = int((by_level[0] > by_level[-1]).sum())
        wins, pairs = wins + won, pairs + len(crops)
        table[name] = {"spearman": float(rho), "spearman_crops": float(rho_crops),
                       "pair_rate": won / len(crops), "mean_by_level": means}
    pair_rate = wins / pairs
    return {
        "held_out_photos": list(photos),
        "crops_per_photo": n_crops,
        "distortions": table,
        "pair_rate": pair_rate,
        "min_spearman": min(row["spearman"] for row in table.values()),
        "meets_spearman_target": all(row["spearman"] >= TARGET_SPEARMAN
                                     for row in table.values()),
        "meets_pair_rate_target": pair_rate >= TARGET_PAIR_RATE,
        "photos": evaluate_photos(model, photos, seed),
    }


def evaluate_photos(model, photos=tuple(HELD_OUT_PHOTOS), seed: int = 0) -> dict:
    """The whole-photo view of ``evaluate``: each held-out photo distorted at its own size (as a
    user's photo is) and scored by ``quality_score``. Per distortion: Spearman of the mean score
    against the level, and the share of photos whose pristine version beats level 5."""
    from scipy.stats import spearmanr

    from models.aesthetic import distortions, quality

    originals = [load_photo(name) for name in photos]
    levels = np.arange(distortions.LEVELS + 1)
    table, wins, pairs = {}, 0, 0
    for name in distortions.DISTORTIONS:
        scores = np.array([[quality.quality_score(distortions.distort(
            photo, name, int(level), np.random.default_rng(seed + i)), model)
            for level in levels] for i, photo in enumerate(originals)])
        means = scores.mean(axis=0)
        won = int((scores[:, 0] > scores[:, -1]).sum())
        wins, pairs = wins + won, pairs + len(originals)
        table[name] = {"spearman": float(spearmanr(means, -levels).statistic),
                       "pair_rate": won / len(originals),
                       "mean_by_level": [float(m) for m in means]}
    return {"distortions": table, "pair_rate": wins / pairs,
            "min_spearman": min(row["spearman"] for row in table.values())}


def format_evaluation(result: dict) -> str:
    """The evaluation as a plain-text table."""
    lines = [f"{'distortion':<18} {'spearman':>8} {'per-crop':>8} {'pristine wins':>13}   "
             "mean quality, level 0..5"]
    for name, row in result["distortions"].items():
        means = " ".join(f"{m:.3f}" for m in row["mean_by_level"])
        lines.append(f"{name:<18} {row['spearman']:>8.3f} {row['spearman_crops']:>8.3f} "
                     f"{row['pair_rate']:>12.1%}   {means}")
    lines.append(f"pristine beats heavy (level 5) distortion: {result['pair_rate']:.1%} of "
                 f"pairs (target >= {TARGET_PAIR_RATE:.0%}); lowest spearman "
                 f"{result['min_spearman']:.3f} (target >= {TARGET_SPEARMAN})")
    if "photos" in result:
        whole = result["photos"]
        lines += ["", "whole photos, distorted at their own size and scored by quality_score "
                  "(reported, not judged):",
                  f"{'distortion':<18} {'spearman':>8} {'pristine wins':>13}   "
                  "mean quality, level 0..5"]
        for name, row in whole["distortions"].items():
            means = " ".join(f"{m:.3f}" for m in row["mean_by_level"])
            lines.append(f"{name:<18} {row['spearman']:>8.3f} {row['pair_rate']:>12.1%}   {means}")
        lines.append(f"pristine beats heavy distortion: {whole['pair_rate']:.1%} of photos; "
                     f"lowest spearman {whole['min_spearman']:.3f}")
    return "\n".join(lines)


# === Run ===


def command_of(args: argparse.Namespace) -> str:
    """The command line that reproduces this run: the task plus every non-default flag."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    defaults = vars(parser.parse_args([]))
    flags = [f"--{key.replace('_', '-')} {value}" for key, value in vars(args).items()
             if key in defaults and key != "workers" and value != defaults[key]]
    return " ".join(["python -m models.train quality", *flags])


def run(args: argparse.Namespace) -> int:
    """Generate the data, train, evaluate on the held-out photos, save; the exit code."""
    started = time.perf_counter()
    try:
        images, targets = make_training_set(list(TRAIN_PHOTOS), args.crops, args.variants,
                                            args.seed, args.workers)
    except (ImportError, OSError) as error:
        return fail(f"could not read the pristine training photos: {error}")
    data_seconds = time.perf_counter() - started
    print(f"training set: {len(images)} crops from {len(TRAIN_PHOTOS)} photos "
          f"in {data_seconds:.0f} s", flush=True)

    import keras

    from models.aesthetic import quality

    keras.utils.set_random_seed(args.seed)
    model = quality.build_model(width=args.width)
    steps = args.epochs * int(np.ceil(len(images) / args.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(args.learning_rate, steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse",
                  metrics=[keras.metrics.MeanAbsoluteError(name="mae")])
    order = np.random.default_rng(args.seed).permutation(len(images))
    train_started = time.perf_counter()
    history = model.fit(images[order].astype(np.float32), targets[order],
                        batch_size=args.batch_size, epochs=args.epochs, shuffle=True,
                        verbose=2)
    train_seconds = time.perf_counter() - train_started

    result = evaluate(model, n_crops=args.eval_crops, seed=args.seed)
    print()
    print(format_evaluation(result))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / quality.MODEL_FILE
    model.save(path)
    size_mb = path.stat().st_size / 1e6
    result.update({
        "version": VERSION,
        "command": command_of(args),
        "targets": list(quality.TARGETS),
        "train_photos": {k: v[1] for k, v in TRAIN_PHOTOS.items()},
        "held_out_licences": {k: v[1] for k, v in HELD_OUT_PHOTOS.items()},
        "training_samples": int(len(images)),
        "epochs": args.epochs,
        "width": args.width,
        "seed": args.seed,
        "final_loss": float(history.history["loss"][-1]),
        "data_seconds": round(data_seconds, 1),
        "train_seconds": round(train_seconds, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
        "model_mb": round(size_mb, 3),
        "parameters": int(model.count_params()),
    })
    (out / "evaluation.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nsaved {path} ({size_mb:.2f} MB) and evaluation.json; "
          f"data {data_seconds:.0f} s, training {train_seconds:.0f} s")
    return 0
