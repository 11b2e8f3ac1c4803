"""Training and evaluation CLIs for the research's networks: `python -m models.train TASK ...`.

Each task is a module registered in `TASKS`. A task module provides:

- `HELP`: one line for `python -m models.train --help`;
- `add_arguments(parser)`: its flags, on an argparse sub-parser that reports a bad flag in one
  line and exits with code 2;
- `run(args) -> int`: trains and evaluates, prints its results table, returns the exit code
  (0 on success, 1 for a problem with the data or the weights, reported in one line).

Task modules must import nothing heavy at module level, so that `--help` and flag errors stay
instant; TensorFlow loads inside `run`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["TASKS", "task_module"]

TASKS: dict[str, str] = {
    "pose": "models.train.pose",  # InstaModel: Siamese ResNet50, with and without pose
    "quality": "models.train.quality",  # technical quality CNN on synthetic distortions
    "aesthetic": "models.train.aesthetic",  # Image Rating using CNN: MultiGAP + PCA + GA + FC
    "aesthetic_head": "models.train.aesthetic_head",  # content head on CLIP embeddings
}
"""Task name -> module. Add new tasks here as their trainers arrive."""


def task_module(name: str) -> ModuleType:
    """Import the module of task `name`.

    Raises:
        KeyError: no such task.
    """
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}")
    return importlib.import_module(TASKS[name])
