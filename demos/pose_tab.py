"""The Pose tab: does your photo recreate a post, with the same pose in front of the same place?

UI only. The comparison is `models.pose`, the pictures `demos.figures.pose`, the explanation
adapters `models.pose.explanations`; MediaPipe and TensorFlow load on the first Compare, not here.
"""

from __future__ import annotations

import gradio as gr

from demos import styling
from demos.common import PhotoInput, read_upload
from demos.explain_panel import ExplanationPanel
from demos.explain_runs import ExplainRequest
from demos.fields import Flag, OneOf
from demos.figures import pose as pose_figures
from demos.progress import SteadyProgress
from demos.tab_skeleton import EXAMPLES_DIR as EXAMPLES_DIR  # where EXAMPLES are, for callers
from demos.tab_skeleton import TabSkeleton
from models.pose import comparison as pose  # light: MediaPipe loads on first use
from models.pose import explanations as pose_explain
from weights.prefetch import missing_advice

KEY = "pose"
TITLE = "Pose"

OUTPUTS = pose.SIMILARITY_OUTPUTS  # what the explanation panel can explain
MIRROR = Flag("allow_mirror")
TARGET = OneOf("target", tuple(OUTPUTS), default=OUTPUTS[0])  # None means the pose

EXAMPLES = (
    ("astronaut.jpg", "astronaut_mirrored.jpg",
     "Same pose, same place (mirrored, cropped, brighter)"),
    ("astronaut.jpg", "camera.jpg", "Different pose, different place"),
    ("astronaut.jpg", "coffee.jpg", "No person in your photo"),
)

PANEL_BUDGETS = {"lime": 100, "shap": 100}
"""Each evaluation re-runs MediaPipe on the perturbed photo (30-50 ms on the 472-pixel example
on 2 cores), so the panel's default 200 would take up to 10 s a method before the 81-evaluation
faithfulness check; 100 keeps a warm method at 3-5 s plus 3-4 s for the check (measured on the
example pair: LIME 3.0 s / 4.7 s and SHAP 3.3 s / 4.3 s for the pose / background maps)."""

INTRO = """\
### Same pose, same place?
Recreating a post? Put the original on the left and your photo on the right. InstaVis finds the
main person in each photo (with bystanders around, the largest person nearest the centre: the
blue box on each photo) and compares the two poses joint by joint (a mirrored pose counts too,
unless you untick it; a photo tilted by up to 25 degrees still matches, lying down does not
match standing). Then it masks the people out and compares what is left, the place, by colour,
texture and the corners it shares with the post.
Everything runs on this computer, with no download."""

def gradcam_missing() -> str:
    """Shown as "Not available here: Grad-CAM (...)" while the CLIP weights are missing: the
    download under way, or the command that fetches them."""
    return ("explains the background with CLIP, whose weights are not on this machine; "
            + missing_advice("clip"))
# The notes' one-word verdicts repeat the headline, so the verdict block leaves them out.
_VERDICT_NOTES = {"Same pose.", "Different pose.", "Same place.", "Different place."}

EMPTY_VERDICT = styling.empty_card("Pick an example below or upload two photos, then press "
                                   "<b>Compare</b>. The verdict appears here.")

TAB = TabSkeleton(
    key=KEY, scope_name="comparison", intro=INTRO, action_label="Compare",
    empty_verdict=EMPTY_VERDICT, numbers_label="Comparison",
    examples_label="Example pairs (photos from scikit-image: public domain and CC0)")
"""The parts of the tab every tab shares; the comparison is derived from the pair and the
mirror rule. Its two photos side by side do not fit `TabSkeleton.top`, so it lays them out
itself."""


# === What the outputs show (pure functions of a PoseComparison) ===


def headline(comparison) -> tuple[str, str]:
    """(headline, one sentence under it) for a comparison."""
    place = comparison.background_similarity >= comparison.background_threshold
    place_words = "same place" if place else "different place"
    if comparison.pose_similarity is None:
        return (f"✗ No pose to compare, {place_words}",
                "InstaVis could not compare the poses, so it cannot call this a recreation.")
    same_pose = comparison.pose_similarity >= comparison.pose_threshold
    if comparison.similar:
        return "✓ Same pose, same place", "Your photo recreates the post."
    missing = [what for what, ok in (("the pose", same_pose), ("the place", place)) if not ok]
    return (f"✗ {'Same' if same_pose else 'Different'} pose, {place_words}",
            f"Not a recreation: {' and '.join(missing)} "
            f"{'differ' if len(missing) > 1 else 'differs'}.")


def verdict_html(comparison) -> str:
    """The verdict block: headline, the two similarities as bars with their thresholds,
    people counts, whether the match is mirrored, and the comparison's notes."""
    title, sentence = headline(comparison)
    people_a, people_b = comparison.people
    return styling.card(
        comparison.similar,
        styling.headline(title),
        styling.sub_line(sentence),
        styling.meter("Pose similarity", comparison.pose_similarity,
                      f"same pose from {comparison.pose_threshold:g} (the tick)",
                      threshold=comparison.pose_threshold),
        styling.meter("Background similarity", comparison.background_similarity,
                      f"same place from {comparison.background_threshold:g} (the tick)",
                      threshold=comparison.background_threshold),
        styling.facts(f"People found: <b>{people_a}</b> in the post, <b>{people_b}</b> in your "
                      f"photo · Mirrored: <b>{'yes' if comparison.mirrored else 'no'}</b>"),
        styling.notes_list(note for note in comparison.notes if note not in _VERDICT_NOTES),
    )


def summary(comparison) -> dict:
    """The comparison's numbers as plain JSON, for the API and the "numbers" accordion."""
    return {
        "similar": comparison.similar,
        "pose_similarity": comparison.pose_similarity,
        "background_similarity": comparison.background_similarity,
        "pose_threshold": comparison.pose_threshold,
        "background_threshold": comparison.background_threshold,
        "people": list(comparison.people),
        "mirrored": comparison.mirrored,
        "notes": list(comparison.notes),
        "background": {
            "colour": comparison.background.colour,
            "texture": comparison.background.texture,
            "layout": comparison.background.layout,
            "structure": comparison.background.structure,
            "clip": comparison.background.clip,
        },
        "joints": {j.name: j.score for j in comparison.joints},
        "main_subject": {"post": subject_box(comparison.a), "photo": subject_box(comparison.b)},
    }


def subject_box(analysis) -> dict | None:
    """Where the person whose pose was compared stands, as shares of the compared photo's
    width and height (so it holds at whatever size the photo is shown): {"left", "top",
    "width", "height"}, or None when the photo has no main subject."""
    if analysis.subject_box is None:
        return None
    height, width = analysis.image.shape[:2]
    top, left, box_h, box_w = analysis.subject_box
    return {"left": round(left / width, 4), "top": round(top / height, 4),
            "width": round(box_w / width, 4), "height": round(box_h / height, 4)}


# === Events ===


def _read_pair(post, photo):
    """Both uploads, checked; which one is wrong is in the message."""
    if post is None or photo is None:
        raise gr.Error("Please upload both photos: the post on the left, yours on the right.",
                       print_exception=False)
    return (read_upload(post, "photo of the post", field="post"),
            read_upload(photo, "photo of yours", field="photo"))


@TAB.action(inputs=3, outputs=9)
def compare(post, photo, allow_mirror: bool = True, progress=gr.Progress()):
    """Does your photo recreate the post: the same pose in front of the same place? Returns
    the verdict card (HTML), the comparison's numbers (JSON), each photo's skeleton, the
    joint-by-joint chart, and each photo's people mask and background."""
    allow_mirror = MIRROR.check(allow_mirror)
    with SteadyProgress(progress) as bar:
        with bar.step(0.0, 0.1, "Reading the photos"):
            image_a, image_b = _read_pair(post, photo)
        # The first analysis of a process may load MediaPipe's graphs: seconds, not a hang.
        with bar.step(0.1, 0.4, "Finding people in the post"):
            a = pose.analyse(image_a, remember=True)
        with bar.step(0.4, 0.7, "Finding people in your photo"):
            b = pose.analyse(image_b, remember=True)
        with bar.step(0.7, 0.85, "Comparing poses and backgrounds"):
            comparison = pose.compare_analyses(a, b, allow_mirror=allow_mirror)
        with bar.step(0.85, 1.0, "Drawing the skeletons"):
            skeleton_a, skeleton_b = pose_figures.comparison_skeletons(comparison)
    return (
        verdict_html(comparison), summary(comparison), skeleton_a, skeleton_b,
        pose_figures.joint_chart(comparison),
        pose_figures.mask_view(a), pose_figures.mask_view(b),
        pose_figures.background_view(a), pose_figures.background_view(b),
    )


def make_request(post, photo, allow_mirror: bool = True, target=None,
                 gradcam: bool = False) -> ExplainRequest:
    """What the explanation panel explains: your photo, scored by its similarity to the post.

    Args:
        post, photo: the two uploads.
        allow_mirror: as in Compare.
        target: "pose similarity" or "background similarity" (None: pose).
        gradcam: offer Grad-CAM (the CLIP weights are on this machine now).
    """
    allow_mirror, target = MIRROR.check(allow_mirror), TARGET.check(target)
    image_a, image_b = _read_pair(post, photo)
    a, b = pose.analyse(image_a, remember=True), pose.analyse(image_b, remember=True)
    switched = None
    similarity = pose.pose_similarity(a, b, allow_mirror)[0]
    if target == OUTPUTS[0] and (similarity is None or similarity < pose.POSE_THRESHOLD):
        # No pose, or poses that differ: no pose map can be told from random maps (see
        # DIFFERENT_POSE_SWITCH_NOTE), so it is not offered. The pair still has a background
        # similarity, so that is explained instead, and the picker follows (target_choices),
        # so the default Explain is always a valid one.
        target = OUTPUTS[1]
        if similarity is not None:
            switched = DIFFERENT_POSE_SWITCH_NOTE.format(similarity=similarity,
                                                         threshold=pose.POSE_THRESHOLD)
        else:
            switched = (NO_POSE_SWITCH_NOTE if b.has_pose and a.has_pose
                        else NO_PERSON_SWITCH_NOTE)
    setup = pose_explain.explanation_setup(a, b, allow_mirror=allow_mirror,
                                           gradcam=gradcam, target=target)
    note = " ".join(part for part in (switched, setup.note) if part) or None
    return ExplainRequest(image=setup.photo, model=setup.models, target=target,
                          method_targets=setup.method_targets, note=note,
                          options=pose_explain.explanation_options(b, target),
                          target_choices=list(OUTPUTS) if switched else None,
                          title=f"What in your photo drives its {target} to the post")


NO_PERSON_SWITCH_NOTE = ("There is no pose to compare (a photo shows no person), so this explains "
                         "the background similarity.")
NO_POSE_SWITCH_NOTE = ("Too few joints show in both photos to compare the poses, so this explains "
                       "the background similarity.")
DIFFERENT_POSE_SWITCH_NOTE = (
    "The poses differ (pose similarity {similarity:.2f}; the same pose from {threshold:g}), so "
    "there is no pose map: with so little of the pose matching, no map of it beats random maps "
    "in the faithfulness check. The joint chart shows which limbs differ; this explains the "
    "background similarity.")
"""Why a pair called a different pose gets no pose map. On the "Different pose, different
place" example (pose similarity 0.21), even exact Shapley values over the body parts (2,048
evaluations) lose to random maps: hiding a quarter of the photo at random often loses the
body already, so the random maps' deletion spread is wider than the whole score."""


def cleared() -> tuple:
    """The comparison's outputs with nothing compared: the empty card, and no numbers or
    pictures."""
    return (EMPTY_VERDICT, *[None] * 8)


def target_info(gradcam: bool) -> str:
    """The target picker's hint, naming Grad-CAM's scope when it is offered."""
    return ("What in your photo keeps it close to the post? Grad-CAM explains the background "
            "only." if gradcam else "What in your photo keeps it close to the post?")


def gradcam_reasons() -> dict[str, str]:
    """Why Grad-CAM cannot be offered now ({} when the CLIP weights are here)."""
    return {} if pose_explain.gradcam_available() else {"gradcam": gradcam_missing()}


def build() -> list:
    """Add the Pose tab's components to the current Blocks.

    Returns:
        The tab's refreshers (fn, inputs, outputs), run on page load and when the tab is
        selected: Grad-CAM joins the picker as soon as the CLIP weights arrive.
    """
    TAB.header()
    with gr.Row(equal_height=True):
        post = PhotoInput("1 · The post you want to recreate", height=340,
                          elem_id="pose-photo-a")
        photo = PhotoInput("2 · Your photo", height=340, elem_id="pose-photo-b")
    with gr.Row(equal_height=True):
        mirror = gr.Checkbox(
            value=True, label="Allow mirrored pose", scale=3, elem_id="pose-mirror",
            info="Count a left-right flipped pose as the same (front cameras mirror selfies).",
        )
        button = TAB.button(scale=1)
    inputs = [post, photo, mirror]
    TAB.examples(inputs, [(post_name, photo_name, True, label)
                          for post_name, photo_name, label in EXAMPLES])

    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            verdict = TAB.verdict()
        with gr.Column(scale=3, min_width=360):
            chart = gr.Plot(label="Joint by joint", format="png", elem_id="pose-chart")
    with gr.Row(equal_height=True):
        skeleton_a = gr.Image(label="The post: the pose InstaVis found", interactive=False,
                              height=360, elem_id="pose-skeleton-a")
        skeleton_b = gr.Image(label="Your photo: the pose InstaVis found", interactive=False,
                              height=360, elem_id="pose-skeleton-b")
    with gr.Accordion("What each photo's background looks like to InstaVis", open=False,
                      elem_id="pose-backgrounds"):
        gr.Markdown("Pink marks the people InstaVis found. The background comparison looks only "
                    "at the rest; below, the people are filled in from their surroundings, "
                    "which is the picture CLIP compares.")
        with gr.Row(equal_height=True):
            mask_a = gr.Image(label="The post: people found", interactive=False, height=260)
            mask_b = gr.Image(label="Your photo: people found", interactive=False, height=260)
        with gr.Row(equal_height=True):
            background_a = gr.Image(label="The post: background only", interactive=False,
                                    height=260)
            background_b = gr.Image(label="Your photo: background only", interactive=False,
                                    height=260)
    numbers = TAB.numbers()

    reasons = gradcam_reasons()
    panel = ExplanationPanel.build(
        methods=("gradcam", "lime", "shap"), default=("lime",), key=KEY,
        targets=list(OUTPUTS), target_value=OUTPUTS[0], target_label="Explain which similarity",
        target_info=target_info(not reasons),
        label="Why? What in your photo drives each similarity", budgets=PANEL_BUDGETS,
        unavailable=reasons,
    )

    def explain_request(post, photo, allow_mirror=True, target=None):
        # Asked per request: weights pulled while the app runs count at once.
        return make_request(post, photo, allow_mirror, target,
                            gradcam=pose_explain.gradcam_available())

    def refresh(picked):
        available = gradcam_reasons()
        picker, note, legend = panel.availability(available, picked)
        return picker, note, legend, gr.Dropdown(info=target_info(not available))

    # Either photo, or the mirror rule, changing voids every result derived from them.
    TAB.wire(run=compare, button=button, inputs=inputs,
             outputs=[verdict, numbers, skeleton_a, skeleton_b, chart, mask_a, mask_b,
                      background_a, background_b],
             cleared=cleared, panel=panel, make_request=explain_request)
    return [(refresh, [panel.picker],
             [panel.picker, panel.unavailable_note, panel.legend, panel.target])]
