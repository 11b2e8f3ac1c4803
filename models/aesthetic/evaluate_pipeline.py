"""`python -m models.evaluate aesthetic`: accuracy of a trained rating pipeline per benchmark.

"Image Rating using CNN" reported its best pipeline's accuracy on five benchmark sets:

| benchmark | photos (aesthetic / not) | accuracy |
| --- | --- | --- |
| Benchmark1 | 111 (47 / 64) | 94.59% |
| Benchmark2 | 1034 (534 / 500) | 95.36% |
| Alm Benchmark | 200 (100 / 100) | 95.5% |
| Custom Benchmark | 200 (100 / 100) | 94% |
| Coco Benchmark | 1000 (0 / 1000) | 93.4% |

Those benchmarks were never published, so this task measures a pipeline trained with
`python -m models.train aesthetic` on any folders laid out as `DIR/good/` and `DIR/bad/` (one of
the two may be empty, as in the COCO benchmark). It prints one row per folder, and the research's
table underneath as what the paper reported; a folder named like a research benchmark (e.g.
`coco`, `benchmark1`) shows the paper's number on its own row. Use folders of photos the pipeline
never saw: `python -m models.train aesthetic` reports its own held-out test accuracy, and any
photo of its training folder would flatter this one.

With `--saved-split` instead of benchmark folders, it scores the training run's own test photos
again: `python -m models.train aesthetic` lists the photos of each share in metrics.json
(`split_files`, relative to the data folder it also records). The saved pipeline rates the test
photos, letterboxed and featurised as training did, and the command prints training's report
(`train_pipeline.format_report`), then whether it matches the saved test accuracy.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models import saved_split
from models.cli import CommandFailed, fail

HELP = ("Image Rating using CNN: accuracy of a trained aesthetic pipeline on benchmark folders, "
        "or on its saved test split again.")

TRAIN_COMMAND = "python -m models.train aesthetic --data DIR"
METRICS_FILE = "metrics.json"

RESEARCH_RESULTS = {  # benchmark -> (aesthetic photos, not aesthetic photos, accuracy)
    "Benchmark1": (47, 64, 0.9459),
    "Benchmark2": (534, 500, 0.9536),
    "Alm Benchmark": (100, 100, 0.955),
    "Custom Benchmark": (100, 100, 0.94),
    "Coco Benchmark": (0, 1000, 0.934),
}


def _key(name: str) -> str:
    """Normalise a benchmark name: "Coco Benchmark", "coco_benchmark" and "COCO" all match."""
    text = "".join(ch for ch in name.lower() if ch.isalnum())
    return text.removesuffix("benchmark") or text


RESEARCH_BY_KEY = {_key(name): accuracy for name, (_, _, accuracy) in RESEARCH_RESULTS.items()}


@dataclass(frozen=True)
class BenchmarkResult:
    """One printed row.

    Attributes:
        name: the folder's name.
        good, bad: photos in good/ and bad/.
        accuracy: share of photos classified right.
        good_accuracy, bad_accuracy: the same within each class (None for an empty class).
        research_accuracy: the research's number for a benchmark of this name, or None.
    """

    name: str
    good: int
    bad: int
    accuracy: float
    good_accuracy: float | None
    bad_accuracy: float | None
    research_accuracy: float | None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The aesthetic evaluation's flags: benchmark folders, or the saved split."""
    parser.add_argument("--model", type=Path, default=Path("runs/aesthetic"), metavar="DIR",
                        help="a folder written by `python -m models.train aesthetic` "
                             "(default: runs/aesthetic)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--data", type=Path, nargs="+", metavar="DIR",
                      help="benchmark folders, each with good/ and/or bad/")
    # const=True, not a string: argparse would pass a string const through `type`.
    what.add_argument("--saved-split", type=Path, nargs="?", const=True, default=None,
                      metavar="DATA",
                      help="instead of benchmark folders, score the test photos the training "
                           "run held out (listed in its metrics.json) again; DATA is the data "
                           "folder if it moved since training (default: the one metrics.json "
                           "records)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="with --saved-split, also write the result as JSON to FILE")
    parser.add_argument("--batch-size", type=int, default=32, help="photos a batch (default 32)")


def score_benchmark(name: str, predictions: np.ndarray, labels: np.ndarray) -> BenchmarkResult:
    """Accuracy of aesthetic probabilities, cut at 0.5, against 0/1 labels, overall and by class."""
    right = (np.asarray(predictions) >= 0.5) == (np.asarray(labels) == 1)
    good = labels == 1

    def share(mask):
        return float(np.mean(right[mask])) if mask.any() else None

    return BenchmarkResult(name, int(good.sum()), int((~good).sum()), float(np.mean(right)),
                           share(good), share(~good), RESEARCH_BY_KEY.get(_key(name)))


def _percent(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Left-aligned first column, right-aligned others."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    return "\n".join(
        "  ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:],
                                                                            strict=True)])
        for row in (header, *rows)
    )


def format_results(results: list[BenchmarkResult]) -> str:
    """Our table, one row per benchmark folder, then the research's for reference."""
    ours = _table(
        ("benchmark", "photos", "good", "bad", "accuracy", "on good", "on bad",
         "paper reported"),
        [(r.name, str(r.good + r.bad), str(r.good), str(r.bad), _percent(r.accuracy),
          _percent(r.good_accuracy), _percent(r.bad_accuracy),
          _percent(r.research_accuracy, 2)) for r in results],
    )
    research = _table(
        ("research benchmark", "photos", "good", "bad", "accuracy"),
        [(name, str(good + bad), str(good), str(bad), _percent(accuracy, 2))
         for name, (good, bad, accuracy) in RESEARCH_RESULTS.items()],
    )
    return f"{ours}\n\nWhat the paper reported (its benchmarks are not public):\n{research}"


def run(args: argparse.Namespace) -> int:
    """Rate every benchmark folder's photos and print accuracy per folder, or the saved test
    split's photos and training's report; exit code."""
    if args.batch_size < 1:
        return _flag_error("--batch-size must be at least 1")
    if args.json is not None and args.saved_split is None:
        return _flag_error("--json goes with --saved-split")
    try:
        if args.saved_split is not None:
            return _run_saved_split(args)
        return _run_benchmarks(args)
    except CommandFailed as error:
        return fail(error)


def _flag_error(message: str) -> int:
    print(f"python -m models.evaluate aesthetic: error: {message} (see --help)", file=sys.stderr)
    return 2


# === The saved pipeline ===


def load_pipeline(model: Path):
    """The saved pipeline and a MultiGAP extractor on the backbone it was trained on.

    Raises:
        CommandFailed: the pipeline does not load, its backbone is missing or unknown, or the
            backbone here has other stages than the one it was trained on.
    """
    import weights
    from models.aesthetic.multigap import efficientnet_backbone, multigap_extractor
    from models.aesthetic.rating_pipeline import RatingPipeline
    from models.backbones import check_backbone_folder, normalisation_stats

    try:
        pipeline = RatingPipeline.load(model)
    except (FileNotFoundError, ValueError, KeyError, OSError) as error:
        raise CommandFailed(f"Cannot load the model in {model}: {error}") from error
    try:
        folder = weights.resolve(pipeline.backbone)
    except weights.WeightsUnavailable as error:
        raise CommandFailed(error.summary) from error
    except KeyError as error:
        raise CommandFailed(f"{model} names an unknown backbone {pipeline.backbone!r}.") from error
    try:
        check_backbone_folder(folder)
    except (ValueError, ImportError) as error:
        raise CommandFailed(error) from error
    mean, std = normalisation_stats(folder)
    extractor = multigap_extractor(efficientnet_backbone(folder), pipeline.input_size,
                                   mean=mean, std=std)
    if extractor.layout.stages != pipeline.stages:
        raise CommandFailed(f"The model in {model} was trained on other {pipeline.backbone} "
                            f"weights (stages {pipeline.stages}, these have "
                            f"{extractor.layout.stages}).")
    return pipeline, extractor


def rate_photos(pipeline, extractor, paths: list[Path], batch_size: int) -> np.ndarray:
    """The pipeline's aesthetic probability of each photo, letterboxed as training did.

    Raises:
        CommandFailed: a photo cannot be read.
    """
    from models.aesthetic.rating_pipeline import load_letterboxed
    from models.images import InvalidImage

    try:
        images = load_letterboxed(paths, pipeline.input_size)
    except InvalidImage as error:
        raise CommandFailed(f"Cannot use a photo: {error.reason}") from error
    return pipeline.predict(extractor(images, batch_size=batch_size))


# === Benchmark folders ===


def _run_benchmarks(args: argparse.Namespace) -> int:
    from models.aesthetic.rating_pipeline import RatingDataError, scan_rating_folder

    # Check every folder before the slow part, so a typo in the last one fails at once.
    benchmarks = []
    try:
        for folder in args.data:
            benchmarks.append((Path(folder), *scan_rating_folder(folder, need_both=False)))
    except RatingDataError as error:
        raise CommandFailed(error) from error
    pipeline, extractor = load_pipeline(args.model)
    results = []
    for path, paths, labels in benchmarks:
        predictions = rate_photos(pipeline, extractor, paths, args.batch_size)
        result = score_benchmark(path.resolve().name, predictions, labels)
        print(f"{result.name}: {_percent(result.accuracy)} of {len(labels)} photos", flush=True)
        results.append(result)
    print()
    print(format_results(results))
    return 0


# === The saved split ===


SAVED_SPLIT_FLAG = "--saved-split DATA"
TRAINED_ON = "the folder the pipeline was trained on"


def read_metrics(model: Path) -> dict:
    """The training run's metrics.json.

    Raises:
        CommandFailed: it is missing, not JSON, or not an aesthetic run's.
    """
    return saved_split.read_record(
        model, METRICS_FILE, str(model), TRAIN_COMMAND,
        belongs=lambda metrics: metrics.get("task", "aesthetic") == "aesthetic")


def saved_sides(metrics: dict, model: Path) -> dict[str, list[str]]:
    """Each share's photos, as metrics.json lists them (relative to the data folder).

    Raises:
        CommandFailed: it lists no test photos (a run from before splits were saved).
    """
    from models.aesthetic.train_pipeline import SPLIT_SIDES

    saved_split.saved_test_files(metrics, str(model), METRICS_FILE, TRAIN_COMMAND)
    split_files = metrics["split_files"]
    return {side: list(split_files.get(side) or []) for side in SPLIT_SIDES}


def locate_test_photos(files: list[str], root: Path) -> tuple[list[Path], np.ndarray]:
    """The test photos' paths under `root` and their labels (1 good, 0 bad).

    Raises:
        CommandFailed: a photo is not under `root`, or is in neither class folder.
    """
    from models.aesthetic.rating_pipeline import BAD_FOLDER, GOOD_FOLDER

    saved_split.check_photos_present(root, files, TRAINED_ON, flag=SAVED_SPLIT_FLAG)
    labels = saved_split.class_labels(files, {GOOD_FOLDER: 1.0, BAD_FOLDER: 0.0}, METRICS_FILE)
    return [root / name for name in files], labels


def _run_saved_split(args: argparse.Namespace) -> int:
    from models.aesthetic.train_pipeline import format_report, share_right

    # metrics.json first: a folder without a saved split is refused before the backbone loads.
    metrics = read_metrics(args.model)
    split_files = saved_sides(metrics, args.model)
    moved = args.saved_split if isinstance(args.saved_split, Path) else None
    root = saved_split.data_root(moved, metrics, f"{TRAINED_ON}, DATA/good/ and DATA/bad/",
                                 flag=SAVED_SPLIT_FLAG)
    files = split_files["test"]
    paths, labels = locate_test_photos(files, root)
    pipeline, extractor = load_pipeline(args.model)
    # As training scored it: aesthetic at a probability of 0.5 and above.
    probabilities = rate_photos(pipeline, extractor, paths, args.batch_size)
    test_accuracy = share_right(probabilities, labels)
    counts = {side: len(names) for side, names in split_files.items()}

    print(f"rating pipeline from {args.model}, test photos under {root}")
    print(format_report(counts, test_accuracy))
    saved = metrics.get("test_accuracy")
    same = None if saved is None else bool(
        (metrics.get("photos") or {}).get("test") == len(files)
        and np.isclose(saved, test_accuracy, rtol=0, atol=1e-9))
    saved_split.print_comparison(
        same, "test accuracy",
        lambda: f"{100 * saved:.1f}% then, {100 * test_accuracy:.1f}% now", METRICS_FILE)
    saved_split.write_json(args.json, {
        "task": "aesthetic", "model": str(args.model), "data": str(root),
        "test_files": files, "probabilities": np.asarray(probabilities).tolist(),
        "test_accuracy": test_accuracy, "same_as_training": same,
    })
    return 0
