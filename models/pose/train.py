"""`python -m models.train pose`: InstaModel's same-pose-same-place networks, trained and compared.

The InstaModel research compared a threshold baseline on ResNet50 features with Siamese
networks (Koch et al. 2015) on a ResNet50 backbone (He et al. 2016), without and with a pose
branch fed by skeleton masks (OpenPose in the research, MediaPipe Pose here). It trained with
binary cross-entropy, SGD at learning rate 1e-4, for up to 100 epochs with early stopping on the
validation loss, on 224 x 224 photos with flips and colour jitter, and reported validation
accuracy on a 90/10 split of balanced pairs, the same pairs it stopped on:

| network | input size | validation accuracy (the paper reported) |
| --- | --- | --- |
| ResNet50 Last Layer+FCNN | 224x224 | 58% |
| ResNet50 Full+FCNN | 224x224 | 65% |
| ResNet50 Last Layer+FCNN+POSE | 224x224 + 244x244 | 68% |
| ResNet50 Full+FCNN+POSE | 224x224 + 244x244 | 76% |

This task rebuilds those rows from a folder laid out like the research's data
(`DIR/SITE/POSE/*.jpg`, `DIR/SITE/_zz/*.jpg`). It splits the photos by site (`--split-by site`,
the default: no site and no photo is in two splits) or by photo (`--split-by photo`), into
training, validation and test, and builds pairs inside each split. Training stops early on the
validation pairs; the accuracy it prints is on the test pairs only, with the research's numbers
beside it as "the paper reported". It saves each trained network as `<variant>.keras` plus
`metrics.json` in `--out`; metrics.json records every split's photos and pairs, so
`python -m models.evaluate pose --model DIR` (`models.pose.evaluate`) can score the test pairs
again.

Differences from the research, each for a stated reason: the batch size defaults to 8 (on the
project's 2-core CPU machine, fine-tuning ResNet50 at 224 x 224 peaked at 2.7 GB of memory with
8 pairs a batch and 4.4 GB with the research's 24); the
skeleton masks default to 64 x 64 (`--pose-size`; the research's 244 x 244, probably meant as
224, is far more than thin lines need); fine-tuned ("Full") backbones keep batch normalisation
frozen (small batches give noisy statistics).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
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

# pairs.py imports only numpy and Pillow, so --help stays fast.
from models.pose.pairs import (
    SPLIT_BY_SITE,
    SPLIT_KINDS,
    TEST_FRACTION,
    VALIDATION_FRACTION,
)

HELP = "InstaModel: same pose and same place? Siamese ResNet50 with and without a pose branch."

BASELINE = "baseline"


@dataclass(frozen=True)
class Variant:
    """One trainable row of the research's results table.

    Attributes:
        key: the `--variants` name.
        network: the research's name for the row.
        pose_branch: whether skeleton masks are fed too.
        train_backbone: False trains the head only ("Last Layer"), True fine-tunes ResNet50.
        research_accuracy: the research's validation accuracy for this row.
    """

    key: str
    network: str
    pose_branch: bool
    train_backbone: bool
    research_accuracy: float


VARIANTS = {
    variant.key: variant
    for variant in (
        Variant("siamese", "ResNet50 Last Layer+FCNN", False, False, 0.58),
        Variant("siamese_full", "ResNet50 Full+FCNN", False, True, 0.65),
        Variant("siamese_pose", "ResNet50 Last Layer+FCNN+POSE", True, False, 0.68),
        Variant("siamese_pose_full", "ResNet50 Full+FCNN+POSE", True, True, 0.76),
    )
}
VARIANT_CHOICES = (BASELINE, *VARIANTS)
DEFAULT_VARIANTS = (BASELINE, "siamese", "siamese_pose")

RESEARCH_PAIRS = {"train": {"positive": 363, "negative": 369},
                  "validation": {"positive": 44, "negative": 38}}
RESEARCH_EPOCHS = 100

# Colour jitter of the research's augmentation (flips, brightness, contrast, saturation, hue).
# The write-up gives no magnitudes; these are torchvision ColorJitter-style mild values that
# keep a site recognisable.
JITTER = 0.2  # brightness, contrast and saturation factors drawn from [1 - JITTER, 1 + JITTER]
HUE_JITTER = 0.05  # hue shift, in turns


@dataclass(frozen=True)
class Result:
    """One row of the printed table and of metrics.json.

    Attributes:
        variant: the `--variants` name ("baseline" rows have two metrics).
        network: the row's name.
        input_size: e.g. "224x224" or "224x224 + 64x64".
        test_accuracy: on the test pairs (never the pairs training stopped on).
        research_accuracy: what the paper reported for the row (its validation accuracy on
            pairs that shared photos with training), or None.
        details: anything else worth keeping (losses, epochs, thresholds, file).
    """

    variant: str
    network: str
    input_size: str
    test_accuracy: float
    research_accuracy: float | None
    details: dict = field(default_factory=dict)


# === Flags ===


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The pose task's flags."""
    parser.add_argument("--data", required=True, type=Path, metavar="DIR",
                        help="photos laid out as DIR/SITE/POSE/*.jpg and DIR/SITE/_zz/*.jpg")
    parser.add_argument("--variants", nargs="+", choices=VARIANT_CHOICES,
                        default=list(DEFAULT_VARIANTS), metavar="VARIANT",
                        help=f"what to train, from: {', '.join(VARIANT_CHOICES)} "
                             f"(default: {' '.join(DEFAULT_VARIANTS)})")
    parser.add_argument("--epochs", type=int_at_least(1), default=RESEARCH_EPOCHS,
                        help="most epochs; early stopping on validation loss ends sooner "
                             "(default: the research's 100)")
    parser.add_argument("--patience", type=int_at_least(0), default=10,
                        help="epochs without a better validation loss before stopping "
                             "(default: 10)")
    parser.add_argument("--input-size", type=int_at_least(32), default=224, metavar="PIXELS",
                        help="side of the square photos (default: the research's 224)")
    parser.add_argument("--pose-size", type=int_at_least(16), default=64, metavar="PIXELS",
                        help="side of the square skeleton masks (default: 64)")
    parser.add_argument("--batch-size", type=int_at_least(1), default=8,
                        help="pairs a batch (default: 8; the research used 24, 16 with pose)")
    parser.add_argument("--learning-rate", type=float_in(0.0),
                        default=1e-4,
                        help="SGD learning rate (default: the research's 0.0001)")
    parser.add_argument("--split-by", choices=SPLIT_KINDS, default=SPLIT_BY_SITE,
                        help="keep whole sites in one split (site, the default: no site or "
                             "photo in two splits) or only whole photos (photo)")
    parser.add_argument("--validation-fraction",
                        type=float_in(0.0, 1.0), default=VALIDATION_FRACTION,
                        help="share of the sites (or pose folders) early stopping watches "
                             f"(default {VALIDATION_FRACTION})")
    parser.add_argument("--test-fraction",
                        type=float_in(0.0, 1.0), default=TEST_FRACTION,
                        help="share of the sites (or pose folders) held out for the reported "
                             f"accuracy (default {TEST_FRACTION})")
    parser.add_argument("--no-augment", dest="augment", action="store_false",
                        help="skip the flips and colour jitter")
    parser.add_argument("--seed", type=int, default=0, help="pairs, split and training seed")
    parser.add_argument("--out", type=Path, default=Path("runs/pose"), metavar="DIR",
                        help="where the .keras models and metrics.json go (default: runs/pose)")


# === Inputs ===


def augment_photo(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """Colour-jitter one photo as the research did (brightness, contrast, saturation, hue).

    Affine transformations were left out by the research because they change the perspective;
    so are they here. The horizontal flip is decided here but applied by the caller, which must
    flip the photo's skeleton mask with it.

    Args:
        image: float32 (H, W, 3) in 0..255.
        rng: the source of randomness.

    Returns:
        (jittered float32 image in 0..255, whether to flip it).
    """
    x = image / 255.0
    x = x * rng.uniform(1 - JITTER, 1 + JITTER)  # brightness
    grey = x @ np.array([0.299, 0.587, 0.114], np.float32)
    x = grey.mean() + (x - grey.mean()) * rng.uniform(1 - JITTER, 1 + JITTER)  # contrast
    grey = (x @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    x = grey + (x - grey) * rng.uniform(1 - JITTER, 1 + JITTER)  # saturation
    # Hue: rotate the chroma plane of YIQ, a linear stand-in for a rotation of the HSV hue.
    angle = 2 * np.pi * rng.uniform(-HUE_JITTER, HUE_JITTER)
    to_yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
                      np.float32)
    rotate = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)],
                       [0, np.sin(angle), np.cos(angle)]], np.float32)
    transform = np.linalg.inv(to_yiq) @ rotate @ to_yiq
    x = x @ transform.T.astype(np.float32)
    return (np.clip(x, 0.0, 1.0) * 255.0).astype(np.float32), bool(rng.random() < 0.5)


def pair_inputs(pairs, photo_index: dict, images: np.ndarray, masks: np.ndarray | None,
                rng: np.random.Generator | None = None) -> tuple[dict, np.ndarray]:
    """The network's inputs and labels for some pairs.

    Args:
        pairs: PhotoPair objects.
        photo_index: photo path -> row of `images` (and `masks`).
        images: uint8 (N, S, S, 3) photos.
        masks: float32 (N, P, P) skeleton masks, or None without the pose branch.
        rng: augment with this randomness; None feeds the photos as they are.

    Returns:
        ({"image_a", "image_b"[, "pose_a", "pose_b"]}: float32 arrays, labels float32 (N, 1)).
    """
    inputs: dict[str, list] = {"image_a": [], "image_b": []}
    if masks is not None:
        inputs.update(pose_a=[], pose_b=[])
    for pair in pairs:
        for side, photo in (("a", pair.a), ("b", pair.b)):
            row = photo_index[photo.path]
            image = images[row].astype(np.float32)
            mask = masks[row] if masks is not None else None
            if rng is not None:
                image, flip = augment_photo(image, rng)
                if flip:
                    image = image[:, ::-1]
                    mask = mask[:, ::-1] if mask is not None else None
            inputs[f"image_{side}"].append(image)
            if mask is not None:
                inputs[f"pose_{side}"].append(mask[..., None])
    labels = np.array([[float(pair.same)] for pair in pairs], np.float32)
    return {name: np.stack(values).astype(np.float32) for name, values in inputs.items()}, labels


def _pair_batches(pairs, photo_index, images, masks, batch_size: int, augment: bool, seed: int):
    """A keras PyDataset of shuffled, augmented training batches (built here so Keras loads
    only when training starts)."""
    import keras

    class PairBatches(keras.utils.PyDataset):
        """Training batches, reshuffled and re-augmented every epoch from a seeded generator."""

        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.order = self.rng.permutation(len(pairs))

        def __len__(self):
            return int(np.ceil(len(pairs) / batch_size))

        def __getitem__(self, index):
            chosen = self.order[index * batch_size:(index + 1) * batch_size]
            return pair_inputs([pairs[i] for i in chosen], photo_index, images, masks,
                               self.rng if augment else None)

        def on_epoch_end(self):
            self.order = self.rng.permutation(len(pairs))

    return PairBatches()


# === The rows ===


def _size_text(input_size: int, pose_size: int | None = None) -> str:
    text = f"{input_size}x{input_size}"
    return f"{text} + {pose_size}x{pose_size}" if pose_size else text


@dataclass(frozen=True)
class BaselineMeasure:
    """One of the baseline's two rows: a score of two GAP feature vectors and its threshold.

    Attributes:
        metric: the row's key in metrics.json ("cosine" or "euclidean").
        network: the row's name in the table.
        function: the `models.pose.siamese` function that scores feature pairs (named, not
            imported, so that this module loads without Keras).
        higher_means_same: True for a similarity, False for a distance.
    """

    metric: str
    network: str
    function: str
    higher_means_same: bool

    def scores(self, features: np.ndarray, pairs, photo_index: dict) -> np.ndarray:
        """The measure of each pair, from `features` rows indexed by `photo_index`."""
        from models.pose import siamese

        rows_a = [photo_index[p.a.path] for p in pairs]
        rows_b = [photo_index[p.b.path] for p in pairs]
        return getattr(siamese, self.function)(features[rows_a], features[rows_b])


BASELINE_MEASURES = {
    measure.metric: measure
    for measure in (
        BaselineMeasure("cosine", "ResNet50 GAP + cosine threshold", "cosine_similarity", True),
        BaselineMeasure("euclidean", "ResNet50 GAP + Euclidean threshold", "euclidean_distance",
                        False),
    )
}


def gap_features(images: np.ndarray, backbone_folder: Path, input_size: int,
                 batch_size: int) -> np.ndarray:
    """The ResNet50 GAP features of uint8 (N, S, S, 3) photos, the baseline's descriptors."""
    from models import backbones
    from models.pose import siamese

    mean, std = backbones.normalisation_stats(backbone_folder)
    backbone = siamese.resnet50_backbone(backbone_folder)
    extractor = siamese.gap_feature_extractor(backbone, input_size, mean=mean, std=std)
    return extractor.predict(images.astype(np.float32), batch_size=batch_size, verbose=0)


def run_baseline(split, photo_index, images, backbone_folder, input_size: int,
                 batch_size: int) -> list[Result]:
    """The research's baseline: thresholds on cosine similarity and Euclidean distance of
    ResNet50 GAP features, each threshold chosen on the training pairs, scored on the test
    pairs."""
    from models.pose import siamese

    features = gap_features(images, backbone_folder, input_size, batch_size)
    train_labels = np.array([p.same for p in split.train])
    test_labels = np.array([p.same for p in split.test])
    results = []
    for measure in BASELINE_MEASURES.values():
        higher = measure.higher_means_same
        rule = siamese.fit_threshold(measure.scores(features, split.train, photo_index),
                                     train_labels, higher_means_same=higher,
                                     metric=measure.metric)
        accuracy = rule.accuracy(measure.scores(features, split.test, photo_index), test_labels)
        results.append(Result(BASELINE, measure.network, _size_text(input_size), accuracy, None, {
            "metric": measure.metric, "threshold": rule.threshold,
            "same_when": "score >= threshold" if higher else "score <= threshold",
            "training_accuracy": rule.training_accuracy,
        }))
    return results


def score_test_pairs(model, pairs, photo_index, images, masks,
                     batch_size: int) -> tuple[float, float]:
    """(loss, accuracy) of a Siamese network on some pairs, fed as they are (no augmentation).

    Args:
        model: a compiled Siamese network (as trained, or read back by `load_siamese`).
        pairs: PhotoPair objects.
        photo_index, images, masks: as for `pair_inputs`; masks None without the pose branch.
        batch_size: pairs a batch.
    """
    inputs, labels = pair_inputs(pairs, photo_index, images, masks)
    loss, accuracy = model.evaluate(inputs, labels, batch_size=batch_size, verbose=0)
    return float(loss), float(accuracy)


def run_siamese(variant: Variant, split, photo_index, images, masks, backbone_folder,
                args, out: Path) -> Result:
    """Train one Siamese variant, stopping on the validation pairs; score it on the test pairs
    and save it."""
    import keras

    from models import backbones
    from models.pose import siamese

    keras.utils.set_random_seed(args.seed)  # each variant starts alike, whatever ran before
    mean, std = backbones.normalisation_stats(backbone_folder)
    # A fresh backbone per variant: fine-tuning changes its weights in place.
    backbone = siamese.resnet50_backbone(backbone_folder)
    model = siamese.siamese_network(
        backbone, args.input_size, variant.pose_branch, pose_size=args.pose_size,
        train_backbone=variant.train_backbone, mean=mean, std=std, name=variant.key,
    )
    siamese.compile_siamese(model, learning_rate=args.learning_rate)
    variant_masks = masks if variant.pose_branch else None
    training = _pair_batches(split.train, photo_index, images, variant_masks, args.batch_size,
                             args.augment, args.seed)
    val_inputs, val_labels = pair_inputs(split.validation, photo_index, images, variant_masks)
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=args.patience,
                                            restore_best_weights=True)
    started = time.perf_counter()
    history = model.fit(training, validation_data=(val_inputs, val_labels), epochs=args.epochs,
                        callbacks=[stopper], verbose=2)
    seconds = time.perf_counter() - started
    # Evaluated after EarlyStopping restored the best epoch: the numbers describe the saved file.
    # The validation pairs chose that epoch, so only the test pairs measure the network.
    val_loss, _ = model.evaluate(val_inputs, val_labels, batch_size=args.batch_size, verbose=0)
    test_loss, test_accuracy = score_test_pairs(model, split.test, photo_index, images,
                                                variant_masks, args.batch_size)
    path = out / f"{variant.key}.keras"
    model.save(path)
    return Result(
        variant.key, variant.network,
        _size_text(args.input_size, args.pose_size if variant.pose_branch else None),
        float(test_accuracy), variant.research_accuracy,
        {"test_loss": float(test_loss), "validation_loss": float(val_loss),
         "epochs_run": len(history.history["loss"]),
         "best_epoch": int(np.argmin(history.history["val_loss"])) + 1,
         "training_seconds": round(seconds, 1), "model_file": path.name},
    )


def format_table(results: list[Result]) -> str:
    """The research's results table: our test accuracy, and the paper's own (validation) figure
    beside it."""
    header = ("network", "input size", "test accuracy", "the paper reported")
    rows = [
        (r.network, r.input_size, f"{100 * r.test_accuracy:.1f}%",
         "-" if r.research_accuracy is None else f"{100 * r.research_accuracy:.0f}%")
        for r in results
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(4)]
    lines = []
    for row in (header, *rows):
        lines.append("  ".join([row[0].ljust(widths[0]), row[1].ljust(widths[1]),
                                row[2].rjust(widths[2]), row[3].rjust(widths[3])]).rstrip())
    return "\n".join(lines)


# === The task ===


def load_dataset(data: Path):
    """The photos of `--data`, by site and pose.

    Raises:
        CommandFailed: the folder is not laid out as DIR/SITE/POSE/*.jpg and DIR/SITE/_zz/.
    """
    from models.pose.pairs import DatasetLayoutError, scan_pose_dataset

    try:
        return scan_pose_dataset(data)
    except DatasetLayoutError as error:
        raise CommandFailed(error) from error


def make_pairs(dataset, args: argparse.Namespace):
    """The photos split by site (or photo) into training, validation and test, balanced same /
    not-same pairs inside each, counted aloud.

    Raises:
        CommandFailed: the photos cannot be split as asked (too few sites, a split without
            positive or negative pairs, fractions that leave nothing to train on).
    """
    from models.pose.pairs import pair_counts_text, split_pairs

    try:
        split = split_pairs(dataset, args.split_by, args.validation_fraction,
                            args.test_fraction, args.seed)
    except ValueError as error:
        raise CommandFailed(f"Cannot split {dataset.root}: {error}.") from error
    print(f"split {split.description()}: " + "; ".join(
        f"{name} {', '.join(split.sites(name))}" for name in ("train", "validation", "test")))
    research = RESEARCH_PAIRS
    print(f"pairs: {pair_counts_text(split)} (the paper: train {research['train']['positive']} "
          f"/ {research['train']['negative']}, validation {research['validation']['positive']}"
          f" / {research['validation']['negative']}, split by pair, no test)")
    return split


def load_pair_photos(split, input_size: int, names=("train", "validation", "test")):
    """Every photo the pairs of the `names` splits use, once each.

    Returns:
        (the photos, sorted; photo path -> row; uint8 (N, S, S, 3) images in that order).

    Raises:
        CommandFailed: a photo cannot be read.
    """
    from models.images import InvalidImage
    from models.pose.pairs import load_photos

    photos = sorted({photo for name in names for pair in split.splits()[name]
                     for photo in (pair.a, pair.b)})
    photo_index = {photo.path: row for row, photo in enumerate(photos)}
    try:
        images = load_photos(photos, input_size)
    except InvalidImage as error:
        raise CommandFailed(f"Cannot use a photo: {error.reason}") from error
    return photos, photo_index, images


def skeleton_masks(photos, variants: list[str], pose_size: int) -> np.ndarray | None:
    """Each photo's skeleton mask, float32 (N, P, P), when a variant has a pose branch;
    otherwise None (MediaPipe is then never run)."""
    if not any(VARIANTS[key].pose_branch for key in variants if key in VARIANTS):
        return None
    from models.pose.skeleton_mask import skeleton_mask

    masks = np.stack([skeleton_mask(photo.path, pose_size) for photo in photos])
    found = int(sum(mask.any() for mask in masks))
    print(f"skeletons: found in {found} of {len(photos)} photos "
          "(photos without one get an empty mask)")
    return masks


def train_variants(variants: list[str], split, photo_index, images, masks, backbone: Path,
                   args: argparse.Namespace, out: Path) -> list[Result]:
    """Each chosen row of the table, in the order asked for: the baseline's two, or one per
    Siamese variant (trained, evaluated and saved)."""
    results: list[Result] = []
    for key in variants:
        if key == BASELINE:
            results.extend(run_baseline(split, photo_index, images, backbone,
                                        args.input_size, args.batch_size))
        else:
            results.append(run_siamese(VARIANTS[key], split, photo_index, images, masks,
                                       backbone, args, out))
    return results


def write_metrics(out: Path, args: argparse.Namespace, variants: list[str], dataset, split,
                  backbone: Path, results: list[Result]) -> None:
    """metrics.json: the settings, how the photos were split (with every split's photos and
    pairs, which `python -m models.evaluate pose` scores again), the pair counts (ours and the
    research's) and every row."""
    from models.pose.pairs import split_record

    metrics = {
        "task": "pose",
        "data": str(dataset.root.resolve()),
        "weights": str(backbone),
        "settings": {
            "variants": variants, "epochs": args.epochs, "patience": args.patience,
            "input_size": args.input_size, "pose_size": args.pose_size,
            "batch_size": args.batch_size, "learning_rate": args.learning_rate,
            "optimizer": "SGD", "loss": "binary cross-entropy", "augment": args.augment,
            "split_by": split.by, "validation_fraction": args.validation_fraction,
            "test_fraction": args.test_fraction, "seed": args.seed,
        },
        "split": {"by": split.by, "description": split.description(),
                  "sites": {name: split.sites(name) for name in split.splits()},
                  "photos": {name: len(split.photos(name)) for name in split.splits()},
                  "reported_on": "test", "early_stopping_on": "validation",
                  **split_record(split, dataset.root)},
        "pairs": split.counts(),
        "research_pairs": RESEARCH_PAIRS,
        "research_note": "research_accuracy is what the paper reported: validation accuracy "
                         "on pairs split by pair, the same pairs it stopped early on",
        "results": [asdict(result) for result in results],
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")


def results_text(results: list[Result], split) -> str:
    """The results table and the line that says which pairs it was measured on: what training
    prints and `python -m models.evaluate pose` prints again."""
    return (f"{format_table(results)}\n\nTest accuracy is on "
            f"{sum(split.counts()['test'].values())} test pairs, split {split.description()}; "
            "training stopped on the validation pairs. The paper reported validation accuracy "
            "on pairs split by pair, the pairs it stopped on.")


def print_results(results: list[Result], split, out: Path) -> None:
    print()
    print(results_text(results, split))
    print(f"\nsaved to {out}; `python -m models.evaluate pose --model {out}` scores its test "
          "pairs again")


def run(args: argparse.Namespace) -> int:
    """Train the chosen variants, print the table, save models and metrics.json; exit code."""
    variants = list(dict.fromkeys(args.variants))  # keep order, drop repeats
    try:
        # Everything that can be wrong with the data, the weights or --out is found before
        # the long work starts.
        dataset = load_dataset(args.data)
        backbone = resolve_backbone("resnet50")
        out = output_folder(args.out)
        split = make_pairs(dataset, args)
        photos, photo_index, images = load_pair_photos(split, args.input_size)
    except CommandFailed as error:
        return fail(error)
    masks = skeleton_masks(photos, variants, args.pose_size)
    results = train_variants(variants, split, photo_index, images, masks, backbone, args, out)
    write_metrics(out, args, variants, dataset, split, backbone, results)
    print_results(results, split, out)
    return 0
