"""Put the MS on the PAN grid ("EXP" image of Vivone et al., IEEE TGRS 2015).

Two placements (interp23tap: Aiazzi et al., IEEE TGRS 2002; the half-pixel phase
difference: Aiazzi et al., ISPRS J. Photogramm. 2013):

* ``phase='area'`` (georeferenced, pixel-is-area; the default for real data): the
  centre of MS pixel ``j`` lies at PAN pixel-centre coordinate
  ``offset + R*j + (R-1)/2`` (:meth:`engine.io.grid.Alignment.ms_centre`).  The MS is
  upsampled (interp23tap, which puts LR sample ``j`` on fine pixel ``R*j + R//2``, or
  Keys bicubic), the residual sub-pixel shift is removed with a Keys cubic shift
  (as :func:`engine.filters.cubic_shift`, see :func:`_fractional_shift`) and an
  integer crop/pad puts the content exactly where the geotransforms say.  The LR
  image is padded symmetrically by :data:`LR_MARGIN` pixels before interpolating, so
  interp23tap's circular borders never wrap the opposite edge into the image.
* ``phase='toolbox'`` (Wald-protocol RR data, as the literature does): LR sample ``j``
  on fine pixel ``R*j + R//2``.  With ``method='interp23tap'`` and ``border='circular'``
  (the default for this phase) the result is exactly :func:`engine.filters.interp23tap`.

PAN pixels whose centre falls outside the MS footprint ``[offset, offset + R*n)``
(pixel-corner coordinates), or inside an MS pixel that is nodata (NaN in ``ms``,
or False in ``ms_valid``), come out as NaN in every band.  Nodata MS pixels are
filled before interpolation by :data:`FILL_ITERATIONS` rounds of 3x3 averaging of their
valid neighbours (a local, deterministic fill, so that strip-wise placement equals
whole-image placement); this keeps interpolation ringing from nodata values out of the
valid pixels next to them.

``method='interp23tap'`` needs a ratio that is a power of 2; for any other ratio the
Keys bicubic (a = -0.5) is used instead (:func:`effective_method` says which).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from scipy import ndimage

from ..errors import InputError
from ..filters import resample_axis, interp23tap, shift_axis
from .grid import Alignment

Method = Literal["interp23tap", "bicubic"]
PlacementPhase = Literal["area", "toolbox"]
Border = Literal["symmetric", "circular"]

#: Local fill of nodata MS pixels: number of 3x3 neighbour-averaging rounds.
FILL_ITERATIONS = 12
#: LR pixels of symmetric padding / context around a block (interp23tap support is
#: below 11 LR pixels at any power-of-2 ratio, the fill reaches FILL_ITERATIONS).
LR_MARGIN = 12 + FILL_ITERATIONS + 2


def _is_pow2(r: int) -> bool:
    return r >= 2 and not r & (r - 1)


def effective_method(method: str, ratio: int) -> str:
    """The interpolator actually used: 'interp23tap' falls back to 'bicubic' for ratios
    that are not a power of 2."""
    if method not in ("interp23tap", "bicubic"):
        raise InputError(f"unknown MS interpolation {method!r}; use 'interp23tap' or 'bicubic'")
    if method == "interp23tap" and not _is_pow2(int(ratio)):
        return "bicubic"
    return method


def _phase_offset(phase: str, ratio: int) -> float:
    """Extra offset (PAN px) that turns a placement phase into the area formula."""
    if phase == "area":
        return 0.0
    if phase == "toolbox":
        return ratio // 2 - (ratio - 1) / 2.0
    raise InputError(f"unknown placement phase {phase!r}; use 'area' or 'toolbox'")


def _fill_from_neighbours(ms: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fill invalid pixels by repeated 3x3 averaging of valid neighbours; rest -> 0."""
    out = np.where(valid[None], ms, 0.0)
    have = valid.astype(np.float64)
    box = np.ones((3, 3))
    for _ in range(FILL_ITERATIONS):
        if have.all():
            break
        cnt = ndimage.correlate(have, box, mode="constant")
        grow = (have == 0) & (cnt > 0)
        if not grow.any():
            break
        for b in range(out.shape[0]):
            s = ndimage.correlate(out[b] * have, box, mode="constant")
            out[b] = np.where(grow, s / np.maximum(cnt, 1.0), out[b])
        have = np.where(grow, 1.0, have)
    return out


def _fractional_shift(arr: np.ndarray, axis: int, frac: float) -> np.ndarray:
    """``out[i] = arr(i + frac)`` along ``axis`` (:func:`engine.filters.shift_axis`)."""
    return arr if frac == 0.0 else shift_axis(arr, axis, frac)


def _axis_map(n_out: int, out0: int, off: float, ratio: int) -> np.ndarray:
    """Fractional LR index of PAN pixel centres ``out0 .. out0+n_out-1`` (area formula)."""
    return (np.arange(out0, out0 + n_out) - off - (ratio - 1) / 2.0) / ratio


def _footprint(n_out: int, out0: int, off: float, ratio: int, n_lr: int) -> np.ndarray:
    """LR pixel containing each PAN pixel centre, -1 outside the footprint."""
    idx = np.floor((np.arange(out0, out0 + n_out) + 0.5 - off) / ratio).astype(np.int64)
    return np.where((idx >= 0) & (idx < n_lr), idx, -1)


def _interp23_place(block: np.ndarray, l0: int, ms_height: int, off_y: float, off_x: float,
                    ratio: int, p0: int, n_rows: int, W: int) -> np.ndarray:
    """interp23tap a padded LR block and shift/crop it onto PAN rows p0.., cols 0..W-1.

    Band by band, so that the temporaries hold one band at a time.
    """
    m = LR_MARGIN
    # Mirror only at true MS edges; an inner block edge already has LR_MARGIN rows of
    # real context (lr_rows_for), so its circular wrap stays out of the result.
    top = m if l0 == 0 else 0
    bottom = m if l0 + block.shape[1] >= ms_height else 0
    delta = ratio // 2 - (ratio - 1) / 2.0
    # Fine index k of the upsampled block sits at PAN coordinate k - t, with
    # t = delta - off - R*(LR index of its first row/column).
    t_y = delta - off_y - ratio * (l0 - top)
    t_x = delta - off_x + ratio * m
    fy, fx = t_y - math.floor(t_y), t_x - math.floor(t_x)
    n_up_y = ratio * (block.shape[1] + top + bottom)
    n_up_x = ratio * (block.shape[2] + 2 * m)
    # PAN row/col x takes fine index x + floor(t); keep those that exist.
    ky0 = p0 + math.floor(t_y)
    kx0 = math.floor(t_x)
    ry = np.arange(max(0, -ky0), min(n_rows, n_up_y - ky0))
    rx = np.arange(max(0, -kx0), min(W, n_up_x - kx0))
    out = np.full((block.shape[0], n_rows, W), np.nan)
    if ry.size == 0 or rx.size == 0:
        return out
    # Rows/cols of the fine grid needed, plus the 4-tap shift's context (-1, +2).
    a_y, b_y = max(0, ky0 + ry[0] - 1), min(n_up_y, ky0 + ry[-1] + 3)
    a_x, b_x = max(0, kx0 + rx[0] - 1), min(n_up_x, kx0 + rx[-1] + 3)
    for b in range(block.shape[0]):
        padded = np.pad(block[b], ((top, bottom), (m, m)), mode="symmetric")
        up = interp23tap(padded, ratio)
        # Crop to what is needed before shifting; at the true array edges the crop
        # keeps the edge, so replicate borders act exactly as on the full array.
        up = _fractional_shift(up[a_y:b_y], 0, fy)
        up = _fractional_shift(up[:, a_x:b_x], 1, fx)
        out[b, ry[0]:ry[-1] + 1, rx[0]:rx[-1] + 1] = \
            up[ky0 + ry[0] - a_y:ky0 + ry[-1] + 1 - a_y, kx0 + rx[0] - a_x:kx0 + rx[-1] + 1 - a_x]
    return out


def _bicubic_place(block: np.ndarray, l0: int, off_y: float, off_x: float, ratio: int,
                   p0: int, n_rows: int, W: int) -> np.ndarray:
    """Keys bicubic (a = -0.5) at the exact fractional LR positions, mirrored borders."""
    pos_y = _axis_map(n_rows, p0, off_y, ratio) - l0
    pos_x = _axis_map(W, 0, off_x, ratio)
    out = np.empty((block.shape[0], n_rows, W))
    for b in range(block.shape[0]):  # one band at a time bounds the gathered copies
        arr = resample_axis(block[b], -2, pos_y, float(ratio), "symmetric")
        out[b] = resample_axis(arr, -1, pos_x, float(ratio), "symmetric")
    return out


def place_rows(ms_block: np.ndarray, lr_row0: int, ms_height: int, alignment: Alignment,
               pan_row0: int, pan_rows: int, pan_width: int, method: str = "interp23tap",
               phase: PlacementPhase = "area", ms_valid: np.ndarray | None = None) -> np.ndarray:
    """Place PAN rows ``pan_row0 .. pan_row0+pan_rows-1`` from an MS row block.

    ``ms_block`` ``(C, rows, w)`` holds MS rows ``lr_row0 ..`` of an MS that is
    ``ms_height`` rows tall.  The result equals the corresponding rows of
    :func:`ms_to_pan_grid` (symmetric borders) when the block covers the LR rows that
    map onto the requested PAN rows plus :data:`LR_MARGIN` rows on each side (or up to
    the MS edge); :func:`lr_rows_for` gives that range.  ``(C, pan_rows, pan_width)``.
    """
    block = np.asarray(ms_block, dtype=np.float64)
    if block.ndim == 2:
        block = block[None]
    ratio = int(alignment.ratio)
    meth = effective_method(method, ratio)
    extra = _phase_offset(phase, ratio)
    off_y, off_x = alignment.offset_y + extra, alignment.offset_x + extra
    valid = np.all(np.isfinite(block), axis=0)
    if ms_valid is not None:
        valid &= np.asarray(ms_valid, dtype=bool)
    if not valid.all():
        block = _fill_from_neighbours(block, valid)
    if meth == "interp23tap":
        out = _interp23_place(block, lr_row0, ms_height, off_y, off_x, ratio, pan_row0,
                              pan_rows, pan_width)
    else:
        out = _bicubic_place(block, lr_row0, off_y, off_x, ratio, pan_row0, pan_rows, pan_width)
    # Footprint and nodata: NaN where the PAN centre is not inside a valid MS pixel.
    iy = _footprint(pan_rows, pan_row0, off_y, ratio, ms_height)
    ix = _footprint(pan_width, 0, off_x, ratio, block.shape[2])
    local = iy - lr_row0
    inside_y = (iy >= 0) & (local >= 0) & (local < block.shape[1])
    ok = inside_y[:, None] & (ix >= 0)[None, :]
    if not valid.all():
        ok_idx = np.zeros(ok.shape, dtype=bool)
        rows = np.flatnonzero(inside_y)
        cols = np.flatnonzero(ix >= 0)
        ok_idx[np.ix_(rows, cols)] = valid[np.ix_(local[rows], ix[cols])]
        ok &= ok_idx
    out[:, ~ok] = np.nan
    return out


def lr_rows_for(pan_row0: int, pan_row1: int, alignment: Alignment, ms_height: int,
                phase: PlacementPhase = "area") -> tuple[int, int]:
    """LR row range ``[l0, l1)`` that :func:`place_rows` needs for PAN rows ``[r0, r1)``."""
    ratio = int(alignment.ratio)
    off = alignment.offset_y + _phase_offset(phase, ratio)
    lo = math.floor((pan_row0 - off - (ratio - 1) / 2.0) / ratio) - LR_MARGIN
    hi = math.ceil((pan_row1 - 1 - off - (ratio - 1) / 2.0) / ratio) + LR_MARGIN + 1
    return max(0, min(lo, ms_height)), max(0, min(hi, ms_height))


def ms_to_pan_grid(ms: np.ndarray, alignment: Alignment, pan_shape: tuple[int, int],
                   method: str = "interp23tap", phase: PlacementPhase = "area",
                   border: Border | None = None,
                   ms_valid: np.ndarray | None = None) -> np.ndarray:
    """Resample ``ms (C, h, w)`` onto the PAN grid ``pan_shape (H, W)`` -> ``(C, H, W)``.

    ``method``: 'interp23tap' (power-of-2 ratios; other ratios fall back to bicubic) or
    'bicubic' (Keys, a = -0.5).  ``phase``: 'area' (georeferenced pixel-is-area, uses
    ``alignment`` offsets) or 'toolbox' (LR sample ``j`` on fine pixel ``R*j + R//2``,
    plus the alignment offsets).  ``border``: 'symmetric' (default; LR image mirrored
    by :data:`LR_MARGIN` px before interpolating) or 'circular' (only with
    ``phase='toolbox'``, interp23tap, zero offsets and ``pan_shape == R*(h, w)``: exactly
    :func:`engine.filters.interp23tap`, the literature's RR convention; default for
    that case).  Pixels outside the MS footprint or on nodata MS pixels are NaN.
    float64.
    """
    arr = np.asarray(ms, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise InputError(f"the MS must be (C, h, w), got shape {arr.shape}")
    H, W = (int(s) for s in pan_shape[-2:])
    ratio = int(alignment.ratio)
    c, h, w = arr.shape
    toolbox_exact = (phase == "toolbox" and effective_method(method, ratio) == "interp23tap"
                     and alignment.offset_y == 0 and alignment.offset_x == 0
                     and (H, W) == (ratio * h, ratio * w))
    if border is None:
        border = "circular" if toolbox_exact else "symmetric"
    if border == "circular":
        if not toolbox_exact:
            raise InputError(
                "circular borders are only the literature's RR convention: use them with "
                "phase='toolbox', method='interp23tap', a power-of-2 ratio, zero offsets "
                f"and a PAN exactly {ratio}x the MS; otherwise use border='symmetric'")
        valid = np.all(np.isfinite(arr), axis=0)
        if ms_valid is not None:
            valid &= np.asarray(ms_valid, dtype=bool)
        filled = arr if valid.all() else _fill_from_neighbours(arr, valid)
        out = interp23tap(filled, ratio)
        if not valid.all():
            bad = ~np.repeat(np.repeat(valid, ratio, 0), ratio, 1)
            out[:, bad] = np.nan
        return out
    if border != "symmetric":
        raise InputError(f"unknown border {border!r}; use 'symmetric' or 'circular'")
    return place_rows(arr, 0, h, alignment, 0, H, W, method, phase, ms_valid)
