"""The scene list of a batch run: parsing, checking and sharing out by rank (no GDAL, no torch).

A scene list is a CSV file (comma-separated, UTF-8) with a header row naming at least the
columns ``pan``, ``ms`` and ``output`` (in any order; other columns are ignored, so a
spreadsheet may carry notes)::

    pan,ms,output
    raw/2019-04-01/pan.tif,raw/2019-04-01/ms.tif,fused/2019-04-01.tif
    # lines starting with '#' and blank lines are skipped
    /archive/x/P.TIF,/archive/x/M.TIF,/fused/x.tif

Relative paths are relative to the folder of the list file (so a list travels with its
archive).  Outputs must be GeoTIFFs (``.tif`` / ``.tiff``), each named once, and never one
of the inputs.  Problems with the list itself are all collected and reported together,
before anything is processed; problems with the files a row names (missing, unreadable,
misaligned) are found when that scene is processed and fail only that scene.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from typing import Sequence

from ..errors import InputError

#: Columns a scene list must have.
REQUIRED_COLUMNS = ("pan", "ms", "output")
#: Output extensions accepted (the batch command writes GeoTIFFs).
OUTPUT_EXTENSIONS = (".tif", ".tiff")


class SceneListError(InputError):
    """The scene list cannot be used; ``problems`` holds one message per bad entry."""

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = list(problems)
        shown = "\n  ".join(self.problems[:50])
        more = f"\n  ... and {len(self.problems) - 50} more" if len(self.problems) > 50 else ""
        super().__init__(f"the scene list {path} has {len(self.problems)} problem(s); fix "
                         f"them and run again (nothing was processed):\n  {shown}{more}")


@dataclass(frozen=True)
class Scene:
    """One row of the list: absolute paths and where the row is (``line``, 1-based)."""

    index: int     # position among the scenes (0-based), decides the rank that runs it
    line: int      # line number in the list file, for messages
    pan: str
    ms: str
    output: str

    @property
    def label(self) -> str:
        """Short name for log lines: ``'line 7 (fused/x.tif)'``."""
        return f"line {self.line} ({os.path.basename(self.output)})"


def _resolve(value: str, base: str) -> str:
    path = os.path.expanduser(value.strip())
    if not os.path.isabs(path):
        path = os.path.join(base, path)
    return os.path.normpath(os.path.abspath(path))


def _data_rows(handle) -> list[tuple[int, list[str]]]:
    """``(line number, fields)`` of the non-blank, non-comment rows (header included)."""
    out = []
    reader = csv.reader(handle)
    for fields in reader:
        line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        if fields[0].lstrip().startswith("#"):
            continue
        out.append((line, fields))
    return out


def read_scene_list(path: str | os.PathLike) -> list[Scene]:
    """Parse and check a scene list (see the module docstring for the format).

    Returns the scenes in file order.  Raises :class:`SceneListError` listing every bad
    row (missing header, wrong number of fields, empty paths, non-GeoTIFF or repeated
    outputs, an output that is also an input) and :class:`~engine.errors.InputError`
    when the file cannot be read or lists no scene.
    """
    path = os.path.abspath(os.fspath(path))
    base = os.path.dirname(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = _data_rows(handle)
    except OSError as exc:
        raise InputError(f"cannot read the scene list {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"the scene list {path} is not a UTF-8 CSV file: {exc}") from exc
    if not rows:
        raise InputError(f"the scene list {path} is empty; it needs a header row "
                         f"'{','.join(REQUIRED_COLUMNS)}' and one row per scene")
    header_line, header = rows[0]
    names = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise SceneListError(path, [
            f"line {header_line}: the header {','.join(header)!r} lacks the column(s) "
            f"{', '.join(missing)}; the first row must name the columns, e.g. "
            f"'{','.join(REQUIRED_COLUMNS)}'"])
    col = {c: names.index(c) for c in REQUIRED_COLUMNS}
    problems: list[str] = []
    scenes: list[Scene] = []
    outputs: dict[str, int] = {}
    for line, fields in rows[1:]:
        if len(fields) != len(header):
            problems.append(f"line {line}: {len(fields)} field(s), the header has "
                            f"{len(header)} (a comma inside a path needs the path in "
                            "double quotes)")
            continue
        values = {c: fields[i].strip() for c, i in col.items()}
        empty = [c for c, v in values.items() if not v]
        if empty:
            problems.append(f"line {line}: empty {', '.join(empty)}")
            continue
        pan, ms, out = (_resolve(values[c], base) for c in REQUIRED_COLUMNS)
        bad = False
        if os.path.splitext(out)[1].lower() not in OUTPUT_EXTENSIONS:
            problems.append(f"line {line}: the output {values['output']!r} is not a GeoTIFF; "
                            "name it with .tif")
            bad = True
        if out in (pan, ms):
            problems.append(f"line {line}: the output {values['output']!r} is also an input; "
                            "inputs are never overwritten, choose another output path")
            bad = True
        if out in outputs:
            problems.append(f"line {line}: the output {values['output']!r} is already the "
                            f"output of line {outputs[out]}; each scene needs its own output")
            bad = True
        outputs.setdefault(out, line)
        if not bad:
            scenes.append(Scene(len(scenes), line, pan, ms, out))
    inputs = {s.pan: s.line for s in scenes} | {s.ms: s.line for s in scenes}
    for scene in scenes:
        if scene.output in inputs:
            problems.append(f"line {scene.line}: the output {scene.output} is an input of line "
                            f"{inputs[scene.output]}; inputs are never overwritten")
    if problems:
        raise SceneListError(path, problems)
    if not scenes:
        raise InputError(f"the scene list {path} has a header but no scene")
    return scenes


def shard(scenes: Sequence[Scene], rank: int, world_size: int) -> list[Scene]:
    """The scenes rank ``rank`` of ``world_size`` processes: every ``world_size``-th scene
    from position ``rank`` on (round robin over the list order, so neighbouring scenes,
    often of similar size, go to different processes).  The same list and world size
    always give every rank the same scenes, which is what lets a restarted job resume."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise InputError(f"rank {rank} is not in a world of {world_size} process(es)")
    return [s for s in scenes if s.index % world_size == rank]
