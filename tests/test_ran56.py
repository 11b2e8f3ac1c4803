"""models.profile.ran56 and `python -m models.train profile`: Residual Attention Network-56 as
the paper describes it, a tiny configuration learning a separable generated set, and the
trained artifact read back, through the manifest, into the Profile tab's report and Grad-CAM."""

from __future__ import annotations

import json
import tomllib
from pathlib import PurePosixPath

import numpy as np
import pytest
from PIL import Image

from models.profile import ran56
from models.train import main as train_command


def _source(tensor) -> str:
    """The name of the layer that produced a Keras tensor."""
    return tensor._keras_history.operation.name


# === The architecture ===


def test_the_imagenet_configuration_has_the_papers_31_9_million_parameters():
    model = ran56.build_ran56((224, 224, 3), 1000)
    assert model.count_params() == pytest.approx(31.9e6, rel=0.01)
    # Table 2: attention stages at 56, 28 and 14 pixels with 256, 512 and 1024 channels; their
    # masks pool 3, 2 and 1 times (skips at all but the lowest resolution), each down to 7 x 7
    for stage, (side, channels, poolings) in enumerate(
            ((56, 256, 3), (28, 512, 2), (14, 1024, 1)), start=1):
        assert tuple(model.get_layer(f"attention{stage}_mask").output.shape[1:]) == (
            side, side, channels)
        pools = sorted(layer.name for layer in model.layers
                       if layer.name.startswith(f"attention{stage}_pool"))
        assert pools == [f"attention{stage}_pool{i}" for i in range(1, poolings + 1)]
        assert tuple(model.get_layer(pools[-1]).output.shape[1:3]) == (7, 7)
        skips = {layer.name.split("_")[1] for layer in model.layers
                 if layer.name.startswith(f"attention{stage}_skip")}
        assert skips == {f"skip{i}" for i in range(1, poolings)}
    assert tuple(model.get_layer(ran56.FEATURES_LAYER).output.shape[1:]) == (7, 7, 2048)
    assert tuple(model.output.shape[1:]) == (1000,)


def test_a_projection_unit_has_the_hand_counted_parameters():
    # 256 -> 512 channels, stride 2 (the unit before stage 2), counted by hand; every
    # BatchNormalization holds 4 numbers a channel (gamma, beta, moving mean and variance):
    # BN(256) 1,024 + 1x1 256->128 32,768 + BN(128) 512 + 3x3 128->128 147,456 + BN(128) 512
    # + 1x1 128->512 65,536 + shortcut 1x1 256->512 131,072 = 378,880
    import keras

    inputs = keras.Input((28, 28, 256))
    outputs = ran56.residual_unit(inputs, 512, stride=2, name="u")
    model = keras.Model(inputs, outputs)
    assert model.count_params() == 378_880
    assert tuple(outputs.shape[1:]) == (14, 14, 512)


def test_a_pre_activation_unit_starts_with_bn_relu_and_is_the_identity_at_zero():
    # He et al. 2016: BN-ReLU come before each convolution and nothing after the addition, so
    # an identity-shortcut unit whose residual is zero passes its input through unchanged,
    # negative values included (a post-activation unit would ReLU them away).
    import keras

    inputs = keras.Input((8, 8, 16))
    model = keras.Model(inputs, ran56.residual_unit(inputs, 16, name="u"))
    first = [layer for layer in model.layers if layer is not model.layers[0]]
    assert isinstance(first[0], keras.layers.BatchNormalization)
    assert _source(first[0].input) == model.layers[0].name  # applied to the input itself
    assert isinstance(first[1], keras.layers.ReLU)
    assert _source(model.get_layer("u_reduce").input) == "u_pre_relu"
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    x = np.random.default_rng(1).normal(size=(1, 8, 8, 16)).astype("float32")
    assert (x < 0).any()
    np.testing.assert_allclose(np.asarray(model(x, training=False)), x, atol=1e-6)
    # a projection shortcut convolves the pre-activated input, not the raw one
    inputs = keras.Input((8, 8, 16))
    model = keras.Model(inputs, ran56.residual_unit(inputs, 32, stride=2, name="p"))
    assert _source(model.get_layer("p_shortcut").input) == "p_pre_relu"


def test_an_attention_module_outputs_one_plus_the_mask_times_the_trunk():
    import keras

    inputs = keras.Input((16, 16, 8))
    model = keras.Model(inputs, ran56.attention_module(inputs, 8, poolings=3, name="att"))
    # the soft mask branch: three poolings, 16 -> 8 -> 4 -> 2; on the way up, each
    # resolution adds the upsampled mask to a skip unit over the bottom-up map of that size
    assert [tuple(model.get_layer(f"att_pool{i}").output.shape[1:3]) for i in (1, 2, 3)] == [
        (8, 8), (4, 4), (2, 2)]
    for level in (1, 2):
        join = model.get_layer(f"att_join{level}")
        assert sorted(_source(t) for t in join.input) == sorted(
            [f"att_up{level + 1}", f"att_skip{level}_add"])
        assert _source(model.get_layer(f"att_skip{level}_pre_bn").input) == f"att_down{level}_add"
    parts = keras.Model(inputs, [model.get_layer("att_mask").output,
                                 model.get_layer("att_trunk2_add").output,
                                 model.get_layer("att_attended").output])
    x = np.random.default_rng(0).normal(size=(2, 16, 16, 8)).astype("float32")
    mask, trunk, attended = (np.asarray(part) for part in parts(x, training=False))
    assert mask.shape == trunk.shape == (2, 16, 16, 8)
    assert mask.min() >= 0 and mask.max() <= 1  # a sigmoid (float32 may round to 0 or 1)
    assert mask.std() > 0.01  # it varies over the map, so the check below means something
    np.testing.assert_allclose(attended, (1 + mask) * trunk, rtol=1e-5, atol=1e-5)


def test_small_inputs_pool_the_mask_only_down_to_one_pixel():
    # 32 x 32: stages at 8, 4 and 2 pixels pool 3, 2 and 1 times (8 -> 1, 4 -> 1, 2 -> 1)
    model = ran56.build_ran56((32, 32, 3), 2, width=4)
    for stage, poolings in ((1, 3), (2, 2), (3, 1)):
        last = model.get_layer(f"attention{stage}_pool{poolings}")
        assert tuple(last.output.shape[1:3]) == (1, 1)
        with pytest.raises(ValueError):
            model.get_layer(f"attention{stage}_pool{poolings + 1}")
    assert tuple(model.get_layer(ran56.FEATURES_LAYER).output.shape[1:]) == (1, 1, 128)
    assert ran56.mask_poolings(56, 3) == 3 and ran56.mask_poolings(3, 3) == 2
    assert ran56.mask_poolings(1, 3) == 0


# === Learning ===


def generated_photos(count: int, good: bool, rng, side: int = 64) -> list[np.ndarray]:
    """Good: a warm, bright photo with a light square; weak: a dark, cold, noisy one."""
    photos = []
    for _ in range(count):
        base = np.array([200, 150, 90] if good else [40, 60, 90], float)
        photo = base + rng.normal(0, 12 if good else 40, (side, side, 3))
        top, left = rng.integers(0, side // 2, 2)
        if good:
            photo[top : top + side // 3, left : left + side // 3] = 245
        photos.append(np.clip(photo, 0, 255).astype(np.uint8))
    return photos


@pytest.fixture(scope="module")
def tiny_trained():
    """A 32 x 32, width-4 RAN-56 with its initial (random) weights, and 4 photos: saving and
    loading must keep whatever the weights are. (That a tiny configuration learns is the
    command's test below, on profiles it never saw.)"""
    import keras

    rng = np.random.default_rng(0)
    photos = generated_photos(2, True, rng) + generated_photos(2, False, rng)
    keras.utils.set_random_seed(0)
    model = ran56.build_ran56((32, 32, 3), 2, width=4)
    return model, photos, np.array([1, 1, 0, 0])


def test_the_saved_artifact_predicts_what_the_model_in_memory_does(tiny_trained, tmp_path):
    import tensorflow as tf

    model, photos, _ = tiny_trained
    ran56.save_artifact(model, tmp_path, {"image_size": 32})
    loaded = ran56.load_from_folder(tmp_path)
    # in memory: each photo squeezed by TensorFlow's antialiased resize, as float 0..255
    x = np.stack([tf.image.resize(tf.cast(p[None], tf.float32), (32, 32), antialias=True)[0]
                  for p in photos])
    expected = np.asarray(model(x, training=False))[:, 1]
    np.testing.assert_allclose(loaded.fits_good_feed(photos), expected, atol=1e-6)
    assert expected.std() > 1e-4  # not a constant
    # preprocessing of photos of other sizes and shapes: the whole photo, squeezed
    wide = np.repeat(photos[0], 2, axis=1)  # 64 x 128
    squeezed = tf.image.resize(tf.cast(wide[None], tf.float32), (32, 32), antialias=True)
    np.testing.assert_allclose(loaded.fits_good_feed([wide]),
                               np.asarray(model(squeezed, training=False))[:, 1], atol=1e-6)
    (tmp_path / ran56.INFO_FILE).write_text("{}")
    with pytest.raises(ValueError, match="image_size"):
        ran56.load_from_folder(tmp_path)


# === The command ===


@pytest.fixture(scope="module")
def profile_data(tmp_path_factory):
    """DIR/good/<profile>/ and DIR/weak/<profile>/: 5 profiles a class, 6 photos each."""
    root = tmp_path_factory.mktemp("ran56_data")
    rng = np.random.default_rng(1)
    for good, name in ((True, "good"), (False, "weak")):
        for profile in range(5):
            folder = root / name / f"{name}_{profile}"
            folder.mkdir(parents=True)
            for index, photo in enumerate(generated_photos(6, good, rng)):
                Image.fromarray(photo).save(folder / f"{index}.png")
    return root


@pytest.fixture(scope="module")
def trained(profile_data, tmp_path_factory):
    """The command's run on profile_data: (artifact folder, stdout)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("ran56_run")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = train_command(["profile", "--data", str(profile_data), "--out", str(out),
                              "--image-size", "32", "--width", "4", "--epochs", "20",
                              "--patience", "6", "--batch-size", "8", "--learning-rate", "0.003",
                              "--validation-fraction", "0.2", "--test-fraction", "0.2"])
    assert code == 0, stdout.getvalue()
    return out, stdout.getvalue()


@pytest.fixture(scope="module")
def trained_from_folder(trained):
    """The command's artifact read straight from its folder, once for the module (loading a
    400-layer network takes seconds)."""
    return ran56.load_from_folder(trained[0])


def test_the_command_splits_by_profile_and_reports_the_test_split(trained, trained_from_folder,
                                                                  profile_data):
    out, printed = trained
    info = json.loads((out / ran56.INFO_FILE).read_text())
    assert info["split"]["by"] == "profile (subfolders)"
    # one profile of each class (round(5 x 0.2)) in test and in validation, 6 photos each
    assert info["split"]["test"] == 12 and info["split"]["validation"] == 12
    assert info["split"]["train"] == 36
    test_groups = info["split"]["test_groups"]
    assert len(test_groups) == 2 and {g.split("/")[0] for g in test_groups} == {"good", "weak"}
    # the report is the saved model's on the test profiles' photos, recomputed here
    loaded = trained_from_folder
    photos, truth = [], []
    for group in test_groups:
        for path in sorted((profile_data / group).iterdir()):
            photos.append(np.asarray(Image.open(path).convert("RGB")))
            truth.append(1 if group.startswith("good/") else 0)
    predicted = (loaded.fits_good_feed(photos) > 0.5).astype(int)
    truth = np.array(truth)
    confusion = [[int(((truth == t) & (predicted == p)).sum()) for p in (0, 1)] for t in (0, 1)]
    assert info["test"]["confusion"] == confusion
    assert info["test"]["accuracy"] == pytest.approx((predicted == truth).mean())
    # A tiny configuration (32 x 32, width 4) on a separable generated set beats chance (0.5)
    # clearly on profiles it never saw.
    assert info["test"]["balanced_accuracy"] >= 0.8
    assert f"accuracy {info['test']['accuracy']:.3f}" in printed
    assert "the paper reported" in printed
    entry = tomllib.loads(printed[printed.index(f"[{ran56.PROFILE_RAN56}]"):])
    entry = entry[ran56.PROFILE_RAN56]
    assert entry["required"] == [ran56.MODEL_FILE, ran56.INFO_FILE]
    assert entry["format"] == "keras" and entry["used_by"] == ["profile"]


def test_profile_prefixes_keep_a_profiles_photos_on_one_side(tmp_path):
    from models.profile.train import scan, split_groups

    for name in ("good", "weak"):
        (tmp_path / name).mkdir()
        for profile in range(4):
            for index in range(3):
                (tmp_path / name / f"{name}{profile}__{index:03d}.jpg").write_bytes(b"")
    found = scan(tmp_path)
    assert found.split_by == "profile (name prefixes)"
    split = split_groups(found.targets, found.groups, 0.25, 0.25, seed=3)
    sides = {found.groups[i]: side for side, indices in split.items() for i in indices}
    for side, indices in split.items():
        assert {sides[found.groups[i]] for i in indices} == {side}
        assert len(indices) == (12 if side == "train" else 6)  # 2, 1 and 1 profiles a class
    assert sorted(np.concatenate(list(split.values())).tolist()) == list(range(24))
    # loose files without a prefix split by file
    for path in (tmp_path / "good").iterdir():
        path.rename(path.with_name(path.name.replace("__", "-")))
    assert scan(tmp_path).split_by == "profile (name prefixes)"  # weak/ still has prefixes
    for path in (tmp_path / "weak").iterdir():
        path.rename(path.with_name(path.name.replace("__", "-")))
    assert scan(tmp_path).split_by == "file"


def name_ran56_in_the_manifest(tmp_path, monkeypatch):
    """Point the resolver at a copy of the shipped manifest that names a trained RAN-56
    (offline, so no download is tried)."""
    import weights.resolver
    from weights.manifest import MANIFEST_PATH

    manifest = tmp_path / "manifest.toml"
    manifest.write_text(MANIFEST_PATH.read_text() + f'''
[{ran56.PROFILE_RAN56}]
title = "RAN-56 (test)"
source = "hf://instavis-tests/ran56"
revision = "main"
files = ["{ran56.MODEL_FILE}", "{ran56.INFO_FILE}"]
required = ["{ran56.MODEL_FILE}", "{ran56.INFO_FILE}"]
format = "keras"
licence = "CC0-1.0"
used_by = ["profile"]
''')
    monkeypatch.setattr(weights.resolver, "MANIFEST_PATH", manifest)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_the_manifest_names_the_artifact_and_it_joins_the_report_and_grad_cam(
        trained, trained_from_folder, tmp_path, monkeypatch):
    import shutil

    from explain import explain
    from models.profile import check

    out, _ = trained
    root = tmp_path / "weights"
    root.mkdir()
    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(root))
    ran56.reset_default()
    assert ran56.trained_ran56() is None  # the shipped manifest names none
    name_ran56_in_the_manifest(tmp_path, monkeypatch)
    assert ran56.trained_ran56() is None  # named, but not on this machine
    shutil.copytree(out, root / ran56.PROFILE_RAN56)
    model = ran56.trained_ran56()
    assert model is not None and model.image_size == 32
    rng = np.random.default_rng(5)
    photos = generated_photos(3, True, rng) + generated_photos(1, False, rng)
    report = check(photos)
    got = [p.fits_good_feed for p in report.photos]
    # the same numbers as the artifact read straight from its folder
    np.testing.assert_allclose(got, trained_from_folder.fits_good_feed(photos), atol=1e-6)
    assert got[3] < 0.5 < min(got[:3])  # the weak photo, and only it
    assert any(r.measure == "ran56" and 4 in r.photos for r in report.recommendations)
    adapter = model.explain_adapter()
    # the adapter scores what the report shows
    np.testing.assert_allclose(adapter.predict(np.stack(photos))[:, 1], got, atol=1e-5)
    exp = explain("gradcam", adapter, report.photos[0].image, target="good",
                  faithfulness=False)
    assert exp.heatmap.shape == report.photos[0].image.shape[:2]
    # the Profile tab's panel explains the same probability for a picked photo
    from PIL import Image

    from demos import profile_tab

    paths = []
    for index, photo in enumerate(photos):
        paths.append(str(tmp_path / f"{index}.png"))
        Image.fromarray(photo).save(paths[-1])
    request = profile_tab.make_request(paths, 4, target="ran56")
    assert request.target == "good" and "RAN-56" in request.title
    assert request.model.predict(request.image[None])[0, 1] == pytest.approx(got[3], abs=1e-5)
    ran56.reset_default()


# === Evaluating it again ===


def _evaluate(argv: list[str]) -> tuple[int, str, str]:
    """`python -m models.evaluate` in process: (exit code, stdout, stderr)."""
    import contextlib
    import io

    from models.evaluate import main as evaluate_main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = evaluate_main(argv)
    return code, out.getvalue(), err.getvalue()


def _test_report(printed: str) -> str:
    """The test report's lines, as a profile command printed them."""
    start = printed.index("test split, ")
    return printed[start:printed.index("test figure)", start)]


def _copy_artifact(out, to, change):
    """A copy of an artifact folder whose ran56.json `change(info)` has edited."""
    import shutil

    shutil.copytree(out, to)
    info = json.loads((to / ran56.INFO_FILE).read_text())
    change(info)
    (to / ran56.INFO_FILE).write_text(json.dumps(info))
    return to


def test_evaluate_reports_the_saved_test_split_as_training_did(trained, profile_data, tmp_path,
                                                                monkeypatch):
    out, trained_printed = trained
    info = json.loads((out / ran56.INFO_FILE).read_text())
    # the split is saved: each side's photos, a profile's photos all on one side
    files = info["split_files"]
    assert {side: len(names) for side, names in files.items()} == {
        "train": 36, "validation": 12, "test": 12}
    assert {str(PurePosixPath(name).parent)
            for name in files["test"]} == set(info["split"]["test_groups"])
    assert sorted(sum(files.values(), [])) == sorted(
        path.relative_to(profile_data).as_posix() for path in profile_data.rglob("*.png"))

    code, printed, err = _evaluate(["profile", "--model", str(out), "--json",
                                    str(tmp_path / "again.json")])
    assert code == 0, err
    again = json.loads((tmp_path / "again.json").read_text())["test"]
    assert again["confusion"] == info["test"]["confusion"]
    assert again["photos"] == info["test"]["photos"] == 12
    assert again["accuracy"] == pytest.approx(info["test"]["accuracy"], abs=1e-9)
    assert again["balanced_accuracy"] == pytest.approx(info["test"]["balanced_accuracy"],
                                                       abs=1e-9)
    assert _test_report(printed) == _test_report(trained_printed)
    assert "same as the report saved at training" in printed

    # The default: the trained RAN-56 the manifest names, found by the weights resolver.
    import shutil

    root = tmp_path / "weights"
    shutil.copytree(out, root / ran56.PROFILE_RAN56)
    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(root))
    name_ran56_in_the_manifest(tmp_path, monkeypatch)
    ran56.reset_default()
    code, printed, err = _evaluate(["profile"])
    ran56.reset_default()
    assert code == 0, err
    assert f"from the manifest's {ran56.PROFILE_RAN56}" in printed
    assert _test_report(printed) == _test_report(trained_printed)

    # Scored again, not copied: with the saved report spoiled, the real one is still printed.
    def spoil(info):
        info["test"]["accuracy"] = -1.0

    spoiled = _copy_artifact(out, tmp_path / "spoiled", spoil)
    code, printed, err = _evaluate(["profile", "--model", str(spoiled)])
    assert code == 0, err
    assert _test_report(printed) == _test_report(trained_printed)
    assert "differs from the report saved at training" in printed


def test_evaluate_without_a_saved_split_says_so_in_one_line(trained, tmp_path):
    out, _ = trained
    old = _copy_artifact(out, tmp_path / "old", lambda info: info.pop("split_files"))
    code, printed, err = _evaluate(["profile", "--model", str(old)])
    assert code == 1 and printed == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "no saved split" in lines[0] and "python -m models.train profile" in lines[0]


def test_bad_data_and_flags_get_one_line(tmp_path, capsys):
    assert train_command(["profile", "--data", str(tmp_path / "nowhere")]) == 1
    (tmp_path / "good").mkdir()
    assert train_command(["profile", "--data", str(tmp_path)]) == 1
    (tmp_path / "weak").mkdir()
    for name in ("good", "weak"):
        for index in range(3 if name == "good" else 1):
            Image.fromarray(np.zeros((80, 80, 3), np.uint8)).save(
                tmp_path / name / f"{index}.png")
    assert train_command(["profile", "--data", str(tmp_path)]) == 1
    assert train_command(["profile", "--data", str(tmp_path), "--width", "0"]) == 2
    assert train_command(["profile", "--data", str(tmp_path), "--test-fraction", "0.7"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 5
    assert "nowhere is not a folder" in errors[0]
    assert "has no weak/ folder" in errors[1]
    assert "weak has 1 photo; at least 3 are needed" in errors[2]
    assert "--width" in errors[3] and "--test-fraction" in errors[4]


def test_unreadable_photos_are_named_and_a_split_left_without_a_class_stops(tmp_path, capsys):
    rng = np.random.default_rng(2)
    for good, name in ((True, "good"), (False, "weak")):
        (tmp_path / name).mkdir()
        for index, photo in enumerate(generated_photos(3, good, rng)):
            Image.fromarray(photo).save(tmp_path / name / f"{index}.png")
    for path in (tmp_path / "weak").iterdir():
        path.write_bytes(b"not a photo")
    code = train_command(["profile", "--data", str(tmp_path), "--out", str(tmp_path / "out"),
                          "--image-size", "32", "--width", "4"])
    captured = capsys.readouterr()
    assert code == 1
    # every unreadable file is named, then one line says why training cannot go on
    named = sorted(line.split(":")[0].rsplit("/", 1)[-1] for line in captured.out.splitlines()
                   if line.startswith("left out") and "/weak/" in line)
    assert named == ["0.png", "1.png", "2.png"]
    error = captured.err.strip()
    assert len(error.splitlines()) == 1
    assert error.startswith("The train split has no readable photo from weak/")
