"""`python -m models.train aesthetic`: the "Image Rating using CNN" pipeline, trained end to end.

The research rated photos aesthetic or not with EfficientNet + MultiGAP features, two PCAs, a
genetic-algorithm feature selection (population 100, 2 elite, 50 parents, fitness = accuracy on
held-out data) and a 3-layer fully connected classifier with batch norm and dropout
(`models.aesthetic.rating_pipeline`, `models.aesthetic.multigap`). It trained on 11024 good
and 70075 bad photos and reported 93.4-95.5% accuracy on five benchmarks
(`python -m models.evaluate aesthetic` prints that table for your own benchmark folders).

This task takes `--data DIR` with `DIR/good/*.jpg` and `DIR/bad/*.jpg` and splits the photos,
class by class, into training, validation and test. Test photos are held out from everything;
validation photos only decide when the FC classifier stops. It trains on the rest:

1. features of every photo (letterboxed to `--input-size`, as the research's
   `resize_with_borders`);
2. the two PCAs, fitted on the training photos only;
3. the genetic algorithm. Its fitness is measured on a "selection" share carved out of the
   training photos, never on the validation or test photos: the research scored its GA on the
   data it then reported, which flatters the reported accuracy;
4. the FC classifier on all training photos' selected components, stopped early on the
   validation loss (the best epoch's weights are kept);
5. the accuracy on the test photos, the only figure reported, with the research's (93.4-95.5%
   on its own benchmarks) beside it as what the paper reported.

It writes `head.keras`, `pipeline.npz` and `metrics.json` to `--out`. metrics.json records the
split: the photos of each share (`split_files`: train, fit, select, validation, test, relative
to the data folder it also records, absolute), which `python -m models.evaluate aesthetic
--saved-split` (`models.aesthetic.evaluate_pipeline`) reads to score the test photos again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.cli import (
    CommandFailed,
    fail,
    float_in,
    int_at_least,
    output_folder,
    resolve_backbone,
)

HELP = ("Image Rating using CNN: EfficientNet + MultiGAP features, PCA, genetic feature "
        "selection and an FC classifier of aesthetic photos.")

RESEARCH_TRAINING = {"good": 11024, "bad": 70075}
RESEARCH_EPOCHS = 30  # the research's epochs for its rating stage
# The lowest and highest accuracy the paper reported over its five benchmarks
# (`models.aesthetic.evaluate_pipeline.RESEARCH_RESULTS`).
RESEARCH_ACCURACY_RANGE = (0.934, 0.955)


# === Flags ===


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The aesthetic task's flags."""
    from models.aesthetic.rating_pipeline import (
        FC_DROPOUT,
        KEEP_FRACTION,
        PARENTS_PER_CHILD,
        RESEARCH_ELITE,
        RESEARCH_PARENTS,
        RESEARCH_POPULATION,
    )

    parser.add_argument("--data", required=True, type=Path, metavar="DIR",
                        help="photos as DIR/good/*.jpg (aesthetic) and DIR/bad/*.jpg (not)")
    parser.add_argument("--out", type=Path, default=Path("runs/aesthetic"), metavar="DIR",
                        help="where head.keras, pipeline.npz and metrics.json go "
                             "(default: runs/aesthetic)")
    parser.add_argument("--input-size", type=int_at_least(32), default=224, metavar="PIXELS",
                        help="side of the letterboxed square photos (default: 224, "
                             "EfficientNet-B0's own; the research's B7 used 600)")
    parser.add_argument("--validation-fraction", type=float_in(0.0, 1.0), default=0.2,
                        help="share of the non-test photos early stopping watches "
                             "(default 0.2)")
    parser.add_argument("--test-fraction", type=float_in(0.0, 1.0), default=0.2,
                        help="share of photos held out for the reported accuracy (default 0.2)")
    parser.add_argument("--selection-fraction", type=float_in(0.0, 1.0), default=0.25,
                        help="share of the training photos the GA's fitness is measured on "
                             "(default 0.25)")
    parser.add_argument("--pca-ratio", type=float_in(0.0, 1.0, include_high=True),
                        default=0.5,
                        help="share of each part's length kept by its PCA (default: the "
                             "research's 0.5)")
    parser.add_argument("--features", type=int_at_least(1), default=None, metavar="K",
                        help="components the GA selects (default: the research's share, "
                             "5000 of 9744, of the PCA components)")
    parser.add_argument("--population", type=int_at_least(4), default=RESEARCH_POPULATION,
                        help=f"GA population (default: the research's {RESEARCH_POPULATION})")
    parser.add_argument("--elite", type=int_at_least(1), default=RESEARCH_ELITE,
                        help=f"best vectors kept each generation (default {RESEARCH_ELITE})")
    parser.add_argument("--parents", type=int_at_least(1), default=RESEARCH_PARENTS,
                        help=f"top vectors that breed (default {RESEARCH_PARENTS})")
    parser.add_argument("--generations", type=int_at_least(0), default=10,
                        help="GA generations (default 10)")
    parser.add_argument("--parents-per-child", type=int_at_least(1), default=PARENTS_PER_CHILD,
                        help=f"parents a child is made from (default {PARENTS_PER_CHILD})")
    parser.add_argument("--keep-fraction", type=float_in(0.0, 1.0, include_high=True),
                        default=KEEP_FRACTION,
                        help=f"share of genes a mutation keeps (default {KEEP_FRACTION})")
    parser.add_argument("--epochs", type=int_at_least(1), default=RESEARCH_EPOCHS,
                        help=f"most FC training epochs; early stopping on the validation loss "
                             f"ends sooner (default: the research's {RESEARCH_EPOCHS})")
    parser.add_argument("--patience", type=int_at_least(0), default=5,
                        help="epochs without a better validation loss before stopping "
                             "(default 5)")
    parser.add_argument("--batch-size", type=int_at_least(1), default=32,
                        help="photos a batch (default 32)")
    parser.add_argument("--learning-rate", type=float_in(0.0, 1.0), default=1e-3,
                        help="Adam learning rate of the FC (default 0.001)")
    parser.add_argument("--dropout", type=float_in(0.0, 1.0, include_low=True), default=FC_DROPOUT,
                        help=f"FC dropout rate (default {FC_DROPOUT})")
    parser.add_argument("--seed", type=int, default=0, help="split, GA and training seed")


# === Steps ===


def stratified_split(labels: np.ndarray, fraction: float,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Split row indices per class so both sides keep the class balance.

    Each class with at least two photos puts at least one on each side, so a tiny dataset
    still has both classes to train and to measure on.

    Returns:
        (kept rows, held-out rows), each sorted.
    """
    kept, held = [], []
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        count = int(round(fraction * len(rows)))
        if len(rows) >= 2:
            count = min(max(count, 1), len(rows) - 1)
        held.extend(rows[:count])
        kept.extend(rows[count:])
    return np.sort(np.array(kept, int)), np.sort(np.array(held, int))


@dataclass(frozen=True)
class Splits:
    """Row indices of the photos, by what each share is for.

    Attributes:
        train: the training photos (`fit` and `select` together): the PCAs and the FC use them.
        fit: the training photos the GA's proxy classifier fits on.
        select: the training photos the GA's fitness is measured on.
        validation: held out from training; only decides when the FC stops.
        test: held out from everything; the reported accuracy.
    """

    train: np.ndarray
    fit: np.ndarray
    select: np.ndarray
    validation: np.ndarray
    test: np.ndarray


def ga_config(args: argparse.Namespace):
    """The GA's settings from the flags.

    Raises:
        ValueError: the flags contradict each other (e.g. more parents than the population).
    """
    from models.aesthetic.rating_pipeline import GAConfig

    return GAConfig(population=args.population, elite=args.elite, parents=args.parents,
                    generations=args.generations, parents_per_child=args.parents_per_child,
                    keep_fraction=args.keep_fraction, seed=args.seed)


def load_data(data: Path) -> tuple[list[Path], np.ndarray]:
    """The photos' paths and labels (1 good, 0 bad), with enough of each class to split.

    Raises:
        CommandFailed: the folder is not laid out as good/ and bad/, or a class is too small.
    """
    from models.aesthetic.rating_pipeline import RatingDataError, scan_rating_folder

    try:
        paths, labels = scan_rating_folder(data)
    except RatingDataError as error:
        raise CommandFailed(error) from error
    if min(np.sum(labels == 1), np.sum(labels == 0)) < 4:
        raise CommandFailed(f"{data} needs at least 4 photos in each of good/ and bad/ "
                            "(training, GA selection, validation and test each need both "
                            "classes).")
    return paths, labels


def print_photo_counts(labels: np.ndarray) -> None:
    good, bad = int(np.sum(labels == 1)), int(np.sum(labels == 0))
    print(f"photos: {good} good, {bad} bad (research: {RESEARCH_TRAINING['good']} good, "
          f"{RESEARCH_TRAINING['bad']} bad)")


def load_photos(paths: list[Path], input_size: int) -> np.ndarray:
    """Every photo letterboxed to input_size x input_size, uint8.

    Raises:
        CommandFailed: a photo cannot be read.
    """
    from models.aesthetic.rating_pipeline import load_letterboxed
    from models.images import InvalidImage

    try:
        return load_letterboxed(paths, input_size)
    except InvalidImage as error:
        raise CommandFailed(f"Cannot use a photo: {error.reason}") from error


def extract_features(folder: Path, images: np.ndarray, args: argparse.Namespace):
    """The MultiGAP extractor on the EfficientNet in `folder`, and every photo's features."""
    from models.aesthetic.multigap import efficientnet_backbone, multigap_extractor
    from models.backbones import normalisation_stats

    mean, std = normalisation_stats(folder)
    extractor = multigap_extractor(efficientnet_backbone(folder), args.input_size,
                                   mean=mean, std=std)
    features = extractor(images, batch_size=args.batch_size)
    stages = ", ".join(f"{name} {channels}" for name, channels in extractor.layout.stages)
    print(f"features: {features.shape[1]} per photo ({stages})")
    return extractor, features


def split_photos(labels: np.ndarray, args: argparse.Namespace,
                 rng: np.random.Generator) -> Splits:
    """Test photos out first, then validation photos, then the GA's selection share out of the
    rest; no photo is in two shares."""
    rest, test_rows = stratified_split(labels, args.test_fraction, rng)
    train_local, val_local = stratified_split(labels[rest], args.validation_fraction, rng)
    train_rows, val_rows = rest[train_local], rest[val_local]
    fit_local, select_local = stratified_split(labels[train_rows], args.selection_fraction, rng)
    splits = Splits(train_rows, train_rows[fit_local], train_rows[select_local], val_rows,
                    test_rows)
    print(format_split(split_counts(splits)))
    return splits


SPLIT_SIDES = ("train", "fit", "select", "validation", "test")
"""The shares `split_files` in metrics.json lists, as the fields of `Splits`."""


def split_counts(splits: Splits) -> dict[str, int]:
    """Photos in each share, keyed as `SPLIT_SIDES`."""
    return {side: len(getattr(splits, side)) for side in SPLIT_SIDES}


def format_split(counts: dict[str, int]) -> str:
    """The split's line, as training prints it when it splits and in its report.

    Args:
        counts: photos in each share, keyed as `SPLIT_SIDES`.
    """
    return (f"split by photo: {counts['train']} training ({counts['fit']} fit + "
            f"{counts['select']} GA selection), {counts['validation']} validation (early "
            f"stopping), {counts['test']} test (reported)")


def format_report(counts: dict[str, int], test_accuracy: float) -> str:
    """The split and the test accuracy, as training prints them at the end and
    `python -m models.evaluate aesthetic --saved-split` prints them again.

    Args:
        counts: photos in each share, keyed as `SPLIT_SIDES`.
        test_accuracy: the share of test photos the pipeline puts on the right side of 0.5.
    """
    low, high = RESEARCH_ACCURACY_RANGE
    return (f"{format_split(counts)}\n"
            f"test accuracy: {100 * test_accuracy:.1f}% ({counts['test']} held-out photos; the "
            f"paper reported {100 * low:.1f}-{100 * high:.1f}% on its own benchmarks)")


def reduce_features(features: np.ndarray, splits: Splits, extractor, args: argparse.Namespace):
    """The two PCAs, fitted on the training photos only, and every photo's components."""
    from models.aesthetic.rating_pipeline import fit_reducer

    reducer = fit_reducer(features[splits.train], extractor.layout.part_slices(),
                          args.pca_ratio, seed=args.seed)
    components = reducer.transform(features)
    parts = ", ".join(f"{p.name} {p.stop - p.start} -> {len(p.scale)}" for p in reducer.parts)
    print(f"PCA: {parts}")
    return reducer, components


def select_components(components: np.ndarray, labels: np.ndarray, splits: Splits, size: int,
                      config, args: argparse.Namespace):
    """The genetic algorithm's choice of components, its fitness measured on the selection
    share.

    Returns:
        (how many components were chosen, the GA's result).

    Raises:
        CommandFailed: `--features` asks for more components than the PCAs give.
    """
    from models.aesthetic.rating_pipeline import (
        RESEARCH_COMPONENTS,
        RESEARCH_SELECTED,
        genetic_select,
        proxy_fitness,
    )

    k = args.features or max(1, round(size * RESEARCH_SELECTED / RESEARCH_COMPONENTS))
    if k > size:
        raise CommandFailed(f"--features {k} is more than the {size} PCA components.")
    fitness = proxy_fitness(components[splits.fit], labels[splits.fit],
                            components[splits.select], labels[splits.select])

    def report(generation: int, best: float, mean_fitness: float) -> None:
        print(f"GA generation {generation}/{config.generations}: best {100 * best:.1f}%, "
              f"mean {100 * mean_fitness:.1f}%", flush=True)

    print(f"GA: choosing {k} of {size} components, population {config.population}, "
          f"{config.elite} kept, top {config.parents} breed")
    return k, genetic_select(fitness, size, k, config, progress=report)


def train_classifier(components: np.ndarray, labels: np.ndarray, splits: Splits, chosen,
                     args: argparse.Namespace):
    """The FC classifier on all training photos' chosen components, stopped early on the
    validation loss with the best epoch's weights restored.

    Returns:
        (the trained head, its Keras History).
    """
    import keras

    from models.aesthetic.rating_pipeline import fc_classifier

    head = fc_classifier(len(chosen), dropout=args.dropout)
    head.compile(optimizer=keras.optimizers.Adam(args.learning_rate),
                 loss=keras.losses.BinaryCrossentropy(),
                 metrics=[keras.metrics.BinaryAccuracy(name="accuracy")])
    train_x = components[splits.train][:, chosen]
    val_x = components[splits.validation][:, chosen]
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=args.patience,
                                            restore_best_weights=True)
    history = head.fit(train_x, labels[splits.train],
                       validation_data=(val_x, labels[splits.validation]),
                       epochs=args.epochs, batch_size=args.batch_size, callbacks=[stopper],
                       verbose=2)
    return head, history


def share_right(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Share of photos whose aesthetic probability is on the right side of 0.5 (aesthetic at
    0.5 and above), for 0/1 labels."""
    return float(np.mean((np.asarray(probabilities) >= 0.5) == (np.asarray(labels) == 1)))


def accuracy(pipeline, features: np.ndarray, labels: np.ndarray) -> float:
    """Share of photos the whole pipeline rates on the right side of 0.5."""
    return share_right(pipeline.predict(features), labels)


def write_metrics(out: Path, args: argparse.Namespace, folder: Path, paths: list[Path],
                  labels: np.ndarray, splits: Splits, extractor, reducer, k: int, selection,
                  history, accuracies: tuple[float, float], seconds: float) -> None:
    """metrics.json: the settings, the data's shares and their photos, each stage's result
    and the accuracies."""
    train_accuracy, test_accuracy = accuracies
    data = Path(args.data)
    metrics = {
        "task": "aesthetic",
        # Absolute, so the evaluator finds the photos from any working folder.
        "data": str(data.resolve()),
        "weights": str(folder),
        "settings": {key: (str(value) if isinstance(value, Path) else value)
                     for key, value in vars(args).items() if key not in ("run", "task")},
        "photos": {"good": int(np.sum(labels == 1)), "bad": int(np.sum(labels == 0)),
                   "training": len(splits.train), "ga_selection": len(splits.select),
                   "validation": len(splits.validation), "test": len(splits.test)},
        "split": "by photo, class by class; GA fitness on a share of training, early "
                 "stopping on validation, accuracy on test",
        # Which photos went to which share, relative to `data` (train is fit + select):
        # `python -m models.evaluate aesthetic --saved-split` reads the test share again.
        "split_files": {side: [paths[row].relative_to(data).as_posix()
                               for row in getattr(splits, side)] for side in SPLIT_SIDES},
        "features": {"stages": [list(stage) for stage in extractor.layout.stages],
                     "pca": {p.name: [p.stop - p.start, len(p.scale)] for p in reducer.parts},
                     "selected": k},
        "ga": {"best_fitness": selection.best_fitness,
               "best_history": list(selection.best_history),
               "mean_history": list(selection.mean_history)},
        "fc": {"epochs": len(history.history["loss"]),
               "best_epoch": int(np.argmin(history.history["val_loss"])) + 1,
               "final_loss": float(history.history["loss"][-1])},
        "training_accuracy": train_accuracy,
        "test_accuracy": test_accuracy,
        "paper_reported": {"accuracy": list(RESEARCH_ACCURACY_RANGE),
                           "on": "five benchmarks of its own (not public)"},
        "seconds": round(seconds, 1),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")


def print_summary(out: Path, accuracies: tuple[float, float], splits: Splits) -> None:
    train_accuracy, test_accuracy = accuracies
    print()
    print(f"training accuracy: {100 * train_accuracy:.1f}%")
    print(format_report(split_counts(splits), test_accuracy))
    print(f"saved to {out} (`python -m models.evaluate aesthetic --model {out} --saved-split` "
          "scores its test photos again)")


# === The task ===


def run(args: argparse.Namespace) -> int:
    """Train the pipeline, print progress and the test accuracy, save it; exit code."""
    try:
        config = ga_config(args)
    except ValueError as error:
        print(f"python -m models.train aesthetic: error: {error} (see --help)", file=sys.stderr)
        return 2
    try:
        # Everything that can be wrong with the data, the weights or --out is found before
        # the long work starts.
        paths, labels = load_data(args.data)
        from models.aesthetic.multigap import EFFICIENTNET_WEIGHTS  # imports Keras: not sooner

        folder = resolve_backbone(EFFICIENTNET_WEIGHTS)
        out = output_folder(args.out)
        train(args, config, paths, labels, folder, out)
    except CommandFailed as error:
        return fail(error)
    return 0


def train(args: argparse.Namespace, config, paths: list[Path], labels: np.ndarray,
          folder: Path, out: Path) -> None:
    """The pipeline's stages in order, each printing its line; saves to `out`.

    Raises:
        CommandFailed: a photo cannot be read, or `--features` is too large.
    """
    import keras

    from models.aesthetic.multigap import EFFICIENTNET_WEIGHTS
    from models.aesthetic.rating_pipeline import RatingPipeline

    started = time.perf_counter()
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    print_photo_counts(labels)
    images = load_photos(paths, args.input_size)
    extractor, features = extract_features(folder, images, args)
    splits = split_photos(labels, args, rng)
    reducer, components = reduce_features(features, splits, extractor, args)
    k, selection = select_components(components, labels, splits, reducer.size, config, args)
    head, history = train_classifier(components, labels, splits, selection.best, args)
    pipeline = RatingPipeline(reducer, selection.best, head, input_size=args.input_size,
                              stages=extractor.layout.stages, backbone=EFFICIENTNET_WEIGHTS)
    test_accuracy = accuracy(pipeline, features[splits.test], labels[splits.test])
    accuracies = (accuracy(pipeline, features[splits.train], labels[splits.train]), test_accuracy)
    pipeline.save(out)
    write_metrics(out, args, folder, paths, labels, splits, extractor, reducer, k, selection,
                  history, accuracies, time.perf_counter() - started)
    print_summary(out, accuracies, splits)
