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
from pathlib import Path

import numpy as np

from models import saved_split
from models.cli import CommandFailed, fails_in_one_line
from models.style.classify import TEMPERATURE, TEMPERATURE_FILE

HELP = "Style: report a fitted zero-shot temperature on its saved test photos again."

TRAIN_COMMAND = "python -m models.train style_temperature --data DIR"
DEFAULT_RUN = "runs/style_temperature"  # the trainer's default --out
TRAINED_ON = "the folder the temperature was fitted on"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The temperature evaluation's flags."""
    saved_split.add_arguments(
        parser, model_default=DEFAULT_RUN, record_file=TEMPERATURE_FILE,
        data_layout="DIR/<style>/*.jpg",
        model_help="a folder holding temperature.json, or the manifest name "
                   f"{TEMPERATURE} (default: {DEFAULT_RUN})")


# === The saved temperature ===


def read_fitted(folder: Path, where: str) -> dict:
    """temperature.json, with its split.

    Raises:
        CommandFailed: it is missing, not JSON, or lists no test photos (a file from before
            splits were saved).
    """
    fitted = saved_split.read_record(folder, TEMPERATURE_FILE, where, TRAIN_COMMAND,
                                     belongs=lambda fitted: "temperature" in fitted,
                                     written_by="the output of")
    if not fitted.get("test_files") or not fitted.get("fit_files"):
        raise saved_split.no_saved_split(where, TEMPERATURE_FILE, TRAIN_COMMAND,
                                         redo="fit again")
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

    saved_split.check_photos_present(root, files, TRAINED_ON)
    crops = []
    for _, photo in read_photos(root, files):
        small = judged_copy(photo)
        crops.append(cropped(small, person_box(small)))
    saved_split.check_all_read(files, len(crops), "the temperature was reported on")
    return crops


def same_report(saved: dict, now: dict) -> bool:
    """The same rows, each figure equal to float rounding (the CLIP embeddings of a photo
    can move in the last digits with the batch it was embedded in)."""
    if set(saved) != set(now):
        return False
    return all(np.isclose(saved[name].get(key, np.nan), now[name][key], rtol=1e-4, atol=1e-6)
               for name in now for key in ("temperature", "accuracy", "nll", "ece"))


# === The command ===


@fails_in_one_line
def run(args: argparse.Namespace) -> int:
    """Score the saved temperature on its test photos again and print the report; the exit
    code."""
    import weights
    from models import clip as clip_module
    from models.style.calibrate import calibration_report, format_report

    folder, where, _ = saved_split.artifact_folder(args.model, TRAIN_COMMAND, TEMPERATURE,
                                                   make="fit")
    fitted = read_fitted(folder, where)
    label_set = saved_label_set(fitted)
    files = list(fitted["test_files"])
    root = saved_split.data_root(args.data, fitted, f"{TRAINED_ON}, DIR/<style>/*.jpg")
    targets = saved_split.class_labels(
        files, {label: index for index, label in enumerate(label_set.labels)},
        TEMPERATURE_FILE, np.int64)
    if not weights.available("clip"):
        raise CommandFailed("the CLIP weights are not on this machine: run `python -m weights "
                            "pull clip`")
    crops = person_crops(root, files)
    clip = clip_module.get_clip()
    cosines = clip.embed_images(crops) @ clip.label_embeddings(label_set.prompts).T
    report = calibration_report(cosines, targets, {"clip_logit_scale": clip.logit_scale,
                                                   "fitted": float(fitted["temperature"])})

    print(f"zero-shot temperature from {where}, test photos under {root}")
    print(format_report(report, label_set.name, len(label_set.labels),
                        len(fitted["fit_files"]), len(files)))
    saved = fitted.get("test")
    same = None if not saved else same_report(saved, report)
    saved_split.print_comparison(same, "report", lambda: "; ".join(
        f"{name} NLL {saved[name]['nll']:.3f} then, {row['nll']:.3f} now"
        for name, row in report.items() if name in saved), TEMPERATURE_FILE)
    saved_split.write_json(args.json, {
        "task": "style_temperature", "model": where, "data": str(root),
        "label_set": label_set.name, "test_files": files, "test": report,
        "same_as_training": same,
    })
    return 0
