"""Caches of model-derived objects, keyed by the identity of what each was derived from.

DESIGN.md: "Every cache of a model-derived object is keyed by the identity of what it was
derived from, and bounded." The rating derives several objects from the content scorer (the
trained head, or CLIP's zero-shot ensemble): the reference photos' scores, the attribute
surrogate, the Grad-CAM adapter, the zero-shot offset. Each is kept in a `KeyedCache` under the
scorer's identity, so a head that arrives or changes on disk is used at once by all of them, and
an old one is dropped once newer ones fill the cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Generic, TypeVar

__all__ = ["KeyedCache", "folder_identity"]

Value = TypeVar("Value")


def folder_identity(folder: str | Path) -> tuple:
    """What identifies one copy of a weights folder: its path, and each file's path inside it,
    size and modification time (nanoseconds). Another copy, a rewritten file or an added one
    gives another identity; nothing is read or hashed.

    Returns:
        (folder as a string, ((relative path, size, mtime_ns), ...) sorted by path).
    """
    folder = Path(folder)
    files = []
    for path in sorted(folder.rglob("*")):
        try:
            stat = path.stat()  # follows the Hub cache's symlinks to their blobs
        except OSError:
            continue  # vanished while listed, or a dangling link: not part of this copy
        if path.is_file():
            files.append((path.relative_to(folder).as_posix(), stat.st_size, stat.st_mtime_ns))
    return str(folder), tuple(files)


class KeyedCache(Generic[Value]):
    """At most `size` values, each built once per key, thread-safely; the least recently used
    goes first.

    A value is built while the cache's lock is held, so a caller that asks for a key another
    thread is building (the start-up warm-up, say) waits for that build instead of repeating
    it. The lock is re-entrant: a build may read this cache again.

    Args:
        size: how many keys are kept, at least 1.
    """

    def __init__(self, size: int):
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}.")
        self.size = size
        self._values: OrderedDict[Hashable, Value] = OrderedDict()
        self._lock = threading.RLock()

    def get(self, key: Hashable, build: Callable[[], Value]) -> Value:
        """The value under `key`, built by `build()` the first time it is asked for."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
            value = build()
            self._values[key] = value
            while len(self._values) > self.size:
                self._values.popitem(last=False)
            return value

    def keys(self) -> list[Hashable]:
        """The keys held now, least recently used first."""
        with self._lock:
            return list(self._values)

    def clear(self) -> None:
        """Forget every value."""
        with self._lock:
            self._values.clear()
