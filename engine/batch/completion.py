"""Completion records: how a batch run knows a scene is done (no GDAL, no torch).

An output is written to a hidden temporary file and moved onto its name only when it is
complete (:class:`engine.io.raster_io.RasterWriter`).  After that move the batch command
writes a small JSON record beside it, ``<output>.done.json`` (itself written to a
temporary file and moved into place), holding:

* the output's size in bytes and modification time (ns) just after it was written;
* the size and modification time of the PAN and MS files it was made from;
* the settings that change the pixels (checkpoint SHA-256, bands, tiling, precision,
  creation options, sensor and scene-adaptation steps), plus, for information, the device, engine version and run time.

A scene counts as done only when its record parses, is of this format, and every one of
those facts still holds.  So an output without a record (the job was killed between the
move and the record), an output changed or replaced since, changed inputs, or a record
from other settings all make the scene run again; a finished, unchanged scene is skipped.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any, Mapping

#: Suffix of the completion record beside each output.
DONE_SUFFIX = ".done.json"
#: Format tag stored in every record (changes if the record's meaning changes).
RECORD_FORMAT = "pantiny-batch-done/1"


def record_path(output: str) -> str:
    """Path of the completion record of ``output``."""
    return output + DONE_SUFFIX


def _stat(path: str) -> dict[str, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return {"size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


def file_facts(pan: str, ms: str, output: str) -> dict[str, Any]:
    """Size and modification time of the two inputs and the output (None when missing)."""
    return {"pan": _stat(pan), "ms": _stat(ms), "output": _stat(output)}


def done_reason(pan: str, ms: str, output: str, settings: Mapping[str, Any]) -> str | None:
    """None when ``output`` is complete and up to date for these inputs and ``settings``;
    otherwise a short reason why it must be (re)made, for the log."""
    rec_path = record_path(output)
    if not os.path.exists(output):
        return "no output yet"
    try:
        with open(rec_path, encoding="utf-8") as handle:
            record = json.load(handle)
    except FileNotFoundError:
        return "the output has no completion record (unfinished or made elsewhere)"
    except (OSError, ValueError) as exc:
        return f"the completion record is unreadable ({exc})"
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        return "the completion record has another format"
    facts = file_facts(pan, ms, output)
    if record.get("files", {}).get("output") != facts["output"]:
        return "the output changed since it was recorded as complete"
    files = record.get("files", {})
    if files.get("pan") != facts["pan"] or files.get("ms") != facts["ms"]:
        return "the PAN or MS file changed since the output was made"
    if record.get("settings") != json.loads(json.dumps(dict(settings))):
        return ("the output was made with other settings (model, bands, tiling, precision, "
                "scene adaptation or spectral correction)")
    return None


def write_record(pan: str, ms: str, output: str, settings: Mapping[str, Any],
                 info: Mapping[str, Any]) -> str:
    """Write the completion record of a just-finished ``output`` (atomically); return
    its path.  ``info`` (device, seconds...) is stored but not compared."""
    record = {
        "format": RECORD_FORMAT,
        "output": os.path.basename(output),
        "pan": pan,
        "ms": ms,
        "files": file_facts(pan, ms, output),
        "settings": dict(settings),
        "info": dict(info),
    }
    path = record_path(output)
    folder, name = os.path.split(output)
    stem = os.path.splitext(name)[0]
    # the same hidden '.partial' naming as the raster writer's temporaries, so a stale one
    # left by a killed run is found and removed with them
    tmp = os.path.join(folder, f".{stem}.{uuid.uuid4().hex[:12]}.partial{DONE_SUFFIX}")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=1, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def remove_record(output: str) -> None:
    """Remove the completion record of ``output`` (before remaking it)."""
    try:
        os.remove(record_path(output))
    except FileNotFoundError:
        pass
