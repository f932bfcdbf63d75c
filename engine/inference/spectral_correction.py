"""Spectral consistency correction of a pan-sharpened image (numpy; no torch, no GDAL).

Wald's consistency property (Wald, Ranchin & Mangolini, "Fusion of satellite images of
different spatial resolutions: assessing the quality of resulting images", PE&RS 63(6),
1997): a fused image, degraded back to the MS resolution, should equal the MS.  A network
applied to a satellite it was not trained on breaks it first: its output comes out darker
or shifted in colour, which is what Khan's spectral distortion D_lambda^K (Khan, Alparone &
Chanussot, IEEE TGRS 47(11), 2009) and HQNR measure.  The correction keeps the network's
spatial detail and takes the content below the MS's resolution from the MS itself::

    F'_b = F_b + (M~_b - LP_b(F_b))

``F`` the fused image, ``M~`` the MS interpolated onto the PAN grid (the network's own
``bms`` input), ``LP_b`` band b's MTF-matched low-pass (Gaussian with gain GNyq_b at the
MS Nyquist frequency, undecimated, :func:`engine.fusion.common.lowpass`).  This is the
detail-injection form of MTF-GLP (Aiazzi, Alparone, Baronti, Garzelli & Selva, PE&RS
72(5), 2006) with the network's output as the source of the detail: ``F' = M~ + (F -
LP(F))``.  One pass; the low-pass of ``F'`` is then ``LP(M~)`` up to ``LP(F) - LP(LP(F))``.

Nodata (NaN in ``F`` or ``M~``) stays NaN and is left out of every low-pass (normalised
convolution).  :func:`correct_rows` does the same on a stream of row blocks with
:data:`HALO` rows of context, so a raster of any height is corrected in bounded memory;
its output equals :func:`correct` on the whole image up to float rounding.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from ..errors import InputError
from ..fusion.common import LOWPASS_HALO, FusionConfig, lowpass

#: PAN-grid rows of context needed on each side of a corrected row (41-tap MTF kernel).
HALO = LOWPASS_HALO

#: ``read_bms(y0, y1)`` -> the interpolated MS ``(C, y1 - y0, W)`` of PAN rows y0..y1.
ReadBms = Callable[[int, int], np.ndarray]


def _config(ratio: int, gains: Sequence[float], bands: int) -> FusionConfig:
    g = tuple(float(x) for x in np.broadcast_to(np.asarray(gains, np.float64), (bands,)))
    if any(not 0.0 < x < 1.0 for x in g):
        raise InputError(f"MTF gains must lie in (0, 1), got {g}")
    if int(ratio) != ratio or ratio < 1:
        raise InputError(f"the ratio must be a positive integer, got {ratio}")
    # the PAN gain plays no part in a low-pass of MS bands
    return FusionConfig(ratio=int(ratio), ms_gnyq=g, pan_gnyq=0.15)


def correct(fused: np.ndarray, bms: np.ndarray, ratio: int,
            gains: float | Sequence[float]) -> np.ndarray:
    """``F + (M~ - LP(F))`` per band.

    ``fused`` and ``bms``: ``(C, H, W)`` on the same scale (e.g. reflectance or scaled
    units); ``ratio``: PAN/MS resolution ratio; ``gains``: one MTF GNyq per band (or one
    for all).  Returns ``(C, H, W)`` float32, NaN where either input is NaN.
    """
    f = np.asarray(fused, dtype=np.float64)
    m = np.asarray(bms, dtype=np.float64)
    if f.ndim != 3 or f.shape != m.shape:
        raise InputError(f"fused {f.shape} and interpolated MS {m.shape} must both be "
                         "(C, H, W) of the same shape")
    cfg = _config(ratio, gains, f.shape[0])
    valid = np.all(np.isfinite(f), axis=0) & np.all(np.isfinite(m), axis=0)
    out = np.full(f.shape, np.nan, dtype=np.float32)
    if not valid.any():
        return out
    for b, g in enumerate(cfg.ms_gnyq):
        fb = np.where(valid, f[b], 0.0)
        out[b] = np.where(valid, fb + m[b] - lowpass(fb, valid, g, cfg), np.nan)
    return out


def correct_rows(blocks: Iterable[tuple[int, np.ndarray]], read_bms: ReadBms, height: int,
                 ratio: int, gains: float | Sequence[float], halo: int = HALO
                 ) -> Iterator[tuple[int, np.ndarray]]:
    """:func:`correct` over a stream of consecutive row blocks ``(y0, (C, n, W))`` that
    covers rows 0..``height``; yields the corrected blocks in the same order and shapes.

    Holds at most one block plus ``2 * halo`` rows of the fused image; ``read_bms`` is
    called once per block for its rows plus the halo.
    """
    buf: np.ndarray | None = None          # fused rows [start, end)
    start = end = 0
    pending: deque[tuple[int, int]] = deque()
    for y0, block in blocks:
        if y0 != end:
            raise InputError(f"row blocks must be consecutive: expected row {end}, got {y0}")
        block = np.asarray(block, dtype=np.float32)
        buf = block if buf is None else np.concatenate([buf, block], axis=1)
        end = y0 + block.shape[1]
        pending.append((y0, end))
        while pending and (pending[0][1] + halo <= end or end >= height):
            a, b = pending.popleft()
            w0, w1 = max(0, a - halo), min(end, b + halo)
            window = correct(buf[:, w0 - start:w1 - start], read_bms(w0, w1), ratio, gains)
            yield a, window[:, a - w0:b - w0]
            drop = max(start, (pending[0][0] if pending else b) - halo)
            buf, start = buf[:, drop - start:], drop
    if end != height:
        raise InputError(f"the row blocks stopped at row {end} of {height}")
