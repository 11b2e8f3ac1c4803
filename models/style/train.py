"""`python -m models.train style`: train a fashion-style classifier on one folder per class.

`--data DIR` holds `DIR/<class>/*.jpg` (FashionStyle14's layout works as it is). The photos are
split by file into train, validation and test, class by class and seeded; training stops early
on the validation loss; the test split alone is reported (per-class accuracy, macro F1 and the
confusion matrix), by the saved model read back from disk, exactly as the app would run it.

Two backbones:

- `--backbone vgg16`: the research's network (evaranks, `../shared/seeds/002_*`), VGG16 ->
  GlobalAveragePooling2D -> Dense (`models.style.networks.build_vgg16_gap`), whose CAM is the
  seed's map. The ImageNet VGG16 is the manifest's `vgg16` artifact, loaded through
  `models.backbones`, and stays frozen: each photo's pooled features are computed once, and
  the Dense layer is fitted on them (logistic regression on standardised features, the
  standardisation folded back into its weights, so the saved network is the plain
  GAP -> Dense). `--train-last-block` then fine-tunes the last convolution block together
  with the Dense layer on cached block inputs, at a small learning rate.
- `--backbone clip`: each photo's unit-length CLIP embedding, computed once, and a softmax head
  on it (`build_clip_head`).

Writes `style.keras` and `style.json` to `--out` (default `runs/style_<backbone>`) and prints the
manifest entry that makes the Style tab use it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from models.cli import CommandFailed, fail, float_in, int_at_least

HELP = ("Style: the research's VGG16-GAP (with CAM) or a softmax head on CLIP embeddings, "
        "trained on DIR/<class>/*.jpg.")

PATIENCE = 20  # epochs without a better validation loss before the head stops
FINE_TUNE_PATIENCE = 3
HEAD_LEARNING_RATE = 0.01
FINE_TUNE_LEARNING_RATE = 1e-4  # small: the block's ImageNet filters are adjusted, not replaced
CHUNK = 32  # photos read and featurised at a time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The style task's flags."""
    parser.add_argument("--data", required=True, type=Path, metavar="DIR",
                        help="photos as DIR/<class>/*.jpg, one folder per style")
    parser.add_argument("--backbone", choices=("clip", "vgg16"), default="clip",
                        help="clip: a softmax head on CLIP embeddings; vgg16: the research's "
                             "VGG16-GAP, with CAM (default: clip)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="where style.keras and style.json go "
                             "(default: runs/style_<backbone>)")
    parser.add_argument("--epochs", type=int_at_least(1), default=200,
                        help="most epochs of the head; it stops early on validation loss "
                             "(default 200)")
    parser.add_argument("--seed", type=int, default=0, help="the split's and training's seed")
    parser.add_argument("--image-size", type=int_at_least(16), default=224,
                        help="vgg16: side of the square photos are resized to (default 224)")
    parser.add_argument("--validation-fraction", type=float_in(0.0, 0.5), default=0.15,
                        help="share of each class for validation (at least one photo; "
                             "default 0.15)")
    parser.add_argument("--test-fraction", type=float_in(0.0, 0.5), default=0.15,
                        help="share of each class for the test report (at least one photo; "
                             "default 0.15)")
    parser.add_argument("--weight-decay", type=float_in(0.0, include_low=True), default=1e-3,
                        help="L2 penalty on the softmax weights (default 0.001)")
    parser.add_argument("--train-last-block", action="store_true",
                        help="vgg16: also fine-tune the last convolution block (slower; the "
                             "rest of VGG16 stays frozen)")
    parser.add_argument("--fine-tune-epochs", type=int_at_least(1), default=10,
                        help="vgg16 with --train-last-block: most fine-tuning epochs "
                             "(default 10)")


# === Features, computed once per photo ===


class _Featuriser:
    """Turns photos into what the trainable part of the network reads, CHUNK at a time."""

    def __init__(self, args: argparse.Namespace, num_classes: int):
        import weights

        self.backbone = args.backbone
        self.image_size = args.image_size
        self.network = None
        self.clip = None
        if args.backbone == "clip":
            from models import clip

            try:
                self.clip = clip.get_clip()
            except weights.WeightsUnavailable as error:
                raise CommandFailed(error.summary) from error
            self.source = str(weights.locate("clip").path)
            return
        import keras

        from models.backbones import load_backbone, normalisation_stats
        from models.cli import resolve_backbone
        from models.style.networks import (
            NORMALISE_LAYER,
            POOL_LAYER,
            apply_layers,
            build_vgg16_gap,
            freeze_features,
            last_block_layers,
            network_feature_layers,
        )

        folder = resolve_backbone("vgg16")
        try:
            backbone = load_backbone("vgg16", "VGGBackbone", folder)
        except ValueError as error:
            raise CommandFailed(f"The vgg16 weights in {folder} do not load as a VGG "
                                f"backbone: {error}") from error
        mean, std = normalisation_stats(folder)
        self.source = str(folder)
        self.network = build_vgg16_gap(backbone, num_classes, image_size=args.image_size,
                                       mean=mean, std=std, weight_decay=args.weight_decay)
        freeze_features(self.network, args.train_last_block)
        self.train_last_block = args.train_last_block
        chain = network_feature_layers(self.network)
        self.last_block = last_block_layers(chain)
        if args.train_last_block:
            # The cache holds the last block's input: everything before it stays frozen, so it
            # is computed once, and fine-tuning runs only the block itself. The models here
            # call the network's layers again rather than reading `layer.output`, which would
            # be ambiguous for a layer the backbone's own graph also calls.
            image = keras.Input(self.network.input.shape[1:])
            normalised = self.network.get_layer(NORMALISE_LAYER)(image)
            before = chain[:len(chain) - len(self.last_block)]
            self.cache_model = keras.Model(image, apply_layers(before, normalised))
        else:
            self.cache_model = keras.Model(self.network.input,
                                           self.network.get_layer(POOL_LAYER).output)

    def __call__(self, photos: list[np.ndarray]) -> np.ndarray:
        if self.clip is not None:
            return self.clip.embed_images(photos)
        from models.style.networks import resize_photos

        return np.asarray(self.cache_model(resize_photos(photos, self.image_size),
                                           training=False))

    def pooled(self, cached: np.ndarray) -> np.ndarray:
        """The GAP features the Dense layer reads, from the cache."""
        if self.clip is not None or not self.train_last_block:
            return cached
        tail = self.tail_until_pool()
        return np.concatenate([np.asarray(tail(cached[start:start + CHUNK], training=False))
                               for start in range(0, len(cached), CHUNK)])

    def tail_until_pool(self):
        """A model from the cached block input to the pooled features, through the network's
        own last-block layers (training it trains them)."""
        import keras

        from models.style.networks import apply_layers

        inputs = keras.Input(tuple(int(d) for d in self.cache_model.output.shape[1:]))
        # A fresh pooling layer (it has no weights): calling the network's own would give it a
        # second graph node.
        pooled = keras.layers.GlobalAveragePooling2D()(apply_layers(self.last_block, inputs))
        return keras.Model(inputs, pooled)


def _featurise(folder, featuriser: _Featuriser) -> tuple[list[int], np.ndarray]:
    """(indices of the readable files, their cached features)."""
    from models.style.dataset import read_photos

    kept: list[int] = []
    chunks: list[np.ndarray] = []
    photos: list[np.ndarray] = []
    for index, photo in read_photos(folder.root, folder.files):
        kept.append(index)
        photos.append(photo)
        if len(photos) == CHUNK:
            chunks.append(featuriser(photos))
            photos = []
    if photos:
        chunks.append(featuriser(photos))
    if not chunks:
        raise CommandFailed(f"No photo in {folder.root} could be read.")
    return kept, np.concatenate(chunks)


# === Training ===


def _fit_softmax(features: np.ndarray, targets: np.ndarray, split: dict, num_classes: int,
                 args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, int]:
    """Fit multinomial logistic regression, early-stopped on validation loss.

    Features are standardised with the training split's mean and spread for the optimiser's
    sake, and the returned (kernel, bias) act on the raw features: w' = w / s and
    b' = b - sum(w * m / s). The saved network is therefore the plain GAP -> Dense, and CAM's
    per-channel weights are the kernel the probabilities use.

    Returns:
        (kernel D x K, bias K, epochs run).
    """
    import keras

    from models.style.networks import softmax_regression

    train, validation = split["train"], split["validation"]
    mean = features[train].mean(axis=0)
    spread = features[train].std(axis=0)
    spread = np.where(spread > 1e-6, spread, 1.0)  # a channel that never varies: left as is
    scaled = (features - mean) / spread
    head = softmax_regression(features.shape[1], num_classes, weight_decay=args.weight_decay)
    head.compile(optimizer=keras.optimizers.Adam(HEAD_LEARNING_RATE),
                 loss="sparse_categorical_crossentropy")
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=PATIENCE,
                                         restore_best_weights=True)
    history = head.fit(scaled[train], targets[train], epochs=args.epochs, batch_size=64,
                       verbose=0, validation_data=(scaled[validation], targets[validation]),
                       callbacks=[stop])
    kernel, bias = head.get_layer("style_classes").get_weights()
    raw_kernel = kernel / spread[:, None]
    raw_bias = bias - (mean / spread) @ kernel
    return raw_kernel.astype(np.float32), raw_bias.astype(np.float32), len(history.history["loss"])


def _fine_tune_last_block(featuriser: _Featuriser, cached: np.ndarray, targets: np.ndarray,
                          split: dict, args: argparse.Namespace) -> int:
    """Fine-tune the last conv block and the Dense layer on the cached block inputs (the
    network's own layers, so the network changes in place). Returns the epochs run."""
    import keras

    from models.style.networks import CLASSES_LAYER

    tail = featuriser.tail_until_pool()
    outputs = featuriser.network.get_layer(CLASSES_LAYER)(tail.output)
    trainable = keras.Model(tail.input, outputs)
    trainable.compile(optimizer=keras.optimizers.Adam(FINE_TUNE_LEARNING_RATE),
                      loss="sparse_categorical_crossentropy")
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=FINE_TUNE_PATIENCE,
                                         restore_best_weights=True)
    train, validation = split["train"], split["validation"]
    history = trainable.fit(cached[train], targets[train], epochs=args.fine_tune_epochs,
                            batch_size=16, verbose=0, callbacks=[stop],
                            validation_data=(cached[validation], targets[validation]))
    return len(history.history["loss"])


def _fit_clip_head(features, targets, split, num_classes, args):
    import keras

    from models.style.networks import build_clip_head

    head = build_clip_head(features.shape[1], num_classes, weight_decay=args.weight_decay)
    head.compile(optimizer=keras.optimizers.Adam(HEAD_LEARNING_RATE),
                 loss="sparse_categorical_crossentropy")
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=PATIENCE,
                                         restore_best_weights=True)
    train, validation = split["train"], split["validation"]
    history = head.fit(features[train], targets[train], epochs=args.epochs, batch_size=64,
                       verbose=0, validation_data=(features[validation], targets[validation]),
                       callbacks=[stop])
    return head, len(history.history["loss"])


# === The command ===


def manifest_entry(name: str, backbone: str) -> str:
    """The weights/manifest.toml block that names a trained artifact."""
    from models.style.trained import INFO_FILE, MODEL_FILE

    what = ("VGG16-GAP style classifier (CAM)" if backbone == "vgg16"
            else "Style head on CLIP embeddings")
    slug = name.replace("_", "-")
    return (f"[{name}]\ntitle = \"{what}\"\nsource = \"hf://YOU/instavis-{slug}\"\n"
            f"revision = \"main\"\nfiles = [\"{MODEL_FILE}\", \"{INFO_FILE}\"]\n"
            f"required = [\"{MODEL_FILE}\", \"{INFO_FILE}\"]\nformat = \"keras\"\n"
            f"licence = \"YOUR-LICENCE\"\nused_by = [\"style\"]")


def run(args: argparse.Namespace) -> int:
    """Featurise the photos, split, train, save, report on the test split; the exit code."""
    try:
        return _run(args)
    except CommandFailed as error:
        return fail(error)


def _run(args: argparse.Namespace) -> int:
    from models.cli import output_folder
    from models.style.dataset import (
        StyleDataError,
        classification_report,
        format_report,
        predict_files,
        scan_style_folder,
        stratified_split,
    )
    from models.style.trained import (
        ARTIFACT_BY_BACKBONE,
        INFO_FILE,
        MODEL_FILE,
        detect_label_set,
        load_from_folder,
    )

    try:
        folder = scan_style_folder(args.data)
    except StyleDataError as error:
        raise CommandFailed(error) from error
    labels = folder.labels
    out = output_folder(args.out or Path(f"runs/style_{args.backbone}"))
    started = time.perf_counter()

    import keras

    keras.utils.set_random_seed(args.seed)
    featuriser = _Featuriser(args, len(labels))
    kept, cached = _featurise(folder, featuriser)
    files = [folder.files[i] for i in kept]
    targets = folder.targets[kept]
    print(f"read {len(files)} photos of {len(labels)} classes "
          f"({len(folder.files) - len(files)} skipped) and computed their "
          f"{'CLIP embeddings' if args.backbone == 'clip' else 'VGG16 features'} in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    try:
        split = stratified_split(targets, args.validation_fraction, args.test_fraction,
                                 args.seed, labels)
    except StyleDataError as error:
        raise CommandFailed(error) from error

    training: dict = {"seed": args.seed, "weight_decay": args.weight_decay,
                      "backbone_weights": featuriser.source}
    if args.backbone == "clip":
        model, training["epochs_run"] = _fit_clip_head(cached, targets, split, len(labels), args)
    else:
        from models.style.networks import CLASSES_LAYER

        pooled = featuriser.pooled(cached)
        kernel, bias, training["epochs_run"] = _fit_softmax(pooled, targets, split,
                                                            len(labels), args)
        model = featuriser.network
        model.get_layer(CLASSES_LAYER).set_weights([kernel, bias])
        training["train_last_block"] = bool(args.train_last_block)
        if args.train_last_block:
            training["fine_tune_epochs_run"] = _fine_tune_last_block(featuriser, cached,
                                                                     targets, split, args)
    training["seconds"] = round(time.perf_counter() - started, 1)

    info = {
        "backbone": args.backbone,
        "labels": list(labels),
        "label_set": detect_label_set(labels),
        "image_size": args.image_size if args.backbone == "vgg16" else None,
        "data": str(folder.root.resolve()),
        "split": {name: [files[i] for i in indices] for name, indices in split.items()},
        "skipped": sorted(set(folder.files) - set(files)),
        "training": training,
    }
    try:
        model.save(out / MODEL_FILE)
        (out / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise CommandFailed(f"Cannot write to {out}: {error.strerror or error}.") from error

    # The report comes from the saved artifact, read back the way the app reads it, so it is
    # what `python -m models.evaluate style` and the Style tab reproduce.
    trained = load_from_folder(out, ARTIFACT_BY_BACKBONE[args.backbone])
    test_files = info["split"]["test"]
    read, probabilities = predict_files(trained, folder.root, test_files)
    index = {label: i for i, label in enumerate(labels)}
    true = np.asarray([index[Path(test_files[i]).parts[0]] for i in read], np.int64)
    predicted = probabilities.argmax(axis=1)
    report = classification_report(labels, true, predicted)
    info["test_report"] = report
    info["test_predictions"] = {test_files[i]: labels[p] for i, p in zip(read, predicted,
                                                                          strict=True)}
    (out / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")

    sizes = {name: len(indices) for name, indices in split.items()}
    print(f"split by file: {sizes['train']} train, {sizes['validation']} validation, "
          f"{sizes['test']} test; the head trained for {training['epochs_run']} of at most "
          f"{args.epochs} epochs (early stopping on validation loss); label set: "
          f"{info['label_set']}")
    print(format_report(report, labels))
    name = ARTIFACT_BY_BACKBONE[args.backbone]
    print(f"\nsaved {out / MODEL_FILE} and {out / INFO_FILE}. To use it in the Style tab, copy "
          f"the folder to $INSTAVIS_WEIGHTS_DIR/{name}/ (or publish it on the Hub) and add to "
          f"weights/manifest.toml:\n\n{manifest_entry(name, args.backbone)}")
    return 0
