"""Tile layout of model inference, numpy only (the plugin reads the defaults at load).

The tile grid depends only on the image size, ``tile_size`` and ``overlap`` (see
:mod:`.predictor` for the stitching rules): :func:`plan_axis` lays tiles along one axis,
:func:`blend_radius` and :func:`axis_weights` give the cross-fade weights.

The defaults come from ``bench/tiling_study.py`` (bench/RESULTS.md, "Tiled vs
whole-image inference"); ``tests/engine/test_tiling_defaults.py`` holds them to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

#: Tile edge in PAN pixels.
DEFAULT_TILE_SIZE = 256
#: Overlap between neighbouring tiles in PAN pixels.
DEFAULT_OVERLAP = 32
#: Stitching: 'linear' cross-fades neighbouring tiles over the middle half of their
#: overlap, 'cut' keeps each tile's centre up to the middle of the overlap.
DEFAULT_BLEND = "linear"
#: Stitching: 'cut' keeps each tile's centre up to the middle of the overlap (hard
#: cut); 'linear' cross-fades neighbouring tiles over the middle half of their overlap.
BLENDS = ("cut", "linear")


@dataclass(frozen=True)
class Span:
    """One tile along one axis: input ``[start, start + tile)``, kept ``[keep_start, keep_stop)``.

    All in image coordinates.  An axis shorter than one tile has a single span
    ``(0, 0, length)``; the predictor then caps the tile to the axis length.
    """

    start: int
    keep_start: int
    keep_stop: int


def plan_axis(length: int, tile: int | None, overlap: int) -> list[Span]:
    """Fixed tile layout along one axis of ``length`` pixels (``tile`` None: one tile)."""
    if length < 1:
        raise InputError(f"cannot tile an axis of length {length}")
    if tile is None or length <= tile:
        return [Span(0, 0, length)]
    stride = tile - overlap
    n = math.ceil((length - tile) / stride) + 1
    starts = [min(k * stride, length - tile) for k in range(n)]
    cuts = [0] + [(starts[k + 1] + starts[k] + tile) // 2 for k in range(n - 1)] + [length]
    return [Span(starts[k], cuts[k], cuts[k + 1]) for k in range(n)]


def seam_positions(length: int, tile: int | None, overlap: int) -> list[int]:
    """Image coordinates where the output switches from one tile to the next."""
    return [s.keep_start for s in plan_axis(length, tile, overlap)[1:]]


def blend_radius(spans: list[Span], tile: int | None, overlap: int, blend: str) -> int:
    """Half-width ``r`` of the linear ramps around every cut (0 for ``blend='cut'``).

    ``overlap // 4``, reduced where needed so that each ramp stays inside both tiles with
    at least ``overlap // 4`` pixels of unused context and ramps never meet.
    """
    if blend == "cut" or tile is None or len(spans) < 2:
        return 0
    r = overlap // 4
    margin = overlap // 4  # unused context kept at every tile edge
    n = len(spans)
    for k, s in enumerate(spans):
        if k > 0:
            r = min(r, s.keep_start - s.start - margin)
        if k < n - 1:
            r = min(r, s.start + tile - s.keep_stop - margin)
        r = min(r, (s.keep_stop - s.keep_start) // 2)
    return max(0, r)


def axis_weights(spans: list[Span], r: int) -> list[tuple[int, int, np.ndarray]]:
    """Per tile ``(lo, hi, w)``: the tile contributes ``w`` (float32, length hi-lo) to
    image positions ``[lo, hi)``.

    ``w`` is 1 inside the kept range and ramps linearly (at pixel centres) over
    ``[cut - r, cut + r)`` around every cut shared with a neighbour, so the weights of
    all tiles sum to exactly 1 everywhere; ``r = 0`` gives the hard centre cut.
    """
    out = []
    n = len(spans)
    for k, s in enumerate(spans):
        lo = s.keep_start - (r if k > 0 else 0)
        hi = s.keep_stop + (r if k < n - 1 else 0)
        x = np.arange(lo, hi, dtype=np.float64) + 0.5
        w = np.ones(hi - lo, dtype=np.float64)
        if r and k > 0:
            w = np.minimum(w, (x - (s.keep_start - r)) / (2 * r))
        if r and k < n - 1:
            w = np.minimum(w, (s.keep_stop + r - x) / (2 * r))
        out.append((lo, hi, np.clip(w, 0.0, 1.0).astype(np.float32)))
    return out
