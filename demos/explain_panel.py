"""The explanation panel every tab drops under its judgement.

A tab builds the panel inside its own layout, then wires it to the components it reads and a
callback that turns their values into an ExplainRequest (the photo, the model adapter each method
uses, and the target):

    with gr.Tab("Style"):
        photo = PhotoInput()
        panel = ExplanationPanel.build(methods=("gradcam", "cam", "lime", "shap"),
                                       default=("gradcam",), key="style", targets=STYLES)
        panel.wire([photo], make_request)   # make_request(photo, target=None) -> ExplainRequest

This module is the layout and the Gradio wiring. What a run does (every chosen method through
`explain.explain`, with faithfulness; an overlay per method, the faithfulness table, the status
line and a PNG of the side-by-side figure) is `demos.explain_runs`, plain Python. A method that
fails shows its one-line reason in the table and the status line; the others still run. The
run event streams: the maps go to the page from their first check on and improve in place, and
the verdicts, table rows and figure come when the maps are done, with where two or more maps of
one number agree (a sentence in the status, a picture after the maps); an API client gets the
last update, the same outputs as ever.
Nothing heavy is imported here: `explain` is light until a method runs, and the tab's callback
loads its models on first use.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import gradio as gr

from demos.common import (
    CheckboxGroupInput,
    DropdownInput,
    NumberInput,
    friendly_errors,
    log,
    request_gone,
)
from demos.explain_runs import (
    EXAMPLE_ANSWERS,
    FAITHFULNESS_EVALUATIONS,
    STREAM_SETTLE_AT,
    TABLE_HEADERS,
    ExplainRequest,
    MethodInfo,
    PanelView,
    RunRefused,
    method_info,
    methods_hint,
    one_line,
    run_request,
    stream_request,
    target_choices_of,
)
from demos.fields import SEED_MAX, DistinctChoices, OneOf, WholeNumber
from demos.freshness import LEDGER, clear_on_change, current_session, skipped
from demos.progress import SteadyProgress
from explain.metrics import RANDOM_MAPS, map_curve_evaluations
from explain.render import method_name
from explain.specs import SPECS

PREPARE_SHARE = 0.05
"""Share of the bar for preparing the model, before the first method starts."""

TABLE_TYPES = ["str", "str", "number", "number", "str", "str", "str", "str", "number",
               "number"]

MAP_CURVE_EVALUATIONS = map_curve_evaluations()
"""What the faithfulness check adds for a map whose random maps another map already measured."""

FAITHFULNESS_LEGEND = f"""\
**Is a map faithful?** *Deletion* blacks out the pixels the map ranks highest first: if the map
is right, the score falls fast, so a **lower** deletion AUC is better. *Insertion* paints those
pixels first onto a blurred copy of the photo: the score should rise fast, so a **higher**
insertion AUC is better. Each map is measured against {RANDOM_MAPS} random maps of the same
photo. It is called **faithful** only when its deletion AUC is below their mean by more than
their spread (one standard deviation) *and* its insertion AUC is above their mean by more than
their spread; otherwise it is **no better than chance**. AUCs are in the model's own score
units; the *normalised* ones put the photo's own score at 1 and the fully deleted or blurred
photo's at 0, so two targets can be compared ("n/a" when the two score alike). A normalised
value above 1 (or below 0) means the score went past the photo's own (or the fully deleted
one's) part of the way: the score does not fall steadily as the photo is hidden, and when the
two end scores are close, a small wobble reads large. Seconds and evaluations are the map's
own; the check adds {FAITHFULNESS_EVALUATIONS} evaluations, or {MAP_CURVE_EVALUATIONS} when another
map of the same photo and number already measured the random maps.
"""


def legend(methods: Iterable[str]) -> str:
    """How to read the maps of `methods` (the ones the panel offers), then how faithfulness is
    judged: only the colour scales those methods draw are described."""
    methods = list(methods)
    signed = [m for m in methods if SPECS[m].signed]
    unsigned = [m for m in methods if not SPECS[m].signed]
    sentences = ["**Reading the maps.** Each map is drawn on the photo in grey, so its colours "
                 "are the only ones, with its colour scale under it; where a map fades out, the "
                 "photo shows through."]
    if unsigned:
        sentences.append(f"{_names(unsigned)} show how much each part mattered: bright yellow "
                         "mattered most.")
    if signed:
        sentences.append(f"{_names(signed)} are *signed*: red raised the score, blue lowered "
                         "it.")
    sentences.append("Each caption names the number the map explains and its value on this "
                     "photo.")
    return " ".join(sentences) + "\n\n" + FAITHFULNESS_LEGEND


def _names(methods: Sequence[str]) -> str:
    names = [method_name(m) for m in methods]
    joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{joined} maps"


@dataclass(eq=False)
class ExplanationPanel:
    """Method picker, optional target picker, advanced settings, run button, overlays, table,
    legend and figure download, for one tab.

    Build it with `ExplanationPanel.build(...)` inside the tab's layout, then call `wire(...)`.
    The components are attributes, so a tab may also use them in its own events (for example,
    feed `target` new choices after its main prediction).

    Attributes:
        key: the tab's key; the run event's api_name is f"{key}_explain".
        methods: the methods usable when the panel was built, in order, with their budgets.
        unavailable: methods that were asked for but cannot be offered at build time (their
            library is missing, or the tab's reason), with the reason.
        offerable: every method whose library imports, with its budgets: what `availability`
            can bring into the picker once a tab's reason no longer holds.
        missing_library: methods whose library cannot be imported, with the reason.
        default: the methods ticked at first.
        unavailable_note: the "Not available here" Markdown (hidden when empty).
        legend: how to read the maps of the methods offered now (`legend`).
        picker: CheckboxGroup of method names.
        target: Dropdown of targets, or None when the tab has no target picker.
        seed: Number, passed to every method.
        budgets: one Number per method that takes a budget (LIME, SHAP), by method name.
        button: the Explain button.
        status, gallery, table, download: the outputs.
        target_choices: State holding the last request's target choices, which a private
            follow-up step puts into `target` (so API users get plain values, not updates).
        fields: what the run event accepts for each of the panel's own inputs, by API name
            ("methods", "target", "seed", "<method>_budget"), checked on the server before any
            work (`demos.fields`); "target" is None when the picker's choices come from the
            requests (the tab's callback checks it then).
    """

    key: str
    methods: dict[str, MethodInfo]
    unavailable: dict[str, str]
    picker: gr.CheckboxGroup
    target: gr.Dropdown | None
    seed: gr.Number
    budgets: dict[str, gr.Number]
    button: gr.Button
    status: gr.Markdown
    gallery: gr.Gallery
    table: gr.Dataframe
    download: gr.DownloadButton
    target_choices: gr.State | None
    offerable: dict[str, MethodInfo]
    missing_library: dict[str, str]
    default: list[str]
    unavailable_note: gr.Markdown
    fields: dict[str, Any]
    legend: gr.Markdown | None = None
    run_event: Any = None  # the run event's Dependency, once `wire` has made it
    sources: list = ()  # the tab's components the requests are made from, once wired

    @property
    def scope(self) -> str:
        """The ledger scope of the panel's shown outputs (`demos.freshness`)."""
        return f"{self.key} explanation"

    @property
    def derived_from(self) -> list:
        """The inputs the shown outputs are derived from: the tab's sources and the target."""
        return [*self.sources, *([self.target] if self.target is not None else [])]

    def availability(self, reasons: Mapping[str, str], picked: Sequence[str] | None = None):
        """Updates for the method picker and the "Not available here" note, for the reasons
        that hold now (e.g. {"gradcam": "needs the CLIP weights"}; {} once they arrived).

        Methods keep their tick when still available; a newly available method is added
        unticked, unless nothing would be ticked. A tab calls this on page load and when its
        tab is selected, so weights pulled while the app runs show up without a restart.

        Returns:
            (picker update, note update, legend update).
        """
        usable = {m: info for m, info in self.offerable.items() if m not in reasons}
        unavailable = {**{m: r for m, r in reasons.items() if m in self.offerable},
                       **self.missing_library}
        # `picked` is the page's picker value, as sent: anything but a list means nothing.
        kept = [m for m in picked if isinstance(m, str) and m in usable] \
            if isinstance(picked, (list, tuple)) else []
        if not kept:
            kept = [m for m in self.default if m in usable] or list(usable)[:1]
        picker = gr.CheckboxGroup(choices=[(info.title, name) for name, info in usable.items()],
                                  value=kept, info=methods_hint(usable))
        note = gr.Markdown(unavailable_text(unavailable), visible=bool(unavailable))
        return picker, note, gr.Markdown(legend(usable))

    def follow_target(self, reasons_of: Callable[[Any], Mapping[str, str]]) -> tuple:
        """Offer only the methods that can explain the picked target: when it changes, the
        picker, the "Not available here" note and the legend follow `reasons_of(target)`
        (e.g. {"gradcam": "..."} for a score that has no gradients). Build the panel with
        `unavailable=reasons_of(target_value)`.

        Returns:
            The refresher (fn, inputs, outputs) the tab returns from `build`, so a page starts
            with the picker its target allows (the page is built with every method offerable).
        """
        def follow(target, picked):
            return self.availability(reasons_of(target), picked)

        inputs = [self.target, self.picker]
        outputs = [self.picker, self.unavailable_note, self.legend]
        self.target.change(follow, inputs=inputs, outputs=outputs, queue=False,
                           show_progress="hidden", api_visibility="private")
        return follow, inputs, outputs

    @classmethod
    def build(cls, methods: Sequence[str] = ("gradcam", "lime", "shap"),
              default: Sequence[str] | None = ("gradcam",), key: str = "explain", *,
              targets: Sequence | None = None, target_value: Any = None,
              target_label: str = "Explain which output",
              target_info: str | None = None, label: str = "Why? Explanation maps",
              budgets: Mapping[str, int] | None = None,
              unavailable: Mapping[str, str] | None = None,
              ) -> ExplanationPanel:
        """Add the panel's components to the current gr.Blocks (or Tab, Column, ...).

        Args:
            methods: methods to offer, in order ("gradcam", "cam", "lime", "shap"). Methods
                whose module cannot be imported are left out and named in a note.
            default: methods ticked at first (unusable ones are dropped; None or empty: the
                first usable method).
            key: the tab's key: element ids start with it and the run event's api_name is
                f"{key}_explain".
            targets: choices for a target picker (strings or (label, value) pairs); None for
                no picker (the tab's callback then decides the target alone). An empty list
                makes a picker that requests fill through `target_choices`.
            target_value: the picker's first value; None means "the tab decides" (e.g. the
                top prediction).
            target_label: the picker's label.
            target_info: the picker's hint.
            label: the panel's heading.
            budgets: this tab's default budget (model evaluations) per method, replacing the
                method's own default, for a model whose evaluations are slow (e.g. {"lime":
                120}). Methods without a budget (Grad-CAM, CAM) ignore it.
            unavailable: methods the tab would offer but cannot here, with the reason (e.g.
                missing weights); they are left out and named in the same note as methods
                whose library is missing.

        Returns:
            The panel; call `wire` next.

        Raises:
            ValueError: an unknown method name, or a budget outside the method's range.
        """
        reasons = dict(unavailable or {})
        # Importable methods may still be unavailable for a reason that can change while the
        # app runs (weights pulled later): they keep their budget fields, and
        # `availability` brings them into the picker when their reason goes away.
        offerable, missing_library = {}, {}
        for method in methods:
            try:
                offerable[method] = method_info(method)
            except ImportError as error:
                missing_library[method] = one_line(error)
        for method, budget in (budgets or {}).items():
            info = offerable.get(method)
            if info is None or not info.has_budget:
                continue
            if not info.min_budget <= int(budget) <= info.max_budget:
                raise ValueError(f"{info.title} needs a budget of {info.min_budget} to "
                                 f"{info.max_budget} model evaluations, got {budget}.")
            offerable[method] = replace(info, default_budget=int(budget))
        usable = {m: info for m, info in offerable.items() if m not in reasons}
        unavailable = {m: reasons.get(m) or missing_library[m] for m in methods
                       if m in reasons or m in missing_library}
        chosen = [m for m in (default or ()) if m in usable] or list(usable)[:1]
        fields = panel_fields(offerable, targets, target_value)

        with gr.Column(elem_id=f"{key}-explain", elem_classes=["explain-panel"]):
            gr.Markdown(f"### {label}")
            with gr.Row():
                # Every offerable method is a valid choice on the server, so an API client can
                # ask for one whose weights arrived after start; the tab's refresher (page load,
                # tab select) narrows what the page shows to what is usable now.
                # The inputs pass their values on as sent, for `fields` to check (demos.common).
                picker = CheckboxGroupInput(
                    choices=[(info.title, name) for name, info in offerable.items()],
                    value=chosen, label="Methods", scale=3, elem_id=f"{key}-explain-methods",
                    info=methods_hint(usable), accepts=fields["methods"].accepts,
                )
                target = None
                if targets is not None:
                    target = DropdownInput(
                        choices=list(targets), value=target_value, label=target_label,
                        info=target_info, scale=2, elem_id=f"{key}-explain-target",
                        accepts=fields["target"].accepts if fields["target"] else "",
                    )
                with gr.Column(scale=1, min_width=140):
                    button = gr.Button("Explain", variant="primary", size="lg",
                                       interactive=bool(usable), elem_id=f"{key}-explain-run")
            unavailable_note = gr.Markdown(
                unavailable_text(unavailable), visible=bool(unavailable),
                elem_classes=["explain-unavailable"], elem_id=f"{key}-explain-unavailable",
            )
            with gr.Accordion("Advanced", open=False):
                with gr.Row():
                    seed = NumberInput(value=0, precision=0, minimum=0, maximum=SEED_MAX,
                                       label="Seed", info="The same seed gives the same maps.",
                                       elem_id=f"{key}-explain-seed",
                                       accepts=fields["seed"].accepts)
                    budgets = {
                        name: NumberInput(
                            value=info.default_budget, precision=0, minimum=info.min_budget,
                            maximum=info.max_budget,
                            label=f"{info.title} budget (model evaluations)",
                            info=f"Default {info.default_budget}; more is steadier but slower.",
                            elem_id=f"{key}-explain-budget-{name}",
                            accepts=fields[f"{name}_budget"].accepts,
                        )
                        for name, info in offerable.items() if info.has_budget
                    }
            status = gr.Markdown(label="Status", elem_id=f"{key}-explain-status")
            gallery = gr.Gallery(
                label="Explanation maps", columns=min(max(len(usable), 2), 4),
                # Gradio gives "auto" (and no height) a fixed 450 px minimum, which leaves an
                # empty band under one row of maps; "fit-content" is passed to CSS as is.
                height="fit-content",
                # Keep one thumbnail per column even when one method ran: stretched to the full
                # width, a single map is cropped to a strip.
                fit_columns=False, object_fit="contain", allow_preview=True,
                elem_id=f"{key}-explain-gallery",
            )
            table = gr.Dataframe(
                headers=TABLE_HEADERS, datatype=TABLE_TYPES, interactive=False, wrap=True,
                label="Faithfulness", elem_id=f"{key}-explain-table",
                column_widths=["8%", "14%", "9%", "9%", "11%", "11%", "13%", "10%", "7%",
                               "8%"],
            )
            with gr.Row():
                legend_text = gr.Markdown(legend(usable), elem_id=f"{key}-explain-legend")
                # Always enabled: before the first run it has no file and does nothing, and
                # enabling it afterwards would make the API return an update, not a path.
                download = gr.DownloadButton(
                    "Download figure (PNG)", size="sm", scale=0, min_width=200,
                    elem_id=f"{key}-explain-download",
                )
            target_choices = gr.State() if target is not None else None
        return cls(key=key, methods=usable, unavailable=unavailable, picker=picker,
                   offerable=offerable, missing_library=missing_library, default=chosen,
                   unavailable_note=unavailable_note, legend=legend_text,
                   target=target, seed=seed, budgets=budgets, button=button, status=status,
                   gallery=gallery, table=table, download=download,
                   target_choices=target_choices, fields=fields)

    @property
    def inputs(self) -> list:
        """The panel's own event inputs, after the tab's: picker, [target], seed, budgets."""
        return [self.picker, *([self.target] if self.target is not None else []), self.seed,
                *self.budgets.values()]

    @property
    def outputs(self) -> list:
        """The run event's outputs: status, gallery, table, download (and, with a target
        picker, a State that the API does not show)."""
        return [self.status, self.gallery, self.table, self.download,
                *([self.target_choices] if self.target_choices is not None else [])]

    @property
    def shown(self) -> list:
        """The outputs a user sees: status, maps, table and figure."""
        return [self.status, self.gallery, self.table, self.download]

    @staticmethod
    def blank() -> tuple:
        """What `shown` holds before any run: no status, no maps, an empty table, no file."""
        return "", [], None, None

    def clear_on(self, triggers: Sequence) -> None:
        """Clear the shown maps, table and figure whenever one of `triggers` (the tab's inputs
        changing), or the target, brings other values than the maps explain, so a map never
        sits beside a photo or target it does not explain. A run still going for the old
        values stops within a batch and lands nothing (`wire`). Call after `wire`."""
        triggers = [*triggers, *([self.target.change] if self.target is not None else [])]
        clear_on_change(triggers, self.derived_from, self.shown, self.blank, self.scope)

    def run(self, request: ExplainRequest, methods: Sequence[str] | None = None, *,
            seed: int = 0, budgets: Mapping[str, int | None] | None = None,
            progress: Callable[[float, str], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> PanelView:
        """`demos.explain_runs.run_request` with this panel's key and default budgets: the
        panel's handler without Gradio in the way, for Python and tests.

        Args:
            request: the image, model(s) and target.
            methods: method names (None: every usable method).
            seed, progress, should_stop: as in `run_request`.
            budgets: model evaluations per method (None or missing: this panel's default).

        Raises:
            InvalidField: a method, the seed or a budget outside what the panel accepts
                (`fields`), e.g. a budget over MAX_BUDGET.
            gr.Error: every method failed (one line).
        """
        # A budget left out means this panel's default, which a tab may have lowered.
        methods, seed, budgets = self._settings(methods, seed, budgets)
        try:
            return run_request(request, methods, key=self.key, seed=seed, budgets=budgets,
                               progress=progress, should_stop=should_stop,
                               settle_at=STREAM_SETTLE_AT, answers=EXAMPLE_ANSWERS)
        except RunRefused as refused:
            raise gr.Error(str(refused), print_exception=False) from None

    def stream(self, request: ExplainRequest, methods: Sequence[str] | None = None, *,
               seed: int = 0, budgets: Mapping[str, int | None] | None = None,
               progress: Callable[[float, str], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> Iterator[PanelView]:
        """`run`, seen while it works (`demos.explain_runs.stream_request`): views of the maps
        as they improve, then the finished view, which is `run`'s."""
        methods, seed, budgets = self._settings(methods, seed, budgets)
        try:
            yield from stream_request(request, methods, key=self.key, seed=seed,
                                      budgets=budgets, progress=progress,
                                      should_stop=should_stop, answers=EXAMPLE_ANSWERS)
        except RunRefused as refused:
            raise gr.Error(str(refused), print_exception=False) from None

    def _settings(self, methods, seed, budgets) -> tuple[list, int, dict]:
        """The methods, seed and budgets a run uses, checked; a missing budget is this panel's
        default."""
        methods = list(self.methods) if methods is None else self.fields["methods"].check(methods)
        seed = self.fields["seed"].check(seed)
        budgets = dict(budgets or {})
        for name in self.budgets:
            budgets[name] = self.fields[f"{name}_budget"].check(budgets.get(name))
        return methods, seed, budgets

    def wire(self, source_inputs, make_request: Callable[..., ExplainRequest], *,
             triggers: Sequence | None = None, **event_options):
        """Connect the Explain button to the tab's inputs and request callback.

        The event's inputs are the tab's `source_inputs` followed by `self.inputs`; its outputs
        are `self.outputs`; its api_name is f"{key}_explain". Through gradio_client:

            status, gallery, table, png_path = client.predict(
                *source_values, methods, [target,] seed, *budgets, api_name=f"/{key}_explain")

        with one budget per entry of `self.budgets`, in order; `gallery` is a list of
        {"image": path, "caption": text}, one per map, then, when two or more maps explain
        the same number, one more whose caption starts "Where the methods agree"; `table` is
        {"headers": [...], "data": [...]}.
        When the request brings `target_choices`, a private follow-up step refreshes the
        target picker.

        Args:
            source_inputs: the tab's components the request is made from (one or a list).
            make_request: called as make_request(*source_values) -> ExplainRequest, or with
                target=<picker value> as a keyword too when the panel has a target picker,
                checked by `fields["target"]` (None when the requests bring the choices and
                nothing is picked). It is called only once the panel's own settings passed
                their checks. It must check its own source values (`demos.fields`), and may
                raise gr.Error (e.g. from read_upload), InvalidField or WeightsUnavailable; the
                user sees one line.
            triggers: more events that also run the panel (e.g. [photo.upload]); the button's
                click always does.
            **event_options: passed on to gr.on (concurrency_limit, ...).

        Returns:
            The run event's Dependency, for chaining with .then() or .success().
        """
        sources = list(source_inputs) if isinstance(source_inputs, (list, tuple)) \
            else [source_inputs]
        count = len(sources)
        self.sources = sources

        # gr.Progress is injected only into leading positional parameters, so it comes before
        # the variable number of input values.
        def run_panel(progress=gr.Progress(), *values):
            # A generator: the maps go to the page while they improve, the verdict last. The
            # API's answer is the last update, the same four (five) outputs as a single one.
            source_values = values[:count]
            raw = dict(zip(self.fields, values[count:], strict=True))
            # What the page shows now, as the change handlers record it; a change to other
            # values stops this run between batches, and it then lands nothing.
            session = current_session()
            shown_values = [*source_values, *([raw["target"]] if self.target is not None else [])]
            LEDGER.record(session, self.scope, shown_values)

            def stale() -> bool:
                return not LEDGER.is_current(session, self.scope, shown_values)

            def left_behind() -> tuple:
                # The page moved on: the change handler cleared the outputs, but a map of this
                # run may have reached the page after that; clear again, so none stays. One
                # line for the operator, as for a cancelled request.
                log.info("%s stopped: the page moved on to other inputs", run_panel.__name__)
                return (*self.blank(), *skipped(len(self.outputs) - len(self.shown)))

            updates = explained(source_values, raw, progress, stale)
            try:
                while True:
                    try:
                        shown = next(updates)
                    except StopIteration:
                        return
                    except Exception:
                        if stale():
                            yield left_behind()
                            return
                        raise
                    if stale():
                        yield left_behind()
                        return
                    final = len(shown) == len(self.outputs) and shown[3] is not None
                    if final and self.target_choices is not None:
                        picked = shown[-1]
                        if picked and picked.get("value") is not None \
                                and picked["value"] != raw["target"]:
                            # The run explained another target than the picker showed (the
                            # top style, or the background when there is no pose); the
                            # picker follows it, and that change must not clear the maps.
                            LEDGER.record(session, self.scope, [*source_values, picked["value"]])
                    yield shown
            finally:
                updates.close()  # stops the run within a batch when the page went away

        def explained(source_values, raw, progress, stale):
            # The panel's own settings are checked before make_request loads anything.
            settings = self.checked(raw)
            kwargs = {"target": settings["target"]} if self.target is not None else {}
            with SteadyProgress(progress) as bar:
                # Loading a model (CLIP, MediaPipe) can take seconds: the bar creeps meanwhile.
                with bar.step(0.0, PREPARE_SHARE, "Preparing the model"):
                    request = make_request(*source_values, **kwargs)
                if not isinstance(request, ExplainRequest):
                    raise TypeError(f"make_request must return an ExplainRequest, not "
                                    f"{type(request).__name__}.")
                budgets = {name: settings[f"{name}_budget"] for name in self.budgets}
                views = self.stream(request, settings["methods"], seed=settings["seed"],
                                    budgets=budgets, progress=bar.within(PREPARE_SHARE, 1.0),
                                    should_stop=lambda: request_gone() or stale())
                try:
                    for view in views:
                        if view.figure_path is None:  # still going: maps, no verdict yet
                            shown = [view.status, view.gallery, view.rows or None, None]
                            if self.target_choices is not None:
                                shown.append(gr.skip())
                        else:
                            shown = [view.status, view.gallery, view.rows, str(view.figure_path)]
                            if self.target_choices is not None:
                                shown.append(target_choices_of(request))
                        yield tuple(shown)
                finally:
                    views.close()

        run_panel.__name__ = f"{self.key}_explain"
        run_panel.__doc__ = (
            "Explain the judgement with the chosen methods. Returns the status line (Markdown), "
            "the maps with their captions, the faithfulness table and the PNG figure's path.")
        run_panel.__signature__ = self._api_signature(make_request, count)
        event_options = {"concurrency_id": EXPLANATIONS, "concurrency_limit": EXPLANATION_WORKERS,
                         **event_options}
        event = gr.on(
            triggers=[self.button.click, *(triggers or ())], fn=friendly_errors(run_panel),
            inputs=[*sources, *self.inputs], outputs=self.outputs,
            api_name=f"{self.key}_explain", **event_options,
        )
        self.run_event = event
        if self.target is not None:
            event.success(refresh_target, inputs=self.target_choices, outputs=self.target,
                          queue=False, show_progress="hidden", api_visibility="private")
        return event

    def checked(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The panel's own inputs, by API name, each checked by its field (a missing one is
        None, which means its default).

        Raises:
            InvalidField: the first value its field does not accept, named.
        """
        return {name: values.get(name) if field is None else field.check(values.get(name))
                for name, field in self.fields.items()}

    def _api_signature(self, make_request: Callable, count: int) -> inspect.Signature:
        """The signature Gradio reads to name the API's parameters.

        The handler takes *values, which Gradio would list as param_0, param_1, ...; this
        names them after make_request's own parameters, then methods, target, seed and
        <method>_budget, so `client.predict(photo=..., methods=[...])` reads as it should.
        Every one defaults to None, which keeps the signature valid after `progress` (whose
        default is how Gradio recognises it) and lets API users leave settings out.
        """
        try:
            given = [p.name for p in inspect.signature(make_request).parameters.values()
                     if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                     and p.name != "target"]
        except (TypeError, ValueError):  # a builtin or C callable without a signature
            given = []
        own = list(self.fields)
        names = []
        for index in range(count):
            name = given[index] if index < len(given) else f"input_{index}"
            names.append(name if name not in own and name not in names else f"{name}_{index}")
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        return inspect.Signature([
            inspect.Parameter("progress", kind, default=gr.Progress()),
            *(inspect.Parameter(name, kind, default=None) for name in [*names, *own]),
        ])


def panel_fields(offerable: Mapping[str, MethodInfo], targets: Sequence | None,
                 target_value: Any) -> dict[str, Any]:
    """What a panel's run event accepts for each of its own inputs, in the event's order:
    methods, [target,] seed, then one budget per method that takes one.

    Args:
        offerable: every method the picker may hold, with its budgets.
        targets: the target picker's choices (strings or (label, value) pairs); None for no
            picker; empty when requests bring the choices (the field is then None: the tab's
            callback checks the target).
        target_value: the picker's first value, which a missing target means.
    """
    fields: dict[str, Any] = {"methods": DistinctChoices("methods", tuple(offerable))}
    if targets is not None:
        values = tuple(t[1] if isinstance(t, (tuple, list)) else t for t in targets)
        fields["target"] = OneOf("target", values, default=target_value) if values else None
    fields["seed"] = WholeNumber("seed", 0, SEED_MAX, default=0)
    for name, info in offerable.items():
        if info.has_budget:
            fields[f"{name}_budget"] = WholeNumber(
                f"{name}_budget", info.min_budget, info.max_budget, default=info.default_budget,
                unit="model evaluations")
    return fields


EXPLANATIONS = "explanations"
"""The concurrency group every tab's explanation joins (Gradio's `concurrency_id`)."""

EXPLANATION_WORKERS = 1
"""Explanations that run at once, across all tabs. An explanation keeps both cores of the
2-core machines InstaVis is sized for busy, so two at once finish no sooner than one after the
other (the first finishes sooner); and each holds its model's activations for hundreds of
perturbed photos. With one per tab, five at once took the server past its 3 GB budget
(`python -m benchmarks.memory`, docs/benchmarks.md "Memory"). Others wait in the queue,
which shows each visitor their place."""

NO_GRADIENTS_IN_BRISQUE = "technical quality is BRISQUE, which has no gradients"


def gradcam_unavailable_for(targets: Sequence, reason: str = NO_GRADIENTS_IN_BRISQUE
                            ) -> Callable[[Any], dict[str, str]]:
    """`reasons_of` for `ExplanationPanel.follow_target`: Grad-CAM is not offered for
    `targets` (scores with no network behind them), with `reason`."""
    def reasons_of(target) -> dict[str, str]:
        return {"gradcam": reason} if target in targets else {}

    return reasons_of


def unavailable_text(unavailable: Mapping[str, str]) -> str:
    """The note naming the methods this machine cannot offer now, and why."""
    if not unavailable:
        return ""
    return "Not available here: " + "; ".join(
        f"{method_name(m)} ({reason})" for m, reason in unavailable.items())


def refresh_target(spec: dict | None):
    """Put a run's target choices into the picker (no change when the request had none)."""
    if spec is None:
        return gr.skip()
    return gr.Dropdown(choices=spec["choices"], value=spec["value"])
