"""InstaVis: why does a model judge a social photo the way it does?

Run it with `python app.py` (a local tab at http://127.0.0.1:7860), as a Hugging Face Space (the
Space runs this same file), or with `--share` for a public link. Importing this module builds
nothing, loads no model and touches no network. Once the server answers, `main` warms the
shipped models in a background thread (`warm_up`), so the first visitor's request does not pay
for loading them; a tab used before that waits for the part it needs, which loads only once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time

# Gradio phones home on launch unless told not to; InstaVis must run with no network at all.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# TensorFlow's C++ start-up chatter is noise to a user of the app.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
QUEUE_MAX_SIZE = 32  # beyond this, new requests are refused at once instead of waiting for minutes
MAX_UPLOAD_BYTES = 40 * 1024 * 1024
"""The largest file the server takes (Gradio refuses a bigger one before storing it). A photo
straight from a 50-megapixel camera, the most any tab judges (`models.images.MAX_MEGAPIXELS`),
is 10-30 MB as JPEG; a file far beyond that is no photo a user would post."""
CACHE_CLEANUP = (15 * 60, 60 * 60)
"""Gradio's `delete_cache` (every, older than; seconds): every 15 minutes, the uploads and
result files of more than an hour ago are deleted, so uploads cannot pile up on the disk. An
hour leaves a user ample time to download a figure."""

log = logging.getLogger("instavis")

SERVING_WEIGHTS = ("clip", "aesthetic_head", "style_vgg16", "style_head", "tags_head")
"""The Hub artifacts the tabs load while serving (not the training backbones). On a connected
machine the missing ones are downloaded in the background once the server answers
(`weights.prefetch`); a name the manifest does not list yet (a head nobody published) is skipped."""

TAGLINE = (
    "See **why** a model judges a photo the way it does. Every judgement comes with explanation "
    "maps (Grad-CAM, CAM, LIME, SHAP) and a score for how faithful each map is to the model."
)


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad flag gives a single line and exit code 2 (argparse prints usage too)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a whole number, not {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 1 and 65535, not {port}")
    return port


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = OneLineArgumentParser(
        prog="app.py",
        description="InstaVis: explainable judgements of social photos, in a Gradio app.",
    )
    parser.add_argument(
        "--host", default=os.environ.get("GRADIO_SERVER_NAME", DEFAULT_HOST),
        help="address to listen on (default %(default)s; 0.0.0.0 serves the whole network)",
    )
    parser.add_argument(
        "--port", type=_port, default=os.environ.get("GRADIO_SERVER_PORT", str(DEFAULT_PORT)),
        help="port to listen on (default %(default)s)",
    )
    parser.add_argument(
        "--share", action="store_true",
        help="also serve through a temporary public *.gradio.live link",
    )
    parser.add_argument(
        "--offline", action="store_true",
        help="never contact the Hugging Face Hub; use only weights already on this machine",
    )
    args = parser.parse_args(argv)
    if args.share and args.offline:
        parser.error("--share needs the network to open a public link; drop --offline")
    return args


def build_app(offline: bool = False):
    """Build the whole app as a gr.Blocks, one tab per module in demos.TABS.

    Args:
        offline: forbid downloads for this process (the `--offline` flag).

    Returns:
        The gr.Blocks, with its queue on and bounded. Nothing is launched.
    """
    import gradio as gr

    import weights
    from demos import TABS

    if offline:
        weights.set_offline(True)

    from demos.common import UploadsOnlyBlocks

    with UploadsOnlyBlocks(title="InstaVis", analytics_enabled=False,
                           delete_cache=CACHE_CLEANUP) as demo:
        gr.Markdown(f"# InstaVis\n{TAGLINE}", elem_id="instavis-header")
        with gr.Tabs():
            for tab in TABS:
                with gr.Tab(tab.TITLE, id=tab.KEY, elem_id=f"tab-{tab.KEY}") as tab_block:
                    refreshers = tab.build() or ()
                # A tab's refreshers re-read what this machine has (weights pulled while the
                # app runs) when a page opens and when the tab is selected. Helpers, not API.
                for fn, inputs, outputs in refreshers:
                    for trigger in (demo.load, tab_block.select):
                        trigger(fn, inputs=inputs, outputs=outputs, queue=False,
                                show_progress="hidden", api_visibility="private")
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=1)
    return demo


def _one_line(error: Exception) -> str:
    """An exception as one log line: missing weights give their one-sentence summary."""
    text = getattr(error, "summary", None) or " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def warm_up() -> None:
    """Do the first requests' one-off work now: each task's `warm_up` (the Aesthetic reference
    set and quality model, MediaPipe's graphs, CLIP when its weights are here), the first
    chart (matplotlib's import and fonts), the explainers' (`explain.warm_up`: SHAP's numba
    compilation) and, with CLIP, the Grad-CAM tower every tab's CLIP maps share.

    Works offline (nothing here downloads) and never raises: a part that fails, e.g. for
    missing weights, is logged in one line and skipped, and the tab that needs it reports the
    problem on first use as it always has.
    """
    import explain
    from demos.figures import aesthetic as aesthetic_figures
    from models.aesthetic import warmup as aesthetic_warmup
    from models.pose import comparison

    # The Aesthetic tab comes first on the page, so it is warmed first; the explainers last,
    # since a user rates before asking why.
    steps = (("aesthetic rating", aesthetic_warmup.warm_up),
             ("aesthetic chart", aesthetic_figures.warm_up),
             ("pose comparison", comparison.warm_up), ("explainers", explain.warm_up),
             ("Grad-CAM over CLIP", aesthetic_warmup.warm_up_gradcam))
    started = time.perf_counter()
    # TensorFlow first, under the lock the request handlers take too (models.backend): two
    # threads importing it at once leave it half-initialised for the rest of the process.
    from models.backend import load_backend

    load_backend()
    log.info("warm-up: TensorFlow imported in %.1f s", time.perf_counter() - started)
    for name, step in steps:
        step_started = time.perf_counter()
        try:
            step()
        except Exception as error:  # noqa: BLE001 - a warm-up must never take the app down
            log.warning("warm-up: %s skipped, it will load on first use (%s)", name,
                        _one_line(error))
        else:
            log.info("warm-up: %s ready in %.1f s", name, time.perf_counter() - step_started)
    # The models are loaded: later collections need not look at them (demos.memory).
    from demos.memory import settle

    settle()
    log.info("warm-up: done in %.1f s", time.perf_counter() - started)


def start_warm_up() -> threading.Thread:
    """Run `warm_up` in a daemon thread (it never holds up the server or its exit)."""
    thread = threading.Thread(target=warm_up, name="instavis-warm-up", daemon=True)
    thread.start()
    return thread


EXPLAIN_AHEAD = "INSTAVIS_EXPLAIN_AHEAD"
"""`0` keeps the examples' explanations from being computed ahead (for a server whose idle CPU
time belongs to something else); `1`, the default, computes them."""


def explain_ahead() -> bool:
    """Whether the examples are explained ahead ($INSTAVIS_EXPLAIN_AHEAD: 1, the default, or 0).

    Raises:
        ValueError: any other value, in one line naming the setting.
    """
    value = os.environ.get(EXPLAIN_AHEAD, "1").strip()
    if value not in ("0", "1"):
        raise ValueError(f"{EXPLAIN_AHEAD} must be 1 (explain the examples ahead) or 0 (do "
                         f"not), got {value!r}.")
    return value == "1"


def start_examples_ahead(after: threading.Thread | None = None) -> threading.Thread | None:
    """Explain the tabs' examples in the background once `after` (the warm-up) is done, while
    nobody is served (`demos.ahead`), so a first visitor's example answers at once; nothing
    when $INSTAVIS_EXPLAIN_AHEAD is 0."""
    if not explain_ahead():
        log.info("examples ahead: off (%s=0)", EXPLAIN_AHEAD)
        return None
    from demos import ahead

    return ahead.start(after=after)


def start_downloads() -> list[str]:
    """Download the missing serving weights in the background (`weights.prefetch`); nothing
    when offline. Each one that arrives is warmed up like the shipped models, so the next
    visitor's request does not pay for loading it."""
    from weights import prefetch

    return prefetch.start(SERVING_WEIGHTS, on_arrival=lambda name: after_arrival())


def after_arrival() -> None:
    """New weights are here: warm them up, and answer the examples again (a tab that could not
    explain them may now, and a model may have changed)."""
    from demos.explain_runs import EXAMPLE_ANSWERS

    warm_up()
    EXAMPLE_ANSWERS.clear()
    start_examples_ahead()


def print_addresses(demo, share: bool) -> None:
    """Where the app answers. Gradio's own lines are silenced (`quiet`) because its hint, "set
    `share=True` in `launch()`", speaks to a programmer; a user of app.py has `--share`."""
    print(f"* InstaVis is running at {demo.local_url}", flush=True)
    if getattr(demo, "share_url", None):
        # Gradio's own note on the link's lifetime goes with the lines `quiet` silences.
        print(f"* Public link (anyone with it can use the app; Gradio keeps it for up to a week, "
              f"best effort): {demo.share_url}", flush=True)
    elif share:
        print("* No public link: Gradio could not open one (see above).", flush=True)
    elif not os.environ.get("SPACE_ID"):
        print("* For a public link, run `python app.py --share`.", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A setting the tabs read per request is checked once here, so a bad value stops the
    # start with one line instead of failing every share later.
    from demos.clients import BadTrustedProxies, trusted_proxies

    try:
        trusted_proxies()
        explain_ahead()
    except (BadTrustedProxies, ValueError) as error:
        print(f"app.py: error: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Before TensorFlow loads and before the server's threads start (see demos.memory).
    from demos.memory import tune_allocator

    tune_allocator()
    import gradio as gr

    from demos.listeners import guard_middleware
    from demos.styling import APP_CSS

    demo = build_app(offline=args.offline)
    try:
        # launch returns once the server answers; the warm-up starts only then, so its imports
        # (TensorFlow, MediaPipe) never compete with the start-up for the CPU and the GIL.
        demo.launch(
            server_name=args.host,
            server_port=args.port,
            share=args.share,
            theme=gr.themes.Soft(primary_hue="pink", secondary_hue="violet"),
            css=APP_CSS,
            footer_links=["api", "gradio"],
            prevent_thread_lock=True,
            quiet=True,
            max_file_size=MAX_UPLOAD_BYTES,
            # Requests nobody listens to stop; one client cannot fill the queue.
            app_kwargs={"middleware": guard_middleware(demo)},
        )
    except OSError as error:
        # Port in use, or an address this machine doesn't have: one line, not a traceback.
        print(f"app.py: error: cannot serve on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    print_addresses(demo, args.share)
    start_downloads()
    start_examples_ahead(after=start_warm_up())
    demo.block_thread()  # until Ctrl+C, which it handles by closing the server
    return 0


if __name__ == "__main__":
    sys.exit(main())
