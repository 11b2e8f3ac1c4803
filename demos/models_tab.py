"""The Models tab: every artifact in the manifest, its status on this machine, and a pull button."""

from __future__ import annotations

import os

import gradio as gr

import weights
from demos.common import DropdownInput, friendly_errors
from demos.fields import OneOf
from weights import prefetch
from weights.report import artifact_rows

KEY = "models"
TITLE = "Models"

HEADERS = ["Artifact", "Status", "Used by", "Size", "Licence", "Source", "Revision", "What it is"]
_STATUS_BADGES = {
    weights.OVERRIDE: "ready (local override)",
    weights.SHIPPED: "ready (shipped)",
    weights.CACHED: "ready (cached)",
    weights.INSTALLED: "ready (installed)",
    weights.MISSING: "missing",
}


PROGRESS_SECONDS = 1.0
"""How often the table is re-read while a background download runs."""


def _status(name: str, status: str) -> str:
    """The Status cell: where the artifact is, or how its background download is doing."""
    arrival = prefetch.arrival(name)
    if status == weights.MISSING and arrival is not None and arrival.state != prefetch.ARRIVED:
        return f"missing, {arrival.describe()}" if arrival.state == prefetch.FAILED \
            else f"arriving: {arrival.describe()}"
    return _STATUS_BADGES.get(status, status)


def table_rows() -> list[list[str]]:
    """One row per manifest artifact, as the table shows it."""
    return [
        [r.name, _status(r.name, r.status), r.used_by, r.size, r.licence, r.source, r.revision,
         r.title]
        for r in artifact_rows()
    ]


DOCS = (("what each artifact is, where it comes from and its licence", "docs/weights.md"),
        ("how to read the maps", "README.md#how-to-read-the-maps"),
        ("all the documentation", "docs/"))
"""The documentation pages the tab points to, as (what, path in the repository)."""


def docs_note() -> str:
    """Where the documentation is. On a Hugging Face Space (`SPACE_ID`), links to the Space's
    own copy of the files; elsewhere the app has no address for them, so the note names the
    files in the InstaVis folder instead."""
    space = os.environ.get("SPACE_ID", "").strip()
    if space:
        links = []
        for what, path in DOCS:
            kind = "tree" if path.endswith("/") else "blob"
            links.append(f"[{what}](https://huggingface.co/spaces/{space}/{kind}/main/{path})")
        return "Documentation: " + " · ".join(links) + "."
    return "Documentation, in the InstaVis folder: " + "; ".join(
        f"{what}: `{path}`" for what, path in DOCS) + "."


def downloading() -> bool:
    """Whether a background download is still on its way (the table then updates itself)."""
    return any(arrival.pending for arrival in prefetch.arrivals().values())


def hub_artifacts() -> tuple[str, ...]:
    """Every manifest artifact that comes from the Hub: what the pull endpoint accepts."""
    return tuple(name for name, artifact in weights.artifacts().items()
                 if artifact.source.startswith("hf://"))


def artifact_field() -> OneOf:
    """The pull endpoint's `artifact`: one of the Hub artifacts (one already here is a no-op)."""
    return OneOf("artifact", hub_artifacts(), required=True)


def pullable() -> list[str]:
    """Hub artifacts that are not on this machine yet."""
    return [r.name for r in artifact_rows()
            if r.status == weights.MISSING and r.source.startswith("hf://")]


def network_note() -> str:
    """How many artifacts are here, and whether this process may download."""
    rows = artifact_rows()
    missing = sum(r.status == weights.MISSING for r in rows)
    present = f"{len(rows) - missing} of {len(rows)} artifacts are on this machine."
    if weights.is_offline():
        return (f"{present} **Offline** ({weights.offline_reason()}): InstaVis uses only what is "
                "here and downloads nothing; tabs whose weights are missing say so.")
    pending = [a for a in prefetch.arrivals().values() if a.pending]
    if pending:
        return (f"{present} **Online**, downloading in the background: "
                + "; ".join(f"{a.name} ({a.describe()})" for a in pending)
                + ". The tabs that need them work without them until they arrive.")
    return (f"{present} **Online**: pull a missing artifact below, or run "
            "`python -m weights pull` in a terminal.")


@friendly_errors
def pull_artifact(artifact, progress=gr.Progress(track_tqdm=True)):
    """Download one artifact from the Hugging Face Hub (an artifact already here is left as it
    is). Returns a one-line result (Markdown) and the artifacts table, refreshed."""
    name = artifact_field().check(artifact)
    if weights.is_offline():
        raise gr.Error(
            # A toast shows its text as it is: no Markdown here.
            f"Can't pull '{name}': InstaVis is offline ({weights.offline_reason()}). Restart "
            f"without it, or run 'python -m weights pull {name}' on a machine that reaches the "
            "Hugging Face Hub.",
            print_exception=False,
        )
    progress(0, desc=f"Downloading {name}")
    try:
        folder, fetched = weights.pull(name)
    except weights.WeightsUnavailable as error:
        # The user already asked to pull, so "run pull" would be no help: say why it failed.
        reason = error.tried[-1] if error.tried else str(error)
        raise gr.Error(
            f"Couldn't pull '{name}': {reason}. Check this machine's connection to the Hugging "
            f"Face Hub, or copy the files into $INSTAVIS_WEIGHTS_DIR/{name}/.",
            print_exception=False,
        ) from None
    verb = "Downloaded" if fetched else "Already present:"
    return f"{verb} **{name}** at `{folder}`.", table_rows()


@friendly_errors
def status() -> tuple[list[list[str]], str]:
    """Every artifact's status on this machine, read afresh (the table), and the summary
    above it."""
    return table_rows(), network_note()


def refresh_choice(current=None):
    """The picker with the Hub artifacts still missing here, keeping its pick while that is
    still missing (else the first missing one, as on a fresh page)."""
    missing = pullable()
    value = current if current in missing else (missing[0] if missing else None)
    return gr.Dropdown(choices=missing, value=value)


def refresh_after_pull(current=None):
    """The picker and the summary, after a pull (or a failed one)."""
    return refresh_choice(current), network_note()


def refresh(current=None):
    """The whole tab read afresh: table, picker, summary, and the progress timer, ticking
    only while a background download is on its way."""
    return (table_rows(), refresh_choice(current), network_note(),
            gr.Timer(active=downloading()))


def progress_tick():
    """The table and summary during a background download; the timer stops once none is
    left."""
    return table_rows(), network_note(), gr.Timer(active=downloading())


def build() -> list:
    """Add the Models tab's components to the current Blocks.

    Returns:
        The tab's refresher (fn, inputs, outputs), which the app runs privately on page load
        and when the tab is selected, so a page shows what is on this machine now.
    """
    gr.Markdown(
        "Every model InstaVis can load, where it comes from and whether it is on this machine. "
        "Weights are looked for in `$INSTAVIS_WEIGHTS_DIR`, then in the files shipped with "
        "InstaVis, then in the Hugging Face cache; only then are they downloaded."
    )
    gr.Markdown(docs_note(), elem_id="models-docs")
    # Plain values, not callables: Gradio would make each callable a public /network_note or
    # /table_rows endpoint. The refresher reads them afresh on every page load instead.
    note = gr.Markdown(network_note(), label="Summary", elem_id="models-network")
    table = gr.Dataframe(
        value=table_rows(), headers=HEADERS, interactive=False, wrap=True,
        column_widths=["11%", "13%", "14%", "9%", "9%", "17%", "7%", "20%"],
        max_height=1000,  # every artifact at once, no inner scroll bar on a desktop screen
        elem_id="models-table", label="Artifacts",
    )
    with gr.Row():
        missing = pullable()
        # Checked by the handler, which accepts any Hub artifact: the picker's choices are
        # only what was missing when this page loaded.
        choice = DropdownInput(
            choices=missing, value=missing[0] if missing else None, label="Missing artifact",
            scale=3, info="Hub artifacts that are not on this machine yet",
            accepts=artifact_field().accepts,
        )
        with gr.Column(scale=1, min_width=180):
            pull_button = gr.Button("Pull from the Hub", variant="primary")
            refresh_button = gr.Button("Refresh", size="sm")
    message = gr.Markdown(label="Result", elem_id="models-message")
    # Background downloads start after the page is built, so the page's refresher switches
    # this on when one is running.
    timer = gr.Timer(PROGRESS_SECONDS, active=False)

    # The public events return plain values; the picker and summary follow in private steps,
    # so an API client gets the result and the table, not Gradio updates.
    after = {"queue": False, "show_progress": "hidden", "api_visibility": "private"}
    # A refused or failed pull marks only the message: the table stays readable.
    pull_button.click(pull_artifact, inputs=choice, outputs=[message, table],
                      api_name=KEY, concurrency_limit=1, show_progress_on=[message]
                      ).then(refresh_after_pull, inputs=choice, outputs=[choice, note],
                             **after)
    refresh_button.click(status, outputs=[table, note], api_name=f"{KEY}_refresh"
                         ).then(refresh_choice, inputs=choice, outputs=choice, **after)
    timer.tick(progress_tick, outputs=[table, note, timer], queue=False,
               show_progress="hidden", api_visibility="private")
    return [(refresh, [choice], [table, choice, note, timer])]
