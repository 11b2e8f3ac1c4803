"""The explanation panel, served by a real Gradio server and driven with gradio_client, on a real
tiny Keras model; plus direct calls of its handler for failures and progress."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

import weights
from demos.common import PhotoInput, read_upload
from demos.explain_panel import ExplanationPanel
from demos.explain_runs import MAX_BUDGET, ExplainRequest, explain_methods, target_choices_of
from demos.fields import InvalidField
from tests.served import serve

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ["dull", "vivid"]
ALL_METHODS = ("gradcam", "cam", "lime", "shap")
SMALL_BUDGET = 10  # LIME and SHAP's minimum: keeps the test fast, and checks budgets arrive


def importable(method: str) -> bool:
    from explain.api import method_class

    try:
        method_class(method)
    except ImportError:
        return False
    return True


def require(*methods):
    """Skip the test when an explain method (or its library) cannot be imported; fail it under
    CI, where lime and shap, pinned in requirements.txt, must be there."""
    from tests.store_engines import in_ci

    missing = [m for m in methods if not importable(m)]
    if missing:
        reason = f"explain has no {', '.join(missing)} module (or its library) installed"
        if in_ci():
            pytest.fail(f"CI is set but {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def adapters():
    """32 x 32 x 3 -> Conv2D(4, 3, "conv") -> GAP -> Dense(2): CAM's head, randomly initialised."""
    import keras

    from explain import FunctionModel, KerasModel

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    features = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    outputs = keras.layers.Dense(2)(pooled)
    keras_model = KerasModel(keras.Model(inputs, outputs), output_names=OUTPUTS)
    return keras_model, FunctionModel(keras_model.predict, OUTPUTS)


def photo_array(height=48, width=64) -> np.ndarray:
    rows, cols = np.mgrid[:height, :width]
    return np.stack([rows * 5 % 256, cols * 4 % 256, (rows + cols) * 3 % 256],
                    axis=-1).astype(np.uint8)


@pytest.fixture(scope="module")
def photo_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("photos") / "photo.png"
    # The uploaded photo is the smallest every tab judges (models.images.MIN_SIDE).
    Image.fromarray(photo_array(64, 80)).save(path)
    return path


def missing_weights():
    return weights.WeightsUnavailable(weights.get_artifact("clip"), ["nowhere"],
                                      "python -m weights pull clip")


@pytest.fixture(scope="module")
def served(adapters):
    keras_model, function_model = adapters
    per_method = {"gradcam": keras_model, "cam": keras_model, "lime": function_model,
                  "shap": function_model}

    def make_request(photo, target=None):
        return ExplainRequest(read_upload(photo).image, per_method, target=target or "vivid",
                              target_choices=OUTPUTS)

    def broken_request(photo):
        raise missing_weights()

    with gr.Blocks() as demo:
        with gr.Tab("Tiny"):
            photo = PhotoInput()
            panel = ExplanationPanel.build(methods=ALL_METHODS, default=("gradcam",),
                                           key="tiny", targets=OUTPUTS)
            panel.wire([photo], make_request)
        with gr.Tab("Broken"):
            other = PhotoInput()
            ExplanationPanel.build(methods=("gradcam",), key="broken").wire(other,
                                                                            broken_request)
    with serve(demo) as url:
        yield Client(url, verbose=False), panel


def call(served, photo, methods, target="vivid", seed=0):
    client, panel = served
    budgets = {f"{name}_budget": SMALL_BUDGET for name in panel.budgets}
    return client.predict(photo=photo, methods=list(methods), target=target, seed=seed,
                          **budgets, api_name="/tiny_explain")


# === Through the server ===


def test_the_api_names_its_parameters_and_hides_the_picker_refresh(served):
    client, panel = served
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert sorted(endpoints) == ["/broken_explain", "/tiny_explain"]
    names = [p["parameter_name"] for p in endpoints["/tiny_explain"]["parameters"]]
    assert names == ["photo", "methods", "target", "seed",
                     *(f"{name}_budget" for name in panel.budgets)]
    returns = [r["component"] for r in endpoints["/tiny_explain"]["returns"]]
    assert returns == ["Markdown", "Gallery", "Dataframe", "Downloadbutton"]


@pytest.mark.parametrize(
    "methods",
    [
        ("gradcam", "cam"),
        ("gradcam", "cam", "lime", "shap"),
    ],
    ids=["gradient", "all"],
)
def test_one_map_row_and_a_png_per_method(served, photo_path, methods):
    require(*methods)
    status, gallery, table, download = call(served, handle_file(str(photo_path)), methods)
    titles = [{"gradcam": "Grad-CAM", "cam": "CAM", "lime": "LIME", "shap": "SHAP"}[m]
              for m in methods]

    # One picture per map, then where they agree (every map here explains "vivid").
    assert len(gallery) == len(methods) + 1
    *maps, agreed = gallery
    assert agreed["caption"].startswith("Where the methods agree · vivid · Rank correlation: ")
    with Image.open(agreed["image"]) as drawn:
        assert drawn.size == (80, 64)  # the photo itself, no colour scale
    for item, title in zip(maps, titles, strict=True):
        assert item["caption"].startswith(f"{title} · ")
        assert "vivid = " in item["caption"]  # the explained number, with its value
        assert item["caption"].endswith("random maps")
        with Image.open(item["image"]) as overlaid:
            # The map at the photo's own size, with its colour scale under it.
            assert overlaid.size[0] == 80 and overlaid.size[1] > 64

    assert table["headers"][:4] == ["Method", "Explains (on this photo)",
                                    "Deletion AUC (lower is better)",
                                    "Insertion AUC (higher is better)"]
    assert [row[0] for row in table["data"]] == titles
    for row, method in zip(table["data"], methods, strict=True):
        assert row[1].startswith("vivid = ")
        assert all(np.isfinite([float(value) for value in row[2:4]]))
        for random_column in row[4:6]:  # the random maps' mean ± spread
            mean, spread = (float(part) for part in random_column.split(" ± "))
            assert np.isfinite(mean) and spread >= 0
        assert row[7] in ("faithful", "no better than chance")
        expected = 1 if method in ("gradcam", "cam") else SMALL_BUDGET
        assert int(row[9]) == expected  # the budget typed in Advanced reached the method

    with open(download, "rb") as figure:
        assert figure.read(8) == b"\x89PNG\r\n\x1a\n"
    assert download.endswith("tiny-explanations.png")
    assert status.startswith("Explained **vivid** = ") and " with " in status
    assert "**Where the maps of vivid agree**" in status
    assert f"{titles[0]}–{titles[1]} ρ " in status


def test_the_target_picker_chooses_the_explained_output(served, photo_path):
    photo = handle_file(str(photo_path))
    _, _, vivid, _ = call(served, photo, ["gradcam"], target="vivid")
    status, _, dull, _ = call(served, photo, ["gradcam"], target="dull")
    assert status.startswith("Explained **dull**")
    # Different outputs of the same model: the insertion curves differ.
    assert vivid["data"][0][3] != dull["data"][0][3]


def test_a_bad_upload_gets_one_line(served, tmp_path):
    path = tmp_path / "notes.png"
    path.write_bytes(b"a shopping list, not a photo\n")
    with pytest.raises(Exception) as caught:
        call(served, handle_file(str(path)), ["gradcam"])
    message = str(caught.value)
    assert message.startswith("That photo can't be used:")
    assert "\n" not in message and "Traceback" not in message


def test_missing_weights_get_their_one_sentence(served, photo_path):
    client, _ = served
    with pytest.raises(Exception) as caught:
        client.predict(photo=handle_file(str(photo_path)), methods=["gradcam"],
                       api_name="/broken_explain")
    assert str(caught.value) == missing_weights().summary


def test_choosing_no_method_says_so(served, photo_path):
    with pytest.raises(Exception, match=r"^methods: got \[\]; expected a list of one or more "):
        call(served, handle_file(str(photo_path)), [])


def test_the_panels_settings_are_checked_before_the_request_is_made(served):
    # No photo at all: the seed is refused first, so a bad setting never loads a model.
    with pytest.raises(Exception, match=r"^seed: got 1\.5; expected a whole number from 0 "):
        call(served, None, ["gradcam"], seed=1.5)


# === Direct calls of the handler ===


@pytest.fixture(scope="module")
def panel():
    with gr.Blocks():
        return ExplanationPanel.build(methods=("gradcam", "cam"), key="direct")


def test_a_failing_method_does_not_stop_the_others(panel, adapters):
    keras_model, _ = adapters
    request = ExplainRequest(photo_array(), {"gradcam": keras_model}, target=1)
    view = panel.run(request, ["gradcam", "cam"])

    assert [o.method for o in view.outcomes] == ["gradcam", "cam"]
    assert view.outcomes[0].explanation is not None
    assert view.outcomes[1].error == "CAM is not offered for this model."
    assert len(view.gallery) == 1
    picture = view.gallery[0][0]
    assert picture.shape[1:] == (64, 3) and picture.shape[0] > 48  # map, then its scale
    assert view.rows[1] == ["CAM", None, None, None, None, None, None,
                            "failed: CAM is not offered for this model.", None, None]
    assert "**CAM failed:** CAM is not offered for this model." in view.status
    assert view.figure_path.read_bytes().startswith(b"\x89PNG")


def test_when_every_method_fails_the_user_gets_one_line(panel, adapters):
    _, function_model = adapters
    request = ExplainRequest(photo_array(), function_model, target="vivid")
    with pytest.raises(gr.Error) as caught:
        panel.run(request, ["gradcam", "cam"])
    message = caught.value.message
    assert message.startswith("No method could explain this: Grad-CAM: gradcam needs gradients")
    assert "; CAM: cam needs gradients" in message and "\n" not in message


class _RaisingMapping(dict):
    """A per-method model mapping whose lookups fail as a model that cannot load would."""

    def __contains__(self, method):
        return True

    def __getitem__(self, method):
        raise missing_weights()


def test_the_same_failure_everywhere_is_said_once(panel):
    request = ExplainRequest(photo_array(), _RaisingMapping(), target=0)
    with pytest.raises(gr.Error) as caught:
        panel.run(request, ["gradcam", "cam"])
    assert caught.value.message == missing_weights().summary


def test_progress_moves_forward_and_names_each_method(adapters):
    keras_model, _ = adapters
    reports = []
    outcomes = explain_methods(ExplainRequest(photo_array(), keras_model, target=0),
                               ["gradcam", "cam"],
                               progress=lambda fraction, desc: reports.append((fraction, desc)))
    assert all(o.explanation is not None for o in outcomes)
    fractions = [fraction for fraction, _ in reports]
    assert fractions == sorted(fractions) and fractions[0] == 0.0
    assert fractions[-1] == pytest.approx(1.0)
    descs = [desc for _, desc in reports]
    assert descs[0] == "Grad-CAM (1 of 2)" and descs[-1] == "CAM (2 of 2)"
    # Each map costs 1 evaluation; Grad-CAM's faithfulness pass measures the random maps
    # (81 evaluations), CAM's on the same model reuses them and adds only its own curves (30).
    assert max(f for f, d in reports if d.startswith("Grad-CAM")) == pytest.approx(82 / 113)


def test_a_method_that_cannot_be_imported_is_left_out_and_named(monkeypatch):
    import explain.specs

    ghost = explain.specs.MethodSpec("ghost", "explain.no_such_module:Ghost",
                                     "no_such_library", 100, 10, False)
    monkeypatch.setitem(explain.specs.SPECS, "ghost", ghost)
    with gr.Blocks():
        panel = ExplanationPanel.build(methods=("ghost", "gradcam"), default=("ghost",),
                                       key="ghostly")
    assert list(panel.methods) == ["gradcam"]
    assert panel.picker.choices == [("Grad-CAM", "gradcam")]
    assert panel.picker.value == ["gradcam"]  # the unusable default falls back to a usable one
    assert "no_such_library" in panel.unavailable["ghost"]


def test_unknown_method_names_are_a_programming_error():
    with gr.Blocks(), pytest.raises(ValueError, match="Unknown method 'gradcamm'"):
        ExplanationPanel.build(methods=("gradcamm",))


@pytest.mark.parametrize(
    "target, choices, expected",
    [
        ("vivid", OUTPUTS, {"choices": OUTPUTS, "value": "vivid"}),
        (1, [("dull", 0), ("vivid", 1)], {"choices": [("dull", 0), ("vivid", 1)], "value": 1}),
        ("sharp", OUTPUTS, {"choices": OUTPUTS, "value": None}),
        ("vivid", None, None),
    ],
)
def test_requests_refresh_the_target_picker_only_when_they_bring_choices(target, choices,
                                                                         expected):
    request = ExplainRequest(photo_array(), None, target=target, target_choices=choices)
    assert target_choices_of(request) == expected


def test_importing_the_panel_loads_no_deep_learning_framework():
    code = ("import sys, demos.explain_panel; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'torch') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=ROOT)
    assert result.stdout.strip() == "[]"


# === What a tab may set ===


def test_a_tab_can_lower_a_methods_default_budget(adapters):
    require("lime")
    _, function_model = adapters
    with gr.Blocks():
        panel = ExplanationPanel.build(methods=("gradcam", "lime"), key="slow",
                                       budgets={"lime": 12, "gradcam": 5})
    assert panel.methods["lime"].default_budget == 12
    assert panel.budgets["lime"].value == 12  # the Advanced field starts at the tab's budget
    assert panel.methods["gradcam"].default_budget == 1  # one pass: a budget means nothing
    # Left out of a direct call, the budget is the tab's, not LIME's own 200.
    view = panel.run(ExplainRequest(photo_array(), function_model, target="vivid"), ["lime"])
    assert view.rows[0][9] == 12


@pytest.mark.parametrize("budget", [3, MAX_BUDGET + 1])
def test_a_budget_outside_the_methods_range_is_a_programming_error(budget):
    require("lime")
    with gr.Blocks(), pytest.raises(ValueError, match=f"LIME needs a budget of 10 to "
                                                      f"{MAX_BUDGET} model evaluations"):
        ExplanationPanel.build(methods=("lime",), budgets={"lime": budget})


def test_a_direct_run_has_the_same_ranges_as_the_api(adapters):
    require("lime")
    _, function_model = adapters
    with gr.Blocks():
        panel = ExplanationPanel.build(methods=("gradcam", "lime"), key="ranged")
    request = ExplainRequest(photo_array(), function_model, target="vivid")
    with pytest.raises(InvalidField, match=f"^lime_budget: got {MAX_BUDGET + 1}; "):
        panel.run(request, ["lime"], budgets={"lime": MAX_BUDGET + 1})
    with pytest.raises(InvalidField, match=r"^methods: got \['lime', 'lime'\]; "):
        panel.run(request, ["lime", "lime"])


def test_a_tab_names_the_methods_it_cannot_offer_here():
    with gr.Blocks():
        panel = ExplanationPanel.build(methods=("gradcam", "cam"), default=("gradcam",),
                                       key="noweights",
                                       unavailable={"gradcam": "needs the CLIP weights"})
    assert list(panel.methods) == ["cam"] and panel.picker.value == ["cam"]
    assert panel.unavailable == {"gradcam": "needs the CLIP weights"}


def test_a_request_can_give_a_methods_reason_instead_of_a_model(panel, adapters):
    keras_model, _ = adapters
    request = ExplainRequest(photo_array(), {"gradcam": "Grad-CAM sees only the background.",
                                             "cam": keras_model}, target=1)
    view = panel.run(request, ["gradcam", "cam"])
    assert view.outcomes[0].error == "Grad-CAM sees only the background."
    assert view.outcomes[1].explanation is not None


def test_a_run_needs_no_gradio():
    code = """
import sys
import numpy as np
from demos.explain_runs import ExplainRequest, RunRefused, run_request
from explain import FunctionModel

image = np.zeros((32, 48, 3), np.uint8)
image[8:20, 10:30] = 200
model = FunctionModel(lambda x: x[:, 8:20, 10:30].mean(axis=(1, 2, 3))[:, None] / 255, ["bright"])
run = run_request(ExplainRequest(image, {"lime": model, "gradcam": "no gradients here"},
                                 target="bright"), ["gradcam", "lime"], key="plain")
print(len(run.gallery), run.outcomes[0].error, run.rows[1][0], run.figure_path.suffix)
try:
    run_request(ExplainRequest(image, model), [], key="plain")
except RunRefused as refused:
    print(refused)
print("gradio" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=ROOT)
    assert result.stdout.splitlines() == [
        "1 no gradients here LIME .png", "Pick at least one method to explain with.", "False"]
