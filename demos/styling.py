"""The look every tab shares: the verdict card, its meters and notes, and their CSS.

A tab's verdict is one `gr.HTML(..., css_template=CARD_CSS)` whose value is built here from plain
numbers, so every tab's card reads the same way: a coloured edge for the verdict (green yes,
red no), a headline, a line under it, labelled 0..1 meters (with a tick at a threshold where
there is one), facts and notes. Pure functions of their arguments: no Gradio, nothing heavy.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

GREEN = "#22aa54"  # a yes, a passing meter; the same green as the charts in demos/figures
RED = "#dc3232"  # a no, a failing meter
VIOLET = "#8b5cf6"  # a meter that passes or fails nothing: a plain amount

CARD_CSS = f"""
.iv-card {{ padding: 14px 18px; border-radius: 12px; color: var(--body-text-color);
  border: 1px solid var(--border-color-primary); background: var(--block-background-fill); }}
.iv-card.yes {{ border-color: {GREEN}; box-shadow: inset 6px 0 0 {GREEN}; }}
.iv-card.no {{ border-color: {RED}; box-shadow: inset 6px 0 0 {RED}; }}
.iv-card.empty {{ color: var(--body-text-color-subdued); box-shadow: none; }}
.iv-score {{ font-size: 2.6em; font-weight: 800; line-height: 1.1; margin: 0 0 2px 6px;
  font-variant-numeric: tabular-nums; }}
.iv-score small {{ font-size: 0.45em; font-weight: 600; color: var(--body-text-color-subdued); }}
.iv-headline {{ font-size: 1.4em; font-weight: 700; line-height: 1.2; margin: 0 0 4px 6px; }}
.iv-card.yes .iv-headline {{ color: {GREEN}; }}
.iv-card.no .iv-headline {{ color: {RED}; }}
.iv-headline small {{ font-size: 0.7em; font-weight: 500;
  color: var(--body-text-color-subdued); }}
.iv-sub {{ margin: 0 0 10px 6px; color: var(--body-text-color-subdued); }}
.iv-meter {{ margin: 10px 0 0 6px; }}
.iv-meter-top {{ display: flex; justify-content: space-between; font-size: 0.95em; }}
.iv-meter-top b {{ font-variant-numeric: tabular-nums; }}
.iv-track {{ position: relative; height: 12px; border-radius: 6px; margin-top: 4px;
  background: var(--background-fill-secondary); border: 1px solid var(--border-color-primary); }}
.iv-fill {{ position: absolute; left: 0; top: 0; bottom: 0; border-radius: 6px; }}
.iv-mark {{ position: absolute; top: -4px; bottom: -4px; width: 2px;
  background: var(--body-text-color); }}
.iv-meter-note {{ font-size: 0.8em; color: var(--body-text-color-subdued); margin-top: 2px; }}
.iv-facts {{ margin: 14px 0 0 6px; font-size: 0.9em; }}
.iv-notes {{ margin: 12px 0 0 6px; padding-left: 1.2em; font-size: 0.9em; }}
.iv-notes li {{ margin: 2px 0; }}
"""


APP_CSS = """
/* Explanation galleries. A caption names the method, the number and the verdict; Gradio draws
   it as a one-line label over the picture's corner, cut to "not faithful: does not beat th..."
   and covering the colour scale under the map. Here the caption is a line of its own under
   the picture, wrapped, at full strength, and the picture shrinks to make room. */
.explain-panel .thumbnail-item { display: flex; flex-direction: column; }
.explain-panel .thumbnail-item img { flex: 1 1 0; min-height: 0; width: 100%;
  object-fit: contain; }
.explain-panel .thumbnail-item .caption-label { position: static; flex: 0 0 auto;
  max-width: none; white-space: normal; overflow: visible; opacity: 1; line-height: 1.3;
  border: none; border-top: 1px solid var(--border-color-primary); border-radius: 0; }
/* On a phone, a gallery of three or four columns leaves each map about 110 pixels square, and
   its caption, wrapped to five lines there, takes all of that: the picture shrinks to nothing.
   Two columns leave each map room beside its caption. */
@media (max-width: 640px) {
  .explain-panel .grid-container { --grid-cols: 2 !important; }
}

/* Photo grids (the Tags gallery). Gradio lowers the column count to the number of photos, so
   one photo would fill the whole width; a grid keeps six columns whatever it holds. */
.photo-grid .grid-container { --grid-cols: 6 !important; }
"""
"""The app's page-wide CSS (`app.py` passes it to `launch`); per-component CSS stays with its
component, as CARD_CSS does."""


def inline_code(text: str) -> str:
    """Escape `text`, showing `command` spans as code (notes name commands that way)."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def empty_card(prompt_html: str) -> str:
    """The card before any result: a greyed prompt (trusted HTML, e.g. "press <b>Rate</b>")."""
    return f'<div class="iv-card empty">{prompt_html}</div>'


def card(verdict: bool, *parts: str) -> str:
    """A verdict card: green edge when `verdict` is true, red when false, around `parts`
    (already-built HTML: headline, meters, facts, notes)."""
    return f'<div class="iv-card {"yes" if verdict else "no"}">{"".join(parts)}</div>'


def score_line(score: float, out_of: float, digits: int = 1) -> str:
    """A big number with its scale: "7.4 / 10" (`digits` after the point: the card's other
    mentions of the score should use the same)."""
    return f'<div class="iv-score">{score:.{digits}f} <small>/ {out_of:g}</small></div>'


def headline(text: str, aside: str | None = None) -> str:
    """The verdict in words (escaped), with an optional smaller aside such as a confidence."""
    small = f" <small>({html.escape(aside)})</small>" if aside else ""
    return f'<div class="iv-headline">{html.escape(text)}{small}</div>'


def sub_line(text: str) -> str:
    """The sentence under the headline (escaped)."""
    return f'<div class="iv-sub">{html.escape(text)}</div>'


def meter(label: str, value: float | None, note: str, *, threshold: float | None = None,
          missing: str = "—") -> str:
    """One labelled 0..1 bar.

    Args:
        label: what is measured.
        value: in [0, 1] (clipped for drawing), or None: `missing` is shown and the track
            stays empty.
        note: the small line under the bar (escaped, `code` spans kept).
        threshold: where the verdict flips; draws a tick there and colours the fill green at or
            above it and red below. Without one the fill is a neutral violet.
        missing: what stands in for a missing value.
    """
    if value is None:
        shown, fill = missing, ""
    else:
        colour = VIOLET if threshold is None else GREEN if value >= threshold else RED
        shown = f"{value:.2f}"
        fill = (f'<div class="iv-fill" style="width:{100 * min(max(value, 0.0), 1.0):.1f}%;'
                f'background:{colour}"></div>')
    tick = "" if threshold is None else \
        f'<div class="iv-mark" style="left:{100 * threshold:.1f}%"></div>'
    return (f'<div class="iv-meter"><div class="iv-meter-top"><span>{html.escape(label)}</span>'
            f"<b>{html.escape(shown)}</b></div>"
            f'<div class="iv-track">{fill}{tick}</div>'
            f'<div class="iv-meter-note">{inline_code(note)}</div></div>')


def facts(html_text: str) -> str:
    """A line of facts (trusted HTML built by the tab from numbers)."""
    return f'<div class="iv-facts">{html_text}</div>'


def notes_list(notes: Iterable[str]) -> str:
    """The notes as a bulleted list (escaped, `code` spans kept); empty when there are none."""
    items = "".join(f"<li>{inline_code(note)}</li>" for note in notes)
    return f'<ul class="iv-notes">{items}</ul>' if items else ""
