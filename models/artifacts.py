"""One loader for trained artifacts: a Keras model and a JSON info file in a folder the manifest
names (the trained style classifiers, the tag head, RAN-56, ...).

`load(name, kind)` finds the artifact (`weights.locate`), verifies it (`weights.resolve` with
`allow_download=False` checks the sha256s the manifest records), reads its info file with the
kind's validator, loads its .keras with `safe_mode=True` and builds the kind's object. The
object is cached under the artifact's name with its `ArtifactIdentity`: the folder and the
size, modification time and inode of every file it was read from. The next call compares the
files as they are now with that identity and loads again when they differ, so a model
retrained or pulled in place is picked up by a running app. At most one loaded copy per
artifact name is kept, and loading is thread-safe: a thread asking for an artifact another
thread is loading waits for it and gets the same object.

`BoundedCache` is the cache for objects derived from a loaded model (explanation adapters):
keyed by what they were derived from (`identity_key`), a few kept, each built once.

Nothing heavy is imported here: Keras loads with the first artifact.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

__all__ = ["ArtifactIdentity", "ArtifactKind", "BoundedCache", "SameObject", "folder_identity",
           "forget", "identity_key", "identity_of", "load", "load_folder", "load_if_available",
           "loaded_identities", "read_info", "reset"]

T = TypeVar("T")


# === Identity ===


@dataclass(frozen=True)
class ArtifactIdentity:
    """Which copy of an artifact an object was loaded from.

    Attributes:
        name: the manifest name, or None for a folder loaded directly.
        path: the folder, absolute, symbolic links resolved.
        files: (file name, size, mtime_ns, inode) of every file the load reads, in a fixed
            order; size, mtime_ns and inode are None for a file that is absent.

    Two identities are equal exactly when the same files look unchanged. The inode is there
    because copies made with `cp -p` or `rsync -a` keep the size and the modification time;
    a rewrite in place or a copy renamed over the old file changes the time or the inode.
    """

    name: str | None
    path: str
    files: tuple[tuple[str, int | None, int | None, int | None], ...]


def identity_of(folder: str | Path, files: Iterable[str],
                name: str | None = None) -> ArtifactIdentity:
    """The identity of `files` in `folder` as they are now (stat only, nothing is read).

    Args:
        folder: the artifact's folder.
        files: the file names the load reads, relative to `folder`.
        name: the manifest name, if any.
    """
    folder = Path(folder).resolve()
    stamps = []
    for file_name in files:
        try:
            stat = (folder / file_name).stat()  # follows the Hugging Face cache's symlinks
        except OSError:
            stamps.append((file_name, None, None, None))
        else:
            stamps.append((file_name, stat.st_size, stat.st_mtime_ns, stat.st_ino))
    return ArtifactIdentity(name, str(folder), tuple(stamps))


def folder_identity(folder: str | Path) -> tuple:
    """What identifies one copy of a whole weights folder (a keras-hub preset, a head whose
    files the manifest lists): its path, and each file's path inside it, size and modification
    time (nanoseconds). Another copy, a rewritten file or an added one gives another identity;
    nothing is read or hashed.

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


class SameObject:
    """A cache key that is one particular object: equal only to a key of the very same object.

    It holds a strong reference, so the object cannot be garbage collected, and its `id`
    reused by another object, while the key is in a cache. For models that are not loaded
    through this module (the shared CLIP).
    """

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SameObject) and other.value is self.value

    def __repr__(self) -> str:
        return f"SameObject({type(self.value).__name__} at {id(self.value):#x})"


def identity_key(loaded: Any) -> Hashable:
    """The cache key of a loaded model: its `identity` (an ArtifactIdentity, or any hashable
    the loader gave it) when it has one, else the object itself (`SameObject`)."""
    identity = getattr(loaded, "identity", None)
    return SameObject(loaded) if identity is None else identity


# === Kinds ===


@dataclass(frozen=True)
class ArtifactKind(Generic[T]):
    """How to read one kind of trained artifact.

    Attributes:
        description: what it is, for messages ("tag head").
        model_file: the .keras file's name in the folder.
        info_file: the JSON info file's name in the folder.
        check_info: given the parsed JSON object, None when it holds what loading needs, else
            what is wrong, as words that follow the file's path ("names no labels").
        build: makes the kind's object, called with the keywords `model` (the loaded Keras
            model), `info` (the checked dict), `folder` (Path), `name` (the manifest name or
            None) and `identity` (ArtifactIdentity). It raises ValueError when the model and
            the info disagree.
    """

    description: str
    model_file: str
    info_file: str
    check_info: Callable[[dict], str | None]
    build: Callable[..., T]

    @property
    def files(self) -> tuple[str, str]:
        """The files a load reads, in identity order."""
        return (self.model_file, self.info_file)


def read_info(folder: str | Path, kind: ArtifactKind) -> dict:
    """The artifact's info file, parsed and checked by the kind's validator.

    Raises:
        ValueError: the file is missing, not JSON, not a JSON object, or the validator refuses
            it; the message names the file.
    """
    path = Path(folder) / kind.info_file
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is missing or not JSON ({error}).") from error
    if not isinstance(info, dict):
        raise ValueError(f"{path} is not a JSON object; the {kind.description}'s info file "
                         "maps names to values.")
    problem = kind.check_info(info)
    if problem:
        raise ValueError(f"{path} {problem}.")
    return info


def load_folder(folder: str | Path, kind: ArtifactKind[T], name: str | None = None) -> T:
    """Load an artifact folder directly, uncached: the info file, then the .keras file with
    `safe_mode=True` (no lambda, nothing unpickled), then the kind's object.

    Args:
        folder: the folder holding `kind.model_file` and `kind.info_file`.
        kind: what the folder holds.
        name: the manifest name it is known by, if any.

    Raises:
        ValueError: the info file is missing or malformed, or disagrees with the model.
        OSError, ValueError: the .keras file cannot be read.
    """
    folder = Path(folder)
    # The identity is taken before anything is read: if the files change during the load, the
    # next call sees an identity that differs and loads again.
    identity = identity_of(folder, kind.files, name)
    return _load(folder, kind, name, identity)


def _load(folder: Path, kind: ArtifactKind[T], name: str | None,
          identity: ArtifactIdentity) -> T:
    import keras

    info = read_info(folder, kind)
    model = keras.saving.load_model(folder / kind.model_file, safe_mode=True)
    return kind.build(model=model, info=info, folder=folder, name=name, identity=identity)


# === The cache of manifest artifacts ===


@dataclass(frozen=True)
class _Loaded:
    kind: ArtifactKind
    identity: ArtifactIdentity
    value: Any


_loaded: dict[str, _Loaded] = {}
"""Artifact name -> the one copy kept of it."""
_loaded_guard = threading.Lock()
"""Guards `_loaded` and `_name_locks`; never held while a model loads."""
_name_locks: dict[str, threading.Lock] = {}


def _name_lock(name: str) -> threading.Lock:
    # One lock per artifact: a slow load of one artifact (a VGG16) does not hold up a request
    # for another that is loaded already, and two threads loading the same one load it once.
    with _loaded_guard:
        return _name_locks.setdefault(name, threading.Lock())


def _cached(name: str, kind: ArtifactKind, identity: ArtifactIdentity):
    with _loaded_guard:
        entry = _loaded.get(name)
    if entry is not None and entry.kind is kind and entry.identity == identity:
        return entry
    return None


def load(name: str, kind: ArtifactKind[T]) -> T:
    """The manifest artifact `name`, loaded once per identity (module docstring).

    Raises:
        KeyError: the manifest does not name it.
        weights.WeightsUnavailable: no copy is on this machine (nothing is downloaded).
        weights.WeightsCorrupt: the copy fails a recorded sha256.
        ValueError: the info file is missing or malformed, or disagrees with the model.
        OSError, ValueError: the .keras file cannot be read.
    """
    import weights

    # The common case, a hit, costs a locate (no hashing) and a stat of each file.
    located = weights.locate(name).path
    if located is not None:
        entry = _cached(name, kind, identity_of(located, kind.files, name))
        if entry is not None:
            return entry.value
    with _name_lock(name):
        folder = weights.resolve(name, allow_download=False)  # checks recorded sha256s
        identity = identity_of(folder, kind.files, name)
        entry = _cached(name, kind, identity)  # another thread may have loaded it meanwhile
        if entry is not None:
            return entry.value
        value = _load(Path(folder), kind, name, identity)
        with _loaded_guard:
            _loaded[name] = _Loaded(kind, identity, value)  # replaces the older copy, if any
        return value


def load_if_available(name: str, kind: ArtifactKind[T]) -> T | None:
    """`load(name, kind)` when `weights.available(name)` says a copy is here, else None (and
    any copy kept from before is dropped).

    Asked afresh on each call, so weights pulled while the app runs are seen.

    Raises:
        The errors of `load`, other than KeyError.
    """
    import weights

    if not weights.available(name):
        forget(name)
        return None
    return load(name, kind)


def loaded_identities() -> dict[str, ArtifactIdentity]:
    """Artifact name -> the identity of the copy kept of it now."""
    with _loaded_guard:
        return {name: entry.identity for name, entry in _loaded.items()}


def forget(*names: str) -> None:
    """Drop the copies kept of `names` (a task's `reset_default`)."""
    with _loaded_guard:
        for name in names:
            _loaded.pop(name, None)


def reset() -> None:
    """Drop every copy kept (tests)."""
    with _loaded_guard:
        _loaded.clear()


# === Caches of objects derived from a loaded model ===


class BoundedCache:
    """The last `max_entries` objects built by `get(key, build)`, least recently used dropped
    first; each built once per key, thread-safely.

    Keys should hold the identity of every model the object is derived from (`identity_key`),
    so a reloaded model gets a new object and an old one ages out.
    """

    def __init__(self, max_entries: int):
        if max_entries < 1:
            raise ValueError(f"max_entries: got {max_entries}; expected at least 1.")
        self.max_entries = int(max_entries)
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._building: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def _hit(self, key: Hashable) -> tuple[bool, Any]:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return True, self._entries[key]
            return False, None

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        """The object for `key`, built by `build()` if it is not kept.

        A second thread asking for a key being built waits and gets the same object. If
        `build` raises, nothing is kept and the error goes up.
        """
        found, value = self._hit(key)
        if found:
            return value
        with self._lock:
            building = self._building.setdefault(key, threading.Lock())
        with building:
            found, value = self._hit(key)
            if found:
                return value
            try:
                value = build()
                with self._lock:
                    self._entries[key] = value
                    while len(self._entries) > self.max_entries:
                        self._entries.popitem(last=False)
            finally:
                with self._lock:
                    if self._building.get(key) is building:
                        del self._building[key]
        return value

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def keys(self) -> list[Hashable]:
        """The keys kept, least recently used first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
