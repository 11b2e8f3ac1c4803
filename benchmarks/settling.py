"""When has a LIME or SHAP map settled? `python -m benchmarks.settling`

On the ten natural photos of `benchmarks.stand_ins.region_models`, each with a model that reads
only one disk, runs LIME and SHAP at their default budget, watching every partial map
(`explain(..., on_map=...)`). For each threshold on the Spearman correlation of the region
weights between consecutive checks, it prints where a run stopped with `SETTLED_CHECKS` checks
in a row at that threshold would have stopped, and the share of that map's top pixels inside
the disk, next to the full budget's; and the share the first partial map already had.

`--stream` times the Aesthetic tab's example photos explained as its panel does: seconds to the
first map and to the whole result, with and without stopping when settled, and again once the
examples were answered ahead.
"""

from __future__ import annotations

import argparse

import numpy as np

from explain import KerasModel, explain
from explain.incremental import SETTLE_AT, SETTLED_CHECKS

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


def stream_timings(methods) -> None:
    """The Aesthetic tab's example photos, explained as its panel does (technical quality,
    default budgets, streamed, settling): seconds to the first map on screen and to the whole
    result, the evaluations used, without and with the whole budget; then the same request
    again once the examples were answered ahead."""
    import time
    from types import SimpleNamespace

    from demos import ahead
    from demos.aesthetic_tab import EXAMPLES, make_request
    from demos.explain_runs import EXAMPLE_ANSWERS, stream_request
    from demos.tab_skeleton import EXAMPLES_DIR

    budgets = {"lime": 120, "shap": 120}  # the Aesthetic tab's own
    print(f"\nAesthetic tab, technical quality, {', '.join(methods)} at {budgets}")
    print("photo                  settle  first map s  whole s  evaluations")
    for *values, label in EXAMPLES:
        path = str(EXAMPLES_DIR / values[0])
        for settle_at in (None, SETTLE_AT):
            request = make_request(path, target="quality")
            start = time.perf_counter()
            first = None
            for view in stream_request(request, methods, key="bench", budgets=budgets,
                                       settle_at=settle_at, answers=None):
                if first is None and view.gallery:
                    first = time.perf_counter() - start
            whole = time.perf_counter() - start
            used = [e.meta["evaluations"] for e in view.explanations]
            print(f"{label[:22]:22s} {settle_at!s:6s} {first:11.2f}  {whole:7.2f}  {used}")

    # What demos.ahead reads of a panel: its defaults.
    panel = SimpleNamespace(
        key="bench", target=None, default=list(methods), budgets=budgets,
        checked=lambda values: {"methods": list(methods), "seed": 0,
                                **{f"{m}_budget": b for m, b in budgets.items()}})
    jobs = [ahead.ExampleJob(panel, lambda p: make_request(p, target="quality"),
                             (str(EXAMPLES_DIR / values[0]),)) for *values, _ in EXAMPLES]
    from demos.common import Activity

    start = time.perf_counter()
    added = ahead.answer_examples(jobs, activity=Activity(), idle_seconds=0)
    print(f"answered ahead: {added} maps in {time.perf_counter() - start:.1f} s")
    for *values, label in EXAMPLES:
        request = make_request(str(EXAMPLES_DIR / values[0]), target="quality")
        start = time.perf_counter()
        views = list(stream_request(request, methods, key="bench", budgets=budgets,
                                    answers=EXAMPLE_ANSWERS))
        assert views[-1].figure_path is not None
        print(f"{label[:22]:22s} again, answered ahead: {time.perf_counter() - start:.2f} s, "
              f"model evaluations {request.model['lime'].evaluations}")


def main(argv=None) -> None:
    from benchmarks.stand_ins.region_models import NATURAL_SCENES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--methods", nargs="+", default=["lime", "shap"])
    parser.add_argument("--stream", action="store_true",
                        help="time the Aesthetic tab's examples explained as the panel does")
    args = parser.parse_args(argv)
    if args.stream:
        stream_timings(args.methods)
        return
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
