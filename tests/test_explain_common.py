"""One shared test over every method, every adapter it supports and awkward image sizes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from benchmarks.stand_ins.region_models import photo, rectangle_mask, region_model
from explain import METHODS, Explanation, FunctionModel, KerasModel, explain

GRADIENT = ("gradcam", "cam")
SMALL_BUDGET = {"gradcam": 1, "cam": 1, "lime": 40, "shap": 40}
SIZES = [(37, 53), (91, 200), (48, 48)]


class CountingFunction:
    """A black box that scores the mean brightness of the image's upper-right quarter, and
    counts every image it is shown (independently of the adapter's own count)."""

    def __init__(self):
        self.images_seen = 0

    def __call__(self, images):
        self.images_seen += len(images)
        height, width = images.shape[1:3]
        corner = images[:, : height // 2, width // 2 :].astype(np.float32)
        return corner.mean(axis=(1, 2, 3))[:, None] / 255.0


@pytest.fixture(scope="module")
def keras_adapter():
    # A fixed 32 x 32 input: every other image size goes through the adapter's resize.
    return KerasModel(region_model(rectangle_mask(32, 32)), output_names=["score"])


def adapters_for(method, keras_adapter):
    yield "keras", keras_adapter
    if method not in GRADIENT:
        yield "function", FunctionModel(CountingFunction(), ["corner"])


CASES = [
    (method, kind, size)
    for method in METHODS
    for kind in (("keras",) if method in GRADIENT else ("keras", "function"))
    for size in SIZES
]


@pytest.mark.parametrize("method, kind, size", CASES,
                         ids=[f"{m}-{k}-{s[0]}x{s[1]}" for m, k, s in CASES])
def test_every_method_and_adapter_on_odd_sizes(method, kind, size, keras_adapter):
    model = dict(adapters_for(method, keras_adapter))[kind]
    image = photo(*size)
    fractions = []
    exp = explain(method, model, image, target=0, seed=0, budget=SMALL_BUDGET[method],
                  progress=fractions.append)
    assert isinstance(exp, Explanation) and exp.method == method
    assert exp.heatmap.shape == size and exp.heatmap.dtype == np.float32
    assert np.isfinite(exp.heatmap).all()
    low = -1.0 if exp.signed else 0.0
    assert exp.heatmap.min() >= low and exp.heatmap.max() <= 1.0
    assert exp.heatmap.max() > 0, "an all-zero map explains nothing"
    assert exp.signed == (method not in GRADIENT)
    assert 1 <= exp.meta["evaluations"] <= SMALL_BUDGET[method]
    assert exp.faithfulness is not None and exp.meta["faithfulness_evaluations"] > 0
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_explanations_are_frozen(keras_adapter):
    exp = explain("gradcam", keras_adapter, photo(32, 32), faithfulness=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        exp.method = "lime"
    with pytest.raises(ValueError):
        exp.heatmap[0, 0] = 0.5
    with pytest.raises(TypeError):
        exp.meta["seconds"] = 0


@pytest.mark.parametrize("method", list(METHODS))
def test_same_seed_same_map(method, keras_adapter):
    image = photo(40, 56)
    first = explain(method, keras_adapter, image, seed=3, budget=SMALL_BUDGET[method] + 10)
    second = explain(method, keras_adapter, image, seed=3, budget=SMALL_BUDGET[method] + 10)
    np.testing.assert_array_equal(first.heatmap, second.heatmap)
    assert first.faithfulness == second.faithfulness


@pytest.mark.parametrize("method", ["lime", "shap"])
@pytest.mark.parametrize("budget", [30, 75])
def test_budget_caps_the_calls_the_black_box_sees(method, budget):
    black_box = CountingFunction()
    model = FunctionModel(black_box, ["corner"])
    exp = explain(method, model, photo(48, 64), budget=budget, faithfulness=False)
    assert black_box.images_seen <= budget
    assert exp.meta["evaluations"] == black_box.images_seen
    # The budget is used, not ignored: most of it goes to the map.
    assert black_box.images_seen >= budget // 2


def test_runs_sharing_one_model_each_report_their_own_evaluations():
    """An app shares one cached adapter between requests: two runs at once on it each report
    the evaluations a run alone reports, not a mix of both."""
    import threading

    def solo(method, budget):
        black_box = CountingFunction()
        exp = explain(method, FunctionModel(black_box, ["corner"]), photo(48, 64), seed=1,
                      budget=budget)
        return exp.meta["evaluations"], exp.meta["faithfulness_evaluations"]

    expected = {("lime", 30): solo("lime", 30), ("shap", 75): solo("shap", 75)}
    shared = FunctionModel(CountingFunction(), ["corner"])
    start, got = threading.Barrier(2), {}

    def run(method, budget):
        start.wait()
        exp = explain(method, shared, photo(48, 64), seed=1, budget=budget)
        got[method, budget] = (exp.meta["evaluations"], exp.meta["faithfulness_evaluations"])

    threads = [threading.Thread(target=run, args=key) for key in expected]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got == expected
    assert shared.evaluations == sum(sum(counts) for counts in expected.values())


def test_faithfulness_is_skipped_on_request(keras_adapter):
    exp = explain("gradcam", keras_adapter, photo(32, 32), faithfulness=False)
    assert exp.faithfulness is None and "faithfulness_evaluations" not in exp.meta


def test_budget_accepts_any_whole_number_type(keras_adapter):
    for budget in (np.int64(1), 1.0):
        exp = explain("gradcam", keras_adapter, photo(32, 32), budget=budget, faithfulness=False)
        assert exp.meta["evaluations"] == 1
    with pytest.raises(ValueError, match="whole number"):
        explain("gradcam", keras_adapter, photo(32, 32), budget=1.5)


def test_explain_modules_import_each_other_without_a_circle():
    """No module of explain/ may import, at top level or inside a function, one that imports
    it back, directly or through others (the package's __init__ only gathers the names)."""
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "explain"
    graph = {}
    for path in package.glob("*.py"):
        if path.stem == "__init__":
            continue
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
                    "explain."):
                imported.add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[1] for alias in node.names
                             if alias.name.startswith("explain.")}
        graph[path.stem] = imported
    assert "api" not in graph["metrics"] and "sanity" not in graph["metrics"]

    def reaches(start, goal, seen=()):
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, (*seen, nxt)))
                   for nxt in graph.get(start, ()))

    circles = sorted(module for module in graph if reaches(module, module))
    assert circles == [], f"modules on an import circle: {circles}"
