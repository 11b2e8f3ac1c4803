"""`python -m models.tags cache|infer`: the tag research's pipeline commands.

    python -m models.tags infer --image PATH [--json] [--threshold P] [--extra-tag TAG ...]

prints every tag's probability and decision for one photo, highest first (`models.tags.tag`):
the trained head's when the manifest names one, CLIP zero-shot otherwise.

    python -m models.tags cache --data DIR [--annotations all|relevant]
                                [--backbone clip|efficientnet] [--cache DIR] [--batch-size N]
                                [--chunk N] [--ray ADDRESS] [--workers N]

embeds every MIRFLICKR-25K photo under DIR once into the bottleneck cache
(`models.tags.cache`), which `python -m models.train tags` reads. It resumes where a stopped run
left off, embeds nothing twice, and logs the photos that do not decode to failed.tsv. `--ray
local` spreads the work over a local Ray instance, `--ray ADDRESS` over a cluster.

Exit codes: 0 done (even when some photos failed: they are listed); 1 the data, the photo, the
weights or the cache folder are unusable, or no photo could be embedded (one line says why); 2 a
bad flag or tag (one line). Nothing heavy is imported before a command runs, so `--help` is
instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from models.cli import OneLineArgumentParser, fail, int_at_least

PROG = "python -m models.tags"
FAILED_SHOWN = 3


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (default: the command line), run the command, return its exit code."""
    parser = OneLineArgumentParser(
        prog=PROG, description="The tag research's pipeline: embed MIRFLICKR-25K once into the "
                               "bottleneck cache; tag photos with the trained head.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                     parser_class=OneLineArgumentParser)
    _add_cache(commands)
    _add_infer(commands)
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0) or a bad flag (2): argparse has already printed
        return stop.code if isinstance(stop.code, int) else 2
    return args.run(args)


# === cache ===


def _add_cache(commands) -> None:
    from models.tags.embedders import BACKBONES
    from models.tags.mirflickr import ANNOTATIONS

    help_text = "Embed every MIRFLICKR-25K photo once into the bottleneck cache (resumable)."
    parser = commands.add_parser("cache", help=help_text, description=help_text)
    parser.add_argument("--data", required=True, type=Path, metavar="DIR",
                        help="where MIRFLICKR-25K was unpacked (DIR/mirflickr/im1.jpg, ..., "
                             "DIR/mirflickr25k_annotations_v080/)")
    parser.add_argument("--annotations", choices=ANNOTATIONS, default="all",
                        help="the dataset's annotations to check: all (<concept>.txt) or "
                             "relevant (<concept>_r1.txt) (default: all)")
    parser.add_argument("--backbone", choices=BACKBONES, default="clip",
                        help="clip: CLIP ViT-B/32's image embedding; efficientnet: "
                             "EfficientNet-B0's pooled features (default: clip)")
    parser.add_argument("--cache", type=Path, default=None, metavar="DIR",
                        help="the cache's folder (default: $INSTAVIS_DATA_DIR/tags/cache)")
    parser.add_argument("--batch-size", type=int_at_least(1), default=32, metavar="N",
                        help="photos a forward pass (default 32)")
    parser.add_argument("--chunk", type=int_at_least(1), default=256, metavar="N",
                        help="photos a part file, the most a stopped run loses (default 256)")
    parser.add_argument("--ray", default=None, metavar="ADDRESS",
                        help="decode and embed on Ray: 'local' starts a local instance, "
                             "anything else is a cluster address (needs ray[data])")
    parser.add_argument("--workers", type=int_at_least(1), default=None, metavar="N",
                        help="with --ray: workers, each loading the backbone once "
                             "(default: one per CPU)")
    parser.set_defaults(run=_run_cache)


def _run_cache(args: argparse.Namespace) -> int:
    import warnings

    import weights
    from models.tags.cache import CacheError, build_cache, default_cache_dir
    from models.tags.embedders import load_embedder
    from models.tags.mirflickr import DatasetError, read_dataset

    if args.workers is not None and args.ray is None:
        print(f"{PROG} cache: error: --workers needs --ray (see --help)", file=sys.stderr)
        return 2
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            dataset = read_dataset(args.data, args.annotations)
    except DatasetError as error:
        return fail(error)
    del caught  # the summary below says what the warnings said
    print(f"MIRFLICKR-25K at {args.data}: {dataset.summary()}")
    try:
        embedder = load_embedder(args.backbone)
    except weights.WeightsUnavailable as error:
        return fail(error.summary)
    except (ValueError, ImportError) as error:
        return fail(f"The {args.backbone} weights do not load: {error}")
    cache_dir = args.cache if args.cache is not None else default_cache_dir()
    try:
        producer = None  # decode and embed here
        if args.ray is not None:
            from models.tags.ray_cache import RayBatches

            producer = RayBatches(args.ray, args.workers)
        report = build_cache(dataset.photos, embedder, cache_dir, batch_size=args.batch_size,
                             chunk=args.chunk, progress=sys.stderr.isatty(), producer=producer)
    except CacheError as error:
        return fail(error)
    print(f"{embedder.key}: {report.summary()}")
    print(f"cache: {report.folder}")
    if report.failed:
        shown = "; ".join(f"{path.name}: {reason.rstrip('.')}" for path, reason in
                          report.failed[:FAILED_SHOWN])
        more = len(report.failed) - FAILED_SHOWN
        print(f"failed: {shown}" + (f" (and {more} more)" if more > 0 else "")
              + f"; all listed in {report.folder / 'failed.tsv'}")
    if report.embedded + report.reused == 0:
        return fail(f"No photo under {args.data} could be embedded; see "
                    f"{report.folder / 'failed.tsv'}.")
    return 0


# === infer ===


def _add_infer(commands) -> None:
    from models.cli import float_in

    help_text = ("Tag one photo: every tag's probability and decision, with the trained head "
                 "when the manifest names one and CLIP zero-shot otherwise.")
    parser = commands.add_parser("infer", help=help_text, description=help_text)
    parser.add_argument("--image", required=True, type=Path, metavar="PATH",
                        help="the photo (JPEG, PNG, WebP, ...)")
    parser.add_argument("--json", action="store_true",
                        help="print the result as one JSON object instead of a table")
    parser.add_argument("--threshold", type=float_in(0, 1), default=None, metavar="P",
                        help="apply every tag from probability P (default: each rule's own: "
                             "0.5 for zero-shot, the validation-chosen one for the head)")
    parser.add_argument("--extra-tag", action="append", default=[], metavar="TAG",
                        dest="extra_tags",
                        help="a tag of your own to judge too (zero-shot; repeatable)")
    parser.set_defaults(run=_run_infer)


def _run_infer(args: argparse.Namespace) -> int:
    import json

    import weights
    from models.images import InvalidImage
    from models.tags.tagging import TagsUnavailable, tag
    from models.tags.vocabulary import InvalidTags

    if not args.image.is_file():
        return fail(f"{args.image} is not a file.")
    try:
        result = tag(str(args.image), threshold=args.threshold, extra=tuple(args.extra_tags))
    except InvalidTags as error:
        print(f"{PROG} infer: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    except InvalidImage as error:
        return fail(f"{args.image}: {error.reason}")
    except TagsUnavailable as error:
        return fail(error.summary)
    except weights.WeightsUnavailable as error:
        return fail(error.summary)
    if args.json:
        print(json.dumps(_result_as_dict(args.image, result), indent=2))
    else:
        print(_result_as_table(args.image, result))
    return 0


def _result_as_dict(image: Path, result) -> dict:
    return {
        "image": str(image),
        "applied": list(result.applied),
        "threshold": result.threshold,
        "sources": list(result.sources),
        "notes": list(result.notes),
        "tags": [{"tag": d.tag, "probability": round(d.probability, 6), "applied": d.applied,
                  "threshold": round(d.threshold, 6), "source": d.source, "own": d.own,
                  "rule": d.rule} for d in result.decisions],
    }


def _result_as_table(image: Path, result) -> str:
    """Highest first: a mark for applied tags, the probability, the threshold, the source."""
    width = max(len(d.tag) for d in result.decisions)
    applied = ", ".join(result.applied) or "none"
    lines = [f"{image.name}: {len(result.decisions)} tags by {' and '.join(result.sources)}; "
             f"applied: {applied}"]
    for decision in result.decisions:
        mark = "+" if decision.applied else " "
        lines.append(f"  {mark} {decision.tag:<{width}}  {decision.probability:5.3f}  "
                     f"(applied from {decision.threshold:.3f})")
    lines.extend(f"note: {note}" for note in result.notes)
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
