"""Missing Hub weights, fetched in the background while the app already serves.

On a connected machine (a Hugging Face Space, say) the app starts without waiting for CLIP's
606 MB: `start` queues every serving artifact that is missing and downloads them one at a time
in a daemon thread. Until one arrives, the tabs that need it work without it and say how far
along it is (`waiting_note`); the Models tab shows each download's progress (`arrivals`).
Offline (`--offline`, HF_HUB_OFFLINE=1) nothing is attempted, and the tabs give the command
that fetches the weights instead.

Only this module's state is shared between threads: a snapshot (`Arrival`) is immutable, and
the one mutable table is behind a lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from weights import resolver
from weights.report import human_size

log = logging.getLogger(__name__)

QUEUED = "queued"
DOWNLOADING = "downloading"
ARRIVED = "arrived"
FAILED = "failed"

Fetch = Callable[[str, resolver.ByteProgress], object]
"""Downloads one artifact, reporting bytes: `resolver.pull(name, progress=...)` in the app."""


@dataclass(frozen=True)
class Arrival:
    """One background download, as it stands.

    Attributes:
        name: the manifest artifact.
        title: its title.
        state: QUEUED, DOWNLOADING, ARRIVED or FAILED.
        done_bytes: bytes downloaded so far.
        total_bytes: bytes in all, once the Hub has said (else the manifest's size, else None).
        error: why it failed (one line), for FAILED.
        started: time.monotonic() when its download began, or None.
    """

    name: str
    title: str
    state: str
    done_bytes: int = 0
    total_bytes: int | None = None
    error: str = ""
    started: float | None = None

    @property
    def fraction(self) -> float | None:
        """Share downloaded, in [0, 1], or None while the size is unknown."""
        if self.state == ARRIVED:
            return 1.0
        if not self.total_bytes:
            return None
        return min(1.0, self.done_bytes / self.total_bytes)

    @property
    def pending(self) -> bool:
        """Still on its way (queued or downloading)."""
        return self.state in (QUEUED, DOWNLOADING)

    def describe(self) -> str:
        """A few words for the Models tab and the tabs' notes ("downloading: 42% of 606 MB")."""
        if self.state == QUEUED:
            return "queued for download"
        if self.state == ARRIVED:
            return "arrived"
        if self.state == FAILED:
            return f"download failed: {self.error}"
        if self.fraction is None:
            return f"downloading: {human_size(self.done_bytes)} so far"
        return (f"downloading: {self.fraction:.0%} of {human_size(self.total_bytes)}"
                + _time_left(self))


def _time_left(arrival: Arrival) -> str:
    """", about 40 s left", from the average speed so far; empty until it means something."""
    if arrival.started is None or not arrival.done_bytes or not arrival.total_bytes:
        return ""
    elapsed = time.monotonic() - arrival.started
    if elapsed < 2:
        return ""
    left = (arrival.total_bytes - arrival.done_bytes) / (arrival.done_bytes / elapsed)
    return f", about {left:.0f} s left" if left < 120 else f", about {left / 60:.0f} min left"


_lock = threading.Lock()
_arrivals: dict[str, Arrival] = {}
_thread: threading.Thread | None = None


def start(names: Iterable[str], *, fetch: Fetch | None = None,
          on_arrival: Callable[[str], None] | None = None) -> list[str]:
    """Queue the artifacts among `names` that are Hub artifacts, in the manifest and missing
    here, and download them one at a time in a daemon thread.

    Args:
        names: the artifacts the app loads while serving; ones the manifest does not name (a
            trained head nobody published yet) are skipped.
        fetch: how one artifact is downloaded (default `resolver.pull`, the real Hub code).
        on_arrival: called with each name once it has arrived (the app warms its models up).

    Returns:
        The names queued: none when offline, when everything is here, or when a background
        download is already running (a second call never starts a second thread).
    """
    global _thread
    if resolver.is_offline():
        return []
    known = resolver.artifacts()
    wanted = [name for name in dict.fromkeys(names)
              if name in known and known[name].on_hub and not resolver.available(name)]
    with _lock:
        if not wanted or (_thread is not None and _thread.is_alive()):
            return []
        for name in wanted:
            artifact = known[name]
            size = int(artifact.size_mb * 1e6) if artifact.size_mb else None
            _arrivals[name] = Arrival(name, artifact.title, QUEUED, total_bytes=size)
        _thread = threading.Thread(target=_download_all, args=(wanted, fetch or _pull,
                                                               on_arrival),
                                   name="instavis-weights-prefetch", daemon=True)
        _thread.start()
    log.info("weights: downloading %s in the background", ", ".join(wanted))
    return wanted


def _pull(name: str, progress: resolver.ByteProgress) -> object:
    return resolver.pull(name, progress=progress)


def _update(name: str, **changes) -> None:
    with _lock:
        _arrivals[name] = replace(_arrivals[name], **changes)


def _download_all(names: list[str], fetch: Fetch,
                  on_arrival: Callable[[str], None] | None) -> None:
    for name in names:
        _update(name, state=DOWNLOADING, started=time.monotonic())

        def progress(done: int, total: int | None, name: str = name) -> None:
            changes = {"done_bytes": done}
            if total:
                changes["total_bytes"] = total
            _update(name, **changes)

        try:
            fetch(name, progress)
        except Exception as error:  # noqa: BLE001 - a failed download must not end the others
            reason = getattr(error, "tried", None)
            reason = reason[-1] if reason else " ".join(str(error).split()) or type(error).__name__
            _update(name, state=FAILED, error=reason[:200])
            log.warning("weights: background download of %s failed: %s", name, reason[:200])
            continue
        _update(name, state=ARRIVED)
        log.info("weights: %s arrived", name)
        if on_arrival is not None:
            try:
                on_arrival(name)
            except Exception:  # noqa: BLE001 - the weights are here; a warm-up is optional
                log.exception("weights: preparing %s after its arrival failed", name)


def arrival(name: str) -> Arrival | None:
    """The background download of `name`, or None if none was started for it."""
    with _lock:
        return _arrivals.get(name)


def arrivals() -> dict[str, Arrival]:
    """Every background download of this process, by name."""
    with _lock:
        return dict(_arrivals)


def waiting_note(name: str) -> str | None:
    """"CLIP ViT-B/32 image-text model is downloading: 42% of 606 MB" while `name` is on its
    way, else None (the caller then gives the command that fetches it)."""
    now = arrival(name)
    if now is None or not now.pending:
        return None
    return f"{now.title} is on its way ({now.describe()})"


def missing_advice(name: str) -> str:
    """How a user gets `name`: wait for the background download, or run the pull command."""
    note = waiting_note(name)
    if note is not None:
        return f"{note}; try again once it has arrived"
    return f"run `python -m weights pull {name}`"


def wait(timeout: float | None = None) -> bool:
    """Block until the background downloads are done (True) or `timeout` seconds pass."""
    thread = _thread
    if thread is None:
        return True
    thread.join(timeout)
    return not thread.is_alive()


def reset() -> None:
    """Forget every download record (tests); a running thread finishes on its own."""
    global _thread
    with _lock:
        _arrivals.clear()
        _thread = None
