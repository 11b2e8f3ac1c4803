"""The Tags tab: which tags describe this photo, why each one, and a gallery of tagged photos.

UI only. The tagger is `models.tags`, the chart `demos.figures.tags`, the gallery
`store.gallery`; all are imported on first use, so building the app loads no TensorFlow and opens
no database.
"""

from __future__ import annotations

import html

import gradio as gr

from demos import styling
from demos.clients import client_of
from demos.common import (
    NumberInput,
    PhotoInput,
    SliderInput,
    TextInput,
    friendly_errors,
    read_upload,
)
from demos.explain_panel import ExplanationPanel
from demos.explain_runs import ExplainRequest
from demos.fields import Flag, InvalidField, NumberBetween, WholeNumber
from demos.progress import SteadyProgress
from demos.tab_skeleton import EXAMPLES_DIR as EXAMPLES_DIR  # where EXAMPLES are, for callers
from demos.tab_skeleton import Picker, TabSkeleton

KEY = "tags"
TITLE = "Tags"

THRESHOLD = NumberBetween("threshold", 0.01, 0.99, default=0.5)
RULE_THRESHOLDS = Flag("rule_thresholds")
PHOTO_ID = WholeNumber("photo_id", 1, 2**63 - 1)
PAGE = WholeNumber("page", 1, 10**6, default=1)
EXTRA_TAGS_ACCEPTS = ("your own tags, separated by commas (at most 20, each 1 to 32 letters, "
                      "digits, spaces, hyphens or underscores)")
TAGS_ACCEPTS = ("tags separated by commas (1 to 30, each 1 to 32 letters, digits, spaces, "
                "hyphens or underscores)")
SEARCH_ACCEPTS = "tags separated by commas, all of which a photo must have (empty: every photo)"
MAX_TARGET_CHARS = 40
PER_PAGE = 12

EXAMPLES = (
    ("rocket.jpg", "A rocket on its pad"),
    ("chelsea.jpg", "A cat"),
    ("coffee.jpg", "A cup of coffee"),
    ("astronaut.jpg", "The astronaut"),
)

INTRO = """\
### Which tags fit my photo?
Upload a photo and press **Tag**. InstaVis gives each of MIRFLICKR-25K's 24 tags (sky, people,
water, night...) and any tags you add a probability and a yes or no, with the rule behind each.
Below, see where the model finds any tag, and post the photo with its tags to the gallery. It
needs the CLIP weights (`python -m weights pull clip`) or a tag head you trained
(`python -m models.train tags --data DIR`)."""

EMPTY_VERDICT = styling.empty_card("Pick an example below or upload a photo, then press "
                                   "<b>Tag</b>. Its tags appear here.")
DECISION_HEADERS = ["Tag", "Probability", "Applied", "Threshold", "Why"]
NO_GALLERY_PHOTO = "Click a photo in the grid to see it with its tags."

TAG_CSS = """
.iv-tags { display: flex; flex-wrap: wrap; gap: 6px; margin: 6px 0 4px 6px; }
.iv-tag { padding: 2px 10px; border-radius: 999px; font-size: 0.95em;
  background: #dcfce7; color: #14532d; border: 1px solid #22aa54; }
.iv-tag small { color: #166534; font-variant-numeric: tabular-nums; }
.iv-tag.own { border-color: #8b5cf6; }
"""

TAB = TabSkeleton(
    key=KEY, scope_name="tagging", intro=INTRO, action_label="Tag", empty_verdict=EMPTY_VERDICT,
    numbers_label="Result", verdict_label="Tags", verdict_css=styling.CARD_CSS + TAG_CSS,
    examples_label="Example photos (scikit-image: public domain and CC0)")
"""The parts of the tab every tab shares; the tagging is derived from the photo and the
settings."""


# === Reading the inputs ===


def tagged(photo, extra_tags=None, rule_thresholds=True, threshold=None):
    """The TagResult for the tab's inputs; refusals become one line."""
    from models.tags import InvalidTags, TagsUnavailable, tag

    rule_thresholds = RULE_THRESHOLDS.check(rule_thresholds)
    threshold = THRESHOLD.check(threshold)
    image = read_upload(photo, "photo")
    try:
        return tag(image, extra=extra_tags or (), threshold=None if rule_thresholds else threshold)
    except InvalidTags as error:
        raise gr.Error(str(error), print_exception=False) from None
    except TagsUnavailable as error:
        raise gr.Error(error.summary, print_exception=False) from None


# === What the outputs show ===


def chips(decisions) -> str:
    """The applied tags as coloured chips, with their probabilities."""
    if not decisions:
        return "<p class='iv-sub'>No tag reaches its threshold.</p>"
    return "<div class='iv-tags'>" + "".join(
        f"<span class='iv-tag{' own' if d.own else ''}'>{html.escape(d.tag.replace('_', ' '))} "
        f"<small>{100 * d.probability:.0f}%</small></span>" for d in decisions) + "</div>"


def verdict_html(result) -> str:
    """The card: the applied tags, how many, who decided and by what threshold, and notes."""
    applied = [d for d in result.decisions if d.applied]
    own = result.threshold is not None
    rule = (f"Applied from your threshold, {100 * result.threshold:.0f}%." if own else
            "Each tag applied by its own rule (see <i>Why each tag</i>).")
    headline = (f"{len(applied)} tag{'s' if len(applied) != 1 else ''}" if applied
                else "No tags")
    return styling.card(
        bool(applied),
        styling.headline(headline, f"of {len(result.decisions)}"),
        chips(applied),
        styling.facts("Decided by " + html.escape(" and ".join(result.sources)) + ". " + rule),
        styling.notes_list(result.notes),
    )


def decision_rows(result) -> list[list]:
    return [[d.tag, round(d.probability, 3), "yes" if d.applied else "no", round(d.threshold, 3),
             d.rule] for d in result.decisions]


def summary(result) -> dict:
    """The result's numbers as plain JSON, for the API and the "numbers" accordion."""
    return {"applied": list(result.applied), "threshold": result.threshold,
            "tags": [{"tag": d.tag, "probability": d.probability, "applied": d.applied,
                      "threshold": d.threshold, "source": d.source, "rule": d.rule,
                      "own": d.own} for d in result.decisions],
            "notes": list(result.notes)}


# === Events ===


@TAB.action(inputs=4, outputs=6)
def tag_photo(photo, extra_tags=None, rule_thresholds=True, threshold=0.5,
              progress=gr.Progress()):
    """Tag the photo. Returns the verdict card (HTML), the chart of every tag's probability,
    the table of decisions with their rules, the result's numbers (JSON), and the applied tags
    as text to post to the gallery."""
    from demos.figures.tags import probability_chart

    with SteadyProgress(progress) as bar:
        # The first tagging of a process may load CLIP: the bar creeps meanwhile.
        with bar.step(0.0, 0.85, "Tagging"):
            result = tagged(photo, extra_tags, rule_thresholds, threshold)
        with bar.step(0.85, 1.0, "Drawing the chart"):
            chart = probability_chart(result.decisions)
    top = result.applied[0] if result.applied else result.decisions[0].tag
    return (verdict_html(result), chart, decision_rows(result), summary(result),
            ", ".join(t.replace("_", " ") for t in result.applied),
            {"tags": list(result.tags), "top": top})


def cleared() -> tuple:
    """The tagging's outputs with nothing tagged."""
    return EMPTY_VERDICT, None, [], None, "", {}


def make_request(photo, extra_tags=None, rule_thresholds=True, threshold=0.5,
                 target=None) -> ExplainRequest:
    """What the explanation panel explains: any tag's probability, applied or not.

    Args:
        photo, extra_tags, rule_thresholds, threshold: as for Tag.
        target: the tag to explain (None: the most probable).
    """
    from models.tags.explanations import explanation_setup

    if target is not None and (not isinstance(target, str) or not target.strip()
                               or len(target) > MAX_TARGET_CHARS):
        raise InvalidField("target", target, "one of this photo's tags (None: the most probable)")
    result = tagged(photo, extra_tags, rule_thresholds, threshold)
    if target is None:
        target = result.applied[0] if result.applied else result.decisions[0].tag
    elif target not in result.tags:
        raise InvalidField("target", target, "one of this photo's tags: "
                           + ", ".join(map(repr, result.tags)))
    decision = result.decision(target)
    setup = explanation_setup(result, target)
    verdict = "applied" if decision.applied else "not applied"
    return ExplainRequest(
        image=setup.photo, model=setup.models, target=target,
        title=f"Where the model finds {target.replace('_', ' ')!r}",
        target_label=f"{target.replace('_', ' ')!r} ({100 * decision.probability:.0f}%, "
                     f"{verdict})",
        note="Each tag is its own output: explain two tags to see where each is found.")


def picker_for(tags) -> dict:
    """The target picker after a tagging: every tag, the top applied one picked."""
    tags = tags or {}
    return gr.Dropdown(choices=list(tags.get("tags", [])), value=tags.get("top"))


# === The gallery ===


def tag_list(text, field: str, accepts: str) -> list[str]:
    """Comma-separated tags from a text box, as the store takes them (it checks each)."""
    if text is None:
        return []
    if not isinstance(text, str):
        raise InvalidField(field, text, accepts)
    return [part for part in text.split(",") if part.strip()]


@friendly_errors
def post(photo, tags=None, request: gr.Request = None):
    """Post the photo to the gallery with these tags (comma-separated; edit the suggestion
    freely). The stored copy is re-encoded, at most 1024 pixels a side, with EXIF and GPS
    removed. Returns what happened, with the delete token (shown once)."""
    from store import gallery

    chosen = tag_list(tags, "tags", TAGS_ACCEPTS)
    if not chosen:
        raise InvalidField("tags", tags, TAGS_ACCEPTS)
    prepared = read_upload(photo, "photo")
    posted = gallery.post(prepared.image, chosen, client=client_of(request))
    return (f"Posted as photo **{posted.id}**. Your delete token, shown only now: "
            f"`{posted.token}`. Keep it to edit the tags or remove the photo later.")


def gallery_view(search=None, page=1) -> tuple:
    """(grid items, page line, ids on the page) for a search."""
    from store import gallery

    result = gallery.search(tag_list(search, "search", SEARCH_ACCEPTS), page=PAGE.check(page),
                            per_page=PER_PAGE, field="search")
    items = [(_picture(item.thumbnail), f"#{item.id}: " + ", ".join(item.tags))
             for item in result.photos]
    wanted = f" with {html.escape(search.strip())}" if isinstance(search, str) and search.strip() \
        else ""
    if result.total == 0:
        line = f"No photos{wanted} yet." if not wanted else f"No photos{wanted}."
    elif result.page > result.pages:
        line = (f"{result.total} photo{'s' if result.total != 1 else ''}{wanted}; page "
                f"{result.page} is past the last page, {result.pages}.")
    else:
        line = (f"{result.total} photo{'s' if result.total != 1 else ''}{wanted}, newest first; "
                f"page {result.page} of {result.pages}.")
    return items, line, [item.id for item in result.photos]


def _picture(jpeg: bytes):
    import io

    from PIL import Image

    with Image.open(io.BytesIO(jpeg)) as opened:
        return opened.convert("RGB")


@friendly_errors
def browse(search=None, page=1):
    """The gallery, newest first, a page of 12 at a time; with tags, only the photos that have
    all of them. Returns the grid and a line saying how many photos and which page."""
    return gallery_view(search, page)


@friendly_errors
def show_photo(photo_id=None):
    """One gallery photo, full size, with its tags."""
    from store import gallery

    photo_id = PHOTO_ID.check(photo_id)
    if photo_id is None:
        raise InvalidField("photo_id", photo_id, PHOTO_ID.accepts)
    entry = gallery.photo(photo_id)
    return (_picture(entry.image),
            f"**Photo {entry.id}** ({entry.width} x {entry.height}), posted "
            f"{entry.created_at:%Y-%m-%d %H:%M} UTC. Tags: "
            + ", ".join(f"`{html.escape(t)}`" for t in entry.tags), entry.id)


def show_selected(ids, event: gr.SelectData):
    """The photo clicked in the grid."""
    if not ids or event.index is None or not 0 <= event.index < len(ids):
        return gr.skip(), gr.skip(), gr.skip()
    return show_photo(ids[event.index])


def _token(token) -> str:
    if not isinstance(token, str) or not token.strip():
        raise InvalidField("token", token, "the delete token shown when the photo was posted")
    return token.strip()


@friendly_errors
def edit(photo_id=None, token=None, tags=None):
    """Replace a gallery photo's tags, with the token shown when it was posted."""
    from store import gallery

    photo_id = PHOTO_ID.check(photo_id)
    if photo_id is None:
        raise InvalidField("photo_id", photo_id, PHOTO_ID.accepts)
    token = _token(token)
    chosen = tag_list(tags, "tags", TAGS_ACCEPTS)
    if not chosen:
        raise InvalidField("tags", tags, TAGS_ACCEPTS)
    entry = gallery.edit_tags(photo_id, token, chosen)
    return f"Photo {entry.id} now has the tags: " + ", ".join(entry.tags) + "."


@friendly_errors
def delete(photo_id=None, token=None):
    """Delete a gallery photo with the token shown when it was posted."""
    from store import gallery

    photo_id = PHOTO_ID.check(photo_id)
    if photo_id is None:
        raise InvalidField("photo_id", photo_id, PHOTO_ID.accepts)
    token = _token(token)
    gallery.delete(photo_id, token)
    return f"Photo {photo_id} is deleted."


def browse_safely(search=None, page=1):
    """The refresher's gallery: on page load a database problem leaves the grid empty and says
    so in the log, rather than failing the page."""
    import logging

    try:
        return gallery_view(search if isinstance(search, str) else None,
                            page if isinstance(page, int) and page >= 1 else 1)
    except Exception as error:  # noqa: BLE001 - the page still loads; the log says why
        logging.getLogger("instavis").warning("tags gallery unavailable: %s", error)
        return [], "The gallery is not available right now.", []


def _inputs() -> list:
    """The tab's inputs, in Tag's parameter order: the photo, the user's own tags, whether
    each tag keeps its own rule, and the one threshold used when it does not."""
    photo = PhotoInput("Your photo", height=360, elem_id="tags-photo")
    extra_tags = TextInput(label="Your own tags (comma-separated, optional)",
                           placeholder="e.g. golden hour, street art",
                           accepts=EXTRA_TAGS_ACCEPTS, max_lines=1, elem_id="tags-extra")
    with gr.Row():
        rule_thresholds = gr.Checkbox(
            value=True, label="Each tag's own rule",
            info="Off: one threshold for every tag, from the slider.",
            elem_id="tags-rule-thresholds")
        threshold = SliderInput(minimum=0.01, maximum=0.99, step=0.01, value=0.5,
                                label="Threshold", interactive=False,
                                accepts=THRESHOLD.accepts, elem_id="tags-threshold")
    return [photo, extra_tags, rule_thresholds, threshold]


def _chart() -> gr.Plot:
    """Every tag's probability, under the verdict."""
    return gr.Plot(label="Every tag", show_label=False, format="png", elem_id="tags-chart")


def build() -> list:
    """Add the Tags tab's components to the current Blocks. Returns its refreshers."""
    TAB.header()
    not_ready = TAB.readiness_note()
    top = TAB.top(_inputs, beside_verdict=_chart)
    photo, _, rule_thresholds, threshold = inputs = top.inputs
    chart = top.beside_verdict
    TAB.examples([photo], EXAMPLES)
    with gr.Accordion("Why each tag", open=False):
        decisions = gr.Dataframe(headers=DECISION_HEADERS, interactive=False, wrap=True,
                                 label="Why each tag",
                                 elem_id="tags-decisions")
    numbers = TAB.numbers()
    tags_state = gr.State({})  # the last result's tags and top one, for the target picker
    post_tags = TextInput(label="Tags to post", max_lines=2, accepts=TAGS_ACCEPTS,
                          info="The applied tags; edit them freely.", render=False,
                          elem_id="tags-post-tags")
    rule_thresholds.change(lambda own: gr.Slider(interactive=not own), inputs=rule_thresholds,
                           outputs=threshold, queue=False, show_progress="hidden",
                           api_visibility="private")

    panel = ExplanationPanel.build(
        methods=("gradcam", "lime", "shap"), default=("gradcam",), key=KEY,
        targets=[], target_value=None, target_label="Explain which tag",
        target_info="Any tag, applied or not; the most probable applied one unless you pick "
                    "another.",
        label="Why? Where the model finds each tag",
    )
    TAB.wire(run=tag_photo, button=top.button, inputs=inputs,
             outputs=[top.verdict, chart, decisions, numbers, post_tags, tags_state],
             cleared=cleared, panel=panel, make_request=make_request,
             picker=Picker(picker_for, tags_state, panel.target))

    with gr.Accordion("Gallery", open=True, elem_id="tags-gallery"):
        gr.Markdown("Post your photo with its tags, find photos by tag, and remove yours with "
                    "the token you get when posting. Stored photos are re-encoded, at most 1024 "
                    "pixels a side, without EXIF or GPS data.")
        with gr.Row():
            post_tags.render()
            post_button = gr.Button("Post to the gallery", elem_id="tags-post")
        post_status = gr.Markdown(label="Posted", elem_id="tags-post-status")
        with gr.Row():
            search = TextInput(label="Find photos with all of these tags", max_lines=1,
                               placeholder="e.g. sky, water", accepts=SEARCH_ACCEPTS,
                               elem_id="tags-search")
            page = NumberInput(label="Page", value=1, precision=0, minimum=1,
                               accepts=PAGE.accepts, elem_id="tags-page")
            search_button = gr.Button("Search", elem_id="tags-search-button")
        page_line = gr.Markdown(label="Found", elem_id="tags-page-line")
        grid = gr.Gallery(label="Photos", columns=6, height=330, object_fit="cover",
                          allow_preview=False, elem_id="tags-grid",
                          elem_classes=["photo-grid"])
        page_ids = gr.State([])
        with gr.Row():
            chosen_image = gr.Image(label="The photo", interactive=False, height=320,
                                    elem_id="tags-chosen")
            with gr.Column():
                chosen_text = gr.Markdown(NO_GALLERY_PHOTO, elem_id="tags-chosen-text")
                photo_id = NumberInput(label="Photo", value=None, precision=0,
                                       placeholder="click a photo, or the number you posted as",
                                       accepts=PHOTO_ID.accepts, elem_id="tags-photo-id")
                token = TextInput(label="Delete token", max_lines=1, type="password",
                                  accepts="the delete token shown when the photo was posted",
                                  elem_id="tags-token")
                new_tags = TextInput(label="New tags (comma-separated)", max_lines=1,
                                     accepts=TAGS_ACCEPTS, elem_id="tags-new-tags")
                with gr.Row():
                    edit_button = gr.Button("Save the new tags", elem_id="tags-edit")
                    delete_button = gr.Button("Delete my photo", variant="stop",
                                              elem_id="tags-delete")
                edit_status = gr.Markdown(label="Edited", elem_id="tags-edit-status")
                delete_status = gr.Markdown(label="Deleted", elem_id="tags-delete-status")

    view = [grid, page_line, page_ids]
    search_inputs = [search, page]
    for trigger in (search_button.click, search.submit):
        trigger(browse, inputs=search_inputs, outputs=view,
                api_name=f"{KEY}_gallery" if trigger == search_button.click else None,
                api_visibility="public" if trigger == search_button.click else "private")
    grid.select(show_selected, inputs=page_ids, outputs=[chosen_image, chosen_text, photo_id],
                api_visibility="private")
    posting = post_button.click(post, inputs=[photo, post_tags], outputs=post_status,
                                api_name=f"{KEY}_post")
    editing = edit_button.click(edit, inputs=[photo_id, token, new_tags], outputs=edit_status,
                                api_name=f"{KEY}_edit")
    deleting = delete_button.click(delete, inputs=[photo_id, token], outputs=delete_status,
                                   api_name=f"{KEY}_delete")
    for event in (posting, editing, deleting):
        event.success(browse_safely, inputs=search_inputs, outputs=view,
                      api_visibility="private")
    # The photo shown beside the grid follows what happened to it: new tags, or gone.
    editing.success(show_photo, inputs=photo_id, outputs=[chosen_image, chosen_text, photo_id],
                    api_visibility="private")
    deleting.success(lambda: (None, NO_GALLERY_PHOTO, ""), outputs=[chosen_image, chosen_text,
                                                                    edit_status],
                     queue=False, show_progress="hidden", api_visibility="private")
    # The post status speaks of the photo on screen; a new photo voids it.
    photo.change(lambda: "", outputs=post_status, queue=False, show_progress="hidden",
                 api_visibility="private")
    # Without a tagger nothing can be tagged or explained; the gallery stays usable (a photo
    # can be posted with tags typed by hand).
    ready = TAB.readiness(not_ready, missing_tagger, [top.button, panel.button])
    return [(browse_safely, search_inputs, view), ready]


def missing_tagger() -> str | None:
    """Why this machine cannot tag photos now (no CLIP weights and no trained tag head named
    in the manifest), or None when it can. Only looks at files; loads nothing."""
    import weights
    from models.tags.head import TAGS_HEAD

    if any(weights.available(name) for name in ("clip", TAGS_HEAD)):
        return None
    return ("**Not available on this machine yet:** tagging needs the CLIP weights "
            "(`python -m weights pull clip`, or the Models tab) or a tag head you trained. The "
            "gallery below still works.")
