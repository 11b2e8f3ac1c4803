"""The resolver's four places, its failure message, checksums, the CLI and safe Keras loading."""

from __future__ import annotations

import hashlib
import shutil
import socket
import tomllib

import pytest

import weights
import weights.resolver as resolver
from weights.__main__ import main as weights_cli
from weights.lock import lock

COMMIT = "0123456789abcdef0123456789abcdef01234567"
TAB_KEYS = {"aesthetic", "pose", "style", "tags", "profile"}


def write_complete_copy(folder, artifact, payload=b"weights"):
    folder.mkdir(parents=True, exist_ok=True)
    for name in artifact.required:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload + name.encode())
    return folder


def write_hub_cache(hf_home, artifact, commit=COMMIT, ref="main"):
    """The Hugging Face cache layout huggingface_hub itself writes: refs + snapshots/<commit>."""
    repo = hf_home / "hub" / f"models--{artifact.repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / ref).write_text(commit)
    return write_complete_copy(repo / "snapshots" / commit, artifact)


@pytest.fixture
def clip():
    return weights.get_artifact("clip")


@pytest.fixture
def own_manifest(tmp_path, monkeypatch):
    """A copy of the real manifest that a test may edit, used by the resolver and the CLI."""
    path = tmp_path / "manifest.toml"
    shutil.copy(weights.MANIFEST_PATH, path)
    monkeypatch.setattr(resolver, "MANIFEST_PATH", path)
    return path


@pytest.fixture
def shipped_root(tmp_path, monkeypatch):
    root = tmp_path / "shipped"
    root.mkdir()
    monkeypatch.setattr(resolver, "SHIPPED_ROOT", root)
    return root


def test_manifest_describes_every_artifact():
    known = weights.artifacts()
    assert known["clip"].source == "hf://keras/clip_vit_base_patch32"
    for artifact in known.values():
        assert artifact.licence and artifact.title and artifact.revision
        assert set(artifact.used_by) <= TAB_KEYS, artifact.name
        if artifact.on_hub:
            # Only the listed files are fetched: a pickled checkpoint is never downloaded.
            assert artifact.files and not any(f.endswith((".bin", ".pt", ".pth"))
                                              for f in artifact.files)


def test_override_wins_over_every_other_place(tmp_path, monkeypatch, isolated_weights, clip,
                                              shipped_root):
    write_complete_copy(shipped_root / "clip", clip)
    write_hub_cache(isolated_weights, clip)
    override = write_complete_copy(tmp_path / "mine" / "clip", clip)
    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(tmp_path / "mine"))
    assert weights.resolve("clip") == override
    assert weights.locate("clip").status == weights.OVERRIDE


def test_shipped_copy_beats_the_cache(isolated_weights, clip, shipped_root):
    shipped = write_complete_copy(shipped_root / "clip", clip)
    write_hub_cache(isolated_weights, clip)
    assert weights.resolve("clip") == shipped
    assert weights.locate("clip").status == weights.SHIPPED


def test_cache_is_found_at_the_manifest_revision(isolated_weights, clip):
    snapshot = write_hub_cache(isolated_weights, clip)
    assert weights.resolve("clip") == snapshot
    assert weights.locate("clip").status == weights.CACHED


def test_incomplete_copies_are_skipped_with_a_reason(tmp_path, monkeypatch, clip):
    folder = write_complete_copy(tmp_path / "mine" / "clip", clip)
    (folder / "model.weights.h5").unlink()
    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(tmp_path / "mine"))
    with pytest.raises(weights.WeightsUnavailable) as caught:
        weights.resolve("clip")
    assert "incomplete, lacks model.weights.h5" in str(caught.value)


def test_missing_weights_message_names_every_place_and_the_fix(clip):
    with pytest.raises(weights.WeightsUnavailable) as caught:
        weights.resolve("clip")
    message = str(caught.value)
    assert "\n" not in message
    assert "'clip'" in message
    for place in ("INSTAVIS_WEIGHTS_DIR", "weights/clip", "Hugging Face cache",
                  "hf://keras/clip_vit_base_patch32", "offline"):
        assert place in message, place
    assert "python -m weights pull clip" in message
    assert caught.value.tried and len(caught.value.tried) == 4
    assert "python -m weights pull clip" in caught.value.summary


def test_offline_flag_blocks_downloads_even_without_the_env_var(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    weights.set_offline(True)
    assert weights.is_offline()
    with pytest.raises(weights.WeightsUnavailable, match="--offline was given"):
        weights.resolve("efficientnet_b0")


def test_online_download_failure_is_one_clear_line(monkeypatch):
    # A port nothing listens on stands in for an unreachable Hub: the real download code runs.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(weights.WeightsUnavailable) as caught:
        weights.resolve("efficientnet_b0")
    message = str(caught.value)
    assert "download failed" in message and "\n" not in message
    assert "python -m weights pull efficientnet_b0" in message


def test_unknown_artifact_names_the_known_ones():
    with pytest.raises(KeyError, match="clip"):
        weights.resolve("no_such_model")


def test_package_artifact_resolves_to_the_installed_package():
    folder = weights.resolve("mediapipe")
    assert folder.name == "mediapipe" and (folder / "modules").is_dir()


def test_checksums_catch_a_corrupt_file(own_manifest, shipped_root, clip):
    folder = write_complete_copy(shipped_root / "clip", clip)
    good = hashlib.sha256((folder / "config.json").read_bytes()).hexdigest()
    text = own_manifest.read_text() + f'\n[clip.sha256]\n"config.json" = "{good}"\n'
    own_manifest.write_text(text)
    assert weights.resolve("clip") == folder

    (folder / "config.json").write_bytes(b"tampered")
    with pytest.raises(weights.WeightsCorrupt, match="sha256") as caught:
        weights.resolve("clip")
    assert "pull clip --force" in str(caught.value)
    assert weights_cli(["verify", "clip"]) == 1


def test_cli_list_offline_shows_every_artifact(capsys, isolated_weights, clip):
    write_hub_cache(isolated_weights, clip)
    assert weights_cli(["--offline", "list"]) == 0
    out = capsys.readouterr().out
    for name in weights.artifacts():
        assert name in out
    clip_line = next(line for line in out.splitlines() if line.startswith("clip "))
    assert " cached " in clip_line
    vgg_line = next(line for line in out.splitlines() if line.startswith("vgg16 "))
    assert " missing " in vgg_line


def test_cli_pull_offline_fails_in_one_line(capsys):
    assert weights_cli(["--offline", "pull", "clip"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and "offline" in err


def test_cli_rejects_bad_commands_with_exit_code_2(capsys):
    with pytest.raises(SystemExit) as caught:
        weights_cli(["frobnicate"])
    assert caught.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert weights_cli(["pull", "no_such_model"]) == 2


def test_lock_pins_the_cached_commit_and_records_checksums(own_manifest, isolated_weights, clip):
    snapshot = write_hub_cache(isolated_weights, clip)
    lines = lock([clip], manifest_path=own_manifest)
    assert COMMIT in lines[0]
    entry = tomllib.loads(own_manifest.read_text())["clip"]
    assert entry["revision"] == COMMIT
    expected = hashlib.sha256((snapshot / "model.weights.h5").read_bytes()).hexdigest()
    assert entry["sha256"]["model.weights.h5"] == expected
    # Comments survive the rewrite, and the pinned manifest still resolves the same copy.
    assert own_manifest.read_text().startswith("# Every artifact InstaVis loads")
    assert weights.resolve("clip") == snapshot


def test_keras_files_load_with_safe_mode(tmp_path, monkeypatch):
    import keras

    inputs = keras.Input((4,))
    plain = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
    risky = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    folder = tmp_path / "mine" / "efficientnet_b0"
    folder.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (folder / name).write_text("{}")
    plain.save(folder / "plain.keras")
    risky.save(folder / "risky.keras")
    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(tmp_path / "mine"))

    loaded = weights.load_keras("efficientnet_b0", "plain.keras")
    assert loaded.get_layer("head").get_weights()[0].shape == (4, 2)
    with pytest.raises(ValueError, match="(?i)safe_mode|lambda"):
        weights.load_keras("efficientnet_b0", "risky.keras")


def test_a_required_file_may_name_alternatives(tmp_path, monkeypatch):
    # timm's checkpoint or the keras-hub preset saved from it: either completes a copy.
    folder = tmp_path / "mine" / "vgg16"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(tmp_path / "mine"))
    with pytest.raises(weights.WeightsUnavailable,
                       match=r"lacks model\.safetensors\|model\.weights\.h5"):
        weights.resolve("vgg16")
    (folder / "model.weights.h5").write_bytes(b"h5")
    assert weights.resolve("vgg16") == folder
