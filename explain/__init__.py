"""Model-agnostic explanations: Grad-CAM, CAM, LIME and SHAP behind one call, each with a
faithfulness score. This package imports nothing else of InstaVis.

    from explain import explain, Explanation, KerasModel, FunctionModel
    exp = explain("gradcam", KerasModel(model), image, target=0)
"""

from explain.api import METHODS, default_budget, explain, warm_up
from explain.explanation import Explanation, Faithfulness
from explain.function_model import FunctionModel
from explain.keras_model import KerasModel
from explain.patch_model import PatchModel
from explain.sanity import SanityCheck, sanity_check
from explain.stopping import Cancelled, stop_when
from explain.tower_model import EmbeddingTower, TowerHeadModel

__all__ = [
    "METHODS", "Cancelled", "EmbeddingTower", "Explanation", "Faithfulness", "FunctionModel",
    "KerasModel", "PatchModel", "TowerHeadModel",
    "SanityCheck", "default_budget", "explain", "sanity_check", "stop_when", "warm_up",
]
