"""The frozen backbones the tag head reads: CLIP's image tower or an ImageNet EfficientNet-B0.

The research ("Social Image Description Platform", `../shared/seeds/003_*`) embeds each photo
once with a frozen CNN (Inception-v3 there) and trains a multilayer perceptron on the cached
vectors. Here the backbone is one of `BACKBONES`:

- "clip": the shared CLIP ViT-B/32 (`models.clip`, manifest artifact "clip"): its unit-length
  image embedding;
- "efficientnet": EfficientNet-B0 (manifest artifact "efficientnet_b0",
  `hf://timm/efficientnet_b0.ra_in1k`, converted by keras-hub): its final feature map, normalised
  with the statistics it was trained on, global-average pooled and scaled to unit length.

Training and inference must see the same pixels, so every photo goes through one function,
`square_resize` (shorter side to the backbone's input size, central square crop, antialiased
bilinear, back to uint8), both inside the cache's tf.data pipeline and in `embed_photos`, which
the tab calls. `Embedder.key` names the backbone and a fingerprint of its weight files, so a
cache built with other weights is never read for these.

Nothing heavy is imported here until a backbone is loaded.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

__all__ = ["ARTIFACTS", "BACKBONES", "Embedder", "load_embedder", "reset_embedders",
           "square_resize"]

BACKBONES = ("clip", "efficientnet")

ARTIFACTS = {"clip": "clip", "efficientnet": "efficientnet_b0"}
"""Backbone name -> its artifact in weights/manifest.toml."""

EFFICIENTNET_INPUT_SIZE = 224
"""EfficientNet-B0's ImageNet resolution (CLIP states its own in the preset)."""

PREPROCESSING = "square_resize: central square, antialiased bilinear, uint8; v1"
"""Hashed into every key: a change to `square_resize` must make old caches unreadable."""

BATCH_SIZE = 32
"""Photos a forward pass in `embed`; bounds the memory of one call."""

_FINGERPRINT_SUFFIXES = (".json", ".h5", ".safetensors", ".keras")
_KEY_HEX = 16


def _tensorflow():
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    return tf


def square_resize(image, size: int):
    """The backbone's view of a photo: the central square (side: the shorter side) resized to
    `size` x `size`, antialiased bilinear, rounded back to uint8.

    Plain TensorFlow ops, so the cache's tf.data pipeline traces exactly the function
    `Embedder.embed_photos` runs: a cached training vector and the vector of the same photo
    at inference agree.

    Args:
        image: a (height, width, 3) uint8 tensor or array, any size.
        size: the side of the output.

    Returns:
        A (size, size, 3) uint8 tensor.
    """
    import tensorflow as tf  # (not _tensorflow(): this body is traced, and needs no Keras)

    image = tf.convert_to_tensor(image, dtype=tf.uint8)
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    side = tf.minimum(height, width)
    top = (height - side) // 2
    left = (width - side) // 2
    square = image[top:top + side, left:left + side, :]
    resized = tf.image.resize(square, (size, size), method="bilinear", antialias=True)
    pixels = tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)
    return tf.ensure_shape(pixels, (size, size, 3))


def _l2_normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class Embedder:
    """One loaded backbone: square uint8 photos in, unit-length vectors out.

    Safe to share between threads: the forward pass is a `tf.function` with a fixed
    signature and no Python state.

    Attributes:
        name: "clip" or "efficientnet".
        key: name + ":" + 16 hex digits of sha256 over the weight folder's config and weight
            files (and the preprocessing's version); the bottleneck cache's key.
        folder: the weights folder it was loaded from.
        input_size: the side of the square photos `embed` takes.
        dimension: the length D of a vector.
        model: the loaded network (a `models.clip.CLIPModel`, or the EfficientNetBackbone).
        identity: the `models.artifacts.ArtifactIdentity` of the files `load_embedder` loaded
            it from (None otherwise); what adapters derived from it are cached under.
    """

    def __init__(self, name: str, key: str, folder: Path, input_size: int, dimension: int,
                 forward: Callable[[np.ndarray], np.ndarray], model=None,
                 gradcam_graph: Callable[[], tuple] | None = None):
        self.name = name
        self._gradcam_graph = gradcam_graph
        self.key = key
        self.folder = Path(folder)
        self.input_size = int(input_size)
        self.dimension = int(dimension)
        self.model = model
        self.identity = None
        self._forward = forward
        tf = _tensorflow()
        self._square = tf.function(
            lambda image: square_resize(image, self.input_size),
            input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])

    def __repr__(self) -> str:
        return f"Embedder({self.key!r}, {self.input_size}px -> {self.dimension})"

    def embed(self, batch: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Embed photos already resized by `square_resize`.

        Args:
            batch: (N, input_size, input_size, 3) uint8.
            batch_size: photos a forward pass.

        Returns:
            (N, dimension) float32, unit-length rows.

        Raises:
            ValueError: `batch` is not such an array.
        """
        batch = np.asarray(batch)
        expected = (self.input_size, self.input_size, 3)
        if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[1:] != expected:
            raise ValueError(f"embed takes (N, {self.input_size}, {self.input_size}, 3) uint8 "
                             f"photos (square_resize), got {batch.dtype} {batch.shape}.")
        if len(batch) == 0:
            return np.zeros((0, self.dimension), np.float32)
        parts = [self._forward(batch[start:start + batch_size])
                 for start in range(0, len(batch), batch_size)]
        return _l2_normalise(np.concatenate(parts, axis=0))

    def square(self, photo: np.ndarray) -> np.ndarray:
        """`square_resize(photo, input_size)` as a uint8 array."""
        return self._square(photo).numpy()

    def input_box(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(top, left, side, side): the central square of a height x width photo, the part
        `square_resize` keeps, so a heat map is pasted back where the backbone looked."""
        side = min(int(height), int(width))
        return (int(height) - side) // 2, (int(width) - side) // 2, side, side

    def gradcam_adapter(self, head_model, output_names: Sequence[str],
                        work_side: int | None = None):
        """An `explain.KerasModel` from photos to `head_model`'s outputs through this backbone.

        The graph is the one `embed_photos` runs, with the head on top: `square_resize`, the
        backbone's own normalisation, the backbone, its unit-length vector, the head. So
        Grad-CAM explains the very probabilities the head gives for cached vectors. Grad-CAM
        reads the backbone's last feature grid: EfficientNet's final feature map, CLIP's patch
        tokens entering its last block.

        Args:
            head_model: a Keras model from (N, dimension) vectors to (N, T) outputs.
            output_names: the T output names.
            work_side: passed to KerasModel (the faithfulness curves' working size).

        Raises:
            ValueError: this backbone has no Grad-CAM graph.
        """
        if self._gradcam_graph is None:
            raise ValueError(f"The {self.name} backbone has no Grad-CAM graph.")
        import keras

        from explain import KerasModel

        tf = _tensorflow()
        inputs, unit, cam_layer, normalise = self._gradcam_graph()
        model = keras.Model(inputs, head_model(unit), name=f"{self.name}_tags_head")
        size = self.input_size

        def preprocess(images):
            # Each photo of a batch exactly as embed_photos squares it, then normalised.
            squares = tf.map_fn(lambda image: square_resize(image, size), images,
                                fn_output_signature=tf.TensorSpec((size, size, 3), tf.uint8))
            return normalise(squares)

        return KerasModel(model, preprocess=preprocess, cam_layer=cam_layer,
                          output_names=list(output_names), input_box=self.input_box,
                          work_side=work_side)

    def embed_photos(self, photos: Sequence[np.ndarray],
                     batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Embed decoded photos of any size, as the cache embeds photo files.

        Args:
            photos: (height, width, 3) uint8 RGB arrays (`models.images.load_image` gives them),
                or one (N, height, width, 3) array.
            batch_size: photos a forward pass.

        Returns:
            (N, dimension) float32, unit-length rows, in the order of `photos`.

        Raises:
            ValueError: a photo is not a non-empty uint8 RGB array.
        """
        squares = []
        for index, photo in enumerate(photos):
            if (not isinstance(photo, np.ndarray) or photo.dtype != np.uint8 or photo.ndim != 3
                    or photo.shape[2] != 3 or min(photo.shape[:2]) < 1):
                described = (f"{photo.dtype} {photo.shape}" if isinstance(photo, np.ndarray)
                             else type(photo).__name__)
                raise ValueError(f"photos[{index}] must be a (height, width, 3) uint8 RGB "
                                 f"array, got {described}.")
            squares.append(self.square(photo))
        if not squares:
            return np.zeros((0, self.dimension), np.float32)
        return self.embed(np.stack(squares), batch_size=batch_size)


# === Fingerprints ===

_FINGERPRINTS_KEPT = 16
_fingerprints: OrderedDict[tuple, str] = OrderedDict()
"""(folder, input size, its files' stat signature) -> fingerprint, the latest few."""
_fingerprints_lock = threading.Lock()


def _weight_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir()
                  if path.is_file() and path.name.endswith(_FINGERPRINT_SUFFIXES))


def _stat_signature(folder: Path) -> tuple:
    """What would change if the weights did: each hashed file's name, size and mtime."""
    signature = []
    for path in _weight_files(folder):
        stat = path.stat()
        signature.append((path.name, stat.st_size, stat.st_mtime_ns))
    return tuple(signature)


def fingerprint(folder: str | Path, input_size: int) -> str:
    """16 hex digits of sha256 over the folder's config and weight files (name and bytes) and
    the preprocessing; computed once per folder while its files are unchanged."""
    folder = Path(folder).resolve()
    memo = (str(folder), input_size, _stat_signature(folder))
    with _fingerprints_lock:
        known = _fingerprints.get(memo)
    if known is not None:
        return known
    digest = hashlib.sha256(f"{PREPROCESSING}; {input_size} px\n".encode())
    for path in _weight_files(folder):
        digest.update(f"{path.name}\n".encode())
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    value = digest.hexdigest()[:_KEY_HEX]
    with _fingerprints_lock:
        _fingerprints[memo] = value
        while len(_fingerprints) > _FINGERPRINTS_KEPT:
            _fingerprints.popitem(last=False)
    return value


# === Loading ===

_EMBEDDERS_KEPT = 2
"""Backbones kept loaded: one of each kind, or two folders of one."""
_embedders: OrderedDict[tuple[str, str], Embedder] = OrderedDict()
"""(backbone name, folder) -> its embedder, least recently used first; each embedder's
`identity` says which copy of the files it was loaded from."""
_load_lock = threading.Lock()


def _identity(name: str, folder: Path):
    """The identity of the backbone's config and weight files in `folder` as they are now."""
    from models.artifacts import identity_of

    files = [path.name for path in _weight_files(folder)] if folder.is_dir() else []
    return identity_of(folder, files, ARTIFACTS[name])


def load_embedder(name: str, folder: str | Path | None = None) -> Embedder:
    """The backbone `name`, loaded once per weights folder and copy of its files.

    Args:
        name: "clip" or "efficientnet".
        folder: its weights folder; None resolves the manifest artifact (`ARTIFACTS`) with
            `weights.resolve` ($INSTAVIS_WEIGHTS_DIR/<artifact>/, shipped, cached, the Hub).
            For CLIP the app's shared model (`models.clip.get_clip`) is used when it was
            loaded from that folder.

    Returns:
        The `Embedder`; the same object for the same folder while its files are unchanged
        (name, size, modification time and inode of each config and weight file). A folder
        whose files changed is loaded again, replacing the old copy; at most
        `_EMBEDDERS_KEPT` backbones are kept, the least recently used dropped first.

    Raises:
        weights.WeightsUnavailable: the artifact is on no path the resolver looks at.
        ValueError: `name` is not a backbone, or the folder does not load as one.
    """
    if name not in BACKBONES:
        raise ValueError(f"backbone: got {name!r}; expected one of {', '.join(BACKBONES)}.")
    resolved = folder is None
    if resolved:
        import weights

        folder = weights.resolve(ARTIFACTS[name])  # WeightsUnavailable goes up as it is
    folder = Path(folder).resolve()
    slot = (name, str(folder))
    with _load_lock:
        identity = _identity(name, folder)
        loaded = _embedders.get(slot)
        if loaded is not None and loaded.identity == identity:
            _embedders.move_to_end(slot)
            return loaded
        # A replaced backbone: drop the old copy before loading the new one. The app's shared
        # CLIP is never reloaded, so after a replacement it may hold the old weights: the new
        # copy is then read from the folder itself.
        _embedders.pop(slot, None)
        if name == "clip":
            embedder = _load_clip(folder, share=resolved and loaded is None)
        else:
            embedder = _load_efficientnet(folder)
        embedder.identity = identity
        _embedders[slot] = embedder
        while len(_embedders) > _EMBEDDERS_KEPT:
            _embedders.popitem(last=False)
        return embedder


def reset_embedders() -> None:
    """Forget every loaded backbone (tests)."""
    with _load_lock:
        _embedders.clear()


def _load_clip(folder: Path, share: bool) -> Embedder:
    from models import clip

    model = None
    if share:  # the manifest's CLIP: share the app's model rather than load a second copy
        shared = clip.get_clip()
        if shared.path is not None and shared.path.resolve() == folder:
            model = shared
    if model is None:
        model = clip.CLIPModel.from_preset(folder)
    height, width = model.image_size
    if height != width:
        raise ValueError(f"The CLIP preset in {folder} takes {height} x {width} images; the tag "
                         "pipeline needs square ones.")

    def forward(batch: np.ndarray) -> np.ndarray:
        return model.embed_images(batch, batch_size=len(batch))

    def gradcam_graph():
        import keras

        vision = model.backbone.vision_encoder
        sequence = vision.output
        if isinstance(sequence, dict):
            sequence = sequence["sequence_output"]
        embedding = model.backbone.vision_projection(model.backbone.vision_pooler(sequence))
        unit = keras.layers.UnitNormalization(axis=-1, name="unit_embedding")(embedding)
        return vision.input, unit, model.gradcam_layer_name, model.preprocess_graph

    return Embedder("clip", f"clip:{fingerprint(folder, height)}", folder, height,
                    model.embedding_dim, forward, model=model, gradcam_graph=gradcam_graph)


def _load_efficientnet(folder: Path) -> Embedder:
    from models.backbones import load_backbone, normalisation_stats

    tf = _tensorflow()
    backbone = load_backbone(ARTIFACTS["efficientnet"], "EfficientNetBackbone", folder)
    mean, std = normalisation_stats(folder)
    mean = tf.constant([255.0 * m for m in mean], tf.float32)
    std = tf.constant([255.0 * s for s in std], tf.float32)
    size = EFFICIENTNET_INPUT_SIZE

    @tf.function(input_signature=[tf.TensorSpec([None, size, size, 3], tf.uint8)])
    def pooled(batch):
        pixels = (tf.cast(batch, tf.float32) - mean) / std
        features = backbone(pixels, training=False)
        return tf.reduce_mean(features, axis=(1, 2))

    dimension = int(pooled.get_concrete_function().structured_outputs.shape[-1])

    def forward(batch: np.ndarray) -> np.ndarray:
        return pooled(tf.constant(batch)).numpy()

    def gradcam_graph():
        import keras

        features = backbone.output  # the final feature map, Grad-CAM's grid
        vector = keras.layers.GlobalAveragePooling2D(name="pooled_features")(features)
        unit = keras.layers.UnitNormalization(axis=-1, name="unit_embedding")(vector)
        return (backbone.input, unit, features._keras_history.operation.name,
                lambda squares: (tf.cast(squares, tf.float32) - mean) / std)

    return Embedder("efficientnet", f"efficientnet:{fingerprint(folder, size)}", folder, size,
                    dimension, forward, model=backbone, gradcam_graph=gradcam_graph)
