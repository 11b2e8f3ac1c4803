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
import json
from pathlib import Path

import numpy as np

from models.aesthetic.head import CONTENT_HEAD, HEAD_FILE
from models.cli import CommandFailed, fail

HELP = "Content aesthetics: report a trained CLIP head's test photos (good vs bad) again."

TRAIN_COMMAND = "python -m models.train aesthetic_head --data DIR"
METRICS_FILE = "metrics.json"
DEFAULT_RUN = "runs/aesthetic_head"  # the trainer's default --out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The content head evaluation's flags."""
    parser.add_argument("--model", default=DEFAULT_RUN, metavar="DIR|NAME",
                        help="a training run's folder (head.keras + metrics.json) or the "
                             f"manifest name {CONTENT_HEAD} (default: {DEFAULT_RUN})")
    parser.add_argument("--data", type=Path, default=None, metavar="DIR",
                        help="the data folder (DIR/good/, DIR/bad/), if it moved since "
                             "training (default: the one metrics.json records)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="also write the result as JSON to FILE")


# === The saved run ===


def run_folder(spec: str) -> tuple[Path, str, bool]:
    """(the folder `--model` names, how to call it, whether the manifest names it).

    Raises:
        CommandFailed: it names neither a folder nor a head on this machine.
    """
    import weights

    if Path(spec).is_dir():
        return Path(spec), spec, False
    if spec != CONTENT_HEAD:
        raise CommandFailed(f"--model: {spec} is not a folder; pass the --out folder of "
                            f"`{TRAIN_COMMAND}` or {CONTENT_HEAD}.")
    if CONTENT_HEAD not in weights.artifacts():
        raise CommandFailed(f"weights/manifest.toml names no {CONTENT_HEAD}; train one with "
                            f"`{TRAIN_COMMAND}` and add the manifest entry it prints, or pass "
                            "--model DIR.")
    if not weights.available(CONTENT_HEAD):
        raise CommandFailed(f"{CONTENT_HEAD} is named in the manifest but not on this machine; "
                            f"`python -m weights pull {CONTENT_HEAD}` fetches it, or pass "
                            "--model DIR.")
    return weights.locate(CONTENT_HEAD).path, f"the manifest's {CONTENT_HEAD}", True


def read_metrics(folder: Path, where: str) -> dict:
    """The run's metrics.json.

    Raises:
        CommandFailed: it is missing or not JSON.
    """
    path = folder / METRICS_FILE
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CommandFailed(f"{where} has no readable {METRICS_FILE} ({error}); pass --model "
                            f"DIR, the --out folder of `{TRAIN_COMMAND}`.") from error
    if not isinstance(metrics, dict):
        raise CommandFailed(f"{path} is not the metrics of `{TRAIN_COMMAND}`.")
    return metrics


def saved_test_files(metrics: dict, where: str) -> list[str]:
    """The test photos metrics.json lists, relative to the data folder.

    Raises:
        CommandFailed: it lists none (a run from before splits were saved).
    """
    files = (metrics.get("split_files") or {}).get("test")
    if not files:
        raise CommandFailed(f"{where} has no saved split in its {METRICS_FILE}; retrain with "
                            f"`{TRAIN_COMMAND}` to save one.")
    return list(files)


def read_test_photos(files: list[str], root: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """The test photos, read as training read them, and their labels (1 good, 0 bad).

    Raises:
        CommandFailed: a photo is not under `root`, is in neither class folder, or no longer
            reads.
    """
    from models.aesthetic.rating_pipeline import BAD_FOLDER, GOOD_FOLDER
    from models.images import InvalidImage, load_image

    missing = [name for name in files if not (root / name).is_file()]
    if missing:
        raise CommandFailed(f"{len(missing)} of the {len(files)} test photos are not under "
                            f"{root} (the first: {missing[0]}); pass --data DIR, the folder the "
                            "head was trained on.")
    classes = {GOOD_FOLDER: 1.0, BAD_FOLDER: 0.0}
    unknown = [name for name in files if Path(name).parts[0] not in classes]
    if unknown:
        raise CommandFailed(f"{METRICS_FILE} lists {unknown[0]}, which is in neither "
                            f"{GOOD_FOLDER}/ nor {BAD_FOLDER}/.")
    try:
        photos = [load_image(root / name) for name in files]
    except InvalidImage as error:
        raise CommandFailed(f"{error}; the test split is not the one the head was scored "
                            "on.") from error
    labels = np.array([classes[Path(name).parts[0]] for name in files], np.float32)
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


def run(args: argparse.Namespace) -> int:
    """Load the head, score its test photos again and print the report; the exit code."""
    try:
        return _run(args)
    except CommandFailed as error:
        return fail(error)


def _run(args: argparse.Namespace) -> int:
    from models.aesthetic.train_head import format_report

    folder, where, from_manifest = run_folder(args.model)
    metrics = read_metrics(folder, where)
    files = saved_test_files(metrics, where)
    root = Path(args.data if args.data is not None else metrics.get("data") or "")
    if not root.is_dir():
        raise CommandFailed(f"The data folder {root} is not here; pass --data DIR (the folder "
                            "the head was trained on, DIR/good/ and DIR/bad/).")
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
    if saved is None:
        same = None
        print(f"\n({METRICS_FILE} holds no saved test accuracy to compare with)")
    elif metrics.get("test") == counts["test"] and np.isclose(saved, accuracy, rtol=0,
                                                              atol=1e-9):
        same = True
        print("\nsame as the accuracy saved at training")
    else:
        same = False
        print(f"\ndiffers from the accuracy saved at training: {saved:.1%} then, "
              f"{accuracy:.1%} now")
    if args.json is not None:
        try:
            args.json.write_text(json.dumps({
                "task": "aesthetic_head", "model": where, "data": str(root), "clip": clip_folder,
                "test_files": files, "probabilities": probability.tolist(),
                "test_accuracy": accuracy, "same_as_training": same,
            }, indent=2) + "\n", encoding="utf-8")
        except OSError as error:
            raise CommandFailed(f"Cannot write to {args.json}: "
                                f"{error.strerror or error}.") from error
    return 0
