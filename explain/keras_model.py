"""A Keras functional model, for every method including the gradient ones."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

from explain.model_base import ModelAdapter

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# Layers that pass a GAP vector to the classifier unchanged in shape at inference time.
_PASS_THROUGH = ("Dropout", "Activation", "Identity", "SpatialDropout1D")

MAX_BATCH_PIXELS = 2**21
"""The most pixels one model call takes, counting each image at the larger of its own size and
the size `preprocess` turns it into. A network's activations grow with the pixels it reads, and
TensorFlow's CPU allocator keeps the largest call's memory for the rest of the process. 32
CLIP inputs (224 x 224) fit; 32 panoramas that the quality model's preprocessing upsamples to
2048 x 256 took over a gigabyte, and now go 4 at a time."""

_ANY_COLUMN = object()
"""The key of the one gradient function that serves every output column."""

GRADIENT_FUNCTIONS = 8
"""Compiled gradient functions kept per model, one per target function, least recently used
dropped first: a caller who passes a new callable target on each call gets a new function
each time, and each holds its own traced graphs."""

_INPUT_SIZES = 16  # image sizes whose preprocessed size is remembered


class KerasModel(ModelAdapter):
    """Wrap a Keras functional model for Grad-CAM, CAM, LIME and SHAP.

    Args:
        keras_model: a functional keras.Model with one output, N x K (or N).
        preprocess: turns a uint8 image batch (a tf.Tensor, N x H x W x 3) into the model's
            input inside a tf.function. Default: cast to float32 (0 to 255) and, when the model's
            input has a fixed size, resize to it.
        cam_layer: the layer Grad-CAM and CAM read (name or layer). Default: the last layer
            with a spatial (N x h x w x C) output. For a ViT, name a token layer (N x T x C):
            the class token is dropped and the rest reshaped to the patch grid.
        output_names: one name per output.
        batch_size: images per model call.
        input_box: (height, width) -> (top, left, box_height, box_width), the part of the image
            the model sees after `preprocess` (for a centre crop); default the whole image.
        work_side: longest side of the copy the faithfulness curves (and perturbation
            methods) work on (None: explain's default).
    """

    supports_gradients = True

    def __init__(self, keras_model, preprocess: Callable | None = None, cam_layer=None,
                 output_names: Sequence[str] | None = None, batch_size: int = 32,
                 input_box: Callable[[int, int], tuple[int, int, int, int]] | None = None,
                 work_side: int | None = None):
        import tensorflow as tf

        super().__init__(output_names, batch_size, work_side)
        self.model = keras_model
        self._tf = tf
        shape = tuple(keras_model.output.shape)
        self._n_outputs = 1 if len(shape) == 1 else int(shape[-1])
        if self.output_names is not None and len(self.output_names) != self._n_outputs:
            raise ValueError(f"{len(self.output_names)} output names for "
                             f"{self._n_outputs} outputs.")
        input_shape = tuple(keras_model.inputs[0].shape)
        self.input_size = (
            (int(input_shape[1]), int(input_shape[2]))
            if len(input_shape) == 4 and None not in input_shape[1:3] else None
        )
        self.preprocess = preprocess or self._default_preprocess
        self.input_box = input_box
        self._cam_layer_spec = cam_layer
        self._cam_model = None
        self._cam_model_layer = None  # the layer _cam_model reads
        self._lock = threading.Lock()
        # Every compiled function takes any batch of any photo size from its first trace:
        # `reduce_retracing` traced the first size exactly and then a general one, and each
        # trace of a CLIP-sized model's passes holds tens of MiB for the life of the process.
        self._photos_spec = tf.TensorSpec([None, None, None, 3], tf.uint8)
        self._forward = tf.function(self._forward_graph, input_signature=[self._photos_spec])
        self._gradient_fns: OrderedDict = OrderedDict()
        self._activations_fn = None
        self._input_pixels: OrderedDict[tuple[int, int], int] = OrderedDict()

    # === Prediction ===

    @property
    def n_outputs(self) -> int:
        return self._n_outputs

    def _default_preprocess(self, images):
        tf = self._tf
        images = tf.cast(images, tf.float32)
        if self.input_size is not None:
            images = tf.image.resize(images, self.input_size, antialias=True)
        return images

    def _forward_graph(self, images):
        inputs = self.preprocess(images)
        if isinstance(self.model.input, dict) and len(self.model.input) == 1:
            # keras-hub encoders name their input ({"images": ...}); feed it by that name.
            inputs = {next(iter(self.model.input)): inputs}
        outputs = self.model(inputs, training=False)
        return outputs if len(outputs.shape) == 2 else outputs[:, None]

    def _predict_batch(self, images: np.ndarray) -> np.ndarray:
        return self._forward(self._tf.constant(images)).numpy()

    def images_per_call(self, size: tuple[int, int]) -> int:
        """Images of `size` per model call: `batch_size`, fewer when they would exceed
        MAX_BATCH_PIXELS (never fewer than one)."""
        pixels = max(int(size[0]) * int(size[1]), self.model_input_pixels(size))
        return max(1, min(super().images_per_call(size), MAX_BATCH_PIXELS // max(pixels, 1)))

    def model_input_pixels(self, size: tuple[int, int]) -> int:
        """Pixels of one image of `size` (height, width) after `preprocess`, which may resize
        it (the quality model's preprocessing brings the shorter side to 256, so a 512 x 64
        panorama becomes 2048 x 256). Found by preprocessing one blank image, once per size."""
        key = (int(size[0]), int(size[1]))
        with self._lock:
            if key in self._input_pixels:
                self._input_pixels.move_to_end(key)
                return self._input_pixels[key]
        tf = self._tf
        shape = tf.nest.flatten(self.preprocess(tf.zeros((1, *key, 3), tf.uint8)))[0].shape
        # A token input or a model without spatial input: count the image's own pixels.
        pixels = int(shape[1]) * int(shape[2]) if len(shape) == 4 else key[0] * key[1]
        with self._lock:
            self._input_pixels[key] = pixels
            while len(self._input_pixels) > _INPUT_SIZES:
                self._input_pixels.popitem(last=False)
        return pixels

    # === The layer CAM methods read ===

    @property
    def cam_layer(self):
        """The layer Grad-CAM and CAM read."""
        spec = self._cam_layer_spec
        if spec is None:
            for layer in reversed(self.model.layers):
                shape = _output_shape(layer)
                if shape is not None and len(shape) == 4 and (shape[1] or 2) > 1:
                    return layer
            raise ValueError(
                "The model has no layer with a spatial (N x h x w x C) output; pass cam_layer "
                "(for a ViT, the name of a token layer)."
            )
        if isinstance(spec, str):
            try:
                return self.model.get_layer(spec)
            except ValueError:
                raise ValueError(f"The model has no layer named {spec!r}.") from None
        return spec

    @property
    def cam_layer_name(self) -> str:
        """The name Grad-CAM and CAM report for the layer they read."""
        return self.cam_layer.name

    def cam_model(self):
        """keras.Model(inputs, [cam layer output, model output]), built once."""
        import keras

        with self._lock:
            if self._cam_model is None:
                layer = self.cam_layer
                try:
                    self._cam_model = keras.Model(self.model.inputs,
                                                  [layer.output, self.model.output])
                    self._cam_model_layer = layer
                except Exception as error:  # noqa: BLE001 - explain the cause in one line
                    raise ValueError(
                        f"Layer {layer.name!r} is not connected to the model's inputs in its "
                        f"functional graph ({type(error).__name__}); pick a top-level layer."
                    ) from None
            return self._cam_model

    def activations(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(cam layer activations, outputs) for a uint8 batch; one forward pass."""
        if self._activations_fn is None:
            model = self.cam_model()
            self._activations_fn = self._tf.function(
                lambda batch: model(self.preprocess(batch), training=False),
                input_signature=[self._photos_spec],
            )
        acts, outs = self._activations_fn(self._tf.constant(images))
        self._count(len(images))
        return np.asarray(acts), _as_2d(np.asarray(outs))

    def gradients(self, images: np.ndarray, score: Callable) -> tuple[np.ndarray, ...]:
        """(activations, d score / d activations, outputs) for a uint8 batch.

        One forward and one backward pass, compiled once for every output column (a target
        made by `explain.targets` for an output index or name: the column is an argument of the
        graph) and once per other target function (the GRADIENT_FUNCTIONS most recently used
        are kept). A graph of a CLIP-sized model's backward pass holds about 50-70 MiB, so a
        graph per tag or style would grow the process with every new top class.
        """
        tf = self._tf
        column = getattr(score, "output_index", None)
        key = _ANY_COLUMN if column is not None else score
        with self._lock:
            fn = self._gradient_fns.get(key)
            if fn is not None:
                self._gradient_fns.move_to_end(key)
        if fn is None:
            model = self.cam_model()

            def run(images, column):
                with tf.GradientTape() as tape:
                    acts, outs = model(self.preprocess(images), training=False)
                    tape.watch(acts)
                    outs2d = outs if len(outs.shape) == 2 else outs[:, None]
                    scores = (outs2d[:, column] if key is _ANY_COLUMN else score(outs2d))
                    total = tf.reduce_sum(scores)
                return acts, tape.gradient(total, acts), outs2d

            fn = tf.function(run, input_signature=[self._photos_spec,
                                                   tf.TensorSpec([], tf.int32)])
            with self._lock:
                fn = self._gradient_fns.setdefault(key, fn)
                while len(self._gradient_fns) > GRADIENT_FUNCTIONS:
                    self._gradient_fns.popitem(last=False)
        acts, grads, outs = fn(tf.constant(images), tf.constant(column or 0, tf.int32))
        self._count(len(images))
        return np.asarray(acts), np.asarray(grads), np.asarray(outs)

    def gap_dense_head(self):
        """(kernel C x K, bias K) of a conv -> GlobalAveragePooling2D -> Dense head.

        CAM (Zhou et al. 2016) weights the last conv features by the class's dense weights, so
        it is defined only for that head. Also makes sure `cam_layer` is the pooled layer.

        Raises:
            ValueError: the model does not end in GlobalAveragePooling2D -> Dense.
        """
        op = _producer(self.model.output)
        while op is not None and type(op).__name__ in ("Activation", "Softmax"):
            op = _producer(op.input)
        if op is None or type(op).__name__ != "Dense":
            raise ValueError(
                "CAM needs a model that ends in GlobalAveragePooling2D -> Dense, but this one "
                f"ends in {type(op).__name__ if op else 'nothing'}; use gradcam instead."
            )
        dense = op
        op = _producer(dense.input)
        while op is not None and type(op).__name__ in _PASS_THROUGH:
            op = _producer(op.input)
        if op is None or type(op).__name__ != "GlobalAveragePooling2D":
            raise ValueError(
                "CAM needs GlobalAveragePooling2D right before the final Dense layer, found "
                f"{type(op).__name__ if op else 'nothing'}; use gradcam instead."
            )
        pooled = _producer(op.input)
        # Under the lock that cam_model() builds under: a concurrent Grad-CAM either builds
        # its model after this (on the pooled layer) or before it, on a layer found by
        # itself; such a model is dropped here unless it reads the pooled layer already.
        with self._lock:
            if self._cam_layer_spec is None:
                self._cam_layer_spec = pooled
                if self._cam_model is not None and self._cam_model_layer is not pooled:
                    self._cam_model, self._activations_fn = None, None
                    self._gradient_fns.clear()
            elif self.cam_layer is not pooled:
                raise ValueError(
                    f"CAM must read the pooled layer {pooled.name!r}, not "
                    f"{self.cam_layer.name!r}."
                )
        kernel, *rest = dense.get_weights()
        bias = rest[0] if rest else np.zeros(kernel.shape[1], np.float32)
        return np.asarray(kernel), np.asarray(bias)


def _producer(tensor):
    history = getattr(tensor, "_keras_history", None)
    return history.operation if history is not None else None


def _output_shape(layer):
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):
        return None


def _as_2d(outputs: np.ndarray) -> np.ndarray:
    return outputs if outputs.ndim == 2 else outputs[:, None]
