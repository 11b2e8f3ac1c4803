"""How far each photo attribute moves the score: SHAP over the attribute surrogate."""

from __future__ import annotations

import numpy as np

from models.aesthetic.attributes import ATTRIBUTE_NAMES, PhotoAttributes, measure
from models.images import prepare_photo

__all__ = ["attribute_contributions"]


def attribute_contributions(image, attributes: PhotoAttributes | None = None,
                            ) -> list[tuple[str, float, str]]:
    """How far each attribute moves the score, in score points (SHAP over the attributes).

    The score comes from BRISQUE and CLIP, not from the attributes, so this explains a linear
    surrogate of it (`models.aesthetic.surrogate`): the score regressed on the nine attribute
    scores over the calibration set, within each calibration photo's spoiled copies
    (`fit_surrogate`; `surrogate_fit()` says how much of that variation it explains), for the
    content scorer here now. For a linear model with independent features, SHAP values are
    exact, and shap.LinearExplainer gives each attribute coefficient x (its score here - its
    mean over the calibration set): a positive value means this attribute is better here than
    in a typical calibration photo, and that raises the score.

    Args:
        image: anything `load_image` takes.
        attributes: the photo's attributes when the caller has them already (a rating's).

    Returns:
        (attribute name, signed contribution in score points on the 1-10 scale, hint), the
        largest first.
    """
    import shap

    from models.aesthetic.content import content_identity
    from models.aesthetic.surrogate import attribute_scores, surrogate

    if attributes is None:
        attributes = measure(prepare_photo(image).image)
    fitted = surrogate(content_identity())
    explainer = shap.LinearExplainer((fitted.coefficients, fitted.intercept), fitted.attributes)
    values = np.asarray(explainer.shap_values(attribute_scores(attributes)[None]))[0] * 9
    hints = {a.name: a.hint for a in attributes.attributes()}
    rows = [(name, float(value), hints.get(name, ""))
            for name, value in zip(ATTRIBUTE_NAMES, values, strict=True)]
    return sorted(rows, key=lambda row: -abs(row[1]))
