"""Explainer speed against the budgets, on a CLIP ViT-B/32-sized and a ResNet50-sized
model with random weights at 224 x 224; with --quality, how well LIME's defaults find a region.

Speed. For each method it prints the seconds for one map at the default budget (faithfulness off,
as the budgets are for the map alone), the model evaluations used, the model's own time for that
many evaluations in the same batches, and their ratio. Grad-CAM and CAM are compared with one
forward pass. LIME and SHAP are also compared with the libraries called as their docs show
(`lime_image` with its default batch_size=10; shap's Partition explainer with its default batch
size), given the same model function and the same number of evaluations. The last columns give
what faithfulness adds when it is on: its evaluations, its seconds, and the map's and its seconds
together. All ratios come from one run on one machine, so the machine's speed cancels out.

Whole request. Then, on the same model, a request that ticks Grad-CAM, LIME and SHAP, as the
panel runs it (`demos.explain_runs.explain_methods`): every map with its verdict, today's path
(each method measures its own random maps) against the shared one (the random maps' curves
measured once for the request), and the shared one again for a repeated request on the same
photo. It prints the model evaluations and seconds of the whole result, and whether the verdicts
and numbers match today's. --request-only runs just this; --request-budget lowers LIME's and
SHAP's budgets to fit the time (the output says so).

Quality (--quality). On ten photos no other test uses (tests/explain_models.NATURAL_SCENES), a
small conv net reads brightness and edges inside one disk and nothing else. For LIME's old
defaults (quickshift, hidden segments filled with their mean colour) and the new ones (150 SLIC
segments, hidden in black) it prints the share of the map's top pixels inside the disk (as many
top pixels as the disk has) and the deletion and insertion AUC against the random maps' mean and
spread. Then it checks the faithfulness pass's shortcut: how often the verdict with random
curves of 4 steps (the default) or 8 agrees with the one at 16, over maps good and bad.
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

from models.clip import IMAGE_BATCH  # noqa: E402

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
    from explain.metrics import faithfulness_evaluations

    passes = faithfulness_evaluations()
    print(f"{name}: the model alone takes {model_time(adapter, image, passes):.3f} s for the "
          f"{passes} evaluations of a faithfulness pass", flush=True)
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
        add_faithfulness(row, adapter, method, image, repeats)
        rows.append(row)
        print_row(row)
    return rows


def add_faithfulness(row: dict, adapter, method: str, image: np.ndarray, repeats: int,
                     target=0) -> None:
    """Time the same explanation with faithfulness on: the pass's evaluations and seconds, and
    the map's and the pass's seconds together (medians over `repeats` runs)."""
    from explain import explain

    metas = [dict(explain(method, adapter, image, target, seed=0).meta)
             for _ in range(repeats)]
    row["faith_evaluations"] = metas[0]["faithfulness_evaluations"]
    row["faith_seconds"] = statistics.median(m["faithfulness_seconds"] for m in metas)
    row["total_seconds"] = statistics.median(m["seconds"] + m["faithfulness_seconds"]
                                             for m in metas)


REQUEST_METHODS = ["gradcam", "lime", "shap"]


def whole_request(name: str, keras_model, cam_layer: str, image: np.ndarray, repeats: int,
                  budget: int | None) -> list[dict]:
    """Seconds and evaluations of one request of REQUEST_METHODS: today's path (no sharing),
    the shared random maps on a first request, and on a repeated one (medians of `repeats`)."""
    from demos.explain_runs import ExplainRequest, explain_methods
    from explain import KerasModel, explain
    from explain.metrics import BaselineCache

    adapter = KerasModel(keras_model, cam_layer=cam_layer, batch_size=32)
    request = ExplainRequest(image, adapter, target=0)
    budgets = {m: budget for m in REQUEST_METHODS if m in ("lime", "shap")} if budget else {}
    for method in REQUEST_METHODS:  # warm-up: graphs traced, libraries imported, numba compiled
        explain(method, adapter, image, 0, seed=0, faithfulness=False,
                budget=10 if method in ("lime", "shap") else None)

    def run(baselines):
        with adapter.counting() as count:
            start = time.perf_counter()
            outcomes = explain_methods(request, REQUEST_METHODS, seed=0, budgets=budgets,
                                       baselines=baselines)
            seconds = time.perf_counter() - start
        return seconds, count.value, [o.explanation for o in outcomes]

    paths = {"today": [], "shared": [], "shared, repeated": []}
    for _ in range(repeats):  # interleaved, so a busy spell on the machine hits every path
        paths["today"].append(run(None))
        cache = BaselineCache()
        paths["shared"].append(run(cache))
        paths["shared, repeated"].append(run(cache))
    reference = paths["today"][0][2]
    rows = []
    for label, runs in paths.items():
        explanations = runs[0][2]
        same_verdicts = all(a.faithfulness.verdict == b.faithfulness.verdict
                            for a, b in zip(explanations, reference, strict=True))
        differences = [abs(x - y) for a, b in zip(explanations, reference, strict=True)
                       for x, y in zip(_numbers(a.faithfulness), _numbers(b.faithfulness),
                                       strict=True)]
        rows.append({"model": name, "path": label, "evaluations": runs[0][1],
                     "seconds": statistics.median(r[0] for r in runs),
                     "verdicts": [e.faithfulness.verdict for e in explanations],
                     "same": same_verdicts, "largest_difference": max(differences)})
    return rows


def _numbers(scores) -> list[float]:
    """Every number a Faithfulness holds: its AUCs, spreads and curves."""
    return [scores.deletion_auc, scores.insertion_auc, scores.random_deletion_auc,
            scores.random_insertion_auc, scores.random_deletion_spread,
            scores.random_insertion_spread, scores.compared_deletion_auc,
            scores.compared_insertion_auc, *scores.deletion_curve, *scores.insertion_curve]


REQUEST_HEADER = (f"{'model':<22}{'random maps':<18}{'evals':>6}{'seconds':>9}{'vs today':>9}"
                  f"  {'verdicts: Grad-CAM, LIME, SHAP':<32}{'same as today':<15}"
                  f"{'largest difference':>18}")


def print_request_rows(rows: list[dict]) -> None:
    today = rows[0]["seconds"]
    labels = {"today": "each its own", "shared": "shared",
              "shared, repeated": "shared, repeated"}
    for row in rows:
        verdicts = ", ".join("chance" if v == "no better than chance" else v
                             for v in row["verdicts"])
        print(f"{row['model']:<22}{labels[row['path']]:<18}{row['evaluations']:>6}"
              f"{row['seconds']:>9.2f}{row['seconds'] / today:>9.2f}  {verdicts:<32}"
              f"{'yes' if row['same'] else 'NO':<15}{row['largest_difference']:>18.2g}",
              flush=True)


HEADER = (f"{'model':<22}{'method':<9}{'evals':>6}{'seconds':>9}{'reference':>11}"
          f"{'ratio':>7}{'limit':>7}{'library s':>11}{'ours/lib':>9}  {'verdict':<15}"
          f"{'+faith evals':>13}{'+faith s':>9}{'total s':>9}")


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
        f"{library_text:>11}{versus_text:>9}  {verdict:<15}"
        f"{row['faith_evaluations']:>13}{row['faith_seconds']:>9.3f}{row['total_seconds']:>9.3f}",
        flush=True,
    )


# === Quality: LIME's defaults, and the verdict's 4-step shortcut ===

OLD_LIME = {"segmentation": "quickshift", "hide_color": None}
"""LIME's own defaults, which explain/ used until the --quality table below replaced them."""
ALTERNATIVES = {
    "slic 100 segments, black": {"n_segments": 100},
    "slic 200 segments, black": {"n_segments": 200},
    "slic 150 segments, mean colour": {"hide_color": None},
    "slic 150 segments, grey 128": {"hide_color": 128},
    "slic 150 segments, black, 300 samples": {"budget": 300},
    "quickshift, black": {"segmentation": "quickshift"},
    "felzenszwalb, black": {"segmentation": "felzenszwalb"},
}
"""Near neighbours of the new defaults, summarised in one line each."""


def band_margin(scores) -> float:
    """How far past the random maps' band the map gets on its weaker curve, in spreads
    (positive: faithful; near 0: at the band's edge)."""
    deletion = ((scores.random_deletion_auc - scores.compared_deletion_auc)
                / scores.random_deletion_spread - 1)
    insertion = ((scores.compared_insertion_auc - scores.random_insertion_auc)
                 / scores.random_insertion_spread - 1)
    return min(deletion, insertion)


def quality(side: int, seed: int) -> None:
    """Print the LIME defaults table and the verdict-agreement count (see the module doc)."""
    from scipy.ndimage import gaussian_filter

    from benchmarks.stand_ins.region_models import (
        NATURAL_SCENES,
        natural_photo,
        region_model,
        scene_disk,
        top_fraction_inside,
    )
    from explain import KerasModel, explain
    from explain.metrics import faithfulness
    from explain.targets import resolve_target

    print(f"LIME on photos at {side} pixels (seed {seed}); inside = share of the map's top "
          f"pixels (as many as the disk has) inside the disk; AUCs: map vs random maps' mean "
          f"± spread")
    print(f"{'photo':<22}{'disk':>6}  {'defaults':<9}{'segs':>5}{'inside':>8}"
          f"{'deletion':>26}{'insertion':>26}  verdict")
    target = resolve_target(0, None, 1)
    summary = {"old": [], "new": [], **{label: [] for label in ALTERNATIVES}}
    agreement = {4: 0, 8: 0}
    maps_seen = 0
    for name in NATURAL_SCENES:
        image = natural_photo(name, side)
        mask = scene_disk(name, image.shape[:2])
        model = KerasModel(region_model(mask), output_names=["disk"])
        maps = {}
        for label, options in (("old", OLD_LIME), ("new", {})):
            exp = explain("lime", model, image, seed=seed, **options)
            scores = exp.faithfulness
            inside = top_fraction_inside(exp.heatmap, mask, float(mask.mean()))
            summary[label].append((inside, scores.beats_random))
            deletion = (f"{scores.compared_deletion_auc:.2f} vs {scores.random_deletion_auc:.2f}"
                        f" ± {scores.random_deletion_spread:.2f}")
            insertion = (f"{scores.compared_insertion_auc:.2f} vs "
                         f"{scores.random_insertion_auc:.2f} ± "
                         f"{scores.random_insertion_spread:.2f}")
            print(f"{name:<22}{mask.mean():>6.0%}  {label:<9}{exp.meta['segments']:>5}"
                  f"{inside:>8.2f}{deletion:>26}{insertion:>26}  {scores.verdict}", flush=True)
            maps[f"lime {label}"] = exp.heatmap
        for label, options in ALTERNATIVES.items():
            exp = explain("lime", model, image, seed=seed, **options)
            summary[label].append((top_fraction_inside(exp.heatmap, mask, float(mask.mean())),
                                   exp.faithfulness.beats_random))
        # Maps good, bad and in between, for the verdict's agreement across random-curve steps.
        maps["shap"] = explain("shap", model, image, seed=seed, faithfulness=False).heatmap
        maps["gradcam"] = explain("gradcam", model, image, faithfulness=False).heatmap
        maps["disk"] = mask
        maps["inverted disk"] = 1 - mask
        maps["blurred disk"] = gaussian_filter(mask, max(mask.shape) / 12)
        maps["shifted disk"] = np.roll(mask, mask.shape[1] // 5, axis=1)
        maps["noisy disk"] = mask + np.random.default_rng(seed).normal(0, 0.7, mask.shape)
        for label, heatmap in maps.items():
            passes = {steps: faithfulness(model, image, heatmap, target, seed=seed,
                                          random_steps=steps) for steps in (4, 8, 16)}
            verdicts = {steps: scores.verdict for steps, scores in passes.items()}
            agreement[4] += verdicts[4] == verdicts[16]
            agreement[8] += verdicts[8] == verdicts[16]
            maps_seen += 1
            if len(set(verdicts.values())) > 1:
                margins = ", ".join(f"{steps} steps {band_margin(scores):+.2f}"
                                    for steps, scores in passes.items())
                print(f"  verdicts differ: {name}, {label}: margin in spreads {margins}")
    for label, results in summary.items():
        shares = [inside for inside, _ in results]
        label = f"{label} defaults" if label in ("old", "new") else label
        print(f"{label}: inside mean {np.mean(shares):.2f}, min {min(shares):.2f}, "
              f">= 0.6 on {sum(s >= 0.6 for s in shares)} of {len(shares)}; faithful on "
              f"{sum(beats for _, beats in results)} of {len(results)}")
    print(f"verdict with random curves of 4 steps agrees with 16 steps on {agreement[4]} of "
          f"{maps_seen} maps; 8 steps on {agreement[8]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.explain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method")
    parser.add_argument("--methods", nargs="+", default=["gradcam", "cam", "lime", "shap"])
    parser.add_argument("--models", nargs="+", default=["clip", "resnet50"],
                        choices=["clip", "resnet50"])
    parser.add_argument("--request-only", action="store_true",
                        help="only the whole request of Grad-CAM, LIME and SHAP (today's path "
                             "against the shared random maps)")
    parser.add_argument("--request-budget", type=int, default=None,
                        help="LIME's and SHAP's budget in the whole request (default: theirs)")
    parser.add_argument("--quality", action="store_true",
                        help="LIME's defaults on ten photos and the verdict's agreement, "
                             "instead of speed")
    parser.add_argument("--side", type=int, default=256,
                        help="--quality: photos' longest side (256: the work size)")
    parser.add_argument("--seed", type=int, default=0, help="--quality: explainers' seed")
    parser.add_argument("--budgets", action="store_true",
                        help="only the evaluations LIME and SHAP need over 49 patches and over "
                             "superpixels or the pixel grid, on a model reading known patches")
    parser.add_argument("--paths-only", action="store_true",
                        help="only today's path and the new one side by side")
    parser.add_argument("--precision", default="float32", choices=["float32", "bfloat16"],
                        help="the new CLIP path's precision for its kept patches")
    parser.add_argument("--bf16", action="store_true",
                        help="only the per-evaluation costs and bfloat16's agreement with "
                             "float32 on the ViT-B/32-sized tower")
    args = parser.parse_args(argv)
    if args.budgets:
        budget_sweep()
        return 0
    if args.bf16:
        from skimage.data import astronaut
        from skimage.transform import resize

        clip = clip_sized_clip()
        image = np.clip(resize(astronaut(), (224, 224), preserve_range=True), 0,
                        255).astype(np.uint8)
        per_evaluation_costs(clip, image, args.repeats)
        print("bfloat16 against float32, LIME over patches at "
              f"{NEW_BUDGETS['lime']} samples, {len(PATH_SCENES)} photos:")
        for row in bf16_agreement(clip):
            print(f"  {row['photo']:<22} largest score difference "
                  f"{row['score_difference']:.3f} of the samples' range; maps' rank "
                  f"correlation {row['rank_correlation']:.3f}; top fifth shared "
                  f"{row['top_overlap']:.2f}", flush=True)
        return 0
    if args.paths_only:
        side_by_side(args.models, args.repeats, args.precision)
        return 0
    if args.quality:
        quality(args.side, args.seed)
        return 0

    from skimage.data import astronaut
    from skimage.transform import resize

    image = np.clip(resize(astronaut(), (224, 224), preserve_range=True), 0, 255).astype(np.uint8)
    builders = {"clip": ("CLIP ViT-B/32-sized", clip_sized_model),
                "resnet50": ("ResNet50-sized", resnet50_sized_model)}
    built = {}
    if not args.request_only:
        side_by_side(args.models, args.repeats, args.precision)
        print()
        print(HEADER)
        for key in args.models:
            name, build = builders[key]
            built[key] = build()
            benchmark(name, *built[key], image, args.repeats, args.methods)
        print("reference: one forward pass for Grad-CAM/CAM; the model's own batched time for "
              "the same evaluations for LIME/SHAP. Budgets: ratio <= limit and seconds <= "
              f"{SECONDS_BUDGET:g}.")
        print()

    from explain import default_budget

    budget = args.request_budget
    budget_text = (f"{budget} evaluations each (smaller than their default "
                   f"{default_budget('lime')} to fit the time)"
                   if budget and budget < default_budget("lime")
                   else f"{budget or default_budget('lime')} evaluations each")
    print(f"Whole request: Grad-CAM, LIME and SHAP with their verdicts on one photo; LIME and "
          f"SHAP at {budget_text}; seed 0; seconds are the median of {args.repeats} run(s)")
    print(REQUEST_HEADER)
    for key in args.models:
        name, build = builders[key]
        model, cam_layer = built.get(key) or build()
        print_request_rows(whole_request(name, model, cam_layer, image, args.repeats, budget))
    print("random maps: each its own = today's path, every method measures 8 random maps' "
          "curves; shared = measured once for the request; shared, repeated = the same photo "
          "asked again, nothing left to measure. evals = model evaluations of the whole result; "
          "chance = no better than chance; largest difference = of any AUC, spread or curve "
          "point from today's, in the model's units.")
    return 0



# === Patches dropped from a ViT's tokens, against today's superpixels and pixel grid ===

PATH_SCENES = ["rocket", "motorcycle", "immunohistochemistry", "hubble_deep_field", "coins",
               "camera", "retina"]
"""The scikit-image photos of NATURAL_SCENES (each with its disk), for the quality columns."""

SWEEP_BUDGETS = {"pixels": (50, 100, 200), "patches": (16, 32, 64, 100, 200)}


def patch_quality(method: str, perturb: str, budget: int, side: int = 256,
                  seed: int = 0) -> dict:
    """On PATH_SCENES with a patch model reading the patches under each photo's disk
    (`patch_region_model`): the share of the map's top pixels inside those patches (as many
    top pixels as the patches have), and the deletion/insertion test against random maps."""
    from benchmarks.stand_ins.region_models import (
        cells_mask,
        natural_photo,
        patch_region_model,
        region_cells,
        scene_disk,
        top_fraction_inside,
    )
    from explain import explain

    shares, faithful, deletion, insertion = [], 0, [], []
    for name in PATH_SCENES:
        image = natural_photo(name, side)
        cells = region_cells(scene_disk(name, image.shape[:2]), 7)
        known = cells_mask(cells, image.shape[:2])
        exp = explain(method, patch_region_model(cells), image, seed=seed, budget=budget,
                      perturb=perturb)
        shares.append(top_fraction_inside(exp.heatmap, known, float(known.mean())))
        scores = exp.faithfulness
        faithful += scores.beats_random
        deletion.append((scores.random_deletion_auc - scores.compared_deletion_auc)
                        / scores.random_deletion_spread)
        insertion.append((scores.compared_insertion_auc - scores.random_insertion_auc)
                         / scores.random_insertion_spread)
    return {"inside": float(np.mean(shares)), "inside_min": float(min(shares)),
            "faithful": faithful, "photos": len(PATH_SCENES),
            "deletion": float(np.median(deletion)), "insertion": float(np.median(insertion))}


def disk_quality(method: str, budget: int | None = None, side: int = 256, seed: int = 0) -> dict:
    """The same columns for today's superpixels and pixel grid on PATH_SCENES with the conv
    net that reads each photo's disk (`region_model`): the CNN path, which keeps them."""
    from benchmarks.stand_ins.region_models import (
        natural_photo,
        region_model,
        scene_disk,
        top_fraction_inside,
    )
    from explain import KerasModel, explain

    shares, faithful, deletion, insertion = [], 0, [], []
    for name in PATH_SCENES:
        image = natural_photo(name, side)
        mask = scene_disk(name, image.shape[:2])
        exp = explain(method, KerasModel(region_model(mask), output_names=["disk"]), image,
                      seed=seed, budget=budget)
        shares.append(top_fraction_inside(exp.heatmap, mask, float(mask.mean())))
        scores = exp.faithfulness
        faithful += scores.beats_random
        deletion.append((scores.random_deletion_auc - scores.compared_deletion_auc)
                        / scores.random_deletion_spread)
        insertion.append((scores.compared_insertion_auc - scores.random_insertion_auc)
                         / scores.random_insertion_spread)
    return {"inside": float(np.mean(shares)), "inside_min": float(min(shares)),
            "faithful": faithful, "photos": len(PATH_SCENES),
            "deletion": float(np.median(deletion)), "insertion": float(np.median(insertion))}


def quality_text(quality: dict) -> str:
    return (f"{quality['inside']:>7.2f}{quality['inside_min']:>6.2f}"
            f"{quality['faithful']:>5}/{quality['photos']:<3}"
            f"{quality['deletion']:>+7.1f}{quality['insertion']:>+7.1f}")


QUALITY_HEADER = f"{'inside':>7}{'min':>6}{'faith':>9}{'del':>7}{'ins':>7}"
QUALITY_NOTE = ("inside = mean share of the map's top pixels inside the known region (min: the "
                "worst photo); faith = photos whose map beats the random maps on deletion and "
                "insertion; del/ins = the photos' median margin over the random maps' mean, in "
                "their spreads (positive: better than random; the median, as a photo whose "
                "random maps barely differ has a spread near 0).")


def budget_sweep() -> None:
    """Evaluations needed: LIME and SHAP over 49 patches and over superpixels / the pixel grid,
    at several budgets, on the known-patch model."""
    print(f"Evaluations needed: the known-patch model on {len(PATH_SCENES)} scikit-image "
          f"photos at 256 pixels, seed 0")
    print(f"{'method':<7}{'features':<22}{'budget':>7}" + QUALITY_HEADER)
    for method in ("lime", "shap"):
        for perturb, budgets in SWEEP_BUDGETS.items():
            features = ("49 patches, dropped" if perturb == "patches" else
                        "~150 SLIC segments" if method == "lime" else "pixel grid, blurred")
            for budget in budgets:
                if method == "shap" and budget < 16:
                    continue
                quality = patch_quality(method, perturb, budget)
                print(f"{method:<7}{features:<22}{budget:>7}" + quality_text(quality),
                      flush=True)
    print(QUALITY_NOTE)



NEW_BUDGETS = {"lime": 64, "shap": 200}
"""The new path's budgets over 49 patches (`--budgets`): LIME's map stops improving at 64 (every
photo's top pixels all inside the known patches, against 0.73 for 200 samples over superpixels);
SHAP's Partition needs its 200 to beat the pixel grid's 200."""

FIRST_BATCH = 2 * IMAGE_BATCH
"""The samples of a first streamed map: the tabs' patch models (models.explaining.
clip_patch_model) take 2 x models.clip.IMAGE_BATCH rows a call, and whole photos go through
the tower IMAGE_BATCH at a time."""


def clip_sized_clip(precision: str = "float32"):
    """A models.clip.CLIPModel with ViT-B/32's vision tower (random weights; token i at
    position i, as a converted checkpoint has it) and the two adapters of one 10-output
    number on it: today's FunctionModel and the new PatchModel (`precision` for its kept
    patches)."""
    from benchmarks.stand_ins.tiny_clip import build_tiny_clip
    from models.clip import CLIPModel

    clip = CLIPModel(*build_tiny_clip(224, 32, 768, 12, 12, 3072))
    embedding = clip.backbone.vision_encoder.embedding
    embedding.position_ids.assign(np.arange(embedding.num_positions)[None])
    return clip


def clip_adapters(clip, precision: str = "float32", batch_size: int = IMAGE_BATCH):
    """(today's FunctionModel, the new PatchModel) of ten cosines with fixed random directions,
    the shape of a zero-shot number, batched as the tabs batch CLIP: whole photos `batch_size`
    a pass, keep rows twice that a call (models.explaining.clip_patch_model)."""
    from explain import FunctionModel, PatchModel

    directions = np.random.default_rng(0).normal(size=(10, clip.embedding_dim))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    names = [f"direction {i}" for i in range(10)]

    def whole(images):
        return clip.embed_images(list(images), batch_size=batch_size) @ directions.T

    today = FunctionModel(whole, names, batch_size=batch_size)
    new = PatchModel(whole, lambda image, keep: clip.embed_kept_patches(image, keep, precision)
                     @ directions.T, (clip.patch_grid, clip.patch_grid), names,
                     input_box=clip.crop_box, batch_size=2 * batch_size)
    return today, new


def timed_explanation(method: str, model, image: np.ndarray, budget: int | None,
                      faithfulness: bool = True, **options) -> dict:
    """Seconds and evaluations of one explanation: the map's, and with `faithfulness` its
    verdict's (own random maps, as one method alone measures them)."""
    from explain import explain

    cpu = time.process_time()
    exp = explain(method, model, image, 0, seed=0, budget=budget, faithfulness=faithfulness,
                  **options)
    cpu = time.process_time() - cpu
    meta = exp.meta
    return {"map_seconds": meta["seconds"], "map_evaluations": meta["evaluations"],
            "cpu_seconds": cpu,
            "seconds": meta["seconds"] + meta.get("faithfulness_seconds", 0.0),
            "evaluations": meta["evaluations"] + meta.get("faithfulness_evaluations", 0),
            "heatmap": exp.heatmap}


def per_evaluation_costs(clip, image: np.ndarray, repeats: int) -> None:
    """Seconds per evaluation of the ViT-B/32-sized tower, batches of FIRST_BATCH: the whole
    photo; LIME's rows of kept patches (half on average) padded to the longest row (what
    `embed_kept_patches` does), against the same rows grouped by count (one call per count)
    and rows that all keep the mean count (no padding, one call); and bfloat16."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    batch = np.repeat(image[None], FIRST_BATCH, axis=0)
    lime_rows = rng.random((FIRST_BATCH, clip.patch_count)) < 0.5
    counts = lime_rows.sum(axis=1)
    mean_count = int(round(counts.mean()))
    one_count = np.zeros_like(lime_rows)
    one_count[:, :mean_count] = True
    every = np.ones_like(lime_rows)
    _, tokens_fn, kept_fn = clip._kept_path("float32")

    def called(groups, rows):
        tokens = tokens_fn(clip.preprocess_images(image))
        row_counts = rows.sum(axis=1)
        for members in groups:
            longest = max(1, int(row_counts[members].max()))
            order = np.argsort(~rows[members], axis=1, kind="stable")[:, :longest]
            valid = np.arange(longest)[None, :] < row_counts[members][:, None]
            kept_fn(tokens, tf.constant(np.where(valid, order, 0).astype(np.int32)),
                    tf.constant(valid))

    by_count = [np.flatnonzero(counts == count) for count in np.unique(counts)]
    one_call = [np.arange(len(counts))]
    shap_rows = np.ones_like(lime_rows)  # SHAP's mix: halves, quarters and nearly whole photos
    for row, hidden in enumerate(rng.integers(0, clip.patch_count + 1, FIRST_BATCH)):
        shap_rows[row, rng.permutation(clip.patch_count)[:hidden]] = False
    shap_counts = shap_rows.sum(axis=1)
    cases = [
        ("whole photo (today's path)", lambda: clip.embed_images(batch, batch_size=FIRST_BATCH)),
        ("every patch kept", lambda: clip.embed_kept_patches(image, every)),
        (f"LIME rows (mean {counts.mean():.1f} kept), as embed_kept_patches runs them",
         lambda: clip.embed_kept_patches(image, lime_rows)),
        ("  the same, one call padded to the longest", lambda: called(one_call, lime_rows)),
        (f"  the same, one call per count ({len(by_count)} calls)",
         lambda: called(by_count, lime_rows)),
        (f"{mean_count} kept in every row (no padding, one call)",
         lambda: clip.embed_kept_patches(image, one_count)),
        (f"rows keeping 0-49 (mean {shap_counts.mean():.1f}), as embed_kept_patches runs them",
         lambda: clip.embed_kept_patches(image, shap_rows)),
        ("  the same, one call padded to the longest", lambda: called(one_call, shap_rows)),
        ("LIME rows, bfloat16",
         lambda: clip.embed_kept_patches(image, lime_rows, precision="bfloat16")),
        ("every patch kept, bfloat16",
         lambda: clip.embed_kept_patches(image, every, precision="bfloat16")),
    ]
    print(f"Per evaluation, CLIP ViT-B/32-sized, batches of {FIRST_BATCH} (median of "
          f"{repeats}); wall-clock and this process's CPU time, each with its ratio to the "
          f"whole photo's:")
    print(f"  {'':<62}{'wall':>9}{'':>8}{'cpu':>9}")
    whole = None
    for label, run in cases:
        run()  # warm-up
        walls, cpus = [], []
        for _ in range(repeats):
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        seconds = (statistics.median(walls) / FIRST_BATCH,
                   statistics.median(cpus) / FIRST_BATCH)
        whole = whole or seconds
        print(f"  {label:<62}{1000 * seconds[0]:>6.1f} ms{seconds[0] / whole[0]:>6.2f} x"
              f"{1000 * seconds[1]:>6.1f} ms{seconds[1] / whole[1]:>6.2f} x", flush=True)


def bf16_agreement(clip, side: int = 224) -> dict:
    """LIME over patches on PATH_SCENES with the bfloat16 tower against the float32 one: the
    largest score difference (as a share of the samples' score range) and the maps' rank
    correlation and top-fifth overlap."""
    from benchmarks.stand_ins.region_models import natural_photo
    from explain import explain
    from explain.agreement import agreement

    rows = []
    _, full = clip_adapters(clip, "float32")
    _, half = clip_adapters(clip, "bfloat16")
    rng = np.random.default_rng(1)
    for name in PATH_SCENES:
        image = natural_photo(name, side)
        keep = rng.random((FIRST_BATCH * 2, clip.patch_count)) < 0.5
        a = full.predict_kept(image, keep)[:, 0]
        b = half.predict_kept(image, keep)[:, 0]
        spread = float(np.ptp(a)) or 1.0
        maps = {precision: explain("lime", model, image, seed=0, budget=NEW_BUDGETS["lime"],
                                   faithfulness=False).heatmap
                for precision, model in (("float32", full), ("bfloat16", half))}
        found = agreement(maps)
        both = found.agreed.sum()
        top = max(1, int((maps["float32"] >= np.quantile(maps["float32"], 0.8)).sum()))
        rows.append({"photo": name, "score_difference": float(np.abs(a - b).max()) / spread,
                     "rank_correlation": found.correlations[("float32", "bfloat16")],
                     "top_overlap": both / top})
    return rows


SIDE_BY_SIDE_HEADER = (f"{'model':<21}{'method':<7}{'path':<33}{'first map s':>12}"
                       f"{'whole s':>9}{'evals':>7}{'first/today':>12}{'whole/today':>12}"
                       f"{'cpu s':>8}{'cpu/today':>10}  "
                       + QUALITY_HEADER)


def side_by_side(models: list[str], repeats: int, precision: str) -> list[dict]:
    """Today's path and the new one, per model and method (see docs/benchmarks.md)."""
    from skimage.data import astronaut
    from skimage.transform import resize

    from explain import KerasModel
    from explain.api import method_class

    image = np.clip(resize(astronaut(), (224, 224), preserve_range=True), 0, 255).astype(
        np.uint8)
    print(f"Today's path and the new one, one photo (astronaut, 224 pixels), seed 0, seconds "
          f"the median of {repeats} (the paths' runs interleaved); new CLIP path in "
          f"{precision}; quality on {len(PATH_SCENES)} scikit-image photos with known regions")
    print(SIDE_BY_SIDE_HEADER)
    quality = {}
    rows = []
    for key in models:
        if key == "clip":
            name = "CLIP ViT-B/32-sized"
            clip = clip_sized_clip()
            today, new = clip_adapters(clip, precision)
            paths = [("today", today), ("new", new)]
        else:
            name = "ResNet50-sized"
            model, cam_layer = resnet50_sized_model()
            today = KerasModel(model, cam_layer=cam_layer, batch_size=32)
            paths = [("today", today), ("new", today)]
        for method in ("lime", "shap"):
            for model_adapter in {id(p[1]): p[1] for p in paths}.values():  # warm-up
                timed_explanation(method, model_adapter, image, 10, faithfulness=False)
            budgets = {"today": None,
                       "new": NEW_BUDGETS[method] if key == "clip" else None}
            firsts = {"today": [], "new": []}
            wholes = {"today": [], "new": []}
            for _ in range(repeats):  # interleaved, so a busy spell hits both paths
                for path, adapter in paths:
                    patches = key == "clip" and path == "new"
                    if path == "new":
                        # The first streamed map: the estimate from the first batch of samples
                        # (no fewer than the method accepts as a budget).
                        first_budget = max(FIRST_BATCH if patches else 32,
                                           method_class(method).min_budget)
                        firsts[path].append(timed_explanation(
                            method, adapter, image, first_budget,
                            faithfulness=False)["map_seconds"])
                    run = timed_explanation(method, adapter, image, budgets[path])
                    if path == "today":  # nothing is shown before the whole map
                        firsts[path].append(run["map_seconds"])
                    wholes[path].append(run)
            today_row = None
            for path, _ in paths:
                patches = key == "clip" and path == "new"
                budget = budgets[path]
                runs = wholes[path]
                first = statistics.median(firsts[path])
                whole = statistics.median(r["seconds"] for r in runs)
                cpu = statistics.median(r["cpu_seconds"] for r in runs)
                evaluations = runs[0]["evaluations"]
                quality_key = (key, method, patches)
                if quality_key not in quality:
                    quality[quality_key] = (
                        patch_quality(method, "patches" if patches else "pixels",
                                      budget or 200)
                        if key == "clip" else disk_quality(method))
                label = ("superpixels" if method == "lime" else "pixel grid") + ", " + (
                    "all at once" if path == "today" else "first batch shown")
                if patches:
                    label = f"49 patches dropped, {budget} evals" + (
                        "" if precision == "float32" else f", {precision}")
                row = {"model": name, "method": method, "path": path, "label": label,
                       "first": first, "whole": whole, "cpu": cpu, "evaluations": evaluations,
                       "quality": quality[quality_key]}
                today_row = today_row or row
                rows.append(row)
                print(f"{name:<21}{method:<7}{label:<33}{first:>12.2f}{whole:>9.2f}"
                      f"{evaluations:>7}{first / today_row['first']:>12.2f}"
                      f"{whole / today_row['whole']:>12.2f}{cpu:>8.1f}"
                      f"{cpu / today_row['cpu']:>10.2f}  " + quality_text(row["quality"]),
                      flush=True)
    print("first map s: today, the whole map (nothing is shown before it); new, the map "
          f"estimated from the first batch ({FIRST_BATCH} samples for CLIP, 32 for ResNet50), "
          "as streaming shows it. whole s: the map at the path's budget and its verdict (its "
          "own 8 random maps). evals: both. cpu s: this process's CPU seconds for the whole "
          "result, which other jobs on the machine move far less than the wall-clock "
          "seconds. Quality: the CLIP rows use the model reading known patches (today's "
          "path perturbs its pixels, the new one drops its patches), the ResNet50 rows the "
          "conv net reading a disk. " + QUALITY_NOTE)
    return rows


if __name__ == "__main__":
    sys.exit(main())
