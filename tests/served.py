"""Serving a Gradio app inside a test: a free port, and a launch that always closes."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve(demo, **launch) -> Iterator[str]:
    """Launch `demo` (a gr.Blocks) on a free local port without blocking, with `launch`'s
    extra settings; yield its URL and close it afterwards."""
    demo.queue()
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1",
                            server_port=free_port(), quiet=True, **launch)
    try:
        yield url
    finally:
        demo.close()


@contextmanager
def app_client():
    """The whole InstaVis app, offline, served locally, with a gradio_client Client on it."""
    from gradio_client import Client

    import app

    with serve(app.build_app(offline=True)) as url:
        yield Client(url, verbose=False)
