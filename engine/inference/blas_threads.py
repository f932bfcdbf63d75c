"""OpenBLAS's thread count, set for the duration of a run and restored (no torch, no GDAL).

Inside QGIS the process has the system OpenBLAS loaded globally (through GDAL and numpy),
and torch's matrix products can end up in it.  OpenBLAS then starts its own threads for
every product, called from each of the predictor's worker threads at once, and its idle
threads spin: measured with ``qgis_process run pantiny:pansharpen`` on wv3-dos-float on 2
cores, 19 s of user CPU time and 2x the wall time, against 10 s with
``OPENBLAS_NUM_THREADS=1`` (the same as a plain Python run).  The predictor already runs one
tile per core, so the BLAS under it runs single-threaded for the run.

Linux only (loaded libraries are read from ``/proc/self/maps``); elsewhere, and where no
OpenBLAS is loaded, this does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from typing import Callable, Iterator

_Pair = "tuple[Callable[[], int], Callable[[int], None]]"


def _loaded_openblas() -> list:
    """``(get, set)`` thread-count functions of every OpenBLAS loaded in this process."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            paths = {line.split()[-1] for line in f
                     if "blas" in line.lower() and line.split()[-1].startswith("/")}
    except OSError:
        return []
    out, seen = [], set()
    for path in sorted(paths):
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("", ""), ("", "64_"), ("scipy_", "64_"), ("scipy_", "")):
            get = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}", None)
            set_ = getattr(lib, f"{prefix}openblas_set_num_threads{suffix}", None)
            if get is not None and set_ is not None:
                get.restype, get.argtypes = ctypes.c_int, []
                set_.restype, set_.argtypes = None, [ctypes.c_int]
                out.append((get, set_))
                break
    return out


@contextlib.contextmanager
def openblas_threads(n: int = 1) -> Iterator[int]:
    """Run the body with every loaded OpenBLAS limited to ``n`` threads; restore after.
    Yields the number of OpenBLAS libraries found (0: nothing to do)."""
    libs = _loaded_openblas()
    prev = [int(get()) for get, _ in libs]  # all read first: the libraries may share one
    for _, set_ in libs:
        set_(int(n))
    try:
        yield len(libs)
    finally:
        for (_, set_), old in zip(libs, prev):
            set_(old)
