"""The Models tab: every artifact in the manifest, its status on this machine, and a pull button."""

from __future__ import annotations

import gradio as gr

import weights
from demos.common import friendly_errors
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


def table_rows() -> list[list[str]]:
    """One row per manifest artifact, as the table shows it."""
    return [
        [r.name, _STATUS_BADGES.get(r.status, r.status), r.used_by, r.size, r.licence,
         r.source, r.revision, r.title]
        for r in artifact_rows()
    ]


def pullable() -> list[str]:
    """Hub artifacts that are not on this machine yet."""
    return [r.name for r in artifact_rows()
            if r.status == weights.MISSING and r.source.startswith("hf://")]


def network_note() -> str:
    rows = artifact_rows()
    missing = sum(r.status == weights.MISSING for r in rows)
    present = f"{len(rows) - missing} of {len(rows)} artifacts are on this machine."
    if weights.is_offline():
        return (f"{present} **Offline** ({weights.offline_reason()}): InstaVis uses only what is "
                "here and downloads nothing; tabs whose weights are missing say so.")
    return (f"{present} **Online**: pull a missing artifact below, or run "
            "`python -m weights pull` in a terminal.")


@friendly_errors
def pull_artifact(name: str | None, progress=gr.Progress(track_tqdm=True)):
    """Fetch one artifact from the Hub; returns a message, the refreshed table and choices."""
    if not name:
        raise gr.Error("Pick an artifact to pull first.", print_exception=False)
    if weights.is_offline():
        raise gr.Error(
            f"Can't pull '{name}': InstaVis is offline ({weights.offline_reason()}). Restart "
            f"without it, or run `python -m weights pull {name}` on a machine that reaches the "
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
    return (f"{verb} **{name}** at `{folder}`.", table_rows(),
            gr.update(choices=pullable(), value=None))


def refresh():
    return table_rows(), gr.update(choices=pullable(), value=None), network_note()


def build() -> None:
    """Add the Models tab's components to the current Blocks."""
    gr.Markdown(
        "Every model InstaVis can load, where it comes from and whether it is on this machine. "
        "Weights are looked for in `$INSTAVIS_WEIGHTS_DIR`, then in the files shipped with "
        "InstaVis, then in the Hugging Face cache; only then are they downloaded."
    )
    note = gr.Markdown(network_note, elem_id="models-network")
    table = gr.Dataframe(
        value=table_rows, headers=HEADERS, interactive=False, wrap=True,
        column_widths=["11%", "13%", "14%", "9%", "9%", "17%", "7%", "20%"],
        elem_id="models-table", label="Artifacts",
    )
    with gr.Row():
        missing = pullable()
        choice = gr.Dropdown(
            choices=missing, value=missing[0] if missing else None, label="Missing artifact",
            scale=3, info="Hub artifacts that are not on this machine yet",
        )
        with gr.Column(scale=1, min_width=180):
            pull_button = gr.Button("Pull from the Hub", variant="primary")
            refresh_button = gr.Button("Refresh", size="sm")
    message = gr.Markdown(elem_id="models-message")

    pull_button.click(pull_artifact, inputs=choice, outputs=[message, table, choice],
                      api_name=KEY, concurrency_limit=1)
    refresh_button.click(refresh, outputs=[table, choice, note], api_name=f"{KEY}_refresh")
