"""Checks for the fields of an entry, each returning the value as stored or raising
`InvalidEntry` with one line naming the field, the value and what it accepts.

Text is checked, never escaped: every value reaches the database as a bound parameter, so a
nickname such as `'; DROP TABLE style_shares; --` is stored and shown as the characters it is.
"""

from __future__ import annotations

import math
import numbers
import unicodedata
from collections.abc import Collection, Mapping

from store.errors import InvalidEntry


def check_text(field: str, value: object, max_chars: int) -> str:
    """A display name such as a nickname: NFC-normalised and stripped, then 1 to `max_chars`
    printable characters (`str.isprintable`: no control, format or line-break characters;
    inner spaces are fine).
    """
    accepts = f"1 to {max_chars} printable characters"
    if not isinstance(value, str):
        raise InvalidEntry(field, value, f"text of {accepts}")
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise InvalidEntry(field, value, accepts)
    if len(text) > max_chars:
        raise InvalidEntry(field, value, accepts,
                           described=f"{len(text)} characters ({text[:20]!r}...)")
    if not text.isprintable():
        bad = next(ch for ch in text if not ch.isprintable())
        raise InvalidEntry(field, value, f"{accepts}, with no control characters",
                           described=f"{text!r:.60} (holds U+{ord(bad):04X})")
    return text


def check_name(field: str, value: object, max_chars: int) -> str:
    """An identifier the app itself chooses (a label set, a label, a source): taken exactly,
    1 to `max_chars` printable characters, no surrounding spaces."""
    accepts = f"a name of 1 to {max_chars} printable characters"
    if (not isinstance(value, str) or not value or len(value) > max_chars
            or not value.isprintable() or value != value.strip()):
        raise InvalidEntry(field, value, accepts)
    return value


def check_choice(field: str, value: object, choices: Collection[str], what: str) -> str:
    """`value` is one of `choices` (compared exactly)."""
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(repr(choice) for choice in sorted(choices))
        raise InvalidEntry(field, value, f"{what}: {listed}" if listed else f"{what} (none given)")
    return value


def check_label(label_set: object, style: object,
                label_sets: Mapping[str, Collection[str]]) -> tuple[str, str]:
    """A known label set and one of its labels."""
    label_set = check_choice("label_set", label_set, label_sets.keys(), "one of the label sets")
    style = check_choice("style", style, label_sets[label_set],
                         f"a label of the {label_set!r} set")
    return label_set, style


def check_probability(field: str, value: object) -> float:
    """A real number from 0 to 1 (NaN and infinities refused; NumPy scalars fine)."""
    accepts = "a number from 0 to 1"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidEntry(field, value, accepts)
    number = float(value)
    if math.isnan(number) or not 0.0 <= number <= 1.0:
        raise InvalidEntry(field, value, accepts)
    return number


def check_whole(field: str, value: object, low: int, high: int) -> int:
    """An int from `low` to `high` (a bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not (
            low <= int(value) <= high):
        raise InvalidEntry(field, value, f"a whole number from {low} to {high}")
    return int(value)
