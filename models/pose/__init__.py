"""Pose: do these two photos show the same pose in front of the same place? From "InstaModel"
(../shared/seeds/001).

- `comparison`: the entry, `compare(a, b) -> PoseComparison`, on MediaPipe keypoints and
  weight-free background descriptors (CLIP joins when its weights are here);
- `mediapipe_runtime`: the one shared MediaPipe pose, segmentation and face graph;
- `explanations`: the adapters the explanation panel runs LIME, SHAP and Grad-CAM on;
- `skeleton_mask`, `pairs`, `siamese`: the research's Siamese ResNet50 with a pose branch, its
  skeleton-mask input and its pair dataset;
- `train`: the command behind `python -m models.train pose` (product code never imports it).

Importing this package imports neither MediaPipe nor TensorFlow; they load on first use.
"""

from models.pose.comparison import PoseComparison, compare

__all__ = ["PoseComparison", "compare"]
