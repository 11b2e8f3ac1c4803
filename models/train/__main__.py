"""`python -m models.train TASK [flags]`: train and evaluate one of the research's networks.

Exit codes: 0 success; 1 the data or the weights are missing or unusable (one line says which and
how to fix it); 2 an unknown task or a bad flag (one line).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from models.cli import OneLineArgumentParser, run_task_registry
from models.train import TASKS

PROG = "python -m models.train"

__all__ = ["OneLineArgumentParser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (default: the command line), run the task and return its exit code."""
    return run_task_registry(
        PROG, "Train and evaluate the networks of the InstaVis research write-ups.", TASKS, argv
    )


if __name__ == "__main__":
    sys.exit(main())
