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
        A KerasModel with one output, `GRADCAM_OUTPUT`.

    Raises:
        weights.WeightsUnavailable: no CLIP weights (when `clip` is not given).
    """
    import keras
    import tensorflow as tf

    from explain import KerasModel
    from models import clip as clip_module
    from models.pose.background import fill_region

    clip = clip or clip_module.get_clip()
    reference_embedding = clip.embed_images([reference.background_only()])[0]
    model = clip.similarity_model(reference_embedding)
    region = tf.constant(fill_region(photo.person_mask).astype(np.float32)[None, ..., None])
    fill = tf.constant(photo.background_only().astype(np.float32)[None])

    # The comparison maps the cosine to [0, 1] by clip((cosine - 0.5) / 0.5); a ReLU of
    # 2 x cosine - 1 is the same below 1 (a cosine never exceeds 1), with the same gradients.
    mapped = keras.layers.Dense(1, activation="relu", trainable=False,
                                name="clip_background")
    score = mapped(model.output)
    mapped.set_weights([np.array([[2.0]], np.float32), np.array([-1.0], np.float32)])

    def preprocess(images):
        # At the batch's own size: the region cut at 0.5 after a bilinear resize, and the fill
        # resized bilinearly (the identity at the photo's own size).
        size = tf.shape(images)[1:3]
        person = tf.image.resize(region, size, method="bilinear") >= 0.5
        filled = tf.cast(tf.image.resize(fill, size, method="bilinear"), images.dtype)
        person = tf.broadcast_to(person, tf.shape(images))
        return clip.preprocess_graph(tf.where(person, tf.broadcast_to(filled,
                                                                       tf.shape(images)),
                                               images))

    return KerasModel(keras.Model(model.input, score), preprocess=preprocess,
                      cam_layer=clip.gradcam_layer_name, output_names=[GRADCAM_OUTPUT],
                      input_box=clip.crop_box, work_side=JUDGED_SIDE)


GRADCAM_SCOPE = ("Grad-CAM explains the background only: the pose comes from MediaPipe, which "
                 "gives no gradients. Pick LIME or SHAP for the pose.")
"""Grad-CAM's one-line reason when the pose similarity is asked for."""

GRADCAM_NEEDS_CLIP = ("Grad-CAM explains the background similarity through CLIP, whose weights "
                      "are not on this machine (python -m weights pull clip).")
"""Grad-CAM's one-line reason without the CLIP weights."""

POSE_NOTE = ("In the pose map, a perturbed copy in which MediaPipe finds no person counts as "
             "unchanged, so the map shows what moves the matched pose, not where a person is "
             "found.")


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
