"""Model adapters that let explain/ answer "what in my photo keeps it similar to the post?".

The pose comparison is not one network, so each explainer gets the view of it that it can use:

- LIME and SHAP perturb photo b and re-run the whole comparison against photo a, through
  `models.pose.similarity_function`: both outputs, pose and background similarity, are
  explainable. Each evaluation runs MediaPipe, about 50 ms on a 256-pixel copy, so the Pose
  tab gives them smaller budgets than the panel's defaults.
- Grad-CAM needs gradients, which MediaPipe does not give. It explains the CLIP part of the
  background similarity instead: the cosine between CLIP's embedding of b's background and of
  a's, with b's people greyed out inside the model's preprocessing exactly as
  `PersonAnalysis.background_only` does, so no change to a person can move the score (nor
  the faithfulness curves). Offered only when the CLIP weights are on this machine.

Nothing heavy is imported here until an adapter is built.
"""

from __future__ import annotations

import numpy as np

from models.pose.comparison import SIMILARITY_OUTPUTS, PersonAnalysis, similarity_function

PERTURBATION_BATCH = 8
"""Images per call of the similarity function: MediaPipe takes one image at a time anyway, and
small batches keep the progress bar moving."""

GRADCAM_OUTPUT = SIMILARITY_OUTPUTS[1]
"""The one output Grad-CAM explains: the background similarity (its CLIP part)."""

BACKGROUND_GREY = 128
"""The value `PersonAnalysis.background_only` paints people with."""


def gradcam_available() -> bool:
    """Whether the CLIP weights are on this machine, so Grad-CAM on the background can run.

    Only looks (`weights.locate`): never downloads, never loads the model.
    """
    import weights

    return weights.available("clip")


def similarity_adapter(reference: PersonAnalysis, allow_mirror: bool = True,
                       target: str | None = None):
    """An `explain.FunctionModel` scoring photos by their similarity to `reference`.

    Args:
        reference: photo a, analysed once (`models.pose.analyse`).
        allow_mirror: count a mirrored pose as the same, as `compare` did.
        target: one of `models.pose.SIMILARITY_OUTPUTS` to compute only that similarity
            (about half the work per perturbed copy), or None for both.

    Returns:
        The FunctionModel, with outputs `models.pose.SIMILARITY_OUTPUTS` (or just `target`).
    """
    from explain import FunctionModel

    outputs = (target,) if target else SIMILARITY_OUTPUTS
    return FunctionModel(similarity_function(reference, allow_mirror=allow_mirror,
                                             outputs=outputs),
                         list(outputs), batch_size=PERTURBATION_BATCH)


def background_gradcam_adapter(reference: PersonAnalysis, photo: PersonAnalysis, clip=None):
    """An `explain.KerasModel` for Grad-CAM: CLIP similarity of photo's background to reference's.

    The model scores a picture of photo b by the cosine between CLIP's embedding of it, with
    b's person mask greyed out, and CLIP's embedding of a's background-only image. The mask is
    resized to whatever size the explainer sends (the full photo for the map, a smaller copy
    for the faithfulness curves), so both see the same masking.

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
    import tensorflow as tf

    from explain import KerasModel
    from models import clip as clip_module

    clip = clip or clip_module.get_clip()
    reference_embedding = clip.embed_images([reference.background_only()])[0]
    model = clip.similarity_model(reference_embedding)
    mask = tf.constant(np.asarray(photo.person_mask, np.float32)[None, ..., None])

    def preprocess(images):
        # Bilinear, then the same 0.5 cut as background_only, at the batch's own size.
        size = tf.shape(images)[1:3]
        person = tf.image.resize(mask, size, method="bilinear") >= 0.5
        grey = tf.cast(tf.fill(tf.shape(images), BACKGROUND_GREY), images.dtype)
        return clip._preprocess_graph(tf.where(person, grey, images))

    return KerasModel(model, preprocess=preprocess, cam_layer=clip.gradcam_layer_name,
                      output_names=[GRADCAM_OUTPUT], input_box=clip.crop_box)


def explanation_models(reference: PersonAnalysis, photo: PersonAnalysis, *,
                       allow_mirror: bool = True, gradcam: bool | None = None,
                       target: str | None = None) -> dict:
    """The adapter each explanation method uses for one comparison, keyed by method.

    Args:
        reference: photo a's analysis.
        photo: photo b's analysis (the photo being explained).
        allow_mirror: as in `compare`.
        gradcam: include Grad-CAM (None: when the CLIP weights are on this machine).
        target: the similarity LIME and SHAP explain; their model computes only it (None: both).

    Returns:
        {"lime": FunctionModel, "shap": FunctionModel[, "gradcam": KerasModel]}. Grad-CAM's
        model has only the background output.
    """
    function_model = similarity_adapter(reference, allow_mirror, target)
    models = {"lime": function_model, "shap": function_model}
    if gradcam is None:
        gradcam = gradcam_available()
    if gradcam:
        models["gradcam"] = background_gradcam_adapter(reference, photo)
    return models
