"""`python -m weights list | pull [NAME...] | verify [NAME...] | lock [NAME...]`."""

from __future__ import annotations

import argparse
import sys

from weights.lock import lock
from weights.report import artifact_rows
from weights.resolver import (
    MISSING,
    WeightsUnavailable,
    artifacts,
    check_hashes,
    get_artifact,
    locate,
    pull,
    set_offline,
)


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is a single line (and still exit code 2)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="python -m weights",
        description="List, fetch, check and pin the model weights InstaVis uses.",
    )
    parser.add_argument("--offline", action="store_true",
                        help="never contact the Hub (same as HF_HUB_OFFLINE=1)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_OneLineParser)
    commands.add_parser("list", help="every artifact with its status on this machine")
    pull_cmd = commands.add_parser("pull", help="download missing artifacts from the Hub")
    pull_cmd.add_argument("names", nargs="*", metavar="NAME",
                          help="artifacts to fetch (default: every missing Hub artifact)")
    pull_cmd.add_argument("--force", action="store_true", help="download again even if present")
    verify_cmd = commands.add_parser("verify", help="check present files against their sha256")
    verify_cmd.add_argument("names", nargs="*", metavar="NAME")
    lock_cmd = commands.add_parser(
        "lock", help="pin each Hub artifact's revision to its commit and record checksums"
    )
    lock_cmd.add_argument("names", nargs="*", metavar="NAME")
    return parser


def _known(names: list[str]) -> list[str]:
    for name in names:
        get_artifact(name)  # raises KeyError with the list of known names
    return names


def _cmd_list(_args) -> int:
    rows = artifact_rows()
    headers = ("NAME", "STATUS", "SOURCE", "REVISION", "LICENCE", "SIZE", "USED BY")
    table = [headers] + [
        (r.name, r.status, r.source, r.revision, r.licence, r.size, r.used_by) for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    for row in table:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    print()
    for r in rows:
        print(f"{r.name}: {r.where}")
    return 0


def _cmd_pull(args) -> int:
    names = _known(args.names) or [
        name for name, a in artifacts().items() if a.on_hub and locate(name).status == MISSING
    ]
    if not names:
        print("Every Hub artifact is already on this machine.")
        return 0
    failed = 0
    for name in names:
        try:
            folder, fetched = pull(name, force=args.force)
        except WeightsUnavailable as error:
            print(f"error: {error}", file=sys.stderr)
            failed += 1
            continue
        print(f"{name}: {'downloaded to' if fetched else 'already present at'} {folder}")
    return 1 if failed else 0


def _cmd_verify(args) -> int:
    names = _known(args.names) or list(artifacts())
    bad = 0
    for name in names:
        artifact = get_artifact(name)
        where = locate(name)
        if where.path is None:
            print(f"{name}: missing, nothing to verify")
        elif not artifact.sha256:
            print(f"{name}: {where.status}, no checksums recorded (run `python -m weights lock`)")
        else:
            try:
                check_hashes(artifact, where.path)
            except WeightsUnavailable as error:
                print(f"{name}: FAILED: {'; '.join(error.tried)}")
                bad += 1
            else:
                print(f"{name}: ok ({len(artifact.sha256)} files match their sha256)")
    return 1 if bad else 0


def _cmd_lock(args) -> int:
    names = _known(args.names) or [n for n, a in artifacts().items() if a.on_hub]
    try:
        for line in lock([get_artifact(name) for name in names]):
            print(line)
    except WeightsUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.offline:
        set_offline(True)
    handler = {"list": _cmd_list, "pull": _cmd_pull, "verify": _cmd_verify, "lock": _cmd_lock}
    try:
        return handler[args.command](args)
    except KeyError as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
