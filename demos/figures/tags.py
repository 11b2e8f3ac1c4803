"""The Tags tab's chart: every tag's probability, with the threshold that decided it.

matplotlib is imported inside the function, and every figure gets its own Agg canvas (no pyplot
state), which is safe from Gradio's worker threads.
"""

from __future__ import annotations

from collections.abc import Sequence

APPLIED = "#22aa54"  # the cards' green: the tag is given to the photo
NOT_APPLIED = "#cbd5e1"
OWN_TAG_EDGE = "#8b5cf6"  # a tag the user typed, outlined in the cards' violet


def probability_chart(decisions: Sequence, width: float = 6.4):
    """A horizontal bar per tag, most probable at the top: green when the tag is applied, grey
    when not, a black tick at the threshold that decided it, and the percentage beside it.
    `decisions` are `models.tags.TagDecision`s, already in the result's order."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    rows = list(decisions)
    fig = Figure(figsize=(width, 1.5 + 0.3 * max(len(rows), 1)), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    positions = list(range(len(rows)))
    values = [100 * d.probability for d in rows]
    bars = ax.barh(positions, values, height=0.7,
                   color=[APPLIED if d.applied else NOT_APPLIED for d in rows],
                   edgecolor=[OWN_TAG_EDGE if d.own else "none" for d in rows], linewidth=1.5)
    del bars
    for row, decision in zip(positions, rows, strict=True):
        cut = 100 * decision.threshold
        ax.plot([cut, cut], [row - 0.45, row + 0.45], color="black", linewidth=1.5)
        ax.text(max(100 * decision.probability, cut), row, f" {100 * decision.probability:.0f}%",
                va="center", fontsize=8)
    ax.set_yticks(positions, [d.tag.replace("_", " ") for d in rows], fontsize=9)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(0, 112)
    ax.set_xlabel("probability (%); the black tick is the tag's threshold")
    applied = sum(d.applied for d in rows)
    ax.set_title(f"{applied} of {len(rows)} tags applied", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    handles = [Patch(color=APPLIED, label="applied"), Patch(color=NOT_APPLIED, label="not applied")]
    if any(d.own for d in rows):
        handles.append(Patch(facecolor="white", edgecolor=OWN_TAG_EDGE, label="your own tag"))
    ax.legend(handles=handles, loc="lower right", fontsize=8, frameon=False)
    return fig
