"""Style: which fashion style is this outfit, and where does the model look? From "evaranks"
(../shared/seeds/002): a person's outfit classified into a handful of styles, with class
activation maps. `classify(image) -> StyleResult` is the entry."""

from models.style.classify import StyleResult, StyleUnavailable, classify
from models.style.labels import InvalidLabels, label_sets

__all__ = ["InvalidLabels", "StyleResult", "StyleUnavailable", "classify", "label_sets"]
