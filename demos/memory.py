"""Keeping the server's resident memory near what it holds, not what it once held.

TensorFlow allocates its tensors with the C library's malloc. On glibc two defaults let a
long-running server's RSS climb well past its working set (measured by `python -m
benchmarks.memory`, docs/benchmarks.md "Memory"):

- every thread that allocates gets its own arena, up to 8 per core, and Gradio serves
  requests from a pool of worker threads, so freed tensors sit in arenas that other threads
  never reuse;
- large blocks are mapped (and given back on free) only above a threshold that glibc raises
  each time such a block is freed, up to 32 MB; after the first explanation, the tens of
  megabytes of activations a photo needs come from the heap, and their freed pages mostly
  stay resident.

A third cost is Python's: a request leaves reference cycles behind (a Keras model built for one
comparison, a traceback holding a batch of images), and Python's full collection, which frees
them, runs rarely once the models' ~740,000 objects are loaded, and takes 0.7 s when it does.

`tune_allocator` fixes the first two at start, before any thread allocates. `settle` runs once
the warm-up has loaded the models: it collects, then freezes every object alive then (the models
and caches that live as long as the process), so later collections only look at what requests
made, in a millisecond. `return_freed_memory` collects and asks malloc to give free pages back
after each request. Elsewhere (musl, macOS, Windows) both are
no-ops. An operator who sets glibc's own MALLOC_* variables keeps their settings.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import sys
import threading

log = logging.getLogger("instavis")

ARENAS = 2
"""malloc arenas: one per core of the 2-core machines InstaVis is sized for; more only spread
free memory across more places."""

MMAP_THRESHOLD = 1 << 20
"""Blocks of 1 MiB and more are mapped and given back on free. Fixing it also stops glibc from
raising it. Smaller blocks (Python objects, small tensors) stay on the heap, where mapping each
would cost a system call."""

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter numbers (malloc.h)
_M_ARENA_MAX = -8
_OPERATOR_SETTINGS = ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")

_trim_lock = threading.Lock()


def _glibc():
    """glibc's malloc interface, or None on another C library or platform."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.malloc_trim.argtypes = (ctypes.c_size_t,)
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _glibc()


def tune_allocator() -> bool:
    """Cap malloc's arenas and fix its mapping threshold (see the module doc). Call first
    thing in the server process, before TensorFlow loads and before any worker thread starts.

    Returns:
        Whether the settings were applied (False off glibc, or when the operator set glibc's
        own variables).
    """
    if _LIBC is None:
        return False
    given = [name for name in _OPERATOR_SETTINGS if name in os.environ]
    if given:
        log.info("memory: keeping the allocator settings of %s", ", ".join(given))
        return False
    applied = (_LIBC.mallopt(_M_ARENA_MAX, ARENAS) == 1
               and _LIBC.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1)
    if not applied:
        log.warning("memory: malloc refused the settings; RSS may stay high after peaks")
    return applied


def settle() -> None:
    """Collect, then freeze what is alive now, so that later collections skip it. Call once the
    long-lived objects (the warmed models) are loaded."""
    gc.collect()
    gc.freeze()


def return_freed_memory() -> None:
    """Free the cycles a request left (once `settle` made that cheap) and give the heap's free
    pages back to the system (glibc's malloc_trim). A request's activations are freed when it
    ends; without the trim, much of them stays resident."""
    # One at a time: a second, concurrent pass would find nothing more to give back.
    if not _trim_lock.acquire(blocking=False):
        return
    try:
        if gc.get_freeze_count():
            gc.collect()
        if _LIBC is not None:
            _LIBC.malloc_trim(0)
    finally:
        _trim_lock.release()
