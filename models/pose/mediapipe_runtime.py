"""The one MediaPipe runtime of the pose task: pose landmarks, person segmentation and face
detection, from the legacy solutions that ship inside the mediapipe 0.10.21 wheel (so they work
offline).

Each graph is built on first use (segmentation and faces are not needed to draw skeleton masks)
and shared by every caller. A solution graph must not process two images at once, so all three
run behind one lock; Gradio's worker threads and the explainers' batches can call in freely.
"""

from __future__ import annotations

import threading

import numpy as np

VISIBLE = 0.5
"""MediaPipe visibility from which a joint counts as seen (compared, drawn, boxed)."""

FaceBox = tuple[float, float, float, float]
"""(top, left, height, width) in pixels."""


class MediaPipeRuntime:
    """Lazily built MediaPipe graphs behind one lock."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pose = self._segmenter = self._faces = None

    def _solutions(self):
        # Imported here: mediapipe also imports TensorFlow, which importing a tab must not do.
        import mediapipe as mp

        return mp.solutions

    def landmarks(self, image: np.ndarray) -> np.ndarray | None:
        """(33, 3) float32 of the most prominent person: x and y normalised to the image's
        width and height, and MediaPipe's visibility; None when nobody is found."""
        with self._lock:
            if self._pose is None:
                self._pose = self._solutions().pose.Pose(static_image_mode=True,
                                                         model_complexity=1)
            result = self._pose.process(np.ascontiguousarray(image))
        if result.pose_landmarks is None:
            return None
        return np.array([(p.x, p.y, p.visibility) for p in result.pose_landmarks.landmark],
                        np.float32)

    def faces_and_mask(self, image: np.ndarray, *, faces: bool = True, mask: bool = True
                       ) -> tuple[list[FaceBox], np.ndarray | None]:
        """Face boxes (empty when `faces` is False) and the person mask, float32 H x W in
        [0, 1] (None when `mask` is False), in one pass under the lock."""
        image = np.ascontiguousarray(image)
        height, width = image.shape[:2]
        with self._lock:
            boxes: list[FaceBox] = []
            if faces:
                if self._faces is None:
                    self._faces = self._solutions().face_detection.FaceDetection(
                        model_selection=1, min_detection_confidence=0.5)
                for detection in self._faces.process(image).detections or ():
                    box = detection.location_data.relative_bounding_box
                    boxes.append((box.ymin * height, box.xmin * width, box.height * height,
                                  box.width * width))
            person = None
            if mask:
                if self._segmenter is None:
                    self._segmenter = self._solutions().selfie_segmentation.SelfieSegmentation(
                        model_selection=0)
                person = np.asarray(self._segmenter.process(image).segmentation_mask,
                                    np.float32)
        return boxes, person


RUNTIME = MediaPipeRuntime()
"""The process's one runtime."""
