"""Stopping an explanation whose caller has gone: `with stop_when(check): explain(...)`.

Explanations run hundreds of model evaluations. When the person who asked cancels or closes the
page, the work must stop at once, or the next request shares the cores with a run nobody will
see. explain/ knows no UI, so the caller hands in `check() -> bool` (True: stop), and every model
adapter asks it before each batch it evaluates; perturbation methods and the faithfulness pass
all go through those batches, so a run stops within one batch.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator

_CHECK: contextvars.ContextVar[Callable[[], bool] | None] = contextvars.ContextVar(
    "explain_stop_check", default=None)


class Cancelled(Exception):
    """The caller asked to stop (its `stop_when` check said so) before the work was done."""


@contextlib.contextmanager
def stop_when(check: Callable[[], bool] | None) -> Iterator[None]:
    """Within the block, model evaluations raise `Cancelled` once `check()` is true.

    The check is asked before every batch, in the thread (and context) that runs the
    explanation, so it should be cheap. Nested blocks replace the outer check; None clears it.
    """
    token = _CHECK.set(check)
    try:
        yield
    finally:
        _CHECK.reset(token)


def raise_if_cancelled() -> None:
    """Raise `Cancelled` when the current `stop_when` check says to stop."""
    check = _CHECK.get()
    if check is not None and check():
        raise Cancelled("The explanation was cancelled: its request is gone.")
