"""`python -m models.train TASK [flags]`: train and evaluate one of the research's networks.

A thin registry: each task lives in its task package (`models.aesthetic`, `models.pose`, ...)
as a module that provides

- `HELP`: one line for `python -m models.train --help`;
- `add_arguments(parser)`: its flags, on an argparse sub-parser that reports a bad flag in one
  line and exits with code 2;
- `run(args) -> int`: trains and evaluates, prints its results table, returns the exit code
  (0 on success, 1 for a problem with the data or the weights, reported in one line).

Task modules import nothing heavy at module level, so `--help` and flag errors stay instant;
TensorFlow loads inside `run`. Exit codes: 0 success; 1 the data or the weights are missing or
unusable (one line says which and how to fix it); 2 an unknown task or a bad flag (one line).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from models.cli import run_task_registry

PROG = "python -m models.train"

TASKS: dict[str, str] = {
    "pose": "models.pose.train",  # InstaModel: Siamese ResNet50, with and without pose
    "quality": "models.aesthetic.train_quality",  # technical quality CNN on synthetic distortions
    "aesthetic": "models.aesthetic.train_pipeline",  # Image Rating: MultiGAP + PCA + GA + FC
    "aesthetic_head": "models.aesthetic.train_head",  # content head on CLIP embeddings
    "style": "models.style.train",  # evaranks: VGG16-GAP with CAM, or a head on CLIP
    "style_temperature": "models.style.calibrate",  # zero-shot's temperature, fitted on photos
    "tags": "models.tags.train",  # Social Image Description: MLP head on cached embeddings
    "profile": "models.profile.train",  # InstaVis Checker: RAN-56, good vs weak feed photos
}
"""Task name -> module in its task package."""


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (default: the command line), run the task and return its exit code."""
    return run_task_registry(
        PROG, "Train and evaluate the networks of the InstaVis research write-ups.", TASKS, argv
    )


if __name__ == "__main__":
    sys.exit(main())
