"""The task registries `python -m models.train` and `python -m models.evaluate`: every task that
trains can be evaluated again."""

from __future__ import annotations

import re

from models.evaluate import main as evaluate_main
from models.train import main as train_main


def listed_tasks(main, capsys) -> set[str]:
    """The task names a registry's `--help` lists (argparse puts each at a 4-space indent)."""
    assert main(["--help"]) == 0
    printed = capsys.readouterr().out
    listing = printed[printed.index("positional arguments:"):printed.index("options:")]
    return set(re.findall(r"^    (\w+)", listing, re.MULTILINE))


def test_every_task_that_trains_is_listed_by_evaluate(capsys):
    trained = listed_tasks(train_main, capsys)
    evaluated = listed_tasks(evaluate_main, capsys)
    assert {"pose", "profile", "style", "tags", "quality", "aesthetic", "aesthetic_head",
            "style_temperature"} <= trained
    assert evaluated == trained
