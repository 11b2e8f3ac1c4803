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
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.cli import fail

HELP = "Image Rating using CNN: accuracy of a trained aesthetic pipeline on benchmark folders."

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
    """The aesthetic evaluation's flags."""
    parser.add_argument("--model", type=Path, default=Path("runs/aesthetic"), metavar="DIR",
                        help="a folder written by `python -m models.train aesthetic` "
                             "(default: runs/aesthetic)")
    parser.add_argument("--data", required=True, type=Path, nargs="+", metavar="DIR",
                        help="benchmark folders, each with good/ and/or bad/")
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
    """Rate every benchmark folder's photos, print accuracy per folder; exit code."""
    import weights
    from models.aesthetic.rating_pipeline import RatingDataError, scan_rating_folder
    from models.images import InvalidImage

    if args.batch_size < 1:
        print("python -m models.evaluate aesthetic: error: --batch-size must be at least 1",
              file=sys.stderr)
        return 2
    # Check every folder before the slow part, so a typo in the last one fails at once.
    benchmarks = []
    try:
        for folder in args.data:
            benchmarks.append((Path(folder), *scan_rating_folder(folder, need_both=False)))
    except RatingDataError as error:
        return fail(error)

    from models.aesthetic.rating_pipeline import RatingPipeline

    try:
        pipeline = RatingPipeline.load(args.model)
    except (FileNotFoundError, ValueError, KeyError, OSError) as error:
        return fail(f"Cannot load the model in {args.model}: {error}")
    try:
        folder = weights.resolve(pipeline.backbone)
    except weights.WeightsUnavailable as error:
        return fail(error.summary)
    except KeyError:
        return fail(f"{args.model} names an unknown backbone {pipeline.backbone!r}.")

    from models.aesthetic.multigap import efficientnet_backbone, multigap_extractor
    from models.aesthetic.rating_pipeline import load_letterboxed
    from models.backbones import check_backbone_folder, normalisation_stats

    try:
        check_backbone_folder(folder)
    except (ValueError, ImportError) as error:
        return fail(error)
    mean, std = normalisation_stats(folder)
    extractor = multigap_extractor(efficientnet_backbone(folder), pipeline.input_size,
                                   mean=mean, std=std)
    if extractor.layout.stages != pipeline.stages:
        return fail(f"The model in {args.model} was trained on other {pipeline.backbone} "
                     f"weights (stages {pipeline.stages}, these have "
                     f"{extractor.layout.stages}).")

    results = []
    for path, paths, labels in benchmarks:
        try:
            images = load_letterboxed(paths, pipeline.input_size)
        except InvalidImage as error:
            return fail(f"Cannot use a photo: {error.reason}")
        predictions = pipeline.predict(extractor(images, batch_size=args.batch_size))
        result = score_benchmark(path.resolve().name, predictions, labels)
        print(f"{result.name}: {_percent(result.accuracy)} of {len(labels)} photos", flush=True)
        results.append(result)
    print()
    print(format_results(results))
    return 0
