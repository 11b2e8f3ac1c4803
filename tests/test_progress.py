"""The bar moves during long steps (demos.progress.SteadyProgress): it creeps toward the end of
the step it is in, never past it, and says how long the step has taken; in a real Gradio
request the creeping reaches the client."""

from __future__ import annotations

import threading

import gradio as gr
import pytest

from demos.progress import CREEP, SteadyProgress


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def bar():
    heard = []
    clock = Clock()
    steady = SteadyProgress(lambda fraction, desc: heard.append((fraction, desc)),
                            tick_seconds=0.5, clock=clock)
    return steady, heard, clock


def test_a_silent_step_creeps_toward_its_end_and_never_reaches_it(bar):
    steady, heard, clock = bar
    with steady.step(0.2, 0.6, "Scoring quality"):
        assert heard == [(0.2, "Scoring quality")]
        clock.now += 0.4
        assert not steady.tick()  # heard from less than a tick ago
        shown = [0.2]
        for second in range(1, 41):
            clock.now = 100.0 + second * 0.5
            assert steady.tick()
            shown.append(heard[-1][0])
    # Each tick moves CREEP of the way that is left: 0.2 + 0.4 * CREEP first.
    assert shown[1] == pytest.approx(0.2 + 0.4 * CREEP)
    assert all(a < b < 0.6 for a, b in zip(shown, shown[1:], strict=False))
    assert heard[-1][1] == "Scoring quality (20 s)"


def test_batches_of_the_same_work_set_the_next_target_and_the_end_caps_it(bar):
    steady, heard, clock = bar
    steady(0.1, "LIME (1 of 2)")
    steady.expect(0.25)
    clock.now += 1
    steady(0.2)  # a batch: the next should land near 0.3, but this method ends at 0.25
    for _ in range(30):
        clock.now += 1
        steady.tick()
    assert 0.2 < heard[-1][0] < 0.25 and heard[-1][1].startswith("LIME (1 of 2) (")


def test_work_of_unknown_extent_is_not_guessed(bar):
    steady, heard, clock = bar
    steady(0.3, "Drawing")
    clock.now += 5
    assert not steady.tick() and heard == [(0.3, "Drawing")]


def test_a_part_of_the_bar_maps_its_reports_and_its_end(bar):
    steady, heard, clock = bar
    part = steady.within(0.05, 1.0)
    part(0.0, "Grad-CAM (1 of 2)")
    part.expect(0.5)
    clock.now += 1
    steady.tick()
    assert heard[0] == (0.05, "Grad-CAM (1 of 2)")
    assert heard[1][0] == pytest.approx(0.05 + (0.525 - 0.05) * CREEP)


def test_the_bar_never_goes_back_when_the_work_reports_less_than_it_shows(bar):
    steady, heard, clock = bar
    steady(0.1, "LIME")
    steady(0.3, "LIME")  # a stride of 0.2: the next batch is guessed at 0.5
    for _ in range(20):
        clock.now += 0.5
        steady.tick()
    crept = heard[-1][0]
    assert 0.45 < crept < 0.5
    steady(0.35, "LIME")  # a short last batch lands below the creep
    steady(0.2, "Checking the map")  # new work that starts lower
    assert [fraction for fraction, _ in heard[-2:]] == [crept, crept]
    assert heard[-1][1] == "Checking the map"
    steady(0.6, "Checking the map")
    assert heard[-1][0] == 0.6


def test_every_long_action_reports_a_bar_that_never_decreases():
    """An explanation run (LIME then SHAP, with the faithfulness check) on a model whose
    batches take a while, through the same SteadyProgress the tabs use, ticking for real: every
    fraction that reaches the page is at least the one before."""
    import time

    import numpy as np

    from demos.explain_runs import ExplainRequest, explain_methods
    from explain import FunctionModel

    reached = []

    def slow_mean(images):
        time.sleep(0.004 * len(images))  # a few ms an image, like a small CNN
        return images.mean(axis=(1, 2, 3))[:, None] / 255

    photo = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    model = FunctionModel(slow_mean, ["mean"], batch_size=8)
    with SteadyProgress(lambda fraction, desc: reached.append(fraction),
                        tick_seconds=0.02) as steady:
        with steady.step(0.0, 0.1, "Preparing the model"):
            time.sleep(0.2)
        explain_methods(ExplainRequest(photo, model, target=0), ["lime", "shap"],
                        budgets={"lime": 60, "shap": 60}, progress=steady.within(0.1, 1.0))
    assert len(reached) > 20
    drops = [(a, b) for a, b in zip(reached, reached[1:], strict=False) if b < a]
    assert not drops, drops[:5]


def test_every_method_of_an_explanation_run_says_where_it_ends():
    import numpy as np

    from demos.explain_runs import ExplainRequest, explain_methods
    from explain import FunctionModel

    ends = []

    class Recorder:
        def __call__(self, fraction, desc):
            pass

        def expect(self, end):
            ends.append(end)

    model = FunctionModel(lambda images: images.mean(axis=(1, 2, 3))[:, None] / 255, ["mean"])
    photo = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    explain_methods(ExplainRequest(photo, model, target=0), ["lime", "shap"],
                    budgets={"lime": 20, "shap": 20}, progress=Recorder())
    # LIME: 20 + an 81-evaluation faithfulness pass; SHAP: 20 + 30, reusing LIME's random maps.
    assert ends == [pytest.approx(101 / 151), pytest.approx(1.0)]


def test_in_a_gradio_request_the_creeping_reaches_the_client():
    from gradio_client import Client

    from tests.served import serve

    release = threading.Event()

    def slow(progress=gr.Progress()):
        with SteadyProgress(progress, tick_seconds=0.2) as steady:
            with steady.step(0.0, 0.5, "Loading a model"):
                release.wait(60)
        return "done"

    with gr.Blocks() as demo:
        out = gr.Textbox()
        gr.Button().click(slow, outputs=out, api_name="slow")
    with serve(demo) as url:
        job = Client(url, verbose=False).submit(api_name="/slow")
        crept = None
        for _ in range(600):  # a bound against hanging, not a speed check
            status = job.status()
            units = status.progress_data or []
            if units and units[0].desc and units[0].desc.startswith("Loading a model ("):
                crept = units[0]
                break
            threading.Event().wait(0.1)
        release.set()
        assert job.result(timeout=60) == "done"
    assert crept is not None, "the bar never moved during the step"
    assert 0 < crept.progress < 0.5
