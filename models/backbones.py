"""ImageNet backbones from the Hub, as keras-hub reads them: shared by the tasks whose research
networks sit on a timm ResNet50 (pose), VGG16 (style) or EfficientNet (aesthetic).

keras-hub's `from_preset` loads two on-disk formats: a timm checkpoint (`config.json` with an
`architecture`, plus `model.safetensors`, converted on load) and its own preset (`config.json`
with a `registered_name`, plus `model.weights.h5`), which is how tests hand over tiny backbones.
Nothing here imports Keras: these checks run before any model is built.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

# timm's ImageNet statistics (resnet50.a1_in1k's pretrained_cfg uses these too), for presets
# that do not state their own.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

TIMM_FORMAT = "timm"
KERAS_HUB_FORMAT = "keras-hub"



def preset_format(folder: str | Path) -> str:
    """Which on-disk format a backbone folder is in, judged as keras-hub judges it.

    keras-hub's `from_preset` reads `config.json` and picks its loader by the keys: a
    `registered_name` means a Keras-serialised preset, an `architecture` means a timm checkpoint.

    Args:
        folder: a folder holding `config.json`.

    Returns:
        `"timm"` (config.json + model.safetensors, converted on load) or `"keras-hub"`
        (config.json + model.weights.h5).

    Raises:
        ValueError: there is no readable config.json, or it is in neither format.
    """
    config_path = Path(folder) / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{config_path} is missing or not JSON ({error}).") from error
    if "registered_name" in config:
        return KERAS_HUB_FORMAT
    if "architecture" in config:
        return TIMM_FORMAT
    raise ValueError(
        f"{config_path} is neither a timm config (no 'architecture') nor a keras-hub preset "
        "(no 'registered_name')."
    )


def check_backbone_folder(folder: str | Path) -> str:
    """Check, without loading anything, that keras-hub can load a backbone folder.

    Args:
        folder: the backbone's folder.

    Returns:
        Its format, as `preset_format` says.

    Raises:
        ValueError: the folder is in no format keras-hub reads.
        ImportError: it is a timm checkpoint and the `safetensors` package, which keras-hub's
            timm converter reads it with, is not installed.
    """
    found = preset_format(folder)
    if found == TIMM_FORMAT and importlib.util.find_spec("safetensors") is None:
        raise ImportError(
            f"{folder} holds timm weights, and keras-hub needs the safetensors package to "
            "convert them: run `pip install safetensors`."
        )
    return found


def normalisation_stats(folder: str | Path) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The per-channel mean and standard deviation (on a 0..1 scale) the backbone was trained on.

    A timm checkpoint states them in `config.json` under `pretrained_cfg`; a keras-hub preset
    without an image converter does not, and gets ImageNet's.

    Args:
        folder: the backbone's folder.

    Returns:
        (mean, std), three values each.
    """
    config_path = Path(folder) / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return IMAGENET_MEAN, IMAGENET_STD
    pretrained = config.get("pretrained_cfg") or {}
    mean, std = pretrained.get("mean"), pretrained.get("std")
    if mean and std and len(mean) == 3 and len(std) == 3:
        return tuple(float(m) for m in mean), tuple(float(s) for s in std)
    return IMAGENET_MEAN, IMAGENET_STD


def load_backbone(artifact: str, class_name: str, folder: str | Path | None = None):
    """Load an ImageNet feature backbone through keras-hub.

    Args:
        artifact: the manifest name resolved when `folder` is None (`weights.resolve`:
            $INSTAVIS_WEIGHTS_DIR/<artifact>/, shipped, cached, then the Hub).
        class_name: the keras-hub backbone class, e.g. "ResNetBackbone". The concrete class,
            not `Backbone`, so a preset of another architecture fails here, not later with a
            missing-stage or shape error inside a network.
        folder: a backbone folder: a timm checkpoint (`config.json` + `model.safetensors`,
            converted by keras-hub) or a keras-hub preset (how tests pass tiny backbones).

    Raises:
        weights.WeightsUnavailable: no copy of the weights on this machine and none fetchable.
        ValueError: the folder is in no format keras-hub reads, or holds another architecture.
        ImportError: timm weights, and the safetensors package is missing.
    """
    import keras_hub

    if folder is None:
        import weights

        folder = weights.resolve(artifact)
    folder = Path(folder)
    check_backbone_folder(folder)  # one clear line before keras-hub's longer errors
    return getattr(keras_hub.models, class_name).from_preset(str(folder))

