"""The bottleneck cache's Ray path: Ray Data decodes and embeds, this process writes.

`RayBatches(address, workers)` is a batch producer for `models.tags.cache.build_cache(...,
producer=...)`; making one imports Ray (or says in one line how to install it), and nothing
else does, so the local path never imports Ray. The work is the local path's, spread over a
pool of workers in the Ray Data idiom: `ray.data.from_items` over the photos still to embed,
`map_batches` with a callable class (`EmbedPhotos`) that loads the backbone once per worker in
`__init__` and, for each batch, runs the very TensorFlow function the tf.data pipeline runs
(`models.tags.decoding.photo_pixels`: read, decode, orientation, `square_resize`) and embeds.
`build_cache` iterates over the results and writes them with the same chunks, atomic part files
and failed.tsv as the local path.

`address` "local" starts a Ray instance in this process (one CPU a worker) and stops it at the
end; anything else is a cluster for `ray.init(address=...)`, whose workers must see the photos
and the weights folder at the same paths as this machine. Workers get this checkout's `models`
and `weights` packages, and the settings that find the weights (INSTAVIS_WEIGHTS_DIR, HF_HOME,
HF_HUB_OFFLINE), through the job's runtime environment.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from models.tags.cache import Batch, CacheError, Pending

__all__ = ["EmbedPhotos", "RayBatches", "embedded_batches", "runtime_env"]

ROOT = Path(__file__).resolve().parents[2]
"""The checkout holding `models/` and `weights/`."""

PASSED_ON = ("INSTAVIS_WEIGHTS_DIR", "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE",
             "KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL")
"""Settings the workers need to find and load the same weights."""

LOCAL_OBJECT_STORE_BYTES = 256 * 1024 * 1024
"""A local instance keeps only vectors and paths in its object store."""


def _ray():
    """Ray, with its Data and exceptions modules loaded.

    Raises:
        CacheError: Ray is not installed; the message is the command that installs it.
    """
    try:
        import ray
        import ray.data
        import ray.exceptions
    except ImportError as error:
        raise CacheError(f'The Ray path needs Ray: pip install "ray[data]" ({error}).') \
            from error
    return ray


class RayBatches:
    """A batch producer that decodes and embeds on a pool of Ray Data workers.

    Args:
        address: "local" starts a Ray instance in this process (one CPU a worker) and stops it
            at the end; anything else is a cluster address for `ray.init(address=...)`.
        workers: actors in the pool, each loading the backbone once; default one per CPU of the
            instance.

    Raises:
        CacheError: Ray is not installed (raised here, before any work).
    """

    on_ray = True

    def __init__(self, address: str = "local", workers: int | None = None):
        _ray()
        self.address = address
        self.workers = workers

    def __call__(self, todo: list[Pending], embedder, batch_size: int) -> Iterator[Batch]:
        return embedded_batches(todo, embedder, batch_size=batch_size, address=self.address,
                                workers=self.workers)


class EmbedPhotos:
    """A Ray Data callable class: one backbone per worker, one call per batch of photos.

    Args:
        name: the backbone ("clip" or "efficientnet").
        folder: its weights folder, the driver's `Embedder.folder`.
        key: the driver's `Embedder.key`; a worker that loads other weights refuses to run.
    """

    def __init__(self, name: str, folder: str, key: str):
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        import tensorflow as tf

        ray = _ray()
        cpus = int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)) or 1
        # Before any op runs: a worker uses the CPUs Ray gave it, not every core of the node.
        tf.config.threading.set_intra_op_parallelism_threads(cpus)
        tf.config.threading.set_inter_op_parallelism_threads(max(2, cpus))

        from models.tags.decoding import photo_pixels
        from models.tags.embedders import load_embedder

        self.embedder = load_embedder(name, folder)
        if self.embedder.key != key:
            raise RuntimeError(f"This Ray worker's {name} weights in {folder} are "
                               f"{self.embedder.key}, not the driver's {key}.")
        size = self.embedder.input_size
        self._tf = tf
        self._pixels = tf.function(
            lambda path, orientation: photo_pixels(path, orientation, size),
            input_signature=[tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.int32)])

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Decode and embed one batch.

        Args:
            batch: columns "path", "key", "orientation".

        Returns:
            Columns "key", "vector" ((n, D) float32; zeros for a failed photo) and "reason"
            ("" when the photo was embedded, else why not).
        """
        from models.tags.decoding import decode_failure_reason

        tf = self._tf
        squares, reasons = [], []
        for path, orientation in zip(batch["path"], batch["orientation"], strict=True):
            try:
                squares.append(self._pixels(tf.constant(str(path)),
                                            tf.constant(int(orientation), tf.int32)).numpy())
                reasons.append("")
            except tf.errors.OpError as error:
                reasons.append(decode_failure_reason(error))
        vectors = np.zeros((len(reasons), self.embedder.dimension), np.float32)
        embedded = np.asarray([reason == "" for reason in reasons])
        if squares:
            vectors[embedded] = self.embedder.embed(np.stack(squares))
        return {"key": np.asarray(batch["key"]), "vector": vectors,
                "reason": np.asarray(reasons, dtype=object)}


def runtime_env(remote: bool) -> dict:
    """The workers' environment: the settings in PASSED_ON, and this checkout's packages (on
    PYTHONPATH for a local instance, uploaded as py_modules to a cluster)."""
    env_vars = {name: os.environ[name] for name in PASSED_ON if os.environ.get(name)}
    env_vars.setdefault("KERAS_BACKEND", "tensorflow")
    env_vars.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    environment: dict = {"env_vars": env_vars}
    if remote:
        environment["py_modules"] = [str(ROOT / "models"), str(ROOT / "weights")]
    else:
        inherited = os.environ.get("PYTHONPATH", "")
        env_vars["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), inherited) if p)
    return environment


def embedded_batches(todo: list[Pending], embedder, *, batch_size: int, address: str,
                     workers: int | None = None) -> Iterator[Batch]:
    """(keys, vectors, failures) as the workers finish batches, in any order.

    Args:
        todo: `models.tags.cache.Pending` photos, one per content key.
        embedder: the driver's `Embedder` (its name, folder and key go to the workers).
        batch_size: photos a `map_batches` call.
        address: "local" or a Ray cluster address.
        workers: actors in the pool; default one per CPU of the instance.
    """
    if not todo:
        return
    ray = _ray()
    remote = address != "local"
    started_here = not ray.is_initialized()
    if started_here:
        options = {"runtime_env": runtime_env(remote), "log_to_driver": False,
                   "include_dashboard": False, "configure_logging": False}
        try:
            if remote:
                ray.init(address=address, **options)
            else:
                ray.init(num_cpus=workers or os.cpu_count() or 1,
                         object_store_memory=LOCAL_OBJECT_STORE_BYTES, **options)
        except Exception as error:
            raise CacheError(f"Cannot start Ray ({address}): {_last_line(error)}") from error
    data_logger = logging.getLogger("ray.data")
    level = data_logger.level
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # build_cache's own bar counts the photos
        data_logger.setLevel(logging.ERROR)  # and its own lines say what went wrong
        if workers is None:
            workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        items = [{"path": str(item.path), "key": item.key, "orientation": int(item.orientation)}
                 for item in todo]
        # A block per batch, and at least one per worker, so no worker of the pool idles.
        blocks = max(1, min(len(items), max(workers, -(-len(items) // batch_size))))
        dataset = ray.data.from_items(items, override_num_blocks=blocks).map_batches(
            EmbedPhotos,
            fn_constructor_kwargs={"name": embedder.name, "folder": str(embedder.folder),
                                   "key": embedder.key},
            batch_size=batch_size, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1,
            # A Ray this process did not start lacks the job environment set up above.
            runtime_env=None if started_here else runtime_env(remote))
        try:
            for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                keys = [str(key) for key in batch["key"]]
                reasons = [str(reason) for reason in batch["reason"]]
                embedded = np.asarray([reason == "" for reason in reasons], dtype=bool)
                vectors = np.asarray(batch["vector"], np.float32)
                yield ([key for key, ok in zip(keys, embedded, strict=True) if ok],
                       vectors[embedded] if len(vectors) else vectors,
                       [(key, reason) for key, reason in zip(keys, reasons, strict=True)
                        if reason])
        except ray.exceptions.RayError as error:
            raise CacheError(f"The Ray workers failed: {_last_line(error)}") from error
    finally:
        data_logger.setLevel(level)
        if started_here:
            ray.shutdown()


def _last_line(error: BaseException) -> str:
    """The line of a (Ray, often multi-line) error that says what went wrong."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (lines[-1] if lines else type(error).__name__)[:200]
