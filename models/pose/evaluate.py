"""`python -m models.evaluate pose`: score a training run's networks on its test pairs again.

`python -m models.train pose` writes, in its `--out` folder, one `<variant>.keras` per Siamese
network and a `metrics.json` that records every split's photos and pairs (relative to the data
folder it also records), the settings and each row of the results table. This reads the test
pairs' photos again, loads each saved network with `safe_mode=True` (`siamese.load_siamese`),
scores it as training did (`train.score_test_pairs`), re-scores the threshold baseline's rows
with their saved thresholds on the ResNet50 the weights resolver finds, and prints the same
table as training did, then says whether it matches the saved one.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from models.cli import CommandFailed, fail
from models.pose.train import BASELINE, VARIANTS, Result

HELP = ("Pose: score a trained InstaModel run (Siamese networks, threshold baseline) on its "
        "saved test pairs again.")

TRAIN_COMMAND = "python -m models.train pose --data DIR"
METRICS_FILE = "metrics.json"
DEFAULT_RUN = Path("runs/pose")  # the trainer's default --out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The pose evaluation's flags."""
    parser.add_argument("--model", type=Path, default=DEFAULT_RUN, metavar="DIR",
                        help="a training run's folder (<variant>.keras files and metrics.json; "
                             f"default: {DEFAULT_RUN})")
    parser.add_argument("--data", type=Path, default=None, metavar="DIR",
                        help="the data folder, if it moved since training (default: the one "
                             "metrics.json records)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="also write the result as JSON to FILE")


# === The saved run ===


def read_metrics(folder: Path) -> dict:
    """The run's metrics.json.

    Raises:
        CommandFailed: the folder or its metrics.json is missing, or it is no pose run's.
    """
    path = folder / METRICS_FILE
    if not folder.is_dir():
        raise CommandFailed(f"{folder} is not a folder; pass --model DIR, the --out folder of "
                            f"`{TRAIN_COMMAND}`.")
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CommandFailed(f"{path} is missing or not JSON ({error}); pass --model DIR, the "
                            f"--out folder of `{TRAIN_COMMAND}`.") from error
    if not isinstance(metrics, dict) or metrics.get("task") != "pose":
        raise CommandFailed(f"{path} is not the metrics of `{TRAIN_COMMAND}`.")
    if not metrics.get("results"):
        raise CommandFailed(f"{path} records no results; retrain with `{TRAIN_COMMAND}`.")
    return metrics


def saved_split(metrics: dict, folder: Path, root: Path):
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
        raise CommandFailed(f"{folder / METRICS_FILE} has no saved split ({error}); retrain "
                            f"with `{TRAIN_COMMAND}` to save one.") from error
    test_photos = sorted({photo.path for pair in split.test for photo in (pair.a, pair.b)})
    missing = [path for path in test_photos if not path.is_file()]
    if missing:
        raise CommandFailed(f"{len(missing)} of the {len(test_photos)} test photos are not under "
                            f"{root} (the first: {missing[0]}); pass --data DIR, the folder the "
                            "run was trained on.")
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


def run(args: argparse.Namespace) -> int:
    """Load the run, score its test pairs again, print the table; the exit code."""
    try:
        return _run(args)
    except CommandFailed as error:
        return fail(error)


def _run(args: argparse.Namespace) -> int:
    from models.pose.train import load_pair_photos, results_text, skeleton_masks

    folder = Path(args.model)
    metrics = read_metrics(folder)
    recorded = metrics.get("data")
    root = Path(args.data if args.data is not None else recorded or "")
    if not root.is_dir():
        raise CommandFailed(f"The data folder {root} is not here; pass --data DIR (the folder "
                            "the run was trained on, DIR/SITE/POSE/*.jpg).")
    rows = metrics["results"]
    _check_rows(rows, folder)
    split = saved_split(metrics, folder, root)
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
    if same:
        print("\nsame as the results saved at training")
    else:
        print("\ndiffers from the results saved at training: " + "; ".join(
            f"{now.network} {100 * then['test_accuracy']:.1f}% then, "
            f"{100 * now.test_accuracy:.1f}% now"
            for then, now in zip(rows, results, strict=False)))
    if args.json is not None:
        _write_json(args.json, {
            "task": "pose", "model": str(folder), "data": str(root),
            "split": split.description(), "test_pairs": split.counts()["test"],
            "results": [asdict(result) for result in results],
            "same_as_training": same,
        })
    return 0


def _write_json(path: Path, result: dict) -> None:
    try:
        path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise CommandFailed(f"Cannot write to {path}: {error.strerror or error}.") from error
