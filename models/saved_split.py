"""What the evaluators that score a trainer's saved test split again share.

A trainer (`python -m models.train TASK`) writes, next to its artifact, a JSON record (a
`metrics.json`, `ran56.json`, `temperature.json`) listing each side's photos relative to the data
folder it also records. Its evaluator (`python -m models.evaluate TASK`) finds the artifact
(`--model DIR|NAME`), reads that record, finds the data folder (`--data DIR`, else the recorded
one), reads the test photos from their class folders, scores them again and says whether the
figure matches the saved one. Each step's one-line refusal is written here once; what differs
between tasks (the artifact's manifest name, the record's file name, the train command, the
class folders, how a message names the model) comes in as arguments.

Evaluation code only: product code never imports this module.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from models.cli import CommandFailed


def add_arguments(parser: argparse.ArgumentParser, *, model_default, model_help: str,
                  record_file: str, data_layout: str | None = None,
                  model_metavar: str = "DIR|NAME") -> None:
    """The flags every saved-split evaluator takes: `--model`, `--data` and `--json`.

    Args:
        parser: the task's parser.
        model_default: `--model`'s default (a run folder, or None for the manifest's artifact).
        model_help: `--model`'s help: what a folder holds, and the default.
        record_file: the JSON file that records the data folder, named in `--data`'s help.
        data_layout: the data folder's layout for `--data`'s help (e.g. "DIR/good/, DIR/bad/").
        model_metavar: "DIR|NAME" where a manifest name is taken too, else "DIR".
    """
    layout = f" ({data_layout})" if data_layout else ""
    parser.add_argument("--model", default=model_default, metavar=model_metavar,
                        help=model_help)
    parser.add_argument("--data", type=Path, default=None, metavar="DIR",
                        help=f"the data folder{layout}, if it moved since training (default: "
                             f"the one {record_file} records)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="also write the result as JSON to FILE")


# === The artifact ===


def check_named_in_manifest(artifact: str, train_command: str, make: str = "train") -> None:
    """Refuse an artifact name weights/manifest.toml does not list.

    Args:
        artifact: the manifest name.
        train_command: the command that makes one.
        make: the verb for making one ("train", "fit").

    Raises:
        CommandFailed: the manifest names no such artifact.
    """
    import weights

    if artifact not in weights.artifacts():
        raise CommandFailed(f"weights/manifest.toml names no {artifact}; {make} one with "
                            f"`{train_command}` and add the manifest entry it prints, or pass "
                            "--model DIR.")


def not_on_this_machine(artifact: str) -> CommandFailed:
    """The refusal for an artifact the manifest names but this machine does not have."""
    return CommandFailed(f"{artifact} is named in the manifest but not on this machine; "
                         f"`python -m weights pull {artifact}` fetches it, or pass --model DIR.")


def artifact_folder(spec: str | Path, train_command: str, artifact: str | None = None,
                    make: str = "train") -> tuple[Path, str, bool]:
    """The folder `--model` names: a folder on disk, or the manifest's `artifact` by name.

    Args:
        spec: `--model` as given.
        train_command: the command whose `--out` folder `--model` takes.
        artifact: the manifest name `--model` may give instead, or None where only a folder will
            do.
        make: the verb for making one ("train", "fit").

    Returns:
        (the folder, how messages call it, whether the manifest named it).

    Raises:
        CommandFailed: it names neither a folder nor an artifact on this machine.
    """
    import weights

    if Path(spec).is_dir():
        return Path(spec), str(spec), False
    if artifact is None:
        raise CommandFailed(f"{spec} is not a folder; pass --model DIR, the --out folder of "
                            f"`{train_command}`.")
    if spec != artifact:
        raise CommandFailed(f"--model: {spec} is not a folder; pass the --out folder of "
                            f"`{train_command}` or {artifact}.")
    check_named_in_manifest(artifact, train_command, make)
    if not weights.available(artifact):
        raise not_on_this_machine(artifact)
    return weights.locate(artifact).path, f"the manifest's {artifact}", True


def read_record(folder: Path, record_file: str, where: str, train_command: str,
                belongs: Callable[[dict], bool] = lambda record: True,
                written_by: str = "the metrics of") -> dict:
    """The JSON record the trainer wrote in `folder`.

    Args:
        folder: the artifact's folder.
        record_file: the record's file name.
        where: how messages call the folder.
        train_command: the command that writes it.
        belongs: whether a JSON object is this task's record.
        written_by: the refusal's words for what it is not ("the metrics of", "the output of").

    Raises:
        CommandFailed: it is missing, not JSON, or not this task's record.
    """
    path = folder / record_file
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CommandFailed(f"{where} has no readable {record_file} ({error}); pass --model "
                            f"DIR, the --out folder of `{train_command}`.") from error
    if not isinstance(record, dict) or not belongs(record):
        raise CommandFailed(f"{path} is not {written_by} `{train_command}`.")
    return record


# === The split ===


def no_saved_split(where: str, record_file: str, train_command: str, redo: str = "retrain",
                   reason: str | None = None) -> CommandFailed:
    """The refusal for a record from before splits were saved.

    Args:
        where: how messages call the artifact.
        record_file: the record's file name.
        train_command: the command that saves a split.
        redo: the verb for doing it again ("retrain", "fit again").
        reason: what is wrong with the record, if more than the split's absence.
    """
    why = f" ({reason})" if reason else ""
    return CommandFailed(f"{where} has no saved split in its {record_file}{why}; {redo} with "
                         f"`{train_command}` to save one.")


def saved_test_files(record: dict, where: str, record_file: str, train_command: str) -> list[str]:
    """The test photos the record lists in `split_files["test"]`, relative to the data folder.

    Raises:
        CommandFailed: it lists none (a record from before splits were saved).
    """
    split_files = record.get("split_files")
    files = split_files.get("test") if isinstance(split_files, dict) else None
    if not files:
        raise no_saved_split(where, record_file, train_command)
    return list(files)


# === The data ===


def data_root(given: Path | None, record: dict, folder_hint: str,
              flag: str = "--data DIR") -> Path:
    """The data folder: the one given, else the one the record holds.

    Args:
        given: the data folder the command line gives, or None.
        record: the trainer's record (its `data` is the absolute folder trained on).
        folder_hint: what the folder is, for the refusal (e.g. "the folder the head was
            trained on, DIR/good/ and DIR/bad/").
        flag: the flag that gives it.

    Raises:
        CommandFailed: the folder is not here.
    """
    root = Path(given if given is not None else record.get("data") or "")
    if not root.is_dir():
        raise CommandFailed(f"The data folder {root} is not here; pass {flag} ({folder_hint}).")
    return root


def check_photos_present(root: Path, files: Sequence[str | Path], trained_on: str,
                         flag: str = "--data DIR") -> None:
    """Refuse a test split with photos missing from `root`.

    Args:
        root: the data folder.
        files: the test photos, relative to `root` (or absolute).
        trained_on: what the folder is (e.g. "the folder the head was trained on").
        flag: the flag that gives the data folder.

    Raises:
        CommandFailed: a photo is not under `root`; the message names the first.
    """
    missing = [name for name in files if not (root / name).is_file()]
    if missing:
        raise CommandFailed(f"{len(missing)} of the {len(files)} test photos are not under "
                            f"{root} (the first: {missing[0]}); pass {flag}, {trained_on}.")


def class_labels(files: Sequence[str], classes: Mapping[str, float | int], listed_in: str,
                 dtype=np.float32) -> np.ndarray:
    """Each photo's label, from the class folder it is in (its path's first part).

    Args:
        files: the photos, relative to the data folder.
        classes: class folder -> label, in the order messages name them.
        listed_in: what lists the photos, for the refusal (e.g. "metrics.json").
        dtype: the labels' type.

    Raises:
        CommandFailed: a photo is in none of the class folders.
    """
    unknown = [name for name in files if Path(name).parts[0] not in classes]
    if unknown:
        folders = [f"{name}/" for name in classes]
        where = (f"neither {folders[0]} nor {folders[1]}" if len(folders) == 2
                 else f"none of {', '.join(folders)}")
        raise CommandFailed(f"{listed_in} lists {unknown[0]}, which is in {where}.")
    return np.array([classes[Path(name).parts[0]] for name in files], dtype)


def check_all_read(files: Sequence[str], read: int, scored_on: str) -> None:
    """Refuse a test split some of whose photos no longer read (the reader named them).

    Args:
        files: the test photos.
        read: how many of them read.
        scored_on: what the split was scored on (e.g. "the model was scored on").

    Raises:
        CommandFailed: fewer than all read.
    """
    if read != len(files):
        raise CommandFailed(f"{len(files) - read} of the {len(files)} test photos no longer "
                            f"read (named above); the test split is not the one {scored_on}.")


# === The report ===


def print_comparison(same: bool | None, figure: str, then_and_now: Callable[[], str],
                     record_file: str, saved_figure: str | None = None) -> None:
    """Say whether the figure scored now is the one saved at training.

    Args:
        same: True or False, or None where the record holds no figure to compare with.
        figure: what is compared ("accuracy", "report").
        then_and_now: the saved and the new figures, for the line that says they differ.
        record_file: the record's file name, for the line that says there is nothing to compare.
        saved_figure: that line's name for the figure, if not `figure`.
    """
    if same is None:
        print(f"\n({record_file} holds no saved {saved_figure or figure} to compare with)")
    elif same:
        print(f"\nsame as the {figure} saved at training")
    else:
        print(f"\ndiffers from the {figure} saved at training: {then_and_now()}")


def write_json(path: Path | None, result: dict) -> None:
    """Write `result` as JSON to `path` (`--json`), if one is given.

    Raises:
        CommandFailed: it cannot be written.
    """
    if path is None:
        return
    try:
        path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise CommandFailed(f"Cannot write to {path}: {error.strerror or error}.") from error
