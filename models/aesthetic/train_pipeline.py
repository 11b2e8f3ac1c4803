"""`python -m models.train aesthetic`: the "Image Rating using CNN" pipeline, trained end to end.

The research rated photos aesthetic or not with EfficientNet + MultiGAP features, two PCAs, a
genetic-algorithm feature selection (population 100, 2 elite, 50 parents, fitness = accuracy on
held-out data) and a 3-layer fully connected classifier with batch norm and dropout
(`models.aesthetic.rating_pipeline`, `models.aesthetic.multigap`). It trained on 11024 good
and 70075 bad photos and reported 93.4-95.5% accuracy on five benchmarks
(`python -m models.evaluate aesthetic` prints that table for your own benchmark folders).

This task takes `--data DIR` with `DIR/good/*.jpg` and `DIR/bad/*.jpg`, holds out a stratified
validation share, and trains on the rest:

1. features of every photo (letterboxed to `--input-size`, as the research's
   `resize_with_borders`);
2. the two PCAs, fitted on the training photos only;
3. the genetic algorithm. Its fitness is measured on a "selection" share carved out of the
   training photos, never on the validation photos: the research scored its GA on the data it
   then reported, which flatters the reported accuracy;
4. the FC classifier on all training photos' selected components, then its validation accuracy.

It writes `head.keras`, `pipeline.npz` and `metrics.json` to `--out`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from models.cli import fail, float_in, int_at_least

HELP = ("Image Rating using CNN: EfficientNet + MultiGAP features, PCA, genetic feature "
        "selection and an FC classifier of aesthetic photos.")

RESEARCH_TRAINING = {"good": 11024, "bad": 70075}
RESEARCH_EPOCHS = 30  # the research's epochs for its rating stage


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
                        help=f"FC training epochs (default: the research's {RESEARCH_EPOCHS})")
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


def run(args: argparse.Namespace) -> int:
    """Train the pipeline, print progress and the validation accuracy, save it; exit code."""
    import weights
    from models.aesthetic.rating_pipeline import (
        RESEARCH_COMPONENTS,
        RESEARCH_SELECTED,
        GAConfig,
        RatingDataError,
        scan_rating_folder,
    )
    from models.images import InvalidImage

    try:
        config = GAConfig(population=args.population, elite=args.elite, parents=args.parents,
                          generations=args.generations,
                          parents_per_child=args.parents_per_child,
                          keep_fraction=args.keep_fraction, seed=args.seed)
    except ValueError as error:
        print(f"python -m models.train aesthetic: error: {error} (see --help)", file=sys.stderr)
        return 2
    try:
        paths, labels = scan_rating_folder(args.data)
    except RatingDataError as error:
        return fail(error)
    if min(np.sum(labels == 1), np.sum(labels == 0)) < 3:
        return fail(f"{args.data} needs at least 3 photos in each of good/ and bad/ "
                     "(training, GA selection and validation each need both classes).")
    try:
        from models.aesthetic.multigap import EFFICIENTNET_WEIGHTS

        folder = weights.resolve(EFFICIENTNET_WEIGHTS)
    except weights.WeightsUnavailable as error:
        return fail(error.summary)
    from models.backbones import check_backbone_folder

    try:
        check_backbone_folder(folder)
    except (ValueError, ImportError) as error:
        return fail(error)
    try:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return fail(f"Cannot write to {args.out}: {error.strerror or error}.")

    import keras

    from models.aesthetic.multigap import efficientnet_backbone, multigap_extractor
    from models.aesthetic.rating_pipeline import (
        RatingPipeline,
        fc_classifier,
        fit_reducer,
        genetic_select,
        load_letterboxed,
        proxy_fitness,
    )
    from models.backbones import normalisation_stats

    started = time.perf_counter()
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    good, bad = int(np.sum(labels == 1)), int(np.sum(labels == 0))
    print(f"photos: {good} good, {bad} bad (research: {RESEARCH_TRAINING['good']} good, "
          f"{RESEARCH_TRAINING['bad']} bad)")
    try:
        images = load_letterboxed(paths, args.input_size)
    except InvalidImage as error:
        return fail(f"Cannot use a photo: {error.reason}")

    # === Features ===
    mean, std = normalisation_stats(folder)
    extractor = multigap_extractor(efficientnet_backbone(folder), args.input_size,
                                   mean=mean, std=std)
    features = extractor(images, batch_size=args.batch_size)
    stages = ", ".join(f"{name} {channels}" for name, channels in extractor.layout.stages)
    print(f"features: {features.shape[1]} per photo ({stages})")

    # === Splits ===
    train_rows, val_rows = stratified_split(labels, args.validation_fraction, rng)
    fit_local, select_local = stratified_split(labels[train_rows], args.selection_fraction, rng)
    fit_rows, select_rows = train_rows[fit_local], train_rows[select_local]
    print(f"split: {len(train_rows)} training ({len(fit_rows)} fit + {len(select_rows)} GA "
          f"selection), {len(val_rows)} validation")

    # === PCA ===
    reducer = fit_reducer(features[train_rows], extractor.layout.part_slices(), args.pca_ratio,
                          seed=args.seed)
    components = reducer.transform(features)
    parts = ", ".join(f"{p.name} {p.stop - p.start} -> {len(p.scale)}" for p in reducer.parts)
    print(f"PCA: {parts}")

    # === Genetic selection ===
    k = args.features or max(1, round(reducer.size * RESEARCH_SELECTED / RESEARCH_COMPONENTS))
    if k > reducer.size:
        return fail(f"--features {k} is more than the {reducer.size} PCA components.")
    fitness = proxy_fitness(components[fit_rows], labels[fit_rows], components[select_rows],
                            labels[select_rows])

    def report(generation: int, best: float, mean_fitness: float) -> None:
        print(f"GA generation {generation}/{config.generations}: best {100 * best:.1f}%, "
              f"mean {100 * mean_fitness:.1f}%", flush=True)

    print(f"GA: choosing {k} of {reducer.size} components, population {config.population}, "
          f"{config.elite} kept, top {config.parents} breed")
    selection = genetic_select(fitness, reducer.size, k, config, progress=report)

    # === FC classifier ===
    head = fc_classifier(k, dropout=args.dropout)
    head.compile(optimizer=keras.optimizers.Adam(args.learning_rate),
                 loss=keras.losses.BinaryCrossentropy(),
                 metrics=[keras.metrics.BinaryAccuracy(name="accuracy")])
    train_x = components[train_rows][:, selection.best]
    val_x = components[val_rows][:, selection.best]
    history = head.fit(train_x, labels[train_rows], validation_data=(val_x, labels[val_rows]),
                       epochs=args.epochs, batch_size=args.batch_size, verbose=2)
    pipeline = RatingPipeline(reducer, selection.best, head, input_size=args.input_size,
                              stages=extractor.layout.stages, backbone=EFFICIENTNET_WEIGHTS)
    predictions = pipeline.predict(features[val_rows])
    val_accuracy = float(np.mean((predictions >= 0.5) == (labels[val_rows] == 1)))
    train_accuracy = float(np.mean((pipeline.predict(features[train_rows]) >= 0.5)
                                   == (labels[train_rows] == 1)))
    pipeline.save(out)

    metrics = {
        "task": "aesthetic",
        "data": str(Path(args.data)),
        "weights": str(folder),
        "settings": {key: (str(value) if isinstance(value, Path) else value)
                     for key, value in vars(args).items() if key not in ("run", "task")},
        "photos": {"good": good, "bad": bad, "training": len(train_rows),
                   "ga_selection": len(select_rows), "validation": len(val_rows)},
        "features": {"stages": [list(stage) for stage in extractor.layout.stages],
                     "pca": {p.name: [p.stop - p.start, len(p.scale)] for p in reducer.parts},
                     "selected": k},
        "ga": {"best_fitness": selection.best_fitness,
               "best_history": list(selection.best_history),
               "mean_history": list(selection.mean_history)},
        "fc": {"epochs": len(history.history["loss"]),
               "final_loss": float(history.history["loss"][-1])},
        "training_accuracy": train_accuracy,
        "validation_accuracy": val_accuracy,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    print()
    print(f"training accuracy:   {100 * train_accuracy:.1f}%")
    print(f"validation accuracy: {100 * val_accuracy:.1f}% ({len(val_rows)} photos)")
    print(f"saved to {out}")
    return 0
