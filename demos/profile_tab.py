"""The Profile tab: does my feed hold together, which photos break it, what to change, and who
does it well.

UI only. The check is `models.profile` (`check`, the similar-profiles index), the charts
`demos.figures.profile`, the grid `models.profile.grid`; all are imported on first use, so
building the app loads no TensorFlow.
"""

from __future__ import annotations

import html
from pathlib import Path

import gradio as gr
import numpy as np

from demos import styling
from demos.common import (
    DropdownInput,
    PhotosInput,
    friendly_errors,
    read_uploads,
    request_gone,
)
from demos.explain_panel import ExplanationPanel, gradcam_unavailable_for
from demos.explain_runs import ExplainRequest
from demos.fields import InvalidField, OneOf
from demos.progress import SteadyProgress
from demos.tab_skeleton import EXAMPLES_DIR, Picker, TabSkeleton

KEY = "profile"
TITLE = "Profile"

CONCEPT_LINE = 60.0
"""Scores from here up read "holds together" (the card's green edge)."""
SCORE_DIGITS = 0
"""The score is shown in whole points, everywhere on the tab."""
OUTPUTS = ("quality", "content", "ran56")
TARGET_LABELS = {"quality": "technical quality", "content": "content score",
                 "ran56": "fit with a good feed (RAN-56)"}
NO_RAN56 = ("There is no trained RAN-56 on this machine: train one with `python -m models.train "
            "profile --data DIR` and name it `profile_ran56` in weights/manifest.toml.")
TARGET = OneOf("target", OUTPUTS, default=OUTPUTS[0])
PHOTO_ACCEPTS = "the position of a photo in the feed, from 1 (None: the first)"

METHODS_UNAVAILABLE = gradcam_unavailable_for(["quality"])
"""Grad-CAM has no gradients to read in BRISQUE, the technical quality: not offered for it."""

EXAMPLE_FEED = tuple(sorted((EXAMPLES_DIR / "feed").glob("*.jpg")))

INTRO = """\
### Does my feed hold together?
Upload 3 to 30 photos in the order your profile shows them (newest first), or pick the example
feed, and press **Check my feed**. InstaVis scores the feed's visual concept from 0 to 100
(palette, light and colour, technical quality and, with the CLIP weights, content), marks the
photos that break it on the grid, says what to change, and shows which photos raise or lower
the score. With an index of good profiles (`python -m models.profile index DIR`), it shows the
three that look most alike."""

EMPTY_VERDICT = styling.empty_card("Upload your feed or pick the example, then press "
                                   "<b>Check my feed</b>. The verdict appears here.")
NO_INDEX = ("**Similar profiles.** No index of good profiles on this machine yet. Build one from "
            "a folder with one subfolder per profile: `python -m models.profile index DIR`.")

TAB = TabSkeleton(
    key=KEY, scope_name="check", intro=INTRO, action_label="Check my feed",
    empty_verdict=EMPTY_VERDICT, numbers_label="Report",
    examples_label="Example feed (scikit-image: CC0 and public domain)")
"""The parts of the tab every tab shares; the check is derived from the feed alone."""


# === What the outputs show ===


def _measure_rows(report) -> str:
    rows = []
    for measure in report.measures:
        rows.append(styling.meter(measure.label, measure.score,
                                  f"{measure.shown_value()}: {measure.reading}"))
    if not report.has_content:
        rows.append(styling.meter("content cohesion", None,
                                  "needs the CLIP weights (`python -m weights pull clip`)"))
    return "".join(rows)


def shown_score(report) -> str:
    """The visual-concept score as every text of the tab shows it: one rounding, whole points
    (the charts' axis says the same)."""
    return f"{report.score:.{SCORE_DIGITS}f}"


def verdict_html(report) -> str:
    """The card: the score, the verdict, the measures, the misfits and the recommendations.
    Photos are named by their number as uploaded (`PhotoReading.index`)."""
    holds = report.score >= CONCEPT_LINE
    by_number = {p.index: p for p in report.photos}
    strongest = {}
    for outlier in report.outliers:  # strongest first: keep each photo's first
        strongest.setdefault(outlier.photo, outlier)
    outlier_items = "".join(
        f"<li><b>Photo {number}</b> ({html.escape(by_number[number].name)}): "
        f"{html.escape(strongest[number].text)}</li>" for number in sorted(strongest))
    advice = "".join(f"<li>{styling.inline_code(r.text)}</li>"
                     for r in report.recommendations)
    parts = [
        styling.score_line(report.score, 100, digits=SCORE_DIGITS),
        styling.headline("Holds together" if holds else "Does not hold together yet",
                         f"{len(report.photos)} photos"),
        styling.sub_line(f"Visual-concept score, out of 100: a feed with no evidence either "
                         f"way scores {report.baseline:.0f}, and {CONCEPT_LINE:.0f} or more "
                         f"reads as one concept."),
        _measure_rows(report),
        styling.facts("<b>Photos that break it:</b> "
                      + (f"<ul>{outlier_items}</ul>" if strongest else "none.")),
        styling.facts(f"<b>What to change:</b><ul>{advice}</ul>"),
        styling.notes_list(report.notes),
    ]
    return styling.card(holds, *parts)


def marks_of(report) -> dict[int, str]:
    """Photo number -> the short word the grid shows on its red frame."""
    words = {"brightness": ("brighter", "darker"), "temperature": ("warmer", "cooler"),
             "saturation": ("more saturated", "less saturated"),
             "look": ("in colour", "black and white"),
             "contrast": ("more contrast", "flatter"), "palette": ("other colours",) * 2,
             "quality": ("", "low quality"), "content": ("", "other subject")}
    marks: dict[int, str] = {}
    for outlier in report.outliers:
        above, below = words[outlier.measure]
        marks.setdefault(outlier.photo, above if outlier.gap > 0 else below)
    return marks


def summary(report, neighbours=None) -> dict:
    """The report's numbers as plain JSON, for the API and the "numbers" accordion."""
    return {
        "score": report.score, "baseline": report.baseline,
        "holds_together": report.score >= CONCEPT_LINE,
        "measures": [{"key": m.key, "label": m.label, "group": m.group, "value": m.value,
                      "unit": m.unit, "score": m.score, "reading": m.reading}
                     for m in report.measures],
        "group_scores": report.group_scores,
        "shapley_by_group": report.by_group,
        "shapley_by_photo": [float(v) for v in report.by_photo],
        "shapley_by_photo_exact": report.by_photo_exact,
        "photos": [{"position": p.index, "name": p.name,
                    "brightness_ev": p.tones.brightness_ev, "contrast": p.tones.contrast,
                    "saturation": p.tones.saturation, "temperature_k": p.tones.temperature_k,
                    "quality": p.quality_score, "brisque": p.brisque, "content": p.content,
                    "fits_good_feed": p.fits_good_feed, "palette": p.palette.hex_codes(),
                    "palette_shares": [float(s) for s in p.palette.shares]}
                   for p in report.photos],
        "unreadable": [{"name": n, "reason": r} for n, r in report.unreadable],
        "outliers": [{"photo": o.photo, "measure": o.measure, "value": o.value,
                      "others": o.others, "text": o.text} for o in report.outliers],
        "recommendations": [{"photos": list(r.photos), "measure": r.measure, "text": r.text}
                            for r in report.recommendations],
        "similar_profiles": [{"name": n.profile.name, "distance": n.distance,
                              "shared": list(n.shared)} for n in (neighbours or [])],
        "notes": list(report.notes),
    }


def grid_pixels(path) -> np.ndarray | None:
    """An indexed profile's grid as RGB pixels, or None when its file cannot be read (the
    profile is then left out of the gallery rather than shown broken)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            return np.asarray(opened.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError):
        return None


def similar_view(report) -> tuple[str, list, list]:
    """(the note above the similar profiles, the gallery's (grid, caption) items, the
    neighbours), from the index on this machine; never made up."""
    from models.profile.index import ProfileIndexError, load_index, nearest

    try:
        profiles = load_index()
    except ProfileIndexError as problem:
        return f"**Similar profiles.** {problem}", [], []
    if profiles is None:
        return NO_INDEX, [], []
    neighbours = nearest(report.photos, profiles)
    # Each grid goes out as pixels, which Gradio copies into its own cache for the response:
    # the index's files stay where they are, and nothing else of the data folder is served.
    items = [(grid, f"{n.profile.name}: {n.distance:.1f} steps away. Shares "
              + ("; ".join(n.shared) if n.shared else "no single measure within a step"))
             for n in neighbours if (grid := grid_pixels(n.profile.grid)) is not None]
    return (f"**Similar profiles.** The {len(neighbours)} nearest of {len(profiles)} indexed "
            "profiles, by overall colour, brightness, contrast, saturation and white balance"
            + (" and content" if report.has_content else "") + "."), items, neighbours


# === Events ===


def checked(photos, progress=None):
    """The ProfileReport of the uploads; refusals become one line."""
    from models.profile import ProfileError, check

    paths = read_uploads(photos, "feed's photos")
    names = [Path(path).name for path in paths]
    try:
        return check(paths, names=names, progress=progress)
    except ProfileError as error:
        raise gr.Error(str(error), print_exception=False) from None


@TAB.action(inputs=1, outputs=8)
def check_feed(photos, progress=gr.Progress()):
    """Check the feed: is it one visual concept, which photos break it, what to change.
    Returns the verdict card (HTML), the grid with the outliers marked, the Shapley charts by
    measure and by photo, the similar profiles (a note and a gallery), the report's numbers
    (JSON) and the photos for the explanation picker."""
    from demos.figures.profile import by_group_chart, by_photo_chart
    from explain import Cancelled
    from models.profile.feed import GROUP_LABELS
    from models.profile.grid import draw_grid

    def step(fraction: float, desc: str) -> None:
        # Between photos: a cancelled request or a closed page stops the check here.
        if request_gone():
            raise Cancelled("the request is gone")
        bar(0.9 * fraction, desc)

    with SteadyProgress(progress) as bar:
        report = checked(photos, progress=step)
        bar(0.9, "Drawing the grid and the charts")
        numbers = [p.index for p in report.photos]
        grid = draw_grid([p.image for p in report.photos], marks_of(report), numbers=numbers)
        group_chart = by_group_chart(report.by_group, GROUP_LABELS, report.baseline,
                                     report.score)
        photo_chart = by_photo_chart(report.by_photo, [p.name for p in report.photos],
                                     report.baseline, report.score, report.by_photo_exact,
                                     numbers=numbers)
        note, items, neighbours = similar_view(report)
    choices = [(f"Photo {p.index}: {p.name}", p.index) for p in report.photos]
    return (verdict_html(report), grid, group_chart, photo_chart, note, items,
            summary(report, neighbours), choices)


def cleared() -> tuple:
    """The check's outputs with nothing checked."""
    return EMPTY_VERDICT, None, None, None, "", [], None, []


def picker_for(choices) -> dict:
    """The photo picker after a check: the feed's photos, the first picked."""
    choices = choices or []
    return gr.Dropdown(choices=choices, value=choices[0][1] if choices else None)


def photo_position(value, count: int) -> int:
    """The picked photo's position (from 1), checked against the feed's length."""
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise InvalidField("photo", value, PHOTO_ACCEPTS)
    if not 1 <= int(value) <= count:
        raise InvalidField("photo", value, f"a photo position from 1 to {count}")
    return int(value)


def make_request(photos, photo=None, target=None) -> ExplainRequest:
    """What the explanation panel explains: one photo of the feed, scored by its technical
    quality, its content score or RAN-56's probability that it fits a good feed.

    Args:
        photos: the feed's uploads.
        photo: its position in the feed, from 1 (None: the first).
        target: "quality", "content" or "ran56" (None: quality).
    """
    from models import aesthetic
    from models.images import judged_copy, prepare_photo

    target = TARGET.check(target)
    paths = read_uploads(photos, "feed's photos")
    position = photo_position(photo, len(paths))
    if target == "content" and not aesthetic.content_available():
        raise gr.Error("There is no content score to explain: it needs the CLIP weights "
                       "(`python -m weights pull clip`).", print_exception=False)
    prepared = prepare_photo(paths[position - 1])
    image = judged_copy(prepared.image)
    title = f"What in photo {position} drives its {TARGET_LABELS[target]}"
    if target == "ran56":
        from models.profile.ran56 import trained_ran56

        trained = trained_ran56()
        if trained is None:
            raise gr.Error(NO_RAN56, print_exception=False)
        # One adapter over the probability the report shows: Grad-CAM reads RAN-56's last
        # feature map, LIME and SHAP perturb the photo.
        return ExplainRequest(image=image, model=trained.explain_adapter(), target="good",
                              target_label=TARGET_LABELS[target], title=title)
    # The prepared photo, not its judged copy: technical quality reads the native pixels, as
    # the report's number did; the maps are still drawn on the judged copy (setup.photo).
    setup = aesthetic.explanation_setup(prepared, target)
    return ExplainRequest(image=setup.photo, model=setup.models, target=target,
                          method_targets=setup.method_targets, note=setup.note,
                          target_label=TARGET_LABELS[target], title=title)


@friendly_errors
def preview(photos):
    """The feed as a grid before it is checked: the photos that can be read, each numbered by
    its position as uploaded (as the check will name it)."""
    from models.images import InvalidImage, judged_copy, prepare_photo
    from models.profile.check import MAX_PHOTOS
    from models.profile.grid import draw_grid

    if not photos or not isinstance(photos, list):
        return None
    images, numbers = [], []
    for number, path in enumerate(photos[:MAX_PHOTOS], start=1):
        try:
            images.append(judged_copy(prepare_photo(path).image, 360))
        except InvalidImage:
            continue
        numbers.append(number)
    return draw_grid(images, numbers=numbers) if images else None


def build() -> list:
    """Add the Profile tab's components to the current Blocks."""
    TAB.header()
    top = TAB.top(
        lambda: [PhotosInput("Your feed (3 to 30 photos, newest first)", height=200,
                             elem_id="profile-photos")],
        below_button=lambda: gr.Image(label="Your grid (misfits in red)", interactive=False,
                                      height=560, elem_id="profile-grid"))
    (photos,), grid = top.inputs, top.below_button
    TAB.examples([photos], [([str(path) for path in EXAMPLE_FEED],
                             "Example feed: the cat and the coffee, with two misfits")])
    with gr.Row():
        group_chart = gr.Plot(label="By measure", show_label=False, format="png",
                              elem_id="profile-by-group")
        photo_chart = gr.Plot(label="By photo", show_label=False, format="png",
                              elem_id="profile-by-photo")
    similar_note = gr.Markdown(label="How the similar profiles were found",
                               elem_id="profile-similar-note")
    similar = gr.Gallery(label="Similar profiles", columns=3, height=420, object_fit="contain",
                         elem_id="profile-similar")
    numbers = TAB.numbers()
    choices = gr.State([])

    photo_pick = DropdownInput(choices=[], value=None, label="Explain which photo",
                               accepts=PHOTO_ACCEPTS, elem_id="profile-photo-pick")
    panel = ExplanationPanel.build(
        methods=("gradcam", "lime", "shap"), default=("lime",), key=KEY,
        budgets={"lime": 120, "shap": 120},  # BRISQUE, one photo at a time: as the Aesthetic tab
        targets=[(TARGET_LABELS[o], o) for o in OUTPUTS], target_value=OUTPUTS[0],
        target_label="Explain which score",
        target_info=("Technical quality works offline; the content score needs CLIP, and RAN-56 "
                     "a trained model named in the manifest."),
        label="Why? What in one photo drives its score",
        unavailable=METHODS_UNAVAILABLE(OUTPUTS[0]),
    )
    follow_target = panel.follow_target(METHODS_UNAVAILABLE)
    # The maps explain one photo of the feed: the picked photo is theirs to clear on, not the
    # check's.
    TAB.wire(run=check_feed, button=top.button, inputs=[photos],
             outputs=[top.verdict, grid, group_chart, photo_chart, similar_note, similar,
                      numbers, choices],
             cleared=cleared, panel=panel, make_request=make_request,
             panel_inputs=[photos, photo_pick], picker=Picker(picker_for, choices, photo_pick))
    photos.change(preview, inputs=photos, outputs=grid, show_progress="hidden",
                  api_visibility="private")
    # The picker names the checked feed's photos; a new feed has none until it is checked.
    photos.change(lambda: gr.Dropdown(choices=[], value=None), outputs=photo_pick,
                  queue=False, show_progress="hidden", api_visibility="private")
    # Gradio's multi-file input adds an upload to the files already there; here an upload is
    # a new feed, so the input keeps only the files that upload brought.
    seen = gr.State(((), ()))
    photos.change(remember_feed, inputs=[photos, seen], outputs=seen, queue=False,
                  show_progress="hidden", api_visibility="private")
    photos.upload(uploaded_feed_only, inputs=[photos, seen], outputs=photos, queue=False,
                  show_progress="hidden", api_visibility="private")
    return [follow_target]


def _paths(value) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else ()


def remember_feed(value, seen: tuple) -> tuple:
    """(the feed before, the feed now) as the page showed them, updated on each change."""
    now = _paths(value)
    return seen if now == seen[1] else (seen[1], now)


def uploaded_feed_only(value, seen: tuple):
    """The input's files once an upload landed: only those the upload brought, not the feed
    they were added to. The upload and its change event reach the server in either order, so
    the feed before the upload is `seen`'s latest, or its previous once the change is in."""
    now = _paths(value)
    before = seen[0] if now == seen[1] else seen[1]
    # The input puts an upload after the files already there. (By position, not by path: a
    # photo uploaded again has the same path in Gradio's cache as the one already there.)
    if not before or len(now) <= len(before) or now[:len(before)] != before:
        return gr.skip()  # nothing was there before, or no way to tell what is new
    return list(now[len(before):])
