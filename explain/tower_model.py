"""Many models that share one network and differ in a small head: compiled once, not per head.

CLIP's numbers are all "the vision tower's unit embedding, then a few cheap layers": cosines
with a style's prompts and a softmax, with each tag's prompts and counter-prompts and a sigmoid,
with the content prompts and a calibrated sigmoid, with a reference photo's embedding. Built as
one `KerasModel` each, every one of them compiled its own forward and gradient passes through
the whole tower, and a ViT-B/32's pair held about 60 MiB for the life of the process (measured
in-process: Grad-CAM's pass +40 MiB, the forward +20): three tabs' adapters were 180 MiB, and a
new set of tags or labels was another 60 MiB and several seconds of tracing.

Here the tower's two passes are compiled once per tower (`EmbeddingTower`), and each head runs
eagerly on the embeddings (`TowerHeadModel`). Grad-CAM's gradient goes through the chain rule:
the head's gradient with respect to the embedding (a small eager tape), then the tower's
vector-Jacobian product from the embedding back to the CAM layer (compiled, shared). That is
the same gradient as differentiating the whole model at once, for one more forward pass of the
tower.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from explain.model_base import ModelAdapter

os.environ.setdefault("KERAS_BACKEND", "tensorflow")


class EmbeddingTower:
    """The shared part: photos -> (one layer's activations, an embedding), compiled once.

    Args:
        keras_model: a functional keras.Model from the network's input to two outputs,
            [the CAM layer's activations (N x h x w x C, or N x T x C for a ViT), the
            embedding (N x D)].
        preprocess: uint8 photos (a tf.Tensor N x H x W x 3) -> the model's input, inside a
            tf.function.
        cam_layer_name: the name Grad-CAM reports for the layer the activations come from.
        input_box: (height, width) -> (top, left, box_height, box_width), the part of a photo
            the network sees (a centre crop); None for the whole photo.
    """

    def __init__(self, keras_model, preprocess: Callable, cam_layer_name: str,
                 input_box: Callable[[int, int], tuple[int, int, int, int]] | None = None):
        import tensorflow as tf

        self.model = keras_model
        self.preprocess = preprocess
        self.cam_layer_name = str(cam_layer_name)
        self.input_box = input_box
        self.embedding_dim = int(keras_model.outputs[1].shape[-1])
        self._tf = tf
        photos = tf.TensorSpec([None, None, None, 3], tf.uint8)
        # Any batch of any photo size from the first trace (as KerasModel's functions).
        self._embed = tf.function(self._embed_graph, input_signature=[photos])
        self._pull_back = tf.function(
            self._pull_back_graph,
            input_signature=[photos, tf.TensorSpec([None, self.embedding_dim], tf.float32)])

    def _outputs(self, photos):
        return self.model(self.preprocess(photos), training=False)

    def _embed_graph(self, photos):
        return self._outputs(photos)[1]

    def _pull_back_graph(self, photos, cotangent):
        tf = self._tf
        with tf.GradientTape() as tape:
            activations, embedding = self._outputs(photos)
            tape.watch(activations)
            total = tf.reduce_sum(embedding * cotangent)
        return activations, tape.gradient(total, activations)

    def embed(self, photos):
        """The embeddings (a float32 tf.Tensor N x D) of a uint8 tf.Tensor of photos."""
        return self._embed(photos)

    def pull_back(self, photos, cotangent):
        """(activations, d sum(cotangent * embedding) / d activations) for a uint8 tf.Tensor
        of photos and an N x D cotangent: the gradient of any number computed from the
        embedding, given that number's gradient with respect to the embedding."""
        return self._pull_back(photos, self._tf.cast(cotangent, self._tf.float32))

    def tracing_count(self) -> int:
        """How many graphs the tower's two passes have traced (one each, once used)."""
        return (self._embed.experimental_get_tracing_count()
                + self._pull_back.experimental_get_tracing_count())


class TowerHeadModel(ModelAdapter):
    """A model that is `head(tower(photos))`, for Grad-CAM, LIME and SHAP.

    Args:
        tower: the shared EmbeddingTower.
        head: a Keras model (or any callable on a float32 tf.Tensor N x D) giving the outputs,
            N x K (or N); run eagerly, so a new head compiles nothing.
        output_names: one name per output.
        batch_size: photos per call of the tower.
        work_side: longest side of the copy faithfulness curves and perturbation methods work
            on (None: explain's default).
        prepare: uint8 photos (a tf.Tensor) -> uint8 photos, run eagerly before the tower: a
            change of the photos that belongs to this model alone (Pose fills the people of a
            photo with its background), so that the tower stays shared.
    """

    supports_gradients = True

    def __init__(self, tower: EmbeddingTower, head, output_names: Sequence[str] | None = None,
                 batch_size: int = 32, work_side: int | None = None,
                 prepare: Callable | None = None):
        import tensorflow as tf

        super().__init__(output_names, batch_size, work_side)
        self.tower = tower
        self.head = head
        self.prepare = prepare
        self.input_box = tower.input_box
        self._tf = tf
        probe = self._head_2d(tf.zeros((1, tower.embedding_dim), tf.float32))
        self._n_outputs = int(probe.shape[1])
        if self.output_names is not None and len(self.output_names) != self._n_outputs:
            raise ValueError(f"{len(self.output_names)} output names for "
                             f"{self._n_outputs} outputs.")

    @property
    def n_outputs(self) -> int:
        return self._n_outputs

    @property
    def cam_layer_name(self) -> str:
        return self.tower.cam_layer_name

    def _photos(self, images: np.ndarray):
        photos = self._tf.constant(images)
        return photos if self.prepare is None else self.prepare(photos)

    def _head_2d(self, embedding):
        outputs = self.head(embedding, training=False) if _is_keras(self.head) \
            else self.head(embedding)
        outputs = self._tf.convert_to_tensor(outputs)
        return outputs if len(outputs.shape) == 2 else outputs[:, None]

    def _predict_batch(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self._head_2d(self.tower.embed(self._photos(images))))

    def gradients(self, images: np.ndarray, score: Callable) -> tuple[np.ndarray, ...]:
        """(activations, d score / d activations, outputs) for a uint8 batch: the head's
        gradient with respect to the embedding, pulled back through the shared tower."""
        tf = self._tf
        photos = self._photos(images)
        embedding = self.tower.embed(photos)
        column = getattr(score, "output_index", None)
        with tf.GradientTape() as tape:
            tape.watch(embedding)
            outputs = self._head_2d(embedding)
            total = tf.reduce_sum(outputs[:, column] if column is not None else score(outputs))
        activations, gradients = self.tower.pull_back(photos, tape.gradient(total, embedding))
        self._count(len(images))
        return np.asarray(activations), np.asarray(gradients), np.asarray(outputs)


def _is_keras(head) -> bool:
    try:
        import keras
    except ImportError:  # pragma: no cover - the package needs Keras for this module anyway
        return False
    return isinstance(head, keras.Model)

