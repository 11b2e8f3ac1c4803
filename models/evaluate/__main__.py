"""`python -m models.evaluate TASK [flags]`: evaluate a saved model again.

Exit codes: 0 success; 1 the data or the weights are missing or unusable (one line says which and
how to fix it); 2 an unknown task or a bad flag (one line).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from models.evaluate import TASKS, task_module
from models.train.__main__ import OneLineArgumentParser

PROG = "python -m models.evaluate"


def build_parser() -> OneLineArgumentParser:
    """The top-level parser, with one sub-command per registered task."""
    parser = OneLineArgumentParser(prog=PROG, description="Evaluate InstaVis's saved models.")
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
