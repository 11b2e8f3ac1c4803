"""What each input of the app's API accepts, checked on the server as if no UI existed.

A widget limits what a person can type, but anyone can call the API with gradio_client and send
anything JSON can hold: `seed="abc"`, `lime_budget=10**9`, `methods=["lime", "lime"]`. So every
handler checks each input it is given with one of these fields before any work starts. A field
knows its API name and what it accepts, so a refusal is one line naming the field, the value it
got and what it accepts:

    seed: got -1; expected a whole number from 0 to 2147483647.

Plain Python, no Gradio: `demos.common.friendly_errors` turns `InvalidField` into the one-line
gr.Error the user sees and one line in the log, and `demos.common` gives the widgets whose
values reach the handler unchanged, so that Gradio's own checks do not answer first with
messages that name no field.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

SEED_MAX = 2**31 - 1
"""The largest seed: NumPy, scikit-learn (LIME) and SHAP all take 0 .. 2**31 - 1 as a seed, and
a JavaScript client can send it exactly."""

SHOWN_VALUE_CHARS = 60
"""How much of a refused value a message repeats: enough to recognise it, never a wall of text
(a hostile client may send megabytes)."""


class InvalidField(ValueError):
    """An input the API does not accept. Its message is the one line the user sees.

    Attributes:
        field: the API parameter's name ("seed").
        value: what it got.
        accepts: what it accepts, in words ("a whole number from 0 to 2147483647").
    """

    def __init__(self, field: str, value: Any, accepts: str):
        self.field, self.value, self.accepts = field, value, accepts
        super().__init__(f"{field}: got {shown(value)}; expected {accepts}.")


def shown(value: Any) -> str:
    """A value as a message repeats it: its repr, on one line, cut to SHOWN_VALUE_CHARS."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a value whose repr fails is still named by its type
        text = f"a {type(value).__name__}"
    text = " ".join(text.split())
    return text if len(text) <= SHOWN_VALUE_CHARS else text[:SHOWN_VALUE_CHARS - 3] + "..."


def _listed(choices: Sequence) -> str:
    return ", ".join(repr(choice) for choice in choices)


@dataclass(frozen=True)
class WholeNumber:
    """A whole number in [low, high]; None means `default`.

    Integers and whole floats (3.0, as JavaScript sends it) are accepted; 1.5, booleans,
    strings such as "5", NaN and infinities are not.
    """

    name: str
    low: int
    high: int
    default: int | None = None
    unit: str = ""

    @property
    def accepts(self) -> str:
        unit = f" of {self.unit}" if self.unit else ""
        return f"a whole number{unit} from {self.low} to {self.high}"

    def check(self, value: Any) -> int | None:
        if value is None:
            return self.default
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InvalidField(self.name, value, self.accepts)
        if isinstance(value, numbers.Integral):
            number = int(value)
        else:
            real = float(value)
            if not math.isfinite(real) or not real.is_integer():
                raise InvalidField(self.name, value, self.accepts)
            number = int(real)
        if not self.low <= number <= self.high:
            raise InvalidField(self.name, value, self.accepts)
        return number


@dataclass(frozen=True)
class NumberBetween:
    """A finite number in [low, high]; None means `default`. Booleans and strings such as
    "0.5" are refused."""

    name: str
    low: float
    high: float
    default: float | None = None

    @property
    def accepts(self) -> str:
        return f"a number from {self.low:g} to {self.high:g}"

    def check(self, value: Any) -> float | None:
        if value is None:
            return self.default
        if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                or not math.isfinite(float(value)) or not self.low <= float(value) <= self.high):
            raise InvalidField(self.name, value, self.accepts)
        return float(value)


@dataclass(frozen=True)
class Flag:
    """True or false, and nothing that merely looks like it ("yes", 1, None)."""

    name: str

    @property
    def accepts(self) -> str:
        return "true or false"

    def check(self, value: Any) -> bool:
        # NumPy's bool_ is not a bool subclass; a Python caller may pass one.
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise InvalidField(self.name, value, self.accepts)


@dataclass(frozen=True)
class OneOf:
    """One of `choices`. None means `default`, unless the field is `required`."""

    name: str
    choices: tuple
    default: Any = None
    required: bool = False

    @property
    def accepts(self) -> str:
        return f"one of {_listed(self.choices)}"

    def check(self, value: Any) -> Any:
        if value is None and not self.required:
            return self.default
        # Compared by type as well: True must not pass for 1, nor 1.0 for "1.0".
        for choice in self.choices:
            if type(value) is type(choice) and value == choice:
                return choice
        raise InvalidField(self.name, value, self.accepts)


@dataclass(frozen=True)
class DistinctChoices:
    """A list of one or more of `choices`, each at most once, in the order given."""

    name: str
    choices: tuple

    @property
    def accepts(self) -> str:
        return f"a list of one or more of {_listed(self.choices)}, each at most once"

    def check(self, value: Any) -> list:
        if not isinstance(value, (list, tuple)) or not value:
            raise InvalidField(self.name, value, self.accepts)
        picked = []
        for item in value:
            known = [c for c in self.choices if type(item) is type(c) and item == c]
            if not known or known[0] in picked:
                raise InvalidField(self.name, value, self.accepts)
            picked.append(known[0])
        return picked
