"""`python -m models.train aesthetic_head`: a content-aesthetics head on CLIP image embeddings.

The Aesthetic tab scores content with a CLIP zero-shot prompt ensemble until a trained head
exists. This task trains one from your own labelled photos (`--data DIR` with `DIR/good/*.jpg`
and `DIR/bad/*.jpg`, the layout of `python -m models.train aesthetic`): every photo's unit-length
CLIP embedding, then logistic regression (one sigmoid unit with L2 weight decay). Logistic
regression gives calibrated probabilities, which is what the tab's [0, 1] content score needs,
and it cannot overfit a small set the way a deep head would.

The photos are split, class by class, into training, validation and test. Training stops early
on the validation loss; the accuracy printed and saved is on the test photos only, which
neither the fit nor the stopping saw.

It writes `head.keras` and `metrics.json` to `--out` (default `runs/aesthetic_head`) and prints
the manifest entry that makes the tab use the head: name it `aesthetic_head`
(`models.aesthetic.head.CONTENT_HEAD`) and put the folder where `weights.resolve` looks.
metrics.json records the split: the photos of each side (`split_files`, relative to the data
folder it also records), which `python -m models.evaluate aesthetic_head`
(`models.aesthetic.evaluate_head`) reads to report the test photos again.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from models.cli import fail, float_in, int_at_least

HELP = "Content aesthetics: logistic regression on CLIP image embeddings of good/ and bad/ photos."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The aesthetic_head task's flags."""
    parser.add_argument("--data", required=True, type=Path, metavar="DIR",
                        help="photos as DIR/good/*.jpg (aesthetic) and DIR/bad/*.jpg (not)")
    parser.add_argument("--out", type=Path, default=Path("runs/aesthetic_head"), metavar="DIR",
                        help="where head.keras and metrics.json go (default: "
                             "runs/aesthetic_head)")
    parser.add_argument("--validation-fraction", type=float_in(0.0, 1.0), default=0.15,
                        help="share of each class early stopping watches (default 0.15)")
    parser.add_argument("--test-fraction", type=float_in(0.0, 1.0), default=0.15,
                        help="share of each class held out for the reported accuracy "
                             "(default 0.15)")
    parser.add_argument("--epochs", type=int_at_least(1), default=200,
                        help="most epochs; training stops early on validation loss (default 200)")
    parser.add_argument("--weight-decay", type=float_in(0.0, include_low=True), default=1e-3,
                        help="L2 penalty on the weights (default 0.001)")
    parser.add_argument("--seed", type=int, default=0)


def three_way_split(labels: np.ndarray, validation_fraction: float, test_fraction: float,
                    seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices (train, validation, test), class by class, no row in two.

    Each class gives round(fraction * its count) photos, and at least one, to validation and to
    test, and keeps at least one for training.

    Raises:
        ValueError: a class has fewer than 3 photos, or the fractions leave nothing to train on.
    """
    if validation_fraction + test_fraction >= 1.0:
        raise ValueError("the validation and test fractions leave nothing to train on")
    rng = np.random.default_rng(seed)
    train, validation, test = [], [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        if len(members) < 3:
            raise ValueError("each class needs at least 3 photos (training, validation and "
                             "test each need both classes)")
        held_test = max(1, int(round(len(members) * test_fraction)))
        held_validation = max(1, int(round(len(members) * validation_fraction)))
        while held_test + held_validation > len(members) - 1:
            if held_validation >= held_test:
                held_validation -= 1
            else:
                held_test -= 1
        test.extend(members[:held_test])
        validation.extend(members[held_test:held_test + held_validation])
        train.extend(members[held_test + held_validation:])
    return np.sort(train), np.sort(validation), np.sort(test)


def format_report(counts: dict[str, int], accuracy: float) -> str:
    """The split and the test accuracy as training prints them, and
    `python -m models.evaluate aesthetic_head` again.

    Args:
        counts: photos on each side, {"train": n, "validation": n, "test": n}.
        accuracy: the share of test photos the head puts on the right side of 0.5.
    """
    return (f"split: {counts['train']} training, {counts['validation']} validation (early "
            f"stopping), {counts['test']} test\n"
            f"{'network':<36}{'test photos':>12}{'test accuracy':>16}\n"
            f"{'CLIP embedding + logistic head':<36}{counts['test']:>12}{accuracy:>16.1%}")


def build_head(dimension: int, weight_decay: float):
    """Logistic regression as a Keras model: unit-length embedding (N, D) -> probability (N, 1)."""
    import keras

    inputs = keras.Input((dimension,), name="embedding")
    outputs = keras.layers.Dense(1, activation="sigmoid", name="aesthetic",
                                 kernel_regularizer=keras.regularizers.L2(weight_decay))(inputs)
    return keras.Model(inputs, outputs, name="aesthetic_head")


def run(args: argparse.Namespace) -> int:
    """Embed the photos, fit the head (stopping on validation), score it on the test photos,
    save it; the exit code."""
    import weights
    from models.aesthetic.rating_pipeline import RatingDataError, scan_rating_folder
    from models.images import InvalidImage, load_image

    try:
        paths, labels = scan_rating_folder(args.data)
    except RatingDataError as error:
        return fail(error)
    try:
        train, validation, test = three_way_split(labels, args.validation_fraction,
                                                  args.test_fraction, args.seed)
    except ValueError as error:
        return fail(f"Cannot split {args.data}: {error}.")
    started = time.perf_counter()
    try:
        from models import clip

        model = clip.get_clip()
        photos = [load_image(path) for path in paths]
    except weights.WeightsUnavailable as error:
        return fail(error.summary)
    except InvalidImage as error:
        return fail(error)
    embeddings = model.embed_images(photos)
    print(f"embedded {len(photos)} photos with CLIP in {time.perf_counter() - started:.0f} s",
          flush=True)

    import keras

    keras.utils.set_random_seed(args.seed)
    head = build_head(embeddings.shape[1], args.weight_decay)
    head.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy",
                 metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=20,
                                         restore_best_weights=True)
    history = head.fit(embeddings[train], labels[train], epochs=args.epochs, verbose=0,
                       batch_size=64, validation_data=(embeddings[validation],
                                                       labels[validation]),
                       callbacks=[stop])
    # The validation photos chose the epoch; only the test photos measure the head.
    probability = np.asarray(head(embeddings[test], training=False))[:, 0]
    accuracy = float(((probability >= 0.5) == (labels[test] == 1)).mean())

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    head.save(out / "head.keras")
    metrics = {
        "photos": {"good": int((labels == 1).sum()), "bad": int((labels == 0).sum())},
        "train": len(train), "validation": len(validation), "test": len(test),
        "split": "by photo, class by class; early stopping on validation, accuracy on test",
        "test_accuracy": accuracy,
        "epochs_run": len(history.history["loss"]),
        "embedding_dim": int(embeddings.shape[1]),
        "clip": str(weights.locate("clip").path),
        # Which photos went to which side, relative to `data`: `python -m models.evaluate
        # aesthetic_head` reads the test side again from this.
        "data": str(Path(args.data).resolve()),
        "split_files": {side: [paths[i].relative_to(args.data).as_posix() for i in rows]
                        for side, rows in (("train", train), ("validation", validation),
                                           ("test", test))},
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(format_report(metrics, accuracy))
    print(f"\nsaved {out / 'head.keras'} (`python -m models.evaluate aesthetic_head --model "
          f"{out}` reports the test photos again). To use it in the Aesthetic tab, copy the "
          f"folder to $INSTAVIS_WEIGHTS_DIR/aesthetic_head/ (or publish it on the Hub) and add to "
          f"weights/manifest.toml:\n\n[aesthetic_head]\ntitle = \"Content aesthetics head\"\n"
          f"source = \"hf://YOU/instavis-aesthetic-head\"\nrevision = \"main\"\n"
          f"files = [\"head.keras\"]\nrequired = [\"head.keras\"]\nformat = \"keras\"\n"
          f"licence = \"YOUR-LICENCE\"\nused_by = [\"aesthetic\"]")
    return 0
