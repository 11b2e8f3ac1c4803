"""`python -m models.evaluate pose`: score a training run's networks on its test pairs again,
or (`--crowded`) the shipped comparison's pose similarity on crowded photos.

`python -m models.train pose` writes, in its `--out` folder, one `<variant>.keras` per Siamese
network and a `metrics.json` that records every split's photos and pairs (relative to the data
folder it also records), the settings and each row of the results table. This reads the test
pairs' photos again, loads each saved network with `safe_mode=True` (`siamese.load_siamese`),
scores it as training did (`train.score_test_pairs`), re-scores the threshold baseline's rows
with their saved thresholds on the ResNet50 the weights resolver finds, and prints the same
table as training did, then says whether it matches the saved one.

`--crowded` needs no run and no data: it builds crowded photos from the example photos
(`models.pose.evaluate_crowd`) and reports the AUC, hit rate and false-match rate of the pose
similarity that `models.pose.compare` computes.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

import numpy as np

from models import saved_split
from models.cli import CommandFailed, fails_in_one_line
from models.pose.train import BASELINE, VARIANTS, Result

HELP = ("Pose: score a trained InstaModel run (Siamese networks, threshold baseline) on its "
        "saved test pairs again, or, with --crowded, the shipped pose similarity on crowded "
        "photos.")

TRAIN_COMMAND = "python -m models.train pose --data DIR"
METRICS_FILE = "metrics.json"
DEFAULT_RUN = Path("runs/pose")  # the trainer's default --out
TRAINED_ON = "the folder the run was trained on"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The pose evaluation's flags."""
    from models.cli import int_at_least
    from models.pose.evaluate_crowd import EVALUATION_PHOTOS

    saved_split.add_arguments(
        parser, model_default=DEFAULT_RUN, model_metavar="DIR", record_file=METRICS_FILE,
        model_help="a training run's folder (<variant>.keras files and metrics.json; "
                   f"default: {DEFAULT_RUN})")
    parser.add_argument(
        "--crowded", action="store_true",
        help="instead of a run, score the pose similarity the Pose tab shows on crowded photos "
             "built from the example photos (a main subject among bystanders, against its "
             "cropped, scaled, brighter copy and against photos of another person): AUC, hit "
             "rate and false-match rate; needs no data and no --model")
    parser.add_argument(
        "--photos", type=int_at_least(2), default=None, metavar="N",
        help=f"with --crowded: how many crowded photos (default: {EVALUATION_PHOTOS})")


# === The saved run ===


def read_metrics(folder: Path) -> dict:
    """The run's metrics.json.

    Raises:
        CommandFailed: the folder or its metrics.json is missing, or it is no pose run's.
    """
    folder, where, _ = saved_split.artifact_folder(folder, TRAIN_COMMAND)
    metrics = saved_split.read_record(folder, METRICS_FILE, where, TRAIN_COMMAND,
                                      belongs=lambda metrics: metrics.get("task") == "pose")
    if not metrics.get("results"):
        raise CommandFailed(f"{folder / METRICS_FILE} records no results; retrain with "
                            f"`{TRAIN_COMMAND}`.")
    return metrics


def read_saved_split(metrics: dict, folder: Path, root: Path):
    """The PairSplit metrics.json records, its photos under `root`.

    Raises:
        CommandFailed: no split is recorded (a run from before splits were saved), or a test
            photo is not under `root`.
    """
    from models.pose.pairs import SPLIT_KINDS, read_split_record

    record = metrics.get("split") or {}
    try:
        if record.get("by") not in SPLIT_KINDS:
            raise ValueError("no split kind recorded")
        split = read_split_record(record, root, record["by"])
    except ValueError as error:
        raise saved_split.no_saved_split(str(folder), METRICS_FILE, TRAIN_COMMAND,
                                         reason=str(error)) from error
    # Relative to `root` (under which they were found), as the other evaluators' files are.
    test_photos = sorted({photo.path.relative_to(root) for pair in split.test
                          for photo in (pair.a, pair.b)})
    saved_split.check_photos_present(root, test_photos, TRAINED_ON)
    return split


# === Scoring each row again ===


class _Scorer:
    """Scores the saved rows on the test pairs; the baseline's features are computed once,
    and only if a baseline row asks for them."""

    def __init__(self, folder: Path, split, photo_index, images, masks, settings: dict):
        self.folder = folder
        self.split = split
        self.photo_index = photo_index
        self.images = images
        self.masks = masks
        self.settings = settings
        self._features = None

    def features(self) -> np.ndarray:
        if self._features is None:
            from models.cli import resolve_backbone
            from models.pose.train import gap_features

            backbone = resolve_backbone("resnet50")
            self._features = gap_features(self.images, backbone, self.settings["input_size"],
                                          self.settings["batch_size"])
        return self._features

    def baseline(self, row: dict) -> Result:
        """A threshold row: its saved threshold, on features of the resolved ResNet50."""
        from models.pose.siamese import ThresholdRule
        from models.pose.train import BASELINE_MEASURES

        details = row["details"]
        measure = BASELINE_MEASURES[details["metric"]]
        rule = ThresholdRule(measure.metric, float(details["threshold"]),
                             measure.higher_means_same, float(details["training_accuracy"]))
        labels = np.array([pair.same for pair in self.split.test])
        scores = measure.scores(self.features(), self.split.test, self.photo_index)
        return Result(BASELINE, row["network"], row["input_size"], rule.accuracy(scores, labels),
                      None, dict(details))

    def siamese(self, row: dict) -> Result:
        """A Siamese row: its saved network, read back in safe mode, on the test pairs."""
        from models.pose.siamese import load_siamese
        from models.pose.train import score_test_pairs

        variant = VARIANTS[row["variant"]]
        path = self.folder / row["details"]["model_file"]
        try:
            model = load_siamese(path)
        except (OSError, ValueError, TypeError) as error:
            raise CommandFailed(f"{path} does not load as a Siamese network: {error}") from error
        masks = self.masks if variant.pose_branch else None
        loss, accuracy = score_test_pairs(model, self.split.test, self.photo_index, self.images,
                                          masks, self.settings["batch_size"])
        return Result(variant.key, variant.network, row["input_size"], accuracy,
                      variant.research_accuracy, {"test_loss": loss, "model_file": path.name})


def _check_rows(rows: list, folder: Path) -> None:
    """Every row names a known variant, and every Siamese row's network file is here.

    Raises:
        CommandFailed: otherwise; found before any photo is read.
    """
    from models.pose.train import BASELINE_MEASURES

    for row in rows:
        variant, details = row.get("variant"), row.get("details") or {}
        if variant == BASELINE:
            if details.get("metric") not in BASELINE_MEASURES or "threshold" not in details:
                raise CommandFailed(f"{folder / METRICS_FILE} has a baseline row without its "
                                    f"threshold; retrain with `{TRAIN_COMMAND}`.")
        elif variant in VARIANTS:
            path = folder / str(details.get("model_file", f"{variant}.keras"))
            if not path.is_file():
                raise CommandFailed(f"{path} is missing; metrics.json reports it. Retrain with "
                                    f"`{TRAIN_COMMAND} --variants {variant}`.")
        else:
            raise CommandFailed(f"{folder / METRICS_FILE} reports an unknown variant "
                                f"{variant!r}.")


def same_results(saved: list[dict], now: list[Result]) -> bool:
    """The same rows in the same order, with the same test accuracy (a count of pairs, so
    equal to float rounding) and, for the networks, the same test loss to float rounding."""
    if [(r["variant"], r["network"]) for r in saved] != [(r.variant, r.network) for r in now]:
        return False
    for then, current in zip(saved, now, strict=True):
        if not np.isclose(then["test_accuracy"], current.test_accuracy, rtol=0, atol=1e-9):
            return False
        loss = then["details"].get("test_loss")
        if loss is not None and not np.isclose(loss, current.details["test_loss"],
                                               rtol=1e-4, atol=1e-6):
            return False
    return True


# === The command ===


@fails_in_one_line
def run(args: argparse.Namespace) -> int:
    """Load the run, score its test pairs again, print the table; the exit code. With
    `--crowded`, the shipped comparison on crowded photos instead."""
    if args.crowded:
        if Path(args.model) != DEFAULT_RUN or args.data is not None:
            raise CommandFailed("--crowded scores the shipped comparison on photos it builds "
                                "itself; it takes no --model or --data.")
        from models.pose.evaluate_crowd import EVALUATION_PHOTOS, run_crowded

        return run_crowded(args.photos or EVALUATION_PHOTOS, args.json)
    if args.photos is not None:
        raise CommandFailed("--photos counts the crowded photos; use it with --crowded.")
    from models.pose.train import load_pair_photos, results_text, skeleton_masks

    folder = Path(args.model)
    metrics = read_metrics(folder)
    root = saved_split.data_root(args.data, metrics, f"{TRAINED_ON}, DIR/SITE/POSE/*.jpg")
    rows = metrics["results"]
    _check_rows(rows, folder)
    split = read_saved_split(metrics, folder, root)
    settings = metrics.get("settings") or {}
    if not {"input_size", "pose_size", "batch_size"} <= set(settings):
        raise CommandFailed(f"{folder / METRICS_FILE} lacks the training settings; retrain "
                            f"with `{TRAIN_COMMAND}`.")
    photos, photo_index, images = load_pair_photos(split, settings["input_size"],
                                                   names=("test",))
    masks = skeleton_masks(photos, [row["variant"] for row in rows], settings["pose_size"])
    scorer = _Scorer(folder, split, photo_index, images, masks, settings)
    results = [scorer.baseline(row) if row["variant"] == BASELINE else scorer.siamese(row)
               for row in rows]

    print(f"pose run {folder}, test pairs under {root}\n")
    print(results_text(results, split))
    same = same_results(rows, results)
    saved_split.print_comparison(same, "results", lambda: "; ".join(
        f"{now.network} {100 * then['test_accuracy']:.1f}% then, "
        f"{100 * now.test_accuracy:.1f}% now"
        for then, now in zip(rows, results, strict=False)), METRICS_FILE)
    saved_split.write_json(args.json, {
        "task": "pose", "model": str(folder), "data": str(root),
        "split": split.description(), "test_pairs": split.counts()["test"],
        "results": [asdict(result) for result in results],
        "same_as_training": same,
    })
    return 0
