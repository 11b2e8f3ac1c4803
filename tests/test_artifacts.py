"""The one loader of trained artifacts (`models.artifacts`) and the caches of what is derived
from a loaded model.

The loader is tested on a trivial kind (a one-layer Keras model and a JSON file), then each of
the three real kinds (the style classifier, the tag head, RAN-56) is saved tiny into a weights
folder named by a test manifest, loaded through its public function, rewritten in place and
loaded again, all in one process. The rewritten models have a zero kernel on their last Dense
layer, so their outputs are the activation of its bias whatever the photo: the expected
numbers are worked out from the bias alone.
"""

from __future__ import annotations

import gc
import json
import shutil
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import weights
import weights.manifest
import weights.resolver
from models import artifacts
from models.artifacts import (
    ArtifactKind,
    BoundedCache,
    SameObject,
    folder_identity,
    identity_key,
)

TOY = "toy_artifact"
TOY_MODEL = "toy.keras"
TOY_INFO = "toy.json"


def _entry(name: str, files: tuple[str, ...], used_by: str) -> str:
    listed = ", ".join(f'"{f}"' for f in files)
    return f'''
[{name}]
title = "{name} (test)"
source = "hf://instavis-tests/{name.replace('_', '-')}"
revision = "main"
files = [{listed}]
required = [{listed}]
format = "keras"
licence = "CC0-1.0"
used_by = ["{used_by}"]
'''


def _softmax(logits) -> np.ndarray:
    logits = np.asarray(logits, np.float64)
    e = np.exp(logits - logits.max())
    return e / e.sum()


def _sigmoid(logits) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64)))


def _constant_output(model, layer: str, bias) -> None:
    """Zero the Dense layer's kernel and set its bias: its output is then the activation of
    `bias`, whatever the input."""
    kernel, _ = model.get_layer(layer).get_weights()
    model.get_layer(layer).set_weights([np.zeros_like(kernel), np.asarray(bias, np.float32)])


def _photos(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (80, 96, 3), dtype=np.uint8) for _ in range(count)]


@pytest.fixture
def weights_root(tmp_path, monkeypatch) -> Path:
    """An empty $INSTAVIS_WEIGHTS_DIR and a manifest naming the toy artifact and the three
    trained kinds, with nothing loaded before or after the test."""
    from models.profile import ran56
    from models.style import trained
    from models.tags import head as heads

    root = tmp_path / "weights"
    root.mkdir()
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(weights.MANIFEST_PATH.read_text()
                        + _entry(TOY, (TOY_MODEL, TOY_INFO), "tests")
                        + _entry(trained.STYLE_HEAD, (trained.MODEL_FILE, trained.INFO_FILE),
                                 "style")
                        + _entry(heads.TAGS_HEAD, (heads.MODEL_FILE, heads.INFO_FILE), "tags")
                        + _entry(ran56.PROFILE_RAN56, (ran56.MODEL_FILE, ran56.INFO_FILE),
                                 "profile"))
    monkeypatch.setattr(weights.manifest, "MANIFEST_PATH", manifest)
    monkeypatch.setattr(weights.resolver, "MANIFEST_PATH", manifest)
    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(root))
    artifacts.reset()
    yield root
    artifacts.reset()


# === A trivial kind ===


@dataclass(frozen=True)
class Toy:
    keras_model: Any
    scale: float
    identity: Any = None

    def output(self, x: float) -> float:
        return self.scale * float(np.asarray(self.keras_model(np.float32([[x]])))[0, 0])


builds: list[Toy] = []


def _toy_check(info: dict) -> str | None:
    scale = info.get("scale")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        return "names no scale"
    return None


def _toy_build(*, model, info, folder, name, identity) -> Toy:
    toy = Toy(model, float(info["scale"]), identity)
    builds.append(toy)
    return toy


TOY_KIND = ArtifactKind("toy", TOY_MODEL, TOY_INFO, _toy_check, _toy_build)


def save_toy(folder: Path, weight: float, scale: float = 1.0) -> Path:
    """A Keras model y = weight * x (one Dense unit, no bias) and {"scale": scale}."""
    import keras

    folder.mkdir(parents=True, exist_ok=True)
    inputs = keras.Input((1,), name="x")
    dense = keras.layers.Dense(1, use_bias=False, name="y")
    model = keras.Model(inputs, dense(inputs))
    dense.set_weights([np.float32([[weight]])])
    model.save(folder / TOY_MODEL)
    (folder / TOY_INFO).write_text(json.dumps({"scale": scale}))
    return folder


@pytest.fixture
def toy_builds():
    builds.clear()
    yield builds
    builds.clear()


def test_the_loader_keeps_one_copy_per_name_and_reloads_when_a_file_changes(weights_root,
                                                                            toy_builds):
    folder = save_toy(weights_root / TOY, weight=2.0)
    first = artifacts.load(TOY, TOY_KIND)
    assert first.output(1.5) == pytest.approx(3.0)
    assert artifacts.load(TOY, TOY_KIND) is first  # unchanged: the very same object
    assert artifacts.load_if_available(TOY, TOY_KIND) is first
    assert len(toy_builds) == 1
    identity = first.identity
    assert identity.name == TOY and identity.path == str(folder.resolve())
    assert [stamp[0] for stamp in identity.files] == [TOY_MODEL, TOY_INFO]

    # New weights in place: the next call loads them, and the old copy is not kept.
    save_toy(folder, weight=-4.0)
    second = artifacts.load(TOY, TOY_KIND)
    assert second is not first and second.output(1.5) == pytest.approx(-6.0)
    assert artifacts.loaded_identities() == {TOY: second.identity}
    gone = weakref.ref(first)
    del first
    toy_builds.clear()
    gc.collect()
    assert gone() is None  # the cache held the only reference: at most one copy per name

    # The info file is read too: changing only it reloads as well.
    (folder / TOY_INFO).write_text(json.dumps({"scale": 10.0}))
    third = artifacts.load(TOY, TOY_KIND)
    assert third is not second and third.output(1.5) == pytest.approx(-60.0)
    # Rewritten in place at the same size (same inode): the modification time tells.
    size = (folder / TOY_INFO).stat().st_size
    (folder / TOY_INFO).write_text(json.dumps({"scale": 20.0}))
    assert (folder / TOY_INFO).stat().st_size == size
    third = artifacts.load(TOY, TOY_KIND)
    assert third.output(1.5) == pytest.approx(-120.0)

    # A copy renamed over the old one with the same size and time is a new copy (its inode).
    shutil.copy2(folder / TOY_INFO, folder / "new.json")
    (folder / "new.json").replace(folder / TOY_INFO)
    assert artifacts.load(TOY, TOY_KIND) is not third

    # Forgotten, it loads again; gone from the machine, there is none and none is kept.
    artifacts.forget(TOY)
    assert artifacts.loaded_identities() == {}
    fourth = artifacts.load(TOY, TOY_KIND)
    assert fourth.output(1.0) == pytest.approx(-80.0)
    shutil.rmtree(folder)
    assert artifacts.load_if_available(TOY, TOY_KIND) is None
    assert artifacts.loaded_identities() == {}
    with pytest.raises(weights.WeightsUnavailable, match=TOY):
        artifacts.load(TOY, TOY_KIND)


def test_a_malformed_info_file_is_a_clear_value_error_and_is_not_cached(weights_root,
                                                                       toy_builds):
    folder = save_toy(weights_root / TOY, weight=1.0)
    info = folder / TOY_INFO
    cases = [("{not json", "is missing or not JSON"),
             ("[1, 2]", "is not a JSON object"),
             ('{"scale": "big"}', "names no scale")]
    for text, words in cases:
        info.write_text(text)
        with pytest.raises(ValueError) as caught:
            artifacts.load(TOY, TOY_KIND)
        message = str(caught.value)
        assert str(info) in message and words in message and "\n" not in message, message
        with pytest.raises(ValueError, match=words):
            artifacts.read_info(folder, TOY_KIND)
    info.unlink()
    with pytest.raises(ValueError, match="is missing or not JSON"):
        artifacts.load_folder(folder, TOY_KIND)
    assert toy_builds == [] and artifacts.loaded_identities() == {}
    # Mended, it loads: a failure is not remembered.
    info.write_text('{"scale": 3}')
    assert artifacts.load(TOY, TOY_KIND).output(2.0) == pytest.approx(6.0)


def test_threads_asking_at_once_get_one_load(weights_root, toy_builds):
    save_toy(weights_root / TOY, weight=1.0)
    start = threading.Barrier(6)
    got = []

    def ask():
        start.wait()
        got.append(artifacts.load(TOY, TOY_KIND))

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 6 and all(toy is got[0] for toy in got)
    assert len(toy_builds) == 1


def test_a_shipped_copy_is_checked_against_its_recorded_sha256(weights_root, tmp_path,
                                                               monkeypatch, toy_builds):
    import hashlib

    monkeypatch.delenv("INSTAVIS_WEIGHTS_DIR")  # an override copy is trusted as it is
    shipped = tmp_path / "shipped"
    monkeypatch.setattr(weights.resolver, "SHIPPED_ROOT", shipped)
    folder = save_toy(shipped / TOY, weight=5.0)
    digest = hashlib.sha256((folder / TOY_MODEL).read_bytes()).hexdigest()
    manifest = weights.resolver.MANIFEST_PATH
    manifest.write_text(manifest.read_text() + f'\n[{TOY}.sha256]\n"{TOY_MODEL}" = "{digest}"\n')
    assert artifacts.load(TOY, TOY_KIND).output(1.0) == pytest.approx(5.0)
    save_toy(folder, weight=6.0)  # not the published file any more
    with pytest.raises(weights.WeightsCorrupt, match="sha256"):
        artifacts.load(TOY, TOY_KIND)


def test_bounded_cache_builds_once_keeps_the_latest_and_keeps_no_failure():
    cache = BoundedCache(2)
    made = []

    def build(value):
        def make():
            made.append(value)
            return [value]
        return make

    a = cache.get("a", build("a"))
    assert cache.get("a", build("again")) is a and made == ["a"]
    cache.get("b", build("b"))
    cache.get("a", build("again"))  # a is now the most recently used
    cache.get("c", build("c"))
    assert cache.keys() == ["a", "c"] and len(cache) == 2  # b, the least recent, went
    assert cache.get("b", build("b2")) == ["b2"]

    def fail():
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        cache.get("d", fail)
    assert "d" not in cache.keys()
    with pytest.raises(ValueError, match="max_entries"):
        BoundedCache(0)


def test_keys_name_the_very_object_or_its_artifact_identity(tmp_path):
    one, other = [1], [1]
    assert SameObject(one) == SameObject(one) and hash(SameObject(one)) == id(one)
    assert SameObject(one) != SameObject(other)  # equal values, different objects
    folder = save_toy(tmp_path / "toy", weight=1.0)
    loaded = artifacts.load_folder(folder, TOY_KIND)
    assert identity_key(loaded) == artifacts.identity_of(folder, TOY_KIND.files)
    bare = Toy(None, 1.0)
    assert identity_key(bare) == SameObject(bare) != identity_key(Toy(None, 1.0))


# === The three kinds, rewritten in place in one process ===


@pytest.fixture
def with_clip(weights_root, tiny_weights_root):
    """The tiny CLIP in the weights folder, and no CLIP, backbone or adapter loaded before or
    after."""
    import models.clip as clip
    from models.style import trained
    from models.tags.embedders import reset_embedders

    (weights_root / "clip").symlink_to(tiny_weights_root / "clip", target_is_directory=True)
    clip.reset_default()
    reset_embedders()
    trained.reset_default()
    yield weights_root
    clip.reset_default()
    reset_embedders()
    trained.reset_default()


def save_style_head(folder: Path, labels: tuple[str, ...], bias) -> None:
    from models.style.networks import build_clip_head
    from models.style.trained import INFO_FILE, MODEL_FILE

    folder.mkdir(parents=True, exist_ok=True)
    model = build_clip_head(16, len(labels))  # the tiny CLIP's embedding width
    _constant_output(model, "style_classes", bias)
    model.save(folder / MODEL_FILE)
    (folder / INFO_FILE).write_text(json.dumps({"backbone": "clip", "labels": list(labels)}))


def test_a_style_model_rewritten_in_place_is_reloaded_with_its_adapter(with_clip):
    from models.style import trained

    folder = with_clip / trained.STYLE_HEAD
    photos = _photos(2)
    save_style_head(folder, ("casual", "formal", "street"), [2.0, 0.0, -1.0])
    first = trained.trained_style_model()
    assert first.name == trained.STYLE_HEAD and first.labels == ("casual", "formal", "street")
    assert trained.trained_style_model() is first
    expected = _softmax([2.0, 0.0, -1.0])
    np.testing.assert_allclose(first.probabilities(photos), [expected] * 2, atol=1e-6)
    adapter = first.explain_adapter()
    assert adapter is first.explain_adapter()
    np.testing.assert_allclose(adapter.predict(photos[0][None])[0], expected, atol=1e-5)

    save_style_head(folder, ("checked", "solid"), [-1.0, 3.0])
    second = trained.trained_style_model()
    assert second is not first and second.labels == ("checked", "solid")
    assert second.label_set == "custom"
    expected = _softmax([-1.0, 3.0])
    np.testing.assert_allclose(second.probabilities(photos), [expected] * 2, atol=1e-6)
    assert trained.trained_style_model() is second
    renewed = second.explain_adapter()
    assert renewed is not adapter and list(renewed.output_names) == ["checked", "solid"]
    np.testing.assert_allclose(renewed.predict(photos[0][None])[0], expected, atol=1e-5)
    assert artifacts.loaded_identities() == {trained.STYLE_HEAD: second.identity}


def save_tags_head(folder: Path, concepts: tuple[str, ...], bias, embedder_key: str) -> None:
    from models.tags import head as heads

    folder.mkdir(parents=True, exist_ok=True)
    model = heads.build_head(heads.parse_configuration("0hidden"), 16, len(concepts))
    _constant_output(model, heads.OUTPUT_LAYER, bias)
    model.save(folder / heads.MODEL_FILE)
    (folder / heads.INFO_FILE).write_text(json.dumps({
        "concepts": list(concepts), "thresholds": {tag: 0.5 for tag in concepts},
        "backbone": "clip", "embedder_key": embedder_key, "configuration": "0hidden"}))


def test_a_tag_head_rewritten_in_place_is_reloaded_and_explained_by_a_new_adapter(with_clip):
    from models.tags import head as heads
    from models.tags import tag
    from models.tags.embedders import load_embedder
    from models.tags.explanations import explanation_setup

    folder = with_clip / heads.TAGS_HEAD
    key = load_embedder("clip").key
    [photo] = _photos(1)
    embeddings = np.random.default_rng(1).normal(size=(3, 16)).astype(np.float32)
    save_tags_head(folder, ("sky", "sea"), [1.5, -2.0], key)
    first = heads.trained_tags_head()
    assert first.concepts == ("sky", "sea") and heads.trained_tags_head() is first
    expected = _sigmoid([1.5, -2.0])
    np.testing.assert_allclose(first.probabilities(embeddings), [expected] * 3, atol=1e-6)
    result = tag(photo)
    assert result.decision("sky").probability == pytest.approx(expected[0], abs=1e-6)
    adapter = explanation_setup(result, "sky").models["gradcam"]
    assert explanation_setup(result, "sea").models["gradcam"] is adapter
    np.testing.assert_allclose(adapter.predict(result.photo[None])[0], expected, atol=1e-5)

    save_tags_head(folder, ("sky", "night", "water"), [-1.0, 0.5, 2.0], key)
    second = heads.trained_tags_head()
    assert second is not first and second.concepts == ("sky", "night", "water")
    expected = _sigmoid([-1.0, 0.5, 2.0])
    np.testing.assert_allclose(second.probabilities(embeddings), [expected] * 3, atol=1e-6)
    assert heads.trained_tags_head() is second
    result = tag(photo)
    assert result.decision("water").probability == pytest.approx(expected[2], abs=1e-6)
    renewed = explanation_setup(result, "sky").models["gradcam"]
    assert renewed is not adapter
    assert list(renewed.output_names) == ["sky", "night", "water"]
    np.testing.assert_allclose(renewed.predict(result.photo[None])[0], expected, atol=1e-5)
    assert artifacts.loaded_identities() == {heads.TAGS_HEAD: second.identity}

    # The adapter is kept under the files' identity, not the Python object: two loads of the
    # same files share one, and the loaded backbone's identity is part of the key.
    from models.tags.explanations import head_gradcam_adapter

    embedder = load_embedder("clip")
    one, two = heads.load_from_folder(folder), heads.load_from_folder(folder)
    assert one is not two and one.identity == two.identity
    assert head_gradcam_adapter(one, embedder) is head_gradcam_adapter(two, embedder)


@pytest.fixture(scope="module")
def tiny_ran56():
    """The 32 x 32, width-4 RAN-56 of tests/test_ran56.py, built once."""
    import keras

    from models.profile import ran56

    keras.utils.set_random_seed(0)
    return ran56.build_ran56((32, 32, 3), 2, width=4)


def test_a_ran56_rewritten_in_place_is_reloaded_with_its_adapter(weights_root, tiny_ran56):
    from models.profile import ran56

    folder = weights_root / ran56.PROFILE_RAN56
    photos = _photos(3)
    _constant_output(tiny_ran56, "classes", [0.5, 1.5])
    ran56.save_artifact(tiny_ran56, folder, {"image_size": 32})
    ran56.reset_default()
    first = ran56.trained_ran56()
    assert ran56.trained_ran56() is first
    expected = _softmax([0.5, 1.5])
    np.testing.assert_allclose(first.fits_good_feed(photos), [expected[1]] * 3, atol=1e-6)
    adapter = first.explain_adapter()
    assert adapter is first.explain_adapter() and adapter.model is first.keras_model

    # Only the .keras file is rewritten; ran56.json stays as it was.
    info_before = (folder / ran56.INFO_FILE).stat().st_mtime_ns
    _constant_output(tiny_ran56, "classes", [2.0, -1.0])
    tiny_ran56.save(folder / ran56.MODEL_FILE)
    assert (folder / ran56.INFO_FILE).stat().st_mtime_ns == info_before
    second = ran56.trained_ran56()
    assert second is not first
    expected = _softmax([2.0, -1.0])
    np.testing.assert_allclose(second.fits_good_feed(photos), [expected[1]] * 3, atol=1e-6)
    assert ran56.trained_ran56() is second
    renewed = second.explain_adapter()
    assert renewed is not adapter and renewed.model is second.keras_model
    np.testing.assert_allclose(renewed.predict(np.stack(photos))[:, 1], [expected[1]] * 3,
                               atol=1e-5)
    ran56.reset_default()


# === Backbones ===


def test_a_backbone_replaced_in_place_is_reloaded_and_few_are_kept(weights_root, tmp_path):
    from models.tags import embedders
    from tests.tags_data import tiny_efficientnet_root

    tiny_efficientnet_root(weights_root, seed=1)
    embedders.reset_embedders()
    try:
        first = embedders.load_embedder("efficientnet")
        assert embedders.load_embedder("efficientnet") is first
        squares = np.random.default_rng(2).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
        before = first.embed(squares)

        tiny_efficientnet_root(weights_root, seed=2)  # other weights, the same folder
        second = embedders.load_embedder("efficientnet")
        assert second is not first and second.key != first.key
        assert second.identity != first.identity
        after = second.embed(squares)
        assert not np.allclose(after, before, atol=1e-3)
        # The new vectors are the new files' own: a copy of them, loaded apart, agrees.
        copy = shutil.copytree(weights_root / "efficientnet_b0", tmp_path / "copy")
        apart = embedders.load_embedder("efficientnet", copy)
        assert apart.key == second.key
        np.testing.assert_allclose(after, apart.embed(squares), atol=1e-6)

        # At most two backbones are kept: a third folder drops the least recently used.
        assert embedders.load_embedder("efficientnet") is second  # now the most recent
        other = shutil.copytree(copy, tmp_path / "other")
        embedders.load_embedder("efficientnet", other)
        assert len(embedders._embedders) == 2
        assert embedders.load_embedder("efficientnet") is second
        assert embedders.load_embedder("efficientnet", copy) is not apart  # it was dropped
    finally:
        embedders.reset_embedders()


def test_a_bounded_cache_keeps_the_latest_few_and_a_folder_identity_sees_rewrites(tmp_path):
    builds = []
    cache = BoundedCache(2)

    def value(key):
        return cache.get(key, lambda: builds.append(key) or f"built {key}")

    assert [value("a"), value("a"), value("b")] == ["built a", "built a", "built b"]
    value("a")  # a is now the most recently used; c pushes b out
    value("c")
    assert builds == ["a", "b", "c"] and cache.keys() == ["a", "c"]
    value("b")
    assert builds == ["a", "b", "c", "b"] and cache.keys() == ["c", "b"]

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "head.keras").write_bytes(b"one")
    first = folder_identity(tmp_path)
    assert first == (str(tmp_path), (("sub/head.keras", 3, first[1][0][2]),))
    assert folder_identity(tmp_path) == first  # nothing changed: the same copy
    (tmp_path / "sub" / "head.keras").write_bytes(b"three")
    assert folder_identity(tmp_path) != first  # rewritten: another copy
    (tmp_path / "sub" / "head.keras").write_bytes(b"one")
    (tmp_path / "sub" / "extra.json").write_text("{}")
    assert len(folder_identity(tmp_path)[1]) == 2
