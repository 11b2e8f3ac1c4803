"""Tags: which tags describe this photo, and why each one? From "Social Image Description
Platform" (../shared/seeds/003): a backbone embeds the photo and a multilayer perceptron predicts
MIRFLICKR-25K's 24 concepts; CLIP zero-shot answers where no trained head does.

`tag(image) -> TagResult` is the entry. The research pipeline's commands: `python -m models.tags
cache|infer`, `python -m models.train tags`, `python -m models.evaluate tags`.

The names below load on first use, so the pipeline's modules (`models.tags.cache`, ...) import
without the judgement's.
"""

import importlib

_EXPORTS = {"TagDecision": "models.tags.tagging", "TagResult": "models.tags.tagging",
            "TagsUnavailable": "models.tags.tagging", "tag": "models.tags.tagging",
            "InvalidTags": "models.tags.vocabulary"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'models.tags' has no attribute {name!r}")
