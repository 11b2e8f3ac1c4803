"""`python -m models.evaluate style`: re-run a trained style classifier's test-split report.

The artifact's `style.json` lists the test split's files (relative to the data folder it also
records); this reads them again, runs the saved model the way the Style tab runs it
(`TrainedStyleModel.probabilities`) and prints the same table as training did, then says
whether it matches the saved report.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from models.cli import fail

HELP = "Style: re-run a trained style classifier's test-split report from its saved split."

TRAIN_COMMAND = "python -m models.train style --data DIR --backbone clip|vgg16"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The style evaluation's flags."""
    parser.add_argument("--model", default=None, metavar="DIR|NAME",
                        help="an artifact folder (style.keras + style.json) or a manifest name "
                             "(style_vgg16, style_head); default: the trained model the "
                             "manifest names, style_vgg16 first")
    parser.add_argument("--data", type=Path, default=None, metavar="DIR",
                        help="the data folder, if it moved since training (default: the one "
                             "style.json records)")


def _load(spec: str | None):
    """The TrainedStyleModel `--model` names; raises ValueError with a one-line reason."""
    import weights
    from models.style import trained

    if spec is None:
        model = trained.trained_style_model()
        if model is None:
            raise ValueError(
                f"No trained style model: the manifest names neither {trained.STYLE_VGG16} nor "
                f"{trained.STYLE_HEAD}, or its files are not here. Train one with `"
                f"{TRAIN_COMMAND}` and add the manifest entry it prints."
            )
        return model
    if Path(spec).is_dir():
        try:
            return trained.load_from_folder(spec)
        except OSError as error:
            raise ValueError(f"{spec}: {error}") from error
    if spec in (trained.STYLE_VGG16, trained.STYLE_HEAD):
        if spec not in weights.artifacts():
            raise ValueError(f"weights/manifest.toml names no {spec}; train one with `"
                             f"{TRAIN_COMMAND}` and add the manifest entry it prints.")
        try:
            return trained.load_artifact(spec)
        except weights.WeightsUnavailable as error:
            raise ValueError(error.summary) from error
    raise ValueError(f"--model: got {spec!r}; expected an artifact folder or "
                     f"{trained.STYLE_VGG16} or {trained.STYLE_HEAD}.")


def run(args: argparse.Namespace) -> int:
    """Load the model, re-run its test split and print the report; the exit code."""
    from models.style.dataset import classification_report, format_report, predict_files

    try:
        model = _load(args.model)
    except ValueError as error:
        return fail(error)
    info = model.info
    test_files = info.get("split", {}).get("test")
    if not test_files:
        return fail(f"{model.folder} has no test split in its style.json; retrain with "
                    f"`{TRAIN_COMMAND}`.")
    root = Path(args.data or info.get("data", ""))
    if not root.is_dir():
        return fail(f"The data folder {root} is not here; pass --data DIR (the folder "
                    f"{model.name} was trained on, DIR/<class>/*.jpg).")
    labels = model.labels
    index = {label: i for i, label in enumerate(labels)}
    read, probabilities = predict_files(model, root, test_files)
    if not read:
        return fail(f"None of the {len(test_files)} test photos could be read under {root}.")
    true = np.asarray([index[Path(test_files[i]).parts[0]] for i in read], np.int64)
    report = classification_report(labels, true, probabilities.argmax(axis=1))
    print(f"{model.name} ({model.backbone}, label set {model.label_set}) from {model.folder}")
    print(format_report(report, labels))
    saved = info.get("test_report")
    if saved is None:
        print("\n(style.json holds no saved report to compare with)")
    elif _same_report(saved, report):
        print("\nsame as the report saved at training")
    else:
        print(f"\ndiffers from the report saved at training: accuracy {saved['accuracy']:.1%} "
              f"then, {report['accuracy']:.1%} now")
    return 0


def _same_report(saved: dict, now: dict) -> bool:
    """Equal counts, and rates equal to within float rounding."""
    if saved["confusion"] != now["confusion"] or saved["photos"] != now["photos"]:
        return False
    return bool(np.isclose(saved["accuracy"], now["accuracy"])
                and np.isclose(saved["macro_f1"], now["macro_f1"]))
