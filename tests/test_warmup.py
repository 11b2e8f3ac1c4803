"""The start-up warm-up: the Aesthetic reference scores and attribute surrogate are built once,
whoever asks first; a request during the warm-up waits for their result; a failing part is one
log line, never a crash."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import weights.resolver
from models.aesthetic import rating, reference, surrogate, warmup
from models.aesthetic.contributions import attribute_contributions
from models.artifacts import BoundedCache


@pytest.fixture(scope="module")
def coffee():
    from skimage import data

    return data.coffee()


def built_by(thread: str) -> list[str]:
    """What one warm-up builds, in order: the reference photos' scores, then the surrogate."""
    return [f"{thread}: reference scores", f"{thread}: surrogate"]


@pytest.fixture
def counted_builds(monkeypatch):
    """Fresh caches of the reference photos' scores and of the attribute surrogate, and
    "<thread>: <what>" for every build of either."""
    builds: list[str] = []

    def counting(what, real_build):
        def build(*args):
            builds.append(f"{threading.current_thread().name}: {what}")
            return real_build(*args)
        return build

    monkeypatch.setattr(reference, "_scores", BoundedCache(2))
    monkeypatch.setattr(surrogate, "_surrogates", BoundedCache(2))
    monkeypatch.setattr(reference, "_score_reference_photos",
                        counting("reference scores", reference._score_reference_photos))
    monkeypatch.setattr(surrogate, "_build_surrogate",
                        counting("surrogate", surrogate._build_surrogate))
    return builds


def test_warm_up_builds_the_reference_set_once(counted_builds, coffee):
    warmup.warm_up()
    assert counted_builds == built_by("MainThread")
    # Offline: scored without content.
    assert reference._scores.keys() == [None] and surrogate._surrogates.keys() == [None]

    warmup.warm_up()
    rating.rate(coffee)
    attribute_contributions(coffee)
    assert counted_builds == built_by("MainThread")


def test_a_rating_during_the_warm_up_waits_for_its_reference_set(counted_builds, coffee,
                                                                 monkeypatch):
    # The request announces itself when it reaches the reference scores; the warm-up's build
    # of them holds on until then, so the two overlap for the whole of the build (seconds).
    request_arrived = threading.Event()
    build_started = threading.Event()
    real_reference_scores = reference.reference_scores
    counting_build = reference._score_reference_photos

    def announcing_reference_scores(content):
        if threading.current_thread().name == "request":
            request_arrived.set()
        return real_reference_scores(content)

    def held_build(*args):
        build_started.set()
        assert request_arrived.wait(timeout=120), "the request never reached the reference set"
        return counting_build(*args)

    monkeypatch.setattr(reference, "reference_scores", announcing_reference_scores)
    monkeypatch.setattr(reference, "_score_reference_photos", held_build)
    results, errors = [], []

    def run(target):
        def body():
            try:
                results.append(target())
            except Exception as error:  # noqa: BLE001 - re-raised in the test's thread below
                errors.append(error)
        return body

    warm = threading.Thread(target=run(warmup.warm_up), name="warm-up")
    request = threading.Thread(target=run(lambda: rating.rate(coffee)), name="request")
    warm.start()
    assert build_started.wait(timeout=120)
    request.start()
    warm.join(timeout=300)
    request.join(timeout=300)
    assert not warm.is_alive() and not request.is_alive()
    if errors:
        raise errors[0]

    assert counted_builds == built_by("warm-up")  # the request built nothing itself
    during = next(r for r in results if isinstance(r, rating.AestheticRating))
    after = rating.rate(coffee)
    assert during.percentile == after.percentile
    assert during.score == pytest.approx(after.score)
    assert counted_builds == built_by("warm-up")


def test_a_part_that_fails_to_warm_up_is_logged_in_one_line_and_the_rest_goes_on(monkeypatch,
                                                                                caplog,
                                                                                tmp_path):
    import app
    from models.pose import comparison

    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def broken():  # a part whose weights are missing, as the resolver says so
        weights.resolve("clip")

    pose_warmed = []
    monkeypatch.setattr(warmup, "warm_up", broken)
    monkeypatch.setattr(comparison, "warm_up", lambda: pose_warmed.append(True))
    with caplog.at_level(logging.INFO, logger="instavis"):
        app.warm_up()

    skipped = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(skipped) == 1
    message = skipped[0].getMessage()
    assert "\n" not in message
    assert "aesthetic rating skipped" in message and "WeightsUnavailable" in message
    assert "python -m weights pull clip" in message  # the command that fixes it
    assert pose_warmed == [True]  # the parts after the failure still warmed
    assert "warm-up: done" in caplog.text


def test_the_app_warm_up_works_offline_and_warms_every_part(counted_builds, monkeypatch,
                                                            caplog, coffee):
    import app
    from models import clip
    from models.pose.mediapipe_runtime import RUNTIME

    def refuse(*args, **kwargs):
        raise AssertionError(f"network touched: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    clip_loads = clip.load_count
    with caplog.at_level(logging.INFO, logger="instavis"):
        app.warm_up()

    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    for part in ("aesthetic rating", "aesthetic chart", "pose comparison"):
        assert f"warm-up: {part} ready" in caplog.text
    assert reference._scores.keys() == [None]  # no CLIP weights here: no content part ...
    assert clip.load_count == clip_loads  # ... and no attempt to load CLIP
    assert None not in (RUNTIME._pose, RUNTIME._faces, RUNTIME._segmenter)
    rating.rate(coffee)
    assert counted_builds == built_by("MainThread")  # the request reuses the warm-up's


def test_with_clip_weights_the_warm_up_scores_the_reference_set_with_content(
        counted_builds, tiny_clip, coffee):
    from models import clip

    loads = clip.load_count
    warmup.warm_up()
    assert [key[0] for key in reference._scores.keys()] == ["zero-shot"]
    assert [key[0] for key in surrogate._surrogates.keys()] == ["zero-shot"]
    assert clip.load_count == loads + 1
    assert rating.rate(coffee).content_source == "zero-shot"
    assert counted_builds == built_by("MainThread") and clip.load_count == loads + 1


def test_with_clip_weights_the_warm_up_compiles_the_grad_cam_tower_every_tab_uses(
        tiny_clip, coffee):
    from explain import explain
    from models import clip
    from models.style import explanations as style_explanations

    assert warmup.warm_up_gradcam()
    tower = clip.get_clip().embedding_tower()
    assert tower.tracing_count() == 2
    # A tab's first Grad-CAM afterwards traces nothing more.
    adapter = style_explanations.zero_shot_gradcam_adapter(
        ("warm", "cold"), {"warm": ("a warm photo",), "cold": ("a cold photo",)}, 50.0)
    explain("gradcam", adapter, coffee, target=0, faithfulness=False)
    assert tower.tracing_count() == 2


def test_without_clip_weights_the_grad_cam_warm_up_does_nothing(tmp_path, monkeypatch):
    from models import clip

    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    clip.reset_default()
    loads = clip.load_count
    assert not warmup.warm_up_gradcam()
    assert clip.load_count == loads


def test_the_explainers_warm_up_compiles_shaps_numba_code():
    # A fresh interpreter: numba compiles a function per argument types on its first call, and
    # another test in this process may have run SHAP already.
    code = """
import shap.explainers._partition as partition
import shap.maskers._image as image_masker
import explain
compiled = lambda: bool(partition.lower_credit.signatures
                        and image_masker._jit_build_partition_tree.signatures)
before = compiled()
explain.warm_up()
print(before, compiled())
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).resolve().parents[1])
    assert result.stdout.split() == ["False", "True"]
