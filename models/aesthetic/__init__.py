"""Aesthetic: is this photo aesthetic, what is its technical quality, and which regions and
attributes drive the score? From "Image Rating using CNN" (../shared/seeds/004).

The judgement, one job a module:

- `rating`: the entry, `rate(image) -> AestheticRating`;
- `technical`: technical quality, BRISQUE on the photo's own pixels (`brisque`: BRISQUE
  itself);
- `content`: content aesthetics, from a trained head (`head`) or CLIP zero-shot (`zero_shot`),
  and the identity of the scorer in use, which keys every cache derived from it
  (`models.artifacts.BoundedCache`, keyed by `models.artifacts.folder_identity`);
- `scoring`: the combined score;
- `reference`: the reference photos and the percentile;
- `calibration`: the calibration set (package photos and their `distortions`);
- `surrogate` and `contributions`: the attribute surrogate and SHAP over it (the chart);
- `attributes`: nine weight-free photo attributes with plain-words hints;
- `explanations`: what the explanation panel explains and its adapters;
- `warmup`: the start-up warm-up.

The research side:

- `quality`: the project's small technical-quality CNN; `fr_metrics`: its full-reference
  training targets; `photos`: the package photos it trains on and is judged on;
- `multigap`, `rating_pipeline`: the research's network (EfficientNet + MultiGAP + PCA + GA +
  FC), trainable;
- `train_*`, `evaluate_*`: the commands behind `python -m models.train` and
  `python -m models.evaluate` (product code never imports them, nor `fr_metrics`).

The names below are what the Aesthetic tab uses. Importing this package imports no TensorFlow;
models load on first use.
"""

from models.aesthetic.content import content_available
from models.aesthetic.contributions import attribute_contributions
from models.aesthetic.explanations import OUTPUTS, explanation_setup
from models.aesthetic.rating import AestheticRating, rate
from models.aesthetic.reference import REFERENCE_PHOTOS
from models.aesthetic.surrogate import SURROGATE_ATTRIBUTES, surrogate_fit
from models.aesthetic.technical import QUALITY_SOURCE
from models.aesthetic.warmup import warm_up

__all__ = ["OUTPUTS", "QUALITY_SOURCE", "REFERENCE_PHOTOS", "SURROGATE_ATTRIBUTES",
           "AestheticRating", "attribute_contributions", "content_available",
           "explanation_setup", "rate", "surrogate_fit", "warm_up"]
