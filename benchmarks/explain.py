"""Explainer speed against DESIGN.md's budgets, on a CLIP ViT-B/32-sized and a ResNet50-sized
model with random weights at 224 x 224.

For each method it prints the seconds for one map at the default budget (faithfulness off, as the
budgets are for the map alone), the model evaluations used, the model's own time for that many
evaluations in the same batches, and their ratio. Grad-CAM and CAM are compared with one forward
pass. LIME and SHAP are also compared with the libraries called as their docs show
(`lime_image` with its default batch_size=10; shap's Partition explainer with its default batch
size), given the same model function and the same number of evaluations. All ratios come from one
run on one machine, so the machine's speed cancels out.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

GRADIENT_BUDGET = 3.0  # x one forward pass
OVERHEAD_BUDGET = 1.2  # x the model's own time for the same evaluations
SECONDS_BUDGET = 10.0  # for one map at the default budget


def clip_sized_model(classes: int = 10):
    """CLIP ViT-B/32's vision tower (patch 32, 768 wide, 12 layers, 12 heads) with a class head,
    flattened so its token layers are top-level for Grad-CAM."""
    import keras
    import keras_hub

    vision = keras_hub.models.CLIPVisionEncoder(
        patch_size=32, hidden_dim=768, num_layers=12, num_heads=12, intermediate_dim=3072,
        image_shape=(224, 224, 3), name="vision",
    )
    sequence = vision.output
    class_token = keras.layers.Lambda(lambda tokens: tokens[:, 0], name="class_token")(sequence)
    logits = keras.layers.Dense(classes, name="head")(class_token)
    model = keras.Model(vision.input, logits)
    return model, vision.encoder_layers[-2].name


def resnet50_sized_model(classes: int = 1000):
    """keras.applications' ResNet50 with random weights (conv -> GAP -> Dense: CAM applies)."""
    import keras

    return keras.applications.ResNet50(weights=None, classes=classes), "conv5_block3_out"


def timed(fn, repeats: int) -> float:
    """Median seconds of `repeats` calls, after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def model_time(adapter, image: np.ndarray, evaluations: int) -> float:
    """The model's own time for `evaluations` images in the adapter's batches."""
    batch = np.repeat(image[None], evaluations, axis=0)
    return timed(lambda: adapter.predict(batch), repeats=1)


def library_lime(forward, image, samples: int, seed: int) -> None:
    from lime import lime_image

    explainer = lime_image.LimeImageExplainer(random_state=seed)
    with contextlib.redirect_stderr(io.StringIO()):  # lime always draws a tqdm bar
        explainer.explain_instance(image, forward, top_labels=1, num_samples=samples,
                                   random_seed=seed)


def library_shap(forward, image, evaluations: int) -> None:
    import shap

    masker = shap.maskers.Image("blur(32,32)", image.shape)
    explainer = shap.Explainer(forward, masker)
    explainer(image[None].astype(np.float32), max_evals=evaluations, outputs=[0], silent=True)


def benchmark(name: str, keras_model, cam_layer: str, image: np.ndarray, repeats: int,
              methods: list[str]) -> list[dict]:
    from explain import KerasModel, default_budget, explain

    adapter = KerasModel(keras_model, cam_layer=cam_layer, batch_size=32)
    forward = lambda images: adapter._predict_batch(np.asarray(images, np.uint8))  # noqa: E731
    one_pass = timed(lambda: adapter.predict(image[None]), repeats=max(repeats, 5))
    rows = []
    for method in methods:
        if method == "cam" and name.startswith("CLIP"):
            continue  # no GAP -> Dense head: CAM does not apply
        budget = default_budget(method)
        before = adapter.evaluations
        explain(method, adapter, image, 0, seed=0, faithfulness=False)  # warm-up, counts
        evaluations = adapter.evaluations - before
        seconds = timed(lambda m=method: explain(m, adapter, image, 0, seed=0,
                                                 faithfulness=False), repeats)
        row = {"model": name, "method": method, "seconds": seconds, "evaluations": evaluations,
               "budget": budget}
        if method in ("gradcam", "cam"):
            row["reference"] = one_pass
            row["reference_name"] = "1 forward pass"
            row["limit"] = GRADIENT_BUDGET
        else:
            row["reference"] = model_time(adapter, image, evaluations)
            row["reference_name"] = f"model, {evaluations} evals"
            row["limit"] = OVERHEAD_BUDGET
            if method == "lime":
                run_library = lambda n=evaluations: library_lime(forward, image, n, 0)  # noqa: E731
            else:
                run_library = lambda n=evaluations: library_shap(forward, image, n)  # noqa: E731
            row["library_seconds"] = timed(run_library, repeats=1)
        rows.append(row)
        print_row(row)
    return rows


HEADER = (f"{'model':<22}{'method':<9}{'evals':>6}{'seconds':>9}{'reference':>11}"
          f"{'ratio':>7}{'limit':>7}{'library s':>11}{'ours/lib':>9}  verdict")


def print_row(row: dict) -> None:
    ratio = row["seconds"] / row["reference"]
    library = row.get("library_seconds")
    ok = ratio <= row["limit"] and row["seconds"] <= SECONDS_BUDGET
    library_text = f"{library:.3f}" if library else "-"
    versus_text = f"{row['seconds'] / library:.2f}" if library else "-"
    verdict = "within budget" if ok else "OVER BUDGET"
    print(
        f"{row['model']:<22}{row['method']:<9}{row['evaluations']:>6}{row['seconds']:>9.3f}"
        f"{row['reference']:>11.3f}{ratio:>7.2f}{row['limit']:>7.1f}"
        f"{library_text:>11}{versus_text:>9}  {verdict}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.explain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method")
    parser.add_argument("--methods", nargs="+", default=["gradcam", "cam", "lime", "shap"])
    parser.add_argument("--models", nargs="+", default=["clip", "resnet50"],
                        choices=["clip", "resnet50"])
    args = parser.parse_args(argv)

    from skimage.data import astronaut
    from skimage.transform import resize

    image = np.clip(resize(astronaut(), (224, 224), preserve_range=True), 0, 255).astype(np.uint8)
    print(HEADER)
    builders = {"clip": ("CLIP ViT-B/32-sized", clip_sized_model),
                "resnet50": ("ResNet50-sized", resnet50_sized_model)}
    for key in args.models:
        name, build = builders[key]
        model, cam_layer = build()
        benchmark(name, model, cam_layer, image, args.repeats, args.methods)
    print("reference: one forward pass for Grad-CAM/CAM; the model's own batched time for the "
          "same evaluations for LIME/SHAP. Budgets: ratio <= limit and seconds <= "
          f"{SECONDS_BUDGET:g}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
