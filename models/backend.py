"""TensorFlow, Keras and keras-hub, imported once per process by one thread at a time.

The app imports them lazily, from two sides at once: the start-up warm-up (its own thread) and
the first requests (Gradio's worker threads). Python's import system is not safe for a package
this size imported by two threads together: when each thread holds the lock of a module the
other needs, Python breaks the deadlock by handing one of them the *partially initialised*
module, and TensorFlow then fails with "partially initialized module
'tensorflow.python.trackable.data_structures' has no attribute ...", for the rest of the
process. A request that arrived during the warm-up broke every model that way. So every entry
point (the warm-up, each event handler) calls `load_backend()` first: the first caller imports,
the others wait for it, and later calls cost a dictionary lookup.
"""

from __future__ import annotations

import os
import sys
import threading

_lock = threading.Lock()
_loaded = threading.Event()
_MODULES = ("tensorflow", "keras", "keras_hub")


def load_backend() -> None:
    """Import TensorFlow, Keras and keras-hub (with the TensorFlow backend) if no thread has
    yet; a thread that comes while another imports waits for it."""
    if all(name in sys.modules for name in _MODULES) and _loaded.is_set():
        return
    with _lock:
        if _loaded.is_set():
            return
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        import keras  # noqa: F401
        import keras_hub  # noqa: F401
        import tensorflow  # noqa: F401

        _loaded.set()

