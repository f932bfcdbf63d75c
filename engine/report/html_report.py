"""The HTML quality report: one self-contained file (inline CSS, SVG and PNG images).

Layout: title (method or model, and scene), the metric table (the evaluated result and
its baselines side by side, with each index's ideal value, direction and a one-line
explanation), per-band values as a table and a bar chart, true-colour previews, and the
inputs and conventions in a collapsed ``<details>`` block.
"""

from __future__ import annotations

import html
import math
from typing import Any, Mapping, Sequence

from .charts import bar_chart_svg
from .indices import BAND_INDICES, INDICES

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1180px;color:#222;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.1em}.sub{color:#555;margin-top:0}
table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #ccc;padding:3px 8px;
text-align:left;vertical-align:top}td.num{font-family:monospace;text-align:right}
th{background:#f3f3f3}.best{font-weight:bold;background:#e8f4e8}.expl{color:#444;font-size:.9em}
.grid{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:12px}figure{margin:0}figcaption{font-size:.85em;color:#444;
max-width:360px}img.zoom{image-rendering:pixelated}details{margin-top:1.5em}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;font-size:.9em}
dt{font-weight:bold}dd{margin:0;font-family:monospace;word-break:break-all}.note{color:#555}
"""


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isinf(value):
            return "inf"
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:.1f}"
    return html.escape(str(value))


def _best(key: str, values: Sequence[float]) -> float | None:
    info = INDICES.get(key)
    finite = [v for v in values if isinstance(v, float) and math.isfinite(v)]
    if info is None or len(finite) < 2:
        return None
    return max(finite) if info.better == "higher" else min(finite)


def metric_table(columns: Mapping[str, Mapping[str, float]]) -> str:
    """The metric table: one row per index, one column per evaluated result."""
    labels = list(columns)
    keys = list(next(iter(columns.values())))
    head = "".join(f"<th>{html.escape(label)}</th>" for label in labels)
    rows = []
    for key in keys:
        info = INDICES.get(key)
        values = [columns[label].get(key, float("nan")) for label in labels]
        best = _best(key, values)
        cells = "".join(
            f"<td class='num{' best' if best is not None and v == best else ''}'>{_fmt(v)}</td>"
            for v in values)
        name = info.label if info else key
        ideal = (f"{info.ideal} ({info.better} is better)" if info else "")
        expl = html.escape(info.explanation) if info else ""
        rows.append(f"<tr><th>{html.escape(name)}</th>{cells}<td>{html.escape(ideal)}</td>"
                    f"<td class='expl'>{expl}</td></tr>")
    return (f"<table><tr><th>Index</th>{head}<th>Ideal</th><th>Meaning</th></tr>"
            + "".join(rows) + "</table>")


def band_section(band_names: Sequence[str], per_band: Mapping[str, Mapping[str, Sequence[float]]]
                 ) -> str:
    """Per-band values: a table and a bar chart per index."""
    parts = []
    for key, series in per_band.items():
        title, note = BAND_INDICES.get(key, (key, ""))
        head = "".join(f"<th>{html.escape(b)}</th>" for b in band_names)
        rows = "".join(
            f"<tr><th>{html.escape(label)}</th>"
            + "".join(f"<td class='num'>{_fmt(float(v))}</td>" for v in values) + "</tr>"
            for label, values in series.items())
        parts.append(f"<h3>{html.escape(title)}</h3><p class='note'>{html.escape(note)}</p>"
                     f"<table><tr><th></th>{head}</tr>{rows}</table>"
                     + bar_chart_svg(title, list(band_names),
                                     {k: [float(v) for v in vs] for k, vs in series.items()},
                                     note=note))
    return "".join(parts)


def previews_section(previews: Sequence[Any], note: str) -> str:
    rows: dict[int, list[str]] = {}
    for p in previews:
        cls = " class='zoom'" if p.zoom > 1 else ""
        rows.setdefault(getattr(p, "row", 0), []).append(
            f"<figure><img{cls} src='{p.data_uri}' width='{p.width * p.zoom}' "
            f"height='{p.height * p.zoom}' alt='{html.escape(p.caption)}'>"
            f"<figcaption>{html.escape(p.caption)}</figcaption></figure>")
    grids = "".join(f"<div class='grid'>{''.join(figs)}</div>" for _, figs in sorted(rows.items()))
    return (f"<h2>What the result looks like</h2><p class='note'>{html.escape(note)}; the MS "
            "and the result share one contrast stretch (2-98 % of the MS).</p>" + grids)


def _definition_list(data: Mapping[str, Any]) -> str:
    items = []
    for key, value in data.items():
        if isinstance(value, Mapping):
            inner = "; ".join(f"{k}: {_plain(v)}" for k, v in value.items())
            items.append(f"<dt>{html.escape(str(key))}</dt><dd>{html.escape(inner)}</dd>")
        else:
            items.append(f"<dt>{html.escape(str(key))}</dt><dd>{html.escape(_plain(value))}</dd>")
    return "<dl>" + "".join(items) + "</dl>"


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_plain(v)}" for k, v in value.items())
    return str(value)


def render_html(report: Mapping[str, Any]) -> str:
    """The report page.  Keys used: ``title``, ``subtitle``, ``scores`` (the evaluated
    result), ``label`` (its column header), ``baselines`` ({label: scores}),
    ``band_names`` and ``per_band`` ({index: {label: values}}), ``previews`` and
    ``preview_note``, ``quality_map`` (path), ``details`` ({section: {key: value}}), and
    ``notes`` (list of plain sentences)."""
    title = str(report.get("title", "Pan-sharpening quality report"))
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if report.get("subtitle"):
        parts.append(f"<p class='sub'>{html.escape(str(report['subtitle']))}</p>")
    columns = {str(report.get("label", "result")): dict(report.get("scores", {}))}
    for name, scores in (report.get("baselines") or {}).items():
        columns[f"{name} (baseline)" if str(name) in columns else str(name)] = dict(scores)
    numeric = {k: {n: v for n, v in s.items() if isinstance(v, (int, float))}
               for k, s in columns.items()}
    parts.append("<h2>Scores</h2>" + metric_table(numeric))
    for note in report.get("notes", []):
        parts.append(f"<p class='note'>{html.escape(str(note))}</p>")
    if report.get("previews"):
        parts.append(previews_section(report["previews"], str(report.get("preview_note", ""))))
    if report.get("per_band"):
        parts.append("<h2>Per band</h2>" + band_section(report.get("band_names", []),
                                                         report["per_band"]))
    if report.get("quality_map"):
        parts.append("<p>Local quality map (one pixel per block, open it in QGIS over the "
                     f"result): <code>{html.escape(str(report['quality_map']))}</code></p>")
    details = report.get("details") or {}
    if details:
        body = "".join(f"<h3>{html.escape(str(section))}</h3>"
                       + (_definition_list(content) if isinstance(content, Mapping)
                          else f"<p>{html.escape(_plain(content))}</p>")
                       for section, content in details.items())
        parts.append(f"<details><summary>Inputs and conventions</summary>{body}</details>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width'><title>{html.escape(title)}"
            f"</title><style>{_CSS}</style></head><body>" + "".join(parts) + "</body></html>\n")
