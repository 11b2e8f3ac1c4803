"""Tags against the budgets: tag() latency, bottleneck-cache throughput (local and Ray)
and the gallery's tag search at 10,000 photos (SQLite and PostgreSQL).

- tag(): a 640 x 427 photo (scikit-image's rocket), MIRFLICKR-25K's 24 concepts, warm, with the
  tiny CLIP preset and with a preset of CLIP ViT-B/32's size (random weights: the Hub is out of
  reach here), each loaded through the real resolver; beside it one forward pass of the same
  photo, for the ratio. The trained head's source is timed as the work it adds: embedding with
  an EfficientNet-B0-sized backbone and a 1hidden-1500 head (random weights). Budget: 150 ms.
- The cache: `benchmarks.tags_cache.cache_throughput` for both backbones, the local tf.data
  path and the Ray path on a local instance with 2 workers, on the same generated photos.
- The gallery: `benchmarks.gallery_search.search_timings` on a temporary SQLite file, and on
  PostgreSQL when a server is given (--postgres URL, or $INSTAVIS_TEST_DATABASE_URL), in a
  schema of its own that is dropped afterwards. Budget: 50 ms a query.

    python -m benchmarks.tags [--repeats N] [--photos N] [--gallery N] [--postgres URL]
                              [--skip cache,gallery]

Each latency is the median of several warm runs; ratios are taken in this one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.style import ENV_POSTGRES, PREDICTION_BUDGET, median_seconds, row

PARTS = ("tag", "cache", "gallery")
OWN_TAGS = ("rocket launch", "launch pad", "smoke")


def rocket() -> np.ndarray:
    from skimage import data

    return data.rocket()  # 427 x 640


# === tag() ===


def tag_rows(root: Path, repeats: int) -> None:
    """tag() with the tiny and the ViT-B/32-sized CLIP, and the head source's added work."""
    import models.clip as clip
    from benchmarks.memory import clip_sized_preset
    from benchmarks.stand_ins.tiny_clip import build_tiny_clip_preset
    from models.images import judged_copy
    from models.tags import tag

    photo = rocket()
    build_tiny_clip_preset(root / "tiny" / "clip")
    print("building a CLIP ViT-B/32-sized preset (random weights)...", flush=True)
    clip_sized_preset(root / "sized")
    judged = judged_copy(photo)
    for label, folder in (("tiny CLIP", root / "tiny"), ("ViT-B/32-sized CLIP", root / "sized")):
        os.environ["INSTAVIS_WEIGHTS_DIR"] = str(folder)
        clip.reset_default()
        tag(photo)  # loads the model, embeds the prompts once, traces
        model = clip.get_clip()
        forward = median_seconds(lambda model=model: model.embed_images([judged]), repeats)
        seconds = median_seconds(lambda: tag(photo), repeats)
        row(f"tag(), {label}, 24 concepts", seconds, PREDICTION_BUDGET,
            f"{seconds / forward:.2f} x one forward pass ({forward * 1000:.0f} ms)")
        tag(photo, extra=OWN_TAGS)  # their prompts are embedded once, then cached
        seconds = median_seconds(lambda: tag(photo, extra=OWN_TAGS), repeats)
        row(f"tag(), {label}, + 3 own tags seen before", seconds, PREDICTION_BUDGET)
        fresh = iter(range(10**6))  # tags never seen: their prompts go through the text tower
        seconds = median_seconds(
            lambda fresh=fresh: tag(photo, extra=tuple(f"new tag {next(fresh)}"
                                                       for _ in range(3))), repeats)
        row(f"tag(), {label}, + 3 own tags never seen", seconds, PREDICTION_BUDGET)
    head_row(root, photo, repeats)


def head_row(root: Path, photo: np.ndarray, repeats: int) -> None:
    """The head source's work in tag(): the backbone's embedding of the judged copy, then the
    head. EfficientNet-B0-sized, random weights; 1hidden-1500, the research's default."""
    from benchmarks.tags_cache import efficientnet_b0_sized_preset
    from models.images import judged_copy
    from models.tags.embedders import load_embedder
    from models.tags.head import build_head, parse_configuration
    from models.tags.mirflickr import CONCEPTS

    embedder = load_embedder("efficientnet",
                             efficientnet_b0_sized_preset(root / "efficientnet_b0"))
    head = build_head(parse_configuration("1hidden-1500"), embedder.dimension, len(CONCEPTS))

    def head_source():
        vector = embedder.embed_photos([judged_copy(photo)])
        return head.predict(vector, verbose=0)

    head_source()
    seconds = median_seconds(head_source, repeats)
    row("head source: EfficientNet-B0-sized + 1hidden-1500", seconds, PREDICTION_BUDGET)


# === The cache ===


def cache_rows(photos: int) -> None:
    from benchmarks.tags_cache import PHOTO_SIZE, cache_throughput

    print(f"\nBottleneck cache, {photos} photos of {PHOTO_SIZE[0]} x {PHOTO_SIZE[1]} (Ray: a "
          "local instance with 2 workers; its time includes starting them)", flush=True)
    print(f"{'backbone':<14}{'path':<10}{'seconds':>9}{'photos/s':>10}  weights")
    for backbone in ("clip", "efficientnet"):
        result = cache_throughput(photos, backbone, workers=2)
        for path in ("local", "ray"):
            figures = result[path]
            if "skipped" in figures:
                print(f"{backbone:<14}{path:<10}  skipped: {figures['skipped']}")
                continue
            print(f"{backbone:<14}{path:<10}{figures['seconds']:>9.1f}"
                  f"{figures['images_per_second']:>10.1f}  {result['weights']}", flush=True)
        if result["same_vectors"] is not None:
            print(f"{'':<14}the two caches hold "
                  f"{'the same vectors' if result['same_vectors'] else 'DIFFERENT VECTORS'}")


# === The gallery ===


def gallery_rows(photos: int, postgres: str | None, repeats: int) -> None:
    from benchmarks.gallery_search import print_table, search_timings
    from benchmarks.stand_ins.postgres import throwaway_schema

    print(f"\nGallery search, {photos:,} photos, first page of 24, median of {repeats}",
          flush=True)
    with tempfile.TemporaryDirectory() as folder:
        print_table(search_timings(f"sqlite:///{Path(folder) / 'gallery.sqlite3'}", photos,
                                   repeats))
    if postgres:
        with throwaway_schema(postgres, prefix="instavis_bench") as url:
            print_table(search_timings(url.render_as_string(hide_password=False), photos,
                                       repeats))
    else:
        print(f"postgresql: skipped (no server: pass --postgres URL or set ${ENV_POSTGRES})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tags",
                                     description=__doc__.strip().splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="warm runs a latency figure")
    parser.add_argument("--photos", type=int, default=128, help="photos the cache embeds")
    parser.add_argument("--gallery", type=int, default=10_000, help="photos in the gallery")
    parser.add_argument("--postgres", default=os.environ.get(ENV_POSTGRES),
                        help=f"a PostgreSQL server's URL (default ${ENV_POSTGRES})")
    parser.add_argument("--skip", default="", help="comma-separated parts to leave out: "
                                                   + ", ".join(PARTS))
    args = parser.parse_args(argv)
    skipped = {part.strip() for part in args.skip.split(",") if part.strip()}
    if skipped - set(PARTS) or min(args.repeats, args.photos, args.gallery) < 1:
        parser.error(f"--skip takes {', '.join(PARTS)}; the counts must be 1 or more")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tag" not in skipped:
        print(f"{'tag() on a 640 x 427 photo, warm, median of ' + str(args.repeats):<52}"
              f"{'ms':>9}{'budget':>8}{'ratio':>7}", flush=True)
        with tempfile.TemporaryDirectory(prefix="instavis-tags-bench-") as scratch:
            tag_rows(Path(scratch), args.repeats)
    if "cache" not in skipped:
        cache_rows(args.photos)
    if "gallery" not in skipped:
        gallery_rows(args.gallery, args.postgres, min(args.repeats * 2, 20))
    return 0


if __name__ == "__main__":
    sys.exit(main())
