"""`python -m models.evaluate tags`: score a trained tag head on its test split again.

The head's `tags_head.json` names its test photos (under the data folder it also records) and
their content keys. This reads the dataset again for their tags, takes their embeddings from the
embedding cache (embedding, with the head's own backbone, any the cache lacks), runs the head as
the Tags tab runs it (`TrainedTagsHead.probabilities`) and prints per-tag AP, mAP and F1 at the
head's thresholds beside the tag-frequency baseline, as training did. Like the research's
`evaluate.py --model_str=...`, it then appends one row to a results CSV:

    timestamp, model, backbone, annotations, test_photos, map, baseline_map, macro_f1, micro_f1

The header is written once, when the file is new; earlier rows are never rewritten.
"""

from __future__ import annotations

import argparse
import csv
import datetime
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.cli import CommandFailed, fail

HELP = ("Tags: score a trained tag head on its test split again and append the result to "
        "results.csv.")

TRAIN_COMMAND = "python -m models.train tags --data DIR"
RESULTS_COLUMNS = ("timestamp", "model", "backbone", "annotations", "test_photos", "map",
                   "baseline_map", "macro_f1", "micro_f1")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The tags evaluation's flags."""
    parser.add_argument("--model", default=None, metavar="NAME|DIR",
                        help="an artifact folder (tags_head.keras + tags_head.json), a "
                             "configuration name meaning runs/tags_<name>, or tags_head (the "
                             "manifest's); default: the manifest's tags_head")
    parser.add_argument("--data", type=Path, default=None, metavar="DIR",
                        help="the MIRFLICKR-25K folder, if it moved since training (default: "
                             "the one tags_head.json records)")
    parser.add_argument("--cache", type=Path, default=None, metavar="DIR",
                        help="the embedding cache (default: tags/cache in the InstaVis data "
                             "folder, $INSTAVIS_DATA_DIR)")
    parser.add_argument("--results", type=Path, default=Path("results.csv"), metavar="FILE",
                        help="the CSV that gets one row per evaluation (default: results.csv)")


def load_head(spec: str | None):
    """The TrainedTagsHead `--model` names.

    Raises:
        CommandFailed: it names nothing loadable; the message says how to make one.
    """
    import weights
    from models.tags import head as heads

    if spec is not None and Path(spec).is_dir():
        return _load_folder(Path(spec))
    if spec is None or spec == heads.TAGS_HEAD:
        if heads.TAGS_HEAD not in weights.artifacts():
            raise CommandFailed(f"weights/manifest.toml names no {heads.TAGS_HEAD}; train one "
                                f"with `{TRAIN_COMMAND}` and add the manifest entry it prints, "
                                "or pass --model DIR.")
        try:
            folder = weights.resolve(heads.TAGS_HEAD)
        except weights.WeightsUnavailable as error:
            raise CommandFailed(error.summary) from error
        return _load_folder(folder)
    try:
        config = heads.parse_configuration(spec)
    except heads.ConfigurationError as error:
        raise CommandFailed(f"--model: {spec!r} is no folder, and {error}") from error
    folder = Path("runs") / f"tags_{config.name}"
    if not folder.is_dir():
        raise CommandFailed(f"--model {spec}: there is no {folder}; train it with `"
                            f"{TRAIN_COMMAND} --model {config.name}` or pass --model DIR.")
    return _load_folder(folder)


def _load_folder(folder: Path):
    from models.tags.head import load_from_folder

    try:
        return load_from_folder(folder)
    except (OSError, ValueError) as error:
        raise CommandFailed(f"{folder} does not load as a tag head: {error}") from error


@dataclass(frozen=True)
class TestSplit:
    """What the evaluation scored: the head's test photos, in the order tags_head.json lists
    them.

    Attributes:
        names: the photos' names under the data folder.
        keys: their content keys.
        labels: (N, T) their tags, in the head's concept order.
        embeddings: (N, D) from the cache.
        probabilities: (N, T) the head's.
    """

    names: tuple[str, ...]
    keys: tuple[str, ...]
    labels: np.ndarray
    embeddings: np.ndarray
    probabilities: np.ndarray

    __test__ = False  # not a pytest test class


def score_test_split(head, data: Path, cache_dir: Path) -> TestSplit:
    """Read the head's test photos' tags and embeddings, and run the head on them.

    Raises:
        CommandFailed: the data folder does not hold the test photos as they were, or their
            embeddings cannot be had.
    """
    from models.tags.train import content_keys, photo_name, read_quietly

    info = head.info
    names = list(info.get("split", {}).get("test") or [])
    saved_keys = list(info.get("split_keys", {}).get("test") or [])
    if not names or len(saved_keys) != len(names):
        raise CommandFailed(f"{head.folder} records no test split in its tags_head.json; "
                            f"retrain with `{TRAIN_COMMAND}`.")
    dataset = read_quietly(data, info.get("annotations", "all"))
    where = {photo_name(photo, data): index for index, photo in enumerate(dataset.photos)}
    missing = [name for name in names if name not in where]
    if missing:
        raise CommandFailed(f"{len(missing)} of the {len(names)} test photos are not in {data} "
                            f"(the first: {missing[0]}); pass --data DIR, the folder "
                            "the head was trained on.")
    columns = {concept: i for i, concept in enumerate(dataset.concepts)}
    absent = [tag for tag in head.concepts if tag not in columns]
    if absent:
        raise CommandFailed(f"{data} has no annotations for {', '.join(absent)}, which the head "
                            "was trained on.")
    indices = [where[name] for name in names]
    photos = [dataset.photos[i] for i in indices]
    changed = [name for name, key, saved in zip(names, content_keys(photos), saved_keys,
                                                strict=True) if key != saved]
    if changed:
        raise CommandFailed(f"{len(changed)} of the {len(names)} test photos changed since "
                            f"training (the first: {changed[0]}); the test split is no longer "
                            "the one the head was scored on.")
    labels = np.asarray(dataset.labels)[np.ix_(indices, [columns[t] for t in head.concepts])]
    embeddings = _test_embeddings(head, photos, saved_keys, cache_dir)
    return TestSplit(names=tuple(names), keys=tuple(saved_keys),
                     labels=labels.astype(np.uint8), embeddings=embeddings,
                     probabilities=head.probabilities(embeddings))


def _test_embeddings(head, photos: list[Path], keys: list[str], cache_dir: Path) -> np.ndarray:
    """The photos' embeddings from the cache; the ones it lacks are embedded first, by the
    head's backbone, which must be the copy the head was trained on."""
    from models.tags.cache import CacheError, MissingEmbeddings, lookup
    from models.tags.train import cached_embeddings, load_embedder

    try:
        return lookup(cache_dir, head.embedder_key, keys)
    except MissingEmbeddings:
        pass
    except CacheError as error:
        raise CommandFailed(error) from error
    embedder = load_embedder(head.backbone)
    if embedder.key != head.embedder_key:
        raise CommandFailed(f"The cache lacks test photos, and the {head.backbone} weights here "
                            f"are not the ones the head was trained on ({embedder.key} here, "
                            f"{head.embedder_key} then); fetch those, or retrain.")
    print(f"embedding the test photos the cache {cache_dir} lacks", flush=True)
    kept, _, embeddings, report = cached_embeddings(photos, embedder, cache_dir)
    if len(kept) != len(photos):
        path, reason = report.failed[0] if report.failed else (photos[0], "not embedded")
        raise CommandFailed(f"{len(photos) - len(kept)} test photos could not be embedded "
                            f"({path}: {reason}).")
    return embeddings


def append_result(path: Path, row: dict) -> None:
    """Append `row` (RESULTS_COLUMNS) to the CSV at `path`, writing the header when the file is
    new or empty. Earlier rows are left exactly as they are.

    Raises:
        CommandFailed: the file cannot be written, or its header is not RESULTS_COLUMNS.
    """
    path = Path(path)
    try:
        new = not path.exists() or path.stat().st_size == 0
        if not new:
            with path.open(newline="", encoding="utf-8") as handle:
                header = next(csv.reader(handle), [])
            if tuple(header) != RESULTS_COLUMNS:
                raise CommandFailed(f"{path} has other columns ({','.join(header)}); name "
                                    "another file with --results.")
        if path.parent != Path(""):
            path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(RESULTS_COLUMNS)
            writer.writerow([row[column] for column in RESULTS_COLUMNS])
    except OSError as error:
        raise CommandFailed(f"Cannot write to {path}: {error.strerror or error}.") from error


def _rounded(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def run(args: argparse.Namespace) -> int:
    """Load the head, score its test split, print the table, append the CSV row."""
    try:
        return _run(args)
    except CommandFailed as error:
        return fail(error)


def _run(args: argparse.Namespace) -> int:
    from models.tags.cache import default_cache_dir
    from models.tags.metrics import evaluation_report, format_report

    head = load_head(args.model)
    info = head.info
    recorded = info.get("data")
    if args.data is None and not recorded:
        raise CommandFailed(f"{head.folder}'s tags_head.json records no data folder; pass "
                            "--data DIR (the MIRFLICKR-25K folder the head was trained on).")
    data = Path(args.data if args.data is not None else recorded)
    if not data.is_dir():
        raise CommandFailed(f"The data folder {data} is not here; pass --data DIR (the "
                            "MIRFLICKR-25K folder the head was trained on).")
    cache_dir = Path(args.cache) if args.cache is not None else default_cache_dir()
    prevalence = info.get("train_prevalence") or {}
    if set(prevalence) != set(head.concepts):
        raise CommandFailed(f"{head.folder}'s tags_head.json lacks the training prevalences; "
                            f"retrain with `{TRAIN_COMMAND}`.")
    test = score_test_split(head, data, cache_dir)
    report = evaluation_report(test.probabilities, test.labels, head.concepts,
                               head.threshold_vector(),
                               [prevalence[tag] for tag in head.concepts])
    print(f"tag head {head.configuration} on {head.backbone} embeddings, from {head.folder}")
    print(format_report(report, head.concepts))
    saved = info.get("test_report")
    if saved is None:
        print("\n(tags_head.json holds no saved test report to compare with)")
    elif _same_report(saved, report):
        print("\nsame as the report saved at training")
    else:
        print(f"\ndiffers from the report saved at training: mAP {_rounded(saved.get('map'))} "
              f"then, {_rounded(report['map'])} now")
    append_result(args.results, {
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "model": head.configuration,
        "backbone": head.backbone,
        "annotations": info.get("annotations", ""),
        "test_photos": report["photos"],
        "map": _rounded(report["map"]),
        "baseline_map": _rounded(report["baseline_map"]),
        "macro_f1": _rounded(report["macro_f1"]),
        "micro_f1": _rounded(report["micro_f1"]),
    })
    print(f"appended the result to {args.results}")
    return 0


def _same_report(saved: dict, now: dict) -> bool:
    """The same photos, and the same means to within float rounding."""
    if saved.get("photos") != now["photos"]:
        return False
    for key in ("map", "baseline_map", "macro_f1", "micro_f1"):
        then, current = saved.get(key), now[key]
        if (then is None) != (current is None):
            return False
        if then is not None and not np.isclose(then, current, rtol=0, atol=1e-6):
            return False
    return True
