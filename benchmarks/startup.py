"""Start-up against the budgets: the first page, and the first Aesthetic request.

`python app.py --offline` to its first page has 10 s; a prediction, the first one included,
has 150 ms.

Once it serves, the app warms its models in a background thread (`app.warm_up`). Each start is
a fresh interpreter, and times:

- the first page (HTTP 200), with the warm-up running behind it;
- when the app logs that the warm-up is done;
- one /aesthetic request through gradio_client, then WARM_REQUESTS more. In `--runs` starts the
  first request goes out once the warm-up is done (a visitor who arrives a few seconds after start);
  in one more start it goes out the moment the page answers and the client has connected, and
  then waits for the warm-up's reference set rather than building its own.

For comparison, `--runs` more starts, taken in turn with the others so that the machine's load
hits both alike, run the same app with its warm-up switched off (`app.start_warm_up` replaced by
a no-op, as the app was before it had one) and send their first request at once.

A request through Gradio does more than rate: it uploads the photo, queues, explains the score
over the attributes with SHAP, draws the chart and encodes it as a PNG. So, in fresh interpreters
too, `models.aesthetic.rate()` alone is timed cold (the first call of a process: what the first
request paid before the warm-up) and after `app.warm_up()`. After the warm-up, that interpreter
also serves the app and times, in turn, the tab's whole handler (with Gradio's PNG encoding of
the chart) and a request through gradio_client: what the request takes beyond the handler is
HTTP and queue overhead.
The photo is scikit-image's coffee at 224 x 224. `import app` alone is timed too, so a slow start
can be traced to imports or to launch.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_SECONDS = 10.0
PREDICTION_BUDGET = 0.150  # docs/benchmarks.md: one prediction, any tab
WARM_UP_DONE = "warm-up: done"  # what app.warm_up logs at its end
TIMEOUT = 300.0  # seconds before a start that hangs is given up
WARM_REQUESTS = 5  # requests after the first, whose median is "a warm request"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_photo(path: Path, side: int = 224) -> Path:
    """scikit-image's coffee (held out of the quality model's training), side x side, as a
    JPEG to upload."""
    from PIL import Image
    from skimage import data

    Image.fromarray(data.coffee()).resize((side, side), Image.Resampling.LANCZOS).save(
        path, quality=95)
    return path


# === The app, started as a user starts it ===


@dataclass(frozen=True)
class Start:
    """Seconds measured in one start of `python app.py --offline`."""

    page: float  # from start to the first HTTP 200 on the page
    warmed: float | None  # from start to the app's "warm-up: done" log line (None: no warm-up)
    first: float  # the first /aesthetic request, through gradio_client
    warm: float  # the median of the WARM_REQUESTS after it
    skipped: tuple[str, ...]  # warm-up parts the app logged as skipped


def _wait(condition, server: subprocess.Popen, what: str, started: float) -> float:
    while time.perf_counter() - started < TIMEOUT:
        if condition():
            return time.perf_counter() - started
        if server.poll() is not None:
            raise RuntimeError(f"app.py exited (code {server.returncode}) before its {what}")
        time.sleep(0.02)
    raise RuntimeError(f"no {what} within {TIMEOUT:.0f} s")


def _page_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as page:
            return page.status == 200
    except OSError:
        return False


def one_start(photo: Path, request_at_once: bool = False, warm_up: bool = True) -> Start:
    """Start the app, time its first page, its warm-up and its /aesthetic requests.

    Args:
        photo: the photo to rate.
        request_at_once: send the first request as soon as the page answers, not once the
            warm-up is done.
        warm_up: False starts the app with its warm-up switched off (the first request then
            goes out at once).
    """
    from gradio_client import Client, handle_file

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "app.py"]
    if not warm_up:
        command = [sys.executable, "-c", "import sys, app; app.start_warm_up = lambda: None; "
                   "sys.exit(app.main(sys.argv[1:]))"]
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "stderr.txt"
        with open(log, "w") as stderr:
            started = time.perf_counter()
            server = subprocess.Popen(
                [*command, "--offline", "--port", str(port)], cwd=ROOT,
                env=env, stdout=subprocess.DEVNULL, stderr=stderr,
            )
        try:
            page = _wait(lambda: _page_answers(port), server, "first page", started)
            client = Client(f"http://127.0.0.1:{port}/", verbose=False,
                            analytics_enabled=False, download_files=False)

            def warmed() -> float:
                return _wait(lambda: WARM_UP_DONE in log.read_text(), server, "warm-up",
                             started)

            def request() -> float:
                begun = time.perf_counter()
                client.predict(handle_file(str(photo)), api_name="/aesthetic")
                return time.perf_counter() - begun

            if not warm_up:
                first, warm = request(), None
            elif request_at_once:
                first = request()
                warm = warmed()
            else:
                warm = warmed()
                first = request()
            warm_request = statistics.median(request() for _ in range(WARM_REQUESTS))
            skipped = tuple(line for line in log.read_text().splitlines()
                            if "warm-up:" in line and "skipped" in line)
            return Start(page, warm, first, warm_request, skipped)
        finally:
            server.terminate()
            server.wait(timeout=30)


def seconds_to_import_app() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import app"], cwd=ROOT, check=True)
    return time.perf_counter() - start


# === In-process: the model's own time, and the handler's ===


def in_process(mode: str, photo: Path, repeats: int = 5) -> dict[str, float]:
    """Seconds of `rate()` in a fresh interpreter: the first call when `mode` is "cold"; after
    `app.warm_up()` (medians of `repeats`) when it is "warm", with the tab's handler and a
    request through gradio_client to the app served from the same process, taken in turn."""
    code = (f"import json, benchmarks.startup as b; "
            f"print(json.dumps(b._measure_here({mode!r}, {str(photo)!r}, {repeats})))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                            capture_output=True, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return json.loads(result.stdout.strip().splitlines()[-1])


def _measure_here(mode: str, photo: str, repeats: int) -> dict[str, float]:
    """The child's side of `in_process`."""
    import logging

    import app
    import weights
    from models.aesthetic import rating
    from models.images import load_image

    logging.disable(logging.INFO)  # the warm-up's log lines would only clutter the output
    weights.set_offline(True)
    image = load_image(photo)  # decoding the upload is not part of the rating

    def timed(fn) -> float:
        begun = time.perf_counter()
        fn()
        return time.perf_counter() - begun

    if mode == "cold":
        return {"rate": timed(lambda: rating.rate(image))}
    import gradio as gr
    from gradio_client import Client, handle_file

    from demos import aesthetic_tab

    app.warm_up()
    plot = gr.Plot(format="png")  # the tab's chart component: Gradio encodes the figure so

    def handler():
        plot.postprocess(aesthetic_tab.rate(photo)[3])

    demo = app.build_app(offline=True)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1",
                            server_port=free_port(), quiet=True)
    try:
        client = Client(url, verbose=False, analytics_enabled=False, download_files=False)

        def request():
            client.predict(handle_file(photo), api_name="/aesthetic")

        handler()  # first calls of Gradio's own parts are not what is measured here
        request()
        # In turn, so that the machine's load weighs on the handler and the request alike.
        times = [(timed(lambda: rating.rate(image)), timed(handler), timed(request))
                 for _ in range(repeats)]
    finally:
        demo.close()
    rates, handlers, requests = zip(*times, strict=True)
    return {"rate": statistics.median(rates), "handler": statistics.median(handlers),
            "request": statistics.median(requests)}


# === Report ===


def _row(name: str, seconds: float, budget: float | None = PREDICTION_BUDGET,
         note: str = "") -> None:
    ms = seconds * 1000
    if budget is None:
        print(f"{name:<58}{ms:>8.0f}{'':>8}{'':>7}  {note}".rstrip())
        return
    print(f"{name:<58}{ms:>8.0f}{budget * 1000:>8.0f}{seconds / budget:>7.2f}  {note}".rstrip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.startup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3,
                        help="starts whose first request waits for the warm-up, and starts "
                             "without a warm-up (default 3 each)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        photo = write_photo(Path(folder) / "coffee_224.jpg")
        starts, unwarmed = [], []
        for _ in range(args.runs):
            starts.append(one_start(photo))
            unwarmed.append(one_start(photo, warm_up=False))
        at_once = one_start(photo, request_at_once=True)
        imports = [seconds_to_import_app() for _ in range(args.runs)]
        cold = in_process("cold", photo)
        warm = in_process("warm", photo)

    pages = [s.page for s in (*starts, at_once)]
    median_page = statistics.median(pages)
    unwarmed_page = statistics.median(s.page for s in unwarmed)
    print(f"{'what':<44}{'median s':>10}{'budget s':>10}{'ratio':>8}")
    print(f"{'python app.py -> first page, warm-up running':<44}{median_page:>10.2f}"
          f"{BUDGET_SECONDS:>10.1f}{median_page / BUDGET_SECONDS:>8.2f}")
    print(f"{'python app.py -> first page, no warm-up':<44}{unwarmed_page:>10.2f}"
          f"{BUDGET_SECONDS:>10.1f}{unwarmed_page / BUDGET_SECONDS:>8.2f}")
    print(f"{'import app':<44}{statistics.median(imports):>10.2f}")
    print(f"{'python app.py -> warm-up done':<44}"
          f"{statistics.median(s.warmed for s in (*starts, at_once)):>10.2f}")
    verdict = "within" if median_page <= BUDGET_SECONDS else "OVER"
    print(f"first page {verdict} budget ({len(pages)} starts: "
          f"{', '.join(f'{s:.2f}' for s in pages)})")
    print()

    first = statistics.median(s.first for s in starts)
    later = statistics.median(s.warm for s in (*starts, at_once))
    print(f"{'what (224 x 224 photo)':<58}{'ms':>8}{'budget':>8}{'ratio':>7}")
    _row("rate() in-process, cold (first call of a process)", cold["rate"])
    _row("rate() in-process, after app.warm_up()", warm["rate"])
    _row("/aesthetic handler in-process, after app.warm_up()", warm["handler"],
         note="rate + SHAP + chart as PNG")
    _row("/aesthetic via gradio_client, 1st request after warm-up", first)
    _row("/aesthetic via gradio_client, later requests", later)
    _row("/aesthetic via gradio_client, 1st request at first page", at_once.first,
         note="waits for the warm-up")
    _row("/aesthetic via gradio_client, 1st request, no warm-up",
         statistics.median(s.first for s in unwarmed), note="the app before its warm-up")
    _row("/aesthetic via gradio_client, in-process server", warm["request"],
         note="in turn with the handler above")
    _row("HTTP and queue overhead (the two rows above)", warm["request"] - warm["handler"],
         budget=None)
    print(f"({args.runs} starts for the 1st request after warm-up: "
          f"{', '.join(f'{1000 * s.first:.0f}' for s in starts)} ms)")
    for line in sorted({line for s in (*starts, at_once) for line in s.skipped}):
        print(f"warm-up part skipped: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
