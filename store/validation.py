"""Checks for the fields of an entry, each returning the value as stored or raising
`InvalidEntry` with one line naming the field, the value and what it accepts.

Text is checked, never escaped: every value reaches the database as a bound parameter, so no
value can change a query. Nicknames that read as SQL are refused all the same (`check_nickname`):
a public leaderboard should not show them, and the refusal tells whoever tries that it was seen.
"""

from __future__ import annotations

import math
import numbers
import re
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


_SQL_PUNCTUATION = re.compile(r";|--|/\*|\*/")
"""A statement separator or a comment: nothing a person's nickname needs."""
_SQL_STATEMENT = re.compile(
    r"\b(select|insert|update|delete|drop|alter|create|truncate|union|exec)\b"
    r".*\b(from|into|table|where|set|select|database|values)\b", re.IGNORECASE)
"""A statement's keyword followed by one of its clauses ("DROP ... TABLE", "SELECT ... FROM")."""
_SQL_TAUTOLOGY = re.compile(r"'\s*(or|and)\b.*=", re.IGNORECASE)
"""A quote closing a string literal, then a condition: "x' OR '1'='1"."""
SQL_REFUSAL = "a nickname, not SQL (no ';', '--', '/*' or SQL statements)"


def check_nickname(field: str, value: object, max_chars: int) -> str:
    """`check_text`, and no text that reads as SQL: a statement separator or comment, a
    statement's keyword with one of its clauses, or a closed quote then a condition. An
    apostrophe alone is fine (O'Brien)."""
    text = check_text(field, value, max_chars)
    if any(pattern.search(text) for pattern in (_SQL_PUNCTUATION, _SQL_STATEMENT,
                                                _SQL_TAUTOLOGY)):
        raise InvalidEntry(field, value, SQL_REFUSAL)
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


CLIENT_MAX_CHARS = 256
"""A client key is an address or a session id; anything longer is not one."""


def check_client(value: object) -> str:
    """The poster's address or session id, for the rate limit: 1 to 256 characters."""
    if not isinstance(value, str) or not value or len(value) > CLIENT_MAX_CHARS:
        raise InvalidEntry("client", value, f"the client's address or session id, 1 to "
                           f"{CLIENT_MAX_CHARS} characters")
    return value
