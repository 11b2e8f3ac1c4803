"""A black box that can also score its photo with some patches left out of the model's input:
the unit a ViT itself reads, for LIME and SHAP to perturb (explain.patch_perturbation)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from explain.function_model import FunctionModel
from explain.stopping import raise_if_cancelled


class PatchModel(FunctionModel):
    """`fn(images) -> N x K` like a FunctionModel, plus `score_kept(image, keep) -> N x K`,
    the same scores of one photo when only the patches marked in each row of `keep` reach the
    model (for a ViT: the others dropped from its token sequence, not painted over).

    The patches are a `grid` (rows, columns) of equal cells over the part of the photo the
    model sees (`input_box`, e.g. CLIP's centre crop), numbered row by row. LIME and SHAP given
    a PatchModel take those cells as their features (`explain.patch_perturbation`); every
    other use (the faithfulness pass, Grad-CAM's absence) sees a FunctionModel.

    Args:
        fn: the black box on whole photos (uint8 N x H x W x 3).
        score_kept: (image uint8 H x W x 3, keep bool N x rows*columns) -> N x K; a row that
            keeps every patch must score what `fn` scores on the photo.
        grid: (rows, columns) of patches.
        output_names: one name per output column.
        input_box: (height, width) -> (top, left, box_height, box_width), the part of a photo
            the model sees; default the whole photo.
        batch_size: photos (or keep rows) per call.
        work_side: longest side of the copy explain() perturbs (None: its default).
    """

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray],
                 score_kept: Callable[[np.ndarray, np.ndarray], np.ndarray],
                 grid: tuple[int, int], output_names: Sequence[str],
                 input_box: Callable[[int, int], tuple[int, int, int, int]] | None = None,
                 batch_size: int = 64, work_side: int | None = None):
        super().__init__(fn, output_names, batch_size, work_side)
        if not callable(score_kept):
            raise ValueError("PatchModel needs a callable score_kept(image, keep) -> scores.")
        rows, cols = (int(side) for side in grid)
        if rows < 1 or cols < 1:
            raise ValueError(f"grid must be at least 1 x 1 patches, got {grid!r}.")
        self.score_kept = score_kept
        self.grid = (rows, cols)
        self.input_box = input_box

    @property
    def n_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    def patch_labels(self, height: int, width: int) -> np.ndarray:
        """int64 H x W: each pixel's patch number, -1 where the model does not look (outside
        `input_box`). A box of B pixels cut into n cells gives cell i the pixels from
        floor(i * B / n) up to floor((i + 1) * B / n)."""
        top, left, box_height, box_width = (self.input_box(height, width) if self.input_box
                                            else (0, 0, height, width))
        rows, cols = self.grid
        labels = np.full((height, width), -1, np.int64)
        row_of = np.arange(box_height) * rows // box_height
        col_of = np.arange(box_width) * cols // box_width
        labels[top : top + box_height, left : left + box_width] = (
            row_of[:, None] * cols + col_of[None, :])
        return labels

    def predict_kept(self, image: np.ndarray, keep) -> np.ndarray:
        """Scores (float32 N x K) of `image` with each row of `keep` (N x n_patches booleans)
        saying which patches stay, `batch_size` rows a call; each row counts as one
        evaluation.

        Raises:
            explain.stopping.Cancelled: the caller's `stop_when` check said stop; asked before
                every batch.
        """
        keep = np.asarray(keep).astype(bool)
        if keep.ndim != 2 or keep.shape[1] != self.n_patches:
            raise ValueError(f"keep must be N x {self.n_patches}, got {keep.shape}.")
        outputs = []
        for start in range(0, len(keep), self.batch_size):
            raise_if_cancelled()
            rows = keep[start : start + self.batch_size]
            scores = np.asarray(self.score_kept(image, rows), dtype=np.float32)
            if scores.ndim == 1:
                scores = scores[:, None]
            if scores.shape != (len(rows), self.n_outputs):
                raise ValueError(f"score_kept returned shape {scores.shape} for {len(rows)} "
                                 f"rows; expected ({len(rows)}, {self.n_outputs}).")
            outputs.append(scores)
            self._count(len(rows))
        if not outputs:
            return np.zeros((0, self.n_outputs), np.float32)
        return np.concatenate(outputs)
