"""Results that belong to the inputs on screen, and to no other.

A tab's outputs (a rating, a comparison, explanation maps) are derived from its inputs (a photo,
a pair, a target). When an input changes, the old outputs must go at once, and a run still going
for the old input must not land its answer beside the new one.

Gradio's `cancels=` cannot do this alone. The browser sends an example's `change` event on its
own schedule: after a Run pressed at once for that same photo, it arrives late and cancels the
run it should have left alone. So each tab keeps, per page session, the input values the page
shows now (`InputLedger`), and compares values, not events:

- a change handler (`clear_on_change`) records the new values and clears the outputs, but only
  when the values really differ from the last ones recorded, so a late change for the photo a
  run already uses clears nothing;
- a run (`fresh_only`, or `is_current` inside a long run) records the values it was sent,
  which are the page's values at the moment of the click, and when it ends, or between batches,
  checks that they are still the latest; when they are not, it stops and leaves the cleared
  outputs alone.

A scope names a group of outputs and the inputs they are derived from ("aesthetic rating":
the photo; "aesthetic explanation": the photo and the target).
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

SESSIONS_KEPT = 4096
"""Scopes remembered before the oldest is forgotten: a few hundred bytes each, and a session's
scopes are touched on every change and run, so only long-idle pages are forgotten (their next
run simply records again)."""


def fingerprint(values: Sequence[Any]) -> str:
    """A comparable text for a scope's input values: upload paths (Gradio names an upload's
    cached copy after its content's hash, so one photo is one path), flags, names; lists as
    tuples, anything else by its repr."""
    def plain(value):
        if isinstance(value, (list, tuple)):
            return tuple(plain(item) for item in value)
        return value

    return repr(tuple(plain(value) for value in values))


class InputLedger:
    """Per session and scope, the fingerprint of the input values the page shows now.

    Thread-safe: unqueued change handlers and queued runs record and read it from different
    threads. Bounded: at most `capacity` (session, scope) entries, least recently used forgotten.
    """

    def __init__(self, capacity: int = SESSIONS_KEPT):
        self.capacity = capacity
        self._latest: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, session: str | None, scope: str, values: Sequence[Any]) -> bool:
        """Note that the page now shows `values`; True when they differ from the last recorded
        (or none were). Without a session (a script calling a handler) nothing is kept."""
        if session is None:
            return True
        key, mark = (session, scope), fingerprint(values)
        with self._lock:
            changed = self._latest.get(key) != mark
            self._latest[key] = mark
            self._latest.move_to_end(key)
            while len(self._latest) > self.capacity:
                self._latest.popitem(last=False)
        return changed

    def is_current(self, session: str | None, scope: str, values: Sequence[Any]) -> bool:
        """Whether `values` are still the latest the page showed (always, without a session or
        once the scope was forgotten: nothing newer is known)."""
        if session is None:
            return True
        with self._lock:
            latest = self._latest.get((session, scope))
        return latest is None or latest == fingerprint(values)

    def __len__(self) -> int:
        return len(self._latest)


LEDGER = InputLedger()
"""The app's one ledger."""


def current_session() -> str | None:
    """The page session of the request this thread serves, or None outside a Gradio request.

    Read from the context variable Gradio sets around every handler (the `gr.Request` it would
    inject), so wrapped handlers keep the signatures their API documentation is built from.
    """
    from gradio.context import LocalContext

    request = LocalContext.request.get(None)
    return getattr(request, "session_hash", None) if request is not None else None


def skipped(count: int) -> tuple:
    """`count` outputs left as they are."""
    import gradio as gr

    return tuple(gr.skip() for _ in range(count))


def clear_on_change(triggers: Sequence, inputs: Sequence, outputs: Sequence,
                    blank: Callable[[], tuple], scope: str) -> None:
    """Clear `outputs` (to `blank()`) when a trigger brings input values other than the last
    ones recorded for `scope`. An unqueued, private event: it answers at once, even while a
    long run holds the queue."""
    import gradio as gr

    def cleared_if_changed(*values):
        if LEDGER.record(current_session(), scope, values):
            return blank()
        return skipped(len(outputs))

    gr.on(triggers=list(triggers), fn=cleared_if_changed, inputs=list(inputs),
          outputs=list(outputs), queue=False, show_progress="hidden",
          api_visibility="private")


def fresh_only(scope: str, count: int, outputs: int) -> Callable:
    """Decorate a run handler whose first `count` arguments are `scope`'s input values and
    which fills `outputs` outputs: it records its values, and its answer (or its error) is
    dropped, the outputs left as the change handler cleared them, when the page has moved on
    to other values by the time it is ready."""
    def decorate(handler: Callable) -> Callable:
        @functools.wraps(handler)
        def wrapper(*args, **kwargs):
            session, values = current_session(), args[:count]
            LEDGER.record(session, scope, values)
            try:
                result = handler(*args, **kwargs)
            except Exception:
                if LEDGER.is_current(session, scope, values):
                    raise
                # A refusal of a photo the page no longer shows is nobody's news.
                return skipped(outputs)
            if LEDGER.is_current(session, scope, values):
                return result
            return skipped(outputs)

        return wrapper

    return decorate
