"""Pure formatters: analysis results -> HTML and Markdown for the page.

No gradio here; the UI passes these strings to its components, and tests
check them directly.
"""

from __future__ import annotations

import html
from typing import Sequence

import numpy as np

from lab.colours import ROLE_BG, ROLE_LABEL, ROLE_UNDERLINE

# One legend for the whole app (lab/colours.py): planning, high-entropy, both, execution.
COLOURS = ROLE_BG
LABELS = ROLE_LABEL
EXECUTION_STYLE = f"border-bottom:2px solid {ROLE_UNDERLINE['execution']}"


def legend_html(roles: Sequence[str] = ("planning", "execution")) -> str:
    """The colour legend; execution tokens (unhighlighted, a teal underline) are always in it."""
    roles = list(roles) + ([] if "execution" in roles else ["execution"])
    items = "".join(
        f'<span class="legend-{r}" style="background:{COLOURS[r]};color:#111;padding:1px 6px;border-radius:4px;'
        f'white-space:nowrap;{EXECUTION_STYLE if r == "execution" else ""}">{LABELS[r]}</span>'
        for r in roles)
    return f'<div class="hl-legend" style="margin-bottom:6px;display:flex;flex-wrap:wrap;gap:4px 8px">{items}</div>'


def tokens_html(text: str, offsets: np.ndarray, planning: np.ndarray,
                high: np.ndarray | None = None, entropy: np.ndarray | None = None,
                prob: np.ndarray | None = None) -> str:
    """The text with each token in a ``<span>``, coloured by role.

    Args:
        text: the analysed text; ``offsets`` (T, 2) index into it.
        planning: (T,) bool. high: (T,) bool high-entropy mask, optional.
        entropy, prob: (T,) floats shown on hover, optional.
    Tokens that share a span (pieces of one multi-byte character) are drawn
    once; text between tokens is drawn plain. Everything is HTML-escaped.
    """
    offsets = np.asarray(offsets).reshape(-1, 2)
    high = np.zeros(len(offsets), bool) if high is None else np.asarray(high, bool)
    planning = np.asarray(planning, bool)
    parts = ['<div class="hl-text" style="white-space:pre-wrap;line-height:1.9;'
             'font-family:ui-monospace,monospace;font-size:14px">']
    cursor = 0
    t = 0
    while t < len(offsets):
        s, e = int(offsets[t, 0]), int(offsets[t, 1])
        group = [t]
        while t + len(group) < len(offsets) and tuple(offsets[t + len(group)]) == (s, e):
            group.append(t + len(group))
        t += len(group)
        if e <= s or s < cursor:
            continue
        if s > cursor:
            parts.append(html.escape(text[cursor:s]))
        is_plan, is_high = bool(planning[group].any()), bool(high[group].any())
        raw = text[s:e]
        lead = raw[:len(raw) - len(raw.lstrip())]
        if lead and lead != raw:  # keep a token's leading space out of its highlight
            parts.append(html.escape(lead))
            raw = raw[len(lead):]
        piece = html.escape(raw)
        role = "both" if is_plan and is_high else "planning" if is_plan else "high" if is_high else None
        tip = [LABELS[role]] if role else ["execution token"]
        if entropy is not None:
            tip.append(f"entropy {float(np.max(np.asarray(entropy)[group])):.3f} nats")
        if prob is not None:
            tip.append(f"p = {float(np.min(np.asarray(prob)[group])):.3f}")
        title = html.escape(" · ".join(tip), quote=True)
        if role:
            parts.append(f'<span class="tok {role}" title="{title}" style="background:{COLOURS[role]};'
                         f'color:#111;border-radius:3px">{piece}</span>')
        else:
            parts.append(f'<span class="tok execution" title="{title}" style="{EXECUTION_STYLE}">{piece}</span>')
        cursor = e
    parts.append(html.escape(text[cursor:]))
    parts.append("</div>")
    return "".join(parts)


def stats_markdown(analysis, top: int = 12, warning: str | None = None) -> str:
    """Figures for one analysed text, as a Markdown table; ``warning`` (a planning-coverage warning, see
    :mod:`training.hierarchy.coverage`) goes right under the planning-token ratio."""
    rows = [
        ("tokens", f"{analysis.n_tokens:,}"),
        ("planning tokens", f"{analysis.n_planning:,}"),
        ("**planning-token ratio**", f"**{analysis.planning_ratio:.1%}**"),
        ("characters inside Strategic Grams", f"{analysis.planning_char_share:.1%}"),
        ("Strategic Gram occurrences", f"{sum(analysis.counts.values()):,}"),
        ("distinct Strategic Grams", f"{len(analysis.counts):,}"),
        ("semantic entropy", f"{analysis.semantic_entropy_bits:.3f} bits"),
    ]
    lines = ["| figure | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    if warning:
        lines.insert(5, f"| ⚠️ planning coverage | {_md_escape(warning)} |")
    if analysis.counts:
        lines += ["", "| Strategic Gram | count |", "|---|---|"]
        for phrase, n in list(analysis.counts.items())[:top]:
            lines.append(f"| {_md_escape(phrase)} | {n} |")
        if len(analysis.counts) > top:
            lines.append(f"| … {len(analysis.counts) - top} more | |")
    return "\n".join(lines)


def _md_escape(text: str) -> str:
    return html.escape(text, quote=False).replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")
