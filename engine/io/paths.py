"""Output paths that would destroy an input: refuse them before anything is computed.

Pure path logic (no GDAL, no QGIS).  A raster on disk is more than one file: GDAL keeps
statistics and georeferencing in ``.aux.xml``, overviews in ``.ovr``, masks in ``.msk``,
ENVI headers in ``.hdr``, world files in ``.tfw``/``.wld`` and so on.  An output collides
with an input when any file the output may write (the file itself or one of its
sidecars) is any file of the input (the file itself or one of its sidecars), after
resolving symbolic links, ``..`` and ``./``, letter case on case-insensitive file
systems (:func:`os.path.normcase`, and :func:`os.path.samefile` for files that exist,
which also catches hard links).
"""

from __future__ import annotations

import os
from typing import Mapping

from ..errors import InputError

#: Sidecars named by appending to the whole file name (``pan.tif.aux.xml``).
APPENDED_SIDECARS = (".aux.xml", ".ovr", ".msk", ".aux", ".xml", ".vat.dbf", ".rrd")
#: Sidecars named by replacing the extension (``pan.hdr``, ``pan.tfw``).
REPLACED_SIDECARS = (".hdr", ".aux", ".aux.xml", ".ovr", ".rrd", ".tfw", ".tifw", ".tiffw",
                     ".wld", ".jgw", ".pgw", ".imd", ".rpb", ".prj", ".msk")

#: Sidecars an output may get (statistics, overviews, masks written by GDAL or QGIS).
WRITTEN_SIDECARS = (".aux.xml", ".ovr", ".msk")


class OutputCollision(InputError):
    """An output (or report) path is an input file or one of its sidecar files."""


def _key(path: str) -> str:
    return os.path.normcase(os.path.realpath(os.path.abspath(os.path.expanduser(path))))


def related_files(path: str) -> list[str]:
    """``path`` and the names of the sidecar files GDAL may keep beside it."""
    path = os.fspath(path)
    stem, ext = os.path.splitext(path)
    names = [path] + [path + s for s in APPENDED_SIDECARS]
    if ext:
        names += [stem + s for s in REPLACED_SIDECARS if s.lower() != ext.lower()]
    else:  # ENVI files often have no extension: "WV2_MS" + "WV2_MS.hdr"
        names += [path + s for s in REPLACED_SIDECARS]
    return names


def _same_file(a: str, b: str) -> bool:
    if _key(a) == _key(b):
        return True
    try:
        return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)
    except OSError:
        return False


def _is_file_path(path: str | None) -> bool:
    """False for empty values, GDAL virtual paths and connection strings."""
    if not path:
        return False
    text = os.fspath(path)
    return not (text.startswith("/vsi") or "://" in text or text.upper().startswith(
        ("NETCDF:", "HDF5:", "HDF4_", "GPKG:", "PG:")))


def _input_file(source: str) -> str:
    """The file part of a QGIS layer source (``path|layername=x`` -> ``path``)."""
    return os.fspath(source).split("|", 1)[0]


def find_collision(outputs: Mapping[str, str | None],
                   inputs: Mapping[str, str | None]) -> tuple[str, str, str, str] | None:
    """The first ``(output name, output path, input name, input file)`` that collide.

    ``outputs``/``inputs`` map parameter names (``'OUTPUT'``, ``'PAN'``...) to paths;
    empty values are ignored.  The input file named is the file (or sidecar) hit.
    """
    in_files: list[tuple[str, str, str]] = []  # (name, input path, file of that input)
    for name, source in inputs.items():
        if not _is_file_path(source):
            continue
        src = _input_file(str(source))
        in_files += [(name, src, f) for f in related_files(src)]
    for out_name, out_path in outputs.items():
        if not _is_file_path(out_path):
            continue
        out = os.fspath(out_path)
        written = [out] + [out + s for s in WRITTEN_SIDECARS]
        for in_name, src, f in in_files:
            # sidecars only matter when they exist (the input's own file always does)
            if f != src and not os.path.exists(f):
                continue
            for w in written:
                if _same_file(w, f):
                    return out_name, os.fspath(out_path), in_name, f
    return None


def check_outputs_distinct(outputs: Mapping[str, str | None],
                           inputs: Mapping[str, str | None]) -> None:
    """Raise :class:`OutputCollision` when an output would overwrite an input file.

    Call it before computing anything.  Two outputs given the same path are refused too,
    and so is an output that cannot be written (:func:`check_writable`).
    """
    hit = find_collision(outputs, inputs)
    if hit is not None:
        out_name, out_path, in_name, in_file = hit
        src = _input_file(str(inputs[in_name]))
        what = ("the input" if _same_file(in_file, src)
                else f"a sidecar file ({in_file}) of the input")
        raise OutputCollision(
            f"{out_name} {out_path} would overwrite {what} {in_name} {src}: writing it would "
            f"destroy the input. Choose another file name for {out_name}")
    named = [(n, p) for n, p in outputs.items() if _is_file_path(p)]
    for n, p in named:
        check_writable(n, p)
    for i, (n1, p1) in enumerate(named):
        for n2, p2 in named[i + 1:]:
            if _same_file(os.fspath(p1), os.fspath(p2)):
                raise OutputCollision(
                    f"{n1} and {n2} are the same file ({p1}); give each output its own name")



def check_writable(name: str, path: str) -> None:
    """:class:`~engine.errors.InputError` when ``path`` cannot be created or replaced:
    its folder is missing or read-only, or ``path`` is a folder."""
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    folder = os.path.dirname(path)
    if os.path.isdir(path):
        raise InputError(f"{name} {path} is a folder; give a file name inside it")
    if not os.path.isdir(folder):
        raise InputError(f"{name} {path} cannot be written: the folder {folder} does not "
                         "exist; create it or choose another folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{name} {path} cannot be written: the folder {folder} is not "
                         "writable; choose another folder")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise InputError(f"{name} {path} exists and is read-only; choose another file name "
                         "or make it writable")
