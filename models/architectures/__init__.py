"""The networks of the research write-ups in ../shared/seeds/, as Keras builders.

- `siamese`: InstaModel's Siamese ResNet50, with and without its pose branch, and the
  GAP-feature threshold baseline.
- `multigap`: the rating research's feature extractor, MultiGAP stage features concatenated
  with EfficientNet's final pooled features.

Importing this package imports Keras (these modules are the networks); the app's tabs import
them only when a model is first needed.
"""

from models.architectures.multigap import (
    EFFICIENTNET_WEIGHTS,
    FeatureLayout,
    MultiGAPExtractor,
    efficientnet_backbone,
    multigap_extractor,
)
from models.architectures.siamese import (
    RESNET50_WEIGHTS,
    ThresholdRule,
    check_backbone_folder,
    compile_siamese,
    cosine_similarity,
    euclidean_distance,
    fit_threshold,
    gap_feature_extractor,
    load_siamese,
    normalisation_stats,
    pose_feature_extractor,
    preset_format,
    resnet50_backbone,
    siamese_network,
)

__all__ = [
    "EFFICIENTNET_WEIGHTS", "FeatureLayout", "MultiGAPExtractor", "efficientnet_backbone",
    "multigap_extractor",
    "RESNET50_WEIGHTS", "ThresholdRule", "check_backbone_folder", "compile_siamese",
    "cosine_similarity", "euclidean_distance", "fit_threshold", "gap_feature_extractor",
    "load_siamese", "normalisation_stats", "pose_feature_extractor", "preset_format",
    "resnet50_backbone", "siamese_network",
]
