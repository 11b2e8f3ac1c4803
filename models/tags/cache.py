"""The bottleneck cache: each photo's backbone embedding, computed once and kept on disk.

The research ("Social Image Description Platform", `../shared/seeds/003_*`) ran every
MIRFLICKR-25K photo through its frozen CNN once, saved the vector (its "bottleneck"), and trained
the tag head on the saved vectors. Here:

    <cache_dir>/<embedder key, ':' as '-'>/part-00000.npz   `keys` (sha256 of each photo's
                                                             bytes) and `vectors` (float32)
                                           part-00001.npz   ...
                                           failed.tsv       path, reason: photos of the last
                                                            build that could not be embedded

A vector is keyed by the photo's content, not its name, so a renamed photo is found again, an
edited one is embedded anew, and the same photo twice is embedded once. The folder is keyed by
the embedder's key (the backbone and a fingerprint of its weights), so another backbone, or other
weights, get a cache of their own.

`build_cache` hashes every photo, skips what is cached, and hands the rest to a batch producer
(`BatchProducer`), which decodes and embeds them and yields batches of vectors. Every `chunk`
photos the new vectors are written as one part file, atomically (temporary file, then
`os.replace`), so a run that is killed loses at most one chunk and the next run picks up where it
stopped. A photo that cannot be read or decoded is logged to failed.tsv and skipped; it never
stops the build.

Two producers run the same decoding ops (`models.tags.decoding`: JPEG exactly as Pillow decodes
it, so as `models.images.load_image` does, EXIF orientation, `square_resize`):
`LocalBatches` (the default) decodes in parallel with tf.data in this process, batches, prefetches
and runs the embedder on each batch; `models.tags.ray_cache.RayBatches` does the decoding and
embedding on a pool of Ray Data workers. This module never imports Ray or the Ray path.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np

__all__ = ["Batch", "BatchProducer", "CacheError", "CacheReport", "LocalBatches",
           "MissingEmbeddings", "Pending", "build_cache", "cache_folder", "content_key",
           "default_cache_dir", "lookup", "read_cache", "read_failed"]

CHUNK = 256
"""Photos a part file: what a killed run can lose."""

FAILED_FILE = "failed.tsv"
_PART = re.compile(r"part-([0-9]{5,})\.npz")
_TEMPORARY_PREFIX = ".writing-"
_LOCK_FILE = ".lock"
_EXIF_ORIENTATION = 0x0112
_KEY_DTYPE = "<U64"


class CacheError(ValueError):
    """The cache cannot be used or written; the message is one line."""


class MissingEmbeddings(CacheError):
    """Some photos asked for are not in the cache."""


@dataclass(frozen=True)
class CacheReport:
    """What one `build_cache` did.

    Attributes:
        embedded: distinct photos embedded and written by this run.
        reused: photos whose content was already cached (or appeared earlier in the same list).
        failed: (path, reason) of each photo that could not be read or decoded.
        seconds: the whole run, hashing included.
        images_per_second: embedded / seconds.
        folder: the cache folder of the embedder.
        embedder_key: the embedder's key.
        ray: the batches came from Ray workers (the producer's `on_ray`).
    """

    embedded: int
    reused: int
    failed: tuple[tuple[Path, str], ...]
    seconds: float
    images_per_second: float
    folder: Path | None = None
    embedder_key: str = ""
    ray: bool = False

    def summary(self) -> str:
        """One line for a command's output."""
        return (f"embedded {self.embedded}, reused {self.reused}, failed {len(self.failed)} in "
                f"{self.seconds:.1f} s ({self.images_per_second:.1f} photos/s"
                f"{', on Ray' if self.ray else ''})")


class Pending(NamedTuple):
    """A photo to embed: its path, content key and EXIF orientation (1 to 8)."""

    path: Path
    key: str
    orientation: int


Batch = tuple[list[str], np.ndarray, list[tuple[str, str]]]
"""What a producer yields: (the content keys embedded, their vectors (n, D) float32, and
(key, reason) of each photo of the batch that could not be decoded)."""


class BatchProducer(Protocol):
    """Decodes and embeds the photos still to embed, a batch at a time.

    `build_cache` calls it once per build with the pending photos (one per content key), the
    embedder and the batch size; it yields `Batch`es in any order until every photo is either
    embedded or failed. `LocalBatches` runs here; `models.tags.ray_cache.RayBatches` on Ray.
    """

    on_ray: bool
    """Whether the batches come from Ray workers (the report says so)."""

    def __call__(self, todo: list[Pending], embedder, batch_size: int) -> Iterator[Batch]:
        ...


# === Keys and folders ===


def content_key(path: str | Path) -> str:
    """The sha256 hex digest of a file's bytes: the photo's key in the cache."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def cache_folder(cache_dir: str | Path, embedder_key: str) -> Path:
    """The folder of one embedder's vectors: its key made safe for any file system."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", embedder_key)
    if not safe.strip(".-"):
        raise CacheError(f"{embedder_key!r} is not an embedder key.")
    return Path(cache_dir) / safe


def default_cache_dir() -> Path:
    """`$INSTAVIS_DATA_DIR/tags/cache`, with the data folder found as the store finds it
    (`data_folder.data_dir`)."""
    from data_folder import data_dir

    return data_dir() / "tags" / "cache"


# === Reading ===


def _parts(folder: Path) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _PART.fullmatch(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def _load_part(path: Path, *names: str) -> tuple[np.ndarray, ...]:
    try:
        with np.load(path, allow_pickle=False) as part:
            return tuple(part[name] for name in names)
    except (OSError, ValueError, KeyError) as error:
        raise CacheError(f"{path} is unreadable ({' '.join(str(error).split())[:120]}); delete "
                         "it and build the cache again.") from error


def read_cache(cache_dir: str | Path, embedder_key: str) -> dict[str, np.ndarray]:
    """Every cached vector of one embedder.

    Returns:
        content key -> (D,) float32 vector; empty when nothing is cached.

    Raises:
        CacheError: a part file is unreadable.
    """
    vectors: dict[str, np.ndarray] = {}
    for _, path in _parts(cache_folder(cache_dir, embedder_key)):
        keys, rows = _load_part(path, "keys", "vectors")
        vectors.update(zip(keys.tolist(), rows, strict=True))
    return vectors


def lookup(cache_dir: str | Path, embedder_key: str, keys: Sequence[str]) -> np.ndarray:
    """The cached vectors of `keys`, in order.

    Returns:
        (len(keys), D) float32.

    Raises:
        MissingEmbeddings: some keys are not cached (the message says how many).
    """
    cached = read_cache(cache_dir, embedder_key)
    keys = list(keys)
    missing = sum(1 for key in keys if key not in cached)
    if missing:
        raise MissingEmbeddings(
            f"{missing} of {len(keys)} photos have no {embedder_key} embedding in "
            f"{cache_folder(cache_dir, embedder_key)}; run `python -m models.tags cache` for "
            "them first.")
    if not keys:
        dimension = len(next(iter(cached.values()))) if cached else 0
        return np.zeros((0, dimension), np.float32)
    return np.stack([cached[key] for key in keys]).astype(np.float32, copy=False)


def read_failed(cache_dir: str | Path, embedder_key: str) -> list[tuple[Path, str]]:
    """failed.tsv of the last build: (path, reason) rows."""
    path = cache_folder(cache_dir, embedder_key) / FAILED_FILE
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        photo, _, reason = line.partition("\t")
        rows.append((Path(photo), reason))
    return rows


# === Writing ===


def _atomic_write(path: Path, write) -> None:
    """Write a file through a temporary in the same folder and `os.replace`."""
    temporary = path.with_name(f"{_TEMPORARY_PREFIX}{os.getpid()}-{path.name}")
    try:
        with open(temporary, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def _write_part(path: Path, keys: list[str], vectors: np.ndarray) -> None:
    """One part file, atomically."""
    _atomic_write(path, lambda handle: np.savez(
        handle, keys=np.asarray(keys, dtype=_KEY_DTYPE),
        vectors=np.asarray(vectors, dtype=np.float32)))


def _write_failed(folder: Path, failed: Iterable[tuple[Path, str]]) -> None:
    def write(handle):
        lines = ["path\treason"]
        lines += [f"{_one_line(str(path))}\t{_one_line(reason)}" for path, reason in failed]
        handle.write(("\n".join(lines) + "\n").encode("utf-8"))

    _atomic_write(folder / FAILED_FILE, write)


def _one_line(text: str) -> str:
    return " ".join(str(text).replace("\t", " ").split())


class _Parts:
    """Buffers new vectors and writes them `chunk` at a time as the next part files."""

    def __init__(self, folder: Path, chunk: int):
        self.folder = folder
        self.chunk = chunk
        existing = _parts(folder)
        self.number = existing[-1][0] + 1 if existing else 0
        self.keys: list[str] = []
        self.rows: list[np.ndarray] = []
        self.written = 0

    def add(self, keys: Sequence[str], vectors: np.ndarray) -> bool:
        """Buffer vectors; True when a part was written."""
        self.keys.extend(keys)
        self.rows.extend(np.asarray(vectors, np.float32))
        wrote = False
        while len(self.keys) >= self.chunk:
            self._write(self.chunk)
            wrote = True
        return wrote

    def flush(self) -> None:
        if self.keys:
            self._write(len(self.keys))

    def _write(self, count: int) -> None:
        keys, rows = self.keys[:count], self.rows[:count]
        _write_part(self.folder / f"part-{self.number:05d}.npz", keys, np.stack(rows))
        self.number += 1
        self.written += count
        del self.keys[:count], self.rows[:count]


@contextlib.contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """Hold the folder's lock for a build: two builds writing one folder would number their
    parts alike."""
    try:
        import fcntl
    except ImportError:  # no advisory locks on this platform: trust the user
        yield
        return
    with open(folder / _LOCK_FILE, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CacheError(f"Another cache build is writing {folder}; wait for it to end.") \
                from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# === Photos: hashing, then the producer that decodes and embeds them ===


def _inspect(path: Path) -> tuple[str | None, int, str | None]:
    """(content key, EXIF orientation, reason it cannot be embedded) of one photo file."""
    from PIL import Image

    from models.images import MAX_MEGAPIXELS

    try:
        data = path.read_bytes()
    except OSError as error:
        return None, 1, f"cannot read the file: {error.strerror or error}"
    key = hashlib.sha256(data).hexdigest()
    orientation = 1
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_MEGAPIXELS * 1_000_000:
                return key, 1, f"over {MAX_MEGAPIXELS} megapixels ({width} x {height})"
            value = image.getexif().get(_EXIF_ORIENTATION, 1)
            orientation = value if isinstance(value, int) and 1 <= value <= 8 else 1
    except Image.DecompressionBombError:
        return key, 1, f"over {MAX_MEGAPIXELS} megapixels"
    except Exception:  # TensorFlow's decoder has the last word on the pixels
        pass
    return key, orientation, None


def _inspect_all(photos: list[Path], progress: bool) -> list[tuple[str | None, int, str | None]]:
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    workers = min(8, 2 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool, \
            tqdm(total=len(photos), desc="hashing", unit="photo", disable=not progress,
                 leave=False) as bar:
        results = []
        for result in pool.map(_inspect, photos, chunksize=16):
            results.append(result)
            bar.update(1)
    return results


class LocalBatches:
    """The local producer: a tf.data pipeline in this process reads and decodes the photos in
    parallel (`models.tags.decoding.photo_pixels`), batches and prefetches them, and the
    embedder runs on each batch. It imports no Ray."""

    on_ray = False

    def __call__(self, pending: list[Pending], embedder, batch_size: int) -> Iterator[Batch]:
        """(keys, vectors, failures) a batch, in the photos' order."""
        import tensorflow as tf

        from models.tags.decoding import photo_pixels, why_not_decodable

        size = embedder.input_size
        positions = tf.data.Dataset.from_tensor_slices((
            np.arange(len(pending), dtype=np.int64),
            [str(item.path) for item in pending],
            np.asarray([item.orientation for item in pending], np.int32)))
        # A photo that fails to decode fails its element; ignore_errors drops it, and the gap in the
        # positions (kept in order by deterministic=True) says which one it was.
        dataset = (positions
                   .map(lambda position, path, orientation:
                        (position, photo_pixels(path, orientation, size)),
                        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
                   .ignore_errors()
                   .batch(batch_size)
                   .prefetch(tf.data.AUTOTUNE))

        def failures_between(start: int, stop: int, seen: set[int]) -> list[tuple[str, str]]:
            return [(pending[i].key, why_not_decodable(pending[i].path, pending[i].orientation,
                                                       size))
                    for i in range(start, stop) if i not in seen]

        expected = 0
        for batch_positions, pixels in dataset:
            positions_list = batch_positions.numpy().tolist()
            vectors = embedder.embed(pixels.numpy())
            failures = failures_between(expected, positions_list[-1], set(positions_list))
            expected = positions_list[-1] + 1
            yield [pending[i].key for i in positions_list], vectors, failures
        if expected < len(pending):
            yield [], np.zeros((0, embedder.dimension), np.float32), failures_between(
                expected, len(pending), set())


# === Building ===


def build_cache(photos: Sequence[str | Path], embedder, cache_dir: str | Path, *,
                batch_size: int = 32, chunk: int = CHUNK, progress: bool = True,
                producer: BatchProducer | None = None) -> CacheReport:
    """Embed every photo not cached yet, and record the ones that cannot be.

    Args:
        photos: photo files (any JPEG, PNG, GIF or BMP).
        embedder: a `models.tags.embedders.Embedder`; its key names the cache folder.
        cache_dir: the cache's root (see `default_cache_dir`).
        batch_size: photos a forward pass.
        chunk: photos a part file; a killed run loses at most this many.
        progress: show tqdm bars (hashing, then embedding: photos a second and time left).
        producer: what decodes and embeds the photos not cached yet (`BatchProducer`); default
            `LocalBatches()`, this process. `models.tags.ray_cache.RayBatches(address)` spreads
            the work over Ray workers.

    Returns:
        The `CacheReport`.

    Raises:
        CacheError: the cache folder cannot be written, another build holds it, or the
            producer fails (the Ray workers, say).
    """
    if batch_size < 1 or chunk < 1:
        raise ValueError(f"batch_size and chunk must be at least 1, got {batch_size}, {chunk}.")
    started = time.perf_counter()
    producer = producer if producer is not None else LocalBatches()
    photos = [Path(photo) for photo in photos]
    folder = cache_folder(cache_dir, embedder.key)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CacheError(f"Cannot write the cache at {folder}: "
                         f"{error.strerror or error}.") from error

    with _exclusive(folder):
        for leftover in folder.glob(f"{_TEMPORARY_PREFIX}*"):
            with contextlib.suppress(OSError):
                leftover.unlink()  # a killed run's half-written file
        cached = set()
        for _, path in _parts(folder):
            cached.update(_load_part(path, "keys")[0].tolist())

        inspected = _inspect_all(photos, progress)
        pending: dict[str, Pending] = {}
        for path, (key, orientation, reason) in zip(photos, inspected, strict=True):
            if key is not None and reason is None and key not in cached and key not in pending:
                pending[key] = Pending(path, key, orientation)
        unreadable = {path: reason for path, (_, _, reason) in zip(photos, inspected,
                                                                   strict=True) if reason}
        failed_keys: dict[str, str] = {}

        def failed_rows() -> tuple[tuple[Path, str], ...]:
            rows = []
            for path, (key, _, _) in zip(photos, inspected, strict=True):
                reason = unreadable.get(path) or failed_keys.get(key)
                if reason:
                    rows.append((path, reason))
            return tuple(rows)

        parts = _Parts(folder, chunk)
        todo = list(pending.values())
        batches = producer(todo, embedder, batch_size) if todo else iter(())
        _write_failed(folder, failed_rows())

        from tqdm import tqdm

        with tqdm(total=len(todo), desc=f"embedding ({embedder.name})", unit="photo",
                  disable=not progress or not todo) as bar:
            for keys, vectors, failures in batches:
                failed_keys.update(failures)
                if parts.add(keys, vectors) and failed_keys:
                    _write_failed(folder, failed_rows())
                bar.update(len(keys) + len(failures))
        parts.flush()
        failed = failed_rows()
        _write_failed(folder, failed)

    seconds = time.perf_counter() - started
    embedded = parts.written
    return CacheReport(embedded=embedded, reused=len(photos) - embedded - len(failed),
                       failed=failed, seconds=seconds,
                       images_per_second=embedded / seconds if seconds > 0 else 0.0,
                       folder=folder, embedder_key=embedder.key,
                       ray=producer.on_ray)
