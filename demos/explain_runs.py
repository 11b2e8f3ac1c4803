"""Running the explanation panel, without Gradio: which methods to run on a request, each with
its faithfulness, what the panel then shows (overlays, table rows, status line, figure), and
the one-line reasons for what failed.

`demos.explain_panel` lays these out in Gradio; everything here is plain Python, so a tab's
explanations can be had, and tested, with no UI:

    run = run_request(ExplainRequest(image, model, target="formal"), ["gradcam", "lime"],
                      key="style")
    run.gallery, run.rows, run.status, run.figure_path

`stream_request` gives the same run as it goes (the maps while they improve, then the finished
view), and `EXAMPLE_ANSWERS` holds the tabs' examples' explanations computed ahead. When two or
more maps explain the same number, the finished view also says where they agree
(`maps_agreements`: each pair's rank correlation in the status, and the region every map ranks
high as the gallery's last picture).
"""

from __future__ import annotations

import atexit
import contextvars
import dataclasses
import functools
import hashlib
import logging
import queue
import shutil
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from demos.figures.agreement import agreed_region_view, agreement_caption
from explain import Cancelled, explain, stop_when
from explain.agreement import Agreement, agreement
from explain.explanation import Explanation
from explain.incremental import SETTLE_AT
from explain.metrics import (
    BaselineCache,
    baseline_evaluations,
    faithfulness_evaluations,
    map_curve_evaluations,
)
from explain.model_base import ModelAdapter
from explain.render import (
    comparison_figure,
    format_score,
    gallery_picture,
    method_name,
    save_png,
    verdict,
)
from explain.specs import method_spec
from weights import WeightsUnavailable

log = logging.getLogger("instavis")

TABLE_HEADERS = [
    "Method", "Explains (on this photo)", "Deletion AUC (lower is better)",
    "Insertion AUC (higher is better)", "Random maps: deletion (mean ± spread)",
    "Random maps: insertion (mean ± spread)", "Normalised deletion / insertion (map; random)",
    "Verdict", "Seconds", "Evaluations",
]
"""The faithfulness table's columns. The map's AUCs are read on the random maps' grid, as the
verdict compares them; normalised AUCs put the photo's score at 1 and the fully deleted (or
blurred) image's at 0, so rows for different targets can be compared."""

FAITHFULNESS_EVALUATIONS = faithfulness_evaluations()
"""Model evaluations the faithfulness pass adds to every map (the map's deletion and insertion
curves and the random maps', sharing their end images)."""

RANDOM_MAP_CURVES = BaselineCache()
"""The random maps' curves of the last few (model, photo, target, seed): every method of a
request, and a repeated request on the same photo, measure them once."""

MAX_BUDGET = 2000
"""The most model evaluations one map may ask for, whatever the method and tab. It is ten times
the default budget (200), where LIME already found a known region as well as at 300 samples
(docs/explanations.md), so a larger budget buys nothing measurable. It still bounds the
work: at the ~30 ms an evaluation that a ResNet50- or CLIP-sized model takes batched on 2
cores, 2000 evaluations take about a minute (up to 100 s on the Pose tab, where each re-runs
MediaPipe), while the app's single worker serves nobody else; and LIME's sample matrix (samples
x ~150 segments) and SHAP's masks stay a few megabytes, where `lime_budget=10**9` asked for
320 GiB."""

FIGURE_MAX_AGE = 3600.0
"""Seconds a figure written for download is kept. Gradio copies it into its own cache when the
event returns, so ours are only pruned to keep a long-running server's temp folder small."""


@dataclass(frozen=True)
class ExplainRequest:
    """What a tab's callback hands the panel for one run.

    Attributes:
        image: the photo, uint8 H x W x 3 (from `demos.common.read_upload`).
        model: the adapter every method uses, or a mapping from method name to adapter (a
            KerasModel for "gradcam"/"cam", a FunctionModel for "lime"/"shap"). A method missing
            from the mapping fails with a one-line reason; the others still run. A method may
            also map to a string: the reason it cannot explain this request (e.g. "Grad-CAM
            explains the background similarity only."), shown as its failure.
        target: what is explained: an output index, an output name, or a callable over the
            outputs (see `explain.explain`).
        method_targets: a method's own target where it cannot explain `target` itself but
            explains a named, related output instead (the Pose tab's Grad-CAM explains the CLIP
            part of the background similarity). Captions and the status line name it.
        target_choices: when given, the panel's target picker is refreshed with these choices
            (strings, or (label, value) pairs) and set to `target` if it is one of them.
        title: the downloaded figure's title (default: "Explaining <target>").
        options: extra `explain` options per method, e.g. {"lime": {"segments": 50}}.
        note: a sentence the status line adds on how to read this request's maps.
        target_label: how the status line and captions name `target` when its output name is
            terser than the tab's picker ("technical quality" for the output "quality").
    """

    image: np.ndarray
    model: Any
    target: Any = 0
    target_choices: Sequence | None = None
    title: str | None = None
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    method_targets: Mapping[str, Any] = field(default_factory=dict)
    note: str | None = None
    target_label: str | None = None

    def target_for(self, method: str):
        """What `method` explains: its own target, or the request's."""
        return self.method_targets.get(method, self.target)

    def name_of(self, exp: Explanation) -> str:
        """How the status line and captions name what `exp` explains."""
        if self.target_label and exp.target == self.target:
            return self.target_label
        return str(exp.target)

    def model_for(self, method: str) -> ModelAdapter:
        """The adapter `method` runs on.

        Raises:
            ValueError: the request maps models per method and has none for `method`, or
                maps it to the reason it cannot run.
        """
        if isinstance(self.model, Mapping):
            if method not in self.model:
                raise ValueError(f"{method_name(method)} is not offered for this model.")
            model = self.model[method]
            if isinstance(model, str):
                raise ValueError(model)
            return model
        return self.model


@dataclass(frozen=True)
class MethodOutcome:
    """One method's result in a run: its explanation, or the one-line reason it failed."""

    method: str
    explanation: Explanation | None = None
    error: str | None = None


@dataclass(frozen=True)
class MethodInfo:
    """What the panel needs to know about a method before running it.

    Attributes:
        name: the registry name ("lime").
        title: the human-readable name ("LIME").
        default_budget: model evaluations the map uses by default.
        min_budget: the smallest budget the method accepts.
        max_budget: the largest budget the panel accepts (MAX_BUDGET).
    """

    name: str
    title: str
    default_budget: int
    min_budget: int
    max_budget: int = MAX_BUDGET

    @property
    def has_budget(self) -> bool:
        """Whether the budget is worth offering: gradient methods always take one pass."""
        return self.default_budget > 1


def method_info(method: str) -> MethodInfo:
    """Read a method's budgets from its class.

    Raises:
        ValueError: unknown method.
        ImportError: the method's module or its library is not installed.
    """
    spec = method_spec(method)  # reads the budgets without importing lime or shap
    return MethodInfo(method, method_name(method), spec.default_budget, spec.min_budget)


def methods_hint(usable: Mapping[str, MethodInfo]) -> str:
    """The method picker's hint, warning only about the slow methods actually offered."""
    slow = [info.title for info in usable.values() if info.has_budget]
    hint = "Each map gets a faithfulness score."
    if slow:
        hint += f" {' and '.join(slow)} take{'s' if len(slow) == 1 else ''} a few seconds."
    return hint


class RunRefused(ValueError):
    """A run that cannot start or made nothing: no method chosen, or every method failed. Its
    message is the one line the user sees."""


def one_line(error: BaseException) -> str:
    """An error as the single line a user sees: a UI error (anything with a `message`, such as
    gr.Error) and missing weights in their own words, an explainer's ValueError as it is,
    anything else with its type."""
    message = getattr(error, "message", None)
    if isinstance(message, str):
        text = message
    elif isinstance(error, WeightsUnavailable):
        text = error.summary
    elif isinstance(error, (ValueError, ImportError)):
        text = str(error)
    else:
        text = f"{type(error).__name__}: {error}"
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def explain_methods(request: ExplainRequest, methods: Sequence[str], *, seed: int = 0,
                    budgets: Mapping[str, int | None] | None = None,
                    progress: Callable[[float, str], None] | None = None,
                    should_stop: Callable[[], bool] | None = None,
                    baselines: BaselineCache | None = RANDOM_MAP_CURVES,
                    settle_at: float | None = None,
                    on_map: Callable[[str, Explanation], None] | None = None,
                    on_outcome: Callable[[MethodOutcome], None] | None = None,
                    answers: AnswersAhead | None = None) -> list[MethodOutcome]:
    """Run each method on the request, with faithfulness, one after another.

    A method's failure is caught and recorded, so one broken method never hides the others'
    maps. Progress is split between methods by their expected model evaluations, so a 1-pass
    Grad-CAM does not take half the bar next to a 1000-sample SHAP. Methods that run on the
    same model adapter and target share the random maps' curves of their faithfulness pass
    (through `baselines`), which gives the same numbers for fewer evaluations.

    Args:
        request: the image, model(s) and target.
        methods: method names, in display order.
        seed: passed to every method.
        budgets: model evaluations per method (missing or None: the method's default).
        progress: called with (fraction of the whole run, description naming the method).
        should_stop: asked before every batch of model evaluations; once it is true the run
            stops (the request was cancelled or its page closed).
        baselines: where the random maps' curves are shared (None: every method measures its
            own, as `explain` alone does).
        settle_at: LIME and SHAP stop once their region ranking has settled (`explain`'s
            `settle_at`); None spends every budget.
        on_map: called with (method, map so far) while a method runs (`explain`'s `on_map`).
        on_outcome: called with each method's outcome as soon as it is known.
        answers: explanations computed ahead (`AnswersAhead`): a method found there is not run.

    Returns:
        One MethodOutcome per method, in order.

    Raises:
        explain.Cancelled: `should_stop` said stop; no later method runs.
    """
    budgets = dict(budgets or {})
    costs, measured = [], []  # measured: (adapter, target) pairs whose random maps come first
    for method in methods:
        try:
            budget = budgets.get(method) or method_spec(method).default_budget
        except Exception:  # noqa: BLE001 - the run below records why the method is unusable
            budget = 1
        faithfulness_cost = FAITHFULNESS_EVALUATIONS
        if baselines is not None:
            try:
                pair = (request.model_for(method), request.target_for(method))
            except Exception:  # noqa: BLE001 - the run below records why it has no model
                pair = None
            if any(pair is not None and pair[0] is seen[0] and pair[1] == seen[1]
                   for seen in measured):
                faithfulness_cost = map_curve_evaluations()
            elif pair is not None:
                measured.append(pair)
                faithfulness_cost = map_curve_evaluations() + baseline_evaluations()
        costs.append(max(1, int(budget)) + faithfulness_cost)
    total = float(sum(costs)) or 1.0

    outcomes, done = [], 0.0
    for number, (method, cost) in enumerate(zip(methods, costs, strict=True), start=1):
        start, share = done / total, cost / total
        desc = f"{method_name(method)} ({number} of {len(methods)})"

        def report(fraction, start=start, share=share, desc=desc):
            if progress is not None:
                progress(start + share * float(fraction), desc)

        report(0.0)
        # A bar that can creep (demos.progress.SteadyProgress) learns where this method ends,
        # so a method with few or no progress reports (Grad-CAM) still moves it.
        expect = getattr(progress, "expect", None)
        if expect is not None:
            expect(start + share)
        try:
            budget = budgets.get(method)
            budget = None if budget is None else int(budget)
            answer_key = None if answers is None else answers.key(request, method, int(seed),
                                                                  budget, settle_at)
            exp = None if answer_key is None else answers.get(answer_key)
            if exp is not None:  # its seconds are those it took then, not now: say so
                exp = dataclasses.replace(exp, meta={**exp.meta, "answered_ahead": True})
            else:
                watch = None if on_map is None else functools.partial(on_map, method)
                with stop_when(should_stop):
                    exp = explain(method, request.model_for(method), request.image,
                                  request.target_for(method), seed=int(seed), budget=budget,
                                  progress=report, baselines=baselines, settle_at=settle_at,
                                  on_map=watch, **dict(request.options.get(method, {})))
            outcomes.append(MethodOutcome(method, explanation=exp))
        except Cancelled:
            raise  # the whole run stops: nobody is waiting for the other methods
        except Exception as error:  # noqa: BLE001 - one method's failure must not stop the rest
            if not isinstance(error, (ValueError, ImportError, WeightsUnavailable)) \
                    and not isinstance(getattr(error, "message", None), str):
                log.exception("%s failed", method)  # unexpected: the operator needs the trace
            outcomes.append(MethodOutcome(method, error=one_line(error)))
        if on_outcome is not None:
            on_outcome(outcomes[-1])
        done += cost
    return outcomes


def _with_spread(mean: float, spread: float) -> str:
    return f"{format_score(mean)} ± {format_score(spread, 2)}"


def _normalised(value: float | None) -> str:
    return "n/a" if value is None else format_score(value, 2)


def table_row(exp: Explanation, name: str | None = None) -> list:
    """One explanation's row (TABLE_HEADERS): rounded for reading; `name` names what it
    explains (else its target)."""
    seconds = exp.meta.get("seconds")
    common_end = [None if seconds is None else round(float(seconds), 2),
                  exp.meta.get("evaluations")]
    scores = exp.faithfulness
    if scores is None:
        return [method_name(exp.method), name or str(exp.target), None, None, None, None, None,
                "not measured", *common_end]
    normalised = (f"{_normalised(scores.normalise_deletion(scores.compared_deletion_auc))} / "
                  f"{_normalised(scores.normalise_insertion(scores.compared_insertion_auc))}; "
                  f"{_normalised(scores.random_deletion_auc_normalised)} / "
                  f"{_normalised(scores.random_insertion_auc_normalised)}")
    return [
        method_name(exp.method), _quantity(exp, name=name),
        float(format_score(scores.compared_deletion_auc, 4)),
        float(format_score(scores.compared_insertion_auc, 4)),
        _with_spread(scores.random_deletion_auc, scores.random_deletion_spread),
        _with_spread(scores.random_insertion_auc, scores.random_insertion_spread),
        normalised, scores.verdict, *common_end,
    ]


def table_rows(outcomes: Sequence[MethodOutcome],
               request: ExplainRequest | None = None) -> list[list]:
    """The panel's table: one row per method; a failed method with its reason. `request`
    names what each map explains (`ExplainRequest.name_of`)."""
    return [table_row(o.explanation, request.name_of(o.explanation) if request else None)
            if o.explanation is not None else
            [method_name(o.method), None, None, None, None, None, None,
             f"failed: {o.error}", None, None]
            for o in outcomes]


def explained_value(exp: Explanation) -> float | None:
    """The explained number on the photo itself: the first point of the deletion curve (nothing
    deleted yet), which is the model's score on the very image the map explains. None without
    faithfulness."""
    if exp.faithfulness is None or not exp.faithfulness.deletion_curve:
        return None
    return float(exp.faithfulness.deletion_curve[0])


def _quantity(exp: Explanation, bold: bool = False, name: str | None = None) -> str:
    """"technical quality = 0.72": what a map explains (`name`, else its target), with its
    value on this photo."""
    name = name or str(exp.target)
    name = f"**{name}**" if bold else name
    value = explained_value(exp)
    return name if value is None else f"{name} = {format_score(value, 2)}"


def caption(exp: Explanation, name: str | None = None) -> str:
    """A gallery caption: the method, the number it explains (named `name`, else its target)
    and whether its map is faithful."""
    return f"{method_name(exp.method)} · {_quantity(exp, name=name)} · {verdict(exp)}"


def status_line(outcomes: Sequence[MethodOutcome], request: ExplainRequest) -> str:
    """One Markdown paragraph: what was explained (and its value), the maps that explain a
    named, related number instead, how many maps are faithful, what failed, and the request's
    note on reading the maps."""
    made = [o.explanation for o in outcomes if o.explanation is not None]
    main = [o.explanation for o in outcomes
            if o.explanation is not None and o.method not in request.method_targets]
    other = [o.explanation for o in outcomes
             if o.explanation is not None and o.method in request.method_targets]
    parts = []
    if main:
        parts.append(f"Explained {_quantity(main[0], bold=True, name=request.name_of(main[0]))} "
                     "with "
                     f"{', '.join(method_name(e.method) for e in main)}.")
    parts += [f"{method_name(e.method)} explains {_quantity(e, bold=True, name=request.name_of(e))}"
              " instead." for e in other]
    measured = [e for e in made if e.faithfulness is not None]
    if measured:
        faithful = sum(e.faithfulness.beats_random for e in measured)
        parts.append(f"Faithful maps (they beat {measured[0].faithfulness.random_maps} random "
                      f"maps by more than their spread): {faithful} of {len(measured)}.")
    parts += [f"**{method_name(o.method)} failed:** {o.error}" for o in outcomes if o.error]
    ahead = [e for e in made if e.meta.get("answered_ahead")]
    if ahead:
        parts.append(f"{' and '.join(method_name(e.method) for e in ahead)} "
                     f"{'was' if len(ahead) == 1 else 'were'} computed ahead for this example "
                     "(the seconds are what it took then).")
    if request.note:
        parts.append(request.note)
    return " ".join(parts)


def all_failed_message(outcomes: Sequence[MethodOutcome]) -> str:
    """The one line shown when no method produced a map."""
    reasons = {o.error for o in outcomes}
    if len(reasons) == 1:  # e.g. missing weights: say it once, not once per method
        return reasons.pop()
    return "No method could explain this: " + "; ".join(
        f"{method_name(o.method)}: {o.error}" for o in outcomes
    )


@functools.cache
def _figure_root() -> Path:
    """This process's own folder for figures (a private temp dir, removed at exit)."""
    root = Path(tempfile.mkdtemp(prefix="instavis-figures-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


def _figure_file(key: str) -> Path:
    """A fresh path for a downloadable figure, pruning figures older than FIGURE_MAX_AGE.

    Each figure gets its own folder so the file keeps a readable name in the browser's
    download ("style-explanations.png") without two users' runs overwriting each other.
    """
    root, now = _figure_root(), time.time()
    for old in root.iterdir():
        try:
            if now - old.stat().st_mtime > FIGURE_MAX_AGE:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass  # another run pruned it first
    folder = root / uuid.uuid4().hex
    folder.mkdir()
    return folder / f"{key}-explanations.png"


@dataclass(frozen=True)
class PanelView:
    """Everything one run shows, before it becomes Gradio updates.

    Attributes:
        outcomes: one per chosen method, in order.
        gallery: (map on the grey photo with its colour scale under it, uint8, caption) per
            method that made a map (`explain.render.gallery_picture`).
        rows: the table's rows (TABLE_HEADERS), one per method.
        status: the Markdown line above the gallery.
        figure_path: the side-by-side PNG to download; None while the run is still going
            (`stream_request`'s views before the last).
        agreements: (what it explains, as the status names it; how alike its maps are) for
            each number that two or more finished maps explain (`maps_agreements`); each one's
            picture follows the maps in the gallery. Empty while the run is still going.
    """

    outcomes: tuple[MethodOutcome, ...]
    gallery: list[tuple[np.ndarray, str]]
    rows: list[list]
    status: str
    figure_path: Path | None
    agreements: tuple[tuple[str, Agreement], ...] = ()

    @property
    def explanations(self) -> list[Explanation]:
        return [o.explanation for o in self.outcomes if o.explanation is not None]


def run_request(request: ExplainRequest, methods: Sequence[str], *, key: str, seed: int = 0,
                budgets: Mapping[str, int | None] | None = None,
                progress: Callable[[float, str], None] | None = None,
                should_stop: Callable[[], bool] | None = None,
                settle_at: float | None = None,
                on_map: Callable[[str, Explanation], None] | None = None,
                on_outcome: Callable[[MethodOutcome], None] | None = None,
                answers: AnswersAhead | None = None) -> PanelView:
    """Explain a request with the chosen methods and render what the panel shows.

    Args:
        request: the image, model(s) and target.
        methods: method names, in display order.
        key: the tab's key, which names the downloadable figure.
        seed: passed to every method.
        budgets: model evaluations per method (None or missing: the method's default).
        progress: called with (fraction, description).
        should_stop, settle_at, on_map, on_outcome, answers: see `explain_methods`.

    Returns:
        The PanelView.

    Raises:
        RunRefused: no method was chosen, or every method failed (one line).
        explain.Cancelled: `should_stop` said stop.
    """
    if not methods:
        raise RunRefused("Pick at least one method to explain with.")
    outcomes = explain_methods(request, methods, seed=seed, budgets=budgets, progress=progress,
                               should_stop=should_stop, settle_at=settle_at, on_map=on_map,
                               on_outcome=on_outcome, answers=answers)
    made = [o.explanation for o in outcomes if o.explanation is not None]
    if not made:
        raise RunRefused(all_failed_message(outcomes))
    if progress is not None:
        progress(1.0, "Drawing the figure")
    label = request.name_of(made[0])
    figure = comparison_figure(request.image, made, title=request.title or f"Explaining {label}")
    path = save_png(figure, _figure_file(key))
    agreements = maps_agreements(made, request)
    gallery = [(gallery_picture(request.image, exp), caption(exp, request.name_of(exp)))
               for exp in made]
    gallery += [(agreed_region_view(request.image, found), agreement_picture_caption(found, name))
                for name, found in agreements]
    status = status_line(outcomes, request)
    if agreements:
        status += "\n\n" + " ".join(agreement_sentence(found, name) for name, found in agreements)
    return PanelView(outcomes=tuple(outcomes), gallery=gallery,
                     rows=table_rows(outcomes, request), status=status, figure_path=path,
                     agreements=tuple(agreements))


# === Where the methods agree ===

AGREEMENT_TITLE = "Where the methods agree"
"""How the caption of the picture after the maps starts: the region every map ranks high."""


def maps_agreements(made: Sequence[Explanation],
                    request: ExplainRequest) -> list[tuple[str, Agreement]]:
    """How alike the finished maps of each number are: for every target that two or more maps
    explain, (its name, `explain.agreement.agreement` of those maps), in the order the targets
    first appear. Maps of different numbers are never compared: the Pose tab's Grad-CAM may
    explain another number than LIME and SHAP do, and rankings of different numbers answer
    different questions. A map not at the photo's size is left out, as its region could not be
    drawn on the photo."""
    groups: list[list[Explanation]] = []
    for exp in made:
        if np.shape(exp.heatmap) != request.image.shape[:2]:
            continue
        group = next((g for g in groups if g[0].target == exp.target), None)
        if group is None:
            groups.append([exp])
        else:
            group.append(exp)
    return [(request.name_of(group[0]), agreement({e.method: e.heatmap for e in group}))
            for group in groups if len(group) >= 2]


def agreement_sentence(found: Agreement, name: str) -> str:
    """The status line's sentence on how alike the maps of `name` rank the photo, pair by pair,
    and where the region they all rank high is shown."""
    pairs = ", ".join(f"{method_name(a)}–{method_name(b)} ρ {r:.2f}"
                      for (a, b), r in found.correlations.items())
    top = f"{found.top_fraction:.0%}"
    if found.agreed.any():
        where = (f"the region every map ranks in its top {top} ({found.agreed_share:.0%} of the "
                 "photo) is drawn after the maps")
    else:
        where = f"no part of the photo is in the top {top} of every map (drawn after the maps)"
    return (f"**Where the maps of {name} agree** (rank correlation ρ: 1 the same ranking, "
            f"0 unrelated, -1 reversed): {pairs}; {where}.")


def agreement_picture_caption(found: Agreement, name: str) -> str:
    """The agreement picture's caption: what it shows, of which number, and the pairs' rank
    correlations (`demos.figures.agreement.agreement_caption`)."""
    titles = {method: method_name(method) for method in found.methods}
    return f"{AGREEMENT_TITLE} · {name} · {agreement_caption(found, titles)}"


def target_choices_of(request: ExplainRequest) -> dict | None:
    """The target picker's new choices and value from a request, or None to leave it alone."""
    if request.target_choices is None:
        return None
    choices = [tuple(c) if isinstance(c, (tuple, list)) else c for c in request.target_choices]
    values = [c[1] if isinstance(c, tuple) else c for c in choices]
    target = request.target
    return {"choices": choices, "value": target if not callable(target) and target in values
            else None}


# === Streaming: the maps while they improve, the verdict last ===

UPDATE_SECONDS = 0.5
"""Least time between two views `stream_request` hands over while maps improve. Each view is
drawn and sent to the page (a picture per map); a fast model improves its map many times a
second, and drawing every step would take the cores from the model. The first map of a run and
the final view are never held back."""

STREAM_SETTLE_AT = SETTLE_AT
"""Where the panel's LIME and SHAP stop early (`explain.incremental.SETTLE_AT`, measured with
`python -m benchmarks.settling`)."""


def partial_caption(exp: Explanation, name: str | None = None) -> str:
    """A map still improving: the method, what it explains, and how far it has got."""
    done, budget = exp.meta.get("evaluations"), exp.meta.get("budget")
    progress = (f"{done} of {budget} evaluations" if done is not None and budget
                else "map ready")
    return f"{method_name(exp.method)} · {name or exp.target} · {progress}, verdict to come"


def working_status(request: ExplainRequest, done: Sequence[MethodOutcome],
                   current: Explanation | None, methods: Sequence[str]) -> str:
    """The status line while a run goes on: what is explained, how far, and that the verdict
    comes last."""
    parts = []
    latest = current or next((o.explanation for o in reversed(done) if o.explanation), None)
    if latest is not None:
        parts.append(f"Explaining **{request.name_of(latest)}** with "
                     f"{', '.join(method_name(m) for m in methods)}: the maps improve as you "
                     "watch; each verdict (faithful or not) comes when its map is done.")
    failed = [f"**{method_name(o.method)} failed:** {o.error}" for o in done if o.error]
    return " ".join(parts + failed)


def stream_request(request: ExplainRequest, methods: Sequence[str], *, key: str,
                   seed: int = 0, budgets: Mapping[str, int | None] | None = None,
                   progress: Callable[[float, str], None] | None = None,
                   should_stop: Callable[[], bool] | None = None,
                   settle_at: float | None = STREAM_SETTLE_AT,
                   answers: AnswersAhead | None = None,
                   update_seconds: float = UPDATE_SECONDS) -> Iterator[PanelView]:
    """`run_request`, seen while it works: PanelViews of the maps so far (no figure, captions
    and status saying the verdict is to come, the table's finished rows), then the finished
    PanelView last, as `run_request` returns it.

    The run goes on in a worker thread (in a copy of this context, so the request it serves,
    its progress and its cancellation checks go with it). Closing the iterator stops the run
    within a batch.

    Raises:
        RunRefused: no method chosen, or every method failed.
        explain.Cancelled: `should_stop` said stop.
    """
    if not methods:
        raise RunRefused("Pick at least one method to explain with.")
    updates: queue.Queue = queue.Queue()
    closed = threading.Event()

    def stop() -> bool:
        return closed.is_set() or (should_stop is not None and should_stop())

    def work() -> None:
        try:
            view = run_request(
                request, methods, key=key, seed=seed, budgets=budgets, progress=progress,
                should_stop=stop, settle_at=settle_at, answers=answers,
                on_map=lambda method, exp: updates.put(("map", exp)),
                on_outcome=lambda outcome: updates.put(("outcome", outcome)))
            updates.put(("done", view))
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            updates.put(("error", error))

    context = contextvars.copy_context()
    worker = threading.Thread(target=context.run, args=(work,), name="instavis-explain",
                              daemon=True)
    worker.start()
    done: list[MethodOutcome] = []
    current: Explanation | None = None
    last_shown = None  # when the last view was handed over (None: none yet)
    try:
        while True:
            kind, item = updates.get()
            if kind == "error":
                raise item
            if kind == "done":
                yield item
                return
            if kind == "map":
                current = item
            else:
                done.append(item)
                current = None
                if len(done) == len(methods):
                    continue  # the finished view comes next, with the figure
            if last_shown is not None and not updates.empty():
                continue  # a newer state is waiting: draw that one (never before the first)
            now = time.monotonic()
            if kind == "map" and last_shown is not None and now - last_shown < update_seconds:
                continue
            last_shown = now
            yield _snapshot(request, done, current, methods)
    finally:
        closed.set()


def _snapshot(request: ExplainRequest, done: Sequence[MethodOutcome],
              current: Explanation | None, methods: Sequence[str]) -> PanelView:
    """What the panel shows while a run goes on."""
    made = [o.explanation for o in done if o.explanation is not None]
    gallery = [(gallery_picture(request.image, exp), caption(exp, request.name_of(exp)))
               for exp in made]
    if current is not None:
        gallery.append((gallery_picture(request.image, current),
                        partial_caption(current, request.name_of(current))))
    return PanelView(outcomes=tuple(done), gallery=gallery, rows=table_rows(done, request),
                     status=working_status(request, done, current, methods), figure_path=None)


# === Answers computed ahead, for the tabs' example photos ===

ANSWERS_KEPT = 32
"""Explanations `AnswersAhead` keeps: every default explanation of every tab's examples, with
room to spare (each is one map of the photo's size, about a megabyte at 512 pixels)."""


class AnswersAhead:
    """Explanations computed before anyone asked, by what they depend on: the tab, the
    photo's pixels, the method, what it explains, the seed, the budget, the method's options
    and the early-stopping threshold. A run finding its method here uses it without a single
    model evaluation.

    Only what the background pass puts here is kept (`put`); a visitor's own runs are not, so
    the memory this takes is bounded by the examples. `clear()` forgets everything (when new
    weights arrive, a model can change).
    """

    def __init__(self, max_entries: int = ANSWERS_KEPT):
        self.max_entries = int(max_entries)
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def key(request: ExplainRequest, method: str, seed: int, budget: int | None,
            settle_at: float | None):
        """The key of `method`'s explanation of `request`, or None when it cannot have one
        (a callable target, whose identity says nothing of what it computes)."""
        target = request.target_for(method)
        if callable(target):
            return None
        try:
            model = request.model_for(method)
        except ValueError:
            return None
        if budget is None:
            budget = method_spec(method).default_budget
        pixels = hashlib.sha256(np.ascontiguousarray(request.image)).hexdigest()
        options = repr(sorted(dict(request.options.get(method, {})).items()))
        return (request.image.shape, pixels, method, repr(target), int(seed), int(budget),
                options, settle_at, type(model).__name__, model.output_names, model.work_side)

    def get(self, key) -> Explanation | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key, explanation: Explanation) -> None:
        with self._lock:
            self._entries[key] = explanation
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


EXAMPLE_ANSWERS = AnswersAhead()
"""The tabs' example photos' explanations, computed in the background after start-up
(`demos.ahead`)."""
