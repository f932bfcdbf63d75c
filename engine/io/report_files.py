"""Quality reports on disk: JSON, or a small self-contained HTML page (``.html``)."""

from __future__ import annotations

import html
import json
import os
import tempfile
from typing import Any, Mapping

from ..errors import RasterIOError


def _html(report: Mapping[str, Any]) -> str:
    title = html.escape(str(report.get("title", "Pan-sharpening quality report")))
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{v:.6f}</td></tr>" if isinstance(v, float)
        else f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in report.get("scores", {}).items())
    details = html.escape(json.dumps({k: v for k, v in report.items() if k != "scores"},
                                     indent=2, sort_keys=True, default=str))
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "table{border-collapse:collapse}th,td{border:1px solid #bbb;padding:4px 10px;"
        "text-align:left}td{font-family:monospace}</style></head><body>"
        f"<h1>{title}</h1><table>{rows}</table><h2>Inputs and conventions</h2>"
        f"<pre>{details}</pre></body></html>\n")


def write_report(path: str | os.PathLike, report: Mapping[str, Any]) -> str:
    """Write ``report`` (``{'title', 'scores': {name: float}, ...}``) atomically.

    The format follows the extension: ``.html``/``.htm`` gives HTML, anything else JSON.
    Returns the absolute path.
    """
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise RasterIOError(f"cannot write the report {path}: the folder {folder} does not exist")
    is_html = path.lower().endswith((".html", ".htm"))
    text = _html(report) if is_html else json.dumps(report, indent=2, sort_keys=True,
                                                   default=str) + "\n"
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".report.", suffix=".partial", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise RasterIOError(f"cannot write the report {path}: {exc.strerror or exc}; "
                            "choose a writable file") from exc
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path


def replace_markdown_section(path: str | os.PathLike, heading: str, body: str,
                             title: str = "# Results") -> None:
    """Replace (or append) the section of a markdown file that starts at the line
    ``heading`` (e.g. ``'## QNR timing'``) and runs up to the next ``'## '`` heading.

    Used by the benchmark and training scripts to keep one results file per folder up
    to date; a missing file is created with ``title``.  ``body`` excludes the heading.
    """
    from pathlib import Path

    p = Path(path)
    text = p.read_text() if p.exists() else title + "\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == heading.strip()), None)
    new = [heading, ""] + body.strip("\n").splitlines() + [""]
    if start is None:
        lines = lines + ([""] if lines and lines[-1].strip() else []) + new
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))
        lines = lines[:start] + new + lines[end:]
    p.write_text("\n".join(lines).rstrip("\n") + "\n")
