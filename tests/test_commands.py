"""The task registries `python -m models.train` and `python -m models.evaluate`: every task that
trains can be evaluated again."""

from __future__ import annotations

import re

import pytest

from models.evaluate import main as evaluate_main
from models.train import main as train_main


def listed_tasks(main, capsys) -> set[str]:
    """The task names a registry's `--help` lists (argparse puts each at a 4-space indent)."""
    assert main(["--help"]) == 0
    printed = capsys.readouterr().out
    listing = printed[printed.index("positional arguments:"):printed.index("options:")]
    return set(re.findall(r"^    (\w+)", listing, re.MULTILINE))


def test_every_task_that_trains_is_listed_by_evaluate(capsys):
    trained = listed_tasks(train_main, capsys)
    evaluated = listed_tasks(evaluate_main, capsys)
    assert {"pose", "profile", "style", "tags", "quality", "aesthetic", "aesthetic_head",
            "style_temperature"} <= trained
    assert evaluated == trained


# === What the saved-split evaluators share (models.saved_split) ===

TRAIN = "python -m models.train thing --data DIR"


def _refusal(call, *args, **kwargs) -> str:
    """The one-line message `call` refuses with."""
    from models.cli import CommandFailed

    with pytest.raises(CommandFailed) as refused:
        call(*args, **kwargs)
    return str(refused.value)


def test_the_saved_test_files_are_looked_up_or_refused_naming_the_retrain_command():
    from models.saved_split import saved_test_files

    record = {"split_files": {"train": ["good/a.png"], "test": ["bad/b.png", "good/c.png"]}}
    assert saved_test_files(record, "runs/x", "metrics.json", TRAIN) == [
        "bad/b.png", "good/c.png"]
    expected = (f"runs/x has no saved split in its metrics.json; retrain with `{TRAIN}` to "
                "save one.")
    for old in ({}, {"split_files": {"train": ["good/a.png"]}}, {"split_files": {"test": []}},
                {"split_files": ["good/a.png"]}):
        assert _refusal(saved_test_files, old, "runs/x", "metrics.json", TRAIN) == expected


def test_a_model_flag_names_a_folder_or_the_manifest_artifact(tmp_path, monkeypatch):
    import weights.resolver
    from models.saved_split import artifact_folder
    from weights.manifest import MANIFEST_PATH

    run = tmp_path / "run"
    run.mkdir()
    assert artifact_folder(str(run), TRAIN, "test_thing") == (run, str(run), False)
    assert artifact_folder(run, TRAIN) == (run, str(run), False)
    # Only a folder will do without an artifact name; with one, anything else is refused.
    assert _refusal(artifact_folder, tmp_path / "gone", TRAIN) == (
        f"{tmp_path / 'gone'} is not a folder; pass --model DIR, the --out folder of `{TRAIN}`.")
    assert _refusal(artifact_folder, "gone", TRAIN, "test_thing") == (
        f"--model: gone is not a folder; pass the --out folder of `{TRAIN}` or test_thing.")
    assert _refusal(artifact_folder, "test_thing", TRAIN, "test_thing", make="fit") == (
        f"weights/manifest.toml names no test_thing; fit one with `{TRAIN}` and add the "
        "manifest entry it prints, or pass --model DIR.")

    # Named in the manifest: refused until a copy is here, then found where the resolver is.
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(MANIFEST_PATH.read_text() + '''
[test_thing]
title = "A test artifact"
source = "hf://instavis-tests/thing"
revision = "main"
files = ["thing.json"]
required = ["thing.json"]
format = "keras"
licence = "CC0-1.0"
used_by = ["profile"]
''')
    monkeypatch.setattr(weights.resolver, "MANIFEST_PATH", manifest)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(tmp_path / "weights"))
    assert _refusal(artifact_folder, "test_thing", TRAIN, "test_thing") == (
        "test_thing is named in the manifest but not on this machine; `python -m weights pull "
        "test_thing` fetches it, or pass --model DIR.")
    copy = tmp_path / "weights" / "test_thing"
    copy.mkdir(parents=True)
    (copy / "thing.json").write_text("{}")
    assert artifact_folder("test_thing", TRAIN, "test_thing") == (
        copy, "the manifest's test_thing", True)


def test_the_data_folder_and_its_class_folders_are_checked(tmp_path):
    from models.saved_split import check_photos_present, class_labels, data_root

    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "a.png").write_bytes(b"")
    record = {"data": str(tmp_path)}
    assert data_root(None, record, "the folder") == tmp_path
    assert data_root(tmp_path / "good", record, "the folder") == tmp_path / "good"
    assert _refusal(data_root, None, {"data": str(tmp_path / "gone")}, "the folder it had") == (
        f"The data folder {tmp_path / 'gone'} is not here; pass --data DIR (the folder it had).")
    check_photos_present(tmp_path, ["good/a.png"], "the folder it had")
    assert _refusal(check_photos_present, tmp_path, ["good/a.png", "bad/b.png"],
                    "the folder it had", flag="--saved-split DATA") == (
        f"1 of the 2 test photos are not under {tmp_path} (the first: bad/b.png); pass "
        "--saved-split DATA, the folder it had.")
    labels = class_labels(["good/a.png", "bad/b.png"], {"good": 1.0, "bad": 0.0}, "m.json")
    assert labels.tolist() == [1.0, 0.0]
    assert _refusal(class_labels, ["good/a.png", "weak/c.png"], {"good": 1, "bad": 0},
                    "m.json") == "m.json lists weak/c.png, which is in neither good/ nor bad/."
