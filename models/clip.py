"""CLIP image/text embeddings, zero-shot classification and Grad-CAM hooks.

This module wraps a keras-hub CLIP preset (``CLIPBackbone`` plus
``CLIPPreprocessor``) behind a small numpy API that the tabs of the app share:

* :func:`embed_images` / :func:`embed_texts`: L2-normalised embeddings.
* :func:`zero_shot`: label probabilities with prompt ensembling.
* :meth:`CLIPModel.image_model_for_gradcam`: a Keras model exposing the
  patch-token activations that ``explain/`` turns into heat maps.

Importing this module is deliberately cheap (numpy only): TensorFlow, Keras and
keras-hub are imported the first time a model is loaded, so ``import app``
stays fast and a missing checkpoint can be reported in the UI instead of
crashing at start-up.

Images are ``uint8`` arrays of shape ``(height, width, 3)`` as returned by
``models.images.load_image``. Any size and aspect ratio is accepted: the
preset's ``CLIPImageConverter`` centre-crops the largest region with the model's
aspect ratio (square) and resizes it, like OpenAI's "resize shorter side, then
centre crop" preprocessing. :meth:`CLIPModel.crop_box` reports which region of
the original picture the model sees.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

IMAGE_BATCH = 8
"""Pictures per forward pass of the vision tower, wherever InstaVis embeds photos (embedding,
and the explainers' batches of perturbed copies). At ViT-B/32 size a batch of 8 peaks about
80 MiB above rest against 110 MiB for 16, at the same CPU time per picture (one run each on
the 2-core machine), and the worst legal mix of requests (`python -m benchmarks.memory`) has
no memory to spare."""

__all__ = [
    "CLIPModel",
    "MAX_LOGIT_SCALE",
    "embed_images",
    "embed_texts",
    "get_clip",
    "reset_default",
    "zero_shot",
]

KEPT_PRECISIONS = ("float32", "bfloat16")
"""Precisions :meth:`CLIPModel.embed_kept_patches` can run the vision tower in."""

MAX_LOGIT_SCALE = 100.0
"""Upper bound of the softmax temperature; OpenAI clamps the learned scale here."""

WEIGHTS_NAME = "clip"
"""Artifact name of the default checkpoint in ``weights/manifest.toml``."""

_TEXT_CACHE_SIZE = 8192

load_count = 0
"""How many times :meth:`CLIPModel.from_preset` has loaded a checkpoint in this
process. Tests read it to check that the default model is loaded only once."""

_load_count_lock = threading.Lock()
_default: CLIPModel | None = None
_default_lock = threading.Lock()


def _import_backend() -> tuple[Any, Any, Any]:
    """Import TensorFlow, Keras and keras-hub on first use.

    Returns:
        The ``(tensorflow, keras, keras_hub)`` modules.

    Raises:
        RuntimeError: Keras was already imported with a backend other than
            TensorFlow; the compiled inference paths below are ``tf.function``s.
    """
    # Only a default: a process that already chose the TensorFlow backend keeps it.
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import keras_hub
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            "models.clip needs the TensorFlow Keras backend, but Keras is running on "
            f"{keras.backend.backend()!r}; set KERAS_BACKEND=tensorflow."
        )
    return tf, keras, keras_hub


def _l2_normalise(x: np.ndarray) -> np.ndarray:
    """Scale each row to unit length; all-zero rows stay zero instead of NaN."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def _softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax computed in float64 so rows sum to 1 to float32 precision."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def _check_image(image: Any, where: str) -> np.ndarray:
    """Validate one picture and return it unchanged.

    Args:
        image: The candidate picture.
        where: How to name it in error messages, e.g. ``"images[3]"``.

    Returns:
        ``image`` as a ``uint8`` array of shape ``(height, width, 3)``.

    Raises:
        ValueError: It is not a non-empty ``uint8`` RGB array.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(
            f"{where} must be a numpy uint8 array of shape (height, width, 3) "
            f"(use models.images.load_image), got {type(image).__name__}."
        )
    if image.dtype != np.uint8:
        raise ValueError(f"{where} must have dtype uint8, got {image.dtype}.")
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"{where} must have shape (height, width, 3), got {image.shape}.")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"{where} is empty (shape {image.shape}).")
    return image


def _as_image_list(images: Any) -> list[np.ndarray] | np.ndarray:
    """Normalise the accepted image inputs.

    Args:
        images: One ``(H, W, 3)`` uint8 array, an ``(N, H, W, 3)`` uint8 array,
            or a sequence of ``(H, W, 3)`` uint8 arrays of any sizes.

    Returns:
        Either an ``(N, H, W, 3)`` array (all images share a size, so they can
        be preprocessed in one call) or a list of ``(H, W, 3)`` arrays.

    Raises:
        ValueError: The input is none of the accepted forms.
    """
    if isinstance(images, np.ndarray):
        if images.ndim == 4:
            if images.dtype != np.uint8:
                raise ValueError(f"images must have dtype uint8, got {images.dtype}.")
            if images.shape[-1] != 3 or images.shape[1] < 1 or images.shape[2] < 1:
                raise ValueError(
                    f"a batch of images must have shape (N, height, width, 3), got {images.shape}."
                )
            return images
        # A single picture is the most common call; treat it as a batch of one.
        return [_check_image(images, "image")]
    if isinstance(images, (str, bytes)) or not isinstance(images, Iterable):
        raise ValueError(
            f"images must be a uint8 array or a list of uint8 arrays, got {type(images).__name__}."
        )
    return [_check_image(image, f"images[{i}]") for i, image in enumerate(images)]


def _as_text_list(texts: Any) -> list[str]:
    """Return ``texts`` as a list of strings; a single string is one text."""
    if isinstance(texts, str):
        return [texts]
    if not isinstance(texts, Iterable):
        raise ValueError(
            f"texts must be a string or a list of strings, got {type(texts).__name__}."
        )
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"texts[{i}] must be a string, got {type(text).__name__}.")
    return texts


def _check_prompts(prompts: Any) -> list[tuple[str, list[str]]]:
    """Validate a zero-shot prompt table.

    Args:
        prompts: Mapping from label to its prompts (a string counts as one prompt).

    Returns:
        ``(label, prompts)`` pairs in the mapping's order.

    Raises:
        ValueError: No labels, a label without prompts, or an empty prompt.
    """
    if not isinstance(prompts, Mapping):
        raise ValueError(
            f"prompts must be a dict of label -> list of prompts, got {type(prompts).__name__}."
        )
    if not prompts:
        raise ValueError("prompts has no labels; zero-shot needs at least one.")
    table = []
    for label, label_prompts in prompts.items():
        if isinstance(label_prompts, str):
            label_prompts = [label_prompts]
        try:
            label_prompts = list(label_prompts)
        except TypeError:
            raise ValueError(
                f"prompts for label {label!r} must be a list of strings, "
                f"got {type(label_prompts).__name__}."
            ) from None
        if not label_prompts:
            raise ValueError(f"label {label!r} has no prompts.")
        for prompt in label_prompts:
            if not isinstance(prompt, str) or not prompt.strip():
                raise ValueError(f"label {label!r} has an empty or non-string prompt: {prompt!r}.")
        table.append((label, label_prompts))
    return table


CALL_COST_TOKENS = 96
"""What one more call of the vision tower costs, in padded tokens (rows x sequence length):
`_length_groups` splits a batch only where the padding saved is worth more. One call for LIME's
rows of 16, whose counts spread over about ten values, was faster than a call per count; SHAP's
rows mix nearly empty and nearly full ones, and one call padded them all to the fullest."""


def _length_groups(counts: np.ndarray, max_tokens: int | None = None) -> list[np.ndarray]:
    """Rows (indices into `counts`) to run together: contiguous runs of the rows sorted by
    count, chosen to minimise the padded tokens (each run padded to its longest row, plus the
    class token) plus CALL_COST_TOKENS per call. With `max_tokens`, no run holds more padded
    tokens than that (a single row always runs), which bounds a call's memory. Exact, by
    dynamic programming over the sorted counts (a batch is at most a few dozen rows)."""
    order = np.argsort(counts, kind="stable")
    ordered = counts[order].astype(np.int64)
    n = len(ordered)
    best = np.zeros(n + 1)
    start_of = np.zeros(n + 1, np.int64)
    for end in range(1, n + 1):
        # A run of rows start..end-1 costs (end - start) rows x (its longest + class token).
        costs = [best[start] + (end - start) * (ordered[end - 1] + 1) + CALL_COST_TOKENS
                 if (max_tokens is None or end - start == 1
                     or (end - start) * (ordered[end - 1] + 1) <= max_tokens) else np.inf
                 for start in range(end)]
        start_of[end] = int(np.argmin(costs))
        best[end] = costs[start_of[end]]
    groups = []
    end = n
    while end > 0:
        groups.append(order[start_of[end]:end])
        end = start_of[end]
    return groups[::-1]


class CLIPModel:
    """One loaded CLIP checkpoint with batched, compiled inference.

    Instances are safe to share between threads: the forward passes are
    ``tf.function``s without Python-side state, and the text-embedding cache is
    guarded by a lock.

    Attributes:
        backbone: The ``keras_hub.models.CLIPBackbone``.
        preprocessor: The ``keras_hub.models.CLIPPreprocessor`` (tokenizer,
            packer and image converter).
        path: The preset directory it was loaded from, if any.
        image_size: ``(height, width)`` of the model input.
        patch_size: Side of a ViT patch, in model-input pixels.
        patch_grid: Patches per side, e.g. 7 for ViT-B/32 at 224 pixels.
        embedding_dim: Size ``D`` of the joint image/text embedding.
        image_forward_calls: Batches run through the vision tower so far.
        text_forward_calls: Batches run through the text tower so far; stays
            unchanged when every requested text is already cached.
        texts_encoded: Texts run through the text tower so far (cache misses).
    """

    def __init__(self, backbone: Any, preprocessor: Any, path: Path | None = None) -> None:
        """Wrap an already built backbone and preprocessor.

        Args:
            backbone: A ``keras_hub.models.CLIPBackbone``.
            preprocessor: A matching ``keras_hub.models.CLIPPreprocessor``
                with an image converter.
            path: Where they were loaded from, for display only.

        Raises:
            ValueError: The preprocessor has no image converter, or it resizes
                to a size other than the vision encoder's input.
        """
        tf, keras, _ = _import_backend()
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.path = Path(path) if path is not None else None
        converter = preprocessor.image_converter
        if converter is None:
            raise ValueError("The CLIP preset has no image converter (image_converter.json).")
        self.image_converter = converter

        vision = backbone.vision_encoder
        height, width = vision.image_shape[0], vision.image_shape[1]
        self.image_size = (int(height), int(width))
        self.patch_size = int(vision.patch_size)
        self.patch_grid = self.image_size[0] // self.patch_size
        self.embedding_dim = int(backbone.projection_dim)
        self.hidden_dim = int(vision.hidden_dim)
        if tuple(converter.image_size or ()) != self.image_size:
            # A converter that resizes to another size would feed the ViT a
            # shape it cannot take; fail at load time rather than per call.
            raise ValueError(
                f"The image converter resizes to {converter.image_size}, but the vision "
                f"encoder expects {self.image_size}."
            )

        self.image_forward_calls = 0
        self.text_forward_calls = 0
        self.texts_encoded = 0
        self._stats_lock = threading.Lock()
        self._text_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._text_lock = threading.Lock()
        self._gradcam_model = None
        self._gradcam_lock = threading.Lock()
        self._tower = None

        # One trace each: the batch axis (and the image size before resizing)
        # is left unknown in the signatures, so no batch size or picture size
        # triggers a re-trace.
        self._preprocess_fn = tf.function(
            self.preprocess_graph,
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)],
        )
        self._image_fn = tf.function(
            backbone.get_vision_embeddings,
            input_signature=[tf.TensorSpec([None, height, width, 3], tf.float32)],
        )
        self._text_fn = tf.function(
            backbone.get_text_embeddings,
            input_signature=[tf.TensorSpec([None, None], tf.int32)],
        )
        self._keras = keras
        self._tf = tf
        # The token-drop path (embed_kept_patches): per precision, a vision tower and two
        # compiled functions (the photo's tokens once, then any batch of kept-patch index rows
        # of one length; the length is left unknown so one trace serves every count).
        self._kept_paths: dict[str, tuple[Any, Any, Any]] = {}
        self._kept_lock = threading.Lock()

    # === Loading ===

    @classmethod
    def from_preset(cls, path: str | os.PathLike[str], antialias: bool = True) -> CLIPModel:
        """Load a keras-hub CLIP preset directory.

        Args:
            path: Directory written by ``save_to_preset`` (``config.json``,
                ``model.weights.h5``, ``preprocessor.json``, tokenizer assets).
            antialias: Resize with an antialiasing filter. keras-hub's CLIP
                conversion leaves the converter at its default (no filter),
                which aliases badly when a phone photo is shrunk to 224 pixels;
                OpenAI's PIL bicubic resize does filter, so this is the closer
                match to how CLIP was trained. Costs a few milliseconds.

        Returns:
            The loaded model.

        Raises:
            ValueError: The preset has no image converter, or it resizes to a
                size the vision encoder cannot take.
        """
        global load_count
        _, _, keras_hub = _import_backend()
        path = Path(path)
        backbone = keras_hub.models.CLIPBackbone.from_preset(str(path))
        preprocessor = keras_hub.models.CLIPPreprocessor.from_preset(str(path))
        converter = preprocessor.image_converter
        if converter is not None and bool(converter.antialias) != antialias:
            # The resize filter is fixed when the converter is built, so build
            # a copy with the other setting instead of mutating an attribute.
            config = converter.get_config()
            config["antialias"] = antialias
            preprocessor.image_converter = type(converter).from_config(config)
        with _load_count_lock:
            load_count += 1
        return cls(backbone, preprocessor, path)

    # === Preprocessing ===

    def preprocess_graph(self, images: Any) -> Any:
        """Resize/crop and normalise a uint8 batch: TensorFlow ops, for use inside a
        ``tf.function``, such as a ``KerasModel``'s ``preprocess`` (the tasks' Grad-CAM
        adapters) or a masked photo's (the Pose tab's background).

        Args:
            images: A uint8 ``tf.Tensor`` of shape ``(N, H, W, 3)``.

        Returns:
            A float32 ``tf.Tensor`` of shape ``(N, height, width, 3)``, as
            :meth:`preprocess_images` gives.
        """
        return self._tf.cast(self.image_converter(images), self._tf.float32)

    def preprocess_images(self, images: Any) -> Any:
        """Turn pictures into the float tensor the vision tower expects.

        Each picture is centre-cropped to the model's aspect ratio, resized to
        :attr:`image_size` (see :meth:`crop_box`) and normalised with the
        preset's per-channel mean and standard deviation.

        Args:
            images: One ``(H, W, 3)`` uint8 array, an ``(N, H, W, 3)`` uint8
                array, or a list of ``(H, W, 3)`` uint8 arrays of any sizes.

        Returns:
            A ``tf.Tensor`` of shape ``(N, height, width, 3)``, dtype float32.

        Raises:
            ValueError: Wrong type, dtype or shape.
        """
        tf = self._tf
        batch = _as_image_list(images)
        if isinstance(batch, np.ndarray):
            if batch.shape[0] == 0:
                return tf.zeros((0, *self.image_size, 3), tf.float32)
            return self._preprocess_fn(tf.constant(batch))
        if not batch:
            return tf.zeros((0, *self.image_size, 3), tf.float32)
        # Pictures of different sizes cannot share a tensor before resizing.
        return tf.concat([self._preprocess_fn(tf.constant(img[None])) for img in batch], axis=0)

    def crop_box(self, height: int, width: int) -> tuple[int, int, int, int]:
        """Region of an ``height x width`` picture that the model actually sees.

        Mirrors the arithmetic of ``keras.layers.Resizing`` with
        ``crop_to_aspect_ratio=True``, so ``explain/`` can paste a heat map
        back onto the right part of the original picture.

        Args:
            height: Picture height in pixels.
            width: Picture width in pixels.

        Returns:
            ``(top, left, crop_height, crop_width)``; the whole picture when the
            converter does not crop.
        """
        converter = self.image_converter
        if not getattr(converter, "crop_to_aspect_ratio", False):
            return 0, 0, int(height), int(width)
        target_h, target_w = self.image_size
        # float32 like the TensorFlow implementation, so rounding agrees.
        crop_h = int(np.float32(width * target_h) / np.float32(target_w))
        crop_h = max(min(height, crop_h), 1)
        crop_w = int(np.float32(height * target_w) / np.float32(target_h))
        crop_w = max(min(width, crop_w), 1)
        top = int(np.float32(height - crop_h) / np.float32(2))
        left = int(np.float32(width - crop_w) / np.float32(2))
        return top, left, crop_h, crop_w

    def tokenize(self, texts: Sequence[str]) -> Any:
        """Tokenize and pack texts exactly as the preset does.

        Args:
            texts: Strings to tokenize.

        Returns:
            An int32 ``tf.Tensor`` of shape ``(N, sequence_length)``.
        """
        packed = self.preprocessor({"prompts": list(texts), "images": None})
        return self._tf.cast(packed["token_ids"], self._tf.int32)

    # === Embeddings ===

    def embed_images(self, images: Any, batch_size: int = IMAGE_BATCH) -> np.ndarray:
        """L2-normalised image embeddings.

        Args:
            images: One ``(H, W, 3)`` uint8 array, an ``(N, H, W, 3)`` uint8
                array, or a list of ``(H, W, 3)`` uint8 arrays of any sizes.
            batch_size: Pictures per forward pass; bounds peak memory.

        Returns:
            float32 array of shape ``(N, D)`` with unit-length rows.

        Raises:
            ValueError: Bad images or a non-positive ``batch_size``.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}.")
        batch = _as_image_list(images)
        outputs = []
        for start in range(0, len(batch), batch_size):
            pixels = self.preprocess_images(batch[start : start + batch_size])
            outputs.append(np.asarray(self._image_fn(pixels)))
            with self._stats_lock:
                self.image_forward_calls += 1
        if not outputs:
            return np.zeros((0, self.embedding_dim), np.float32)
        return _l2_normalise(np.concatenate(outputs, axis=0))

    # === Patches left out of the token sequence ===

    @property
    def patch_count(self) -> int:
        """Patches the vision tower sees, e.g. 49 (7 x 7) for ViT-B/32 at 224 pixels."""
        return self.patch_grid**2

    def embed_kept_patches(self, image: np.ndarray, keep: Any,
                           precision: str = "float32") -> np.ndarray:
        """Unit embeddings of one picture seen with only some of its patches.

        Each row of ``keep`` says which patches stay in the vision tower's token sequence;
        the others are dropped from it, as if the picture had never had them (not painted
        over). The class token always stays, and each kept patch keeps its own position
        embedding, so a row that keeps every patch gives exactly :meth:`embed_images`' vector.
        The picture is preprocessed and embedded into tokens once per call. Patch ``r * grid
        + c`` is the cell in row ``r`` and column ``c`` of :meth:`crop_box`'s region cut into
        ``patch_grid`` x ``patch_grid`` equal cells.

        Rows go through the tower in a few calls (`_length_groups`: rows of similar counts
        together), each row padded to its call's longest with an attention mask that hides
        the padding from every token, so a row's tokens see only each other.

        Args:
            image: One ``(H, W, 3)`` uint8 picture.
            keep: ``(N, patch_count)`` booleans (or 0/1), True where the patch stays.
            precision: ``"float32"`` (the tower as loaded) or ``"bfloat16"``: a bfloat16 copy
                of the vision tower (built on first use; about half the tower's float32 size),
                whose embeddings differ from float32 in the third decimal
                (docs/benchmarks.md measures it).

        Returns:
            float32 ``(N, D)`` with unit-length rows (a picture with no patch left is
            embedded from its class token alone).

        Raises:
            ValueError: A bad picture, a ``keep`` of the wrong shape or an unknown precision.
        """
        image = _check_image(image, "image")
        keep = np.asarray(keep)
        if keep.ndim != 2 or keep.shape[1] != self.patch_count:
            raise ValueError(f"keep must have shape (N, {self.patch_count}), got {keep.shape}.")
        if precision not in KEPT_PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(KEPT_PRECISIONS)}, "
                             f"got {precision!r}.")
        keep = keep.astype(bool)
        if len(keep) == 0:
            return np.zeros((0, self.embedding_dim), np.float32)
        _, tokens_fn, kept_fn = self._kept_path(precision)
        tokens = tokens_fn(self.preprocess_images(image))
        counts = keep.sum(axis=1)
        out = np.empty((len(keep), self.embedding_dim), np.float32)
        # A call holds at most the tokens of IMAGE_BATCH whole photos: the memory of a batch
        # of photos, however many rows the caller sends at once (rows keeping fewer patches
        # share a call).
        for rows in _length_groups(counts, IMAGE_BATCH * (self.patch_count + 1)):
            # At least one column: TensorFlow's attention einsum fails on an empty sequence
            # axis, and a masked padding token changes nothing.
            longest = max(1, int(counts[rows].max()))
            # Each row's kept patch numbers first, then padding (patch 0, masked out).
            order = np.argsort(~keep[rows], axis=1, kind="stable")[:, :longest]
            valid = np.arange(longest)[None, :] < counts[rows][:, None]
            indices = np.where(valid, order, 0).astype(np.int32)
            out[rows] = np.asarray(kept_fn(tokens, self._tf.constant(indices),
                                           self._tf.constant(valid)))
        with self._stats_lock:
            self.image_forward_calls += 1
        return _l2_normalise(out)

    def _kept_path(self, precision: str) -> tuple[Any, Any, Any]:
        """(vision tower, tokens function, kept-embeddings function) for a precision."""
        with self._kept_lock:
            path = self._kept_paths.get(precision)
            if path is not None:
                return path
            tf = self._tf
            vision = self.backbone.vision_encoder
            if precision != "float32":
                config = {**vision.get_config(), "dtype": precision}
                copy = type(vision).from_config(config)
                copy.set_weights(vision.get_weights())
                vision = copy
            height, width = self.image_size
            tokens_fn = tf.function(
                lambda pixels: vision.embedding(tf.cast(pixels, vision.compute_dtype))[0],
                input_signature=[tf.TensorSpec([1, height, width, 3], tf.float32)],
            )
            kept_fn = tf.function(
                lambda tokens, indices, valid: self._kept_embeddings(vision, tokens, indices,
                                                                     valid),
                input_signature=[
                    tf.TensorSpec([1 + self.patch_count, self.hidden_dim], vision.compute_dtype),
                    tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None, None], tf.bool)],
            )
            path = self._kept_paths[precision] = (vision, tokens_fn, kept_fn)
            return path

    def _kept_embeddings(self, vision: Any, tokens: Any, indices: Any, valid: Any) -> Any:
        """Projected (not normalised) embeddings of rows of kept patch indices, padded to one
        length (`valid` False at padding): the vision encoder's own layers, in its own order.

        keras-hub's encoder block takes no attention mask, so its call is spelled out here with
        the block's own sublayers (pre-norm attention, then the pre-norm MLP, each added to
        the residual stream), passing the mask to its attention. With nothing padded this is
        the block's own computation; tests/test_patch_perturbation.py checks it against
        `embed_images` and against a NumPy transformer handed only the kept tokens."""
        tf = self._tf
        kept = tf.gather(tokens[1:], indices)
        class_token = tf.tile(tokens[None, :1], [tf.shape(indices)[0], 1, 1])
        sequence = vision.pre_layer_norm(tf.concat([class_token, kept], axis=1))
        present = tf.concat([tf.ones_like(valid[:, :1]), valid], axis=1)  # the class token too
        # Every query may look only at present keys; padded queries compute noise nobody reads.
        mask = present[:, None, :] & tf.ones_like(present)[:, :, None]
        for block in vision.encoder_layers:
            normed = block.layer_norm_1(sequence)
            sequence = sequence + block.attention(normed, normed, normed, attention_mask=mask)
            sequence = sequence + block.dense_2(
                block.activation(block.dense_1(block.layer_norm_2(sequence))))
        pooled = tf.cast(self.backbone.vision_pooler(vision.layer_norm(sequence)), tf.float32)
        return self.backbone.vision_projection(pooled)

    def embed_texts(self, texts: str | Sequence[str], batch_size: int = 64) -> np.ndarray:
        """L2-normalised text embeddings, cached per distinct text.

        Only texts that are not cached yet go through the text tower, so the
        fixed prompt sets of the tabs cost one forward pass per process.

        Args:
            texts: A string or a list of strings.
            batch_size: Texts per forward pass.

        Returns:
            float32 array of shape ``(N, D)`` with unit-length rows, in the
            order of ``texts``.

        Raises:
            ValueError: A text is not a string, or ``batch_size`` is not positive.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}.")
        texts = _as_text_list(texts)
        if not texts:
            return np.zeros((0, self.embedding_dim), np.float32)
        # Held while computing so concurrent callers never embed a text twice;
        # after warm-up this lock only guards dictionary look-ups.
        with self._text_lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._text_cache))
            for start in range(0, len(missing), batch_size):
                chunk = missing[start : start + batch_size]
                vectors = _l2_normalise(np.asarray(self._text_fn(self.tokenize(chunk))))
                with self._stats_lock:
                    self.text_forward_calls += 1
                    self.texts_encoded += len(chunk)
                for text, vector in zip(chunk, vectors, strict=True):
                    vector.setflags(write=False)  # shared between callers
                    self._text_cache[text] = vector
            result = np.stack([self._text_cache[t] for t in texts])
            for text in texts:
                self._text_cache.move_to_end(text)
            # Bounded because labels typed by users would otherwise grow it forever.
            while len(self._text_cache) > _TEXT_CACHE_SIZE:
                self._text_cache.popitem(last=False)
        return result

    def warmup(self) -> None:
        """Trace the compiled paths now, so the first user request is not the slow one.

        Tracing the ViT-B/32 graphs takes about a second on CPU; an app can call
        this in a background thread at start-up. The dummy inputs are not cached.
        """
        pixels = self.preprocess_images(np.zeros((*self.image_size, 3), np.uint8))
        self._image_fn(pixels)
        self._text_fn(self.tokenize(["a photo"]))

    def clear_text_cache(self) -> None:
        """Forget every cached text embedding."""
        with self._text_lock:
            self._text_cache.clear()

    # === Zero-shot ===

    @property
    def logit_scale(self) -> float:
        """The checkpoint's learned softmax temperature, ``exp(log_scale)``, at most 100.

        keras-hub keeps it as the log-scale variable ``clip_head.logit_scale``
        (initialised to ``log(1 / 0.07)``) and exponentiates it in ``CLIPHead``.
        """
        log_scale = float(np.asarray(self.backbone.clip_head.logit_scale))
        return float(min(math.exp(log_scale), MAX_LOGIT_SCALE))

    def label_embeddings(self, prompts: Mapping[str, Sequence[str]]) -> np.ndarray:
        """One unit vector per label: the re-normalised mean of its prompt embeddings.

        This is CLIP's prompt ensembling: averaging several phrasings of a
        label ("a photo of a dog", "a picture of a dog", ...) gives a more
        robust class vector than any single prompt.

        Args:
            prompts: Mapping label -> prompts, in the desired label order.

        Returns:
            float32 array ``(L, D)`` with unit-length rows, in the mapping's order.

        Raises:
            ValueError: No labels, a label without prompts, or an empty prompt.
        """
        table = _check_prompts(prompts)
        flat = [p for _, label_prompts in table for p in label_prompts]
        vectors = self.embed_texts(flat)
        means = []
        start = 0
        for _, label_prompts in table:
            means.append(vectors[start : start + len(label_prompts)].mean(axis=0))
            start += len(label_prompts)
        return _l2_normalise(np.stack(means))

    def zero_shot(self, images: Any, prompts: Mapping[str, Sequence[str]]) -> np.ndarray:
        """Zero-shot label probabilities.

        Args:
            images: As for :meth:`embed_images`.
            prompts: Mapping label -> prompts; columns follow its order.

        Returns:
            float32 array ``(N, L)``; each row is
            ``softmax(logit_scale * cosine(image, label))`` and sums to 1.

        Raises:
            ValueError: Bad images or prompts.
        """
        # Prompts first: cheap to validate, so a typo fails before the image pass.
        labels = self.label_embeddings(prompts)
        image_vectors = self.embed_images(images)
        return _softmax(self.logit_scale * (image_vectors @ labels.T))

    # === Grad-CAM ===

    @property
    def gradcam_layer_name(self) -> str:
        """Name of the vision-encoder layer whose output Grad-CAM uses.

        It is the layer that feeds the *last* transformer block: the block
        before it, or ``pre_layer_norm`` for a one-block encoder. The output of
        the last block itself is useless for Grad-CAM: only its class token
        reaches the embedding, so gradients for every patch token are exactly
        zero there. One block earlier, patch tokens still influence the class
        token through the last block's attention.
        """
        vision = self.backbone.vision_encoder
        if len(vision.encoder_layers) >= 2:
            return vision.encoder_layers[-2].name
        return vision.pre_layer_norm.name

    def image_model_for_gradcam(self) -> Any:
        """A Keras model from preprocessed pixels to (activations, embedding).

        Inputs: a float32 batch ``(N, height, width, 3)`` from
        :meth:`preprocess_images`.

        Outputs, in this order:

        * ``activations``: ``(N, 1 + patch_grid**2, hidden_dim)``, the
          residual-stream tokens entering the last vision transformer block
          (output of :attr:`gradcam_layer_name`), before that block's layer
          norm. Index 0 is the class token; indices ``1 + r * patch_grid + c``
          are the patches in row-major order, so
          ``activations[:, 1:].reshape(N, patch_grid, patch_grid, hidden_dim)``
          is the spatial map.
        * ``embedding``: ``(N, D)`` projected image embedding, *not*
          normalised; divide by its norm for the cosine used by
          :func:`embed_images`.

        It shares weights with the backbone (no copy) and is built once.

        Returns:
            The ``keras.Model``.
        """
        if self._gradcam_model is None:
            with self._gradcam_lock:
                if self._gradcam_model is None:
                    self._gradcam_model = self._build_gradcam_model()
        return self._gradcam_model

    def embedding_tower(self) -> Any:
        """The vision tower as an `explain.EmbeddingTower`: photos -> (the tokens Grad-CAM reads,
        the unit-length embedding), with CLIP's preprocessing and centre crop. Built once per
        model: every Grad-CAM adapter over CLIP (a style's labels, a photo's tags, the content
        score, a reference photo) is a small head on it (`similarity_head`), so the tower's
        passes are compiled once for all of them (`explain.tower_model`)."""
        if self._tower is None:
            with self._gradcam_lock:
                if self._tower is None:
                    from explain import EmbeddingTower

                    keras = self._keras
                    tapped = self._gradcam_model or self._build_gradcam_model()
                    self._gradcam_model = tapped
                    activations, embedding = tapped.outputs
                    unit = keras.layers.UnitNormalization(axis=-1, name="unit_embedding")(
                        embedding)
                    self._tower = EmbeddingTower(
                        keras.Model(tapped.inputs, [activations, unit], name="clip_tower"),
                        self.preprocess_graph, self.gradcam_layer_name, self.crop_box)
        return self._tower

    def similarity_head(self, reference_embeddings: Any) -> Any:
        """A Keras model from unit-length embeddings (N x D) to their cosines with reference
        embeddings (N x R): `similarity_model`'s head alone, for `embedding_tower`.

        Raises:
            ValueError: The embeddings are not ``D``-dimensional, or one is all zeros.
        """
        keras = self._keras
        references = self._unit_references(reference_embeddings)
        unit = keras.Input(shape=(self.embedding_dim,), name="unit_embedding")
        return keras.Model(unit, self._cosines(unit, references), name="clip_similarity_head")

    def _cosines(self, unit: Any, references: np.ndarray) -> Any:
        """The cosines of unit embeddings (a Keras tensor) with unit `references` (R x D): a
        Dense(R) layer with the references as its fixed weights."""
        head = self._keras.layers.Dense(len(references), use_bias=False, trainable=False,
                                        name="cosine_to_reference")
        cosines = head(unit)
        head.set_weights([references.T])
        return cosines

    def _unit_references(self, reference_embeddings: Any) -> np.ndarray:
        references = np.asarray(reference_embeddings, np.float32)
        references = np.atleast_2d(references)
        if references.ndim != 2 or references.shape[1] != self.embedding_dim:
            raise ValueError(
                f"reference_embeddings must have shape ({self.embedding_dim},) or "
                f"(R, {self.embedding_dim}), got {np.shape(reference_embeddings)}."
            )
        if not np.all(np.linalg.norm(references, axis=1) > 0):
            raise ValueError("A reference embedding is all zeros; it has no direction.")
        return _l2_normalise(references)

    def similarity_model(self, reference_embeddings: Any) -> Any:
        """A flat Keras model scoring pictures by cosine similarity to reference embeddings.

        Grad-CAM then explains "how much does this picture look like that one to CLIP" with
        the same code that explains a class. The vision encoder's layers sit at the top level of
        the returned model (it is built from ``vision_encoder.input``), so
        :attr:`gradcam_layer_name` can be read with ``get_layer``, which
        :meth:`image_model_for_gradcam`'s nested model does not allow.

        Inputs: the vision encoder's input (preprocessed pixels, see
        :meth:`preprocess_images`; keras-hub names it ``"images"``).

        Outputs: ``(N, R)``, the cosine of each picture's embedding with each of the ``R``
        references: ``Dense(R)`` with the unit-length references as fixed weights, applied to
        the unit-normalised projected embedding. The same number as
        ``embed_images(pictures) @ references.T``.

        Each call builds a new small head over the shared backbone (no weights are copied).

        Args:
            reference_embeddings: ``(D,)`` or ``(R, D)`` embeddings, e.g. from
                :meth:`embed_images`; normalised here, so unnormalised ones are fine too.

        Returns:
            The ``keras.Model``.

        Raises:
            ValueError: The embeddings are not ``D``-dimensional, or one is all zeros.
        """
        keras = self._keras
        references = self._unit_references(reference_embeddings)

        vision = self.backbone.vision_encoder
        sequence = vision.output
        if isinstance(sequence, dict):
            sequence = sequence["sequence_output"]
        embedding = self.backbone.vision_projection(self.backbone.vision_pooler(sequence))
        unit = keras.layers.UnitNormalization(axis=-1, name="unit_embedding")(embedding)
        return keras.Model(vision.input, self._cosines(unit, references), name="clip_similarity")

    def _build_gradcam_model(self) -> Any:
        """Assemble the Grad-CAM model from the existing functional graphs."""
        keras = self._keras
        vision = self.backbone.vision_encoder
        taps = vision.get_layer(self.gradcam_layer_name).output
        # Re-uses the encoder's own graph, so the activations are those of the
        # exact computation embed_images runs, with no layer call patched.
        sequence = vision.output
        if isinstance(sequence, dict):
            # Encoders configured with `intermediate_output_index` return a dict.
            sequence = sequence["sequence_output"]
        tapped = keras.Model(vision.input, [taps, sequence], name="clip_vision_taps")
        pixels = keras.Input(shape=(*self.image_size, 3), name="images")
        activations, sequence = tapped({"images": pixels})
        pooled = self.backbone.vision_pooler(sequence)
        embedding = self.backbone.vision_projection(pooled)
        return keras.Model(pixels, [activations, embedding], name="clip_gradcam")


# === Process-wide default ===


def _default_preset_path() -> Path:
    """Resolve the default checkpoint; WeightsUnavailable propagates to the UI."""
    from weights import resolve

    return resolve(WEIGHTS_NAME)


def get_clip() -> CLIPModel:
    """The process-wide model, loaded on first use.

    Thread-safe: concurrent first calls load the checkpoint once and all
    receive the same instance. A failed load is not remembered, so a later
    call retries (e.g. after the weights were downloaded).

    Returns:
        The shared :class:`CLIPModel`.

    Raises:
        weights.WeightsUnavailable: The checkpoint is not on this machine.
    """
    global _default
    model = _default
    if model is None:
        with _default_lock:
            if _default is None:
                _default = CLIPModel.from_preset(_default_preset_path())
            model = _default
    return model


def reset_default() -> None:
    """Drop the shared model so the next :func:`get_clip` loads again (for tests)."""
    global _default
    with _default_lock:
        _default = None


def embed_images(images: Any, batch_size: int = IMAGE_BATCH) -> np.ndarray:
    """L2-normalised image embeddings from the default model.

    See :meth:`CLIPModel.embed_images`.
    """
    return get_clip().embed_images(images, batch_size=batch_size)


def embed_texts(texts: str | Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Cached, L2-normalised text embeddings from the default model.

    See :meth:`CLIPModel.embed_texts`.
    """
    return get_clip().embed_texts(texts, batch_size=batch_size)


def zero_shot(images: Any, prompts: Mapping[str, Sequence[str]]) -> np.ndarray:
    """Zero-shot probabilities ``(N, L)`` from the default model.

    See :meth:`CLIPModel.zero_shot`.
    """
    return get_clip().zero_shot(images, prompts)
