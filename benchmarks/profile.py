"""The Profile tab's `check()` on feeds of 12 and 30 photos, offline and with a CLIP-sized model.

The budgets give one prediction, in any tab, 150 ms, and have no feed-sized line. A feed's
check is one judgement per photo, so its budget here is 150 ms a photo: 1.8 s for 12 photos,
4.5 s for 30. The photos are 3:4 crops (300 x 400) of the photos scikit-image ships, warm
(BRISQUE's model read and, with CLIP, the model loaded before timing). With CLIP, the vision
tower has ViT-B/32's size (random weights, a keras-hub preset loaded through
`weights.resolve`, as the app loads the real one), and a machine check says how fast this
machine runs it against the 22 ms an image the budgets assume. Then where the time goes, per
photo or per feed: each stage timed on its own in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

PER_PHOTO_BUDGET = 0.150
SIZES = (12, 30)


def feed(count: int):
    """`count` 300 x 400 portrait crops of scikit-image's colour photos, in a fixed order."""
    import numpy as np
    from skimage import data
    from skimage.transform import resize

    sources = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(),
               data.immunohistochemistry(), data.hubble_deep_field()]
    photos = []
    for number in range(count):
        source = sources[number % len(sources)]
        height, width = source.shape[:2]
        side = min(height, width * 4 // 3)
        top = (number // len(sources)) * (height - side) // 5
        crop = source[top : top + side, : side * 3 // 4]
        photos.append(np.clip(resize(crop, (400, 300), preserve_range=True), 0, 255)
                      .astype(np.uint8))
    return photos


def timed(work, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def rows(label: str, repeats: int) -> None:
    from models.profile import check

    for size in SIZES:
        photos = feed(size)
        seconds = timed(lambda photos=photos: check(photos), repeats)
        budget = PER_PHOTO_BUDGET * size
        verdict = "within budget" if seconds <= budget else "OVER BUDGET"
        print(f"{label:<28}{size:>7}{seconds:>10.2f}{1000 * seconds / size:>12.0f}"
              f"{budget:>10.1f}{seconds / budget:>7.2f}  {verdict}", flush=True)


def stages(with_clip: bool, repeats: int) -> None:
    from models.aesthetic import technical
    from models.profile import feed as feed_module
    from models.profile import measures
    from models.profile.check import check

    photos = feed(30)
    report = check(photos)
    tables = feed_module.FeedTables(report.photos)
    parts = {
        "palette (k-means in Lab), a photo": lambda: measures.palette(photos[0]),
        "tones, a photo": lambda: measures.tones(photos[0]),
        "BRISQUE, a photo": lambda: technical.brisque_scores([photos[0]]),
        "Shapley by photo, 12 (exact)": lambda: feed_module.shapley_values(
            12, feed_module.FeedTables(report.photos[:12]).scores, batched=True),
        "Shapley by photo, 30 (sampled)": lambda: feed_module.shapley_values(
            30, tables.scores, batched=True),
    }
    if with_clip:
        from models import clip

        parts["CLIP embedding, a photo (batch of 30)"] = (
            lambda: clip.embed_images(photos), 30)
    for name, part in parts.items():
        work, per = part if isinstance(part, tuple) else (part, 1)
        print(f"  {name:<42}{1000 * timed(work, repeats) / per:>9.1f} ms", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each check "
                        "(the fastest is shown)")
    parser.add_argument("--no-clip", action="store_true", help="only the offline rows")
    args = parser.parse_args(argv)

    from models.profile import check

    check(feed(3))  # warm: BRISQUE's model, the imports
    header = (f"{'check()':<28}{'photos':>7}{'seconds':>10}{'ms a photo':>12}{'budget s':>10}"
              f"{'ratio':>7}  verdict")
    print(header)
    rows("offline", args.repeats)
    print("where the time goes, offline:")
    stages(False, args.repeats)
    if args.no_clip:
        return 0
    import models.clip as clip_module
    from benchmarks.aesthetic import DESIGN_CLIP_MS, build_clip_sized_preset

    with tempfile.TemporaryDirectory() as root:
        print("\nbuilding a ViT-B/32-sized CLIP preset (random weights)...", flush=True)
        build_clip_sized_preset(Path(root))
        os.environ["INSTAVIS_WEIGHTS_DIR"] = root
        clip_module.reset_default()
        check(feed(3))  # warm: loads CLIP, calibrates the content score
        batch = feed(32)
        per_image = timed(lambda: clip_module.embed_images(batch), 1) / len(batch)
        print(f"machine check: the ViT-B/32-sized image tower takes {per_image * 1000:.0f} ms "
              f"an image batched here; the budgets assume about {DESIGN_CLIP_MS:.0f} "
              f"ms ({per_image * 1000 / DESIGN_CLIP_MS:.1f}x)")
        print(header)
        rows("with CLIP ViT-B/32-sized", args.repeats)
        print("where the time goes, with CLIP:")
        stages(True, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
