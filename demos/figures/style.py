"""The Style tab's charts: every label's probability, and how many shares each style has.

matplotlib is imported inside each function, and every figure gets its own Agg canvas (no pyplot
state), which is safe from Gradio's worker threads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

TOP = "#8b5cf6"  # the top style, in the cards' violet
OTHERS = "#c4b5fd"


def probability_chart(probabilities: Mapping[str, float], width: float = 6.4):
    """A horizontal bar per label, most probable at the top, each with its percentage."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ranked = sorted(probabilities.items(), key=lambda item: -item[1])
    fig = Figure(figsize=(width, 1.2 + 0.34 * len(ranked)), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    positions = range(len(ranked))
    values = [100 * p for _, p in ranked]
    ax.barh(list(positions), values, color=[TOP] + [OTHERS] * (len(ranked) - 1), height=0.7)
    ax.set_yticks(list(positions), [label for label, _ in ranked], fontsize=9)
    ax.set_ylim(len(ranked) - 0.5, -0.5)
    ax.set_xlim(0, max(values, default=1) * 1.18 or 1)
    for row, value in zip(positions, values, strict=True):
        ax.text(value, row, f" {value:.1f}%", va="center", fontsize=8)
    ax.set_xlabel("probability (%)")
    ax.set_title("Every style's probability", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def counts_chart(counts: Sequence[tuple[str, int]], width: float = 6.4):
    """A bar per style: how many entries the leaderboard has for it, most first."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = sorted(counts, key=lambda item: -item[1])
    fig = Figure(figsize=(width, 1.2 + 0.3 * max(len(rows), 1)), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if not rows:
        ax.text(0.5, 0.5, "No shares yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    positions = list(range(len(rows)))
    ax.barh(positions, [n for _, n in rows], color=TOP, height=0.7)
    ax.set_yticks(positions, [label for label, _ in rows], fontsize=9)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel("entries")
    ax.set_title("Entries per style", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return fig
