"""What the project's command lines share: one-line errors, checked flag types and task
registries (`python -m models.train TASK`, `python -m models.evaluate TASK`)."""

from __future__ import annotations

import argparse
import functools
import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage block) and exit with code 2."""

    def error(self, message: str):
        message = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def int_at_least(minimum: int):
    """An argparse type: a whole number no smaller than `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below the minimum of {minimum}")
        return value

    return parse


def float_in(low: float, high: float | None = None, *, include_low: bool = False,
             include_high: bool = False):
    """An argparse type: a number above `low` (or equal, with include_low) and below `high`
    (or equal, with include_high); `high=None` leaves it unbounded above."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        above = value >= low if include_low else value > low
        below = high is None or (value <= high if include_high else value < high)
        if not (above and below):
            wanted = f"above {low}" if high is None else f"between {low} and {high}"
            raise argparse.ArgumentTypeError(f"{value} is not {wanted}")
        return value

    return parse


def fail(message) -> int:
    """Print one line to stderr and return exit code 1 (data or weights unusable)."""
    print(" ".join(str(message).split()), file=sys.stderr)
    return 1


class CommandFailed(Exception):
    """Why a command cannot go on: data, weights or output folder unusable.

    A step of a long command raises it; the command's `run` catches it once and passes it to
    `fail`, so each step can stop the command without returning exit codes through the others.
    """


def fails_in_one_line(step: Callable[[argparse.Namespace], int]):
    """Decorate a command's `run(args)`: a `CommandFailed` it raises is printed as one line on
    stderr (`fail`) and the command exits with code 1."""

    @functools.wraps(step)
    def run(args: argparse.Namespace) -> int:
        try:
            return step(args)
        except CommandFailed as error:
            return fail(error)

    return run


def resolve_backbone(name: str) -> Path:
    """The folder of ImageNet backbone `name` (a manifest entry), found through
    `weights.resolve` and checked to be a form keras-hub loads.

    Raises:
        CommandFailed: the weights are missing, or keras-hub cannot convert them.
    """
    import weights
    from models.backbones import check_backbone_folder

    try:
        folder = weights.resolve(name)
    except weights.WeightsUnavailable as error:
        raise CommandFailed(error.summary) from error
    try:
        check_backbone_folder(folder)
    except (ValueError, ImportError) as error:
        raise CommandFailed(error) from error
    return folder


def output_folder(out: str | Path) -> Path:
    """`--out` as a Path, created if needed.

    Raises:
        CommandFailed: it cannot be created.
    """
    try:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandFailed(f"Cannot write to {out}: {error.strerror or error}.") from error
    return folder


def run_task_registry(prog: str, description: str, tasks: Mapping[str, str],
                      argv: Sequence[str] | None = None) -> int:
    """Parse `argv` into one of `tasks` (name -> module path) and run it; return the exit code.

    Each task module provides HELP, add_arguments(parser) and run(args) -> int, and imports
    nothing heavy until run, so `--help` stays fast.
    """
    parser = OneLineArgumentParser(prog=prog, description=description)
    commands = parser.add_subparsers(dest="task", metavar="TASK", required=True,
                                     parser_class=OneLineArgumentParser)
    for name, path in tasks.items():
        module = importlib.import_module(path)
        task_parser = commands.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(task_parser)
        task_parser.set_defaults(run=module.run)
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0) or a bad flag (2): argparse has already printed
        return stop.code if isinstance(stop.code, int) else 2
    return args.run(args)
