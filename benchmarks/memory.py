"""Memory against the budget: every tab used, odd shapes included, under 3 GB RSS.

Starts `python app.py --offline` on a free port, waits for its warm-up, and drives every tab
through gradio_client as a visitor would: Aesthetic (rate, then explain the technical quality
and, with CLIP, the content, each with Grad-CAM, LIME and SHAP), Pose (compare with the post,
then explain the pose and the background similarity with every method the tab offers) and
Style (classify, then explain the top style with Grad-CAM, LIME and SHAP), Tags (tag, then
explain the top tag with Grad-CAM, LIME and SHAP), Profile (check a feed, then explain its
largest photo's technical quality and, with CLIP, its content score, each with Grad-CAM, LIME
and SHAP) and Models (refresh).
Each photo goes through every tab (in Profile, the odd photos make one feed of their own): an
ordinary example photo (or pair; in Profile the example feed and a feed of the most photos
allowed, 30), then odd shapes: a 4000 x 500 panorama strip, a 500 x 4000 tall strip, a tiny
64 x 64 and a 2048 x 2048 square. Under the odd-photo policy (models.images.prepare_photo) the
strips are judged on their central 3:1 part; the tiny photos are the smallest every tab still
judges.

After each step it prints the server's resident set (psutil: the process and its children) and
the highest value seen during the step, sampled every 20 ms; the kernel's own high-water mark of
the server process (VmHWM) gives the overall peak, which is compared with the budget. 3 GB is
read as 3 x 10^9 bytes (2861 MiB), the stricter reading.

The sequence runs twice with the same photos, then once more with photos of new shapes (3600 x
450, 450 x 3600, 96 x 72, 1900 x 2000). A process that keeps something per shape grows in the
last round, and one that leaks per request grows in the second; the growth of each round's
last RSS over the round before is printed.

`--once` uses each tab once with its example instead of the three rounds of odd shapes: the
memory of an app in which every tab has been used.

The worst legal mix (left out with `--no-mix`) comes last: one request to every endpoint that
takes photos, all sent at once, each from a visitor of its own (the server is started with
INSTAVIS_TRUSTED_PROXIES=1 and each client's X-Forwarded-For names its own address, so no rate
limit or per-client cap refuses them), each with the legal photo that takes the most memory to
decode: a 4242 x 2828 PNG with transparency, just under the 12-megapixel limit for formats
other than JPEG (a JPEG may have 50 megapixels but is decoded at a reduced scale), and 30 of
them in the Profile feeds. Each tab's action runs one request at a time and explanations of all
tabs one at a time, so more requests would only wait in the queue. Its peak is compared with the
budget like the rest. `--mix-rounds N` sends the mix N times, one after the other: a second
round that raises the resting RSS again would be a leak.

CLIP. The CLIP weights are not on a machine without the Hub. Unless the real ones are here (or
--no-clip), the benchmark builds a preset the size of CLIP ViT-B/32 (both towers; random
weights, a small tokenizer vocabulary) and points the app at it with INSTAVIS_WEIGHTS_DIR, so
the content target and the Pose tab's Grad-CAM run at the real model's size.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.startup import WARM_UP_DONE, _page_answers, free_port

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "demos" / "examples"
EXAMPLE_FEED = tuple(sorted((EXAMPLES / "feed").glob("*.jpg")))  # the Profile tab's example
MAX_FEED = 30  # models.profile.MAX_PHOTOS, not imported: this process stays free of models
BUDGET_BYTES = 3 * 10**9  # docs/benchmarks.md: "<= 3 GB RSS, not growing with new shapes"
MIB = 2**20
SAMPLE_SECONDS = 0.02
TIMEOUT = 600.0  # seconds before a start or a request that hangs is given up

SHAPES = {"panorama": (500, 4000), "tall": (4000, 500), "tiny": (64, 64),
          "square": (2048, 2048)}
"""Odd shapes as (height, width): the issue's 4000 x 500 strip, its transpose, a thumbnail
and the largest side load_image keeps."""
NEW_SHAPES = {"panorama": (450, 3600), "tall": (3600, 450), "tiny": (72, 96),
              "square": (2000, 1900)}
"""The same kinds at sizes the process has not seen: the last round."""


# === Photos ===


def _strip(height: int, width: int, vertical: bool):
    """Example photos side by side (or stacked), each scaled to the strip's short side, cut to
    height x width: a panorama with people and places in it."""
    import numpy as np
    from PIL import Image

    side = width if vertical else height
    length = height if vertical else width
    parts, total = [], 0
    names = ("astronaut", "camera", "flower", "chelsea", "coffee")
    while total < length:
        with Image.open(EXAMPLES / f"{names[len(parts) % len(names)]}.jpg") as photo:
            photo = photo.convert("RGB")
            if vertical:
                size = (side, max(1, round(photo.height * side / photo.width)))
            else:
                size = (max(1, round(photo.width * side / photo.height)), side)
            parts.append(np.asarray(photo.resize(size, Image.Resampling.LANCZOS)))
        total += parts[-1].shape[0 if vertical else 1]
    strip = np.concatenate(parts, axis=0 if vertical else 1)
    return strip[:height] if vertical else strip[:, :width]


def odd_photo(kind: str, height: int, width: int, folder: Path) -> Path:
    """A JPEG of the given kind and size, as a visitor would upload it."""
    from PIL import Image

    if kind in ("panorama", "tall"):
        image = Image.fromarray(_strip(height, width, vertical=kind == "tall"))
    else:
        with Image.open(EXAMPLES / "astronaut.jpg") as photo:
            image = photo.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    path = folder / f"{kind}_{width}x{height}.jpg"
    image.save(path, quality=90)
    return path


# === The server and its memory ===


def process_rss(pid: int) -> int:
    """Resident bytes of a process and all its children (0 once it is gone)."""
    import psutil

    try:
        process = psutil.Process(pid)
        family = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for member in family:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def high_water_mark(pid: int) -> int | None:
    """The kernel's peak resident set of one process (VmHWM), in bytes; None off Linux."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


class Sampler:
    """Polls a process's RSS in a thread; `peak()` is the highest since the last reset."""

    def __init__(self, pid: int):
        self.pid = pid
        self._peak = 0
        self.peak_at = time.perf_counter()  # when the peak was sampled (perf_counter seconds)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = process_rss(self.pid)
            with self._lock:
                if rss > self._peak:
                    self._peak, self.peak_at = rss, time.perf_counter()
            time.sleep(SAMPLE_SECONDS)

    def reset(self) -> None:
        with self._lock:
            self._peak, self.peak_at = process_rss(self.pid), time.perf_counter()

    def peak(self) -> int:
        with self._lock:
            return max(self._peak, process_rss(self.pid))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Step:
    round: int
    name: str
    seconds: float
    rss: int
    peak: int
    note: str = ""


class Visit:
    """Drives the app's API and records memory after each step."""

    def __init__(self, client, pid: int, sampler: Sampler, lime: int | None,
                 shap: int | None):
        self.client, self.pid, self.sampler = client, pid, sampler
        self.budgets = {key: value for key, value in
                        (("lime_budget", lime), ("shap_budget", shap)) if value is not None}
        self.steps: list[Step] = []
        self.round = 0

    def step(self, name: str, api_name: str, **kwargs) -> None:
        self.sampler.reset()
        started = time.perf_counter()
        note = ""
        try:
            self.client.predict(api_name=api_name, **kwargs)
        except Exception as error:  # noqa: BLE001 - a refusal is an answer; report it
            note = "refused: " + " ".join(str(error).split())[:70]
        seconds = time.perf_counter() - started
        step = Step(self.round, name, seconds, process_rss(self.pid), self.sampler.peak(),
                    note)
        self.steps.append(step)
        print_step(step)

    def aesthetic(self, label: str, photo: Path, clip: bool) -> None:
        from gradio_client import handle_file

        upload = handle_file(str(photo))
        self.step(f"aesthetic rate, {label}", "/aesthetic", photo=upload)
        for target in ("quality", "content") if clip else ("quality",):
            self.step(f"aesthetic explain {target}, {label}", "/aesthetic_explain",
                      photo=upload, methods=["gradcam", "lime", "shap"], target=target,
                      seed=0, **self.budgets)

    def pose(self, label: str, post: Path, photo: Path, clip: bool) -> None:
        from gradio_client import handle_file

        pair = {"post": handle_file(str(post)), "photo": handle_file(str(photo))}
        self.step(f"pose compare, {label}", "/pose", allow_mirror=True, **pair)
        self.step(f"pose explain pose, {label}", "/pose_explain", allow_mirror=True,
                  methods=["lime", "shap"], target="pose similarity", seed=0,
                  **self.budgets, **pair)
        methods = ["gradcam", "lime", "shap"] if clip else ["lime", "shap"]
        self.step(f"pose explain background, {label}", "/pose_explain", allow_mirror=True,
                  methods=methods, target="background similarity", seed=0, **self.budgets,
                  **pair)

    def style(self, label: str, photo: Path, clip: bool) -> None:
        from gradio_client import handle_file

        upload = handle_file(str(photo))
        self.step(f"style classify, {label}", "/style", photo=upload)
        if clip:  # without CLIP (or a trained classifier) the tab has nothing to explain
            self.step(f"style explain, {label}", "/style_explain", photo=upload,
                      methods=["gradcam", "lime", "shap"], seed=0, **self.budgets)

    def tags(self, label: str, photo: Path, clip: bool) -> None:
        from gradio_client import handle_file

        if not clip:  # without CLIP (or a trained head) the tab has nothing to judge
            return
        upload = handle_file(str(photo))
        self.step(f"tags, {label}", "/tags", photo=upload)
        self.step(f"tags explain, {label}", "/tags_explain", photo=upload,
                  methods=["gradcam", "lime", "shap"], seed=0, **self.budgets)

    def profile(self, label: str, feed: list[Path], clip: bool) -> None:
        from gradio_client import handle_file

        uploads = [handle_file(str(photo)) for photo in feed]
        self.step(f"profile check, {label}", "/profile", photos=uploads)
        biggest = 1 + max(range(len(feed)), key=lambda index: feed[index].stat().st_size)
        for target in ("quality", "content") if clip else ("quality",):
            self.step(f"profile explain {target}, {label}", "/profile_explain",
                      photos=uploads, photo=biggest, methods=["gradcam", "lime", "shap"],
                      target=target, seed=0, **self.budgets)

    def every_tab_once(self, clip: bool) -> None:
        """Each tab once, with its example photo (or pair, or feed), every method."""
        self.round += 1
        print(f"-- round {self.round}: every tab once", flush=True)
        self.aesthetic("coffee 600 x 400", EXAMPLES / "coffee.jpg", clip)
        self.pose("astronaut, mirrored", EXAMPLES / "astronaut.jpg",
                  EXAMPLES / "astronaut_mirrored.jpg", clip)
        self.style("astronaut 512 x 512", EXAMPLES / "astronaut.jpg", clip)
        self.tags("rocket 640 x 427", EXAMPLES / "rocket.jpg", clip)
        self.profile(f"example feed of {len(EXAMPLE_FEED)}", list(EXAMPLE_FEED), clip)
        self.step("models refresh", "/models_refresh")

    def round_of(self, photos: dict[str, Path], clip: bool, ordinary: bool = True) -> None:
        self.round += 1
        print(f"-- round {self.round}", flush=True)
        post = EXAMPLES / "astronaut.jpg"
        if ordinary:
            self.aesthetic("coffee 600 x 400", EXAMPLES / "coffee.jpg", clip)
        for label, photo in photos.items():
            self.aesthetic(label, photo, clip)
        if ordinary:
            self.pose("astronaut, mirrored", post, EXAMPLES / "astronaut_mirrored.jpg", clip)
        for label, photo in photos.items():
            self.pose(label, post, photo, clip)
        if ordinary:
            self.style("astronaut 512 x 512", post, clip)
        for label, photo in photos.items():
            self.style(label, photo, clip)
        if ordinary:
            self.tags("rocket 640 x 427", EXAMPLES / "rocket.jpg", clip)
        for label, photo in photos.items():
            self.tags(label, photo, clip)
        if ordinary:
            self.profile(f"example feed of {len(EXAMPLE_FEED)}", list(EXAMPLE_FEED), clip)
            # the most photos a feed may have: the example feed's photos, again and again
            longest = [EXAMPLE_FEED[i % len(EXAMPLE_FEED)] for i in range(MAX_FEED)]
            self.profile(f"{MAX_FEED} photos", longest, clip)
        self.profile(f"feed of the {len(photos)} odd photos", list(photos.values()), clip)
        self.step("models refresh", "/models_refresh")


# === The worst legal mix ===

MIX_SIDES = (4242, 2828)
"""Just under the 12-megapixel limit for formats other than JPEG
(models.images.MAX_MEGAPIXELS_NOT_JPEG). Such a PNG takes the most memory of any legal upload
to decode, about 100 MiB; a JPEG up to the 50-megapixel limit is decoded at a reduced scale
and takes about 55 MiB."""


def largest_legal_photo(folder: Path) -> Path:
    """The upload that takes the most memory to decode: a PNG just under its megapixel limit,
    with transparency (decoded at four bytes a pixel, then flattened on white), of example
    photos side by side, small enough to pass the upload limit (app.MAX_UPLOAD_BYTES)."""
    import numpy as np
    from PIL import Image

    width, height = MIX_SIDES
    rgba = np.empty((height, width, 4), np.uint8)
    rgba[..., :3] = _strip(height, width, vertical=False)
    rgba[..., 3] = np.linspace(64, 255, width).astype(np.uint8)[None, :]
    path = folder / f"largest_{width}x{height}.png"
    Image.fromarray(rgba).save(path, compress_level=6)
    return path


def mix_requests(photo: Path, clip: bool, budgets: dict) -> list[tuple[str, str, dict]]:
    """One request to every endpoint that takes photos, each with the largest legal photo:
    (label, api_name, arguments). Each tab's action runs one request at a time and
    explanations of all tabs one at a time (demos.explain_panel.EXPLANATION_WORKERS), so the mix
    keeps every worker busy with the heaviest photo, and the queue holds the rest with their
    uploaded files; more requests would only wait longer."""
    from gradio_client import handle_file

    def upload():
        return handle_file(str(photo))

    feed = [upload() for _ in range(MAX_FEED)]
    explain = {"methods": ["gradcam", "lime", "shap"], "seed": 0, **budgets}
    requests = [
        ("aesthetic rate", "/aesthetic", {"photo": upload()}),
        ("aesthetic explain quality", "/aesthetic_explain",
         {"photo": upload(), "target": "quality", **explain}),
        ("pose compare", "/pose", {"post": upload(), "photo": upload(), "allow_mirror": True}),
        ("pose explain background", "/pose_explain",
         {"post": upload(), "photo": upload(), "allow_mirror": True,
          "target": "background similarity",
          **explain, "methods": ["gradcam", "lime", "shap"] if clip else ["lime", "shap"]}),
        ("profile check, 30 photos", "/profile", {"photos": feed}),
        ("profile explain quality", "/profile_explain",
         {"photos": feed, "photo": 1, "target": "quality", **explain}),
    ]
    if clip:  # without CLIP, Style and Tags have nothing to judge
        requests += [
            ("style classify", "/style", {"photo": upload()}),
            ("style explain", "/style_explain", {"photo": upload(), **explain}),
            ("style share", "/style_share", {"photo": upload(), "nickname": "mix"}),
            ("tags", "/tags", {"photo": upload()}),
            ("tags explain", "/tags_explain", {"photo": upload(), **explain}),
            ("tags post", "/tags_post", {"photo": upload(), "tags": "mix"}),
        ]
    return requests


def worst_mix(url: str, pid: int, sampler: Sampler, photo: Path, clip: bool,
              budgets: dict) -> Step:
    """Sends `mix_requests` all at once, each from a visitor of its own (the server trusts one
    proxy, and each visitor's X-Forwarded-For names its own address), and waits for every
    answer. Returns one step: the whole mix's time, its end and peak RSS, and what was refused."""
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    requests = mix_requests(photo, clip, budgets)
    print(f"-- worst legal mix: {len(requests)} requests at once, each photo "
          f"{MIX_SIDES[0]} x {MIX_SIDES[1]} PNG with transparency "
          f"({photo.stat().st_size / 1e6:.1f} MB)", flush=True)

    spans: dict[str, tuple[float, float]] = {}  # label -> (sent, answered), perf_counter

    def send(numbered):
        number, (label, api_name, arguments) = numbered
        client = Client(url, verbose=False, analytics_enabled=False, download_files=False,
                        headers={"X-Forwarded-For": f"10.0.0.{number + 1}"})
        started = time.perf_counter()
        try:
            client.predict(api_name=api_name, **arguments)
            answer = "answered"
        except Exception as error:  # noqa: BLE001 - a refusal is an answer; report it
            answer = "refused: " + " ".join(str(error).split())[:70]
        spans[label] = (started, time.perf_counter())
        print(f"   {label:<49}{time.perf_counter() - started:>7.1f}  {answer}", flush=True)
        return answer

    sampler.reset()
    started = time.perf_counter()
    with ThreadPoolExecutor(len(requests)) as pool:
        answers = list(pool.map(send, enumerate(requests)))
    refused = sum(answer != "answered" for answer in answers)
    # Which requests were still unanswered when the peak was sampled: where to look first.
    peak_at = sampler.peak_at
    pending = [label for label, (sent, answered) in spans.items() if sent <= peak_at <= answered]
    print(f"   the peak came {peak_at - started:.1f} s in, with {len(pending)} unanswered: "
          + ", ".join(pending), flush=True)
    step = Step(0, f"worst legal mix, {len(requests)} requests at once",
                time.perf_counter() - started, process_rss(pid), sampler.peak(),
                f"{refused} refused" if refused else "")
    print_step(step)
    return step


def print_step(step: Step) -> None:
    print(f"{step.name:<52}{step.seconds:>7.1f}{step.rss / MIB:>9.0f}{step.peak / MIB:>9.0f}"
          f"  {step.note}".rstrip(), flush=True)


# === CLIP ===


def clip_sized_preset(root: Path) -> Path:
    """A CLIP ViT-B/32-sized preset with random weights in root/clip: both towers at the real
    sizes (vision 768 wide, 12 layers, patch 32; text 512 wide, 12 layers, 49408 tokens; joint
    512), saved and loaded by the real keras-hub code. The tokenizer's vocabulary is small;
    the token embedding still has all 49408 rows."""
    import keras
    import keras_hub

    from benchmarks.stand_ins import tiny_clip

    folder = root / "clip"
    folder.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(tiny_clip.SEED)
    vision = keras_hub.models.CLIPVisionEncoder(
        patch_size=32, hidden_dim=768, num_layers=12, num_heads=12, intermediate_dim=3072,
        image_shape=(224, 224, 3), name="vision_encoder")
    vocabulary, merges = tiny_clip.build_vocabulary()
    text = keras_hub.models.CLIPTextEncoder(
        vocabulary_size=49408, embedding_dim=512, hidden_dim=512, num_layers=12, num_heads=8,
        intermediate_dim=2048, max_sequence_length=77, name="text_encoder")
    backbone = keras_hub.models.CLIPBackbone(vision_encoder=vision, text_encoder=text,
                                             projection_dim=512)
    converter = keras_hub.layers.CLIPImageConverter(
        image_size=(224, 224), scale=[1.0 / 255.0 / s for s in tiny_clip._STD],
        offset=[-m / s for m, s in zip(tiny_clip._MEAN, tiny_clip._STD, strict=True)],
        interpolation="bicubic")
    preprocessor = keras_hub.models.CLIPPreprocessor(
        tokenizer=keras_hub.models.CLIPTokenizer(vocabulary=vocabulary, merges=merges),
        image_converter=converter, sequence_length=77)
    backbone.save_to_preset(str(folder))
    preprocessor.save_to_preset(str(folder))
    return folder


def _build_preset_in_child(root: Path) -> None:
    # In a child process, so this process never imports TensorFlow (its memory is not the
    # server's, but the machine's two cores and RAM are shared).
    subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                    "from benchmarks.memory import clip_sized_preset; "
                    "clip_sized_preset(Path(sys.argv[1]))", str(root)],
                   cwd=ROOT, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# === Main ===


def _wait(condition, server: subprocess.Popen, what: str) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < TIMEOUT:
        if condition():
            return time.perf_counter() - started
        if server.poll() is not None:
            raise RuntimeError(f"app.py exited (code {server.returncode}) before its {what}")
        time.sleep(0.1)
    raise RuntimeError(f"no {what} within {TIMEOUT:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-clip", action="store_true",
                        help="run with the weights this machine has, without a CLIP-sized "
                             "stand-in (offline: no content target, no Pose Grad-CAM)")
    parser.add_argument("--lime-budget", type=int, default=None,
                        help="LIME's budget in every explanation (default: each tab's own)")
    parser.add_argument("--shap-budget", type=int, default=None,
                        help="SHAP's budget in every explanation (default: each tab's own)")
    parser.add_argument("--once", action="store_true",
                        help="use each tab once with its example instead of the three rounds "
                             "of odd shapes")
    parser.add_argument("--no-mix", action="store_true",
                        help="leave out the worst legal mix of concurrent large photos")
    parser.add_argument("--mix-rounds", type=int, default=1, metavar="N",
                        help="send the worst legal mix N times, one after the other, to see "
                             "whether each round raises the resting RSS (default 1)")
    args = parser.parse_args(argv)
    if args.mix_rounds < 1:
        parser.error("--mix-rounds must be 1 or more")

    from gradio_client import Client

    import weights

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        # The gallery posts of the mix go to a data folder of the run's own, uploads to a
        # temp folder of its own; the server trusts one proxy, so each of the mix's visitors
        # is told apart by its X-Forwarded-For, as behind a Space's proxy.
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "INSTAVIS_DATA_DIR": str(folder / "data"),
               "GRADIO_TEMP_DIR": str(folder / "uploads"), "INSTAVIS_TRUSTED_PROXIES": "1"}
        clip = weights.available("clip")
        source = "the real weights" if clip else "none"
        if not clip and not args.no_clip:
            print("building a CLIP ViT-B/32-sized preset (random weights)...", flush=True)
            _build_preset_in_child(folder / "weights")
            env["INSTAVIS_WEIGHTS_DIR"] = str(folder / "weights")
            clip, source = True, "a ViT-B/32-sized stand-in, random weights"
        photos = {f"{kind} {w} x {h}": odd_photo(kind, h, w, folder)
                  for kind, (h, w) in SHAPES.items()}
        new_photos = {f"{kind} {w} x {h}": odd_photo(kind, h, w, folder)
                      for kind, (h, w) in NEW_SHAPES.items()}
        largest = None if args.no_mix else largest_legal_photo(folder)

        port = free_port()
        log = folder / "server.log"
        with open(log, "w") as stderr:
            server = subprocess.Popen([sys.executable, "app.py", "--offline", "--port",
                                       str(port)], cwd=ROOT, env=env,
                                      stdout=subprocess.DEVNULL, stderr=stderr)
        sampler = Sampler(server.pid)
        try:
            print(f"CLIP: {source}; budget 3 GB = {BUDGET_BYTES / MIB:.0f} MiB", flush=True)
            print(f"{'step':<52}{'s':>7}{'RSS MiB':>9}{'peak MiB':>9}", flush=True)
            _wait(lambda: _page_answers(port), server, "first page")
            print_step(Step(0, "idle, first page", 0.0, process_rss(server.pid),
                            sampler.peak()))
            sampler.reset()
            waited = _wait(lambda: WARM_UP_DONE in log.read_text(), server, "warm-up")
            print_step(Step(0, "warm-up done", waited, process_rss(server.pid),
                            sampler.peak()))
            client = Client(f"http://127.0.0.1:{port}/", verbose=False,
                            analytics_enabled=False, download_files=False)
            visit = Visit(client, server.pid, sampler, args.lime_budget, args.shap_budget)
            if args.once:
                visit.every_tab_once(clip)
            else:
                visit.round_of(photos, clip)
                visit.round_of(photos, clip)
                visit.round_of(new_photos, clip, ordinary=False)
            mixes = []
            for _ in range(args.mix_rounds if largest is not None else 0):
                mixes.append(worst_mix(f"http://127.0.0.1:{port}/", server.pid, sampler,
                                       largest, clip, visit.budgets))
            hwm = high_water_mark(server.pid)
        finally:
            sampler.stop()
            server.terminate()
            server.wait(timeout=60)

    peak = max([hwm or 0, *(step.peak for step in [*visit.steps, *mixes])])
    print()
    verdict = "within" if peak <= BUDGET_BYTES else "OVER"
    print(f"peak RSS {peak / MIB:.0f} MiB = {peak / BUDGET_BYTES:.2f} x the 3 GB budget: "
          f"{verdict} budget")
    ends = {}
    for step in visit.steps:
        ends[step.round] = step.rss
    peaks = {}
    for step in visit.steps:
        peaks[step.round] = max(peaks.get(step.round, 0), step.peak)
    for number, mix in enumerate(mixes, 1):
        print(f"worst legal mix {number} of {len(mixes)}: peak {mix.peak / MIB:.0f} MiB = "
              f"{mix.peak / BUDGET_BYTES:.2f} x the budget; ends at {mix.rss / MIB:.0f} MiB"
              + (f"; {mix.note}" if mix.note else ""))
    if args.once:
        return 0
    for later, what in ((2, "the same photos again"), (3, "photos of new shapes")):
        print(f"round {later} ({what}): ends at {(ends[later] - ends[later - 1]) / MIB:+.0f} MiB,"
              f" peaks at {(peaks[later] - peaks[later - 1]) / MIB:+.0f} MiB against round "
              f"{later - 1}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
