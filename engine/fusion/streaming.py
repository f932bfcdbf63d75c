"""Strip-wise fusion of scenes too large for memory.

Two passes over horizontal PAN strips: a statistics pass (moments accumulated with
:class:`.stats.FusionStatistics`) and a fusion pass (``apply`` per strip).  Each strip
is read with a halo of context rows (the method's low-pass halo, 20 PAN rows, for the
fusion pass of MTF-GLP(-HPM) and the statistics pass of GSA) and the MS rows it needs
(plus :data:`engine.io.placement.LR_MARGIN` LR rows) are placed on the PAN grid with
:func:`engine.io.placement.place_rows`.  Memory is bounded by ``strip_rows + 2*halo`` PAN
rows times ``(C + 1)`` float64 planes and a few temporaries; the result equals the
whole-image :func:`engine.fusion.fuse` on ``ms_to_pan_grid(...)`` (border
'symmetric') to round-off.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..errors import Canceled, InputError
from ..filters import Convention
from ..io.grid import Alignment
from ..io.placement import PlacementPhase, lr_rows_for, place_rows
from ..io.windows import row_strips, with_row_halo
from . import get_method
from .common import LOWPASS_HALO, FusionParams, combined_valid, make_config
from .stats import FusionStatistics


class FusionCanceled(Canceled):
    """Raised by :func:`fuse_strips` when ``is_canceled()`` returned True between strips."""


def fuse_strips(method: str,
                read_pan: Callable[[int, int], np.ndarray],
                read_ms: Callable[[int, int], np.ndarray],
                alignment: Alignment,
                pan_shape: tuple[int, int],
                ms_shape: tuple[int, int, int],
                write: Callable[[int, np.ndarray], None],
                *,
                ms_gnyq: float | Sequence[float],
                pan_gnyq: float,
                strip_rows: int = 512,
                interp: str = "interp23tap",
                phase: PlacementPhase = "area",
                convention: Convention = "exact",
                eps_rel: float = 0.01,
                max_ratio: float = 5.0,
                read_valid: Callable[[int, int], np.ndarray] | None = None,
                pan_nodata: float | None = None,
                ms_nodata: float | None = None,
                is_canceled: Callable[[], bool] | None = None,
                progress: Callable[[float], None] | None = None) -> FusionParams:
    """Fuse a scene strip by strip; returns the estimated :class:`FusionParams`.

    ``read_pan(r0, r1)`` -> PAN rows ``[r0, r1)`` ``(rows, W)``; ``read_ms(l0, l1)`` ->
    MS rows ``(C, rows, w)``; ``write(r0, block)`` receives ``(C, rows, W)`` float64
    for PAN rows ``r0 ..`` (NaN = nodata), strips in order.  ``pan_shape = (H, W)``,
    ``ms_shape = (C, h, w)``, ``alignment`` from :func:`engine.io.grid.align_grids`.
    ``interp``/``phase``: MS placement (:func:`engine.io.placement.ms_to_pan_grid`, always
    with symmetric borders: ``phase='toolbox'`` differs from the literature's circular
    interp23tap within ~11 MS pixels of the image edges).
    Nodata: ``read_valid(r0, r1)`` (bool rows), PAN pixels equal to ``pan_nodata`` and
    MS pixels where any band equals ``ms_nodata`` are excluded and come out NaN.
    ``is_canceled()`` is checked before every strip of both passes; if it returns True
    :class:`FusionCanceled` is raised (nothing more is written).  ``progress(f)`` gets
    the fraction done in ``[0, 1]`` after every strip.
    """
    m = get_method(method)
    H, W = (int(s) for s in pan_shape)
    C, h, w = (int(s) for s in ms_shape)
    if strip_rows < 1:
        raise InputError(f"strip_rows must be positive, got {strip_rows}")
    cfg = make_config(alignment.ratio, ms_gnyq, pan_gnyq, C, convention, eps_rel, max_ratio)
    strips = row_strips(H, int(strip_rows), W)
    total = 2 * len(strips)
    done = 0

    def check_cancel() -> None:
        if is_canceled is not None and is_canceled():
            raise FusionCanceled("pan-sharpening was canceled")

    def load(a: int, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pan = np.asarray(read_pan(a, b), dtype=np.float64)
        if pan.shape != (b - a, W):
            raise InputError(f"read_pan({a}, {b}) returned {pan.shape}, expected {(b - a, W)}")
        l0, l1 = lr_rows_for(a, b, alignment, h, phase)
        if l1 > l0:
            ms = np.asarray(read_ms(l0, l1), dtype=np.float64)
            if ms.shape != (C, l1 - l0, w):
                raise InputError(
                    f"read_ms({l0}, {l1}) returned {ms.shape}, expected {(C, l1 - l0, w)}")
            ms_valid = None if ms_nodata is None else ~np.any(ms == ms_nodata, axis=0)
            ms_up = place_rows(ms, l0, h, alignment, a, b - a, W, interp, phase, ms_valid)
        else:  # strip entirely outside the MS footprint
            ms_up = np.full((C, b - a, W), np.nan)
        valid = None if read_valid is None else np.asarray(read_valid(a, b), dtype=bool)
        if pan_nodata is not None:
            nd = pan != pan_nodata
            valid = nd if valid is None else valid & nd
        return pan, ms_up, combined_valid(pan, ms_up, valid)

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done / total)

    # Pass 1: statistics.
    stats = FusionStatistics(C, cfg, need_lr=m.needs_lr)
    halo = LOWPASS_HALO if m.needs_lr else 0
    for strip in strips:
        check_cancel()
        ctx = with_row_halo(strip, halo, H)
        pan, ms_up, ok = load(ctx.y0, ctx.y1)
        stats.add_tile(pan, ms_up, ok, row0=ctx.y0,
                       interior=(strip.y0 - ctx.y0, strip.y1 - ctx.y0))
        tick()
    params = FusionParams(m.name, cfg, m.estimate(stats, cfg))

    # Pass 2: fusion.
    for strip in strips:
        check_cancel()
        ctx = with_row_halo(strip, m.halo, H)
        pan, ms_up, ok = load(ctx.y0, ctx.y1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = m.apply(params.values, cfg, pan, ms_up, ok)
        write(strip.y0, out[:, strip.y0 - ctx.y0:strip.y1 - ctx.y0])
        tick()
    return params
