"""What the store refuses, each as one line a UI can show as it is.

Every refusal is a `Refused` (a ValueError), so a tab catches one class. The store checks a
request completely before it writes, and writes in one transaction, so a refusal never leaves a
row behind.
"""

from __future__ import annotations

# A refused value is quoted in the message, cut to this many characters, so a 10 MB nickname
# does not become a 10 MB log line.
SHOWN_VALUE_CHARS = 60


def shown(value: object) -> str:
    """`repr(value)` cut to `SHOWN_VALUE_CHARS`, for quoting a refused value in one line."""
    text = repr(value)
    if len(text) > SHOWN_VALUE_CHARS:
        text = text[: SHOWN_VALUE_CHARS - 3] + "..."
    return text


class Refused(ValueError):
    """The store would not do what was asked; `str()` is one line that says why."""


class InvalidEntry(Refused):
    """A field of an entry is not acceptable.

    The message is `<field>: got <value>; expected <accepts>.`, the same shape as the app's
    `InvalidField`, so the UI shows store and form errors alike.

    Attributes:
        field: the parameter's name.
        value: what was passed.
        accepts: what the field accepts, in words.
    """

    def __init__(self, field: str, value: object, accepts: str, *, described: str | None = None):
        """`described` replaces the quoted value in the message, for values whose repr says
        nothing useful (10 kB of image bytes: "10240 bytes that are not an image")."""
        self.field = field
        self.value = value
        self.accepts = accepts
        got = described if described is not None else shown(value)
        super().__init__(f"{field}: got {got}; expected {accepts}.")


class RateLimited(Refused):
    """One client has added more than the configured number of entries in the last minute.

    `actions` names what was added, as the user calls it ("shares", "posts")."""

    def __init__(self, limit: int, retry_after_seconds: int, actions: str = "shares"):
        self.limit = limit
        self.retry_after_seconds = retry_after_seconds
        super().__init__(
            f"Too many {actions}: at most {limit} a minute from one client; "
            f"try again in {retry_after_seconds} s."
        )


class NoSuchEntry(Refused):
    """The entry to delete does not exist (never did, or was deleted already). `noun` is what
    the user calls an entry ("entry", "photo")."""

    def __init__(self, entry_id: int, noun: str = "entry"):
        self.entry_id = entry_id
        super().__init__(f"{noun.capitalize()} {entry_id} does not exist; it may have been "
                         "deleted already.")


class WrongToken(Refused):
    """The delete token does not belong to the entry; the entry is kept. `noun` and `made`
    say what an entry is and how it was made ("entry", "shared"; "photo", "posted")."""

    def __init__(self, entry_id: int, noun: str = "entry", made: str = "shared"):
        self.entry_id = entry_id
        super().__init__(
            f"token: wrong delete token for {noun} {entry_id}; expected the token shown when it "
            f"was {made}. The {noun} was kept."
        )


class BadSetting(ValueError):
    """A setting (an environment variable, or the URL passed in) holds a value the store cannot
    use. `setting` is shown as given: `$INSTAVIS_DATABASE_URL` or `url`."""

    def __init__(self, setting: str, value: str, accepts: str):
        self.setting = setting
        super().__init__(f"{setting}: got {shown(value)}; expected {accepts}.")
