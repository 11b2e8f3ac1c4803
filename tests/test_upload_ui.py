"""Bad uploads reach a user of the UI as one clear line, through the real Gradio server.

A tab-shaped app (PhotoInput -> read_upload inside friendly_errors) is served in-process and
driven with gradio_client, as a browser or an API user would.
"""

from __future__ import annotations

import io

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from demos.common import PhotoInput, friendly_errors, read_upload
from tests.served import serve
from tests.test_images import png_claiming_size


@friendly_errors
def describe(path):
    image = read_upload(path).image
    return f"{image.shape[1]} x {image.shape[0]}"


@pytest.fixture(scope="module")
def client():
    with gr.Blocks() as demo:
        photo = PhotoInput()
        answer = gr.Textbox()
        photo.upload(describe, photo, answer, api_name="describe")
    with serve(demo) as url:
        yield Client(url, verbose=False)


def jpeg(width=64, height=48) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), 120, np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_a_good_photo_goes_through(client, tmp_path):
    path = tmp_path / "good.jpg"
    path.write_bytes(jpeg(96, 72))
    assert client.predict(handle_file(str(path)), api_name="/describe") == "96 x 72"


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("truncated.jpg", jpeg(256, 256)[:400], "damaged or truncated"),
        ("empty.jpg", b"", "empty"),
        ("notes.jpg", b"this is a shopping list, not a photo\n", "not an image"),
        ("huge.png", png_claiming_size(10_000, 6_000), "60.0 megapixels"),
    ],
)
def test_bad_uploads_get_one_line(client, tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(Exception) as caught:
        client.predict(handle_file(str(path)), api_name="/describe")
    message = str(caught.value)
    assert message.startswith("That photo can't be used:")
    assert reason in message and "\n" not in message and "Traceback" not in message
