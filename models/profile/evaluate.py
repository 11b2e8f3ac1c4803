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
import json
from pathlib import Path

import numpy as np

from models.cli import CommandFailed, fail
from models.profile.ran56 import PROFILE_RAN56

HELP = "Profile: report a trained RAN-56's test split (good vs weak photos) again."

TRAIN_COMMAND = "python -m models.train profile --data DIR"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The profile evaluation's flags."""
    parser.add_argument("--model", default=None, metavar="DIR|NAME",
                        help="an artifact folder (ran56.keras + ran56.json) or the manifest name "
                             f"{PROFILE_RAN56}; default: the trained RAN-56 the manifest names")
    parser.add_argument("--data", type=Path, default=None, metavar="DIR",
                        help="the data folder (DIR/good/, DIR/weak/), if it moved since "
                             "training (default: the one ran56.json records)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="also write the result as JSON to FILE")


def load_model(spec: str | None):
    """(the TrainedRAN56 `--model` names, where it came from).

    Raises:
        CommandFailed: it names nothing loadable; the message says how to make one.
    """
    import weights
    from models.profile import ran56

    if spec is not None and Path(spec).is_dir():
        try:
            # ran56.json first: a folder without a saved split is refused before the network
            # (400 layers) is read.
            saved_test_files(ran56.read_info(spec), spec)
            return ran56.load_from_folder(spec), spec
        except (OSError, ValueError) as error:
            raise CommandFailed(f"{spec} does not load as a RAN-56 artifact: {error}") from error
    if spec is not None and spec != PROFILE_RAN56:
        raise CommandFailed(f"--model: got {spec!r}; expected an artifact folder or "
                            f"{PROFILE_RAN56}.")
    if PROFILE_RAN56 not in weights.artifacts():
        raise CommandFailed(f"weights/manifest.toml names no {PROFILE_RAN56}; train one with "
                            f"`{TRAIN_COMMAND}` and add the manifest entry it prints, or pass "
                            "--model DIR.")
    try:
        model = ran56.trained_ran56()
    except ValueError as error:
        raise CommandFailed(f"{PROFILE_RAN56} does not load: {error}") from error
    if model is None:
        raise CommandFailed(f"{PROFILE_RAN56} is named in the manifest but not on this machine; "
                            f"`python -m weights pull {PROFILE_RAN56}` fetches it, or pass "
                            "--model DIR.")
    return model, f"the manifest's {PROFILE_RAN56}"


def saved_test_files(info: dict, where: str) -> list[str]:
    """The test side's photos ran56.json lists, relative to the data folder.

    Raises:
        CommandFailed: it lists none (an artifact from before splits were saved).
    """
    files = (info.get("split_files") or {}).get("test")
    if not files:
        raise CommandFailed(f"{where} has no saved split in its ran56.json; retrain with "
                            f"`{TRAIN_COMMAND}` to save one.")
    return list(files)


def read_test_photos(info: dict, where: str, root: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """The test side's photos, read as training read them, and their classes (0 weak, 1 good).

    Raises:
        CommandFailed: ran56.json records no split, a photo is not under `root`, or one no
            longer reads.
    """
    from models.profile.train import CLASSES, read_photos

    files = saved_test_files(info, where)
    missing = [name for name in files if not (root / name).is_file()]
    if missing:
        raise CommandFailed(f"{len(missing)} of the {len(files)} test photos are not under "
                            f"{root} (the first: {missing[0]}); pass --data DIR, the folder the "
                            "model was trained on.")
    unknown = [name for name in files if Path(name).parts[0] not in CLASSES]
    if unknown:
        raise CommandFailed(f"{where}'s ran56.json lists {unknown[0]}, which is in neither "
                            "good/ nor weak/.")
    photos, kept = read_photos([root / name for name in files])
    if len(kept) != len(files):
        raise CommandFailed(f"{len(files) - len(kept)} of the {len(files)} test photos no "
                            "longer read (named above); the test split is not the one the "
                            "model was scored on.")
    targets = np.array([CLASSES.index(Path(name).parts[0]) for name in files], int)
    return photos, targets


def same_report(saved: dict, now: dict) -> bool:
    """Equal counts, and rates equal to float rounding."""
    if saved.get("confusion") != now["confusion"] or saved.get("photos") != now["photos"]:
        return False
    return all(np.isclose(saved.get(key, np.nan), now[key], rtol=0, atol=1e-9)
               for key in ("accuracy", "balanced_accuracy"))


def run(args: argparse.Namespace) -> int:
    """Load the model, re-run its test split and print the report; the exit code."""
    try:
        return _run(args)
    except CommandFailed as error:
        return fail(error)


def _run(args: argparse.Namespace) -> int:
    from models.profile.train import format_test_report, report

    model, where = load_model(args.model)
    info = model.info
    recorded = info.get("data")
    root = Path(args.data if args.data is not None else recorded or "")
    if not root.is_dir():
        raise CommandFailed(f"The data folder {root} is not here; pass --data DIR (the folder "
                            "the model was trained on, DIR/good/ and DIR/weak/).")
    photos, targets = read_test_photos(info, where, root)
    result = report(model.probabilities(photos), targets)
    split_by = (info.get("split") or {}).get("by", "an unrecorded split")
    print(f"RAN-56 ({model.image_size} x {model.image_size}) from {where}, test photos under "
          f"{root}")
    print(format_test_report(result, split_by))
    saved = info.get("test")
    if saved is None:
        same = None
        print("\n(ran56.json holds no saved test report to compare with)")
    elif same_report(saved, result):
        same = True
        print("\nsame as the report saved at training")
    else:
        same = False
        print(f"\ndiffers from the report saved at training: accuracy {saved['accuracy']:.3f} "
              f"then, {result['accuracy']:.3f} now")
    if args.json is not None:
        try:
            args.json.write_text(json.dumps({
                "task": "profile", "model": str(where), "data": str(root), "split_by": split_by,
                "test": result, "same_as_training": same,
            }, indent=2) + "\n", encoding="utf-8")
        except OSError as error:
            raise CommandFailed(f"Cannot write to {args.json}: "
                                f"{error.strerror or error}.") from error
    return 0
