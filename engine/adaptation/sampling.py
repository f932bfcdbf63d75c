"""Where adaptation patches come from: valid windows spread over the whole scene (numpy).

Candidates are the ``size x size`` windows on a regular grid (positions multiples of
``step``) that contain no bad pixel.  From them, :func:`spread_windows` picks windows by
farthest-point sampling of their centres (a seeded random first window, then each next
window as far as possible from those already chosen), so the choice covers the whole
valid area instead of one corner, and is deterministic for a seed.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` (bool) grown by ``radius`` pixels (square structuring element)."""
    if radius <= 0 or not mask.any():
        return mask.copy()
    return ndimage.maximum_filter(mask.astype(np.uint8), size=2 * radius + 1,
                                  mode="constant", cval=0).astype(bool)


def candidate_windows(bad: np.ndarray, size: int, step: int) -> np.ndarray:
    """Top-left corners ``(N, 2)`` (row, col) of ``size``-square windows without a bad pixel.

    Positions are multiples of ``step`` and the windows lie inside ``bad``'s shape.
    """
    h, w = bad.shape
    ys = np.arange(0, h - size + 1, step)
    xs = np.arange(0, w - size + 1, step)
    if ys.size == 0 or xs.size == 0:
        return np.zeros((0, 2), np.int64)
    # integral image: count of bad pixels in each window
    ii = np.zeros((h + 1, w + 1), np.int64)
    ii[1:, 1:] = np.cumsum(np.cumsum(bad.astype(np.int64), axis=0), axis=1)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    count = ii[yy + size, xx + size] - ii[yy, xx + size] - ii[yy + size, xx] + ii[yy, xx]
    keep = count == 0
    return np.stack([yy[keep], xx[keep]], axis=1).astype(np.int64)


def spread_windows(candidates: np.ndarray, count: int, rng: np.random.Generator,
                   exclude: Sequence[tuple[int, int, int]] = (), size: int = 0
                   ) -> np.ndarray:
    """Up to ``count`` of ``candidates`` spread over the scene (farthest-point sampling).

    ``exclude``: windows ``(row, col, side)`` that chosen windows of side ``size`` must
    not overlap (e.g. the guard patches, in the same pixel units).  Returns ``(n, 2)``.
    """
    cand = np.asarray(candidates, dtype=np.int64).reshape(-1, 2)
    if exclude and cand.size:
        ok = np.ones(len(cand), bool)
        for (r, c, s) in exclude:
            overlap = ((cand[:, 0] < r + s) & (cand[:, 0] + size > r)
                       & (cand[:, 1] < c + s) & (cand[:, 1] + size > c))
            ok &= ~overlap
        cand = cand[ok]
    if len(cand) == 0 or count <= 0:
        return np.zeros((0, 2), np.int64)
    centres = cand.astype(np.float64)
    chosen = [int(rng.integers(len(cand)))]
    dist = np.hypot(*(centres - centres[chosen[0]]).T)
    while len(chosen) < min(count, len(cand)):
        nxt = int(np.argmax(dist))
        if dist[nxt] <= 0:
            break  # only duplicates left
        chosen.append(nxt)
        dist = np.minimum(dist, np.hypot(*(centres - centres[nxt]).T))
    return cand[chosen]
