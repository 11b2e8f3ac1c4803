"""The Aesthetic tab's latency against the budgets, on 224 x 224 photos, warm.

It times `models.aesthetic.rate()` twice: offline (the shipped quality model and the nine
attributes), also on a 1350 x 1080 photo (Instagram's portrait size, whose technical quality is
read on five native-resolution tiles), and with a CLIP whose vision tower has ViT-B/32's size
(random weights, saved as a keras-hub preset and loaded through `weights.resolve`, as the app
loads the real one; its text tower is tiny, since prompt embeddings are computed once and
cached). Then the SHAP chart over the attributes, and each explanation of each score at its
default budget (quality also on the large photo): Grad-CAM against one forward pass of the same
model, LIME and SHAP against the model's own time for the same number of batched evaluations.
All ratios come from one run, so the machine's speed cancels out.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks.explain import (  # noqa: E402
    GRADIENT_BUDGET,
    HEADER,
    OVERHEAD_BUDGET,
    add_faithfulness,
    model_time,
    print_row,
    timed,
)

PREDICTION_BUDGET = 0.150  # seconds for one prediction, any tab
DESIGN_CLIP_MS = 22.0  # docs/benchmarks.md: CLIP ViT-B/32 "about 22 ms an image batched on 2 cores"


def photo(side: int = 224):
    """scikit-image's coffee photo (held out of the quality model's training) at side x side."""
    import numpy as np
    from skimage import data
    from skimage.transform import resize

    image = resize(data.coffee(), (side, side), preserve_range=True)
    return np.clip(image, 0, 255).astype(np.uint8)


def large_photo():
    """scikit-image's coffee photo at 1350 x 1080 (Instagram's 4:5 portrait size), as a JPEG
    at quality 85: larger than the judged copy, so BRISQUE reads its native tiles."""
    import numpy as np
    from PIL import Image
    from skimage import data

    from models.aesthetic.distortions import jpeg_at

    return jpeg_at(np.asarray(Image.fromarray(data.coffee()).resize(
        (1080, 1350), Image.Resampling.LANCZOS)), 85)


def build_clip_sized_preset(root: Path) -> None:
    """A ViT-B/32-sized vision tower with random weights, saved as the `clip` preset in root."""
    from benchmarks.stand_ins.tiny_clip import build_tiny_clip_preset

    build_tiny_clip_preset(root / "clip", image_size=224, patch_size=32, vision_width=768,
                           vision_layers=12, vision_heads=12, vision_intermediate=3072)


def latency_row(name: str, seconds: float, budget: float = PREDICTION_BUDGET) -> None:
    verdict = "within budget" if seconds <= budget else "OVER BUDGET"
    print(f"{name:<44}{seconds * 1000:>9.1f}{budget * 1000:>8.0f}{seconds / budget:>7.2f}  "
          f"{verdict}", flush=True)


def explanation_rows(image, target: str, label: str, repeats: int, methods) -> None:
    from explain import default_budget, explain
    from models import aesthetic

    setup = aesthetic.explanation_setup(image, target)
    image = setup.photo  # the copy the rating judged, which the explainers are handed
    for method in methods:
        adapter = setup.models[method]
        if isinstance(adapter, str):  # this method cannot explain the target; the panel says why
            print(f"{label:<16}{method:<9}  not available: {adapter}")
            continue
        explained = setup.method_targets.get(method, target)
        before = adapter.evaluations
        explain(method, adapter, image, explained, seed=0, faithfulness=False)  # warm-up
        evaluations = adapter.evaluations - before
        seconds = timed(lambda m=method, a=adapter, t=explained: explain(
            m, a, image, t, seed=0, faithfulness=False), repeats)
        row = {"model": label, "method": method, "seconds": seconds,
               "evaluations": evaluations, "budget": default_budget(method)}
        if method == "gradcam":
            row["reference"] = timed(lambda a=adapter: a.predict(image[None]), repeats=5)
            row["limit"] = GRADIENT_BUDGET
        else:
            row["reference"] = model_time(adapter, image, evaluations)
            row["limit"] = OVERHEAD_BUDGET
        add_faithfulness(row, adapter, method, image, repeats, target=explained)
        print_row(row)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.aesthetic", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each rating")
    parser.add_argument("--explain-repeats", type=int, default=1,
                        help="timed runs of each explanation (after a warm-up run)")
    parser.add_argument("--methods", nargs="+", default=["gradcam", "lime", "shap"],
                        choices=["gradcam", "lime", "shap"])
    args = parser.parse_args(argv)

    import models.clip as clip_module
    from models import aesthetic
    from models.aesthetic import attributes, technical

    image = photo()
    os.environ["HF_HUB_OFFLINE"] = "1"
    with tempfile.TemporaryDirectory() as empty:
        os.environ["INSTAVIS_WEIGHTS_DIR"] = empty  # no CLIP here: the offline rating
        print(f"{'what (224 x 224, warm)':<44}{'ms':>9}{'budget':>8}{'ratio':>7}  verdict")
        aesthetic.rate(image)  # warm: loads the model, scores the reference set
        latency_row("attributes alone", timed(lambda: attributes.measure(image), args.repeats))
        latency_row("BRISQUE quality alone", timed(lambda: technical.quality_scores([image]),
                                                   args.repeats))
        latency_row("rate(), offline (quality + attributes)",
                    timed(lambda: aesthetic.rate(image), args.repeats))
        latency_row("SHAP over the attributes (the bar chart)",
                    timed(lambda: aesthetic.attribute_contributions(image), args.repeats))
        large = large_photo()
        print(f"{'what (1350 x 1080, warm)':<44}")
        latency_row("BRISQUE quality alone (5 native tiles)",
                    timed(lambda: technical.quality_scores([large]), args.repeats))
        latency_row("rate(), offline (quality + attributes)",
                    timed(lambda: aesthetic.rate(large), args.repeats))
        print()
        print(HEADER)
        explanation_rows(image, "quality", "BRISQUE", args.explain_repeats, args.methods)
        explanation_rows(large, "quality", "BRISQUE 1350x1080", args.explain_repeats,
                         args.methods)

    with tempfile.TemporaryDirectory() as root:
        print("\nbuilding a ViT-B/32-sized CLIP preset (random weights)...", flush=True)
        build_clip_sized_preset(Path(root))
        os.environ["INSTAVIS_WEIGHTS_DIR"] = root
        clip_module.reset_default()
        aesthetic.rate(image)  # warm: loads CLIP, scores the reference set with content
        batch = [image] * 32
        per_image = timed(lambda: clip_module.embed_images(batch), 2) / len(batch)
        # The absolute budgets assume a machine where this tower takes about 22 ms an image
        # (docs/benchmarks.md); this line says how this machine compares.
        print(f"machine check: the ViT-B/32-sized image tower takes {per_image * 1000:.0f} ms "
              f"an image batched here; the budgets assume about "
              f"{DESIGN_CLIP_MS:.0f} ms ({per_image * 1000 / DESIGN_CLIP_MS:.1f}x)")
        print(f"{'what (224 x 224, warm)':<44}{'ms':>9}{'budget':>8}{'ratio':>7}  verdict")
        latency_row("rate(), with CLIP ViT-B/32-sized",
                    timed(lambda: aesthetic.rate(image), args.repeats))
        print()
        print(HEADER)
        explanation_rows(image, "content", "CLIP ViT-B/32-sized", args.explain_repeats,
                         args.methods)
    print("\nreference: one forward pass for Grad-CAM; the model's own batched time for the same "
          "evaluations for LIME/SHAP. Budgets: ratio <= limit and seconds <= 10.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
