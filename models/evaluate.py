"""`python -m models.evaluate TASK [flags]`: evaluate a saved model again.

The same thin registry as `models.train`: each task module, in its task package, provides
`HELP`, `add_arguments(parser)` and `run(args) -> int` (0 success, 1 missing data or weights,
reported in one line; 2 an unknown task or a bad flag) and imports nothing heavy at module level.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from models.cli import run_task_registry

PROG = "python -m models.evaluate"

TASKS: dict[str, str] = {
    "pose": "models.pose.evaluate",  # a pose run's networks and baseline on its test pairs again
    "quality": "models.aesthetic.evaluate_quality",  # quality candidates, on whole photos too
    "aesthetic": "models.aesthetic.evaluate_pipeline",  # per benchmark, or its saved test split
    "aesthetic_head": "models.aesthetic.evaluate_head",  # a content head's test photos again
    "style": "models.style.evaluate",  # a trained style classifier's test-split report
    "style_temperature": "models.style.evaluate_temperature",  # a fitted T's test photos again
    "tags": "models.tags.evaluate",  # a tag head's test split again, a row in results.csv
    "profile": "models.profile.evaluate",  # a trained RAN-56's test-split report again
}
"""Task name -> module in its task package."""


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (default: the command line), run the task and return its exit code."""
    return run_task_registry(PROG, "Evaluate InstaVis's saved models.", TASKS, argv)


if __name__ == "__main__":
    sys.exit(main())
