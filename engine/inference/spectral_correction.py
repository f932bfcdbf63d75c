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
``bms`` input), ``LP_b`` band b's MTF-matched low-pass (the Gaussian kernel with gain
GNyq_b at the MS Nyquist frequency of :func:`engine.filters.mtf_kernel`, undecimated,
replicate borders), applied as two 1-D passes: the kernel is separable to within 1e-5 of
its largest singular value, and two 41-tap passes cost far less than a 2-D FFT.  This is the
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
from functools import lru_cache
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
from scipy import ndimage

from ..errors import InputError
from ..filters import MTF_TAPS, mtf_kernel

#: PAN-grid rows of context needed on each side of a corrected row (41-tap MTF kernel).
HALO = MTF_TAPS // 2

#: Columns corrected at a time (plus :data:`HALO` on each side): bounds the float64
#: working copies whatever the image width.
COLUMN_CHUNK = 2048

#: ``read_bms(y0, y1)`` -> the interpolated MS ``(C, y1 - y0, W)`` of PAN rows y0..y1.
ReadBms = Callable[[int, int], np.ndarray]


def _gains(gains: float | Sequence[float], bands: int, ratio: int) -> tuple[float, ...]:
    g = tuple(float(x) for x in np.broadcast_to(np.asarray(gains, np.float64), (bands,)))
    if any(not 0.0 < x < 1.0 for x in g):
        raise InputError(f"MTF gains must lie in (0, 1), got {g}")
    if int(ratio) != ratio or ratio < 1:
        raise InputError(f"the ratio must be a positive integer, got {ratio}")
    return g


@lru_cache(maxsize=32)
def separable_mtf(gnyq: float, ratio: int) -> tuple[np.ndarray, np.ndarray]:
    """``(column, row)`` 1-D kernels whose outer product is the rank-1 approximation of
    :func:`engine.filters.mtf_kernel` (largest singular pair, unit sum)."""
    u, s, vt = np.linalg.svd(mtf_kernel(float(gnyq), int(ratio)))
    col, row = u[:, 0] * np.sqrt(s[0]), vt[0] * np.sqrt(s[0])
    if col.sum() < 0:
        col, row = -col, -row
    return col / col.sum(), row / row.sum()


def lowpass(img: np.ndarray, valid: np.ndarray, gnyq: float, ratio: int) -> np.ndarray:
    """MTF low-pass of ``img (H, W)`` over its ``valid`` pixels (normalised convolution,
    Knutsson & Westin, CVPR 1993; replicate borders); 0 where no valid pixel is near."""
    col, row = separable_mtf(float(gnyq), int(ratio))

    def filt(x: np.ndarray) -> np.ndarray:
        return ndimage.correlate1d(ndimage.correlate1d(x, col, axis=0, mode="nearest"),
                                   row, axis=1, mode="nearest")

    if valid.all():
        return filt(img)
    num, den = filt(np.where(valid, img, 0.0)), filt(valid.astype(np.float64))
    return np.where(den > 1e-9, num / np.where(den > 1e-9, den, 1.0), 0.0)


def correct(fused: np.ndarray, bms: np.ndarray, ratio: int,
            gains: float | Sequence[float]) -> np.ndarray:
    """``F + (M~ - LP(F))`` per band.

    ``fused`` and ``bms``: ``(C, H, W)`` on the same scale (e.g. reflectance or scaled
    units); ``ratio``: PAN/MS resolution ratio; ``gains``: one MTF GNyq per band (or one
    for all).  Returns ``(C, H, W)`` float32, NaN where either input is NaN.  Works on
    :data:`COLUMN_CHUNK` columns at a time (with their halo; the result is the same).
    """
    f, m = np.asarray(fused), np.asarray(bms)
    if f.ndim != 3 or f.shape != m.shape:
        raise InputError(f"fused {f.shape} and interpolated MS {m.shape} must both be "
                         "(C, H, W) of the same shape")
    g_all = _gains(gains, f.shape[0], ratio)
    width = f.shape[2]
    out = np.empty(f.shape, dtype=np.float32)
    for c0 in range(0, width, COLUMN_CHUNK):
        c1 = min(width, c0 + COLUMN_CHUNK)
        a, b = max(0, c0 - HALO), min(width, c1 + HALO)
        out[:, :, c0:c1] = _correct(f[:, :, a:b], m[:, :, a:b], int(ratio),
                                    g_all)[:, :, c0 - a:c1 - a]
    return out


def _correct(f: np.ndarray, m: np.ndarray, ratio: int, gains: tuple[float, ...]
             ) -> np.ndarray:
    valid = np.all(np.isfinite(f), axis=0) & np.all(np.isfinite(m), axis=0)
    out = np.full(f.shape, np.nan, dtype=np.float32)
    if not valid.any():
        return out
    for b, g in enumerate(gains):   # band by band: float64 copies of one band only
        fb = np.where(valid, f[b].astype(np.float64), 0.0)
        out[b] = np.where(valid, fb + m[b] - lowpass(fb, valid, g, ratio), np.nan)
    return out


def correct_rows(blocks: Iterable[tuple[int, np.ndarray]], read_bms: ReadBms, height: int,
                 ratio: int, gains: float | Sequence[float], halo: int = HALO,
                 correct_window: Callable[..., np.ndarray] | None = None
                 ) -> Iterator[tuple[int, np.ndarray]]:
    """:func:`correct` over a stream of consecutive row blocks ``(y0, (C, n, W))`` that
    covers rows 0..``height``; yields the corrected blocks in the same order and shapes.
    ``correct_window(fused, bms, ratio, gains)`` replaces :func:`correct` (e.g. the
    torch version of :mod:`.spectral_correction_torch` on a GPU).

    Holds at most two blocks plus ``halo`` rows of the fused image (a block waits for the
    ``halo`` rows after it); ``read_bms`` is called once per block for its rows plus the
    halo on each side.
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
            window = (correct_window or correct)(buf[:, w0 - start:w1 - start],
                                                 read_bms(w0, w1), ratio, gains)
            yield a, window[:, a - w0:b - w0]
            drop = max(start, (pending[0][0] if pending else b) - halo)
            buf, start = buf[:, drop - start:], drop
    if end != height:
        raise InputError(f"the row blocks stopped at row {end} of {height}")
