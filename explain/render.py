"""Drawing explanations: heat-map overlays, a side-by-side figure, and the faithfulness table.

Every function here is pure: it takes arrays and Explanations and returns new arrays, figures,
bytes or rows. matplotlib is imported inside the functions that need it, so `import explain`
stays light for apps that only compute maps.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from explain.explanation import Explanation

METHOD_NAMES = {"gradcam": "Grad-CAM", "cam": "CAM", "lime": "LIME", "shap": "SHAP"}

UNSIGNED_CMAP = "inferno"
"""Sequential: dark (transparent) for unimportant, bright yellow for the most important pixels."""
SIGNED_CMAP = "RdBu_r"
"""Diverging, centred at 0: red raises the explained score, blue lowers it."""
OPACITY_GAMMA = 0.5
"""Per-pixel opacity is alpha * |value| ** OPACITY_GAMMA. A square root keeps middling values
visible (a linear ramp leaves a 0.5 region at a quarter of full opacity when alpha is 0.5) while
zero still shows the bare photo."""

TABLE_HEADERS = [
    "Method", "Deletion AUC", "Insertion AUC", "Random maps' deletion AUC (mean)",
    "Random maps' insertion AUC (mean)", "Beats random", "Seconds", "Evaluations",
]


def method_name(method: str) -> str:
    """The human-readable name of a method ("gradcam" -> "Grad-CAM"); unknown ones unchanged."""
    return METHOD_NAMES.get(method, method)


def format_score(value: float, digits: int = 3) -> str:
    """A score with `digits` significant digits in fixed point ("0.213", "81.5", "169").

    AUCs are in the model's own output units, which range from probabilities to logits in the
    hundreds, so a fixed number of decimals would either hide differences or print noise.
    """
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    if not 1e-3 <= magnitude < 1e6:
        return f"{value:.{digits - 1}e}"
    decimals = max(0, digits - 1 - math.floor(math.log10(magnitude)))
    return f"{value:.{decimals}f}"


def faithfulness_summary(exp: Explanation) -> str:
    """ "del 0.21 (rand 0.35 ± 0.04) · ins 0.62 (rand 0.40 ± 0.03)", or "" when faithfulness
    was skipped.

    The map's AUCs are the ones read on the random maps' grid (`compared_*`), so the numbers
    side by side are measured alike and agree with the verdict.
    """
    scores = exp.faithfulness
    if scores is None:
        return ""
    return (f"del {format_score(scores.compared_deletion_auc)} "
            f"(rand {format_score(scores.random_deletion_auc)} "
            f"± {format_score(scores.random_deletion_spread)}) · "
            f"ins {format_score(scores.compared_insertion_auc)} "
            f"(rand {format_score(scores.random_insertion_auc)} "
            f"± {format_score(scores.random_insertion_spread)})")


def verdict(exp: Explanation) -> str:
    """One phrase: the Faithfulness verdict and what it rests on."""
    if exp.faithfulness is None:
        return "faithfulness not measured"
    scores = exp.faithfulness
    # Short enough for a figure title; the spread rule is in the legend and the docs.
    if scores.beats_random:
        return f"{scores.verdict}: beats {scores.random_maps} random maps"
    return f"{scores.verdict} vs {scores.random_maps} random maps"


# === Overlays ===


def _check_image(image) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a NumPy array, got {type(image).__name__}.")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must be uint8 H x W x 3, got {image.dtype} {image.shape}.")
    if min(image.shape[:2]) < 1:
        raise ValueError("image has no pixels.")
    return image


def _check_alpha(alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating, np.integer)):
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}.")
    if not 0.0 <= float(alpha) <= 1.0:  # also refuses NaN
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}.")
    return float(alpha)


def _check_heatmap(heatmap, size: tuple[int, int], signed: bool) -> np.ndarray:
    heatmap = np.asarray(heatmap)
    if heatmap.ndim != 2 or heatmap.shape != tuple(size):
        raise ValueError(f"heatmap must be H x W like the image ({size[0]} x {size[1]}), "
                         f"got shape {heatmap.shape}.")
    if not (np.issubdtype(heatmap.dtype, np.floating) or np.issubdtype(heatmap.dtype, np.integer)
            or heatmap.dtype == np.bool_):
        raise ValueError(f"heatmap must hold numbers, got {heatmap.dtype}.")
    heatmap = heatmap.astype(np.float32)
    if not np.isfinite(heatmap).all():
        raise ValueError("heatmap has NaN or infinite values.")
    low = -1.0 if signed else 0.0
    # A few ulps of slack: maps normalised by their peak can land a rounding error past 1.
    tolerance = 1e-5
    if heatmap.size and (heatmap.min() < low - tolerance or heatmap.max() > 1.0 + tolerance):
        kind = "signed maps must lie in [-1, 1]" if signed else "unsigned maps must lie in [0, 1]"
        raise ValueError(f"{kind}; this one spans [{heatmap.min():.4g}, {heatmap.max():.4g}].")
    return np.clip(heatmap, low, 1.0)


def muted(image: np.ndarray) -> np.ndarray:
    """The photo in grey (Rec. 601 luma), as a backdrop for a map.

    Red and blue read as the photo's own colours on a warm photo (a red cup on brown wood)
    and orange-to-yellow as its highlights; on grey every colour of a map is the map's."""
    image = _check_image(image)
    luma = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    grey = np.clip(np.rint(luma), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def overlay_map(image: np.ndarray, heatmap: np.ndarray, signed: bool,
                alpha: float = 0.5) -> np.ndarray:
    """Colour a heat map over a photo, letting the photo show where the map is near zero.

    Unsigned maps use a sequential colour map (inferno); signed maps a diverging one (RdBu_r,
    centred at 0, red for positive). Each pixel's opacity grows with |value|, so unimportant
    regions show the untouched photo instead of a tinted one (unlike a uniform blend, as in
    pytorch-grad-cam's `show_cam_on_image`).

    Args:
        image: uint8 H x W x 3.
        heatmap: H x W; in [0, 1] when unsigned, in [-1, 1] when signed; finite.
        signed: whether negative values carry meaning.
        alpha: opacity of the colour where |value| is 1, in [0, 1].

    Returns:
        A new uint8 H x W x 3 image.

    Raises:
        ValueError: a wrong dtype or shape, a map outside its range or with NaN, or alpha
            outside [0, 1].
    """
    image = _check_image(image)
    alpha = _check_alpha(alpha)
    heatmap = _check_heatmap(heatmap, image.shape[:2], bool(signed))
    from matplotlib import colormaps

    if signed:
        colours = colormaps[SIGNED_CMAP]((heatmap + 1.0) / 2.0)[..., :3]
    else:
        colours = colormaps[UNSIGNED_CMAP](heatmap)[..., :3]
    weight = (alpha * np.abs(heatmap) ** OPACITY_GAMMA)[..., None]
    blended = image.astype(np.float32) * (1.0 - weight) + colours.astype(np.float32) * 255 * weight
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def overlay(image: np.ndarray, exp: Explanation, alpha: float = 0.5,
            grey: bool = False) -> np.ndarray:
    """`overlay_map` for an Explanation: its heatmap, coloured by whether it is signed.

    Args:
        image: uint8 H x W x 3, the image the explanation was made for.
        exp: the explanation; its heatmap must have the image's height and width.
        alpha: opacity of the colour where |value| is 1, in [0, 1].
        grey: draw on the photo in grey (`muted`), so the map's colours are the only ones.

    Returns:
        A new uint8 H x W x 3 image.

    Raises:
        ValueError: see `overlay_map`.
    """
    if not isinstance(exp, Explanation):
        raise ValueError(f"exp must be an Explanation, got {type(exp).__name__}.")
    return overlay_map(muted(image) if grey else image, exp.heatmap, exp.signed, alpha)


SCALE_WORDS = {True: ("lowers the score", "raises the score"),
               False: ("unimportant", "most important")}
"""The words at the two ends of each colour scale (signed maps are centred at 0)."""


def colour_bar_strip(width: int, signed: bool) -> np.ndarray:
    """A colour scale to put under a map: the colour map's gradient across the width, with
    the words for its two ends (`SCALE_WORDS`) under it. uint8 h x width x 3, on white."""
    from matplotlib import colormaps
    from PIL import Image, ImageDraw, ImageFont

    width = int(width)
    font_size = max(10, round(width / 34))
    bar_height = max(5, round(font_size * 0.6))
    gap = max(2, font_size // 4)
    height = gap + bar_height + gap + font_size + gap
    cmap = colormaps[SIGNED_CMAP if signed else UNSIGNED_CMAP]
    ramp = (cmap(np.linspace(0.0, 1.0, width))[:, :3] * 255).round().astype(np.uint8)
    strip = Image.new("RGB", (width, height), (255, 255, 255))
    strip.paste(Image.fromarray(np.repeat(ramp[None], bar_height, axis=0)), (0, gap))
    draw = ImageDraw.Draw(strip)
    font = ImageFont.load_default(size=font_size)
    low, high = SCALE_WORDS[bool(signed)]
    top = gap + bar_height + gap
    draw.text((2, top), low, fill=(60, 60, 66), font=font)
    draw.text((width - 2, top), high, fill=(60, 60, 66), font=font, anchor="ra")
    return np.asarray(strip)


def gallery_picture(image: np.ndarray, exp: Explanation, alpha: float = 0.5) -> np.ndarray:
    """A map as an app shows it on its own: on the photo in grey, with its colour scale under
    it (a gallery has no room for a separate colour bar)."""
    picture = overlay(image, exp, alpha, grey=True)
    return np.concatenate([picture, colour_bar_strip(picture.shape[1], exp.signed)], axis=0)


# === The side-by-side figure ===


def panel_title(exp: Explanation) -> str:
    """A figure panel's title: the method, then its faithfulness numbers and verdict."""
    lines = [method_name(exp.method)]
    if exp.faithfulness is not None:
        # Deletion and insertion on lines of their own: one line would outgrow the panel.
        lines += [*faithfulness_summary(exp).split(" · "), verdict(exp)]
    return "\n".join(lines)


def comparison_figure(image: np.ndarray, explanations: Sequence[Explanation],
                      title: str | None = None, alpha: float = 0.5):
    """The photo, then one overlay per explanation, side by side, with a colour bar per kind.

    Each overlay is titled with its method and, when measured, its deletion and insertion AUC
    against the random maps'. One colour bar serves all unsigned maps and one all signed maps,
    so the reader learns each colour scale once.

    Args:
        image: uint8 H x W x 3.
        explanations: explanations of this image (each heatmap H x W).
        title: the figure's title, if any.
        alpha: overlay opacity, as in `overlay`.

    Returns:
        A matplotlib Figure drawn with the Agg canvas (no display, no pyplot state), ready for
        `figure_png` or `save_png`.

    Raises:
        ValueError: see `overlay`.
    """
    image = _check_image(image)
    # On the photo in grey: the first panel shows its colours, the others only the maps'.
    overlays = [overlay(image, exp, alpha, grey=True) for exp in explanations]
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    panels = 1 + len(overlays)
    height, width = image.shape[:2]
    panel_width = 3.2
    # Room for up to four title lines above each image, the figure's title, and a colour
    # bar per kind below.
    fig_height = (panel_width * height / width + 0.95 + (0.3 if title else 0.0)
                  + 0.3 * len({exp.signed for exp in explanations}))
    fig = Figure(figsize=(panel_width * panels, fig_height), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, panels, squeeze=False)[0]

    axes[0].imshow(image)
    axes[0].set_title("Photo", fontsize=9)
    for ax, exp, picture in zip(axes[1:], explanations, overlays, strict=True):
        ax.imshow(picture)
        ax.set_title(panel_title(exp), fontsize=8)
    for ax in axes:
        ax.set_axis_off()

    for signed in (False, True):
        if not any(exp.signed == signed for exp in explanations):
            continue
        # Horizontal, under the whole row: beside the images a vertical bar either outgrows
        # a landscape photo or, attached to some panels only, splits the row.
        if signed:
            bar = fig.colorbar(ScalarMappable(Normalize(-1, 1), SIGNED_CMAP), ax=axes,
                               location="bottom", ticks=[-1, 0, 1], shrink=0.3, aspect=40,
                               pad=0.02)
            bar.ax.set_xticklabels(["lowers the score", "0", "raises the score"], fontsize=7)
        else:
            bar = fig.colorbar(ScalarMappable(Normalize(0, 1), UNSIGNED_CMAP), ax=axes,
                               location="bottom", ticks=[0, 1], shrink=0.3, aspect=40,
                               pad=0.02)
            bar.ax.set_xticklabels(["unimportant", "most important"], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def figure_png(fig, dpi: int = 150) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def save_png(fig, path, dpi: int = 150) -> Path:
    """Write the figure to `path` as a PNG; returns the path."""
    path = Path(path)
    path.write_bytes(figure_png(fig, dpi))
    return path


# === The faithfulness table ===


def faithfulness_rows(explanations: Sequence[Explanation]) -> list[list]:
    """One table row per explanation, in the order of TABLE_HEADERS.

    Rows hold: method name, the map's deletion and insertion AUC read on the random maps' grid
    (what the verdict compares), the random maps' mean deletion and insertion AUC, "yes"/"no"
    for beating them ("n/a" and None scores when faithfulness was skipped), the map's seconds
    and its model evaluations (from `meta`).
    """
    rows = []
    for exp in explanations:
        scores = exp.faithfulness
        if scores is None:
            numbers, beats = [None] * 4, "n/a"
        else:
            numbers = [float(scores.compared_deletion_auc), float(scores.compared_insertion_auc),
                       float(scores.random_deletion_auc), float(scores.random_insertion_auc)]
            beats = "yes" if scores.beats_random else "no"
        seconds = exp.meta.get("seconds")
        evaluations = exp.meta.get("evaluations")
        rows.append([
            method_name(exp.method), *numbers, beats,
            None if seconds is None else float(seconds),
            None if evaluations is None else int(evaluations),
        ])
    return rows
