"""`python -m models.evaluate style_temperature`: report a fitted zero-shot temperature again.

`python -m models.train style_temperature` writes `temperature.json`: the fitted temperature,
its label set, the photos it was fitted on (`fit_files`) and the test photos (`test_files`),
relative to the data folder it also records (`data`), and the test report. This crops the test
photos to their person as training did, takes their cosines with the label set's prompts from
the CLIP the weights resolver finds, and reports CLIP's own logit scale and the saved
temperature on them (`calibrate.calibration_report`): the same table as training printed, then
whether it matches the saved report. Nothing is fitted again.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from models.cli import CommandFailed, fail
from models.style.classify import TEMPERATURE

HELP = "Style: report a fitted zero-shot temperature on its saved test photos again."

TRAIN_COMMAND = "python -m models.train style_temperature --data DIR"
DEFAULT_RUN = "runs/style_temperature"  # the trainer's default --out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The temperature evaluation's flags."""
    parser.add_argument("--model", default=DEFAULT_RUN, metavar="DIR|NAME",
                        help="a folder holding temperature.json, or the manifest name "
                             f"{TEMPERATURE} (default: {DEFAULT_RUN})")
    parser.add_argument("--data", type=Path, default=None, metavar="DIR",
                        help="the data folder (DIR/<style>/*.jpg), if it moved since training "
                             "(default: the one temperature.json records)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="also write the result as JSON to FILE")


# === The saved temperature ===


def temperature_folder(spec: str) -> tuple[Path, str]:
    """(the folder `--model` names, how to call it).

    Raises:
        CommandFailed: it names neither a folder nor a temperature on this machine.
    """
    import weights

    if Path(spec).is_dir():
        return Path(spec), spec
    if spec != TEMPERATURE:
        raise CommandFailed(f"--model: {spec} is not a folder; pass the --out folder of "
                            f"`{TRAIN_COMMAND}` or {TEMPERATURE}.")
    if TEMPERATURE not in weights.artifacts():
        raise CommandFailed(f"weights/manifest.toml names no {TEMPERATURE}; fit one with "
                            f"`{TRAIN_COMMAND}` and add the manifest entry it prints, or pass "
                            "--model DIR.")
    if not weights.available(TEMPERATURE):
        raise CommandFailed(f"{TEMPERATURE} is named in the manifest but not on this machine; "
                            f"`python -m weights pull {TEMPERATURE}` fetches it, or pass "
                            "--model DIR.")
    return weights.locate(TEMPERATURE).path, f"the manifest's {TEMPERATURE}"


def read_fitted(folder: Path, where: str) -> dict:
    """temperature.json, with its split.

    Raises:
        CommandFailed: it is missing, not JSON, or lists no test photos (a file from before
            splits were saved).
    """
    from models.style.calibrate import TEMPERATURE_FILE

    path = folder / TEMPERATURE_FILE
    try:
        fitted = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CommandFailed(f"{where} has no readable {TEMPERATURE_FILE} ({error}); pass "
                            f"--model DIR, the --out folder of `{TRAIN_COMMAND}`.") from error
    if not isinstance(fitted, dict) or "temperature" not in fitted:
        raise CommandFailed(f"{path} is not the output of `{TRAIN_COMMAND}`.")
    if not fitted.get("test_files") or not fitted.get("fit_files"):
        raise CommandFailed(f"{where} has no saved split in its {TEMPERATURE_FILE}; fit again "
                            f"with `{TRAIN_COMMAND}` to save one.")
    return fitted


def saved_label_set(fitted: dict):
    """The label set the temperature was fitted for, as training built it.

    Raises:
        CommandFailed: the shipped set of that name no longer has those labels.
    """
    from models.style.labels import CUSTOM, InvalidLabels, custom_label_set, label_sets

    name, labels = fitted.get("label_set"), list(fitted.get("labels") or [])
    if name == CUSTOM:
        try:
            return custom_label_set(labels)
        except InvalidLabels as error:
            raise CommandFailed(f"temperature.json's labels: {error}") from error
    shipped = label_sets().get(name)
    if shipped is None or list(shipped.labels) != labels:
        raise CommandFailed(f"The temperature was fitted for the label set {name!r} with labels "
                            f"{', '.join(labels)}; no shipped set has them now.")
    return shipped


def person_crops(root: Path, files: list[str]) -> list[np.ndarray]:
    """Each test photo's judged copy, cropped to its person, as training cropped it.

    Raises:
        CommandFailed: a photo is not under `root` or no longer reads.
    """
    from models.images import judged_copy
    from models.style.crop import cropped, person_box
    from models.style.dataset import read_photos

    missing = [name for name in files if not (root / name).is_file()]
    if missing:
        raise CommandFailed(f"{len(missing)} of the {len(files)} test photos are not under "
                            f"{root} (the first: {missing[0]}); pass --data DIR, the folder the "
                            "temperature was fitted on.")
    crops = []
    for _, photo in read_photos(root, files):
        small = judged_copy(photo)
        crops.append(cropped(small, person_box(small)))
    if len(crops) != len(files):
        raise CommandFailed(f"{len(files) - len(crops)} of the {len(files)} test photos no "
                            "longer read (named above); the test split is not the one the "
                            "temperature was reported on.")
    return crops


def same_report(saved: dict, now: dict) -> bool:
    """The same rows, each figure equal to float rounding (the CLIP embeddings of a photo
    can move in the last digits with the batch it was embedded in)."""
    if set(saved) != set(now):
        return False
    return all(np.isclose(saved[name].get(key, np.nan), now[name][key], rtol=1e-4, atol=1e-6)
               for name in now for key in ("temperature", "accuracy", "nll", "ece"))


# === The command ===


def run(args: argparse.Namespace) -> int:
    """Score the saved temperature on its test photos again and print the report; the exit
    code."""
    try:
        return _run(args)
    except CommandFailed as error:
        return fail(error)


def _run(args: argparse.Namespace) -> int:
    import weights
    from models import clip as clip_module
    from models.style.calibrate import calibration_report, format_report

    folder, where = temperature_folder(args.model)
    fitted = read_fitted(folder, where)
    label_set = saved_label_set(fitted)
    files = list(fitted["test_files"])
    root = Path(args.data if args.data is not None else fitted.get("data") or "")
    if not root.is_dir():
        raise CommandFailed(f"The data folder {root} is not here; pass --data DIR (the folder "
                            "the temperature was fitted on, DIR/<style>/*.jpg).")
    unknown = [name for name in files if Path(name).parts[0] not in label_set.labels]
    if unknown:
        raise CommandFailed(f"temperature.json lists {unknown[0]}, which is in no folder of "
                            f"the label set's styles.")
    if not weights.available("clip"):
        raise CommandFailed("the CLIP weights are not on this machine: run `python -m weights "
                            "pull clip`")
    crops = person_crops(root, files)
    targets = np.array([label_set.labels.index(Path(name).parts[0]) for name in files],
                       np.int64)
    clip = clip_module.get_clip()
    cosines = clip.embed_images(crops) @ clip.label_embeddings(label_set.prompts).T
    report = calibration_report(cosines, targets, {"clip_logit_scale": clip.logit_scale,
                                                   "fitted": float(fitted["temperature"])})

    print(f"zero-shot temperature from {where}, test photos under {root}")
    print(format_report(report, label_set.name, len(label_set.labels),
                        len(fitted["fit_files"]), len(files)))
    saved = fitted.get("test")
    if not saved:
        same = None
        print("\n(temperature.json holds no saved report to compare with)")
    elif same_report(saved, report):
        same = True
        print("\nsame as the report saved at training")
    else:
        same = False
        print("\ndiffers from the report saved at training: " + "; ".join(
            f"{name} NLL {saved[name]['nll']:.3f} then, {row['nll']:.3f} now"
            for name, row in report.items() if name in saved))
    if args.json is not None:
        try:
            args.json.write_text(json.dumps({
                "task": "style_temperature", "model": where, "data": str(root),
                "label_set": label_set.name, "test_files": files, "test": report,
                "same_as_training": same,
            }, indent=2) + "\n", encoding="utf-8")
        except OSError as error:
            raise CommandFailed(f"Cannot write to {args.json}: "
                                f"{error.strerror or error}.") from error
    return 0
