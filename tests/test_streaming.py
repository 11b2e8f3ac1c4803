"""The explanation panel while it works: maps stream in as they improve, the verdict comes
last, a closed stream stops its run, and the examples' explanations are ready ahead."""

from __future__ import annotations

import threading

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from benchmarks.stand_ins.region_models import natural_photo, scene_disk
from demos import ahead
from demos.common import Activity, PhotoInput, read_upload
from demos.explain_panel import ExplanationPanel
from demos.explain_runs import (
    EXAMPLE_ANSWERS,
    AnswersAhead,
    ExplainRequest,
    run_request,
    stream_request,
)
from explain import FunctionModel
from tests.served import serve

BUDGET = 120


def disk_model(image: np.ndarray, mask: np.ndarray) -> FunctionModel:
    """How intact the disk is (1 for the photo itself): only the disk matters."""
    reference = image.astype(np.float32)

    def intact(images: np.ndarray) -> np.ndarray:
        change = np.abs(images.astype(np.float32) - reference).mean(axis=-1)
        return 1 - (change * mask).sum(axis=(1, 2))[:, None] / (mask.sum() * 255)

    return FunctionModel(intact, ["intact"], batch_size=16)


@pytest.fixture(scope="module")
def scene():
    image = natural_photo("coins", side=96)
    mask = scene_disk("coins", image.shape[:2])
    return image, mask


def request_for(scene, model=None) -> ExplainRequest:
    image, mask = scene
    return ExplainRequest(image, model or disk_model(image, mask), target="intact")


def test_maps_stream_in_before_the_verdict_which_comes_last(scene):
    views = list(stream_request(request_for(scene), ["lime", "shap"], key="t",
                                budgets={"lime": BUDGET, "shap": BUDGET}))
    *working, final = views
    assert working, "no map was shown before the verdict"
    first = working[0]
    assert first.figure_path is None and len(first.gallery) == 1
    assert first.gallery[0][1].startswith("LIME · intact · ")
    assert "verdict to come" in first.gallery[0][1]
    assert first.rows == []  # no verdict yet
    assert "verdict" in first.status and "Explained" not in first.status
    for view in working:  # a verdict is shown only with a finished map
        assert all(row[7] in ("faithful", "no better than chance") for row in view.rows)
        assert len(view.rows) < 2
    # The last view is the finished run's: the same maps and verdicts run_request gives.
    plain = run_request(request_for(scene), ["lime", "shap"], key="t",
                        budgets={"lime": BUDGET, "shap": BUDGET}, settle_at=0.95)
    assert final.figure_path is not None and final.figure_path.exists()
    assert [row[:8] for row in final.rows] == [row[:8] for row in plain.rows]
    assert [c for _, c in final.gallery] == [c for _, c in plain.gallery]
    for ours, theirs in zip(final.explanations, plain.explanations, strict=True):
        np.testing.assert_array_equal(ours.heatmap, theirs.heatmap)
    assert final.status.startswith("Explained **intact** = ")


def test_a_closed_stream_stops_its_run(scene):
    image, mask = scene
    model = disk_model(image, mask)
    views = stream_request(request_for(scene, model), ["lime"], key="t",
                           budgets={"lime": 2000}, settle_at=None)
    first = next(views)
    assert first.figure_path is None
    views.close()
    for thread in threading.enumerate():
        if thread.name == "instavis-explain":
            thread.join(timeout=60)
    # 2000 samples and an 81-evaluation faithfulness pass were asked for; the run stopped
    # within a batch of the close.
    assert model.evaluations < 1000


# === Answers ahead ===


@pytest.fixture
def examples_panel(scene, tmp_path):
    """A panel whose example is the coins photo, registered with demos.ahead; and a record of
    every adapter its requests made."""
    image, mask = scene
    path = tmp_path / "coins.png"
    Image.fromarray(image).save(path)
    made = []

    def make_request(photo, target=None):
        photo_image = read_upload(photo).image
        model = disk_model(photo_image, mask)
        made.append(model)
        return ExplainRequest(photo_image, model, target="intact")

    with gr.Blocks():
        panel = ExplanationPanel.build(methods=("lime", "shap"), default=("lime", "shap"),
                                       key="ahead-test", budgets={"lime": 60, "shap": 60})
    EXAMPLE_ANSWERS.clear()
    yield panel, make_request, path, made
    EXAMPLE_ANSWERS.clear()


def test_an_example_explained_ahead_answers_without_model_evaluations(examples_panel):
    panel, make_request, path, made = examples_panel
    job = ahead.ExampleJob(panel, make_request, (str(path),))
    added = ahead.answer_examples([job], activity=Activity(), idle_seconds=0)
    assert added == 2 and made[-1].evaluations > 0

    # The visitor clicks the example and Explain: same photo, the panel's defaults.
    request = make_request(str(path))
    view = panel.run(request, ["lime", "shap"])
    assert made[-1].evaluations == 0
    assert [row[0] for row in view.rows] == ["LIME", "SHAP"]
    assert "LIME and SHAP were computed ahead for this example" in view.status
    # Another seed is another question: it is computed.
    request = make_request(str(path))
    panel.run(request, ["lime"], seed=1)
    assert made[-1].evaluations > 0


def test_answering_ahead_yields_to_a_visitor(examples_panel):
    """A request arriving while an example is explained stops that work within a batch; it
    goes on once the app is idle again."""
    panel, make_request, path, made = examples_panel
    activity = Activity()
    visitor = threading.Event()  # set: the visitor's request is over
    evaluated_while_serving = []

    def visiting_request(photo, target=None):
        request = make_request(photo, target)
        model = request.model
        original = model._predict_batch
        calls = []

        def predict(images):
            evaluated_while_serving.append(activity.busy())
            calls.append(len(images))
            if len(calls) == 1 and not arrived.is_set():  # a visitor comes during a batch
                threading.Thread(target=serve_visitor, daemon=True).start()
                arrived.wait()
            return original(images)

        model._predict_batch = predict
        return request

    arrived = threading.Event()

    def serve_visitor():
        with activity.serving():
            arrived.set()
            visitor.wait()

    job = ahead.ExampleJob(panel, visiting_request, (str(path),))
    worker = threading.Thread(target=ahead.answer_examples, args=([job],),
                              kwargs={"activity": activity, "idle_seconds": 0})
    worker.start()
    arrived.wait(timeout=60)
    worker.join(timeout=2)
    assert worker.is_alive()  # waiting for the visitor to be served
    visitor.set()
    worker.join(timeout=120)
    assert not worker.is_alive()
    # Only the batch that was already running when the visitor came was evaluated while
    # serving; the work then finished.
    assert evaluated_while_serving.count(True) == 0
    assert len(EXAMPLE_ANSWERS) == 2


def test_answers_are_keyed_on_what_they_depend_on(scene):
    answers = AnswersAhead()
    image, mask = scene
    request = request_for(scene)
    key = answers.key(request, "lime", 0, 60, 0.95)
    assert key == answers.key(request_for(scene), "lime", 0, 60, 0.95)  # a new adapter
    other_photo = image.copy()
    other_photo[0, 0] ^= 1
    assert key != answers.key(ExplainRequest(other_photo, request.model, target="intact"),
                              "lime", 0, 60, 0.95)
    assert key != answers.key(request, "lime", 1, 60, 0.95)
    assert key != answers.key(request, "lime", 0, 80, 0.95)
    assert key != answers.key(request, "shap", 0, 60, 0.95)
    assert answers.key(ExplainRequest(image, request.model, target=lambda out: out[:, 0]),
                       "lime", 0, 60, 0.95) is None


# === Through the server ===


def test_the_endpoint_streams_maps_then_answers_as_before(scene, tmp_path):
    image, mask = scene
    path = tmp_path / "photo.png"
    Image.fromarray(image).save(path)

    def make_request(photo):
        photo_image = read_upload(photo).image
        return ExplainRequest(photo_image, disk_model(photo_image, mask), target="intact")

    with gr.Blocks() as demo:
        photo = PhotoInput()
        panel = ExplanationPanel.build(methods=("lime",), default=("lime",), key="stream")
        panel.wire([photo], make_request)
    with serve(demo) as url:
        client = Client(url, verbose=False)
        job = client.submit(photo=handle_file(str(path)), methods=["lime"], seed=3,
                            lime_budget=BUDGET, api_name="/stream_explain")
        final = job.result(timeout=300)
        outputs = job.outputs()
    status, gallery, table, download = final
    assert len(outputs) >= 2
    first_status, first_gallery, first_table, first_download = outputs[0]
    assert len(first_gallery) == 1 and "verdict to come" in first_gallery[0]["caption"]
    assert first_download is None and not (first_table or {}).get("data")
    # The answer has the shape it always had: a map, its row with a verdict, a figure.
    assert status.startswith("Explained **intact** = ")
    assert [row[0] for row in table["data"]] == ["LIME"]
    assert table["data"][0][7] in ("faithful", "no better than chance")
    assert gallery[0]["caption"].endswith("random maps")
    assert download.endswith("stream-explanations.png")


def test_a_tab_that_cannot_explain_its_examples_is_skipped_and_the_rest_answered(
        examples_panel, caplog):
    panel, make_request, path, made = examples_panel
    broken_calls = []

    def broken_request(photo, target=None):
        broken_calls.append(photo)
        raise gr.Error("Style needs the CLIP weights.")

    with gr.Blocks():
        broken = ExplanationPanel.build(methods=("lime",), default=("lime",), key="broken-tab")
    jobs = [ahead.ExampleJob(broken, broken_request, (str(path),)),
            ahead.ExampleJob(broken, broken_request, (str(path),)),
            ahead.ExampleJob(panel, make_request, (str(path),))]
    with caplog.at_level("INFO", logger="instavis"):
        added = ahead.answer_examples(jobs, activity=Activity(), idle_seconds=0)
    assert added == 2 and len(broken_calls) == 1
    skipped_lines = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert skipped_lines == ["examples ahead: broken-tab examples skipped (Style needs the "
                             "CLIP weights.)"]
