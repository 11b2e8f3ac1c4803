"""Model adapters that let explain/ answer "what in my photo keeps it similar to the post?".

The pose comparison is not one network, so each explainer gets the view of it that it can use:

- LIME and SHAP perturb photo b (the very copy the comparison judged) and re-run the
  comparison against photo a, through `models.pose.comparison.similarity_function`: the
  unperturbed photo scores exactly the similarities the verdict card shows. Each evaluation
  runs MediaPipe, about 50 ms, so the Pose tab gives them smaller budgets than the panel's
  defaults.
- Grad-CAM needs gradients, which MediaPipe and the weight-free descriptors do not give. It
  explains the CLIP part of the background similarity, under that name (`GRADCAM_OUTPUT`): the
  cosine between CLIP's embedding of b's background and of a's, mapped to [0, 1] as the
  comparison maps it, with b's people filled in inside the model's preprocessing exactly as
  `PersonAnalysis.background_only` fills them (by inpainting). Offered only when the CLIP
  weights are on this machine.

Nothing heavy is imported here until an adapter is built.
"""

from __future__ import annotations

import numpy as np

from models.clip import IMAGE_BATCH
from models.explaining import ExplanationSetup
from models.images import JUDGED_SIDE
from models.pose.comparison import SIMILARITY_OUTPUTS, PersonAnalysis, similarity_function

PERTURBATION_BATCH = 8
"""Images per call of the similarity function: MediaPipe takes one image at a time anyway, and
small batches keep the progress bar moving."""

GRADCAM_OUTPUT = "background similarity, CLIP part"
"""The one output Grad-CAM explains, named apart from the background similarity the card shows
(which also averages in the weight-free descriptors, and has no gradients)."""

def gradcam_available() -> bool:
    """Whether the CLIP weights are on this machine, so Grad-CAM on the background can run.

    Only looks (`weights.locate`): never downloads, never loads the model.
    """
    import weights

    return weights.available("clip")


def similarity_adapter(reference: PersonAnalysis, photo: PersonAnalysis | None = None,
                       allow_mirror: bool = True, target: str | None = None):
    """An `explain.FunctionModel` scoring photos by their similarity to `reference`.

    Args:
        reference: photo a, analysed once (`models.pose.comparison.analyse`).
        photo: photo b's analysis: a perturbed copy without a pose scores its pose similarity.
        allow_mirror: count a mirrored pose as the same, as `compare` did.
        target: one of `models.pose.SIMILARITY_OUTPUTS` to compute only that similarity
            (about half the work per perturbed copy), or None for both.

    Returns:
        The FunctionModel, with outputs `models.pose.SIMILARITY_OUTPUTS` (or just `target`).
    """
    from explain import FunctionModel

    outputs = (target,) if target else SIMILARITY_OUTPUTS
    return FunctionModel(similarity_function(reference, photo, allow_mirror=allow_mirror,
                                             outputs=outputs),
                         list(outputs), batch_size=PERTURBATION_BATCH, work_side=JUDGED_SIDE)


def background_gradcam_adapter(reference: PersonAnalysis, photo: PersonAnalysis, clip=None):
    """An `explain.KerasModel` for Grad-CAM: CLIP similarity of photo's background to reference's.

    The model scores a picture of photo b by the cosine between CLIP's embedding of it, with
    b's people replaced by b's inpainted fill (`PersonAnalysis.background_only`), and CLIP's
    embedding of a's background-only image. The fill and its region are resized to whatever
    size the explainer sends (the full photo for the map, a smaller copy for the faithfulness
    curves), so both see the same filling; at the photo's own size the model's input is
    exactly `background_only()`.

    Args:
        reference: photo a's analysis.
        photo: photo b's analysis (its person mask is baked into the preprocessing, so the
            adapter is for this photo only).
        clip: a `models.clip.CLIPModel`; default the shared one (`get_clip`).

    Returns:
        A model with one output, `GRADCAM_OUTPUT`, on CLIP's shared tower.

    Raises:
        weights.WeightsUnavailable: no CLIP weights (when `clip` is not given).
    """
    import keras
    import tensorflow as tf

    from explain import TowerHeadModel
    from models import clip as clip_module
    from models.pose.background import fill_region

    clip = clip or clip_module.get_clip()
    reference_embedding = clip.embed_images([reference.background_only()])[0]
    cosine = clip.similarity_head(reference_embedding)
    region = tf.constant(fill_region(photo.person_mask).astype(np.float32)[None, ..., None])
    fill = tf.constant(photo.background_only().astype(np.float32)[None])

    # The comparison maps the cosine to [0, 1] by clip((cosine - 0.5) / 0.5); a ReLU of
    # 2 x cosine - 1 is the same below 1 (a cosine never exceeds 1), with the same gradients.
    mapped = keras.layers.Dense(1, activation="relu", trainable=False,
                                name="clip_background")
    score = mapped(cosine.output)
    mapped.set_weights([np.array([[2.0]], np.float32), np.array([-1.0], np.float32)])

    def fill_people(images):
        # At the batch's own size: the region cut at 0.5 after a bilinear resize, and the fill
        # resized bilinearly (the identity at the photo's own size). Run before CLIP's shared
        # tower (models.clip.CLIPModel.embedding_tower), which this photo's adapter reuses.
        size = tf.shape(images)[1:3]
        person = tf.image.resize(region, size, method="bilinear") >= 0.5
        filled = tf.cast(tf.image.resize(fill, size, method="bilinear"), images.dtype)
        person = tf.broadcast_to(person, tf.shape(images))
        return tf.where(person, tf.broadcast_to(filled, tf.shape(images)), images)

    return TowerHeadModel(clip.embedding_tower(), keras.Model(cosine.input, score),
                          output_names=[GRADCAM_OUTPUT], batch_size=IMAGE_BATCH,
                          work_side=JUDGED_SIDE, prepare=fill_people)


GRADCAM_SCOPE = ("Grad-CAM explains the background only: the pose comes from MediaPipe, which "
                 "gives no gradients. Pick LIME or SHAP for the pose.")
"""Grad-CAM's one-line reason when the pose similarity is asked for."""

GRADCAM_NEEDS_CLIP = ("Grad-CAM explains the background similarity through CLIP, whose weights "
                      "are not on this machine (python -m weights pull clip).")
"""Grad-CAM's one-line reason without the CLIP weights."""

POSE_NOTE = ("The pose map hides parts of your body (head, torso, each upper arm, forearm, "
             "thigh and shin, split along the skeleton) by painting the place behind them in, "
             "and counts a joint MediaPipe then no longer sees as not matching. Hiding the head "
             "usually loses the whole body: MediaPipe finds people by their heads.")
"""How to read the pose maps (the panel shows it under the maps)."""

# === Body parts: what the pose maps perturb ===

BODY_PARTS = (
    ("head", ("nose",)),
    ("torso", ("left shoulder", "right shoulder", "right hip", "left hip")),
    ("left upper arm", ("left shoulder", "left elbow")),
    ("left forearm", ("left elbow", "left wrist")),
    ("right upper arm", ("right shoulder", "right elbow")),
    ("right forearm", ("right elbow", "right wrist")),
    ("left thigh", ("left hip", "left knee")),
    ("left shin", ("left knee", "left ankle")),
    ("right thigh", ("right hip", "right knee")),
    ("right shin", ("right knee", "right ankle")),
)
"""The regions a pose map's LIME hides, each with the joints it is drawn from: one point (the
head), a bone (a limb, hands and feet going with the forearm and shin they end), or a
quadrilateral (the torso)."""
HEAD_REACH = 0.7
"""Distances to the head's single point count this much: a head is wider than a limb is thick,
so without it the neck and hair would go to the upper arms."""


def _distance_to_bone(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    along = end - start
    t = np.clip(((points - start) @ along) / max(float(along @ along), 1e-9), 0.0, 1.0)
    return np.linalg.norm(points - (start + t[:, None] * along), axis=1)


def _inside(points: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Whether each point lies inside the (convex or not) polygon `corners` (even-odd rule)."""
    x, y = points[:, 0], points[:, 1]
    inside = np.zeros(len(points), bool)
    for (x0, y0), (x1, y1) in zip(corners, np.roll(corners, -1, axis=0), strict=True):
        crosses = (y0 > y) != (y1 > y)
        at = x0 + (y - y0) * (x1 - x0) / ((y1 - y0) if y1 != y0 else 1e-12)
        inside ^= crosses & (x < at)
    return inside


def body_parts(photo: PersonAnalysis) -> np.ndarray:
    """int64 H x W labels: 0 the rest of the photo, i (1..10) the i-th of BODY_PARTS.

    The main subject's pixels are the person mask grown as `fill_people` grows it (so hiding a
    part leaves no rim of it), inside the subject's box. Each goes to the nearest part: the
    distance to a limb's bone, to the head's point (times HEAD_REACH), and to the torso's
    outline (0 inside it). MediaPipe places every joint, seen or not, so every part has a
    place. With no person mask there (the segmentation missed the subject), the subject's whole
    box is split.

    Args:
        photo: the analysis of the photo explained, with a pose.
    """
    from models.pose.background import fill_region
    from models.pose.comparison import JOINT_NAMES, SUBJECT_MARGINS, grown_box

    height, width = photo.image.shape[:2]
    body = fill_region(photo.person_mask)
    if photo.subject_box is not None:
        top, left, box_h, box_w = grown_box(photo.subject_box, height, width, SUBJECT_MARGINS[0])
        inside_box = np.zeros_like(body)
        inside_box[top : top + box_h, left : left + box_w] = True
        body &= inside_box
        if body.sum() < 0.01 * body.size:
            body = inside_box
    rows, cols = np.nonzero(body)
    points = np.stack([cols, rows], axis=1).astype(np.float64)
    joints = np.asarray(photo.keypoints, np.float64)
    index = {name: i for i, name in enumerate(JOINT_NAMES)}
    distances = []
    for _, names in BODY_PARTS:
        corners = joints[[index[name] for name in names]]
        if len(corners) == 1:
            distances.append(HEAD_REACH * np.linalg.norm(points - corners[0], axis=1))
        elif len(corners) == 2:
            distances.append(_distance_to_bone(points, corners[0], corners[1]))
        else:
            edges = np.min([_distance_to_bone(points, corners[i], corners[(i + 1) % 4])
                            for i in range(4)], axis=0)
            distances.append(np.where(_inside(points, corners), 0.0, edges))
    labels = np.zeros((height, width), np.int64)
    labels[rows, cols] = 1 + np.argmin(np.stack(distances, axis=1), axis=1)
    return labels


def explanation_options(photo: PersonAnalysis, target: str) -> dict[str, dict]:
    """Per-method `explain` options for one similarity of photo b.

    For the pose similarity, a hidden region shows the place behind the people
    (`PersonAnalysis.background_only`, the inpainted fill) rather than black or a blur, in
    which a body's silhouette would still show; and LIME's regions are the body parts
    (`body_parts`), not superpixels. The background similarity keeps the explainers' own
    defaults: the place is what it compares.
    """
    if target != SIMILARITY_OUTPUTS[0] or not photo.has_pose:
        return {}
    fill = photo.background_only()
    return {"lime": {"segments": body_parts(photo), "fill_image": fill},
            "shap": {"fill_image": fill}}


def explanation_setup(reference: PersonAnalysis, photo: PersonAnalysis, *,
                      allow_mirror: bool = True, gradcam: bool | None = None,
                      target: str = SIMILARITY_OUTPUTS[0]) -> ExplanationSetup:
    """How to explain one similarity of photo b to photo a.

    Args:
        reference: photo a's analysis.
        photo: photo b's analysis (the photo being explained, as the comparison judged it).
        allow_mirror: as in `compare`.
        gradcam: offer Grad-CAM (None: when the CLIP weights are on this machine).
        target: the similarity explained, one of SIMILARITY_OUTPUTS.

    Returns:
        An ExplanationSetup on photo b's judged copy: LIME and SHAP on a FunctionModel that
        computes only `target`, exactly as the comparison did; Grad-CAM, for the background,
        on its CLIP part (`GRADCAM_OUTPUT`), and for the pose, the reason it cannot.
    """
    if target not in SIMILARITY_OUTPUTS:
        raise ValueError(f"Unknown target {target!r}; choose from {SIMILARITY_OUTPUTS}.")
    function_model = similarity_adapter(reference, photo, allow_mirror, target)
    models = {"lime": function_model, "shap": function_model}
    if gradcam is None:
        gradcam = gradcam_available()
    method_targets = {}
    if gradcam and target == SIMILARITY_OUTPUTS[1]:
        models["gradcam"] = background_gradcam_adapter(reference, photo)
        method_targets["gradcam"] = GRADCAM_OUTPUT
    elif gradcam:
        models["gradcam"] = GRADCAM_SCOPE
    else:
        # Asked for alone or with others, Grad-CAM gets the same one line: why it cannot run.
        models["gradcam"] = GRADCAM_NEEDS_CLIP
    note = POSE_NOTE if target == SIMILARITY_OUTPUTS[0] else None
    return ExplanationSetup(photo.image, models, method_targets, note)
