"""The shape every judging tab shares, built in one place.

A judging tab (Aesthetic, Style, Tags, Profile; Pose takes the parts its own layout fits) is,
top to bottom: its intro; its inputs and action button in one column, the verdict card in the
other; example inputs; what else its result shows; "The numbers" (the result as JSON); the
explanation panel; and for some a part of their own (the leaderboard, the gallery). Its action
is the public endpoint named after the tab (`api_name=KEY`) and refuses bad input in one line;
the examples are a private helper; when an input changes, the result and the maps derived from
it clear, and a run for inputs no longer on screen lands nothing (`demos.freshness`).

A tab describes itself in a `TabSkeleton` and decorates its action with `action`; its
`build()` puts its own components in the skeleton's slots and ends with `wire`:

    TAB = TabSkeleton(key="aesthetic", scope_name="rating", intro=INTRO, action_label="Rate",
                      empty_verdict=EMPTY_VERDICT, numbers_label="Rating",
                      examples_label="Example photos (...)")

    @TAB.action(inputs=1, outputs=4)
    def rate(photo, progress=gr.Progress()): ...

    def build():
        TAB.header()
        top = TAB.top(lambda: [PhotoInput("Your photo", elem_id="aesthetic-photo")])
        TAB.examples(top.inputs, EXAMPLES)
        ...  # the tab's own outputs
        numbers = TAB.numbers()
        panel = ExplanationPanel.build(..., key=TAB.key)
        TAB.wire(run=rate, button=top.button, inputs=top.inputs,
                 outputs=[top.verdict, numbers, ...], cleared=cleared, panel=panel,
                 make_request=make_request)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from demos import styling
from demos.common import friendly_errors
from demos.freshness import clear_on_change, fresh_only

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
"""The tabs' example photos; `examples/README.md` records each one's source and licence."""


@dataclass(frozen=True)
class Top:
    """The components `TabSkeleton.top` made: the inputs (as the slot returned them), the
    action button, the verdict card, and what the other two slots returned (None when
    unused)."""

    inputs: list
    button: gr.Button
    verdict: gr.HTML
    below_button: Any = None
    beside_verdict: Any = None


@dataclass(frozen=True)
class Picker:
    """A step after each successful action that fills a picker (the panel's target, or another
    dropdown) from a State the action returned: `fill(state) -> gr.Dropdown update`."""

    fill: Callable[[Any], Any]
    state: gr.State
    target: Any


@dataclass(frozen=True)
class TabSkeleton:
    """What a judging tab says about itself; its methods build the parts every tab shares.

    Attributes:
        key: the tab's KEY: the action's api_name and the prefix of every elem_id.
        scope_name: what the action's outputs are, for `demos.freshness` ("rating"); the
            ledger scope (`scope`) is f"{key} {scope_name}".
        intro: the Markdown above everything.
        action_label: the action button's text ("Rate").
        empty_verdict: the verdict card before any result (`styling.empty_card`).
        numbers_label: the label of the JSON under "The numbers", which names the action's
            output in the API ("Rating" -> `rating`).
        examples_label: the examples' heading, with their sources and licences.
        action_id: the button's elem_id after the key (f"{key}-{action_id}"); None: the
            label's first word, lowered ("Check my feed" -> "check").
        verdict_label: the verdict card's label, its output's name in the API.
        verdict_css: the card's CSS (`styling.CARD_CSS`, plus the tab's own).
    """

    key: str
    scope_name: str
    intro: str
    action_label: str
    empty_verdict: str
    numbers_label: str
    examples_label: str
    action_id: str | None = None
    verdict_label: str = "Verdict"
    verdict_css: str = styling.CARD_CSS

    @property
    def scope(self) -> str:
        """The `demos.freshness` scope of the action's outputs and the inputs they come from."""
        return f"{self.key} {self.scope_name}"

    # === The action ===

    def action(self, inputs: int, outputs: int) -> Callable:
        """Decorate the tab's action handler, whose first `inputs` arguments are the tab's
        inputs and which fills `outputs` outputs: refusals reach the user as one line
        (`friendly_errors`), and its answer lands only while the page still shows the inputs
        it was computed from (`fresh_only` on `scope`). The handler keeps its signature (the
        API's parameter names); its `shape`, (inputs, outputs), lets `wire` check the counts
        against the components it is given."""
        def decorate(handler: Callable) -> Callable:
            wrapped = friendly_errors(fresh_only(self.scope, count=inputs,
                                                 outputs=outputs)(handler))
            wrapped.shape = (inputs, outputs)
            return wrapped

        return decorate

    # === The layout ===

    def header(self) -> gr.Markdown:
        """The intro, first on the tab."""
        return gr.Markdown(self.intro, elem_id=f"{self.key}-intro")

    def readiness_note(self) -> gr.Markdown:
        """The line that says, before any click, why the tab cannot work on this machine now
        (hidden while it can); `readiness` fills it."""
        return gr.Markdown(visible=False, elem_id=f"{self.key}-not-ready",
                           elem_classes=["tab-not-ready"])

    def readiness(self, note: gr.Markdown, missing: Callable[[], str | None],
                  buttons: Sequence[gr.Button]) -> tuple:
        """The refresher (fn, inputs, outputs) that, on page load and when the tab is
        selected, asks `missing()` (a one-line reason, or None when the tab can work; it must
        only look, never load) and shows the reason in `note` with `buttons` off, or hides the
        note with them on. Weights pulled while the app runs switch the tab on."""
        def refresh():
            reason = missing()
            return (gr.Markdown(reason or "", visible=bool(reason)),
                    *(gr.Button(interactive=not reason) for _ in buttons))

        return refresh, [], [note, *buttons]

    def button(self, **options) -> gr.Button:
        """The action button (`options`: more gr.Button settings, e.g. scale)."""
        action_id = self.action_id or self.action_label.split()[0].lower()
        return gr.Button(self.action_label, variant="primary", size="lg",
                         elem_id=f"{self.key}-{action_id}", **options)

    def verdict(self) -> gr.HTML:
        """The verdict card, empty until the action fills it."""
        # js_on_load=None: gr.HTML's default script would turn clicks on the card into events.
        return gr.HTML(self.empty_verdict, label=self.verdict_label, css_template=self.verdict_css,
                       js_on_load=None, elem_id=f"{self.key}-verdict")

    def top(self, inputs: Callable[[], Sequence], *,
            below_button: Callable[[], Any] | None = None,
            beside_verdict: Callable[[], Any] | None = None) -> Top:
        """Two columns: the inputs (`inputs()` adds them and returns the action's input
        components, in its parameters' order), the button and `below_button()`; and the
        verdict card with `beside_verdict()` under it."""
        with gr.Row():
            with gr.Column(scale=2, min_width=320):
                made = list(inputs())
                button = self.button()
                below = below_button() if below_button is not None else None
            with gr.Column(scale=2, min_width=320):
                verdict = self.verdict()
                beside = beside_verdict() if beside_verdict is not None else None
        return Top(made, button, verdict, below, beside)

    def examples(self, inputs: Sequence, examples: Sequence[Sequence]) -> gr.Examples:
        """The example inputs, which fill `inputs` when picked (a private helper, not an action).

        Args:
            inputs: the components an example fills.
            examples: one (*values, label) per example, a value for each input; a string value
                is a file's path relative to EXAMPLES_DIR (or absolute), a list of them several
                files, and anything else is passed as it is.
        """
        def located(value):
            if isinstance(value, str):
                return str(EXAMPLES_DIR / value)
            if isinstance(value, (list, tuple)):
                return [located(item) for item in value]
            return value

        rows = [[located(value) for value in example[:-1]] for example in examples]
        _EXAMPLES[self.key] = (list(inputs), rows)  # for `wire`: explained ahead
        return gr.Examples(
            examples=rows,
            example_labels=[example[-1] for example in examples], inputs=list(inputs),
            label=self.examples_label, cache_examples=False, api_name=f"{self.key}_example",
            elem_id=f"{self.key}-examples",
            api_visibility="private",  # a helper that fills the inputs, not an action of the tab
        )

    def numbers(self) -> gr.JSON:
        """The result's numbers as JSON, in a closed "The numbers" accordion."""
        with gr.Accordion("The numbers", open=False):
            return gr.JSON(label=self.numbers_label, elem_id=f"{self.key}-numbers")

    # === The events ===

    def wire(self, *, run: Callable, button: gr.Button, inputs: Sequence, outputs: Sequence,
             cleared: Callable[[], tuple], panel, make_request: Callable,
             panel_inputs: Sequence | None = None, picker: Picker | None = None):
        """Connect the tab: the action, the explanation panel, and the clearing.

        - The button runs `run` (decorated with `action`) on `inputs` into `outputs`, as the
          public endpoint `key`.
        - The panel explains requests made by `make_request` from `panel_inputs` (default:
          `inputs`); `picker` fills a picker after each successful action.
        - When one of `inputs` changes, `outputs` go back to `cleared()`; when one of
          `panel_inputs` (or the panel's target) changes, the maps go. Both compare values, so
          a change bringing what is already shown clears nothing (`demos.freshness`).

        Returns:
            The action's event, for more steps after it.

        Raises:
            ValueError: `run`'s `action` counts differ from `inputs` and `outputs`, which would
                leave an input out of what decides whether a result is still current.
        """
        inputs, outputs = list(inputs), list(outputs)
        panel_inputs = list(panel_inputs) if panel_inputs is not None else inputs
        shape = getattr(run, "shape", None)
        if shape is not None and shape != (len(inputs), len(outputs)):
            raise ValueError(f"{self.key}: {run.__name__} is declared for {shape[0]} inputs "
                             f"and {shape[1]} outputs, but wired to {len(inputs)} and "
                             f"{len(outputs)}")
        event = button.click(run, inputs=inputs, outputs=outputs, api_name=self.key)
        panel.wire(panel_inputs, make_request)
        if picker is not None:
            event.success(picker.fill, inputs=picker.state, outputs=picker.target, queue=False,
                          show_progress="hidden", api_visibility="private")
        panel.clear_on([component.change for component in panel_inputs])
        self._explain_examples_ahead(panel, make_request, panel_inputs)
        clear_on_change([component.change for component in inputs], inputs, outputs, cleared,
                        self.scope)
        return event

    def _explain_examples_ahead(self, panel, make_request: Callable, panel_inputs: list) -> None:
        """Register the examples with `demos.ahead`, one value per panel input: the example's
        where it fills that input, else the input's value when the page opens (what a click
        with nothing else changed sends). Examples that fill none of the panel's inputs (a
        feed, when the panel explains one picked photo) are not explained ahead."""
        from demos import ahead

        example_inputs, rows = _EXAMPLES.get(self.key, ([], []))
        filled = [next((i for i, c in enumerate(example_inputs) if c is component), None)
                  for component in panel_inputs]
        if not rows or all(index is None for index in filled):
            return
        ahead.register(panel, make_request, [
            [row[index] if index is not None else component.value
             for index, component in zip(filled, panel_inputs, strict=True)]
            for row in rows])


_EXAMPLES: dict[str, tuple[list, list]] = {}
"""Each tab's example inputs and rows (`TabSkeleton.examples`), by its key."""
