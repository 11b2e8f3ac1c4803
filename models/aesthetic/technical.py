"""Technical quality as the Aesthetic tab shows it: BRISQUE on the judged copy of a photo.

BRISQUE (`models.aesthetic.brisque`) is a model of human quality ratings on the LIVE database
(Mittal, Moorthy and Bovik 2012), whose regression ships as plain numbers in
`models/aesthetic/brisque_live.npz`; it works offline. It was chosen over the project's own CNN
by `python -m models.evaluate quality --whole-photos` (README, "Technical quality").
"""

from __future__ import annotations

import numpy as np

from models.images import judged_copy

__all__ = ["QUALITY_SOURCE", "brisque_scores", "quality_scores"]

QUALITY_SOURCE = "BRISQUE, a model of human quality ratings on LIVE"
"""What the technical quality on the card is, in the card's words."""


def brisque_scores(images) -> np.ndarray:
    """BRISQUE score of each photo's `judged_copy` (uint8 arrays, any sizes): lower is better."""
    from models.aesthetic import brisque

    return brisque.brisque_scores([judged_copy(image) for image in images])


def quality_scores(images) -> np.ndarray:
    """Technical quality of each photo in [0, 1]: BRISQUE through `quality_from_score`.

    Each photo is judged as its `judged_copy`, as everything the tab shows is, so the
    explainers, which perturb that copy, explain exactly this number. BRISQUE reads the whole
    photo (no crops), and its statistics do not change when the photo is mirrored, apart from
    the diagonal neighbour pairs trading places."""
    from models.aesthetic import brisque

    return brisque.quality_from_score(brisque_scores(images))
