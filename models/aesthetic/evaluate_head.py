"""`python -m models.evaluate aesthetic_head`: report a trained content head's test photos again.

`python -m models.train aesthetic_head` writes `head.keras` and a `metrics.json` that lists the
photos of each side of the split (`split_files`, relative to the data folder it also records)
and the test accuracy. This loads the head with `safe_mode=True` (as the Aesthetic tab does),
embeds the test photos with the CLIP the weights resolver finds, scores them as training did
(aesthetic when the probability is at least 0.5) and prints the same report as training did,
then says whether it matches the saved accuracy.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from models import saved_split
from models.aesthetic.head import CONTENT_HEAD, HEAD_FILE
from models.cli import CommandFailed, fails_in_one_line

HELP = "Content aesthetics: report a trained CLIP head's test photos (good vs bad) again."

TRAIN_COMMAND = "python -m models.train aesthetic_head --data DIR"
METRICS_FILE = "metrics.json"
DEFAULT_RUN = "runs/aesthetic_head"  # the trainer's default --out
TRAINED_ON = "the folder the head was trained on"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The content head evaluation's flags."""
    saved_split.add_arguments(
        parser, model_default=DEFAULT_RUN, record_file=METRICS_FILE,
        data_layout="DIR/good/, DIR/bad/",
        model_help="a training run's folder (head.keras + metrics.json) or the manifest name "
                   f"{CONTENT_HEAD} (default: {DEFAULT_RUN})")


# === The saved run ===


def read_test_photos(files: list[str], root: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """The test photos, read as training read them, and their labels (1 good, 0 bad).

    Raises:
        CommandFailed: a photo is not under `root`, is in neither class folder, or no longer
            reads.
    """
    from models.aesthetic.rating_pipeline import BAD_FOLDER, GOOD_FOLDER
    from models.images import InvalidImage, load_image

    saved_split.check_photos_present(root, files, TRAINED_ON)
    labels = saved_split.class_labels(files, {GOOD_FOLDER: 1.0, BAD_FOLDER: 0.0}, METRICS_FILE)
    try:
        photos = [load_image(root / name) for name in files]
    except InvalidImage as error:
        raise CommandFailed(f"{error}; the test split is not the one the head was scored "
                            "on.") from error
    return photos, labels


def load_head(folder: Path, from_manifest: bool):
    """The saved head, read with `safe_mode=True` (no lambda, no pickle).

    Raises:
        CommandFailed: head.keras is missing or does not load.
    """
    import weights

    path = folder / HEAD_FILE
    if not path.is_file():
        raise CommandFailed(f"{path} is missing; retrain with `{TRAIN_COMMAND}`.")
    try:
        if from_manifest:  # the tab's own way: the resolver checks the files it lists first
            return weights.load_keras(CONTENT_HEAD, HEAD_FILE)
        import keras

        return keras.saving.load_model(path, safe_mode=True)
    except (OSError, ValueError, TypeError, weights.WeightsUnavailable) as error:
        raise CommandFailed(f"{path} does not load as a content head: {error}") from error


def embed(photos: list[np.ndarray]) -> tuple[np.ndarray, str]:
    """(the photos' unit-length CLIP embeddings, the CLIP folder used).

    Raises:
        CommandFailed: the CLIP weights are not here.
    """
    import weights
    from models import clip

    try:
        model = clip.get_clip()
    except weights.WeightsUnavailable as error:
        raise CommandFailed(error.summary) from error
    return model.embed_images(photos), str(weights.locate("clip").path)


# === The command ===


@fails_in_one_line
def run(args: argparse.Namespace) -> int:
    """Load the head, score its test photos again and print the report; the exit code."""
    from models.aesthetic.train_head import format_report

    folder, where, from_manifest = saved_split.artifact_folder(args.model, TRAIN_COMMAND,
                                                               CONTENT_HEAD)
    metrics = saved_split.read_record(folder, METRICS_FILE, where, TRAIN_COMMAND)
    files = saved_split.saved_test_files(metrics, where, METRICS_FILE, TRAIN_COMMAND)
    root = saved_split.data_root(args.data, metrics,
                                 f"{TRAINED_ON}, DIR/good/ and DIR/bad/")
    photos, labels = read_test_photos(files, root)
    head = load_head(folder, from_manifest)
    embeddings, clip_folder = embed(photos)
    expected = head.input_shape[-1]
    if embeddings.shape[1] != expected:
        raise CommandFailed(f"The head takes {expected}-wide embeddings but the CLIP here gives "
                            f"{embeddings.shape[1]}; the head was trained on another CLIP "
                            f"({metrics.get('clip', 'unrecorded')}).")
    # As training scored it: the head's probability, aesthetic at 0.5 and above.
    probability = np.asarray(head(embeddings, training=False))[:, 0]
    accuracy = float(((probability >= 0.5) == (labels == 1)).mean())
    split_files = metrics["split_files"]
    counts = {side: len(split_files.get(side) or []) for side in ("train", "validation")}
    counts["test"] = len(files)

    print(f"content head from {where}, test photos under {root}")
    if metrics.get("clip") not in (None, clip_folder):
        print(f"(CLIP is now {clip_folder}; the head was trained on embeddings of "
              f"{metrics['clip']})")
    print(format_report(counts, accuracy))
    saved = metrics.get("test_accuracy")
    same = None if saved is None else bool(
        metrics.get("test") == counts["test"]
        and np.isclose(saved, accuracy, rtol=0, atol=1e-9))
    saved_split.print_comparison(same, "accuracy",
                                 lambda: f"{saved:.1%} then, {accuracy:.1%} now",
                                 METRICS_FILE, saved_figure="test accuracy")
    saved_split.write_json(args.json, {
        "task": "aesthetic_head", "model": where, "data": str(root), "clip": clip_folder,
        "test_files": files, "probabilities": probability.tolist(),
        "test_accuracy": accuracy, "same_as_training": same,
    })
    return 0
