"""The Aesthetic tab: how good is this photo, and what makes it so?

UI only. The rating is `models.aesthetic`, the chart `demos.figures.aesthetic`. Both are
imported on first use, not here, so building the app loads no TensorFlow, no CLIP and no SHAP.
"""

from __future__ import annotations

import gradio as gr

from demos import styling
from demos.common import PhotoInput, read_upload
from demos.explain_panel import ExplanationPanel, gradcam_unavailable_for
from demos.explain_runs import ExplainRequest
from demos.fields import OneOf
from demos.progress import SteadyProgress
from demos.tab_skeleton import EXAMPLES_DIR as EXAMPLES_DIR  # where EXAMPLES are, for callers
from demos.tab_skeleton import TabSkeleton
from models.aesthetic.attributes import ATTRIBUTE_NAMES
from weights.prefetch import missing_advice

KEY = "aesthetic"
TITLE = "Aesthetic"

OUTPUTS = ("quality", "content")
"""What the explanation panel can explain; `models.aesthetic.OUTPUTS`, repeated here so that
importing the tab does not import the model module (a test checks the two agree)."""
TARGET_LABELS = {"quality": "technical quality", "content": "content aesthetics"}
TARGET = OneOf("target", OUTPUTS, default=OUTPUTS[0])
"""The explanation's `target`: both scores, whatever this machine has (content without the
CLIP weights is refused in its own words); None means quality."""

METHODS_UNAVAILABLE = gradcam_unavailable_for(["quality"])
"""Grad-CAM has no gradients to read in BRISQUE, the technical quality: not offered for it."""

EXAMPLES = (
    ("coffee.jpg", "A cup of coffee"),
    ("chelsea.jpg", "A cat"),
    ("flower.jpg", "A flower"),
    ("coffee_dark_blurry.jpg", "The coffee, blurred and dark"),
)
"""Photos from the packages' sample data: a cup of coffee, a cat, a flower and the coffee
spoiled."""

TABLE_HEADERS = ["Attribute", "Value", "Unit", "Score (0-1)", "What it means"]

INTRO = """\
### Is it a good photo?
Upload a photo and press **Rate**. InstaVis scores it from 1 to 10 and says which measurable
attributes (exposure, sharpness, composition and six more) raise or lower the score. Technical
quality is BRISQUE, a model of human quality ratings, and always runs on this computer; the
content score needs the CLIP weights (`python -m weights pull clip`)."""

CONTENT_MISSING = "needs CLIP weights"
"""What the content bar says when the rating has no content score."""

EMPTY_VERDICT = styling.empty_card("Pick an example below or upload a photo, then press "
                                   "<b>Rate</b>. The score appears here.")

TAB = TabSkeleton(
    key=KEY, scope_name="rating", intro=INTRO, action_label="Rate", empty_verdict=EMPTY_VERDICT,
    numbers_label="Rating",
    examples_label="Example photos (from scikit-image and scikit-learn: CC0 and CC BY 2.0)")
"""The parts of the tab every tab shares; the rating is derived from the photo alone."""


# === What the outputs show (pure functions of an AestheticRating) ===


REFERENCE_WORDS = "unedited photos that ship with scikit-image, scikit-learn and matplotlib"
"""What the reference photos are (`models.aesthetic.reference.REFERENCE_PHOTOS`)."""


def percentile_sentence(percentile: float, reference_size: int,
                        reference_range: tuple[float, float] | None = None) -> str:
    """"Scores higher than 5 of the 7 reference photos (...), which score 8.6 to 9.8": the
    percentile as the count it is, since the reference set is small, with the scores the
    reference photos span, so that "higher than 0 of the 7" under a high score reads as what
    it is: the reference photos score higher still."""
    beaten = round(percentile * reference_size / 100)
    span = ""
    if reference_range is not None:
        low, high = (shown_score(value) for value in reference_range)
        span = f", which score {low} to {high}" if low != high else f", which all score {low}"
    return (f"Scores higher than {beaten} of the {reference_size} reference photos "
            f"({REFERENCE_WORDS}){span}.")


SCORE_DIGITS = 1
"""Scores out of 10 are shown with one decimal, everywhere on the card."""
VERDICT_SCORE = 5.5
"""The verdict line on the 1-10 scale (`models.aesthetic.VERDICT_LINE` 0.5 is 1 + 9 x 0.5)."""


def shown_score(score: float) -> str:
    """A score out of 10 as the card shows it."""
    return f"{score:.{SCORE_DIGITS}f}"


def margin_words(score: float, aesthetic: bool) -> str:
    """How far the score is from the verdict line: "1.9 points above the 5.5 line". The
    distance is the difference of the two numbers shown (the score as rounded on the card), so
    it adds up; a score that rounds to the line is "just above" or "just below" it."""
    margin = round(float(shown_score(score)) - VERDICT_SCORE, SCORE_DIGITS)
    side = "above" if aesthetic else "below"
    if abs(margin) < 10 ** -SCORE_DIGITS / 2 or (margin >= 0) != aesthetic:
        return f"just {side} the {VERDICT_SCORE} line"
    return f"{abs(margin):.{SCORE_DIGITS}f} points {side} the {VERDICT_SCORE} line"


def brisque_words(brisque: float) -> str:
    """BRISQUE with the one thing its scale promises: lower is better. (LIVE's ratings run
    about 0 to 100, but a photo's BRISQUE can fall outside: sharp photos often score below 0.)"""
    return f"BRISQUE {brisque:.1f}; lower is better"


def verdict_html(rating) -> str:
    """The verdict card: the score out of 10, aesthetic or not with its distance from the
    verdict line, the percentile, the quality and content bars, and the rating's notes
    (escaped). Each number is stated once, in one rounding."""
    from models.aesthetic import QUALITY_SOURCE, REFERENCE_PHOTOS

    return styling.card(
        rating.aesthetic,
        styling.score_line(rating.score, 10, digits=SCORE_DIGITS),
        styling.headline("Aesthetic" if rating.aesthetic else "Not aesthetic",
                         margin_words(rating.score, rating.aesthetic)),
        styling.sub_line(percentile_sentence(rating.percentile, len(REFERENCE_PHOTOS),
                                             rating.reference_range)),
        styling.meter("Technical quality", rating.quality,
                      f"{QUALITY_SOURCE} ({brisque_words(rating.brisque)})"),
        styling.meter("Content aesthetics", rating.content,
                      "what the photo shows and how, from CLIP (zero-shot)",
                      missing=CONTENT_MISSING),
        styling.notes_list(rating.notes),
    )


def summary(rating) -> dict:
    """The rating's numbers as plain JSON, for the API and the "numbers" accordion."""
    return {
        "score": rating.score,
        "aesthetic": rating.aesthetic,
        "margin": rating.margin,
        "quality": rating.quality,
        "brisque": rating.brisque,
        "content": rating.content,
        "content_source": rating.content_source,
        "percentile": rating.percentile,
        "reference_range": None if rating.reference_range is None else list(
            rating.reference_range),
        "notes": list(rating.notes),
    }


# === Events ===


@TAB.action(inputs=1, outputs=4)
def rate(photo, progress=gr.Progress()):
    """Rate a photo from 1 to 10. Returns the verdict card (HTML), the rating's numbers (JSON),
    the measured attributes (table) and the chart of what moves the score."""
    from demos.figures import aesthetic as aesthetic_figures
    from models import aesthetic

    image = read_upload(photo, "photo")
    # rate() measures the attributes and scores quality and content in one call; a slow first
    # run (loading the quality model, then CLIP) creeps the bar instead of freezing it.
    with SteadyProgress(progress) as bar:
        scoring = ("Scoring quality and content" if aesthetic.content_available()
                   else "Scoring quality")
        with bar.step(0.0, 0.6, f"Measuring attributes, {scoring[0].lower()}{scoring[1:]}"):
            rating = aesthetic.rate(image)
        with bar.step(0.6, 0.9, "Explaining attributes"):
            contributions = aesthetic.attribute_contributions(image, rating.attributes)
        with bar.step(0.9, 1.0, "Drawing the chart"):
            unmeasured = set(ATTRIBUTE_NAMES) - set(aesthetic.SURROGATE_ATTRIBUTES)
            chart = aesthetic_figures.contribution_chart(contributions,
                                                         fit_r2=aesthetic.surrogate_fit(),
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

    target = TARGET.check(target)
    image = read_upload(photo, "photo")
    if target == "content" and not aesthetic.content_available():
        raise gr.Error("There is no content score to explain: it needs the CLIP weights ("
                       f"{missing_advice('clip')}).", print_exception=False)
    setup = aesthetic.explanation_setup(image, target)
    return ExplainRequest(image=setup.photo, model=setup.models, target=target,
                          method_targets=setup.method_targets, note=setup.note,
                          target_label=TARGET_LABELS[target],
                          title=f"What in the photo drives its {TARGET_LABELS[target]}")


def cleared() -> tuple:
    """The rating's outputs with nothing rated: the empty card, no numbers, table or chart."""
    return EMPTY_VERDICT, None, None, None


def target_info(content: bool) -> str:
    """The target picker's hint: what can be explained on this machine now."""
    if content:
        return "What in the photo drives its technical quality, or its content score?"
    return ("Only technical quality here: the content score needs the CLIP weights "
            f"({missing_advice('clip')}).")


def refresh_targets(current: str | None):
    """The target picker for the weights on this machine now: content joins as soon as CLIP's
    weights arrive (pulled from the Models tab or another shell), with no restart."""
    from models import aesthetic

    content = aesthetic.content_available()
    value = current if current in OUTPUTS and (content or current != "content") else OUTPUTS[0]
    return gr.Dropdown(choices=targets(content), value=value, info=target_info(content))


def build() -> list:
    """Add the Aesthetic tab's components to the current Blocks.

    Returns:
        The tab's refreshers, (fn, inputs, outputs) each, which the app runs on page load and
        when the tab is selected: they bring the panel up to date with the weights here now.
    """
    from models import aesthetic  # light at import; needed for what this machine can offer

    TAB.header()
    top = TAB.top(lambda: [PhotoInput("Your photo", height=360, elem_id="aesthetic-photo")])
    TAB.examples(top.inputs, EXAMPLES)
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
    numbers = TAB.numbers()

    content = aesthetic.content_available()
    panel = ExplanationPanel.build(
        # LIME first: Grad-CAM cannot explain technical quality (BRISQUE is no network).
        methods=("gradcam", "lime", "shap"), default=("lime",), key=KEY,
        # BRISQUE takes ~50 ms a 512-pixel photo on 2 cores, one photo at a time: 200 LIME
        # samples took 12 s, over the 10 s budget; 120 keep a map within it.
        budgets={"lime": 120, "shap": 120},
        # Both scores are valid on the server (content may arrive while the app runs; a request
        # for it without CLIP gets one line); the refresher narrows what the page offers.
        targets=targets(True), target_value=OUTPUTS[0], target_label="Explain which score",
        target_info=target_info(content),
        label="Why? What in the photo drives each score",
        unavailable=METHODS_UNAVAILABLE(OUTPUTS[0]),
    )
    follow_target = panel.follow_target(METHODS_UNAVAILABLE)
    # A new photo (an upload, an example, the clear button) voids every result derived from
    # the old one.
    TAB.wire(run=rate, button=top.button, inputs=top.inputs,
             outputs=[top.verdict, numbers, table, chart], cleared=cleared, panel=panel,
             make_request=make_request)
    return [(refresh_targets, [panel.target], [panel.target]), follow_target]
