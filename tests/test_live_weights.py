"""Weights pulled while the app runs are picked up without a restart.

The app starts with no CLIP weights; then the tiny CLIP preset arrives in the weights folder,
as `python -m weights pull clip` in another shell (or the Models tab's pull) would put it. The
same running app then rates content, offers the content score to explain, and offers Grad-CAM
on the Pose tab, through the refreshers the app runs on page load and tab select.
"""

from __future__ import annotations

import gradio as gr
import pytest
from skimage import data

import app
import models.clip as clip
from demos import aesthetic_tab, pose_tab


@pytest.fixture
def empty_weights_dir(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(folder))
    clip.reset_default()
    yield folder
    clip.reset_default()


def refreshers_by_tab(demo) -> dict[str, list]:
    """The private refresh events the app wired, by the tab whose select triggers them."""
    found = {}
    for dependency in demo.fns.values():
        for block_id, event in dependency.targets:
            block = demo.blocks.get(block_id)
            if event == "select" and isinstance(block, gr.Tab):
                found.setdefault(block.id, []).append(dependency)
    return found


def test_clip_pulled_while_running_enables_content_and_grad_cam(empty_weights_dir,
                                                                tiny_weights_root):
    from models import aesthetic

    demo = app.build_app(offline=True)
    # The app wired its refreshers to page load and to the tabs' select events, privately.
    assert any(refreshers_by_tab(demo).values())

    photo = data.coffee()
    before = aesthetic.rate(photo)
    assert before.content is None
    assert [value for _, value in aesthetic_tab.refresh_targets("quality").choices] == \
        ["quality"]
    with pytest.raises(gr.Error, match="needs the CLIP weights"):
        aesthetic_tab.make_request(photo, "content")

    # The weights arrive while the app runs.
    (empty_weights_dir / "clip").symlink_to(tiny_weights_root / "clip", target_is_directory=True)

    after = aesthetic.rate(photo)
    assert after.content is not None and after.content_source == "zero-shot"
    targets = aesthetic_tab.refresh_targets("quality")
    assert [value for _, value in targets.choices] == ["quality", "content"]
    request = aesthetic_tab.make_request(photo, "content")
    assert set(request.model) == {"gradcam", "lime", "shap"}
    assert not any(isinstance(model, str) for model in request.model.values())

    # The Pose tab's picker gains Grad-CAM, and its "not available" note goes away.
    with gr.Blocks():
        refreshers = pose_tab.build()
    (refresh, _, _), = refreshers
    picker, note, legend, _ = refresh(["lime"])
    assert [value for _, value in picker.choices] == ["gradcam", "lime", "shap"]
    assert picker.value == ["lime"]  # the user's tick is kept
    assert note.visible is False
    assert "Grad-CAM maps show how much each part mattered" in legend.value


def test_refreshing_before_the_weights_arrive_keeps_grad_cam_out(empty_weights_dir):
    with gr.Blocks():
        (refresh, _, _), = pose_tab.build()
    picker, note, legend, _ = refresh(["gradcam", "lime"])
    assert [value for _, value in picker.choices] == ["lime", "shap"]
    assert picker.value == ["lime"]
    assert note.visible is True and "python -m weights pull clip" in note.value
    assert "yellow" not in legend.value


def test_api_clients_get_content_once_clip_arrives(empty_weights_dir, tiny_weights_root):
    from gradio_client import handle_file

    from models import aesthetic
    from tests.served import app_client

    photo = str(aesthetic_tab.EXAMPLES_DIR / "coffee.jpg")
    with app_client() as client:
        def explain_content():
            return client.predict(handle_file(photo), ["lime"], "content", 0, 10, 10,
                                  api_name="/aesthetic_explain")

        # Without CLIP: the one line that names the fix, not a choices error.
        with pytest.raises(Exception, match="python -m weights pull clip"):
            explain_content()
        (empty_weights_dir / "clip").symlink_to(tiny_weights_root / "clip",
                                                target_is_directory=True)
        aesthetic.explanations._adapters.clear()
        status, gallery, _, _ = explain_content()
        assert status.startswith("Explained **content aesthetics** = ") and len(gallery) == 1
        _, numbers, _, _ = client.predict(handle_file(photo), api_name="/aesthetic")
        assert numbers["content_source"] == "zero-shot"
    aesthetic.explanations._adapters.clear()
