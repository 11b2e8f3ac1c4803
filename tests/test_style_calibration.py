"""`python -m models.train style_temperature` with the tiny CLIP preset: the fitted temperature
minimises the fit photos' negative log-likelihood (checked against a brute-force grid worked
out here), the report covers the test split only, and once the manifest names it, zero-shot
uses it for its label set and no other."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from tests.test_style_training import CLASSES, _main, _point_weights_at, write_dataset

ENTRY = '''
[style_temperature]
title = "CLIP zero-shot temperature (test)"
source = "hf://instavis-tests/style-temperature"
revision = "main"
files = ["temperature.json"]
required = ["temperature.json"]
format = "json"
licence = "CC0-1.0"
used_by = ["style"]
'''


def softmax(logits):
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def crops_and_cosines(data, files, clip):
    """Each file's person crop (as classify makes it) and its cosines with the labels."""
    from models.images import judged_copy, load_image
    from models.style.crop import cropped, person_box
    from models.style.labels import custom_label_set

    crops = []
    for name in files:
        small = judged_copy(load_image(data / name))
        crops.append(cropped(small, person_box(small)))
    labels = clip.label_embeddings(custom_label_set(list(CLASSES)).prompts)
    return crops, clip.embed_images(crops) @ labels.T


def test_the_fitted_temperature_minimises_the_fit_photos_loss_and_is_used(
        tiny_clip, tmp_path, monkeypatch):
    from models import clip as clip_module
    from models.style import classify
    from weights.manifest import MANIFEST_PATH

    data = write_dataset(tmp_path / "data")
    monkeypatch.chdir(tmp_path)  # --data relative: temperature.json must record it absolute
    code, out, err = _main("models.train", ["style_temperature", "--data", data.name, "--out",
                                            str(tmp_path / "run")])
    assert code == 0, err
    fitted = json.loads((tmp_path / "run" / "temperature.json").read_text())
    assert fitted["label_set"] == "custom" and fitted["labels"] == list(CLASSES)
    assert set(fitted["fit_files"]).isdisjoint(fitted["test_files"])
    assert "reported on the" in out and "[style_temperature]" in out
    assert set(fitted["test"]) == {"clip_logit_scale", "fitted"}
    assert fitted["data"] == str(data.resolve())

    clip = clip_module.get_clip()
    _, cosines = crops_and_cosines(data, fitted["fit_files"], clip)
    targets = np.array([CLASSES.index(name.split("/")[0]) for name in fitted["fit_files"]])

    def loss(temperature):
        probabilities = softmax(temperature * cosines)
        return -np.log(probabilities[np.arange(len(targets)), targets]).mean()

    grid = np.exp(np.linspace(np.log(1.0), np.log(500.0), 400))
    assert loss(fitted["temperature"]) <= min(loss(t) for t in grid) + 1e-6
    assert loss(fitted["temperature"]) <= loss(clip.logit_scale) + 1e-9

    # Evaluated again from its saved split: the same table, the same figures.
    assert_the_temperature_evaluates_as_fitted(tmp_path / "run", data, out, clip, tmp_path)

    # Named in the manifest, it is the temperature for exactly these labels.
    root = tmp_path / "weights"
    shutil.copytree(tiny_clip / "clip", root / "clip")
    shutil.copytree(tmp_path / "run", root / "style_temperature")
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(MANIFEST_PATH.read_text() + ENTRY)
    _point_weights_at(monkeypatch, root, manifest)
    clip = clip_module.get_clip()
    photo = data / fitted["test_files"][0]
    result = classify(photo, labels=list(CLASSES))
    (row,) = crops_and_cosines(data, [fitted["test_files"][0]], clip)[1]
    np.testing.assert_allclose(list(result.probabilities.values()),
                               softmax(fitted["temperature"] * row[None])[0], rtol=1e-5,
                               atol=1e-7)
    other = classify(photo, labels=["a", "b"])  # another label list: CLIP's own scale
    assert other.source == "CLIP zero-shot"
    from models.style.classify import zero_shot_temperature
    from models.style.labels import custom_label_set

    assert zero_shot_temperature(custom_label_set(["a", "b"])) == clip.logit_scale
    assert zero_shot_temperature(custom_label_set(list(CLASSES))) == pytest.approx(
        fitted["temperature"])

    # By its manifest name, found by the weights resolver as zero-shot finds it.
    code, again, err = _main("models.evaluate", ["style_temperature", "--model",
                                                 "style_temperature"])
    assert code == 0, err
    assert "from the manifest's style_temperature" in again
    assert _temperature_report(again) == _temperature_report(out)


def _temperature_report(printed: str) -> str:
    """The report's four lines (counts, header, CLIP's scale, the fitted T), as a
    style_temperature command printed them."""
    lines = printed.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"\d+ photos, ", line))
    return "\n".join(lines[start:start + 4])


def assert_the_temperature_evaluates_as_fitted(run, data, trained_printed, clip, tmp_path):
    """`python -m models.evaluate style_temperature` on the fitted `run`: it scores the saved
    temperature on the saved test photos to the figures training saved and printed."""
    fitted = json.loads((run / "temperature.json").read_text())
    code, printed, err = _main("models.evaluate", ["style_temperature", "--model", str(run),
                                                   "--json", str(tmp_path / "again.json")])
    assert code == 0, err
    assert _temperature_report(printed) == _temperature_report(trained_printed)
    assert "same as the report saved at training" in printed
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["test_files"] == fitted["test_files"]
    for name, row in fitted["test"].items():
        assert again["test"][name]["temperature"] == pytest.approx(row["temperature"])
        assert again["test"][name]["accuracy"] == pytest.approx(row["accuracy"], abs=1e-9)
        assert again["test"][name]["nll"] == pytest.approx(row["nll"], rel=1e-4)
        assert again["test"][name]["ece"] == pytest.approx(row["ece"], abs=1e-6)
    # The fitted temperature's NLL on the test photos, worked out apart from both commands.
    _, cosines = crops_and_cosines(data, fitted["test_files"], clip)
    targets = np.array([CLASSES.index(name.split("/")[0]) for name in fitted["test_files"]])
    probabilities = softmax(fitted["temperature"] * cosines)
    assert again["test"]["fitted"]["nll"] == pytest.approx(
        -np.log(probabilities[np.arange(len(targets)), targets]).mean(), rel=1e-4)

    # Scored again, not copied: with the saved report spoiled, the real one is printed.
    spoiled = shutil.copytree(run, tmp_path / "spoiled")
    fitted["test"]["fitted"]["nll"] = 99.0
    (spoiled / "temperature.json").write_text(json.dumps(fitted))
    code, printed, err = _main("models.evaluate", ["style_temperature", "--model", str(spoiled)])
    assert code == 0, err
    assert _temperature_report(printed) == _temperature_report(trained_printed)
    assert "differs from the report saved at training" in printed


def test_the_evaluator_without_a_saved_split_says_so_in_one_line(tmp_path):
    (tmp_path / "old").mkdir()  # a temperature fitted before splits were saved
    (tmp_path / "old" / "temperature.json").write_text(json.dumps(
        {"temperature": 50.0, "label_set": "custom", "labels": list(CLASSES)}))
    code, printed, err = _main("models.evaluate", ["style_temperature", "--model",
                                                   str(tmp_path / "old")])
    assert code == 1 and printed == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "no saved split" in lines[0] and "python -m models.train style_temperature" in lines[0]


def test_without_clip_it_says_how_to_get_it(tmp_path):
    data = write_dataset(tmp_path / "data")
    code, _, err = _main("models.train", ["style_temperature", "--data", str(data)])
    assert code == 1 and "python -m weights pull clip" in err and "\n" not in err.strip()
