"""Aesthetic: is this photo aesthetic, what is its technical quality, and which regions and
attributes drive the score? From "Image Rating using CNN" (../shared/seeds/004).

- `rating`: the entry, `rate(image) -> AestheticRating`, and its explanation adapters;
- `attributes`: nine weight-free photo attributes with plain-words hints;
- `quality`: the project's small technical-quality CNN; `distortions` and `fr_metrics`: its
  training data's defects and full-reference targets;
- `photos`: the package photos the quality model trains on and is judged on;
- `multigap`, `rating_pipeline`: the research's network (EfficientNet + MultiGAP + PCA + GA +
  FC), trainable;
- `train_*`, `evaluate_*`: the commands behind `python -m models.train` and
  `python -m models.evaluate` (product code never imports them).

Importing this package imports no TensorFlow; models load on first use.
"""

from models.aesthetic.rating import AestheticRating, rate

__all__ = ["AestheticRating", "rate"]
