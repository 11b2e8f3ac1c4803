"""Tags' bottleneck cache: photos a second, by the local tf.data path and by Ray (2 workers).

`cache_throughput()` writes the same generated photos (MIRFLICKR-25K-sized JPEGs, 500 x 375)
once and caches them twice, each time into a fresh cache folder: through the local path
(`build_cache`: tf.data decoding in parallel, one backbone in this process) and through the Ray
path on a local instance (`RayBatches("local", workers)`, an actor pool of `workers` that each
load the backbone once). Both figures are whole runs as a user would see them, hashing
included; the Ray one also includes starting the instance and its workers. It checks that the
two caches hold the same vectors.

Weights: the real backbone when this machine has it (`weights.resolve`, no download); otherwise
a stand-in of the real size with random weights (CLIP ViT-B/32's image tower from
`benchmarks.memory.clip_sized_preset`, or EfficientNet-B0's architecture as keras-hub's timm
converter builds it). The output says which. `benchmarks/tags.py` calls `cache_throughput`.

    python -m benchmarks.tags_cache [--photos N] [--backbone clip|efficientnet] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

PHOTO_SIZE = (500, 375)  # (width, height): Flickr's "medium" size, MIRFLICKR-25K's
ARTIFACTS = {"clip": "clip", "efficientnet": "efficientnet_b0"}


def write_photos(folder: Path, n_photos: int, seed: int = 0) -> list[Path]:
    """`n_photos` distinct JPEGs: crops of scikit-image's sample photos with a few random
    coloured boxes, at PHOTO_SIZE."""
    from PIL import Image, ImageDraw
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    samples = [getattr(data, name)() for name in ("astronaut", "coffee", "chelsea", "rocket")]
    photos = []
    for number in range(1, n_photos + 1):
        sample = samples[number % len(samples)]
        height, width = sample.shape[:2]
        top, left = int(rng.integers(0, height // 4)), int(rng.integers(0, width // 4))
        image = Image.fromarray(sample[top:, left:]).resize(PHOTO_SIZE)
        draw = ImageDraw.Draw(image)
        for _ in range(3):
            x = int(rng.integers(0, PHOTO_SIZE[0] - 60))
            y = int(rng.integers(0, PHOTO_SIZE[1] - 60))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            draw.rectangle((x, y, x + int(rng.integers(10, 60)), y + int(rng.integers(10, 60))),
                           fill=colour)
        path = folder / f"im{number}.jpg"
        image.save(path, "JPEG", quality=90)
        photos.append(path)
    return photos


def efficientnet_b0_sized_preset(folder: Path) -> Path:
    """EfficientNet-B0's architecture with random weights, saved as a keras-hub preset: the
    configuration keras-hub's timm converter builds for `efficientnet_b0`."""
    import keras
    import keras_hub
    from keras_hub.src.utils.timm.convert_efficientnet import convert_backbone_config

    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.EfficientNetBackbone(
        **convert_backbone_config({"architecture": "efficientnet_b0"}))
    folder.mkdir(parents=True, exist_ok=True)
    backbone.save_to_preset(str(folder))
    return folder


def backbone_folder(backbone: str, scratch: Path) -> tuple[Path, str]:
    """(weights folder, what it is): the real weights if present, else a real-sized stand-in."""
    import weights

    artifact = ARTIFACTS[backbone]
    try:
        folder = weights.resolve(artifact, allow_download=False)
        return folder, f"real weights ({folder})"
    except weights.WeightsUnavailable:
        pass
    if backbone == "clip":
        from benchmarks.memory import clip_sized_preset

        return (clip_sized_preset(scratch),
                "stand-in: CLIP ViT-B/32-sized preset, random weights (real ones not here)")
    return (efficientnet_b0_sized_preset(scratch / artifact),
            "stand-in: EfficientNet-B0-sized preset, random weights (real ones not here)")


def cache_throughput(n_photos: int = 200, backbone: str = "clip", workers: int = 2,
                     batch_size: int = 32) -> dict:
    """Photos a second into the bottleneck cache, local path and Ray path, same photos.

    Args:
        n_photos: photos to cache (each path gets a fresh cache folder).
        backbone: "clip" or "efficientnet".
        workers: Ray workers on the local instance.
        batch_size: photos a forward pass.

    Returns:
        {"backbone", "weights" (real or stand-in, said in words), "photos", "local": {"seconds",
        "images_per_second", "embedded"}, "ray": the same or {"skipped": why}, "ray_workers",
        "same_vectors" (the two caches agree within 1e-5, or None without Ray)}.
    """
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from models.tags.cache import build_cache, read_cache
    from models.tags.embedders import load_embedder

    with tempfile.TemporaryDirectory(prefix="instavis-tags-cache-") as scratch:
        scratch = Path(scratch)
        photos = write_photos(scratch / "photos", n_photos)
        folder, weights_note = backbone_folder(backbone, scratch / "weights")
        embedder = load_embedder(backbone, folder)
        embedder.embed_photos([np.zeros((8, 8, 3), np.uint8)])  # trace before timing

        def figures(report) -> dict:
            return {"seconds": round(report.seconds, 2),
                    "images_per_second": round(report.images_per_second, 2),
                    "embedded": report.embedded}

        local = build_cache(photos, embedder, scratch / "local", batch_size=batch_size,
                            progress=False)
        result = {"backbone": backbone, "weights": weights_note, "photos": n_photos,
                  "local": figures(local), "ray_workers": workers, "same_vectors": None}
        try:
            import ray  # noqa: F401
        except ImportError:
            result["ray"] = {"skipped": 'Ray is not installed: pip install "ray[data]"'}
            return result
        from models.tags.ray_cache import RayBatches

        spread = build_cache(photos, embedder, scratch / "ray", batch_size=batch_size,
                             progress=False, producer=RayBatches("local", workers))
        result["ray"] = figures(spread)
        mine, theirs = (read_cache(scratch / "local", embedder.key),
                        read_cache(scratch / "ray", embedder.key))
        result["same_vectors"] = mine.keys() == theirs.keys() and all(
            np.allclose(mine[key], theirs[key], atol=1e-5) for key in mine)
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tags_cache",
                                     description=__doc__.strip().splitlines()[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--backbone", choices=tuple(ARTIFACTS), default="clip")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    result = cache_throughput(args.photos, args.backbone, args.workers)
    print(f"Tags cache, {result['photos']} photos of {PHOTO_SIZE[0]} x {PHOTO_SIZE[1]}, "
          f"{result['backbone']}: {result['weights']}")
    print(f"{'path':<34}{'seconds':>9}{'photos/s':>10}")
    for name, label in (("local", "local (tf.data, this process)"),
                        ("ray", f"Ray, local instance, {result['ray_workers']} workers")):
        figures = result[name]
        if "skipped" in figures:
            print(f"{label:<34}  skipped: {figures['skipped']}")
        else:
            print(f"{label:<34}{figures['seconds']:>9.1f}{figures['images_per_second']:>10.1f}")
    if result["same_vectors"] is not None:
        print("The two caches hold the same vectors." if result["same_vectors"]
              else "THE TWO CACHES DIFFER.")
    return 0 if result["same_vectors"] is not False else 1


if __name__ == "__main__":
    sys.exit(main())
