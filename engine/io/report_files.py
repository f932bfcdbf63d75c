"""Quality reports on disk: JSON, or a self-contained HTML page (``.html``)."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Mapping

from ..errors import RasterIOError


#: Keys that only the HTML page uses (images are not JSON data).
_HTML_ONLY = ("previews", "preview_note")


def _json(report: Mapping[str, Any]) -> str:
    data = {k: v for k, v in report.items() if k not in _HTML_ONLY}
    return json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"


def write_report(path: str | os.PathLike, report: Mapping[str, Any]) -> str:
    """Write ``report`` (``{'title', 'scores': {name: float}, ...}``) atomically.

    The format follows the extension: ``.html``/``.htm`` gives the self-contained page of
    :func:`engine.report.html_report.render_html`, anything else JSON (without the
    images).  The file is readable by everyone (mode 0644, as the rasters).  Returns
    the absolute path.
    """
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise RasterIOError(f"cannot write the report {path}: the folder {folder} does not exist")
    is_html = path.lower().endswith((".html", ".htm"))
    if is_html:
        from ..report.html_report import render_html

        text = render_html(report)
    else:
        text = _json(report)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".report.", suffix=".partial", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
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
