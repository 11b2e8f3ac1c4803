"""Keeping the server's resident memory near what it holds, not what it once held.

TensorFlow's own allocator and glibc's malloc both keep freed memory by default, and a
long-running server's RSS then climbs well past its working set (measured by `python -m
benchmarks.memory`, docs/benchmarks.md "Memory"):

- with oneDNN on (TensorFlow's default on x86), tensors of 256 KiB and more come from a pool
  (a BFC allocator) that never gives memory back: the largest activations any request ever
  needed stay resident for the life of the process, and loading CLIP ViT-B/32 leaves about
  200 MiB there. TensorFlow's `TF_ONEDNN_USE_SYSTEM_ALLOCATOR=1` sends them to malloc instead;
- every thread that allocates gets its own malloc arena, up to 8 per core, and Gradio serves
  requests from a pool of worker threads, so freed tensors sit in arenas that other threads
  never reuse;
- glibc maps large blocks (and unmaps them on free) only above a threshold that it raises each
  time such a block is freed, and shrinks the heap by itself whenever its free top passes
  128 KiB. Mapping every megabyte block costs a page fault per 4 KiB each time a tensor is made
  (a third more CPU time on a ViT forward pass); shrinking by itself gives pages back in the
  middle of a request only to fault them in again.

A third cost is Python's: a request leaves reference cycles behind (a Keras model built for one
comparison, a traceback holding a batch of images), and Python's full collection, which frees
them, runs rarely once the models' ~740,000 objects are loaded, and takes 0.7 s when it does.

`tune_allocator` runs at start, before TensorFlow loads and before any thread allocates: it
routes TensorFlow's tensors to malloc, caps the arenas, serves blocks below 64 MiB from the
heap and keeps the heap's free pages while a request runs. `settle` runs once the warm-up has
loaded the models: it collects, then freezes every object alive then (the models and caches that
live as long as the process), so later collections only look at what requests made, in a
millisecond. `return_freed_memory` collects and asks malloc to give every free page back
(malloc_trim) after each request, so between requests the server holds what it uses. Elsewhere
(musl, macOS, Windows) the malloc settings are no-ops. An operator who sets glibc's own MALLOC_*
variables keeps their settings, and one who sets TF_ONEDNN_USE_SYSTEM_ALLOCATOR keeps theirs.
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

MMAP_THRESHOLD = 64 << 20
"""Blocks of 64 MiB and more are mapped and given back on free; fixing it also stops glibc from
raising it. Smaller ones, which is nearly every tensor of a batch, come from the heap and are
reused within a request without a page fault; `return_freed_memory` gives their pages back
after it."""

TRIM_THRESHOLD = 1 << 30
"""malloc shrinks the heap by itself only past 1 GiB of free top: within a request, freed pages
are kept for the next batch; between requests `return_freed_memory` trims."""

SYSTEM_ALLOCATOR_SETTING = "TF_ONEDNN_USE_SYSTEM_ALLOCATOR"

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
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
    """Route TensorFlow's tensors to malloc, cap malloc's arenas and fix its mapping and
    trimming thresholds (see the module doc). Call first thing in the server process, before
    TensorFlow loads and before any worker thread starts.

    Returns:
        Whether the settings were applied (False off glibc, or when the operator set glibc's
        own variables).
    """
    if _LIBC is None:
        return False
    # Read by TensorFlow when its CPU allocator is first made, so it must be set before then.
    os.environ.setdefault(SYSTEM_ALLOCATOR_SETTING, "1")
    given = [name for name in _OPERATOR_SETTINGS if name in os.environ]
    if given:
        log.info("memory: keeping the allocator settings of %s", ", ".join(given))
        return False
    applied = (_LIBC.mallopt(_M_ARENA_MAX, ARENAS) == 1
               and _LIBC.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
               and _LIBC.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)
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
