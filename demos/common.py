"""Helpers every tab shares: turning uploads and missing weights into one-line UI messages."""

from __future__ import annotations

import functools
import logging

import gradio as gr

from explain import Cancelled
from models.images import InvalidImage, load_image
from weights import WeightsUnavailable

log = logging.getLogger("instavis")


class PhotoInput(gr.Image):
    """A gr.Image whose upload reaches `load_image` as the raw file, undecoded.

    gr.Image decodes uploads with PIL before the handler runs, so a truncated or non-image file
    fails inside Gradio with a generic error, and a 60-megapixel header gets decoded. This
    subclass hands over the uploaded file's path instead; `read_upload` then decodes it with
    every check of `load_image`. `is_template` keeps the browser using Gradio's own image widget.
    """

    is_template = True

    def __init__(self, label: str = "Photo", **kwargs):
        kwargs.setdefault("sources", ["upload", "clipboard"])
        super().__init__(label=label, type="filepath", **kwargs)

    def preprocess(self, payload):
        return None if payload is None else payload.path

    def get_config(self, cls=None):
        # Gradio sends the browser the settings named in the component class's __init__
        # signature; this subclass's signature is short, so read gr.Image's instead.
        return super().get_config(cls or gr.Image)


def read_upload(value, what: str = "photo"):
    """An upload (path, PIL image or array from a gr.Image) as a checked uint8 RGB array.

    Raises:
        gr.Error: nothing was uploaded, or `load_image` refused the file; one line, no traceback.
    """
    if value is None:
        raise gr.Error(f"Please upload a {what} first.", print_exception=False)
    try:
        return load_image(value)
    except InvalidImage as error:
        raise gr.Error(f"That {what} can't be used: {error}", print_exception=False) from None


def request_gone() -> bool:
    """Whether the request this worker thread serves was cancelled or lost its client.

    Gradio runs a handler in a worker thread, which a cancel or a closed page cannot stop: it
    cancels the request's asyncio task, frees the queue slot and, for a lost client, marks the
    event not alive, while the thread computes on. Long work asks this between batches
    (`explain.stop_when`) and stops. Reads Gradio's queue through the same context variables
    `gr.Progress` uses; outside a queued request (tests, scripts) nothing is ever gone.
    """
    from gradio.context import LocalContext

    blocks, event_id = LocalContext.blocks.get(None), LocalContext.event_id.get(None)
    queue = getattr(blocks, "_queue", None)
    if queue is None or not event_id:
        return False
    event = queue.event_ids_to_events.get(event_id)
    return event is None or not event.alive


def weights_message(error: WeightsUnavailable) -> str:
    """The one sentence a tab shows when its weights are missing."""
    return error.summary


def friendly_errors(handler):
    """Wrap an event handler so any failure reaches the user as one clear line, never a traceback.

    gr.Error passes through unchanged; missing weights become their one-sentence summary; anything
    unexpected is logged in full for the operator and shown as a short message.
    """

    @functools.wraps(handler)
    def wrapper(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except gr.Error:
            raise
        except InvalidImage as error:  # a model's own limit, e.g. a photo too small to rate
            raise gr.Error(f"That photo can't be used: {error}", print_exception=False) from None
        except WeightsUnavailable as error:
            raise gr.Error(weights_message(error), print_exception=False) from None
        except Cancelled:
            # Nobody is waiting for the answer; stop quietly, with one log line.
            log.info("%s stopped: its request was cancelled or its page closed",
                     handler.__name__)
            raise gr.Error("Cancelled.", print_exception=False) from None
        except Exception as error:  # noqa: BLE001 - the user gets one line, the log the traceback
            log.exception("unexpected error in %s", handler.__name__)
            raise gr.Error(
                f"Something went wrong ({type(error).__name__}: {str(error)[:200]}).",
                print_exception=False,
            ) from None

    return wrapper
