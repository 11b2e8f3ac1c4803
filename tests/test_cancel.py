"""A cancelled or abandoned explanation stops: its worker is free again at once, and the model
stops being called within a batch or two, so the next person does not share the cores with a
run nobody will see."""

from __future__ import annotations

import threading
import time

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from demos.common import PhotoInput, read_upload
from demos.explain_panel import ExplanationPanel
from demos.explain_runs import ExplainRequest, explain_methods
from explain import Cancelled, FunctionModel, stop_when
from tests.served import serve


class SlowModel:
    """A black box that takes a while per batch and counts its calls."""

    def __init__(self, seconds_per_batch: float = 0.05):
        self.seconds = seconds_per_batch
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, images: np.ndarray) -> np.ndarray:
        time.sleep(self.seconds)
        with self.lock:
            self.calls += 1
        return images[:, :8, :8].mean(axis=(1, 2, 3))[:, None] / 255


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_stop_when_stops_every_method_and_the_rest_of_the_run():
    slow = SlowModel(0.0)
    model = FunctionModel(slow, ["score"], batch_size=4)
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), np.uint8)
    request = ExplainRequest(image, model, target="score")
    stop = threading.Event()

    def check():  # let a few batches through, then stop
        if slow.calls >= 5:
            stop.set()
        return stop.is_set()

    with pytest.raises(Cancelled):
        explain_methods(request, ["lime", "shap"], budgets={"lime": 400, "shap": 400},
                        should_stop=check)
    assert slow.calls == 5  # asked before every batch: not one more call after the stop
    # Outside the block nothing is checked any more.
    with stop_when(None):
        assert model.predict(image[None]).shape == (1, 1)


def test_a_cancelled_explanation_frees_the_worker_and_stops_the_model(tmp_path):
    slow = SlowModel(0.05)
    model = FunctionModel(slow, ["score"], batch_size=5)

    def make_request(photo):
        return ExplainRequest(read_upload(photo).image, model, target="score")

    with gr.Blocks() as demo:
        photo = PhotoInput()
        panel = ExplanationPanel.build(methods=("lime",), key="slow")
        panel.wire([photo], make_request)
    path = tmp_path / "photo.png"
    Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(path)

    with serve(demo) as url:
        client = Client(url, verbose=False)
        # 2000 samples in batches of 5 at 50 ms: about 20 s if nothing stopped it.
        job = client.submit(handle_file(str(path)), ["lime"], 0, 2000, api_name="/slow_explain")
        assert wait_for(lambda: slow.calls >= 3, 30), "the run never started"
        job.cancel()
        # The model is called a batch or two more at most, then never again.
        assert wait_for(lambda: _stopped(slow), 5), "the model kept being called"
        stopped_at = slow.calls
        assert stopped_at < 100
        # The worker is free: a small run goes through, alone.
        done = client.predict(handle_file(str(path)), ["lime"], 0, 10, api_name="/slow_explain")
        assert done[0].startswith("Explained")
        assert slow.calls - stopped_at <= 2 * (10 + 81) // 5 + 4  # only the new run's batches


def _stopped(slow: SlowModel) -> bool:
    before = slow.calls
    time.sleep(0.5)
    return slow.calls == before


def test_one_model_call_holds_a_bounded_number_of_image_bytes(monkeypatch):
    import explain.model_base as model_base

    sizes = []
    model = FunctionModel(lambda images: sizes.append(len(images)) or
                          np.zeros((len(images), 1)), ["zero"], batch_size=64)
    monkeypatch.setattr(model_base, "MAX_BATCH_BYTES", 10 * 100 * 100 * 3)
    model.predict(np.zeros((25, 100, 100, 3), np.uint8))
    assert sizes == [10, 10, 5]  # 10 images of 30 kB fit the cap, not 64
    sizes.clear()
    model.predict(np.zeros((25, 10, 10, 3), np.uint8))
    assert sizes == [25]  # small images: the batch size rules
