"""The Style tab's label sets (`label_sets.toml`) and user-given labels, with CLIP prompts."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path

LABEL_SETS_FILE = Path(__file__).with_name("label_sets.toml")
DEFAULT_LABEL_SET = "everyday"
CUSTOM = "custom"
"""The label set name of a user's own list."""
CUSTOM_TEMPLATES = ("a photo of a person in {} style clothes", "a person wearing a {} outfit",
                    "{} fashion")
"""Prompts for a label a user typed; the shipped sets have their own, written for each label."""
MIN_LABELS, MAX_LABELS, MAX_LABEL_CHARS = 2, 30, 40


class InvalidLabels(ValueError):
    """A label set or label list that cannot be used; its message is one line."""


@dataclass(frozen=True)
class LabelSet:
    """A named list of styles with the prompts CLIP's zero-shot classifier averages per style.

    Attributes:
        name: the set's key ("everyday", "fashionstyle14" or "custom").
        title: what a picker shows.
        source: where the labels come from.
        prompts: label -> prompts, in the set's order.
    """

    name: str
    title: str
    source: str
    prompts: dict[str, tuple[str, ...]]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.prompts)


@functools.cache
def label_sets() -> dict[str, LabelSet]:
    """The shipped label sets, by name, in the file's order."""
    with open(LABEL_SETS_FILE, "rb") as file:
        table = tomllib.load(file)
    return {name: LabelSet(name, entry["title"], " ".join(entry["source"].split()),
                           {label: tuple(prompts) for label, prompts in entry["prompts"].items()})
            for name, entry in table.items()}


def custom_label_set(labels) -> LabelSet:
    """A label set from a user's own labels, each with CUSTOM_TEMPLATES' prompts.

    Raises:
        InvalidLabels: not a list of MIN_LABELS to MAX_LABELS distinct labels of 1 to
            MAX_LABEL_CHARS printable characters.
    """
    if isinstance(labels, str) or not isinstance(labels, (list, tuple)):
        raise InvalidLabels(f"labels: got {labels!r:.60}; expected a list of {MIN_LABELS} to "
                            f"{MAX_LABELS} style names.")
    cleaned = []
    for label in labels:
        text = " ".join(label.split()) if isinstance(label, str) else None
        if not text or len(text) > MAX_LABEL_CHARS or not text.isprintable():
            raise InvalidLabels(f"labels: got {label!r:.60}; expected each label to be 1 to "
                                f"{MAX_LABEL_CHARS} printable characters.")
        if text.lower() in (seen.lower() for seen in cleaned):
            raise InvalidLabels(f"labels: got {text!r} twice; expected distinct labels.")
        cleaned.append(text)
    if not MIN_LABELS <= len(cleaned) <= MAX_LABELS:
        raise InvalidLabels(f"labels: got {len(cleaned)}; expected {MIN_LABELS} to {MAX_LABELS} "
                            f"style names.")
    return LabelSet(CUSTOM, "Your own labels", "given with the request",
                    {label: tuple(t.format(label) for t in CUSTOM_TEMPLATES) for label in cleaned})


def resolve_label_set(label_set: str | None = None, labels=None) -> LabelSet:
    """The labels to classify with: the user's own `labels` when given, else the named set.

    Raises:
        InvalidLabels: an unknown set name, or unusable labels.
    """
    if labels is not None:
        return custom_label_set(labels)
    name = DEFAULT_LABEL_SET if label_set is None else label_set
    sets = label_sets()
    if name not in sets:
        known = ", ".join(repr(n) for n in sets)
        raise InvalidLabels(f"label_set: got {name!r:.60}; expected one of {known}.")
    return sets[name]
