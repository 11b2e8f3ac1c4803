"""`python -m models.train style_temperature` with the tiny CLIP preset: the fitted temperature
minimises the fit photos' negative log-likelihood (checked against a brute-force grid worked
out here), the report covers the test split only, and once the manifest names it, zero-shot
uses it for its label set and no other."""

from __future__ import annotations

import json
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
    code, out, err = _main("models.train", ["style_temperature", "--data", str(data), "--out",
                                            str(tmp_path / "run")])
    assert code == 0, err
    fitted = json.loads((tmp_path / "run" / "temperature.json").read_text())
    assert fitted["label_set"] == "custom" and fitted["labels"] == list(CLASSES)
    assert set(fitted["fit_files"]).isdisjoint(fitted["test_files"])
    assert "reported on the" in out and "[style_temperature]" in out
    assert set(fitted["test"]) == {"clip_logit_scale", "fitted"}

    clip = clip_module.get_clip()
    _, cosines = crops_and_cosines(data, fitted["fit_files"], clip)
    targets = np.array([CLASSES.index(name.split("/")[0]) for name in fitted["fit_files"]])

    def loss(temperature):
        probabilities = softmax(temperature * cosines)
        return -np.log(probabilities[np.arange(len(targets)), targets]).mean()

    grid = np.exp(np.linspace(np.log(1.0), np.log(500.0), 400))
    assert loss(fitted["temperature"]) <= min(loss(t) for t in grid) + 1e-6
    assert loss(fitted["temperature"]) <= loss(clip.logit_scale) + 1e-9

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


def test_without_clip_it_says_how_to_get_it(tmp_path):
    data = write_dataset(tmp_path / "data")
    code, _, err = _main("models.train", ["style_temperature", "--data", str(data)])
    assert code == 1 and "python -m weights pull clip" in err and "\n" not in err.strip()
