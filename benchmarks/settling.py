"""When has a LIME or SHAP map settled? `python -m benchmarks.settling`

On the ten natural photos of `benchmarks.stand_ins.region_models`, each with a model that reads
only one disk, runs LIME and SHAP at their default budget, watching every partial map
(`explain(..., on_map=...)`). For each threshold on the Spearman correlation of the region
weights between consecutive checks, it prints where a run stopped with `SETTLED_CHECKS` checks
in a row at that threshold would have stopped, and the share of that map's top pixels inside
the disk, next to the full budget's; and the share the first partial map already had.
"""

from __future__ import annotations

import argparse

import numpy as np

from explain import KerasModel, explain
from explain.incremental import SETTLED_CHECKS

THRESHOLDS = (0.8, 0.9, 0.95, 0.98)


def runs(method: str, budget: int, names):
    """Per photo: (name, partial maps' (evaluations, correlation, share inside), full share,
    evaluations the full run used)."""
    for name in names:
        yield (name, *watched_run(method, budget, name))


def watched_run(method: str, budget: int, name: str):
    from benchmarks.stand_ins.region_models import (
        natural_photo,
        region_model,
        scene_disk,
        top_fraction_inside,
    )

    image = natural_photo(name)
    mask = scene_disk(name, image.shape[:2])
    model = KerasModel(region_model(mask), output_names=["disk"])
    seen = []

    def share(heatmap):
        return top_fraction_inside(heatmap, mask, float(mask.mean()))

    def watch(exp):
        if "rank_correlation" in exp.meta:  # not the finished map, handed over last
            seen.append((exp.meta["evaluations"], exp.meta["rank_correlation"],
                         share(exp.heatmap)))

    full = explain(method, model, image, budget=budget, faithfulness=False, on_map=watch)
    return seen, share(full.heatmap), full.meta["evaluations"]


def stop_point(seen, threshold: float):
    """The partial map a run settling at `threshold` would have stopped at, or None."""
    in_a_row = 0
    for point in seen:
        in_a_row = in_a_row + 1 if point[1] >= threshold else 0
        if in_a_row >= SETTLED_CHECKS:
            return point
    return None


def main(argv=None) -> None:
    from benchmarks.stand_ins.region_models import NATURAL_SCENES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--methods", nargs="+", default=["lime", "shap"])
    args = parser.parse_args(argv)
    for method in args.methods:
        results = list(runs(method, args.budget, NATURAL_SCENES))
        print(f"\n{method}, budget {args.budget}: share of top pixels inside the disk")
        print("photo                 full  first(evals)  " + "  ".join(
            f"@{t:.2f}(evals)" for t in THRESHOLDS))
        columns = {t: [] for t in THRESHOLDS}
        firsts, fulls = [], []
        for name, seen, full, used in results:
            first = seen[0]
            firsts.append(first[2])
            fulls.append(full)
            cells = []
            for threshold in THRESHOLDS:
                point = stop_point(seen, threshold)
                evals, share = (used, full) if point is None else (point[0], point[2])
                columns[threshold].append((evals, share))
                cells.append(f"{share:5.2f}({evals:4d})  ")
            print(f"{name:20s} {full:5.2f}  {first[2]:5.2f}({first[0]:4d})  " + "".join(cells))
        means = [(np.mean([c[1] for c in columns[t]]), np.mean([c[0] for c in columns[t]]))
                 for t in THRESHOLDS]
        print(f"{'mean':20s} {np.mean(fulls):5.2f}  {np.mean(firsts):5.2f}        " + "".join(
            f"{share:5.2f}({evals:4.0f})  " for share, evals in means))
        print(f"{'worst':20s} {np.min(fulls):5.2f}  {np.min(firsts):5.2f}        " + "".join(
            f"{np.min([c[1] for c in columns[t]]):5.2f}        " for t in THRESHOLDS))


if __name__ == "__main__":
    main()
