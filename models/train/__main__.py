"""`python -m models.train TASK [flags]`: train and evaluate one of the research's networks.

Exit codes: 0 success; 1 the data or the weights are missing or unusable (one line says which and
how to fix it); 2 an unknown task or a bad flag (one line).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from models.train import TASKS, task_module

PROG = "python -m models.train"


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage block) and exit with code 2."""

    def error(self, message: str):
        message = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> OneLineArgumentParser:
    """The top-level parser, with one sub-command per registered task."""
    parser = OneLineArgumentParser(
        prog=PROG,
        description="Train and evaluate the networks of the InstaVis research write-ups.",
    )
    tasks = parser.add_subparsers(dest="task", metavar="TASK", required=True,
                                  parser_class=OneLineArgumentParser)
    for name in TASKS:
        module = task_module(name)
        task_parser = tasks.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(task_parser)
        task_parser.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (default: the command line), run the task and return its exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0) or a bad flag (2): argparse has already printed
        return stop.code if isinstance(stop.code, int) else 2
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
