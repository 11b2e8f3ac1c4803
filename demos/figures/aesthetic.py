"""The Aesthetic tab's chart: how each measured attribute moves the photo's score.

matplotlib is imported inside `contribution_chart`, so importing this module costs nothing, and
the figure gets its own Agg canvas (no pyplot state), which is safe from Gradio's worker threads.
"""

from __future__ import annotations

import textwrap
from collections.abc import Collection, Sequence

__all__ = ["GREEN", "RED", "TITLE", "contribution_chart", "warm_up"]

GREEN = (34, 170, 84)  # raises the score; the same green as the Pose tab's chart
RED = (220, 50, 50)  # lowers it
TITLE = "How each attribute moves the score (SHAP)"


def contribution_chart(contributions: Sequence[tuple[str, float, str]], width: float = 6.4,
                       height: float | None = None, fit_r2: float | None = None,
                       unmeasured: Collection[str] = ()):
    """A horizontal bar per attribute: how far it moves the score, and which way.

    Args:
        contributions: (attribute name, signed contribution in score points, hint) triples, as
            `models.aesthetic.attribute_contributions` returns them (largest first).
        width: the figure's width in inches.
        height: its height in inches (None: sized to the number of bars).
        fit_r2: the attribute surrogate's R^2, printed under the axis so a reader knows how
            much of the score the attributes account for.
        unmeasured: attributes whose effect the surrogate cannot measure; they get no bar and
            the words "not measured" instead of a value.

    Returns:
        A matplotlib Figure with one bar per contribution in the given order from the top,
        green for a positive contribution and red for a negative one, each labelled with its
        attribute and hint.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = list(contributions)
    if height is None:
        height = 1.6 + 0.42 * max(len(rows), 1)
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    values = [float(value) for _, value, _ in rows]
    colours = [tuple(c / 255 for c in (GREEN if value >= 0 else RED)) for value in values]
    positions = list(range(len(rows)))
    ax.barh(positions, values, color=colours, height=0.65)
    # Hints can be long; the tick label carries the name and the hint goes on a second line,
    # smaller, so the bars keep most of the width.
    labels = [f"{name.capitalize()}\n{hint}" if hint else name.capitalize()
              for name, _, hint in rows]
    ax.set_yticks(positions, labels, fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)  # the largest contribution at the top
    reach = max((abs(v) for v in values), default=0.0) or 0.1
    ax.set_xlim(-reach * 1.35, reach * 1.35)  # symmetric, with room for the value labels
    for row, value, (name, _, _) in zip(positions, values, rows, strict=True):
        if name in unmeasured:
            ax.text(0.03 * reach, row, "not measured", va="center", ha="left", fontsize=8,
                    color="#8a8a95", style="italic")
            continue
        ax.text(value + (0.03 if value >= 0 else -0.03) * reach, row, f"{value:+.2f}",
                va="center", ha="left" if value >= 0 else "right", fontsize=8,
                color="#333338")
    ax.axvline(0, color="#555560", linewidth=1)
    caption = "Score points against a typical calibration photo (green raises, red lowers)."
    if fit_r2 is not None:
        caption += (f" They account for {max(fit_r2, 0.0):.0%} of how the score changes when a "
                    "calibration photo is spoiled.")
    # Under the whole figure, not the axes: long attribute labels push the axes right, and an
    # axis label centred under them ran off the figure's right edge. Wrapped to the figure's
    # width (about 15 characters an inch at 8 points), and laid out by the constrained layout.
    fig.supxlabel("\n".join(textwrap.wrap(caption, int(width * 15))), fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", alpha=0.25)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if not rows:
        ax.text(0, 0, "No attribute to show", ha="center", va="center", color="#777780")
    ax.set_title(TITLE, fontsize=10, loc="left")
    return fig


def warm_up() -> None:
    """Draw one chart and render it as a PNG, as Gradio does, so that matplotlib's import and
    its font loading (about two seconds on a 2-core machine) happen before the first request."""
    import io

    rows = [("exposure", 0.5, "well exposed"), ("noise", -0.5, "some noise")]
    contribution_chart(rows, fit_r2=0.5).savefig(io.BytesIO(), format="png")
