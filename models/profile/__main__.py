"""`python -m models.profile index DIR`: build the Profile tab's index of similar profiles.

    python -m models.profile index DIR [--out FOLDER]

DIR holds one subfolder per profile, each with that profile's photos (posting order by file
name; the first 30 are used). The index goes to `$INSTAVIS_DATA_DIR/profile/index` unless
`--out` says otherwise (`models.profile.index`), and the Profile tab shows the 3 nearest of its
profiles to a checked feed. With the CLIP weights on this machine the index also holds each
profile's mean CLIP embedding.

Exit codes: 0 built; 1 the folder or the output folder is unusable, or no profile has 3
readable photos (one line says why); 2 a bad flag (one line).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from models.cli import OneLineArgumentParser, fail

PROG = "python -m models.profile"


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (default: the command line), run the command, return its exit code."""
    parser = OneLineArgumentParser(prog=PROG, description="The Profile tab's commands.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                     parser_class=OneLineArgumentParser)
    help_text = "Index good profiles (DIR/<profile>/<photos>) for the tab's similar profiles."
    index = commands.add_parser("index", help=help_text, description=help_text)
    index.add_argument("data", type=Path, metavar="DIR",
                       help="one subfolder per profile, holding its photos")
    index.add_argument("--out", type=Path, default=None, metavar="FOLDER",
                       help="where the index goes (default: $INSTAVIS_DATA_DIR/profile/index)")
    index.set_defaults(run=_index)
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0) or a bad flag (2): argparse has already printed
        return stop.code if isinstance(stop.code, int) else 2
    return args.run(args)


def _index(args: argparse.Namespace) -> int:
    from models.profile.index import ProfileIndexError, build_index, load_index

    try:
        folder = build_index(args.data, args.out)
    except ProfileIndexError as problem:
        return fail(problem)
    except OSError as problem:
        return fail(f"Cannot write the index: {problem.strerror or problem} "
                    f"({problem.filename or args.out}).")
    profiles = load_index(folder)
    print(f"index of {len(profiles)} profiles written to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
