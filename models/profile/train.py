"""`python -m models.train profile --data DIR`: train RAN-56 to tell photos of good feeds from
photos of weak ones.

`--data DIR` holds `DIR/good/` and `DIR/weak/`. Photos of one profile look alike, so a split by
file would put a profile's siblings on both sides and flatter the test; the split is therefore
by profile wherever the folders say which profile a photo is from:

- one subfolder per profile (`DIR/good/<profile>/*.jpg`), or
- a profile prefix on the file name (`DIR/good/<profile>__001.jpg`, two underscores);

and by file for photos that carry neither. The report says which. Each class gives
round(n x fraction) of its groups, at least one, to validation and to test (seeded). Photos are
read as every tab reads them (`prepare_photo`, `judged_copy`) and squeezed to `--image-size`
(`models.profile.ran56.resize_photos`); unreadable files are named and left out. Training
(Adam, cross-entropy, each class weighted by its inverse frequency, left-right flips) stops
when the validation loss has not improved for `--patience` epochs and keeps the best epoch's
weights. The test split alone is reported (accuracy, balanced accuracy, the confusion matrix),
by the saved artifact read back from disk and run exactly as the app runs it. The InstaVis
Checker write-up reports no test figure to set beside it.

Writes `ran56.keras` and `ran56.json` to `--out` (default `runs/profile_ran56`) and prints the
manifest entry that makes the Profile tab use it. ran56.json records the split: the photos of
each side (`split_files`, relative to the data folder it also records), which
`python -m models.evaluate profile` (`models.profile.evaluate`) reads to report the test split
again. Exit codes: 0 done; 1 the data is missing or unusable (one line); 2 a bad flag (one
line, from the registry's parser).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.cli import CommandFailed, fail, float_in, int_at_least
from models.profile.ran56 import LABELS, PROFILE_RAN56

HELP = ("Profile: the research's Residual Attention Network-56, good vs weak feed photos "
        "(DIR/good/, DIR/weak/).")

CLASSES = LABELS  # ("weak", "good"): folder names, in output order
PROFILE_SEPARATOR = "__"
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".avif",
                  ".heic", ".heif")
MIN_GROUPS = 3  # per class: one each for training, validation and test


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The profile task's flags."""
    parser.add_argument("--data", required=True, type=Path, metavar="DIR",
                        help="DIR/good/ and DIR/weak/: photos, one subfolder per profile, or "
                             "files named <profile>__<n>.jpg")
    parser.add_argument("--out", type=Path, default=Path("runs/profile_ran56"), metavar="DIR",
                        help="where ran56.keras and ran56.json go (default runs/profile_ran56)")
    parser.add_argument("--image-size", type=int_at_least(32), default=224,
                        help="side of the square input (default 224, the paper's)")
    parser.add_argument("--width", type=int_at_least(4), default=64,
                        help="channels of the first convolution; the stages use 4x to 32x "
                             "(default 64, the paper's 31.9 M parameters)")
    parser.add_argument("--epochs", type=int_at_least(1), default=30,
                        help="most epochs; training stops early on validation loss (default 30)")
    parser.add_argument("--patience", type=int_at_least(1), default=5,
                        help="epochs without a better validation loss before stopping "
                             "(default 5)")
    parser.add_argument("--batch-size", type=int_at_least(1), default=16,
                        help="photos per step (default 16)")
    parser.add_argument("--learning-rate", type=float_in(0.0, 1.0), default=1e-3,
                        help="Adam's learning rate (default 0.001)")
    parser.add_argument("--dropout", type=float_in(0.0, 1.0, include_low=True), default=0.0,
                        help="dropout before the classifier (default 0, as the paper)")
    parser.add_argument("--seed", type=int, default=0, help="the split's and training's seed")
    parser.add_argument("--validation-fraction", type=float_in(0.0, 0.5), default=0.15,
                        help="share of each class's profiles (or photos) for validation "
                             "(at least one; default 0.15)")
    parser.add_argument("--test-fraction", type=float_in(0.0, 0.5), default=0.15,
                        help="share of each class's profiles (or photos) for the test report "
                             "(at least one; default 0.15)")


# === The data ===


@dataclass(frozen=True)
class Photos:
    """The photos found under DIR.

    Attributes:
        paths: every photo file, class by class, sorted.
        targets: the class index of each (0 weak, 1 good).
        groups: the group each belongs to ("good/<profile>", or "good/<file>" for a loose one);
            a group's photos always land on one side of the split.
        split_by: "profile (subfolders)", "profile (name prefixes)", both joined by " and ",
            or "file".
    """

    paths: list[Path]
    targets: np.ndarray
    groups: list[str]
    split_by: str


def _group(name: str, photo: Path, folder: Path | None) -> tuple[str, str | None]:
    """(group, how it was found: "subfolders", "name prefixes" or None for a loose file)."""
    if folder is not None:
        return f"{name}/{folder.name}", "subfolders"
    profile, separator, _ = photo.stem.partition(PROFILE_SEPARATOR)
    if separator and profile:
        return f"{name}/{profile}", "name prefixes"
    return f"{name}/{photo.name}", None


def scan(data: Path) -> Photos:
    """Find the photos of DIR/good/ and DIR/weak/ and the profile each belongs to.

    Raises:
        CommandFailed: DIR or one of its class folders is missing, or a class has fewer than
            MIN_GROUPS profiles (or photos, for loose ones).
    """
    if not data.is_dir():
        raise CommandFailed(f"{data} is not a folder; it needs good/ and weak/ inside.")
    missing = [f"{name}/" for name in CLASSES if not (data / name).is_dir()]
    if missing:
        raise CommandFailed(f"{data} has no {' or '.join(missing)} folder; put the photos of "
                            "good feeds in good/ and of weak feeds in weak/.")
    paths, targets, groups, ways = [], [], [], set()
    for target, name in enumerate(CLASSES):
        for entry in sorted((data / name).iterdir()):
            members = sorted(entry.iterdir()) if entry.is_dir() else [entry]
            for photo in members:
                if not photo.is_file() or photo.suffix.lower() not in PHOTO_SUFFIXES:
                    continue
                group, way = _group(name, photo, entry if entry.is_dir() else None)
                paths.append(photo)
                targets.append(target)
                groups.append(group)
                if way:
                    ways.add(way)
    targets = np.array(targets, int)
    by_profile = bool(ways)
    for target, name in enumerate(CLASSES):
        count = len({g for g, t in zip(groups, targets, strict=True) if t == target})
        if count < MIN_GROUPS:
            unit = "profile" if by_profile else "photo"
            raise CommandFailed(f"{data / name} has {count} {unit}{'' if count == 1 else 's'}; "
                                f"at least {MIN_GROUPS} are needed (one each for training, "
                                "validation and test).")
    split_by = (f"profile ({' and '.join(sorted(ways))})" if by_profile else "file")
    return Photos(paths, targets, groups, split_by)


def split_groups(targets: np.ndarray, groups: list[str], validation_fraction: float,
                 test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Photo indices of "train", "validation" and "test": class by class, each class's groups
    shuffled (seeded) and round(n x fraction) of them, at least one, given to test and to
    validation; every photo of a group on one side."""
    rng = np.random.default_rng(seed)
    side_of: dict[str, str] = {}
    for target in range(len(CLASSES)):
        names = sorted({g for g, t in zip(groups, targets, strict=True) if t == target})
        names = [names[i] for i in rng.permutation(len(names))]
        test = max(1, round(len(names) * test_fraction))
        validation = max(1, round(len(names) * validation_fraction))
        for position, group in enumerate(names):
            side_of[group] = ("test" if position < test else
                              "validation" if position < test + validation else "train")
    return {side: np.array([i for i, g in enumerate(groups) if side_of[g] == side], int)
            for side in ("train", "validation", "test")}


def read_photos(paths: list[Path]) -> tuple[list[np.ndarray], list[int]]:
    """(judged copies of the readable photos, their positions in `paths`), unreadable ones
    named on stdout."""
    from models.images import InvalidImage, judged_copy, prepare_photo

    photos, kept = [], []
    for position, path in enumerate(paths):
        try:
            photos.append(judged_copy(prepare_photo(path).image))
            kept.append(position)
        except (InvalidImage, OSError) as error:
            print(f"left out {path}: {error}")
    return photos, kept


def report(probabilities: np.ndarray, targets: np.ndarray) -> dict:
    """Accuracy, balanced accuracy (the mean of the two classes' recalls) and the confusion
    matrix (rows: true weak, good; columns: predicted)."""
    predicted = np.asarray(probabilities).argmax(axis=1)
    targets = np.asarray(targets)
    confusion = np.zeros((len(CLASSES), len(CLASSES)), int)
    for truth, guess in zip(targets, predicted, strict=True):
        confusion[truth, guess] += 1
    recalls = [confusion[c, c] / confusion[c].sum() for c in range(len(CLASSES))
               if confusion[c].sum()]
    return {"photos": int(len(targets)), "accuracy": float((predicted == targets).mean()),
            "balanced_accuracy": float(np.mean(recalls)), "confusion": confusion.tolist(),
            "labels": list(CLASSES)}


def format_test_report(result: dict, split_by: str) -> str:
    """The test report as training prints it, and `python -m models.evaluate profile` again:
    accuracy, balanced accuracy, the confusion matrix and what the paper reported.

    Args:
        result: `report`'s dictionary.
        split_by: how the photos were split (`Photos.split_by`).
    """
    (tn, fp), (fn, tp) = result["confusion"]
    return (f"test split, {result['photos']} photos (by {split_by}): accuracy "
            f"{result['accuracy']:.3f}, balanced accuracy {result['balanced_accuracy']:.3f}\n"
            f"confusion matrix (rows true, columns predicted):\n"
            f"              weak  good\n  true weak {tn:6d}{fp:6d}\n  true good {fn:6d}{tp:6d}\n"
            "the paper reported: nothing to compare with (the InstaVis Checker write-up gives "
            "no test figure)")


def manifest_entry() -> str:
    """The weights/manifest.toml block that names a trained RAN-56."""
    from models.profile.ran56 import INFO_FILE, MODEL_FILE

    return (f"[{PROFILE_RAN56}]\ntitle = \"RAN-56, good vs weak feed photos\"\n"
            f"source = \"hf://YOU/instavis-profile-ran56\"\nrevision = \"main\"\n"
            f"files = [\"{MODEL_FILE}\", \"{INFO_FILE}\"]\n"
            f"required = [\"{MODEL_FILE}\", \"{INFO_FILE}\"]\nformat = \"keras\"\n"
            f"licence = \"YOUR-LICENCE\"\nused_by = [\"profile\"]")


# === Training ===


def _dataset(images: np.ndarray, targets: np.ndarray, batch_size: int, seed: int | None):
    """A tf.data pipeline of float batches; with a seed, shuffled and flipped left-right."""
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((images, targets))
    if seed is not None:
        data = data.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    data = data.batch(batch_size)

    def to_float(batch, labels):
        batch = tf.cast(batch, tf.float32)
        if seed is not None:
            batch = tf.image.random_flip_left_right(batch, seed=seed)
        return batch, labels

    return data.map(to_float).prefetch(2)


def run(args: argparse.Namespace) -> int:
    """Read, split, train, save, report on the test split; the exit code."""
    try:
        return _run(args)
    except CommandFailed as error:
        return fail(error)


def _run(args: argparse.Namespace) -> int:
    from models.cli import output_folder

    found = scan(args.data)
    out = output_folder(args.out)
    split = split_groups(found.targets, found.groups, args.validation_fraction,
                         args.test_fraction, args.seed)
    started = time.perf_counter()

    import keras

    from models.profile.ran56 import (
        build_ran56,
        load_from_folder,
        resize_photos,
        save_artifact,
    )

    sides: dict[str, tuple[list[np.ndarray], np.ndarray]] = {}
    files: dict[str, list[str]] = {}  # the photos each side used, relative to --data
    for side, indices in split.items():
        photos, kept = read_photos([found.paths[i] for i in indices])
        sides[side] = (photos, found.targets[indices[kept]])
        files[side] = [found.paths[indices[k]].relative_to(args.data).as_posix() for k in kept]
    for side, (_, targets) in sides.items():
        lacking = [f"{name}/" for c, name in enumerate(CLASSES) if c not in set(targets)]
        if lacking:
            raise CommandFailed(f"The {side} split has no readable photo from "
                                f"{' or '.join(lacking)}; add readable photos (or profiles) "
                                "to both good/ and weak/.")
    counts = {side: len(targets) for side, (_, targets) in sides.items()}
    print(f"split by {found.split_by}, seed {args.seed}: " + ", ".join(
        f"{side} {count} photos" for side, count in counts.items()), flush=True)

    def squeezed(side: str) -> np.ndarray:  # uint8: a quarter of the memory of float32
        photos = resize_photos(sides[side][0], args.image_size)
        return np.clip(np.round(photos), 0, 255).astype(np.uint8)

    train_x, train_y = squeezed("train"), sides["train"][1]
    validation_x, validation_y = squeezed("validation"), sides["validation"][1]
    keras.utils.set_random_seed(args.seed)
    model = build_ran56((args.image_size, args.image_size, 3), len(CLASSES), width=args.width,
                        dropout=args.dropout)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=False)  # XLA takes longer to compile 400 layers than it saves
    # Optimizer slots made now rather than inside the first traced step, which would then be
    # traced twice (tracing the 56-layer network's training step is most of a small run).
    model.optimizer.build(model.trainable_variables)
    # The same for the accuracy metric, whose variables would otherwise be made inside the first
    # traced step: score one batch eagerly, then forget it.
    first = train_x[:1].astype(np.float32)  # as _dataset feeds it
    model.compute_metrics(first, train_y[:1], model(first, training=False), None)
    model.reset_metrics()
    per_class = np.bincount(train_y, minlength=len(CLASSES))
    class_weight = {c: float(len(train_y) / (len(CLASSES) * per_class[c]))
                    for c in range(len(CLASSES))}
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=args.patience,
                                         restore_best_weights=True)
    history = model.fit(_dataset(train_x, train_y, args.batch_size, args.seed),
                        validation_data=_dataset(validation_x, validation_y, args.batch_size,
                                                 None),
                        epochs=args.epochs, class_weight=class_weight, callbacks=[stop],
                        shuffle=False, verbose=2)  # _dataset shuffles, seeded
    losses = [float(loss) for loss in history.history["val_loss"]]
    info = {
        "network": "Residual Attention Network-56 (Wang et al. 2017)",
        "image_size": args.image_size, "width": args.width, "labels": list(CLASSES),
        "parameters": int(model.count_params()),
        "split": {"by": found.split_by, "seed": args.seed, **counts,
                  "validation_fraction": args.validation_fraction,
                  "test_fraction": args.test_fraction,
                  "test_groups": sorted({found.groups[i] for i in split["test"]})},
        # Which photos went to which side (the readable ones, in the order they were used):
        # `python -m models.evaluate profile` reads the test side again from this.
        "split_files": files,
        "training": {"epochs_run": len(losses), "max_epochs": args.epochs,
                     "best_epoch": int(np.argmin(losses)) + 1,
                     "best_validation_loss": min(losses), "patience": args.patience,
                     "learning_rate": args.learning_rate, "batch_size": args.batch_size,
                     "dropout": args.dropout, "class_weights": class_weight},
        "data": str(args.data.resolve()),
    }
    save_artifact(model, out, info)
    # The test report comes from the saved artifact, run as the app runs it.
    saved = load_from_folder(out)
    test_photos, test_targets = sides["test"]
    info["test"] = report(saved.probabilities(test_photos), test_targets)
    save_artifact(model, out, info)
    print(f"trained in {time.perf_counter() - started:.0f} s: {len(losses)} of at most "
          f"{args.epochs} epochs, the best validation loss at epoch "
          f"{info['training']['best_epoch']} (kept)")
    print(format_test_report(info["test"], found.split_by))
    print(f"\nsaved {out / 'ran56.keras'} and {out / 'ran56.json'} (`python -m models.evaluate "
          f"profile --model {out}` reports the test split again). To use it in the Profile "
          f"tab, copy the folder to $INSTAVIS_WEIGHTS_DIR/{PROFILE_RAN56}/ (or publish it on "
          f"the Hub) and add to weights/manifest.toml:\n\n{manifest_entry()}")
    return 0
