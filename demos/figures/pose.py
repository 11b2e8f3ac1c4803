"""Pictures that explain a pose comparison: skeletons, the per-joint chart and the person masks.

Everything here turns a `models.pose.PersonAnalysis` or `PoseComparison` into something to look
at, with no Gradio: uint8 RGB arrays for photos and a matplotlib Figure for the chart.
matplotlib is imported inside `joint_chart`, so importing this module costs only NumPy and PIL.

Colours say how well a joint agrees between the two photos, on `models.pose`'s per-joint score
`exp(-(d / 0.25)^2)`: green from `GOOD` up, amber from `AGREES` up, red below, grey when the joint
is not seen in both photos. `AGREES` is the level `models.pose.differing_limbs` uses to name
limbs that differ, so the chart's line and the notes tell the same story.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from models.pose.comparison import JOINT_NAMES, LIMBS, MIRROR_ORDER, JointScore, differing_limbs
from models.pose.mediapipe_runtime import VISIBLE

# === Colours ===

AGREES = 0.5
"""A joint (or limb, on average) agrees from this score up; `differing_limbs`' default."""
GOOD = 0.75
"""Clearly agrees: green from here up, amber between AGREES and this."""

GREEN = (34, 170, 84)
AMBER = (240, 160, 20)
RED = (220, 50, 50)
GREY = (150, 150, 160)
OUTLINE = (25, 25, 30)
MASK_TINT = (236, 72, 153)  # the app's pink: "this is what InstaVis calls a person"
SUBJECT = (56, 189, 248)  # sky blue: no joint colour, and clear on light and dark photos

# === Bones ===

NECK = "neck"
BONES = (*LIMBS, (NECK, "nose", None))
"""(name, first joint, second joint) for every line of the skeleton. The neck runs from the nose
to the midpoint of the shoulders (second joint None), since MediaPipe has no neck point."""

_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}


def agreement_colour(score: float | None) -> tuple[int, int, int]:
    """The RGB colour of a joint or limb score (grey for None: not seen in both photos)."""
    if score is None or not np.isfinite(score):
        return GREY
    if score >= GOOD:
        return GREEN
    if score >= AGREES:
        return AMBER
    return RED


def _scores(joint_scores, count: int) -> list[float | None]:
    """Per-joint scores as floats or None, from JointScores, numbers or None."""
    if joint_scores is None:
        return [None] * count
    scores = [j.score if isinstance(j, JointScore) else j for j in joint_scores]
    if len(scores) != count:
        raise ValueError(f"joint_scores needs {count} entries, one per joint, got {len(scores)}.")
    return [None if s is None else float(s) for s in scores]


def _mean(values) -> float | None:
    values = list(values)
    return None if not values or None in values else float(np.mean(values))


def _line_width(height: int, width: int) -> int:
    """Bone thickness in pixels: thin on thumbnails, still visible on a 2048-pixel photo."""
    return max(2, round(0.007 * max(height, width)))


def _supersampling(height: int, width: int) -> int:
    """How much larger to draw before shrinking, for smooth edges (PIL draws without
    anti-aliasing); big photos need none and would cost a large layer."""
    return int(np.clip(2048 // max(height, width), 1, 3))


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: a fixed-size bitmap font
        return ImageFont.load_default()


def _banner(image: np.ndarray, text: str) -> np.ndarray:
    """The photo with a small dark label centred near its bottom edge (UIs put their own
    labels and buttons in the top corners)."""
    picture = Image.fromarray(image).convert("RGBA")
    layer = Image.new("RGBA", picture.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    size = max(12, round(0.045 * max(picture.size)))
    font = _font(size)
    pad = size // 2
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x = (picture.width - (right - left)) / 2 - left
    y = picture.height - (bottom - top) - 3 * pad - top
    draw.rounded_rectangle((x + left - pad, y + top - pad, x + right + pad, y + bottom + pad),
                           radius=pad, fill=(20, 20, 25, 200))
    draw.text((x, y), text, font=font, fill=(255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(picture, layer).convert("RGB"))


SUBJECT_LABEL = "Main subject"


def _draw_subject_box(draw: ImageDraw.ImageDraw, box, factor: int, line: int, label: str,
                      height: int, width: int) -> None:
    """The main subject's box, in SUBJECT blue with a dark edge, named in a tag on its top left
    corner."""
    top, left, box_h, box_w = box
    # PIL draws a rectangle's outline inside its corners: grown by half a line, the line is
    # centred on the box's edge; inside the photo, a box along the photo's edge shows whole.
    edge = round(line * 1.6)
    grow = edge / 2
    corners = (max(left * factor - grow, 0), max(top * factor - grow, 0),
               min((left + box_w) * factor + grow, width * factor - 1),
               min((top + box_h) * factor + grow, height * factor - 1))
    draw.rectangle(corners, outline=(*OUTLINE, 200), width=edge)
    inner = [corners[0] + (edge - line) / 2, corners[1] + (edge - line) / 2,
             corners[2] - (edge - line) / 2, corners[3] - (edge - line) / 2]
    draw.rectangle(inner, outline=(*SUBJECT, 255), width=line)
    corners = inner
    font = _font(max(10, round(0.032 * max(height, width))) * factor)
    pad = line
    size = draw.textbbox((0, 0), label, font=font)
    tag_h = size[3] + 2 * pad
    # Above the box's top left corner, where it hides nothing of the subject; inside the box
    # when the box starts at the photo's top.
    x = corners[0]
    y = corners[1] - tag_h if corners[1] - tag_h >= 0 else corners[1] + line
    draw.rectangle((x, y, x + size[2] + 2 * pad, y + tag_h), fill=(*SUBJECT, 230))
    draw.text((x + pad, y + pad), label, font=font, fill=(*OUTLINE, 255))


def draw_skeleton(analysis, joint_scores: Sequence | None = None) -> np.ndarray:
    """The photo with its main subject's box and skeleton, each joint coloured by how well it
    agrees.

    Only joints this photo sees (MediaPipe visibility from
    `models.pose.mediapipe_runtime.VISIBLE` up) are drawn:
    MediaPipe also guesses joints outside the frame or hidden, and drawing those would show a
    pose InstaVis did not use. A bone is coloured by the mean score of its two joints, as
    `differing_limbs` judges limbs; dots and bones without a score are grey.

    Args:
        analysis: a `models.pose.PersonAnalysis`.
        joint_scores: one entry per joint of `models.pose.JOINT_NAMES`, in *this photo's* joint
            order: JointScores, floats in [0, 1] or None. None for all grey (no comparison).
            For photo b of a mirrored match, use `comparison_skeletons`, which reorders them.

    The main subject's box (`PersonAnalysis.subject_box`: the person whose pose is compared,
    chosen among several as the largest nearest the centre) is drawn in SUBJECT blue and named
    "Main subject".

    Returns:
        uint8 H x W x 3, the photo's size. A photo without a pose gets a label instead of a
        skeleton: "No person found", or, when a main subject was chosen but MediaPipe found
        no body in it, its box and "No pose found for the main subject".
    """
    image = analysis.image
    height, width = image.shape[:2]
    box = getattr(analysis, "subject_box", None)
    if not analysis.has_pose and box is None:
        return _banner(image, "No person found")
    factor = _supersampling(height, width)
    line = _line_width(height, width) * factor
    # Draw on a transparent layer at `factor` times the size, then shrink it onto the photo:
    # the shrink anti-aliases every edge.
    layer = Image.new("RGBA", (width * factor, height * factor), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    if box is not None:
        _draw_subject_box(draw, box, factor, line, SUBJECT_LABEL, height, width)
    if not analysis.has_pose:
        return _banner(_composite(image, layer, factor), "No pose found for the main subject")
    scores = _scores(joint_scores, len(JOINT_NAMES))
    seen = np.asarray(analysis.visibility) >= VISIBLE
    points = np.asarray(analysis.keypoints, np.float64) * factor
    radius = 2.0 * line

    for _name, first, second in BONES:
        i = _INDEX[first]
        if second is None:  # the neck: nose to the shoulders' midpoint
            shoulders = [_INDEX["left shoulder"], _INDEX["right shoulder"]]
            if not (seen[i] and seen[shoulders].all()):
                continue
            end = points[shoulders].mean(axis=0)
            score = _mean([scores[i], _mean(scores[j] for j in shoulders)])
        else:
            j = _INDEX[second]
            if not (seen[i] and seen[j]):
                continue
            end = points[j]
            score = _mean([scores[i], scores[j]])
        ends = [tuple(points[i]), tuple(end)]
        # A dark edge keeps the bone visible on light and dark backgrounds alike.
        draw.line(ends, fill=(*OUTLINE, 220), width=round(line * 1.6), joint="curve")
        draw.line(ends, fill=(*agreement_colour(score), 255), width=line, joint="curve")
    for i in np.flatnonzero(seen):
        x, y = points[i]
        draw.ellipse((x - radius, y - radius, x + radius, y + radius),
                     fill=(*agreement_colour(scores[i]), 255), outline=(255, 255, 255, 255),
                     width=max(1, round(line * 0.35)))
    return _composite(image, layer, factor)


def _composite(image: np.ndarray, layer: Image.Image, factor: int) -> np.ndarray:
    """The drawing `layer` (at `factor` times the photo's size) shrunk onto the photo."""
    height, width = image.shape[:2]
    if factor > 1:
        layer = layer.resize((width, height), Image.Resampling.LANCZOS)
    picture = Image.alpha_composite(Image.fromarray(image).convert("RGBA"), layer)
    return np.asarray(picture.convert("RGB"))


def scores_for_b(comparison) -> list[float | None]:
    """The per-joint scores in photo b's own joint order.

    `PoseComparison.joints` follows photo a's joints. When b matched as a mirror image, a's
    left wrist was compared with b's right wrist, so b's joints take the scores of their
    mirrored names (`MIRROR_ORDER` swaps left and right, and is its own inverse).
    """
    scores = _scores(comparison.joints, len(JOINT_NAMES))
    if comparison.mirrored:
        return [scores[i] for i in MIRROR_ORDER]
    return scores


def comparison_skeletons(comparison) -> tuple[np.ndarray, np.ndarray]:
    """(photo a, photo b), each with its skeleton coloured by the comparison's joint scores."""
    return (draw_skeleton(comparison.a, comparison.joints),
            draw_skeleton(comparison.b, scores_for_b(comparison)))


# === The per-joint chart ===


def chart_title(comparison) -> str:
    """What the chart's title says: the limbs that differ, or why there is nothing to chart."""
    if comparison.pose_similarity is None:
        if not (comparison.a.has_pose and comparison.b.has_pose):
            return "No pose to compare: a photo has no person in it"
        return "No pose to compare: too few joints seen in both photos"
    differ = differing_limbs(comparison.joints, below=AGREES)
    if differ:
        return "Differ most: " + ", ".join(differ)
    return "Every limb seen in both photos agrees"


def joint_chart(comparison, width: float = 6.4, height: float = 4.6):
    """A horizontal bar per joint: how well it agrees between the two photos after alignment.

    Bars use the skeletons' colours; joints not seen in both photos get no bar and the words
    "not seen". A dashed line marks `AGREES`. The title names the limbs that differ.

    Args:
        comparison: a `models.pose.PoseComparison`.
        width, height: the figure's size in inches.

    Returns:
        A matplotlib Figure with an Agg canvas (no pyplot state), one bar per joint in
        `JOINT_NAMES` order from the top.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    scores = _scores(comparison.joints, len(JOINT_NAMES))
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    rows = np.arange(len(JOINT_NAMES))
    values = [0.0 if s is None else s for s in scores]
    colours = [np.array(agreement_colour(s)) / 255 for s in scores]
    ax.barh(rows, values, color=colours, height=0.7)
    for row, score in zip(rows, scores, strict=True):
        if score is None:
            ax.text(0.01, row, "not seen", va="center", ha="left", fontsize=8,
                    color="#777780", style="italic")
        elif score > 0.85:  # no room to its right: write it inside the bar's end
            ax.text(score - 0.015, row, f"{score:.2f}", va="center", ha="right", fontsize=8,
                    color="white", fontweight="bold")
        else:
            ax.text(score + 0.015, row, f"{score:.2f}", va="center", ha="left", fontsize=8,
                    color="#333338")
    ax.axvline(AGREES, color="#555560", linestyle="--", linewidth=1)
    ax.text(AGREES, -0.9, f" agrees from {AGREES:g}", fontsize=8, color="#555560",
            va="bottom", ha="left")
    ax.set_yticks(rows, [name.capitalize() for name in JOINT_NAMES], fontsize=9)
    ax.set_ylim(len(rows) - 0.5, -1.2)  # nose at the top, ankles at the bottom
    ax.set_xlim(0, 1.05)
    ax.set_xlabel("Agreement after aligning the two skeletons (1 = same place on the body)",
                  fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", alpha=0.25)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    title = chart_title(comparison)
    if comparison.mirrored:
        title += "\n(your photo matched as a mirror image; joints named as in the post)"
    ax.set_title(title, fontsize=10, loc="left")
    legend = [Patch(color=np.array(c) / 255, label=label) for c, label in (
        (GREEN, f"agrees (≥ {GOOD:g})"), (AMBER, f"roughly ({AGREES:g}–{GOOD:g})"),
        (RED, f"differs (< {AGREES:g})"), (GREY, "not seen in both"))]
    fig.legend(handles=legend, loc="outside lower center", ncol=4, fontsize=8, frameon=False)
    return fig


# === Masks ===


def mask_view(analysis, strength: float = 0.6) -> np.ndarray:
    """The photo with every person InstaVis found tinted pink, in proportion to the mask.

    Pixels outside the person mask are left exactly as they are, so what is tinted is exactly
    what the background comparison leaves out.

    Args:
        analysis: a `models.pose.PersonAnalysis`.
        strength: the tint's opacity where the mask is 1, in [0, 1].

    Returns:
        uint8 H x W x 3.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}.")
    image = analysis.image.astype(np.float32)
    alpha = strength * np.clip(np.asarray(analysis.person_mask, np.float32), 0.0, 1.0)[..., None]
    tinted = image * (1.0 - alpha) + np.array(MASK_TINT, np.float32) * alpha
    return np.clip(np.rint(tinted), 0, 255).astype(np.uint8)


def background_view(analysis) -> np.ndarray:
    """The photo as the background comparison sees it: people filled in by inpainting."""
    return analysis.background_only()
