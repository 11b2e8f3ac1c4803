"""Work that nobody can receive stops, and one client cannot fill the queue.

A request joins Gradio's queue with a POST (`/gradio_api/queue/join` from a page or
gradio_client, `/gradio_api/call/<name>` from plain HTTP) and its result comes back on a
stream the client opens (`/gradio_api/queue/data?session_hash=...`, or
`/gradio_api/call/<name>/<event_id>`). Gradio notices a stream that closes, but not one that is
never opened: such a request would run to its end while the worker is the app's only one for
its kind of work.

`ListenerGuard` is ASGI middleware in front of the app. It keeps count of the result streams
open now (`LISTENERS`), and refuses a client's new request while it already has
`IN_FLIGHT_PER_CLIENT` in the queue (waiting or running). `demos.common.request_gone`, which
long work asks between batches, treats a request with no stream open for it after
`LISTEN_GRACE_SECONDS` as gone, like a cancelled one.

Plain Python and Starlette: importing this loads no model.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from urllib.parse import parse_qs

from demos.clients import client_of

LISTEN_GRACE_SECONDS = 10.0
"""How long a request may wait for its result stream to open. A page and gradio_client open it
at once; a plain-HTTP client must GET its result within this after posting."""

IN_FLIGHT_PER_CLIENT = 4
"""Requests one client may have in the queue at once, waiting or running. The queue holds 32
(app.QUEUE_MAX_SIZE): no single client can fill it."""

_QUEUE_DATA = re.compile(r"/gradio_api/queue/data$")
_CALL_RESULT = re.compile(r"/gradio_api/call/(?:v2/)?[^/]+/(?P<event>[^/]+)$")
_JOIN = re.compile(r"/gradio_api/(?:queue/join|call/(?:v2/)?[^/]+)$")


class Listeners:
    """Thread-safe counts of the result streams open now, by what they listen to: a page
    session ("session:<hash>") or one event ("event:<id>")."""

    def __init__(self) -> None:
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    def attach(self, key: str) -> None:
        with self._lock:
            self._open[key] += 1

    def detach(self, key: str) -> None:
        with self._lock:
            self._open[key] -= 1
            if self._open[key] <= 0:
                del self._open[key]

    def listening(self, session_hash: str, event_id: str) -> bool:
        with self._lock:
            return bool(self._open.get(f"session:{session_hash}")
                        or self._open.get(f"event:{event_id}"))

    def abandoned(self, event, now: float | None = None) -> bool:
        """Whether a queued Gradio event has had no result stream open for it for more than
        LISTEN_GRACE_SECONDS since it joined the queue."""
        if self.listening(event.session_hash, event._id):
            return False
        now = time.monotonic() if now is None else now
        return now - event.enqueue_time > LISTEN_GRACE_SECONDS


LISTENERS = Listeners()


def stream_key(path: str, query_string: bytes) -> str | None:
    """What a GET of `path` listens to, when it is a result stream; else None."""
    if _QUEUE_DATA.search(path):
        hashes = parse_qs(query_string.decode("latin-1")).get("session_hash")
        return f"session:{hashes[0]}" if hashes else None
    found = _CALL_RESULT.search(path)
    return f"event:{found['event']}" if found else None


class ListenerGuard:
    """ASGI middleware: counts open result streams in `listeners`, and refuses (HTTP 429, one
    line) a request to join the queue from a client that has `per_client` in it already.

    Args:
        app: the ASGI app (Gradio's).
        queue_of: returns Gradio's queue now (None before the app has one).
    """

    def __init__(self, app, queue_of: Callable[[], object | None],
                 listeners: Listeners = LISTENERS, per_client: int | None = None):
        self.app = app
        self.queue_of = queue_of
        self.listeners = listeners
        self.per_client = per_client

    async def __call__(self, scope, receive, send):
        if scope.get("type") != "http":
            return await self.app(scope, receive, send)
        path, method = scope.get("path", ""), scope.get("method", "")
        if method == "GET":
            key = stream_key(path, scope.get("query_string", b""))
            if key is not None:
                self.listeners.attach(key)
                try:
                    return await self.app(scope, receive, send)
                finally:
                    self.listeners.detach(key)
        if method == "POST" and _JOIN.search(path):
            refusal = self._refusal(scope)
            if refusal is not None:
                return await _send_json(send, 429, {"detail": refusal})
        return await self.app(scope, receive, send)

    def _refusal(self, scope) -> str | None:
        from starlette.requests import Request

        limit = IN_FLIGHT_PER_CLIENT if self.per_client is None else self.per_client
        queue = self.queue_of()
        events = getattr(queue, "event_ids_to_events", None)
        if not events:
            return None
        client = client_of(Request(scope))
        mine = sum(1 for event in list(events.values())
                   if getattr(event, "request", None) is not None
                   and client_of(event.request) == client)
        if mine < limit:
            return None
        return (f"Too many requests at once: at most {limit} from one client can wait or run; "
                "try again when one has finished.")


async def _send_json(send, status: int, body: dict) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


def guard_middleware(demo) -> list:
    """The middleware list for `demo.launch(app_kwargs={"middleware": ...})`. Marks `demo` as
    guarded (`is_guarded`): only then can a request be told apart as one nobody listens to. An
    app served without the guard counts no streams, and must not take every request for
    abandoned."""
    from starlette.middleware import Middleware

    demo.listener_guard = True
    return [Middleware(ListenerGuard, queue_of=lambda: getattr(demo, "_queue", None))]


def is_guarded(blocks) -> bool:
    """Whether `blocks` is served behind `guard_middleware`, which counts its result streams."""
    return bool(getattr(blocks, "listener_guard", False))
