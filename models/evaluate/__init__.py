"""Evaluation CLIs for saved models: `python -m models.evaluate TASK ...`.

Same registry pattern as `models.train`: each task module provides `HELP`,
`add_arguments(parser)` and `run(args) -> int` (0 success, 1 missing data or weights, reported
in one line), and imports nothing heavy at module level.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["TASKS", "task_module"]

TASKS: dict[str, str] = {
    "quality": "models.evaluate.quality",  # the shipped technical-quality CNN, held-out photos
    "aesthetic": "models.evaluate.aesthetic",  # Image Rating using CNN, per benchmark
}
"""Task name -> module."""


def task_module(name: str) -> ModuleType:
    """Import the module of task `name`.

    Raises:
        KeyError: no such task.
    """
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}")
    return importlib.import_module(TASKS[name])
