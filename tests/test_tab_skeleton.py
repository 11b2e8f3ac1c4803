"""The shape every tab shares (`demos.tab_skeleton`), on a tab of its own too small to judge
anything, and the store's refusals reaching the user as one line (`friendly_errors`)."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import gradio as gr
import pytest

from demos.common import friendly_errors
from demos.explain_panel import ExplanationPanel
from demos.tab_skeleton import EXAMPLES_DIR, Picker, TabSkeleton

ROOT = Path(__file__).resolve().parents[1]

TINY = TabSkeleton(key="tiny", scope_name="measure", intro="### Measure", action_label="Measure it",
                   empty_verdict="<p>nothing yet</p>", numbers_label="Measurement",
                   examples_label="Example photos")


@TINY.action(inputs=2, outputs=3)
def measure(photo, flag, progress=gr.Progress()):
    return f"<p>{photo} {flag}</p>", {"photo": photo}, {"choices": ["a"], "top": "a"}


def cleared():
    return TINY.empty_verdict, None, {}


def build_tiny(inputs_wired: int = 2):
    """A tab built only from the skeleton; `inputs_wired` of its two inputs reach `wire`."""
    with gr.Blocks() as demo:
        TINY.header()
        top = TINY.top(lambda: [gr.Textbox(label="Photo", elem_id="tiny-photo"),
                                gr.Checkbox(label="Flag", elem_id="tiny-flag")])
        TINY.examples(top.inputs, [("coffee.jpg", True, "Coffee")])
        numbers = TINY.numbers()
        picks = gr.State({})
        panel = ExplanationPanel.build(methods=("lime",), default=("lime",), key=TINY.key,
                                       targets=[], target_value=None)
        TINY.wire(run=measure, button=top.button, inputs=top.inputs[:inputs_wired],
                  outputs=[top.verdict, numbers, picks], cleared=cleared, panel=panel,
                  make_request=lambda *values, target=None: None,
                  picker=Picker(lambda state: gr.Dropdown(), picks, panel.target))
    return demo, top


def test_the_skeleton_builds_the_shared_parts_with_their_names():
    demo, top = build_tiny()
    elem_ids = {getattr(block, "elem_id", None) for block in demo.blocks.values()}
    assert {"tiny-intro", "tiny-measure", "tiny-verdict", "tiny-examples",
            "tiny-numbers"} <= elem_ids
    assert top.verdict.value == "<p>nothing yet</p>" and top.verdict.label == "Verdict"
    assert top.button.value == "Measure it"
    example = next(block for block in demo.blocks.values()
                   if getattr(block, "elem_id", None) == "tiny-examples")
    assert example.samples[0][0].endswith("coffee.jpg")  # found under EXAMPLES_DIR
    assert (EXAMPLES_DIR / "coffee.jpg").is_file()


def test_only_the_action_and_the_panel_are_public():
    demo, _ = build_tiny()
    public = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert public == {"tiny", "tiny_explain"}
    helpers = [fn for fn in demo.fns.values() if fn.api_visibility != "public"]
    assert all(fn.api_visibility == "private" for fn in helpers)
    # The example loader, the picker step, and the two clearing steps (result, maps).
    assert len(helpers) >= 4
    assert any(fn.api_name == "tiny_example" for fn in helpers)


def test_an_action_wired_to_other_inputs_than_it_declares_is_refused():
    # An input left out of the count would not decide whether a result is still current.
    with pytest.raises(ValueError, match=r"^tiny: measure is declared for 2 inputs and 3 "
                                         r"outputs, but wired to 1 and 3$"):
        build_tiny(inputs_wired=1)


def test_the_action_keeps_its_signature_for_the_api():
    import inspect

    assert list(inspect.signature(measure).parameters) == ["photo", "flag", "progress"]
    assert measure("cat.jpg", True)[1] == {"photo": "cat.jpg"}


# === Store refusals, caught once ===


def test_a_store_refusal_reaches_the_user_as_its_own_line(caplog):
    from store.errors import RateLimited, WrongToken

    @friendly_errors
    def share():
        raise RateLimited(5, 42)

    @friendly_errors
    def delete():
        raise WrongToken(7)

    with caplog.at_level(logging.INFO, logger="instavis"):
        with pytest.raises(gr.Error) as limited:
            share()
        with pytest.raises(gr.Error) as wrong:
            delete()
    assert limited.value.message == str(RateLimited(5, 42))
    assert wrong.value.message == str(WrongToken(7))
    assert not limited.value.print_exception
    ours = [r for r in caplog.records if r.name == "instavis"]
    assert [r.getMessage() for r in ours] == [f"share refused: {RateLimited(5, 42)}",
                                              f"delete refused: {WrongToken(7)}"]
    assert all(r.levelno == logging.INFO and r.exc_info is None for r in ours)


def test_any_other_value_error_is_still_unexpected(caplog):
    @friendly_errors
    def broken():
        raise ValueError("a bug in /srv/instavis/secret/path.py")

    with caplog.at_level(logging.INFO, logger="instavis"), pytest.raises(gr.Error) as caught:
        broken()
    # The user sees the kind of error and a reference, not the text (it may carry paths).
    match = re.fullmatch(r"Something went wrong \(ValueError; reference ([0-9a-f]{8}) in the "
                         r"server's log\)\.", caught.value.message)
    assert match, caught.value.message
    assert "/srv" not in caught.value.message
    # The log has the reference, the text and the traceback.
    record = caplog.records[-1]
    assert record.exc_info is not None and match.group(1) in record.getMessage()
    assert "secret/path.py" in str(record.exc_info[1])


def test_building_the_app_imports_no_store():
    # friendly_errors recognises a store refusal without importing the store (SQLAlchemy).
    probe = "import sys, app; app.build_app(offline=True); print('store' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("False")
