"""`models.backend.load_backend`: the first requests and the warm-up may all reach for
TensorFlow at once; each must get a whole TensorFlow, not a half-imported one.

The failure it guards against came from the app's own mix of threads (the warm-up importing
scikit-image, SciPy and TensorFlow while a request loaded CLIP, on a busy machine) and is not
reproduced on demand here: plain concurrent `import tensorflow` survives. This checks the
guarantee the app relies on instead, and the browser tests exercise the real mix."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_threads_that_start_together_all_get_a_working_tensorflow():
    # A fresh interpreter: TensorFlow must not be imported yet for the race to exist. Four
    # threads released together each go through load_backend, then use TensorFlow, Keras and
    # keras-hub the way a model load does.
    script = textwrap.dedent("""
        import sys, threading
        from models.backend import load_backend

        assert "tensorflow" not in sys.modules
        barrier = threading.Barrier(4)
        failures = []

        def request():
            barrier.wait()
            try:
                load_backend()
                import keras, keras_hub, tensorflow as tf
                assert int(tf.constant(2) + 2) == 4
                layer = keras.layers.Dense(2)
                layer.build((None, 3))
                assert keras_hub.models.CLIPBackbone is not None
            except Exception as error:
                failures.append(repr(error))

        threads = [threading.Thread(target=request) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print("failures:", failures)
        sys.exit(1 if failures else 0)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "failures: []" in result.stdout
