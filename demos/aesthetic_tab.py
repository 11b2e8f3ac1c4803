"""The Aesthetic tab: how good is this photo, and what makes it so?

UI only. The rating is `models.aesthetic`, the chart `models.aesthetic_drawing`. Both are
imported on first use, not here, so building the app loads no TensorFlow, no CLIP and no SHAP.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import gradio as gr

from demos.common import PhotoInput, friendly_errors, read_upload
from demos.explain_panel import ExplainRequest, ExplanationPanel
from models.attributes import ATTRIBUTE_NAMES

KEY = "aesthetic"
TITLE = "Aesthetic"

OUTPUTS = ("quality", "content")
"""What the explanation panel can explain; `models.aesthetic.OUTPUTS`, repeated here so that
importing the tab does not import the model module (a test checks the two agree)."""
TARGET_LABELS = {"quality": "technical quality", "content": "content aesthetics"}

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
EXAMPLES = (
    ("coffee.jpg", "A cup of coffee"),
    ("chelsea.jpg", "A cat"),
    ("flower.jpg", "A flower"),
    ("coffee_dark_blurry.jpg", "The coffee, blurred and dark"),
)
"""Photos the quality model never trained on (it scores its own training photos too kindly)."""

TABLE_HEADERS = ["Attribute", "Value", "Unit", "Score (0-1)", "What it means"]

INTRO = """\
### Is it a good photo?
Upload a photo and press **Rate**. InstaVis scores it from 1 to 10 and says which measurable
attributes (exposure, sharpness, composition and six more) raise or lower the score. The
technical quality model always runs on this computer; the content score needs the CLIP weights
(`python -m weights pull clip`)."""

CONTENT_MISSING = "needs CLIP weights"
"""What the content bar says when the rating has no content score."""

VERDICT_CSS = """
.aes-verdict { padding: 14px 18px; border-radius: 12px; color: var(--body-text-color);
  border: 1px solid var(--border-color-primary); background: var(--block-background-fill); }
.aes-verdict.yes { border-color: #22aa54; box-shadow: inset 6px 0 0 #22aa54; }
.aes-verdict.no { border-color: #dc3232; box-shadow: inset 6px 0 0 #dc3232; }
.aes-verdict.empty { color: var(--body-text-color-subdued); box-shadow: none; }
.aes-score { font-size: 2.6em; font-weight: 800; line-height: 1.1; margin: 0 0 2px 6px;
  font-variant-numeric: tabular-nums; }
.aes-score small { font-size: 0.45em; font-weight: 600; color: var(--body-text-color-subdued); }
.aes-label { font-size: 1.35em; font-weight: 700; margin: 0 0 2px 6px; }
.aes-verdict.yes .aes-label { color: #22aa54; }
.aes-verdict.no .aes-label { color: #dc3232; }
.aes-label small { font-size: 0.7em; font-weight: 500; color: var(--body-text-color-subdued); }
.aes-sub { margin: 0 0 10px 6px; color: var(--body-text-color-subdued); }
.aes-meter { margin: 10px 0 0 6px; }
.aes-meter-top { display: flex; justify-content: space-between; font-size: 0.95em; }
.aes-meter-top b { font-variant-numeric: tabular-nums; }
.aes-track { position: relative; height: 12px; border-radius: 6px; margin-top: 4px;
  background: var(--background-fill-secondary); border: 1px solid var(--border-color-primary); }
.aes-fill { position: absolute; left: 0; top: 0; bottom: 0; border-radius: 6px;
  background: #8b5cf6; }
.aes-meter-note { font-size: 0.8em; color: var(--body-text-color-subdued); margin-top: 2px; }
.aes-notes { margin: 12px 0 0 6px; padding-left: 1.2em; font-size: 0.9em; }
.aes-notes li { margin: 2px 0; }
"""

EMPTY_VERDICT = ('<div class="aes-verdict empty">Pick an example below or upload a photo, then '
                 "press <b>Rate</b>. The score appears here.</div>")


# === What the outputs show (pure functions of an AestheticRating) ===


def _meter(label: str, value: float | None, note: str) -> str:
    """One labelled 0..1 bar; a missing value shows `CONTENT_MISSING` and an empty track."""
    if value is None:
        shown, fill = CONTENT_MISSING, ""
    else:
        shown = f"{value:.2f}"
        fill = f'<div class="aes-fill" style="width:{100 * min(max(value, 0.0), 1.0):.1f}%">' \
               "</div>"
    return (f'<div class="aes-meter"><div class="aes-meter-top"><span>{label}</span>'
            f"<b>{html.escape(shown)}</b></div>"
            f'<div class="aes-track">{fill}</div>'
            f'<div class="aes-meter-note">{note}</div></div>')


def percentile_sentence(percentile: float) -> str:
    """"better than 62% of the reference photos", rounded to a whole percent."""
    return f"Better than {round(percentile):d}% of the reference photos."


def _note_html(note: str) -> str:
    """A note, escaped, with `command` spans shown as code (the notes name commands that way)."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(note))


def verdict_html(rating) -> str:
    """The verdict card: the score out of 10, aesthetic or not with its confidence, the
    percentile, the quality and content bars, and the rating's notes (escaped)."""
    label = "Aesthetic" if rating.aesthetic else "Not aesthetic"
    items = "".join(f"<li>{_note_html(note)}</li>" for note in rating.notes)
    return (
        f'<div class="aes-verdict {"yes" if rating.aesthetic else "no"}">'
        f'<div class="aes-score">{rating.score:.1f} <small>/ 10</small></div>'
        f'<div class="aes-label">{label} '
        f"<small>({round(100 * rating.confidence):d}% confident)</small></div>"
        f'<div class="aes-sub">{percentile_sentence(rating.percentile)}</div>'
        + _meter("Technical quality", rating.quality,
                 "sharpness, noise and colour fidelity, from the on-device quality model")
        + _meter("Content aesthetics", rating.content,
                 "what the photo shows and how, from CLIP (zero-shot)")
        + (f'<ul class="aes-notes">{items}</ul>' if items else "")
        + "</div>"
    )


def summary(rating) -> dict:
    """The rating's numbers as plain JSON, for the API and the "numbers" accordion."""
    return {
        "score": rating.score,
        "aesthetic": rating.aesthetic,
        "confidence": rating.confidence,
        "quality": rating.quality,
        "content": rating.content,
        "content_source": rating.content_source,
        "percentile": rating.percentile,
        "notes": list(rating.notes),
    }


# === Events ===


@friendly_errors
def rate(photo, progress=gr.Progress()):
    """Rate a photo: verdict card, numbers, attribute table and the SHAP chart."""
    from models import aesthetic, aesthetic_drawing

    image = read_upload(photo, "photo")
    # rate() measures the attributes and scores quality and content in one call; the steps
    # are announced before it in its own order, so a slow first run (loading the quality
    # model, then CLIP) is not a silent bar.
    progress(0.0, desc="Measuring attributes")
    progress(0.1, desc="Scoring quality")
    if aesthetic.content_available():
        progress(0.2, desc="Scoring content")
    rating = aesthetic.rate(image)
    progress(0.6, desc="Explaining attributes")
    contributions = aesthetic.attribute_contributions(image, rating.attributes)
    unmeasured = set(ATTRIBUTE_NAMES) - set(aesthetic.SURROGATE_ATTRIBUTES)
    chart = aesthetic_drawing.contribution_chart(contributions, fit_r2=aesthetic.surrogate_fit(),
                                                 unmeasured=unmeasured)
    return verdict_html(rating), summary(rating), rating.attributes.as_rows(), chart


def targets(content: bool) -> list[tuple[str, str]]:
    """The panel's target choices: content only when the CLIP weights are here."""
    return [(TARGET_LABELS[t], t) for t in OUTPUTS if content or t != "content"]


def make_request(photo, target=None) -> ExplainRequest:
    """What the explanation panel explains: the photo, scored by its quality or content.

    Args:
        photo: the upload.
        target: "quality" or "content" (None: quality).
    """
    from models import aesthetic

    image = read_upload(photo, "photo")
    target = target or OUTPUTS[0]
    if target not in OUTPUTS:
        raise gr.Error(f"Pick one of {', '.join(OUTPUTS)} to explain.", print_exception=False)
    if target == "content" and not aesthetic.content_available():
        raise gr.Error("There is no content score to explain: it needs the CLIP weights "
                       "(python -m weights pull clip).", print_exception=False)
    models = aesthetic.explanation_models(image, target)
    return ExplainRequest(image=image, model=models, target=target,
                          title=f"What in the photo drives its {TARGET_LABELS[target]}")


def build() -> None:
    """Add the Aesthetic tab's components to the current Blocks."""
    from models import aesthetic  # light at import; needed for what this machine can offer

    gr.Markdown(INTRO, elem_id="aesthetic-intro")
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            photo = PhotoInput("Your photo", height=360, elem_id="aesthetic-photo")
            button = gr.Button("Rate", variant="primary", size="lg", elem_id="aesthetic-rate")
        with gr.Column(scale=2, min_width=320):
            verdict = gr.HTML(EMPTY_VERDICT, label="Verdict", css_template=VERDICT_CSS,
                              js_on_load=None, elem_id="aesthetic-verdict")
    gr.Examples(
        examples=[[str(EXAMPLES_DIR / name)] for name, _ in EXAMPLES],
        example_labels=[label for _, label in EXAMPLES], inputs=[photo],
        label="Example photos (from scikit-image and scikit-learn: CC0 and CC BY 2.0)",
        cache_examples=False, api_name=f"{KEY}_example", elem_id="aesthetic-examples",
    )
    with gr.Row():
        with gr.Column(scale=3, min_width=360):
            table = gr.Dataframe(headers=TABLE_HEADERS, datatype=["str"] * 5,
                                 interactive=False, wrap=True, label="Attributes",
                                 column_widths=["19%", "11%", "22%", "12%", "36%"],
                                 max_height=720,  # all nine rows, no inner scroll bar
                                 elem_id="aesthetic-attributes")
        with gr.Column(scale=3, min_width=360):
            # The figure has its own title; Gradio's label badge would sit on top of it.
            chart = gr.Plot(label="What moves the score", show_label=False, format="png",
                            elem_id="aesthetic-chart")
    with gr.Accordion("The numbers", open=False):
        numbers = gr.JSON(label="Rating", elem_id="aesthetic-numbers")

    button.click(rate, inputs=[photo], outputs=[verdict, numbers, table, chart], api_name=KEY)

    content = aesthetic.content_available()
    panel = ExplanationPanel.build(
        methods=("gradcam", "lime", "shap"), default=("gradcam",), key=KEY,
        targets=targets(content), target_value=OUTPUTS[0], target_label="Explain which score",
        target_info=("What in the photo drives its technical quality, or its content score?"
                     if content else "Only technical quality here: the content score needs "
                     "the CLIP weights (python -m weights pull clip)."),
        label="Why? What in the photo drives each score",
    )
    panel.wire([photo], make_request)
