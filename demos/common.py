"""Helpers every tab shares: inputs whose values reach the handler as sent, and turning uploads,
refused values and missing weights into one-line UI messages."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio.data_classes import FileData, GradioRootModel, ImageData, ListFiles
from pydantic import ValidationError

from demos.fields import InvalidField
from demos.memory import return_freed_memory
from explain import Cancelled
from models.backend import load_backend
from models.images import InvalidImage, prepare_photo
from weights import WeightsUnavailable

log = logging.getLogger("instavis")

UPLOAD_ACCEPTS = "an uploaded image file (gradio_client: handle_file(path))"
"""What a photo input accepts, as a refusal says it."""


@dataclass(frozen=True)
class NotAnUpload:
    """What a photo input hands the handler when the client sent something other than an
    uploaded file (a number, a bare string, a path on the server): `read_upload` refuses it,
    naming the field."""

    value: Any


class _AnyPayload(GradioRootModel):
    """Whatever a client sent for a photo, unchecked, so that a wrong type reaches
    `PhotoInput.preprocess` (and then the handler, which names the field) instead of failing in
    Gradio's own validation with a generic error and a traceback. The API docs still describe
    the image payload Gradio expects."""

    root: Any = None

    @classmethod
    def model_json_schema(cls, *args, **kwargs):
        return ImageData.model_json_schema(*args, **kwargs)


class PhotoInput(gr.Image):
    """A gr.Image whose upload reaches `prepare_photo` as the raw file, undecoded.

    gr.Image decodes uploads with PIL before the handler runs, so a truncated or non-image file
    fails inside Gradio with a generic error, and a 60-megapixel header gets decoded. This
    subclass hands over the uploaded file's path instead; `read_upload` then decodes it with
    every check of `load_image` and the odd-photo policy. `is_template` keeps the browser using
    Gradio's own image widget.

    Only a file Gradio received as an upload is accepted: a payload with Gradio's file marker,
    whose path Gradio has checked is in its upload cache. Anything else (a number, a string,
    a bare {"path": ...} naming a file on the server, which gr.Image would open) reaches the
    handler as `NotAnUpload`.
    """

    is_template = True
    data_model = _AnyPayload

    def __init__(self, label: str = "Photo", **kwargs):
        kwargs.setdefault("sources", ["upload", "clipboard"])
        super().__init__(label=label, type="filepath", **kwargs)

    def preprocess(self, payload):
        value = payload.root if isinstance(payload, GradioRootModel) else payload
        if value is None:
            return None
        try:
            # validate_meta: the file marker Gradio's upload check keys on must be there.
            upload = FileData.model_validate(value, context={"validate_meta": True})
        except ValidationError:
            return NotAnUpload(value)
        return upload.path

    def api_info(self) -> dict[str, Any]:
        # ImageData's own description promises "a local filepath or publicly available URL",
        # neither of which is accepted here.
        return _described(super().api_info(), UPLOAD_ACCEPTS)

    def get_config(self, cls=None):
        # Gradio sends the browser the settings named in the component class's __init__
        # signature; this subclass's signature is short, so read gr.Image's instead.
        return super().get_config(cls or gr.Image)


class _AnyFilesPayload(_AnyPayload):
    """`_AnyPayload` for a list of files: the API docs describe Gradio's list of files."""

    @classmethod
    def model_json_schema(cls, *args, **kwargs):
        return ListFiles.model_json_schema(*args, **kwargs)


PHOTOS_ACCEPTS = "a list of uploaded image files (gradio_client: [handle_file(path), ...])"


class PhotosInput(gr.File):
    """A gr.File for several photos whose uploads reach the handler as a list of paths, each
    checked as `PhotoInput` checks its one: only files Gradio received as uploads. Anything
    else (one file where a list belongs, a number, a bare {"path": ...}) reaches the handler as
    `NotAnUpload`, which `read_uploads` refuses naming the field. The photos themselves are
    decoded later, one by one, by the task (a photo that cannot be read is then named)."""

    is_template = True

    def __init__(self, label: str = "Photos", **kwargs):
        super().__init__(label=label, file_count="multiple", file_types=["image"],
                         type="filepath", **kwargs)
        self.data_model = _AnyFilesPayload

    def preprocess(self, payload):
        value = payload.root if isinstance(payload, GradioRootModel) else payload
        if value is None:
            return None
        if not isinstance(value, (list, tuple)):
            return NotAnUpload(value)
        paths = []
        for item in value:
            try:
                upload = FileData.model_validate(item, context={"validate_meta": True})
            except ValidationError:
                return NotAnUpload(value)
            paths.append(upload.path)
        return paths

    def api_info(self) -> dict[str, Any]:
        return _described(super().api_info(), PHOTOS_ACCEPTS)

    def get_config(self, cls=None):
        return super().get_config(cls or gr.File)


class UploadsOnlyBlocks(gr.Blocks):
    """gr.Blocks whose file inputs refuse, in one line, a file the client did not upload.

    Gradio checks every file a request names before any handler runs (a path on the server
    that nobody uploaded is refused), and its refusal reached the client as an empty error
    while the log got a traceback. Here it is one line naming the parameter, like every other
    refusal, and one INFO line in the log.
    """

    async def preprocess_data(self, block_fn, inputs, state, explicit_call=False):
        from gradio.exceptions import InvalidPathError

        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except InvalidPathError:
            field, block = _file_parameter(block_fn, inputs)
            accepts = PHOTOS_ACCEPTS if isinstance(block, PhotosInput) else UPLOAD_ACCEPTS
            message = f"{field}: got a file on the server, not an upload; expected {accepts}."
            log.info("%s refused: %s", block_fn.name, message)
            raise gr.Error(message, print_exception=False) from None


def _file_parameter(block_fn, inputs) -> tuple[str, Any]:
    """(the API name, the component) of the first input of `block_fn` that names a file by
    path."""
    import inspect

    names = [p.name for p in inspect.signature(block_fn.fn).parameters.values()
             if p.name not in ("progress", "request")]
    for name, block, value in zip(names, block_fn.inputs, inputs, strict=False):
        if "'path'" in repr(value):
            return name, block
    return (names[0] if names else "file"), None


def read_uploads(value, what: str = "photos", field: str = "photos") -> list[str]:
    """The paths of a `PhotosInput`'s uploads, in the order given.

    Raises:
        gr.Error: nothing was uploaded (one line).
        InvalidField: the client sent something other than a list of uploaded files.
    """
    if value is None or (isinstance(value, list) and not value):
        raise gr.Error(f"Please upload your {what} first.", print_exception=False)
    if isinstance(value, NotAnUpload):
        raise InvalidField(field, value.value, PHOTOS_ACCEPTS)
    return list(value)


# === Inputs checked by their handler ===
# Gradio checks some inputs itself before the handler runs: gr.Number's bounds, gr.Dropdown and
# gr.CheckboxGroup's choices. Its messages name no field ("Value -1 is less than minimum value
# 0."), a wrong type ("abc" for a number, 123 for a list) fails with a generic error and a
# traceback, and 1.5 for a whole number is silently rounded. These subclasses pass the value on
# as sent, and each handler checks it with a `demos.fields` field, which names the field in its
# message. `accepts` (the field's own words) is added to the API docs. The browser shows the
# same widgets (`is_template`), with the same settings (`get_config` reads the parent's).


class _Unchecked:
    """What the unchecked inputs below share; each names its Gradio widget in `_widget`.

    Gradio names a template component's widget after its class's first base, which here is this
    mixin; `get_block_name` and `get_block_class` name the widget instead (Gradio documents
    overriding the first for this), so the browser and the API docs see a Number, a Dropdown...
    """

    is_template = True
    _widget: type

    def get_block_name(self) -> str:
        return self._widget.__name__.lower()

    def get_block_class(self) -> str:
        return self._widget.__name__.lower()

    def __init__(self, *args, accepts: str = "", **kwargs):
        self.accepts = accepts
        super().__init__(*args, **kwargs)

    def preprocess(self, payload):
        return payload

    def api_info(self) -> dict[str, Any]:
        return _described(super().api_info(), self.accepts)

    def get_config(self, cls=None):
        return super().get_config(cls or self._widget)


class NumberInput(_Unchecked, gr.Number):
    """gr.Number whose value reaches the handler unchecked; see above."""

    _widget = gr.Number


class DropdownInput(_Unchecked, gr.Dropdown):
    """gr.Dropdown whose value reaches the handler unchecked; see above."""

    _widget = gr.Dropdown


class CheckboxGroupInput(_Unchecked, gr.CheckboxGroup):
    """gr.CheckboxGroup whose value reaches the handler unchecked; see above."""

    _widget = gr.CheckboxGroup


class SliderInput(_Unchecked, gr.Slider):
    """gr.Slider whose value reaches the handler unchecked (out of range, a string); see above."""

    _widget = gr.Slider


class TextInput(_Unchecked, gr.Textbox):
    """gr.Textbox whose value reaches the handler unchecked (a number, a list); see above."""

    _widget = gr.Textbox


def _described(info: dict[str, Any], accepts: str) -> dict[str, Any]:
    # gradio_client's view_api prints "additional_description" after the parameter's type.
    return {**info, "additional_description": accepts} if accepts else info


def read_upload(value, what: str = "photo", field: str = "photo"):
    """An upload (path, PIL image or array from a gr.Image), loaded under the odd-photo policy
    (`models.images.prepare_photo`): a PreparedPhoto, which every task takes as its photo.

    Args:
        value: the photo input's value.
        what: the photo as a person calls it ("photo of the post").
        field: the API parameter's name ("post").

    Raises:
        gr.Error: nothing was uploaded, or `prepare_photo` refused the file (unreadable, or too
            small to judge); one line, no traceback.
        InvalidField: the client sent something other than an uploaded file.
    """
    if value is None:
        raise gr.Error(f"Please upload a {what} first.", print_exception=False)
    if isinstance(value, NotAnUpload):
        raise InvalidField(field, value.value, UPLOAD_ACCEPTS)
    try:
        return prepare_photo(value)
    except InvalidImage as error:
        raise gr.Error(f"That {what} can't be used: {as_clause(error)}",
                       print_exception=False) from None


def as_clause(error: InvalidImage) -> str:
    """An InvalidImage's sentence, to follow "That photo can't be used:" (first letter lowered,
    unless it starts an acronym such as "EPS")."""
    reason = error.reason
    if len(reason) > 1 and reason[0].isupper() and not reason[1].isupper():
        return reason[0].lower() + reason[1:]
    return reason


def request_gone() -> bool:
    """Whether the request this worker thread serves was cancelled or lost its client.

    Gradio runs a handler in a worker thread, which a cancel or a closed page cannot stop: it
    cancels the request's asyncio task, frees the queue slot and, for a lost client, marks the
    event not alive, while the thread computes on. A request whose result stream was never
    opened (`demos.listeners`) is gone too, after a grace period. Long work asks this between
    batches (`explain.stop_when`) and stops. Reads Gradio's queue through the same context variables
    `gr.Progress` uses; outside a queued request (tests, scripts) nothing is ever gone.
    """
    from gradio.context import LocalContext

    blocks, event_id = LocalContext.blocks.get(None), LocalContext.event_id.get(None)
    queue = getattr(blocks, "_queue", None)
    if queue is None or not event_id:
        return False
    event = queue.event_ids_to_events.get(event_id)
    if event is None or not event.alive:
        return True
    # Nobody opened a stream for its result (demos.listeners): nobody can receive it. Only
    # an app behind the guard counts streams; without it, nothing is known to be abandoned.
    from demos.listeners import LISTENERS, is_guarded

    return is_guarded(blocks) and LISTENERS.abandoned(event)


def weights_message(error: WeightsUnavailable) -> str:
    """The one sentence a tab shows when its weights are missing: on their way (with how far
    along), or the summary with the command that fetches them."""
    from weights.prefetch import waiting_note

    arriving = waiting_note(error.name)
    return f"{arriving}: try again once it has arrived." if arriving else error.summary


def is_store_refusal(error: BaseException) -> bool:
    """Whether `error` is the store's refusal (`store.Refused`: a value it would not take, the
    rate limit, a wrong token), whose one line is meant for the user as it is.

    Asked of `sys.modules` rather than imported: importing `store` imports SQLAlchemy, which
    building the app does not need, and a `Refused` can only have been raised once
    `store.errors` was imported.
    """
    errors = sys.modules.get("store.errors")
    return errors is not None and isinstance(error, errors.Refused)


class Activity:
    """How many visitors' requests are being served now, and when the last one ended: work
    done for nobody in particular (`demos.ahead`) yields to them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._serving = 0
        self._last_end = float("-inf")

    @contextlib.contextmanager
    def serving(self):
        with self._lock:
            self._serving += 1
        try:
            yield
        finally:
            with self._lock:
                self._serving -= 1
                self._last_end = time.monotonic()

    def busy(self) -> bool:
        """Whether a request is being served now."""
        return self._serving > 0

    def idle_for(self) -> float:
        """Seconds since the last request ended (0 while one is served; inf if none ever)."""
        with self._lock:
            if self._serving:
                return 0.0
            return time.monotonic() - self._last_end


ACTIVITY = Activity()
"""The app's own: every handler wrapped by `friendly_errors` counts as serving."""


def serving():
    """`ACTIVITY.serving()`: the block serves a visitor's request."""
    return ACTIVITY.serving()


def friendly_errors(handler):
    """Wrap an event handler so any failure reaches the user as one clear line, never a traceback.

    A refusal (a value the API does not accept, a photo that cannot be used, missing weights, a
    store refusal, any gr.Error the handler raises) is what the user sees and one INFO line in
    the log: the operator needs to know it happened, not where in the code. Anything
    unexpected is logged with its traceback and shown as a short message. When the handler
    ends, malloc gives the request's freed memory back to the system (`demos.memory`).
    """
    name = handler.__name__

    def refused(message: str) -> gr.Error:
        log.info("%s refused: %s", name, " ".join(message.split()))
        return gr.Error(message, print_exception=False)

    @contextlib.contextmanager
    def one_line_errors():
        try:
            # Before the handler's own lazy imports: a request that comes while the warm-up
            # imports TensorFlow waits for it instead of importing alongside (models.backend).
            load_backend()
            with serving():
                yield
        except gr.Error as error:
            log.info("%s refused: %s", name, " ".join(str(error.message).split()))
            error.print_exception = False  # Gradio would print a traceback for a default gr.Error
            raise
        except InvalidField as error:
            raise refused(str(error)) from None
        except InvalidImage as error:  # a model's own limit, e.g. a photo too small to rate
            raise refused(f"That photo can't be used: {as_clause(error)}") from None
        except WeightsUnavailable as error:
            raise refused(weights_message(error)) from None
        except Cancelled:
            # Nobody is waiting for the answer; stop quietly, with one log line.
            log.info("%s stopped: its request was cancelled or its page closed", name)
            raise gr.Error("Cancelled.", print_exception=False) from None
        except Exception as error:  # noqa: BLE001 - the user gets one line, the log the traceback
            if is_store_refusal(error):
                raise refused(str(error)) from None
            # The user gets the kind of error and a reference to quote, never its text, which
            # can carry the server's paths or data; the log has everything under the reference.
            reference = uuid.uuid4().hex[:8]
            log.exception("unexpected error in %s (reference %s)", name, reference)
            raise gr.Error(
                f"Something went wrong ({type(error).__name__}; reference {reference} in the "
                "server's log).",
                print_exception=False,
            ) from None
        finally:
            return_freed_memory()

    if inspect.isgeneratorfunction(handler):
        # A handler that streams its outputs (the explanation panel): the same one line for
        # a failure at any of its steps.
        @functools.wraps(handler)
        def streaming(*args, **kwargs):
            with one_line_errors():
                yield from handler(*args, **kwargs)

        return streaming

    @functools.wraps(handler)
    def wrapper(*args, **kwargs):
        with one_line_errors():
            return handler(*args, **kwargs)

    return wrapper
