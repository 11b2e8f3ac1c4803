"""The server's allocator settings (demos.memory), each in a fresh interpreter, whose memory no
other test moves."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not os.confstr("CS_GNU_LIBC_VERSION"),
    reason="the settings are glibc's; elsewhere they are no-ops")


def run(code: str, **env) -> str:
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES",
                                "TF_ONEDNN_USE_SYSTEM_ALLOCATOR")}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                            env={**environment, **env}, capture_output=True, text=True,
                            timeout=120, check=True)
    return result.stdout.strip()


def test_freed_heap_memory_goes_back_to_the_system():
    """400 MB in 100 KB blocks (below the mapping threshold: they come from the heap) is freed,
    all but the last block, which pins the top of the heap so malloc cannot shrink it by
    itself. The freed pages stay resident until return_freed_memory gives them back."""
    out = run("""
        import numpy as np, psutil
        from demos.memory import return_freed_memory, tune_allocator
        assert tune_allocator()
        rss = lambda: psutil.Process().memory_info().rss
        blocks = [np.ones(100_000, np.uint8) for _ in range(4000)]
        last = blocks[-1]
        del blocks
        before = rss()
        return_freed_memory()
        print(before - rss())
    """)
    assert int(out) > 300 * 2**20


def test_tensorflows_freed_tensors_go_back_to_the_system():
    """TensorFlow tensors of 4 MB (400 MB at once, three times over), freed: after
    return_freed_memory the process holds about what it held before. With oneDNN's own pool
    (TF_ONEDNN_USE_SYSTEM_ALLOCATOR=0, TensorFlow's default) the 400 MB would stay resident."""
    out = run("""
        import psutil
        from demos.memory import return_freed_memory, tune_allocator
        assert tune_allocator()
        import tensorflow as tf
        rss = lambda: psutil.Process().memory_info().rss
        (tf.ones((8, 64)) * 2.0).numpy()
        return_freed_memory()
        before = rss()
        for _ in range(3):
            tensors = [tf.random.uniform((1000, 1000)) + 1.0 for _ in range(100)]
            peak = rss()
            del tensors
        return_freed_memory()
        print((peak - before) // 2**20, (rss() - before) // 2**20)
    """, TF_CPP_MIN_LOG_LEVEL="3")
    peak, kept = (int(value) for value in out.split())
    assert peak > 350  # the tensors were really resident
    assert kept < 60, f"{kept} MiB of freed tensors stayed resident"


def test_an_operators_own_malloc_settings_are_kept():
    code = "from demos.memory import tune_allocator; print(tune_allocator())"
    assert run(code) == "True"
    assert run(code, MALLOC_ARENA_MAX="4") == "False"
    assert run(code, GLIBC_TUNABLES="glibc.malloc.arena_max=4") == "False"
    setting = ("import os; from demos.memory import tune_allocator; tune_allocator(); "
               "print(os.environ['TF_ONEDNN_USE_SYSTEM_ALLOCATOR'])")
    assert run(setting) == "1"
    assert run(setting, TF_ONEDNN_USE_SYSTEM_ALLOCATOR="0") == "0"


def test_after_settling_a_requests_cycles_are_freed_when_it_ends():
    """A cycle holding a large array (what a Keras model built for one request leaves) is freed
    by return_freed_memory once the start-up objects are frozen; without the freeze, the full
    collection it needs is left to Python's rare automatic one."""
    out = run("""
        import gc, weakref
        import numpy as np
        from demos.memory import return_freed_memory, settle
        gc.disable()  # only the calls below collect

        class Holder:
            pass

        def leave_a_cycle():
            holder = Holder()
            holder.itself, holder.pixels = holder, np.ones(50_000_000, np.uint8)
            return weakref.ref(holder)

        before_settling = leave_a_cycle()
        return_freed_memory()
        kept = before_settling() is not None
        settle()  # collects it, then freezes what is left
        after_settling = leave_a_cycle()
        return_freed_memory()
        print(kept, before_settling() is None, after_settling() is None, gc.get_freeze_count() > 0)
    """)
    assert out == "True True True True"
