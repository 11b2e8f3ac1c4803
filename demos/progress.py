"""A progress bar that never sits still: the bar creeps during any step that takes a while.

A handler reports progress between its steps, and an explainer between its batches. One step
can still take seconds: the first rating that loads a model, a CLIP batch on a slow machine, a
Grad-CAM model being built. A bar that sits at "Scoring quality 10%" for 7 s reads as a hang.
`SteadyProgress` wraps the handler's `gr.Progress`. Whenever nothing has been reported for
TICK_SECONDS, it moves the bar a little of the way toward where the current step ends, never
reaching it, and adds the seconds the step has taken to its description. The bar never goes
back: a report below what the bar shows leaves it where it is.

Where a step ends is either said (`step(start, end, desc)`) or guessed: for a run of equal
batches, the next report lands about as far past the last one as the last one was past the one
before it.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Callable, Iterator

TICK_SECONDS = 0.5
CREEP = 0.12
"""Share of the distance to the step's end that each silent tick moves the bar: the bar slows
as it nears the end and never claims the step is over."""

Report = Callable[..., object]


class SteadyProgress:
    """Wraps a `gr.Progress` (or any `progress(fraction, desc=...)`) so the bar moves during
    long steps. Use it as a context manager around the handler's work; call it as
    `progress(fraction, desc)`; say where the current work ends with `expect(end)` or `step`.

    The ticks run on a helper thread in a copy of the handler's context, which is where Gradio
    looks up the request a progress update belongs to.
    """

    def __init__(self, progress: Report, *, tick_seconds: float = TICK_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self._progress = progress
        self._tick_seconds = tick_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._shown = 0.0  # what the bar shows now
        self._reported = 0.0  # the last fraction the work itself reported
        self._desc = ""
        self._end: float | None = None  # where the current work ends, when said
        self._guess: float | None = None  # where the next batch report should land
        self._began = clock()  # when the current work (description) began
        self._heard_at = clock()  # when the bar last moved
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- what the handler calls ---

    def __call__(self, fraction: float, desc: str | None = None) -> None:
        """Report progress; `desc` None keeps the last description."""
        with self._lock:
            now = self._clock()
            fraction = min(1.0, max(0.0, float(fraction)))
            if desc is not None and desc != self._desc:
                # New work: its end is unknown until said, and there is no stride yet.
                self._desc, self._end, self._guess, self._began = desc, None, None, now
            else:
                # The same work again (another batch): the next lands about as far on.
                stride = fraction - self._reported
                if stride > 0:
                    self._guess = fraction + stride
            self._reported = fraction
            # The bar never goes back: when the creeping got ahead of the work (a guess that
            # was too far, a new step that starts lower), the bar waits there for the work.
            self._shown = max(self._shown, fraction)
            self._heard_at = now
            self._progress(self._shown, desc=self._desc)

    def expect(self, end: float) -> None:
        """The current work ends at `end`: the bar creeps toward it, and never past it."""
        with self._lock:
            self._end = min(1.0, max(self._shown, float(end)))

    @contextlib.contextmanager
    def step(self, start: float, end: float, desc: str) -> Iterator[None]:
        """One step of known extent: the bar starts at `start` and creeps toward `end`."""
        self(start, desc)
        self.expect(end)
        yield

    def within(self, low: float, high: float) -> _Span:
        """This bar's [low, high] as a whole bar of its own, for work that reports 0 to 1."""
        return _Span(self, low, high)

    # --- the helper thread ---

    def tick(self) -> bool:
        """Move the bar if it has not moved for a tick; True when it moved. The helper thread
        calls this; tests call it with their own clock."""
        with self._lock:
            now = self._clock()
            if now - self._heard_at < self._tick_seconds:
                return False
            target = self._guess if self._guess is not None else self._end
            if target is None:
                return False
            if self._end is not None:
                target = min(target, self._end)
            if target <= self._shown:
                return False
            self._shown += (target - self._shown) * CREEP
            self._heard_at = now
            self._progress(self._shown, desc=f"{self._desc} ({now - self._began:.0f} s)")
            return True

    def __enter__(self) -> SteadyProgress:
        context = contextvars.copy_context()

        def run() -> None:
            while not self._stop.wait(self._tick_seconds / 2):
                context.run(self.tick)

        self._thread = threading.Thread(target=run, name="instavis-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class _Span:
    """A part [low, high] of a SteadyProgress, reporting 0..1 (see `within`)."""

    def __init__(self, bar: SteadyProgress, low: float, high: float):
        self._bar, self._low, self._high = bar, low, high

    def _map(self, fraction: float) -> float:
        return self._low + (self._high - self._low) * float(fraction)

    def __call__(self, fraction: float, desc: str | None = None) -> None:
        self._bar(self._map(fraction), desc)

    def expect(self, end: float) -> None:
        self._bar.expect(self._map(end))
