"""The examples answer at once: their explanations are computed before anyone asks.

Each tab registers its example inputs with its explanation panel (`register`, done by
`TabSkeleton.wire`). After start-up, `start` runs through them in a background thread, at the
lowest CPU priority this thread can have, and keeps each example's default explanation (the
panel's ticked methods, default budgets, seed 0, default target) in
`demos.explain_runs.EXAMPLE_ANSWERS`. Clicking an example and Explain then finds its maps there
and shows them with no model evaluation.

It never competes with a visitor: it starts only once the app has served no request for
IDLE_SECONDS, stops within one batch of model evaluations as soon as a request comes
(`demos.common.ACTIVITY`), and takes up the interrupted explanation again once the app is idle.
A tab whose models cannot load here (missing weights) is skipped with one log line.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from demos.common import ACTIVITY, Activity, log

IDLE_SECONDS = 2.0
"""How long the app must have served nobody before work for nobody in particular starts (or
resumes): a visitor clicking through a tab sends its next request within a second or two."""

POLL_SECONDS = 0.5


@dataclass(frozen=True)
class ExampleJob:
    """One example of one tab: what to hand the panel's request callback."""

    panel: Any  # demos.explain_panel.ExplanationPanel
    make_request: Callable
    values: tuple


_JOBS: list[ExampleJob] = []
_JOBS_LOCK = threading.Lock()
_RUN_LOCK = threading.Lock()


def register(panel, make_request: Callable, examples: Sequence[Sequence]) -> None:
    """Explain each example's `values` (one per panel input) ahead, once the app is up. A
    panel registered again (the app built anew) replaces its earlier examples."""
    with _JOBS_LOCK:
        _JOBS[:] = [job for job in _JOBS if job.panel.key != panel.key]
        for values in examples:
            _JOBS.append(ExampleJob(panel, make_request, tuple(values)))


def registered() -> list[ExampleJob]:
    with _JOBS_LOCK:
        return list(_JOBS)


def lowest_priority() -> None:
    """Give the calling thread the lowest CPU priority (Linux sets it per thread; elsewhere
    nothing changes). Work it hands to a library's own threads keeps theirs."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        pass


def wait_until_idle(activity: Activity, idle_seconds: float,
                    stop: threading.Event | None = None) -> bool:
    """Block until the app has served nobody for `idle_seconds`; False when `stop` was set."""
    while activity.idle_for() < idle_seconds:
        if stop is not None and stop.wait(POLL_SECONDS):
            return False
        if stop is None:
            time.sleep(POLL_SECONDS)
    return True


def answer_job(job: ExampleJob, *, activity: Activity = ACTIVITY,
               idle_seconds: float = IDLE_SECONDS, stop: threading.Event | None = None) -> int:
    """Compute one example's default explanations into EXAMPLE_ANSWERS, yielding to every
    visitor's request; the number of maps added.

    Raises:
        Whatever make_request raises (e.g. WeightsUnavailable): the caller logs it.
    """
    from demos.explain_runs import EXAMPLE_ANSWERS, STREAM_SETTLE_AT, explain_methods
    from explain import Cancelled

    panel = job.panel
    # The panel's defaults, as a click with nothing changed sends them.
    settings = panel.checked({"methods": list(panel.default)})
    kwargs = {"target": settings["target"]} if panel.target is not None else {}
    budgets = {name: settings[f"{name}_budget"] for name in panel.budgets}
    added = 0
    while True:
        if not wait_until_idle(activity, idle_seconds, stop):
            return added
        request = job.make_request(*job.values, **kwargs)
        methods = [m for m in panel.default
                   if EXAMPLE_ANSWERS.key(request, m, settings["seed"], budgets.get(m),
                                          STREAM_SETTLE_AT) is not None]
        todo = [m for m in methods
                if EXAMPLE_ANSWERS.get(EXAMPLE_ANSWERS.key(
                    request, m, settings["seed"], budgets.get(m), STREAM_SETTLE_AT)) is None]
        if not todo:
            return added

        def keep(outcome, request=request):
            nonlocal added
            if outcome.explanation is not None:
                EXAMPLE_ANSWERS.put(EXAMPLE_ANSWERS.key(
                    request, outcome.method, settings["seed"], budgets.get(outcome.method),
                    STREAM_SETTLE_AT), outcome.explanation)
                added += 1

        try:
            explain_methods(request, todo, seed=settings["seed"], budgets=budgets,
                            settle_at=STREAM_SETTLE_AT, on_outcome=keep,
                            should_stop=lambda: activity.busy()
                            or (stop is not None and stop.is_set()))
            return added
        except Cancelled:
            continue  # a visitor came: wait until the app is idle again, then go on


def answer_examples(jobs: Sequence[ExampleJob] | None = None, *,
                    activity: Activity = ACTIVITY, idle_seconds: float = IDLE_SECONDS,
                    stop: threading.Event | None = None) -> int:
    """Answer every registered example ahead (one run at a time); the maps added."""
    added, failed = 0, set()
    with _RUN_LOCK:
        for job in registered() if jobs is None else jobs:
            if stop is not None and stop.is_set():
                break
            if job.panel.key in failed:
                continue  # its tab cannot explain here (e.g. missing weights): said once
            try:
                added += answer_job(job, activity=activity, idle_seconds=idle_seconds,
                                    stop=stop)
            except Exception as error:  # noqa: BLE001 - a tab that cannot explain here is skipped
                failed.add(job.panel.key)
                from demos.explain_runs import one_line

                log.info("examples ahead: %s examples skipped (%s)", job.panel.key,
                         one_line(error))
    return added


def start(after: threading.Thread | None = None) -> threading.Thread:
    """Answer the examples in a daemon thread of the lowest priority, after `after` (the
    warm-up) has finished."""
    def run() -> None:
        lowest_priority()
        if after is not None:
            after.join()
        started = time.perf_counter()
        added = answer_examples()
        log.info("examples ahead: %d maps ready in %.1f s", added, time.perf_counter() - started)

    thread = threading.Thread(target=run, name="instavis-examples-ahead", daemon=True)
    thread.start()
    return thread
