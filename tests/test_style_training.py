"""Training and evaluating the style classifiers (`python -m models.train style`,
`python -m models.evaluate style`), loading them back through the manifest, and CAM.

Both backbones train on a tiny generated dataset in the real folder layout, through the real
loaders: the tiny CLIP preset (tests/conftest.py `tiny_weights_root`) and a tiny keras-hub VGG
preset in the `vgg16` slot (`tiny_vgg_weights_root`), found by `weights.resolve` through
$INSTAVIS_WEIGHTS_DIR.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.style import trained
from models.style.dataset import classification_report, format_report, stratified_split

CLASSES = ("checked", "solid", "striped")
PHOTOS_PER_CLASS = 20
SIDE = 64
BROKEN = "striped/broken.jpg"

MANIFEST_ENTRIES = '''
[style_vgg16]
title = "VGG16-GAP style classifier (test)"
source = "hf://instavis-tests/style-vgg16"
revision = "main"
files = ["style.keras", "style.json"]
required = ["style.keras", "style.json"]
format = "keras"
licence = "CC0-1.0"
used_by = ["style"]

[style_head]
title = "Style head on CLIP embeddings (test)"
source = "hf://instavis-tests/style-head"
revision = "main"
files = ["style.keras", "style.json"]
required = ["style.keras", "style.json"]
format = "keras"
licence = "CC0-1.0"
used_by = ["style"]
'''


# === A tiny dataset whose classes are separable ===


def _backgrounds() -> list[np.ndarray]:
    from skimage import data
    from skimage.transform import resize

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(),
              np.stack([data.camera()] * 3, axis=-1)]
    return [(resize(p, (SIDE * 2, SIDE * 2), anti_aliasing=True) * 255).astype(np.uint8)
            for p in photos]


def _draw(kind: str, height: int, width: int, rng) -> np.ndarray:
    """A garment-sized patch: green-on-black checks, a solid blue, or red and white stripes."""
    rows, cols = np.mgrid[:height, :width]
    period = int(rng.integers(4, 7))
    if kind == "checked":
        on = ((rows // period + cols // period) % 2 == 0)[..., None]
        return np.where(on, [40, 200, 60], [10, 30, 10]).astype(np.float32)
    if kind == "solid":
        return np.broadcast_to(np.float32([40, 70, 210]), (height, width, 3)).copy()
    on = ((rows // period) % 2 == 0)[..., None]
    return np.where(on, [220, 40, 40], [245, 245, 245]).astype(np.float32)


def write_dataset(root: Path, seed: int = 0) -> Path:
    """DIR/<class>/<i>.png: a random crop of a scikit-image photo with the class's pattern drawn
    over a random 45-75% of it, plus noise; and one unreadable .jpg."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    backgrounds = _backgrounds()
    for kind in CLASSES:
        (root / kind).mkdir(parents=True)
        for i in range(PHOTOS_PER_CLASS):
            source = backgrounds[int(rng.integers(len(backgrounds)))]
            top, left = rng.integers(0, SIDE, 2)
            photo = source[top:top + SIDE, left:left + SIDE].astype(np.float32)
            height, width = rng.integers(int(SIDE * 0.67), int(SIDE * 0.87), 2)
            y, x = rng.integers(0, SIDE - height + 1), rng.integers(0, SIDE - width + 1)
            photo[y:y + height, x:x + width] = _draw(kind, height, width, rng)
            photo += rng.normal(0, 12, photo.shape)
            Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)).save(root / kind / f"{i}.png")
    (root / BROKEN).write_bytes(b"not a jpeg at all")
    return root


# === Training both backbones once for the module ===


def _main(module: str, argv: list[str]) -> tuple[int, str, str]:
    """Run `models.train.main` or `models.evaluate.main`; (exit code, stdout, stderr)."""
    import importlib

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = importlib.import_module(module).main(argv)
    return code, out.getvalue(), err.getvalue()


def _point_weights_at(patch, root: Path, manifest: Path) -> None:
    import models.clip as clip
    import weights.resolver

    patch.setattr(weights.resolver, "MANIFEST_PATH", manifest)
    patch.setenv("INSTAVIS_WEIGHTS_DIR", str(root))
    patch.setenv("HF_HUB_OFFLINE", "1")
    clip.reset_default()
    trained.reset_default()


@pytest.fixture(scope="module")
def trained_root(tmp_path_factory, tiny_weights_root, tiny_vgg_weights_root):
    """A weights root with the tiny CLIP and VGG presets, a manifest naming style_vgg16 and
    style_head, both trained by the CLI into their slots; and the data and CLI outputs."""
    from weights.manifest import MANIFEST_PATH

    base = tmp_path_factory.mktemp("style")
    data = write_dataset(base / "data")
    root = base / "weights"
    root.mkdir()
    (root / "clip").symlink_to(tiny_weights_root / "clip", target_is_directory=True)
    (root / "vgg16").symlink_to(tiny_vgg_weights_root / "vgg16", target_is_directory=True)
    manifest = base / "manifest.toml"
    manifest.write_text(MANIFEST_PATH.read_text() + MANIFEST_ENTRIES)
    outputs = {}
    with pytest.MonkeyPatch.context() as patch:
        _point_weights_at(patch, root, manifest)
        # Epochs each head needs to pass the accuracy test below with a margin: the tiny
        # VGG's features separate the patterns sooner (test accuracy 1.0 at 25 epochs over
        # seeds 0-3) than the tiny CLIP's (0.67 to 0.89 at 25, 0.89 to 1.0 at 60).
        for backbone, name, epochs in (("clip", trained.STYLE_HEAD, 60),
                                       ("vgg16", trained.STYLE_VGG16, 25)):
            outputs[backbone] = _main("models.train", [
                "style", "--data", str(data), "--backbone", backbone, "--out", str(root / name),
                "--image-size", "32", "--seed", "3", "--epochs", str(epochs),
            ])
        import models.clip as clip

        clip.reset_default()
        trained.reset_default()
    return {"root": root, "manifest": manifest, "data": data, "outputs": outputs}


@pytest.fixture
def style_weights(trained_root, monkeypatch):
    """Point the resolver and the manifest at the trained root for one test."""
    _point_weights_at(monkeypatch, trained_root["root"], trained_root["manifest"])
    yield trained_root
    import models.clip as clip

    clip.reset_default()
    trained.reset_default()


def _info(trained_root, name: str) -> dict:
    return json.loads((trained_root["root"] / name / trained.INFO_FILE).read_text())


@pytest.mark.parametrize("backbone,name", [("clip", trained.STYLE_HEAD),
                                           ("vgg16", trained.STYLE_VGG16)])
def test_training_reports_the_test_split_and_beats_chance(trained_root, backbone, name):
    code, out, err = trained_root["outputs"][backbone]
    assert code == 0, err
    info = _info(trained_root, name)
    split = info["split"]
    train, validation, test = (set(split[s]) for s in ("train", "validation", "test"))
    assert not (train & validation or train & test or validation & test)
    every_photo = {f"{c}/{i}.png" for c in CLASSES for i in range(PHOTOS_PER_CLASS)}
    assert train | validation | test == every_photo
    # The unreadable file was logged in one line and left out.
    assert info["skipped"] == [BROKEN]
    [skip_line] = [line for line in out.splitlines() if BROKEN in line]
    assert skip_line.startswith(f"skipped {trained_root['data'] / BROKEN}: ")
    # Stratified: every class in every split (20 photos: 3 validation, 3 test each).
    for part in (validation, test):
        assert sorted(Path(f).parts[0] for f in part) == sorted(CLASSES * 3)

    report = info["test_report"]
    assert report["photos"] == len(test) == 9
    assert sum(map(sum, report["confusion"])) == len(test)
    assert [sum(row) for row in report["confusion"]] == [3, 3, 3]
    assert set(report["per_class"]) == set(CLASSES)
    assert report["accuracy"] >= 0.75, report  # chance is 1/3
    assert set(info["test_predictions"]) == test
    # The printed table is the saved report, and says it is the test split's.
    assert format_report(report, CLASSES) in out
    assert f"test split: {len(test)} photos" in out
    assert "macro" in out and "confusion matrix" in out
    assert info["label_set"] == "custom" and info["labels"] == list(CLASSES)
    # The manifest entry it prints parses and has what the manifest's documented fields need.
    import tomllib

    entry = tomllib.loads(out[out.index(f"[{name}]"):])[name]
    assert entry["required"] == ["style.keras", "style.json"] and entry["format"] == "keras"
    assert entry["source"].startswith("hf://") and entry["used_by"] == ["style"]


def test_the_manifest_model_loads_back_and_predicts_what_the_report_says(style_weights,
                                                                          monkeypatch):
    import weights.resolver
    from models.images import load_image

    model = trained.trained_style_model()
    assert model is not None and model.name == trained.STYLE_VGG16  # the research's net first
    assert model is trained.trained_style_model()  # loaded once
    assert model.backbone == "vgg16" and model.labels == CLASSES and model.label_set == "custom"

    # With only the head named, the head is the trained model.
    manifest = style_weights["manifest"].parent / "head_only.toml"
    text = style_weights["manifest"].read_text()
    manifest.write_text(text[:text.index("[style_vgg16]")] + text[text.index("[style_head]"):])
    monkeypatch.setattr(weights.resolver, "MANIFEST_PATH", manifest)
    head = trained.trained_style_model()
    assert head is not None and head.name == trained.STYLE_HEAD and head.backbone == "clip"

    for loaded in (model, head):
        info = loaded.info
        files = sorted(info["test_predictions"])
        photos = [load_image(style_weights["data"] / f) for f in files]
        probabilities = loaded.probabilities(photos)
        assert probabilities.shape == (len(files), len(CLASSES))
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
        predicted = [loaded.labels[i] for i in probabilities.argmax(axis=1)]
        assert predicted == [info["test_predictions"][f] for f in files]

    monkeypatch.setattr(weights.resolver, "MANIFEST_PATH", style_weights["manifest"].parent
                        / "none.toml")
    (style_weights["manifest"].parent / "none.toml").write_text(text[:text.index("[style_vgg16]")])
    assert trained.trained_style_model() is None


def test_explanations_of_a_trained_model(style_weights):
    from explain import explain
    from models.images import load_image

    model = trained.load_artifact(trained.STYLE_VGG16)
    photo = load_image(style_weights["data"] / "checked/0.png")
    adapter = model.explain_adapter()
    assert adapter is model.explain_adapter()
    assert tuple(adapter.output_names) == CLASSES
    # The adapter's scores are the displayed probabilities.
    np.testing.assert_allclose(adapter.predict(photo[None])[0], model.probabilities([photo])[0],
                               atol=1e-5)
    for method in ("cam", "gradcam"):
        exp = explain(method, adapter, photo, target="striped", faithfulness=False)
        assert exp.heatmap.shape == photo.shape[:2]
        assert exp.meta["layer"] == "style_features"
        assert exp.meta["grid"] == (16, 16)  # 32 pixels, before the last max pooling

    head = trained.load_artifact(trained.STYLE_HEAD)
    adapter = head.explain_adapter()
    np.testing.assert_allclose(adapter.predict(photo[None])[0], head.probabilities([photo])[0],
                               atol=1e-4)
    exp = explain("gradcam", adapter, photo, target="solid", faithfulness=False)
    assert exp.heatmap.shape == photo.shape[:2]
    assert exp.meta["grid"] == (4, 4)  # the tiny CLIP's patch grid


def test_evaluate_reproduces_the_saved_report(style_weights):
    for argv, name in (([], trained.STYLE_VGG16),
                       (["--model", str(style_weights["root"] / trained.STYLE_HEAD)],
                        trained.STYLE_HEAD),
                       (["--model", trained.STYLE_HEAD], trained.STYLE_HEAD)):
        code, out, err = _main("models.evaluate", ["style", *argv])
        assert code == 0, err
        info = _info(style_weights, name)
        assert format_report(info["test_report"], CLASSES) in out
        assert "same as the report saved at training" in out


def test_train_last_block_changes_only_the_last_block(style_weights, tmp_path):
    import keras

    from models.backbones import load_backbone

    out = tmp_path / "fine_tuned"
    code, stdout, err = _main("models.train", [
        "style", "--data", str(style_weights["data"]), "--backbone", "vgg16", "--out", str(out),
        "--image-size", "32", "--train-last-block", "--fine-tune-epochs", "3", "--epochs", "20",
    ])  # 20 head epochs: test accuracy 1.0 over seeds 0-3, as at 40
    assert code == 0, err
    preset = load_backbone("vgg16", "VGGBackbone")
    tuned = keras.saving.load_model(out / "style.keras", safe_mode=True)
    first = [np.asarray(w) for w in tuned.get_layer("block1_conv1").weights]
    last = [np.asarray(w) for w in tuned.get_layer("block2_conv1").weights]
    for got, want in zip(first, preset.get_layer("block1_conv1").weights, strict=True):
        np.testing.assert_array_equal(got, np.asarray(want))  # frozen
    assert any(not np.array_equal(got, np.asarray(want))
               for got, want in zip(last, preset.get_layer("block2_conv1").weights, strict=True))
    info = json.loads((out / "style.json").read_text())
    assert info["training"]["train_last_block"] is True
    assert 1 <= info["training"]["fine_tune_epochs_run"] <= 3
    assert info["test_report"]["accuracy"] >= 0.75


# === CAM is the seed's map: features times the class's Dense weights ===


def test_cam_of_the_vgg16_gap_head_matches_a_hand_computation():
    import keras

    from explain import KerasModel, explain
    from models.style.networks import FEATURES_LAYER, build_vgg16_gap

    # A 'backbone' of one 1 x 1 convolution: the feature map is 4 x 4 for a 4 x 4 photo.
    pixels = keras.Input((None, None, 3))
    backbone = keras.Model(pixels, keras.layers.Conv2D(2, 1, name="conv")(pixels))
    mean, std = (0.5, 0.4, 0.3), (0.25, 0.2, 0.5)
    net = build_vgg16_gap(backbone, 3, image_size=4, mean=mean, std=std)
    conv_kernel = np.array([[1.0, 0.5], [-0.5, 1.0], [0.25, -1.0]], np.float32)
    conv_bias = np.array([0.1, -0.2], np.float32)
    dense_kernel = np.array([[2.0, -1.0, 0.5], [-1.0, 3.0, 0.0]], np.float32)
    backbone.get_layer("conv").set_weights([conv_kernel[None, None], conv_bias])
    net.get_layer("style_classes").set_weights([dense_kernel, np.array([5.0, -5.0, 1.0],
                                                                       np.float32)])
    image = np.random.default_rng(7).integers(0, 256, (4, 4, 3), dtype=np.uint8)

    # By hand: normalise, 1 x 1 conv, then each class's Dense column; relu; divide by the peak.
    normalised = (image / 255.0 - np.array(mean)) / np.array(std)
    features = normalised @ conv_kernel + conv_bias
    adapter = KerasModel(net, cam_layer=FEATURES_LAYER, output_names=["a", "b", "c"])
    for target in (0, "b", 2):
        column = dense_kernel[:, target if isinstance(target, int) else 1]
        cam = np.maximum(features @ column, 0)
        expected = cam / cam.max()
        exp = explain("cam", adapter, image, target=target, faithfulness=False)
        np.testing.assert_allclose(exp.heatmap, expected, rtol=1e-5, atol=1e-6)
        assert exp.meta["grid"] == (4, 4)


# === Labels, splits, report ===


def test_label_sets_are_recognised_from_the_folder_names():
    fashionstyle14 = ["conservative", "dressy", "ethnic", "fairy", "feminine", "gal", "girlish",
                      "kireime-casual", "lolita", "mode", "natural", "retro", "rock", "street"]
    assert trained.detect_label_set(fashionstyle14) == "fashionstyle14"
    everyday = ["Casual", "street", "Formal", "sporty", "bohemian", "vintage", "minimalist",
                "glam"]
    assert trained.detect_label_set(everyday) == "everyday"
    assert trained.detect_label_set(everyday[:-1]) == "custom"
    assert trained.detect_label_set([*everyday, "rock"]) == "custom"


def test_the_split_is_stratified_disjoint_and_seeded():
    targets = np.repeat([0, 1, 2], [10, 4, 3])
    split = stratified_split(targets, 0.2, 0.2, seed=5)
    again = stratified_split(targets, 0.2, 0.2, seed=5)
    assert all(np.array_equal(split[part], again[part]) for part in split)
    joined = np.concatenate(list(split.values()))
    assert sorted(joined) == list(range(len(targets)))
    for part in ("validation", "test"):
        assert set(targets[split[part]]) == {0, 1, 2}
    assert not np.array_equal(split["test"], stratified_split(targets, 0.2, 0.2, seed=6)["test"])


def test_the_report_counts_by_hand():
    report = classification_report(["a", "b"], np.array([0, 0, 0, 1]), np.array([0, 0, 1, 1]))
    assert report["confusion"] == [[2, 1], [0, 1]]
    assert report["per_class"]["a"]["accuracy"] == pytest.approx(2 / 3)
    assert report["per_class"]["b"]["accuracy"] == 1.0
    # F1(a) = 2 * 1 * 2/3 / (5/3) = 0.8; F1(b) = 2 * 0.5 * 1 / 1.5 = 2/3.
    assert report["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)
    assert report["accuracy"] == 0.75


# === Refusals: one line, exit codes 1 (data, weights) and 2 (flags) ===


def test_bad_data_and_flags_are_refused_in_one_line(tmp_path, style_weights):
    from PIL import Image

    cases = []
    cases.append((["style", "--data", str(tmp_path / "nowhere")], 1, "is not a folder"))
    empty = tmp_path / "empty_class"
    (empty / "a").mkdir(parents=True)
    (empty / "b").mkdir()
    np.save(empty / "a" / "x.npy", np.zeros(1))  # not a photo suffix
    cases.append((["style", "--data", str(empty)], 1, "holds no photos"))
    few = tmp_path / "few"
    for kind in ("a", "b"):
        (few / kind).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (8, 8), (i * 50, 0, 0)).save(few / kind / f"{i}.png")
    cases.append((["style", "--data", str(few), "--out", str(tmp_path / "o")], 1,
                  "at least 3"))
    cases.append((["style", "--data", str(few), "--backbone", "resnet"], 2, "invalid choice"))
    for argv, expected_code, words in cases:
        code, out, err = _main("models.train", argv)
        assert code == expected_code, (argv, out, err)
        message = err.strip()
        assert words in message and "\n" not in message, message


def test_evaluate_without_a_trained_model_says_how_to_make_one(isolated_weights):
    code, out, err = _main("models.evaluate", ["style"])
    assert code == 1
    message = err.strip()
    assert "\n" not in message
    assert "python -m models.train style --data DIR" in message


def test_importing_the_style_task_modules_loads_no_tensorflow():
    script = ("import sys, models.style.train, models.style.evaluate, models.style.trained, "
              "models.style.networks; "
              "heavy = {'tensorflow', 'keras', 'keras_hub'} & set(sys.modules); "
              "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", script], check=True,
                   cwd=Path(__file__).resolve().parents[1])


def test_a_trained_model_in_the_manifest_becomes_the_tabs_source(style_weights):
    """classify() and the Style tab switch to the manifest's trained VGG16-GAP for the default
    request; another label set, or the user's own labels, still go to CLIP zero-shot; and CAM,
    which zero-shot cannot offer, explains the trained model's result."""
    from skimage import data

    from demos import style_tab
    from explain import explain
    from models.style import classify
    from models.style.explanations import explanation_setup

    photo = data.astronaut()
    result = classify(photo)
    assert result.source == "trained VGG16-GAP (style_vgg16)"
    assert result.labels == CLASSES and result.label_set == "custom"
    expected = trained.trained_style_model().probabilities([result.crop_image])[0]
    np.testing.assert_allclose(list(result.probabilities.values()), expected, rtol=1e-5)
    assert classify(photo, label_set="fashionstyle14").source == "CLIP zero-shot"
    assert classify(photo, labels=["a", "b"]).source == "CLIP zero-shot"

    verdict = style_tab.classify_photo(str(style_tab.EXAMPLES_DIR / "astronaut.jpg"))[0]
    assert "trained VGG16-GAP (style_vgg16)" in verdict
    setup = explanation_setup(result)
    cam = explain("cam", setup.models["cam"], setup.photo, target=result.top,
                  faithfulness=False)
    assert cam.heatmap.shape == setup.photo.shape[:2]
