"""`python -m models.train tags`: train the research's tag head on MIRFLICKR-25K embeddings.

"Social Image Description Platform" (../shared/seeds/003_*) runs each photo through a CNN once,
caches the embedding ("bottlenecks"), and trains a multilayer perceptron with one sigmoid per
tag on the cache. So does this command:

1. `--data DIR` is read in the MIRFLICKR-25K layout (`models.tags.mirflickr`), with the
   `--annotations` of choice ("all" photos a concept is in, or only the "relevant" ones).
2. Each photo is embedded once by `--backbone` and kept in the embedding cache (`--cache`,
   `models.tags.cache`); photos already cached for this embedder are not embedded again.
3. The photos are split BY PHOTO into train, validation and test at the research's 8:1:4
   (`split_by_photo`, seeded); photos with identical content stay in the same split.
4. Each `--model`/`--models` configuration (`models.tags.head`) trains with binary
   cross-entropy, early-stopped on the validation loss (best weights restored); with several,
   the one with the best validation mAP is kept.
5. Each tag's threshold is the one maximising its F1 on validation.
6. The saved model is read back from disk and scored on the test split alone: per-tag AP, mAP
   and F1, beside the tag-frequency baseline (`models.tags.metrics`).

Writes `tags_head.keras` and `tags_head.json` to `--out` (default `runs/tags_<configuration>`)
and prints the manifest entry that makes the Tags tab use it.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.cli import CommandFailed, fail, float_in, int_at_least

HELP = ("Tags: the research's MLP head (sigmoid per tag) on cached photo embeddings, trained on "
        "MIRFLICKR-25K.")

BACKBONE_CHOICES = ("clip", "efficientnet")  # models.tags.embedders.BACKBONES, without its import
ANNOTATION_CHOICES = ("all", "relevant")
RATIO = (8, 1, 4)
"""train : validation : test, the research's record shards (train-???-008, val-???-001,
test-???-004)."""
SPLITS = ("train", "validation", "test")
CACHE_BATCH = 32  # photos per embedder call while the cache is built
SHOWN_FAILURES = 10  # unreadable photos named one a line; the rest are in failed.tsv


class SplitError(ValueError):
    """Too few distinct photos to give every split at least one; the message is one line."""


# === Flags ===


def configuration(text: str):
    """An argparse type: one head configuration name."""
    from models.tags.head import ConfigurationError, parse_configuration

    try:
        return parse_configuration(text)
    except ConfigurationError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def configuration_list(text: str):
    """An argparse type: configuration names separated by commas, each kept once."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError("name at least one configuration, e.g. "
                                         "0hidden,1hidden-1500")
    configs = []
    for name in names:
        config = configuration(name)
        if config not in configs:
            configs.append(config)
    return configs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The tags task's flags."""
    from models.tags.head import DEFAULT_CONFIGURATION

    parser.add_argument("--data", required=True, type=Path, metavar="DIR",
                        help="MIRFLICKR-25K as unpacked: the photos and the "
                             "mirflickr25k_annotations_v080 concept lists")
    parser.add_argument("--annotations", choices=ANNOTATION_CHOICES, default="all",
                        help="all: a photo has a concept if it is in the concept's list; "
                             "relevant: only if it is salient there (the _r1 lists) "
                             "(default: all)")
    parser.add_argument("--backbone", choices=BACKBONE_CHOICES, default="clip",
                        help="the embedder the head reads (default: clip)")
    parser.add_argument("--cache", type=Path, default=None, metavar="DIR",
                        help="the embedding cache (default: tags/cache in the InstaVis data "
                             "folder, $INSTAVIS_DATA_DIR)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--model", type=configuration, default=None, metavar="NAME",
                       help="the configuration to train: 0hidden (logistic regression) or "
                            f"<k>hidden-<width> (default {DEFAULT_CONFIGURATION})")
    which.add_argument("--models", type=configuration_list, default=None, metavar="A,B,...",
                       help="train several configurations and keep the best by validation mAP")
    parser.add_argument("--epochs", type=int_at_least(1), default=200,
                        help="most epochs; training stops early on validation loss "
                             "(default 200)")
    parser.add_argument("--batch-size", type=int_at_least(1), default=256,
                        help="embeddings per training step (default 256)")
    parser.add_argument("--learning-rate", type=float_in(0.0, 1.0), default=1e-3,
                        help="Adam's learning rate (default 0.001)")
    parser.add_argument("--patience", type=int_at_least(1), default=10,
                        help="epochs without a better validation loss before stopping "
                             "(default 10)")
    parser.add_argument("--seed", type=int, default=0, help="the split's and training's seed")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="where tags_head.keras and tags_head.json go "
                             "(default: runs/tags_<configuration>)")


# === The split ===


def split_by_photo(keys: Sequence[str], seed: int,
                   ratio: Sequence[int] = RATIO) -> dict[str, np.ndarray]:
    """Split photos into train, validation and test, each photo in exactly one.

    Photos with the same content key are one unit, so a duplicate never lands on both sides of
    a split. The units are sorted by key (the input order does not matter), shuffled by `seed`
    and laid end to end; a unit goes to the split its middle falls in, the splits taking
    `ratio` shares of the photos in turn.

    Args:
        keys: one content key per photo.
        seed: the shuffle's seed; the same seed gives the same split.
        ratio: train : validation : test.

    Returns:
        {"train": indices, "validation": indices, "test": indices}, each sorted.

    Raises:
        SplitError: some split would be empty.
    """
    groups: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(str(key), []).append(index)
    units = sorted(groups)
    weights = np.asarray(ratio, np.float64)
    bounds = np.cumsum(weights)[:-1] / weights.sum() * len(keys)
    parts: dict[str, list[int]] = {name: [] for name in SPLITS}
    position = 0
    for unit in np.random.default_rng(seed).permutation(len(units)):
        members = groups[units[unit]]
        middle = position + len(members) / 2
        parts[SPLITS[int(np.searchsorted(bounds, middle, side="right"))]].extend(members)
        position += len(members)
    empty = [name for name in SPLITS if not parts[name]]
    if empty:
        raise SplitError(f"{len(keys)} photos ({len(units)} distinct) leave the {empty[0]} "
                         f"split empty; the {':'.join(map(str, ratio))} split needs at least "
                         f"{int(weights.sum())} distinct photos.")
    return {name: np.sort(np.asarray(parts[name], np.int64)) for name in SPLITS}


# === The embeddings ===


def read_quietly(data: Path, annotations: str):
    """`read_dataset`, its warnings left to `Dataset.summary`, which the command prints.

    Raises:
        CommandFailed: the folder is not MIRFLICKR-25K as released.
    """
    import warnings

    from models.tags.mirflickr import DatasetError, read_dataset

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return read_dataset(data, annotations)
    except DatasetError as error:
        raise CommandFailed(error) from error


def photo_name(photo: Path, root: Path) -> str:
    """A photo's name as the artifact records it: its path under the data folder."""
    try:
        return Path(photo).relative_to(root).as_posix()
    except ValueError:
        return Path(photo).name


def load_embedder(backbone: str):
    """The embedder through the real weights resolver.

    Raises:
        CommandFailed: its weights are missing or do not load.
    """
    import weights
    from models.tags.embedders import load_embedder as load

    try:
        return load(backbone)
    except weights.WeightsUnavailable as error:
        raise CommandFailed(error.summary) from error
    except (OSError, ValueError) as error:
        raise CommandFailed(f"The {backbone} backbone does not load: {error}") from error


def content_keys(photos: Sequence[Path]) -> list[str]:
    """Each photo file's content key (`models.tags.cache.content_key`), hashed on a few
    threads."""
    from concurrent.futures import ThreadPoolExecutor

    from models.tags.cache import content_key

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(content_key, photos, chunksize=64))


def cached_embeddings(photos: Sequence[Path], embedder, cache_dir: Path, *,
                      progress: bool = True) -> tuple[list[int], list[str], np.ndarray, object]:
    """Embed the photos the cache lacks (`build_cache`), then read every photo's embedding.

    Returns:
        (indices into `photos` that have an embedding, their content keys, their embeddings
        (n, D), the CacheReport). A photo that cannot be read or decoded is left out.

    Raises:
        CommandFailed: the cache cannot be written or read.
    """
    from models.tags.cache import CacheError, build_cache, read_cache

    photos = [Path(photo) for photo in photos]
    try:
        report = build_cache(photos, embedder, cache_dir, batch_size=CACHE_BATCH,
                             progress=progress)
        vectors = read_cache(cache_dir, embedder.key)
    except CacheError as error:
        raise CommandFailed(error) from error
    failed = {Path(path) for path, _ in report.failed}
    readable = [index for index, photo in enumerate(photos) if photo not in failed]
    keys = content_keys([photos[i] for i in readable])
    kept = [(index, key) for index, key in zip(readable, keys, strict=True) if key in vectors]
    rows = [vectors[key] for _, key in kept]
    embeddings = (np.stack(rows).astype(np.float32) if rows
                  else np.zeros((0, embedder.dimension), np.float32))
    return [i for i, _ in kept], [key for _, key in kept], embeddings, report


# === Training ===


def fit_head(config, embeddings: np.ndarray, labels: np.ndarray, split: dict,
             args: argparse.Namespace):
    """Train one configuration; (model, validation probabilities, settings)."""
    import keras

    from models.tags.head import build_head

    train, validation = split["train"], split["validation"]
    mean = embeddings[train].mean(axis=0)
    variance = embeddings[train].var(axis=0)
    variance = np.where(variance > 1e-12, variance, 1.0)  # a constant dimension stays as is
    keras.utils.set_random_seed(args.seed)
    model = build_head(config, embeddings.shape[1], labels.shape[1], mean=mean,
                       variance=variance)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate),
                  loss=keras.losses.BinaryCrossentropy())
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=args.patience,
                                         restore_best_weights=True)
    targets = labels.astype(np.float32)
    history = model.fit(embeddings[train], targets[train], epochs=args.epochs,
                        batch_size=args.batch_size, shuffle=True, verbose=0, callbacks=[stop],
                        validation_data=(embeddings[validation], targets[validation]))
    losses = history.history["val_loss"]
    best_epoch = int(np.argmin(losses))
    # The artifact is a fresh, uncompiled copy: no optimizer state, no training config.
    saved = build_head(config, embeddings.shape[1], labels.shape[1], mean=mean,
                       variance=variance)
    saved.set_weights(model.get_weights())
    probabilities = np.asarray(saved(embeddings[validation], training=False), np.float32)
    return saved, probabilities, {
        "epochs_run": len(losses), "best_epoch": best_epoch + 1,
        "validation_loss": float(losses[best_epoch]),
    }


# === The command ===


def manifest_entry(configuration_name: str, backbone: str) -> str:
    """The weights/manifest.toml block that names a trained head."""
    from models.tags.head import INFO_FILE, MODEL_FILE, TAGS_HEAD

    return (f"[{TAGS_HEAD}]\ntitle = \"Tag head ({configuration_name}) on {backbone} "
            f"embeddings\"\nsource = \"hf://YOU/instavis-tags-head\"\nrevision = \"main\"\n"
            f"files = [\"{MODEL_FILE}\", \"{INFO_FILE}\"]\n"
            f"required = [\"{MODEL_FILE}\", \"{INFO_FILE}\"]\nformat = \"keras\"\n"
            f"licence = \"YOUR-LICENCE\"\nused_by = [\"tags\"]")


def run(args: argparse.Namespace) -> int:
    """Cache, split, train, choose thresholds, save, report on the test split; the exit code."""
    try:
        return _run(args)
    except CommandFailed as error:
        return fail(error)


def _write_info(out: Path, info: dict) -> None:
    from models.tags.head import INFO_FILE

    try:
        (out / INFO_FILE).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    except OSError as error:
        raise CommandFailed(f"Cannot write to {out}: {error.strerror or error}.") from error


def _run(args: argparse.Namespace) -> int:
    from models.cli import output_folder
    from models.tags.cache import default_cache_dir
    from models.tags.head import (
        DEFAULT_CONFIGURATION,
        DEFAULT_THRESHOLD,
        INFO_FILE,
        INFO_FORMAT,
        MODEL_FILE,
        TAGS_HEAD,
        choose_thresholds,
        load_from_folder,
        parse_configuration,
    )
    from models.tags.metrics import evaluation_report, format_report, prevalence, ranking_report

    configs = args.models or [args.model or parse_configuration(DEFAULT_CONFIGURATION)]
    started = time.perf_counter()
    # A named --out is checked before the work; the default names the configuration kept.
    out = output_folder(args.out) if args.out is not None else None
    dataset = read_quietly(args.data, args.annotations)
    root = Path(args.data)
    concepts = tuple(dataset.concepts)
    embedder = load_embedder(args.backbone)
    cache_dir = Path(args.cache) if args.cache is not None else default_cache_dir()
    kept, keys, embeddings, cache_report = cached_embeddings(dataset.photos, embedder,
                                                             cache_dir)
    names = [photo_name(dataset.photos[i], root) for i in kept]
    skipped = sorted(set(photo_name(p, root) for p in dataset.photos) - set(names))
    for path, reason in cache_report.failed[:SHOWN_FAILURES]:
        print(f"skipped {path}: {reason}")
    if len(cache_report.failed) > SHOWN_FAILURES:
        print(f"skipped {len(cache_report.failed) - SHOWN_FAILURES} more photos (all are listed "
              f"in {cache_report.folder}/failed.tsv)")
    print(f"{dataset.summary()}; {args.backbone} embeddings in {cache_dir}: "
          f"{cache_report.embedded} embedded, {cache_report.reused} already cached, "
          f"{len(skipped)} unreadable and left out", flush=True)
    if len(kept) == 0:
        raise CommandFailed(f"None of the {len(dataset.photos)} photos in {root} could be "
                            "embedded.")
    labels = np.asarray(dataset.labels)[kept].astype(np.uint8)
    try:
        split = split_by_photo(keys, args.seed)
    except SplitError as error:
        raise CommandFailed(error) from error
    sizes = {name: len(indices) for name, indices in split.items()}
    print(f"split by photo {':'.join(map(str, RATIO))}: {sizes['train']} train, "
          f"{sizes['validation']} validation, {sizes['test']} test", flush=True)

    # === Train each configuration, keep the best by validation mAP ===
    validation_labels = labels[split["validation"]]
    candidates = []
    best = None
    for config in configs:
        model, probabilities, settings = fit_head(config, embeddings, labels, split, args)
        validation_map = ranking_report(probabilities, validation_labels, concepts)["map"]
        candidates.append({"configuration": config.name, "validation_map": validation_map,
                           **settings})
        print(f"{config.name}: {settings['epochs_run']} of at most {args.epochs} epochs, best "
              f"validation loss {settings['validation_loss']:.4f} at epoch "
              f"{settings['best_epoch']}; validation mAP "
              f"{'undefined' if validation_map is None else f'{validation_map:.3f}'}",
              flush=True)
        score = -np.inf if validation_map is None else validation_map
        if best is None or score > best[0]:  # the first listed wins a tie
            best = (score, config, model, probabilities, settings)
    _, config, model, validation_probabilities, settings = best

    thresholds, notes = choose_thresholds(validation_probabilities, validation_labels, concepts)
    out = out or output_folder(Path("runs") / f"tags_{config.name}")
    train_prevalence = prevalence(labels[split["train"]])
    info = {
        "format": INFO_FORMAT,
        "task": "tags",
        "concepts": list(concepts),
        "backbone": args.backbone,
        "embedder_key": embedder.key,
        "embedding_dim": int(embeddings.shape[1]),
        "configuration": config.name,
        "hidden": list(config.hidden),
        "dropout": config.dropout,
        "thresholds": thresholds,
        "threshold_rule": "the threshold maximising the tag's F1 on the validation split, "
                          "the highest among equals; 0.5 without a positive there",
        "threshold_notes": notes,
        "train_prevalence": {tag: float(p) for tag, p in zip(concepts, train_prevalence,
                                                             strict=True)},
        "annotations": dataset.annotations,
        "data": str(root.resolve()),
        "split": {name: [names[i] for i in split[name]] for name in SPLITS},
        "split_keys": {name: [keys[i] for i in split[name]] for name in SPLITS},
        "skipped": skipped,
        "settings": {
            "seed": args.seed, "ratio": list(RATIO), "epochs": args.epochs,
            "batch_size": args.batch_size, "learning_rate": args.learning_rate,
            "patience": args.patience, "loss": "binary cross-entropy",
            "early_stopping": "validation loss, best weights restored", **settings,
        },
        "candidates": candidates,
        "validation_report": evaluation_report(
            validation_probabilities, validation_labels, concepts,
            [thresholds[tag] for tag in concepts], train_prevalence),
    }
    try:
        model.save(out / MODEL_FILE)
    except OSError as error:
        raise CommandFailed(f"Cannot write to {out}: {error.strerror or error}.") from error
    _write_info(out, info)

    # The report comes from the saved artifact, read back the way the app reads it, so it is
    # what `python -m models.evaluate tags` and the Tags tab reproduce.
    head = load_from_folder(out)
    test = split["test"]
    report = evaluation_report(head.probabilities(embeddings[test]), labels[test], concepts,
                               head.threshold_vector(), train_prevalence)
    info["test_report"] = report
    info["settings"]["seconds"] = round(time.perf_counter() - started, 1)
    _write_info(out, info)

    if len(configs) > 1:
        print(f"kept {config.name}, the best validation mAP of {len(configs)} configurations")
    if notes:
        print(f"note: {len(notes)} tags have no photo in the validation split to choose a "
              f"threshold on, and get {DEFAULT_THRESHOLD}: {', '.join(notes)}")
    print(format_report(report, concepts, title=f"{config.name} on {args.backbone}"))
    print(f"\nsaved {out / MODEL_FILE} and {out / INFO_FILE}. To use it in the Tags tab, "
          f"copy the folder to $INSTAVIS_WEIGHTS_DIR/{TAGS_HEAD}/ (or publish it on the Hub), "
          f"keep the {args.backbone} weights it was trained on, and add to "
          f"weights/manifest.toml:\n\n{manifest_entry(config.name, args.backbone)}")
    return 0
