"""app.py: its flags, its import being light, the app it builds and when its warm-up starts.
(The warm-up of a running app is checked in tests/test_browser.py, on the app it drives.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import gradio as gr
import pytest

import weights

ROOT = Path(__file__).resolve().parents[1]


def run_app(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "app.py", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("value", ["yes", "2", ""])
def test_a_wrong_explain_ahead_setting_stops_the_start_in_one_line(value):
    result = subprocess.run([sys.executable, "app.py", "--offline", "--port", "1"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "INSTAVIS_EXPLAIN_AHEAD": value})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"app.py: error: INSTAVIS_EXPLAIN_AHEAD must be 1 (explain the examples ahead) or 0 "
        f"(do not), got {value!r}."]


def test_help_lists_every_flag():
    result = run_app("--help")
    assert result.returncode == 0
    for flag in ("--host", "--port", "--share", "--offline"):
        assert flag in result.stdout


@pytest.mark.parametrize(
    "args, complaint",
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--port", "0"], "between 1 and 65535"),
        (["--port", "70000"], "between 1 and 65535"),
        (["--port", "eighty"], "whole number"),
        (["--share", "--offline"], "--share needs the network"),
    ],
)
def test_bad_flags_give_one_line_and_exit_code_2(args, complaint):
    result = run_app(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and complaint in lines[0], result.stderr


def test_a_port_in_use_is_one_line_not_a_traceback():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_app("--offline", "--port", str(port))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr


def test_importing_and_building_the_app_loads_no_model_and_no_network():
    # Any attempt to open a connection makes the child fail loudly.
    probe = """
import socket, sys
def refuse(*args, **kwargs):
    raise AssertionError(f"network touched: {args}")
socket.socket.connect = refuse
socket.create_connection = refuse
import app
heavy = {"tensorflow", "keras", "keras_hub", "mediapipe", "shap", "lime"}
assert not heavy & set(sys.modules), heavy & set(sys.modules)
app.build_app(offline=True)
assert not heavy & set(sys.modules), heavy & set(sys.modules)
print("light")
"""
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("light")


def test_app_has_a_bounded_queue_and_each_tab_its_api_name():
    import app
    from demos import TABS

    demo = app.build_app(offline=True)
    assert demo._queue.max_size == app.QUEUE_MAX_SIZE
    api_names = {fn.api_name for fn in demo.fns.values()}
    for tab in TABS:
        assert tab.KEY in api_names


def test_models_tab_tells_the_truth_about_every_artifact(tmp_path, monkeypatch):
    from demos import models_tab
    from tests.test_weights import write_complete_copy

    write_complete_copy(tmp_path / "clip", weights.get_artifact("clip"))
    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(tmp_path))
    rows = {row[0]: row for row in models_tab.table_rows()}
    assert list(rows) == list(weights.artifacts())
    status = models_tab.HEADERS.index("Status")
    assert rows["clip"][status] == "ready (local override)"
    assert rows["vgg16"][status] == "missing"
    assert rows["mediapipe"][status] == "ready (installed)"
    assert models_tab.pullable() == ["resnet50", "vgg16", "efficientnet_b0"]
    licence = models_tab.HEADERS.index("Licence")
    assert rows["vgg16"][licence] == "BSD-3-Clause"


def test_models_tab_points_to_documentation_that_exists(monkeypatch):
    import re

    from demos import models_tab

    monkeypatch.delenv("SPACE_ID", raising=False)
    named = re.findall(r"`([^`]+)`", models_tab.docs_note())
    assert named, models_tab.docs_note()
    for path in named:
        assert (ROOT / path.split("#")[0]).exists(), path

    # On a Space, real links into the Space's own files: a folder as a tree, a file as a blob.
    monkeypatch.setenv("SPACE_ID", "someone/instavis")
    links = re.findall(r"\]\((https://[^)]+)\)", models_tab.docs_note())
    assert len(links) == len(named)
    for link in links:
        kind, path = re.fullmatch(
            r"https://huggingface\.co/spaces/someone/instavis/(blob|tree)/main/(.+)", link).groups()
        target = ROOT / path.split("#")[0]
        assert target.exists(), link
        assert kind == ("tree" if target.is_dir() else "blob"), link


def test_pull_button_explains_why_it_cannot_work_offline():
    from demos import models_tab

    weights.set_offline(True)
    with pytest.raises(gr.Error, match="offline") as caught:
        models_tab.pull_artifact("vgg16")
    assert "python -m weights pull vgg16" in caught.value.message


def test_a_failed_pull_says_why_instead_of_asking_to_pull(monkeypatch):
    from demos import models_tab

    # Online, but the Hub is a port where nothing listens: the real download fails fast.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(gr.Error, match="Couldn't pull 'vgg16': .*download failed") as caught:
        models_tab.pull_artifact("vgg16")
    assert "\n" not in caught.value.message and "INSTAVIS_WEIGHTS_DIR/vgg16" in caught.value.message


def test_main_starts_downloads_and_warm_up_after_the_server_answers(monkeypatch, capsys):
    import app

    calls = []

    def launch(self, **kwargs):
        calls.append(("launch", kwargs))
        self.local_url = "http://127.0.0.1:7999/"

    monkeypatch.setattr(gr.Blocks, "launch", launch)
    monkeypatch.setattr(gr.Blocks, "block_thread", lambda self: calls.append("serve"))
    monkeypatch.setattr(app, "start_downloads", lambda: calls.append("downloads"))
    monkeypatch.setattr(app, "start_warm_up", lambda: calls.append("warm up") or "warm-up")
    monkeypatch.setattr(app, "start_examples_ahead",
                        lambda after: calls.append(f"examples ahead after {after}"))
    assert app.main(["--offline", "--port", "7999"]) == 0
    assert [c if isinstance(c, str) else c[0] for c in calls] == \
        ["launch", "downloads", "warm up", "examples ahead after warm-up", "serve"]
    # launch must return once the server answers, or the warm-up would wait for the exit.
    assert calls[0][1]["prevent_thread_lock"] is True
    # Gradio's own hint ("set `share=True` in `launch()`") is for programmers; ours names the flag.
    assert calls[0][1]["quiet"] is True
    printed = capsys.readouterr().out
    assert "InstaVis is running at http://127.0.0.1:7999/" in printed
    assert "For a public link, run `python app.py --share`." in printed
