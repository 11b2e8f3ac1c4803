"""`models.backend.load_backend`: the first requests and the warm-up may all reach for
TensorFlow at once; each must get a whole TensorFlow, not a half-imported one.

Python's import machinery has one lock per module. A thread that imports a package while
another thread is inside it can enter one of its submodules directly (the parent package is
not waited for once it is in sys.modules, as Keras does with `tensorflow.<submodule>`); when
each thread then needs a module the other holds, Python breaks the deadlock by failing one of
the imports, or by handing one thread a partially initialised module. TensorFlow's import
takes seconds, so on a busy machine the warm-up and a request did collide that way.

The real TensorFlow cannot be made to collide on demand, so these tests build a small
package graph that does on every run: stand-ins named `tensorflow`, `keras` and `keras_hub`,
in a fresh interpreter (names load_backend imports, so it must not see the real ones), whose
`tensorflow` has two submodules that import each other, as TensorFlow's do. A gate in each
stand-in submodule holds the first thread there until the second has come as far as it can:
into the package, or up to load_backend's lock. Without the lock the two threads then
deadlock in the import machinery, and Python breaks it by failing an import or by handing a
thread a half-initialised module, whichever thread asks first; through load_backend both
threads get the whole package. (No real TensorFlow is imported, so this takes seconds.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The stand-in packages, written to a folder that goes first on the child's sys.path.
STAND_INS = {
    # The first thread in (the warm-up) stops at the gate in `ops`; a second one coming
    # through `keras` then enters `tensorflow.structures` itself, without waiting for the
    # package, which is in sys.modules already.
    "tensorflow/__init__.py": """
        from tensorflow import ops
        from tensorflow.ops import constant
    """,
    "tensorflow/ops.py": """
        import race_gate

        race_gate.arrive()
        from tensorflow import structures

        ZERO = structures.Tracked(0)  # used while importing


        def constant(value):
            return structures.Tracked(value)
    """,
    "tensorflow/structures.py": """
        import importlib

        import race_gate

        race_gate.arrive()
        # the way TensorFlow's lazy loaders import; used only when called
        ops = importlib.import_module("tensorflow.ops")


        class Tracked:
            def __init__(self, value):
                self.value = value

            def plus(self, other):
                return ops.constant(self.value + other)
    """,
    # Keras reaches into a TensorFlow submodule directly, not through `import tensorflow`.
    "keras/__init__.py": """
        from tensorflow.structures import Tracked


        def dense(value):
            return Tracked(value).plus(2).value
    """,
    "keras_hub/__init__.py": """
        import keras

        CLIPBackbone = keras.dense
    """,
    # The gate: a thread's first arrival waits until every thread of the race (`threads`; one,
    # so no wait, unless a race sets it) has come as far as it can, into the package (arrived)
    # or up to load_backend's lock (waiting_for_lock).
    "race_gate.py": """
        import threading

        condition = threading.Condition()
        arrived = set()
        waiting_for_lock = set()
        threads = 1
        first_arrived = threading.Event()


        def arrive():
            me = threading.get_ident()
            with condition:
                if me in arrived:
                    return
                arrived.add(me)
                first_arrived.set()
                condition.notify_all()
                if not condition.wait_for(
                        lambda: len(arrived | waiting_for_lock) >= threads, timeout=60):
                    raise TimeoutError("the other thread never came")


        def waiting(thread_id):
            with condition:
                waiting_for_lock.add(thread_id)
                condition.notify_all()
    """,
}

# Two threads import the stand-ins, each either plainly (the warm-up's `import tensorflow`, a
# request's `import keras`) or through load_backend first, then use them; the request comes
# once the warm-up is inside the package. Prints what each got, as JSON.
RACE = """
import json, sys, threading

import race_gate
from models import backend

mode = sys.argv[1]


class ReportingLock:
    # load_backend's own lock, which also tells the gate who is waiting for it (so the gate
    # need not guess how long a waiting thread takes to arrive)
    def __init__(self, lock):
        self._lock = lock

    def __enter__(self):
        if not self._lock.acquire(blocking=False):
            race_gate.waiting(threading.get_ident())
            self._lock.acquire()
        return self

    def __exit__(self, *exc):
        self._lock.release()


backend._lock = ReportingLock(backend._lock)
race_gate.threads = 2
outcomes = {}


def warm_up():
    try:
        if mode == "locked":
            backend.load_backend()
        import tensorflow
        outcomes["warm-up"] = tensorflow.constant(40).plus(2).value
    except Exception as error:
        outcomes["warm-up"] = f"{type(error).__name__}: {error}"


def request():
    race_gate.first_arrived.wait(60)
    try:
        if mode == "locked":
            backend.load_backend()
        import keras_hub
        outcomes["request"] = keras_hub.CLIPBackbone(1)
    except Exception as error:
        outcomes["request"] = f"{type(error).__name__}: {error}"


threads = [threading.Thread(target=warm_up), threading.Thread(target=request)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(120)
print(json.dumps(outcomes, sort_keys=True))
"""


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory):
    """A folder holding the stand-in packages and the race script."""
    folder = tmp_path_factory.mktemp("stand_ins")
    for name, source in STAND_INS.items():
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_text(textwrap.dedent(source))
    return folder


def race(stand_ins: Path, mode: str) -> dict:
    """Run the two threads in a fresh interpreter that sees the stand-ins; what each got."""
    result = subprocess.run([sys.executable, "-c", RACE, mode], capture_output=True, text=True,
                            timeout=180, cwd=ROOT,
                            env={"PYTHONPATH": f"{stand_ins}:{ROOT}", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("first", ["tensorflow", "keras_hub"])
def test_one_thread_importing_alone_gets_the_whole_package(stand_ins, first):
    # the stand-ins are a sound package, whichever door one thread comes in by: the cycle
    # inside it is harmless to a single thread
    script = (f"import {first}, keras_hub, tensorflow; "
              "print(keras_hub.CLIPBackbone(1), tensorflow.constant(40).plus(2).value)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, env={"PYTHONPATH": str(stand_ins)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["3", "42"]


def test_two_threads_importing_at_once_without_the_lock_break_an_import(stand_ins):
    # the race load_backend is there for, reproduced: the thread that closes the cycle is
    # failed by Python's deadlock detection or handed a half-initialised module (which of
    # the two depends on which thread asks first, so twice)
    for _ in range(2):
        outcomes = race(stand_ins, "plain")
        assert set(outcomes) == {"warm-up", "request"}
        failures = [got for got in outcomes.values() if not isinstance(got, int)]
        assert failures, outcomes
        assert all("deadlock detected" in failure or "partially initialized" in failure
                   for failure in failures), failures


def test_threads_that_start_together_all_get_the_whole_package_through_load_backend(stand_ins):
    for _ in range(2):
        assert race(stand_ins, "locked") == {"request": 3, "warm-up": 42}
