"""`python -m models.train style_temperature`: fit CLIP zero-shot's temperature on labelled photos.

Zero-shot style probabilities are softmax(T x cosine(photo, label)). Until a temperature is
fitted, T is CLIP's own learned logit scale (read from the checkpoint), which was fitted on
CLIP's image-text pairs, not on outfits. This task fits T to a documented set of labelled
photos: `--data DIR` with one folder per style, whose names are the labels of a shipped set
(FashionStyle14's layout works as is) or your own labels. Each photo is cropped to its person
as `classify` does, and T minimises the negative log-likelihood of the true styles on the
photos outside the test split (one number cannot overfit much, so no validation split is held
back). The report compares CLIP's scale and the fitted T on the test split only: accuracy (the
same at any T), negative log-likelihood and expected calibration error.

It writes `temperature.json` to `--out` (default runs/style_temperature) and prints the manifest
entry (`style_temperature`) that makes zero-shot use it, for that label set only. The file
records the split (`fit_files`, `test_files`, relative to the data folder `data`), which
`python -m models.evaluate style_temperature` (`models.style.evaluate_temperature`) reads to
report the test photos again.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from models.cli import fail, float_in, int_at_least
from models.style.classify import TEMPERATURE_FILE

HELP = "Style: fit CLIP zero-shot's temperature on photos in one folder per style."
LOWEST, HIGHEST = 1.0, 500.0
"""The temperatures searched: from a near-uniform softmax to far sharper than CLIP's 100."""
CALIBRATION_BINS = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, type=Path, metavar="DIR",
                        help="photos as DIR/<style>/*.jpg; the folder names are the labels")
    parser.add_argument("--out", type=Path, default=Path("runs/style_temperature"),
                        metavar="DIR", help="where temperature.json goes")
    parser.add_argument("--test-fraction", type=float_in(0.0, 1.0), default=0.3,
                        help="share of each style's photos held out for the report (0.3)")
    parser.add_argument("--seed", type=int_at_least(0), default=0, help="the split's seed")


def nll(cosines: np.ndarray, targets: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of the true labels under softmax(T x cosines)."""
    logits = temperature * cosines
    logits = logits - logits.max(axis=1, keepdims=True)
    log_probabilities = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(-log_probabilities[np.arange(len(targets)), targets].mean())


def fit_temperature(cosines: np.ndarray, targets: np.ndarray) -> float:
    """The T in [LOWEST, HIGHEST] minimising `nll`, searched on a log scale (bounded Brent)."""
    from scipy.optimize import minimize_scalar

    found = minimize_scalar(lambda log_t: nll(cosines, targets, math.exp(log_t)),
                            bounds=(math.log(LOWEST), math.log(HIGHEST)), method="bounded",
                            options={"xatol": 1e-4})
    return float(math.exp(found.x))


def expected_calibration_error(probabilities: np.ndarray, targets: np.ndarray,
                               bins: int = CALIBRATION_BINS) -> float:
    """The gap between confidence and accuracy, averaged over equal-width confidence bins."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == targets
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        members = (confidence > low) & (confidence <= high)
        if members.any():
            total += members.mean() * abs(confidence[members].mean() - correct[members].mean())
    return float(total)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def calibration_report(cosines: np.ndarray, targets: np.ndarray,
                temperatures: dict[str, float]) -> dict[str, dict[str, float]]:
    """Each named temperature's accuracy, negative log-likelihood and expected calibration
    error on the test photos.

    Args:
        cosines: (N, labels) cosines of the test photos' crops with the labels.
        targets: (N,) each photo's label index.
        temperatures: name -> T, in the report's order.
    """
    report = {}
    for name, value in temperatures.items():
        probabilities = softmax(value * cosines)
        report[name] = {
            "temperature": value,
            "accuracy": float((probabilities.argmax(axis=1) == targets).mean()),
            "nll": nll(cosines, targets, value),
            "ece": expected_calibration_error(probabilities, targets),
        }
    return report


def format_report(report: dict, label_set_name: str, styles: int, fit_photos: int,
                  test_photos: int) -> str:
    """`calibration_report`'s table as training prints it, and `python -m models.evaluate
    style_temperature` again."""
    lines = [f"{fit_photos + test_photos} photos, {styles} styles ({label_set_name}); fitted on "
             f"{fit_photos}, reported on the {test_photos} test photos",
             f"{'temperature':<22}{'T':>9}{'accuracy':>10}{'NLL':>8}{'ECE':>8}"]
    for name, row in report.items():
        lines.append(f"{name:<22}{row['temperature']:>9.2f}{row['accuracy']:>10.3f}"
                     f"{row['nll']:>8.3f}{row['ece']:>8.3f}")
    return "\n".join(lines)


def _label_set_for(labels):
    """The shipped set whose labels are exactly the folders, else the folders as own labels."""
    from models.style.labels import custom_label_set, label_sets

    for candidate in label_sets().values():
        if sorted(candidate.labels) == sorted(labels):
            return candidate
    return custom_label_set(list(labels))


def run(args: argparse.Namespace) -> int:
    from models import clip as clip_module
    from models.images import judged_copy
    from models.style.crop import cropped, person_box
    from models.style.dataset import (
        StyleDataError,
        read_photos,
        scan_style_folder,
        stratified_split,
    )
    from models.style.labels import InvalidLabels

    try:
        folder = scan_style_folder(args.data)
        label_set = _label_set_for(folder.labels)
    except (StyleDataError, InvalidLabels) as error:
        return fail(error)
    import weights

    if not weights.available("clip"):
        return fail("the CLIP weights are not on this machine: run `python -m weights pull clip`")
    clip = clip_module.get_clip()
    order = [label_set.labels.index(label) for label in folder.labels]  # folder -> set index
    crops, targets, files = [], [], []
    for index, photo in read_photos(folder.root, folder.files):
        small = judged_copy(photo)
        crops.append(cropped(small, person_box(small)))
        targets.append(order[int(folder.targets[index])])
        files.append(folder.files[index])
    targets = np.asarray(targets, np.int64)
    try:
        split = stratified_split(targets, 0.0, args.test_fraction, args.seed, label_set.labels)
    except StyleDataError as error:
        return fail(error)
    fit_part = np.sort(np.concatenate([split["train"], split["validation"]]))
    test_part = split["test"]
    cosines = clip.embed_images(crops) @ clip.label_embeddings(label_set.prompts).T
    temperature = fit_temperature(cosines[fit_part], targets[fit_part])

    report = calibration_report(cosines[test_part], targets[test_part],
                         {"clip_logit_scale": clip.logit_scale, "fitted": temperature})
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"temperature": temperature, "label_set": label_set.name,
              "labels": list(label_set.labels), "data": str(folder.root.resolve()),
              "fit_files": [files[i] for i in fit_part],
              "test_files": [files[i] for i in test_part], "test": report}
    (args.out / TEMPERATURE_FILE).write_text(json.dumps(result, indent=2))

    print(format_report(report, label_set.name, len(label_set.labels), len(fit_part),
                        len(test_part)))
    print(f"\nwrote {args.out / TEMPERATURE_FILE} (`python -m models.evaluate style_temperature "
          f"--model {args.out}` reports the test photos again). To use it, add to "
          f"weights/manifest.toml and "
          f"put the folder at $INSTAVIS_WEIGHTS_DIR/style_temperature/ (or on the Hub):\n")
    print(f'[style_temperature]\ntitle = "CLIP zero-shot temperature for the {label_set.name} '
          f'styles"\nsource = "hf://YOU/instavis-style-temperature"\nrevision = "main"\n'
          f'files = ["{TEMPERATURE_FILE}"]\nrequired = ["{TEMPERATURE_FILE}"]\nformat = "json"\n'
          f'licence = "the licence of your photos\' labels"\nused_by = ["style"]')
    return 0
