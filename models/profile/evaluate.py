"""`python -m models.evaluate profile`: report a trained RAN-56's test split again.

`python -m models.train profile` writes `ran56.json` beside `ran56.keras`; it lists the photos
of each side of the split (`split_files`, relative to the data folder it also records) and the
test report. This loads the artifact the way the Profile tab does (`ran56.trained_ran56` through
the manifest and the weights resolver, or `ran56.load_from_folder` for a folder; both with
`safe_mode=True`), reads the test photos again as training read them, runs the model on them
(`TrainedRAN56.probabilities`) and prints the same report as training did, then says whether it
matches the saved one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from models import saved_split
from models.cli import CommandFailed, fails_in_one_line
from models.profile.ran56 import PROFILE_RAN56

HELP = "Profile: report a trained RAN-56's test split (good vs weak photos) again."

TRAIN_COMMAND = "python -m models.train profile --data DIR"
INFO_FILE = "ran56.json"
TRAINED_ON = "the folder the model was trained on"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The profile evaluation's flags."""
    saved_split.add_arguments(
        parser, model_default=None, record_file=INFO_FILE, data_layout="DIR/good/, DIR/weak/",
        model_help="an artifact folder (ran56.keras + ran56.json) or the manifest name "
                   f"{PROFILE_RAN56}; default: the trained RAN-56 the manifest names")


def load_model(spec: str | None):
    """(the TrainedRAN56 `--model` names, where it came from).

    Raises:
        CommandFailed: it names nothing loadable; the message says how to make one.
    """
    from models.profile import ran56

    if spec is not None:
        folder, where, from_manifest = saved_split.artifact_folder(spec, TRAIN_COMMAND,
                                                                   PROFILE_RAN56)
        if not from_manifest:
            try:
                # ran56.json first: a folder without a saved split is refused before the
                # network (400 layers) is read.
                saved_test_files(ran56.read_info(folder), where)
                return ran56.load_from_folder(folder), where
            except (OSError, ValueError) as error:
                raise CommandFailed(f"{spec} does not load as a RAN-56 artifact: "
                                    f"{error}") from error
    else:
        saved_split.check_named_in_manifest(PROFILE_RAN56, TRAIN_COMMAND)
    try:
        # The tab's own way: the resolver checks the files the manifest lists first.
        model = ran56.trained_ran56()
    except ValueError as error:
        raise CommandFailed(f"{PROFILE_RAN56} does not load: {error}") from error
    if model is None:
        raise saved_split.not_on_this_machine(PROFILE_RAN56)
    return model, f"the manifest's {PROFILE_RAN56}"


def saved_test_files(info: dict, where: str) -> list[str]:
    """The test side's photos ran56.json lists, relative to the data folder.

    Raises:
        CommandFailed: it lists none (an artifact from before splits were saved).
    """
    return saved_split.saved_test_files(info, where, INFO_FILE, TRAIN_COMMAND)


def read_test_photos(info: dict, where: str, root: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """The test side's photos, read as training read them, and their classes (0 weak, 1 good).

    Raises:
        CommandFailed: ran56.json records no split, a photo is not under `root`, or one no
            longer reads.
    """
    from models.profile.train import CLASSES, read_photos

    files = saved_test_files(info, where)
    saved_split.check_photos_present(root, files, TRAINED_ON)
    # good/ first: the refusal names the classes in that order.
    classes = {name: CLASSES.index(name) for name in sorted(CLASSES)}
    targets = saved_split.class_labels(files, classes, f"{where}'s {INFO_FILE}", int)
    photos, kept = read_photos([root / name for name in files])
    saved_split.check_all_read(files, len(kept), "the model was scored on")
    return photos, targets


def same_report(saved: dict, now: dict) -> bool:
    """Equal counts, and rates equal to float rounding."""
    if saved.get("confusion") != now["confusion"] or saved.get("photos") != now["photos"]:
        return False
    return all(np.isclose(saved.get(key, np.nan), now[key], rtol=0, atol=1e-9)
               for key in ("accuracy", "balanced_accuracy"))


@fails_in_one_line
def run(args: argparse.Namespace) -> int:
    """Load the model, re-run its test split and print the report; the exit code."""
    from models.profile.train import format_test_report, report

    model, where = load_model(args.model)
    info = model.info
    root = saved_split.data_root(args.data, info, f"{TRAINED_ON}, DIR/good/ and DIR/weak/")
    photos, targets = read_test_photos(info, where, root)
    result = report(model.probabilities(photos), targets)
    split_by = (info.get("split") or {}).get("by", "an unrecorded split")
    print(f"RAN-56 ({model.image_size} x {model.image_size}) from {where}, test photos under "
          f"{root}")
    print(format_test_report(result, split_by))
    saved = info.get("test")
    same = None if saved is None else same_report(saved, result)
    saved_split.print_comparison(
        same, "report",
        lambda: f"accuracy {saved['accuracy']:.3f} then, {result['accuracy']:.3f} now",
        INFO_FILE, saved_figure="test report")
    saved_split.write_json(args.json, {
        "task": "profile", "model": str(where), "data": str(root), "split_by": split_by,
        "test": result, "same_as_training": same,
    })
    return 0
