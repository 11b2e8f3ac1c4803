"""The Aesthetic task's start-up warm-up (`app.warm_up` calls it in a background thread)."""

from __future__ import annotations

__all__ = ["warm_up"]


def warm_up() -> None:
    """Do the first rating's one-off work now, so the first request is as fast as the next.

    Reads BRISQUE's model, scores the reference photos and fits the attribute surrogate on the
    calibration set for the content scorer on this machine (with CLIP and its offset only when
    the CLIP weights are here: never a download), and rates one calibration photo and explains
    it over the attributes, which imports SHAP. Safe to call from a background thread while
    requests arrive, and more than once: every part is built once behind its lock, and a
    request that needs a part still being built waits for it.
    """
    from models.aesthetic.calibration import calibration_set
    from models.aesthetic.content import content_identity
    from models.aesthetic.contributions import attribute_contributions
    from models.aesthetic.rating import rate
    from models.aesthetic.reference import reference_scores
    from models.aesthetic.surrogate import surrogate

    scorer = content_identity()
    reference_scores(scorer)
    surrogate(scorer)
    _, photos = calibration_set()
    rating = rate(photos[0])
    attribute_contributions(photos[0], rating.attributes)


def warm_up_gradcam() -> bool:
    """Compile CLIP's shared Grad-CAM tower now (`models.clip.CLIPModel.embedding_tower`), by
    explaining the content score of one calibration photo, so that the first Grad-CAM of any tab
    answers in a fraction of a second instead of waiting seconds for the trace. Only when the
    CLIP weights are here (never a download); whether it ran.
    """
    from explain import explain
    from models.aesthetic.calibration import calibration_set
    from models.aesthetic.content import content_available
    from models.aesthetic.explanations import content_gradcam_adapter

    if not content_available():
        return False
    _, photos = calibration_set()
    explain("gradcam", content_gradcam_adapter(), photos[0], target=0, faithfulness=False)
    return True
