"""Grouped bar charts as inline SVG text (no plotting library, no network)."""

from __future__ import annotations

import html
import math
from typing import Mapping, Sequence

#: Series colours (colour-blind safe, Okabe & Ito 2008).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")


def _nice_max(value: float) -> float:
    if not value > 0 or not math.isfinite(value):
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * exp >= value:
            return step * exp
    return 10 * exp


def bar_chart_svg(title: str, categories: Sequence[str], series: Mapping[str, Sequence[float]],
                  note: str = "", width: int = 560, height: int = 240) -> str:
    """An SVG grouped bar chart: one group per category (band), one bar per series.

    Values must be >= 0 (indices such as D_s terms, Q, PSNR); non-finite values are
    drawn as missing.  ``note`` is a short line under the title (e.g. "0 is best").
    """
    left, right, top, bottom = 48, 12, 40, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for vs in series.values() for v in vs if math.isfinite(v)]
    vmax = _nice_max(max(values, default=1.0))
    n_cat, n_ser = max(1, len(categories)), max(1, len(series))
    group_w = plot_w / n_cat
    bar_w = group_w * 0.8 / n_ser
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}" '
           'font-family="sans-serif" font-size="11">',
           f'<text x="{left}" y="14" font-size="13" font-weight="bold">{html.escape(title)}</text>']
    if note:
        out.append(f'<text x="{left}" y="28" fill="#555">{html.escape(note)}</text>')
    for i in range(5):
        v = vmax * i / 4
        y = top + plot_h - plot_h * i / 4
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                   'stroke="#ddd"/>')
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{v:.3g}</text>')
    for c, cat in enumerate(categories):
        x0 = left + c * group_w + group_w * 0.1
        for s, (name, vs) in enumerate(series.items()):
            v = vs[c] if c < len(vs) else float("nan")
            if not math.isfinite(v):
                continue
            bh = plot_h * max(0.0, min(v, vmax)) / vmax
            x = x0 + s * bar_w
            out.append(f'<rect x="{x:.1f}" y="{top + plot_h - bh:.1f}" width="{bar_w * 0.92:.1f}" '
                       f'height="{bh:.1f}" fill="{PALETTE[s % len(PALETTE)]}">'
                       f'<title>{html.escape(name)}, {html.escape(cat)}: {v:.4g}</title></rect>')
        out.append(f'<text x="{left + (c + 0.5) * group_w:.1f}" y="{top + plot_h + 14}" '
                   f'text-anchor="middle">{html.escape(cat)}</text>')
    lx = left
    for s, name in enumerate(series):
        out.append(f'<rect x="{lx}" y="{height - 14}" width="10" height="10" '
                   f'fill="{PALETTE[s % len(PALETTE)]}"/>')
        out.append(f'<text x="{lx + 14}" y="{height - 5}">{html.escape(name)}</text>')
        lx += 24 + 7 * len(name)
    out.append("</svg>")
    return "\n".join(out)
