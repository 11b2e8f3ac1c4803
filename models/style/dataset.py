"""A style dataset on disk: one folder per class, split by file, and the test-split report.

The layout is FashionStyle14's (Takagi et al., ICCVW 2017): `DIR/<class>/*.jpg`. Any folder of
class folders works; the class names are the folder names, sorted. Shared by
`python -m models.train style` and `python -m models.evaluate style`; nothing here loads a
model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})

SPLITS = ("train", "validation", "test")
MIN_PHOTOS_PER_CLASS = 3  # one each for training, validation and test


class StyleDataError(ValueError):
    """The data folder cannot be used; the message is one line saying what to fix."""


@dataclass(frozen=True)
class StyleFolder:
    """The photos of a class-per-folder dataset.

    Attributes:
        root: the data folder.
        labels: class names (folder names), sorted; output order of a trained model.
        files: photo paths relative to `root` (POSIX), sorted within each class.
        targets: the class index of each file.
    """

    root: Path
    labels: tuple[str, ...]
    files: tuple[str, ...]
    targets: np.ndarray


def scan_style_folder(folder: str | Path) -> StyleFolder:
    """List the photos of `folder`/<class>/*.

    Hidden folders and files are ignored; files with a photo suffix count (whether they decode
    is checked when they are read).

    Raises:
        StyleDataError: the folder is missing, holds fewer than two class folders, or a class
            folder holds no photos.
    """
    root = Path(folder)
    layout = f"expected one folder per class, as {root}/<class>/*.jpg"
    if not root.is_dir():
        raise StyleDataError(f"{root} is not a folder; {layout}.")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise StyleDataError(f"{root} has {len(classes)} class folder(s); {layout} "
                             "(at least two classes).")
    files: list[str] = []
    targets: list[int] = []
    for index, name in enumerate(classes):
        photos = sorted(p for p in (root / name).rglob("*")
                        if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES
                        and not any(part.startswith(".") for part in p.relative_to(root).parts))
        if not photos:
            raise StyleDataError(f"{root / name} holds no photos "
                                 f"({', '.join(sorted(PHOTO_SUFFIXES))}); add some or remove "
                                 "the folder.")
        files.extend(p.relative_to(root).as_posix() for p in photos)
        targets.extend([index] * len(photos))
    return StyleFolder(root, tuple(classes), tuple(files), np.asarray(targets, np.int64))


def read_photos(root: Path, files: Sequence[str],
                log: Callable[[str], None] = print) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (index into `files`, uint8 photo) for each readable file; log one line for each
    unreadable one and skip it."""
    from models.images import InvalidImage, load_image

    for index, relative in enumerate(files):
        try:
            yield index, load_image(root / relative)
        except (InvalidImage, OSError) as error:
            log(f"skipped {root / relative}: {error}")


def stratified_split(targets: np.ndarray, validation_fraction: float, test_fraction: float,
                     seed: int, labels: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Split indices by file into train, validation and test, class by class.

    Each class gives round(n x fraction) photos, at least one, to validation and to test, and
    the rest to training; the same seed gives the same split.

    Returns:
        {"train": indices, "validation": indices, "test": indices}, each sorted.

    Raises:
        StyleDataError: a class has fewer than MIN_PHOTOS_PER_CLASS photos.
    """
    rng = np.random.default_rng(seed)
    parts: dict[str, list[int]] = {split: [] for split in SPLITS}
    for label in np.unique(targets):
        members = rng.permutation(np.flatnonzero(targets == label))
        if len(members) < MIN_PHOTOS_PER_CLASS:
            name = labels[int(label)] if labels is not None else int(label)
            raise StyleDataError(f"class {name} has {len(members)} readable photo(s); "
                                 f"each class needs at least {MIN_PHOTOS_PER_CLASS}.")
        n_validation = max(1, int(round(len(members) * validation_fraction)))
        n_test = max(1, int(round(len(members) * test_fraction)))
        n_validation = min(n_validation, len(members) - 2)
        n_test = min(n_test, len(members) - 1 - n_validation)
        parts["validation"].extend(members[:n_validation])
        parts["test"].extend(members[n_validation:n_validation + n_test])
        parts["train"].extend(members[n_validation + n_test:])
    return {split: np.sort(np.asarray(indices, np.int64)) for split, indices in parts.items()}


# === The test-split report ===


def classification_report(labels: Sequence[str], true: np.ndarray,
                          predicted: np.ndarray) -> dict:
    """Per-class accuracy, accuracy, macro F1 and the confusion matrix, as JSON-ready values.

    Args:
        labels: class names; indices into them are the classes.
        true, predicted: class indices, one per photo.

    Returns:
        {"photos", "accuracy", "macro_f1", "per_class": {label: {"photos", "accuracy",
        "precision", "f1"}}, "confusion": rows = true class, columns = predicted class}.
        A class's accuracy is the share of its photos predicted as it (its recall). Macro F1
        averages every class's F1, a class never predicted and never present counting 0.
    """
    k = len(labels)
    true = np.asarray(true, np.int64)
    predicted = np.asarray(predicted, np.int64)
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (true, predicted), 1)
    per_class = {}
    f1_scores = []
    for index, label in enumerate(labels):
        hits = int(confusion[index, index])
        present = int(confusion[index].sum())
        claimed = int(confusion[:, index].sum())
        recall = hits / present if present else 0.0
        precision = hits / claimed if claimed else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        f1_scores.append(f1)
        per_class[label] = {"photos": present, "accuracy": recall, "precision": precision,
                            "f1": f1}
    return {
        "photos": int(len(true)),
        "accuracy": float(np.mean(true == predicted)) if len(true) else 0.0,
        "macro_f1": float(np.mean(f1_scores)),
        "per_class": per_class,
        "confusion": confusion.tolist(),
    }


def format_report(report: dict, labels: Sequence[str]) -> str:
    """The report as a plain text table: per-class rows, the totals, the confusion matrix."""
    width = max(12, *(len(label) + 2 for label in labels))
    lines = [f"test split: {report['photos']} photos",
             f"{'class':<{width}}{'photos':>8}{'accuracy':>10}{'precision':>11}{'F1':>7}"]
    for label in labels:
        row = report["per_class"][label]
        lines.append(f"{label:<{width}}{row['photos']:>8}{row['accuracy']:>10.1%}"
                     f"{row['precision']:>11.1%}{row['f1']:>7.3f}")
    lines.append(f"{'all':<{width}}{report['photos']:>8}{report['accuracy']:>10.1%}"
                 f"{'':>11}{report['macro_f1']:>7.3f}  (F1: macro average)")
    lines.append("")
    lines.append("confusion matrix (rows: true class, columns: predicted class)")
    cell = max(6, *(len(label) + 1 for label in labels))
    lines.append(" " * width + "".join(f"{label:>{cell}}" for label in labels))
    for label, row in zip(labels, report["confusion"], strict=True):
        lines.append(f"{label:<{width}}" + "".join(f"{count:>{cell}}" for count in row))
    return "\n".join(lines)


def predict_files(model, root: Path, files: Sequence[str], *, batch: int = 32,
                  log: Callable[[str], None] = print) -> tuple[list[int], np.ndarray]:
    """Run `model.probabilities` (a `TrainedStyleModel`) over photo files, `batch` at a time.

    Returns:
        (indices into `files` that were read, probabilities (N, K) for those files).
    """
    read: list[int] = []
    chunks: list[np.ndarray] = []
    photos: list[np.ndarray] = []
    for index, photo in read_photos(root, files, log):
        read.append(index)
        photos.append(photo)
        if len(photos) == batch:
            chunks.append(model.probabilities(photos))
            photos = []
    if photos:
        chunks.append(model.probabilities(photos))
    if not chunks:
        return read, np.zeros((0, len(model.labels)), np.float32)
    return read, np.concatenate(chunks)
