"""The Profile tab's charts: the score's Shapley breakdowns by measure group and by photo.

matplotlib is imported inside each function, and every figure gets its own Agg canvas (no pyplot
state), which is safe from Gradio's worker threads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

RAISES = "#16a34a"
LOWERS = "#dc2626"


def _waterfall(labels: Sequence[str], values: Sequence[float], baseline: float, score: float,
               title: str, width: float = 6.4):
    """Horizontal bars, one per player, green where it raises the score and red where it
    lowers it, with the baseline and the score named."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, 1.5 + 0.32 * len(labels)), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    rows = list(range(len(labels)))
    ax.barh(rows, values, color=[RAISES if v >= 0 else LOWERS for v in values], height=0.7)
    ax.set_yticks(rows, labels, fontsize=9)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.axvline(0, color="#374151", linewidth=0.8)
    reach = max((abs(v) for v in values), default=1.0) or 1.0
    ax.set_xlim(-reach * 1.35, reach * 1.35)
    for row, value in zip(rows, values, strict=True):
        ax.text(value, row, f" {value:+.1f} " if value >= 0 else f" {value:+.1f} ",
                va="center", ha="left" if value >= 0 else "right", fontsize=8)
    ax.set_xlabel(f"score points (from a baseline of {baseline:.0f} to the score, "
                  f"{score:.0f})", fontsize=9)
    ax.set_title(title, fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def by_group_chart(by_group: Mapping[str, float], labels: Mapping[str, str], baseline: float,
                   score: float):
    """Each measure group's Shapley value."""
    names = list(by_group)
    return _waterfall([labels.get(n, n) for n in names], [by_group[n] for n in names],
                      baseline, score, "What raises or lowers the score, by measure")


def by_photo_chart(values: Sequence[float], names: Sequence[str], baseline: float,
                   score: float, exact: bool, numbers: Sequence[int] | None = None):
    """Each photo's Shapley value, in feed order, labelled with its number (default 1, 2,
    3...; the report's numbers when a photo was left out) and its name."""
    how = "exact" if exact else "sampled"
    numbers = range(1, len(names) + 1) if numbers is None else numbers
    return _waterfall([f"{i}. {name[:18]}" for i, name in zip(numbers, names, strict=True)],
                      list(values), baseline, score,
                      f"Which photos raise or lower the score ({how} Shapley values)")
