"""The Style tab: which fashion style is this outfit, where does the model see it, and a
leaderboard of shared results.

UI only. The classifier is `models.style`, the charts `demos.figures.style`, the leaderboard
`store.leaderboard`; all are imported on first use, so building the app loads no TensorFlow and
opens no database.
"""

from __future__ import annotations

import html

import gradio as gr

from demos import styling
from demos.clients import client_of
from demos.common import (
    DropdownInput,
    NumberInput,
    PhotoInput,
    TextInput,
    friendly_errors,
    read_upload,
)
from demos.explain_panel import ExplanationPanel
from demos.explain_runs import ExplainRequest
from demos.fields import InvalidField, OneOf, WholeNumber
from demos.progress import SteadyProgress
from demos.tab_skeleton import EXAMPLES_DIR as EXAMPLES_DIR  # where EXAMPLES are, for callers
from demos.tab_skeleton import Picker, TabSkeleton

KEY = "style"
TITLE = "Style"

CUSTOM = "custom"
DEFAULT = "default"
"""The best classifier here: a trained one with its own styles, else CLIP on the 8 everyday."""
LABEL_SET_CHOICES = (("Best here (a trained classifier, else 8 everyday styles)", DEFAULT),
                     ("8 everyday styles", "everyday"),
                     ("FashionStyle14 (14 styles)", "fashionstyle14"),
                     ("Your own labels", CUSTOM))
LABEL_SET = OneOf("label_set", tuple(value for _, value in LABEL_SET_CHOICES), default=DEFAULT)
LABELS_ACCEPTS = ("your own style names, separated by commas (2 to 30, each 1 to 40 "
                  "characters), used when label_set is 'custom'")
ENTRY_ID = WholeNumber("entry_id", 1, 2**63 - 1)
ALL_STYLES = "all styles"
MAX_TARGET_CHARS = 40


def _shipped_styles() -> tuple[str, ...]:
    from models.style.labels import label_sets

    return tuple(dict.fromkeys(label for s in label_sets().values() for label in s.labels))


STYLE_FILTER = OneOf("style", (ALL_STYLES, *_shipped_styles()), default=ALL_STYLES)
"""The leaderboard's filter: every style, or one style of the shipped sets."""

EXAMPLES = (
    ("astronaut.jpg", "The astronaut"),
    ("grace_hopper.jpg", "Grace Hopper"),
    ("camera.jpg", "The cameraman"),
    ("coffee.jpg", "No person: a coffee"),
)

INTRO = """\
### What is my style?
Upload a photo of a person and press **Classify**. InstaVis finds the person, crops to them and
names the fashion style of the outfit, with every style's probability. Below, see where the
model looks for any style, and share your result on the leaderboard. It needs the CLIP weights
(`python -m weights pull clip`) or a classifier you trained
(`python -m models.train style --data DIR --backbone clip|vgg16`)."""

EMPTY_VERDICT = styling.empty_card("Pick an example below or upload a photo, then press "
                                   "<b>Classify</b>. The style appears here.")

TAB = TabSkeleton(
    key=KEY, scope_name="classification", intro=INTRO, action_label="Classify",
    empty_verdict=EMPTY_VERDICT, numbers_label="Result",
    examples_label="Example photos (scikit-image, matplotlib: public domain and CC0)")
"""The parts of the tab every tab shares; the classification is derived from the photo and
the labels."""
TABLE_HEADERS = ["Rank", "Nickname", "Style", "Probability", "Label set", "Source", "Shared (UTC)",
                 "Entry"]


# === Reading the inputs ===


def labels_of(label_set, labels) -> tuple[str | None, list[str] | None]:
    """(label set name, own labels) for `models.style.classify` from the tab's inputs."""
    label_set = LABEL_SET.check(label_set)
    if label_set == DEFAULT:
        return None, None
    if label_set != CUSTOM:
        return label_set, None
    if not isinstance(labels, str) or not labels.strip():
        raise InvalidField("labels", labels, LABELS_ACCEPTS)
    return None, [part for part in labels.split(",") if part.strip()] or [labels]


def classified(photo, label_set, labels):
    """The StyleResult for the tab's inputs; refusals become one line."""
    from models.style import InvalidLabels, StyleUnavailable, classify

    set_name, own = labels_of(label_set, labels)
    image = read_upload(photo, "photo")
    try:
        return classify(image, labels=own, label_set=set_name)
    except InvalidLabels as error:
        raise gr.Error(str(error), print_exception=False) from None
    except StyleUnavailable as error:
        raise gr.Error(error.summary, print_exception=False) from None


# === What the outputs show ===


def verdict_html(result) -> str:
    """The card: the top style, its probability and margin, the source and the notes."""
    probability = result.probabilities[result.top]
    return styling.card(
        True,
        styling.headline(html.escape(result.top.capitalize()), f"{100 * probability:.0f}%"),
        styling.sub_line(f"{100 * result.margin:.0f} points ahead of the runner-up, out of "
                         f"{len(result.probabilities)} styles ({html.escape(result.label_set)})."),
        styling.facts(f"Classified by {html.escape(result.source)}, on "
                      + ("the person's crop." if result.crop is not None else
                         "the whole photo.")),
        styling.notes_list(result.notes),
    )


def summary(result) -> dict:
    """The result's numbers as plain JSON, for the API and the "numbers" accordion."""
    return {"top": result.top, "probability": result.probabilities[result.top],
            "margin": result.margin, "probabilities": result.probabilities,
            "label_set": result.label_set, "source": result.source,
            "crop": list(result.crop) if result.crop is not None else None,
            "notes": list(result.notes)}


# === Events ===


@TAB.action(inputs=3, outputs=5)
def classify_photo(photo, label_set=DEFAULT, labels=None, progress=gr.Progress()):
    """Classify the outfit's style. Returns the verdict card (HTML), the crop that was
    classified, the chart of every style's probability and the result's numbers (JSON)."""
    from demos.figures.style import probability_chart

    with SteadyProgress(progress) as bar:
        # The first classification of a process may load CLIP: the bar creeps meanwhile.
        with bar.step(0.0, 0.8, "Finding the person and classifying"):
            result = classified(photo, label_set, labels)
        with bar.step(0.8, 1.0, "Drawing the chart"):
            chart = probability_chart(result.probabilities)
    return (verdict_html(result), result.crop_image, chart, summary(result),
            {"styles": list(result.labels), "top": result.top})


def cleared() -> tuple:
    """The classification's outputs with nothing classified."""
    return EMPTY_VERDICT, None, None, None, {}


def make_request(photo, label_set=DEFAULT, labels=None, target=None) -> ExplainRequest:
    """What the explanation panel explains: any style's probability, on the crop classified.

    Args:
        photo, label_set, labels: as for Classify.
        target: the style to explain (None: the top one).
    """
    from models.style.explanations import explanation_setup

    # The target's shape is checked before any work; whether it is one of this photo's
    # styles, once the photo is classified.
    if target is not None and (not isinstance(target, str) or not target.strip()
                               or len(target) > MAX_TARGET_CHARS):
        raise InvalidField("target", target, "one of this photo's styles (None: the top one)")
    result = classified(photo, label_set, labels)
    if target is None:
        target = result.top
    elif target not in result.labels:
        raise InvalidField("target", target,
                           "one of this photo's styles: " + ", ".join(map(repr, result.labels)))
    setup = explanation_setup(result)
    return ExplainRequest(image=setup.photo, model=setup.models, target=target,
                          title=f"Where the model sees {target!r}", note=setup.note)


def picker_for(styles) -> dict:
    """The target picker after a classification: its styles, the top one picked."""
    styles = styles or {}
    return gr.Dropdown(choices=list(styles.get("styles", [])), value=styles.get("top"))


def leaderboard_view(style=None) -> tuple:
    """The leaderboard's table (best first within each style) and its counts chart."""
    from demos.figures.style import counts_chart
    from store import leaderboard

    style = None if style in (None, "", ALL_STYLES) else style
    entries = leaderboard.top(style=style, limit=10)
    rows = [[entry.rank, entry.nickname, entry.style, f"{100 * entry.probability:.1f}%",
             entry.label_set, entry.source, entry.created_at.strftime("%Y-%m-%d %H:%M"), entry.id]
            for entry in entries]
    counts = [(f"{c.style} ({c.label_set})", c.count) for c in leaderboard.style_counts()]
    return rows, counts_chart(counts)


@friendly_errors
def show_leaderboard(style=None):
    """The leaderboard: the top 10 of each style (or of one style), and the number of entries
    per style. Returns the table and the chart."""
    return leaderboard_view(STYLE_FILTER.check(style))


@friendly_errors
def share(photo, label_set=DEFAULT, labels=None, nickname=None,
          request: gr.Request = None):
    """Share this photo's style on the leaderboard, under a nickname. The result is worked out
    again here (a client cannot send its own numbers). Returns what happened, with the delete
    token (shown once)."""
    from store import leaderboard
    from store.leaderboard import NICKNAME_MAX_CHARS
    from store.validation import check_nickname

    # Checked before the classification, so a bad nickname costs no model time.
    nickname = check_nickname("nickname", nickname, NICKNAME_MAX_CHARS)
    result = classified(photo, label_set, labels)
    entry = leaderboard.share(
        nickname=nickname, label_set=result.label_set,
        style=result.top, label_sets={result.label_set: result.labels},
        probability=result.probabilities[result.top], source=result.source[:64],
        thumbnail=result.crop_image, client=client_of(request))
    message = (f"Shared as entry **{entry.id}**: *{html.escape(result.top)}* at "
               f"{100 * result.probabilities[result.top]:.0f}%. Your delete token, shown only "
               f"now: `{entry.delete_token}`. Keep it to remove the entry later.")
    return message


@friendly_errors
def delete(entry_id=None, token=None):
    """Delete a leaderboard entry with the token shown when it was shared. Returns what
    happened."""
    from store import leaderboard

    entry_id = ENTRY_ID.check(entry_id)
    if entry_id is None:
        raise InvalidField("entry_id", entry_id, ENTRY_ID.accepts)
    if not isinstance(token, str) or not token.strip():
        raise InvalidField("token", token, "the delete token shown when the entry was shared")
    leaderboard.delete(entry_id, token.strip())
    return f"Entry {entry_id} is deleted."


def _inputs() -> list:
    """The tab's inputs, in Classify's parameter order: the photo, the label set and the
    user's own labels (shown only for the custom set)."""
    photo = PhotoInput("Your photo", height=360, elem_id="style-photo")
    label_set = DropdownInput(choices=list(LABEL_SET_CHOICES), value=DEFAULT, label="Styles",
                              accepts=LABEL_SET.accepts, elem_id="style-label-set")
    labels = TextInput(label="Your own styles (comma-separated)", visible=False,
                       placeholder="e.g. preppy, goth, cottagecore", accepts=LABELS_ACCEPTS,
                       elem_id="style-labels")
    return [photo, label_set, labels]


def _crop() -> gr.Image:
    """The part of the photo that was classified, under the verdict."""
    return gr.Image(label="What was classified", interactive=False, height=300,
                    elem_id="style-crop")


def build() -> list:
    """Add the Style tab's components to the current Blocks. Returns its refreshers."""
    TAB.header()
    not_ready = TAB.readiness_note()
    top = TAB.top(_inputs, beside_verdict=_crop)
    photo, label_set, labels = inputs = top.inputs
    crop = top.beside_verdict
    TAB.examples([photo], EXAMPLES)
    chart = gr.Plot(label="Every style", show_label=False, format="png", elem_id="style-chart")
    numbers = TAB.numbers()
    styles = gr.State({})  # the last result's styles and top one, for the target picker
    label_set.change(lambda chosen: gr.Textbox(visible=chosen == CUSTOM), inputs=label_set,
                     outputs=labels, queue=False, show_progress="hidden",
                     api_visibility="private")

    panel = ExplanationPanel.build(
        methods=("cam", "gradcam", "lime", "shap"), default=("gradcam",), key=KEY,
        targets=[], target_value=None, target_label="Explain which style",
        target_info="Any style of the result; the top one unless you pick another.",
        label="Why? Where the model sees each style",
    )
    TAB.wire(run=classify_photo, button=top.button, inputs=inputs,
             outputs=[top.verdict, crop, chart, numbers, styles], cleared=cleared,
             panel=panel, make_request=make_request,
             picker=Picker(picker_for, styles, panel.target))

    with gr.Accordion("Leaderboard", open=True, elem_id="style-leaderboard"):
        with gr.Row():
            nickname = TextInput(label="Nickname", max_lines=1, placeholder="1 to 32 characters",
                                 accepts="1 to 32 printable characters", elem_id="style-nickname")
            share_button = gr.Button("Share on the leaderboard", elem_id="style-share")
        share_status = gr.Markdown(label="Shared", elem_id="style-share-status")
        style_filter = DropdownInput(choices=list(STYLE_FILTER.choices), value=ALL_STYLES,
                                     label="Show", accepts=STYLE_FILTER.accepts,
                                     elem_id="style-filter")
        with gr.Row():
            with gr.Column(scale=3):
                table = gr.Dataframe(headers=TABLE_HEADERS, interactive=False, wrap=True,
                                     label="Top 10 of each style", elem_id="style-table")
            with gr.Column(scale=2):
                counts = gr.Plot(label="Entries per style", show_label=False, format="png",
                                 elem_id="style-counts")
        with gr.Row():
            entry_id = NumberInput(label="Entry", value=None, precision=0,
                                   accepts=ENTRY_ID.accepts,
                                   elem_id="style-entry-id")
            token = TextInput(label="Delete token", max_lines=1, type="password",
                              accepts="the delete token shown when the entry was shared",
                              elem_id="style-token")
            delete_button = gr.Button("Delete my entry", variant="stop",
                                      elem_id="style-delete")
        delete_status = gr.Markdown(label="Deleted", elem_id="style-delete-status")

    view = [table, counts]
    style_filter.change(show_leaderboard, inputs=style_filter, outputs=view,
                        api_name=f"{KEY}_leaderboard")
    for event in (share_button.click(share, inputs=[*inputs, nickname], outputs=share_status,
                                     api_name=f"{KEY}_share"),
                  delete_button.click(delete, inputs=[entry_id, token], outputs=delete_status,
                                      api_name=f"{KEY}_delete")):
        event.success(show_leaderboard, inputs=style_filter, outputs=view,
                      api_visibility="private")
    # The share status speaks of the photo on screen; a new photo voids it.
    photo.change(lambda: "", outputs=share_status, queue=False, show_progress="hidden",
                 api_visibility="private")
    # Without a classifier nothing can be classified, explained or shared; the leaderboard
    # stays readable and entries deletable.
    ready = TAB.readiness(not_ready, missing_classifier,
                          [top.button, panel.button, share_button])
    return [(show_leaderboard_safely, [style_filter], view), ready]


def missing_classifier() -> str | None:
    """Why this machine cannot classify styles now (no CLIP weights and no trained classifier
    named in the manifest), or None when it can. Only looks at files; loads nothing."""
    import weights
    from models.style.trained import STYLE_HEAD, STYLE_VGG16

    if any(weights.available(name) for name in ("clip", STYLE_VGG16, STYLE_HEAD)):
        return None
    return ("**Not available on this machine yet:** styles need the CLIP weights "
            "(`python -m weights pull clip`, or the Models tab) or a style classifier you "
            "trained. The leaderboard below still works.")


def show_leaderboard_safely(style=None):
    """The refresher's leaderboard: on page load a database problem leaves the table empty
    and says so in the log, rather than failing the page."""
    import logging

    try:
        return leaderboard_view(style if style in STYLE_FILTER.choices else None)
    except Exception as error:  # noqa: BLE001 - the page still loads; the log says why
        logging.getLogger("instavis").warning("style leaderboard unavailable: %s", error)
        return [], None

