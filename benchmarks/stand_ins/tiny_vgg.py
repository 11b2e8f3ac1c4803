"""Build a tiny, deterministic VGG backbone preset from the real keras-hub class.

The preset goes where the manifest's `vgg16` artifact is looked for first
(`$INSTAVIS_WEIGHTS_DIR/vgg16/`), written with keras-hub's own `save_to_preset`
(`config.json` + `model.weights.h5`, which the manifest accepts in place of timm's
`model.safetensors`). Loading it runs the real path: `weights.resolve("vgg16")`, then
`models.backbones.load_backbone("vgg16", "VGGBackbone")`.

Sizes: two blocks of one 3 x 3 convolution each (8 and 16 filters), each followed by VGG's
2 x 2 max pooling. A 32 x 32 input gives a 16 x 16 map at the last convolution.
"""

from __future__ import annotations

import os
from pathlib import Path

# Must be set before keras is imported anywhere in the process.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REPEATS = (1, 1)
FILTERS = (8, 16)
SEED = 1234


def build_tiny_vgg_preset(directory: Path, repeats=REPEATS, filters=FILTERS) -> Path:
    """Build a tiny randomly initialised `keras_hub.models.VGGBackbone` and save it as a preset.

    Args:
        directory: the preset folder (e.g. <weights root>/vgg16); created if missing.
        repeats: convolutions per block (VGG16: 2, 2, 3, 3, 3).
        filters: filters per block (VGG16: 64, 128, 256, 512, 512).

    Returns:
        `directory`, now holding `config.json`, `model.weights.h5` and `metadata.json`.
    """
    import keras
    import keras_hub

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(SEED)
    backbone = keras_hub.models.VGGBackbone(
        stackwise_num_repeats=list(repeats),
        stackwise_num_filters=list(filters),
        image_shape=(None, None, 3),
    )
    backbone.save_to_preset(str(directory))
    return directory
