"""What both adapters share: batched prediction on uint8 images, counted."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from explain.stopping import raise_if_cancelled

MAX_BATCH_BYTES = 128 * 2**20
"""The most image bytes one model call is handed. A batch of 64 photos at 2048 pixels a side
would be 800 MB before the model even copies it to float32; capping the bytes, not only the
count, keeps one request's memory bounded whatever size its photo is."""


def check_images(images) -> np.ndarray:
    """A uint8 N x H x W x 3 batch, or one clear ValueError."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"images must be uint8 N x H x W x 3 (or one H x W x 3), got {images.dtype} "
            f"{images.shape}."
        )
    return images


class EvaluationCount:
    """A running count of model evaluations (`ModelAdapter.counting`)."""

    def __init__(self) -> None:
        self.value = 0


class ModelAdapter:
    """Base of KerasModel and FunctionModel: `predict(images) -> float32 N x K`, batched.

    Attributes:
        output_names: one name per output, or None.
        batch_size: images per model call.
        evaluations: images evaluated so far (how budgets are counted).
        calls: batches run so far.
        work_side: the longest side of the copy perturbation methods and faithfulness curves
            work on (None: `explain.image_ops.WORK_SIDE`). A task whose displayed number is
            computed on a larger copy sets it, so the explained number is the displayed one.
    """

    supports_gradients = False

    def __init__(self, output_names, batch_size: int, work_side: int | None = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        if work_side is not None and int(work_side) < 1:
            raise ValueError(f"work_side must be at least 1 pixel, got {work_side}.")
        self.work_side = None if work_side is None else int(work_side)
        self.output_names = tuple(output_names) if output_names is not None else None
        self.batch_size = int(batch_size)
        self.evaluations = 0
        self.calls = 0
        self._count_lock = threading.Lock()
        self._open_counts = threading.local()

    @property
    def n_outputs(self) -> int:
        raise NotImplementedError

    def _predict_batch(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def images_per_call(self, size: tuple[int, int]) -> int:
        """How many images of `size` (height, width) go to the model at once: `batch_size`,
        fewer when their uint8 pixels would pass MAX_BATCH_BYTES (never fewer than one).
        KerasModel lowers it further for what its preprocessing makes of large images."""
        per_image = max(1, int(size[0]) * int(size[1]) * 3)
        return max(1, min(self.batch_size, MAX_BATCH_BYTES // per_image))

    @contextmanager
    def counting(self) -> Iterator[EvaluationCount]:
        """Count the evaluations this thread makes while the block runs.

        `evaluations` counts every caller's: an app shares one cached adapter between requests,
        so the difference of two readings mixes in what concurrent runs did. A run counts its
        own with this.
        """
        count = EvaluationCount()
        open_counts = getattr(self._open_counts, "counts", None)
        if open_counts is None:
            open_counts = self._open_counts.counts = []
        open_counts.append(count)
        try:
            yield count
        finally:
            open_counts.remove(count)

    def _count(self, n: int) -> None:
        """Record `n` evaluations made by this thread (one call of the model)."""
        with self._count_lock:
            self.evaluations += n
            self.calls += 1
        for count in getattr(self._open_counts, "counts", ()):
            count.value += n

    def predict(self, images) -> np.ndarray:
        """Scores for each image: float32 N x K, computed `images_per_call` (at most
        `batch_size`) images at a time.

        Raises:
            explain.stopping.Cancelled: the caller's `stop_when` check said stop; asked before
                every batch.
        """
        images = check_images(images)
        outputs = []
        step = self.images_per_call(images.shape[1:3]) if len(images) else self.batch_size
        for start in range(0, len(images), step):
            raise_if_cancelled()
            batch = images[start : start + step]
            scores = np.asarray(self._predict_batch(batch), dtype=np.float32)
            if scores.ndim == 1:
                scores = scores[:, None]
            if scores.shape != (len(batch), self.n_outputs):
                raise ValueError(
                    f"the model returned shape {scores.shape} for {len(batch)} images; "
                    f"expected ({len(batch)}, {self.n_outputs})."
                )
            outputs.append(scores)
            self._count(len(batch))
        if not outputs:
            return np.zeros((0, self.n_outputs), np.float32)
        return np.concatenate(outputs)
