"""The research's tagger: a multilayer perceptron on a photo's embedding, one sigmoid per tag.

"Social Image Description Platform" (../shared/seeds/003_*) embeds each MIRFLICKR-25K photo once
with a CNN and trains a multilayer perceptron on the embeddings to predict the 24 concepts, each
an independent yes/no (sigmoid outputs, binary cross-entropy). Its configurations were named
like "1hidden-1500"; so are ours (`parse_configuration`):

- "0hidden": no hidden layer, i.e. logistic regression per tag;
- "<k>hidden-<width>", k from 1 to 3, width from 8 to 4096: k blocks of Dense(width, relu) and
  Dropout, then Dense(tags, sigmoid). "1hidden-1500" is the research's and the default.

The network reads the embedding standardised with the training split's mean and variance (a
Normalization layer saved inside the model), so it takes the embedder's output as it comes.

`python -m models.train tags` writes an artifact folder: `tags_head.keras` (MODEL_FILE) and
`tags_head.json` (INFO_FILE: the concepts, the backbone and embedder key the head was trained
on, the configuration, per-tag thresholds, the split, the settings and the validation and test
reports; nothing pickled). Named `tags_head` (TAGS_HEAD) in the manifest and found by
`weights.locate`, it answers the Tags tab for its concepts (`trained_tags_head`).

Per-tag thresholds are chosen on the validation split (`choose_thresholds`): for each tag, the
threshold that maximises its F1 there, the highest among equally good ones
(`models.tags.metrics.best_threshold`); a tag with no positive photo in validation gets 0.5 and
a note saying why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models import artifacts
from models.artifacts import ArtifactKind

TAGS_HEAD = "tags_head"
"""Manifest name of a trained head: embeddings (N, D) of its backbone -> probabilities (N, T)."""

MODEL_FILE = "tags_head.keras"
INFO_FILE = "tags_head.json"
INFO_FORMAT = 1

DEFAULT_CONFIGURATION = "1hidden-1500"
CONFIGURATIONS = ("0hidden", "1hidden-1500", "2hidden-1024")
"""Named configurations; any "<k>hidden-<width>" in the ranges below parses too."""
MAX_HIDDEN_LAYERS = 3
MIN_WIDTH = 8
MAX_WIDTH = 4096
DROPOUT = 0.5
"""Dropout after each hidden layer, during training only."""

DEFAULT_THRESHOLD = 0.5
"""The threshold of a tag that validation cannot choose one for (no positive photo there)."""

# Layer names, so a reader (and Grad-CAM adapters) can find the parts.
INPUT_NAME = "embedding"
STANDARDISE_LAYER = "standardise"
OUTPUT_LAYER = "tags"

_NAME = re.compile(r"(\d+)hidden(?:-(\d+))?")


class ConfigurationError(ValueError):
    """A configuration name that does not parse; the message is one line."""


@dataclass(frozen=True)
class HeadConfig:
    """One head architecture.

    Attributes:
        name: its canonical name, "0hidden" or "<k>hidden-<width>".
        hidden: the hidden layers' widths, () for logistic regression.
        dropout: the dropout rate after each hidden layer.
    """

    name: str
    hidden: tuple[int, ...]
    dropout: float = DROPOUT


def parse_configuration(name: str) -> HeadConfig:
    """The HeadConfig a name like "0hidden", "1hidden-1500" or "2hidden-1024" stands for.

    Raises:
        ConfigurationError: the name does not follow the pattern, or k or the width is out of
            range (0 to 3 hidden layers, 8 to 4096 units); the message says which in one line.
    """
    text = str(name).strip()
    match = _NAME.fullmatch(text)
    expected = (f"expected 0hidden or <k>hidden-<width> with k 1 to {MAX_HIDDEN_LAYERS} and "
                f"width {MIN_WIDTH} to {MAX_WIDTH}, e.g. {DEFAULT_CONFIGURATION}")
    if match is None:
        raise ConfigurationError(f"configuration {text!r} is not a name; {expected}.")
    layers_text, width_text = match.groups()
    layers = int(layers_text)
    if layers > MAX_HIDDEN_LAYERS or layers_text != str(layers):
        raise ConfigurationError(f"configuration {text!r}: {layers_text} hidden layers; "
                                 f"{expected}.")
    if layers == 0:
        if width_text is not None:
            raise ConfigurationError(f"configuration {text!r}: 0hidden has no width; write "
                                     "0hidden.")
        return HeadConfig("0hidden", ())
    if width_text is None:
        raise ConfigurationError(f"configuration {text!r} lacks the width; {expected}.")
    width = int(width_text)
    if not MIN_WIDTH <= width <= MAX_WIDTH or width_text != str(width):
        raise ConfigurationError(f"configuration {text!r}: width {width_text}; {expected}.")
    return HeadConfig(f"{layers}hidden-{width}", (width,) * layers)


def build_head(config: HeadConfig, input_dim: int, n_tags: int, *,
               mean: np.ndarray | None = None, variance: np.ndarray | None = None):
    """The head as an uncompiled Keras functional model: embeddings (N, input_dim) ->
    probabilities (N, n_tags).

    Layers: Normalization ("standardise", with `mean` and `variance`, default 0 and 1), then per
    hidden layer Dense(width, relu) ("hidden_<i>") and Dropout ("dropout_<i>"), then
    Dense(n_tags, sigmoid) ("tags"). Train it with binary cross-entropy: each tag is its own
    yes/no.
    """
    import keras

    input_dim, n_tags = int(input_dim), int(n_tags)
    mean = np.zeros(input_dim, np.float32) if mean is None else np.asarray(mean, np.float32)
    variance = (np.ones(input_dim, np.float32) if variance is None
                else np.asarray(variance, np.float32))
    inputs = keras.Input((input_dim,), name=INPUT_NAME)
    x = keras.layers.Normalization(mean=mean, variance=variance,
                                   name=STANDARDISE_LAYER)(inputs)
    for index, width in enumerate(config.hidden, start=1):
        x = keras.layers.Dense(width, activation="relu", name=f"hidden_{index}")(x)
        x = keras.layers.Dropout(config.dropout, name=f"dropout_{index}")(x)
    outputs = keras.layers.Dense(n_tags, activation="sigmoid", name=OUTPUT_LAYER)(x)
    return keras.Model(inputs, outputs, name=f"tags_head_{config.name.replace('-', '_')}")


def choose_thresholds(probabilities, labels,
                      concepts: Sequence[str]) -> tuple[dict[str, float], dict[str, str]]:
    """Each tag's threshold, chosen on the validation split.

    Args:
        probabilities, labels: (N, T) the head's validation probabilities and the true tags.
        concepts: the T tag names.

    Returns:
        ({tag: threshold}, {tag: note} for the tags that got DEFAULT_THRESHOLD). The threshold
        maximises the tag's F1 on these photos; among equally good ones the highest wins
        (`metrics.best_threshold`). A tag with no positive photo gets DEFAULT_THRESHOLD.
    """
    from models.tags.metrics import best_threshold

    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels)
    thresholds: dict[str, float] = {}
    notes: dict[str, str] = {}
    for column, tag in enumerate(concepts):
        best = best_threshold(probabilities[:, column], labels[:, column])
        if best is None:
            thresholds[tag] = DEFAULT_THRESHOLD
            notes[tag] = (f"no photo in the validation split has {tag}; its threshold is "
                          f"{DEFAULT_THRESHOLD}")
        else:
            thresholds[tag] = best[0]
    return thresholds, notes


@dataclass(frozen=True)
class TrainedTagsHead:
    """A trained tag head and what it was trained on.

    Attributes:
        keras_model: embeddings (N, D) -> probabilities (N, T).
        concepts: the T tags, in output order.
        thresholds: tag -> the probability from which the tag is applied.
        backbone: the embedder it reads ("clip" or "efficientnet").
        embedder_key: the embedder's backbone and weights fingerprint; embeddings of another
            copy of the backbone do not fit this head.
        configuration: e.g. "1hidden-1500".
        info: the artifact's tags_head.json.
        folder: where it was loaded from.
        identity: the `models.artifacts.ArtifactIdentity` of the files it was loaded from
            (None when built in memory); what adapters derived from it are cached under.
    """

    keras_model: Any = field(compare=False, repr=False)
    concepts: tuple[str, ...]
    thresholds: dict[str, float]
    backbone: str
    embedder_key: str
    configuration: str
    info: dict = field(default_factory=dict, compare=False, repr=False)
    folder: Path | None = None
    identity: Any = field(default=None, compare=False, repr=False)

    @property
    def dimension(self) -> int:
        """D, the embedding size the head reads."""
        return int(self.keras_model.input_shape[-1])

    def probabilities(self, embeddings) -> np.ndarray:
        """Each tag's probability for each embedding.

        Args:
            embeddings: (N, D) from the embedder named by `embedder_key`.

        Returns:
            float32 (N, T), each value 0 to 1, independent across tags.
        """
        embeddings = np.asarray(embeddings, np.float32)
        if embeddings.ndim != 2 or embeddings.shape[1] != self.dimension:
            raise ValueError(f"the tag head reads (N, {self.dimension}) embeddings; got "
                             f"{embeddings.shape}.")
        if not len(embeddings):
            return np.zeros((0, len(self.concepts)), np.float32)
        return np.concatenate([
            np.asarray(self.keras_model(embeddings[start:start + _BATCH], training=False),
                       np.float32)
            for start in range(0, len(embeddings), _BATCH)])

    def threshold_vector(self) -> np.ndarray:
        """(T,) the thresholds in `concepts` order."""
        return np.asarray([self.thresholds[tag] for tag in self.concepts], np.float64)


_BATCH = 1024  # embeddings per model call


def _check_info(info: dict) -> str | None:
    needed = ("concepts", "thresholds", "backbone", "embedder_key", "configuration")
    missing = [key for key in needed if key not in info]
    if missing:
        return f"lacks {', '.join(missing)}"
    concepts = info["concepts"]
    if (not isinstance(concepts, list) or not isinstance(info["thresholds"], dict)
            or set(info["thresholds"]) != set(concepts)):
        return "needs a list of concepts and one threshold for each"
    return None


def _build(*, model, info: dict, folder: Path, name: str | None, identity) -> TrainedTagsHead:
    concepts = tuple(str(tag) for tag in info["concepts"])
    outputs = int(model.output_shape[-1])
    if outputs != len(concepts):
        raise ValueError(f"{folder / MODEL_FILE} has {outputs} outputs for {len(concepts)} "
                         "concepts.")
    return TrainedTagsHead(
        keras_model=model, concepts=concepts,
        thresholds={tag: float(info["thresholds"][tag]) for tag in concepts},
        backbone=str(info["backbone"]), embedder_key=str(info["embedder_key"]),
        configuration=str(info["configuration"]), info=info, folder=folder, identity=identity)


KIND = ArtifactKind("tag head", MODEL_FILE, INFO_FILE, _check_info, _build)
"""A trained tag head, for `models.artifacts`."""


def read_info(folder: str | Path) -> dict:
    """The artifact's tags_head.json.

    Raises:
        ValueError: it is missing, not JSON, or lacks what loading needs.
    """
    return artifacts.read_info(folder, KIND)


def load_from_folder(folder: str | Path) -> TrainedTagsHead:
    """Load an artifact folder (tags_head.keras + tags_head.json) with `safe_mode=True`,
    uncached.

    Raises:
        ValueError: tags_head.json is missing or malformed, or disagrees with the model.
        OSError, ValueError: tags_head.keras cannot be read.
    """
    return artifacts.load_folder(folder, KIND)


def trained_tags_head() -> TrainedTagsHead | None:
    """The trained head the manifest names (`tags_head`) when this machine has it, else None.

    Asked afresh on each call (weights pulled while the app runs are seen), loaded once per
    copy of the files and again when they change, so a retrained copy replaces the old one
    (`models.artifacts`), thread-safely; at most one head is kept in memory.

    Raises:
        weights.WeightsUnavailable: the copy fails its recorded checksums.
        ValueError: the copy's files are malformed.
    """
    return artifacts.load_if_available(TAGS_HEAD, KIND)


def reset_default() -> None:
    """Forget the loaded head (for tests)."""
    artifacts.forget(TAGS_HEAD)
