"""Block-wise accumulation of the global statistics the fusion methods need.

Every global quantity (means, standard deviations, covariances, regression weights) is
a function of the first and second moments of a few variables over the valid pixels,
so it can be accumulated block by block; :class:`MomentAccumulator` gives the same
result (to round-off) whatever the blocking.  :class:`FusionStatistics` gathers

* ``hr``: moments of ``[P, M~_1 .. M~_C]`` over valid PAN-grid pixels;
* ``lr`` (only when a method asks for it, GSA): moments of ``[P_d, M_1 .. M_C]`` at MS
  scale, ``P_d`` being the PAN low-passed with its MTF filter and decimated at the
  toolbox phase (fine pixel ``R*k + R//2``), ``M_b`` the MS samples at the same places.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .common import FusionConfig, lowpass


class MomentAccumulator:
    """Running count, mean and (co)variance of ``nvars`` variables.

    ``add(X)`` takes ``X`` of shape ``(nvars, N)``.  Sums are kept about a fixed shift
    (the mean of the first non-empty block) to avoid cancellation.  Statistics are the
    population ones (divide by N).
    """

    def __init__(self, nvars: int) -> None:
        self.nvars = int(nvars)
        self.n = 0
        self.shift: np.ndarray | None = None
        self.s1 = np.zeros(self.nvars)
        self.s2 = np.zeros((self.nvars, self.nvars))

    def add(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] != self.nvars:
            raise InputError(f"expected ({self.nvars}, N) samples, got {x.shape}")
        if x.shape[1] == 0:
            return
        if self.shift is None:
            self.shift = x.mean(axis=1)
        d = x - self.shift[:, None]
        self.n += x.shape[1]
        self.s1 += d.sum(axis=1)
        self.s2 += d @ d.T

    def merge(self, other: "MomentAccumulator") -> None:
        """Add the samples accumulated by ``other`` (same ``nvars``)."""
        if other.n == 0:
            return
        if self.shift is None:
            self.shift, self.n = other.shift.copy(), other.n
            self.s1, self.s2 = other.s1.copy(), other.s2.copy()
            return
        delta = other.shift - self.shift  # re-centre other's sums on our shift
        s1 = other.s1 + other.n * delta
        s2 = (other.s2 + np.outer(other.s1, delta) + np.outer(delta, other.s1)
              + other.n * np.outer(delta, delta))
        self.n += other.n
        self.s1 += s1
        self.s2 += s2

    @property
    def mean(self) -> np.ndarray:
        self._need()
        return self.shift + self.s1 / self.n

    @property
    def cov(self) -> np.ndarray:
        self._need()
        m = self.s1 / self.n
        c = self.s2 / self.n - np.outer(m, m)
        return 0.5 * (c + c.T)

    def _need(self) -> None:
        if self.n == 0:
            raise InputError("no valid pixel to compute statistics from (all nodata?)")


class FusionStatistics:
    """Accumulates ``hr`` (and optionally ``lr``) moments tile by tile (see module doc)."""

    def __init__(self, bands: int, cfg: FusionConfig, need_lr: bool) -> None:
        self.bands = int(bands)
        self.cfg = cfg
        self.need_lr = bool(need_lr)
        self.hr = MomentAccumulator(1 + self.bands)
        self.lr = MomentAccumulator(1 + self.bands) if need_lr else None

    def add_tile(self, pan: np.ndarray, ms_up: np.ndarray, valid: np.ndarray,
                 row0: int = 0, interior: tuple[int, int] | None = None) -> None:
        """Add PAN-grid rows of a tile.

        ``pan (rows, W)``, ``ms_up (C, rows, W)``, ``valid (rows, W)`` bool (already the
        combined mask); ``row0`` is the global row of the tile's first row and
        ``interior = (a, b)`` the tile rows that belong to this tile (the others are
        halo, used only as context of the PAN low-pass; it must be
        :data:`engine.fusion.common.LOWPASS_HALO` rows where the image goes on).
        """
        a, b = interior if interior is not None else (0, pan.shape[0])
        v = valid[a:b]
        x = np.concatenate([pan[None, a:b][:, v], ms_up[:, a:b][:, v]], axis=0)
        self.hr.add(x)
        if self.need_lr:
            r = self.cfg.ratio
            plp = lowpass(pan, valid, self.cfg.pan_gnyq, self.cfg)
            rows = np.arange(a, b)
            rows = rows[(rows + row0) % r == r // 2]
            cols = np.arange(r // 2, pan.shape[1], r)
            sel = np.ix_(rows, cols)
            vd = valid[sel]
            xd = np.concatenate([plp[sel][None][:, vd], ms_up[:, rows][:, :, cols][:, vd]], axis=0)
            self.lr.add(xd)

    def add_lr_samples(self, pan_d: np.ndarray, ms_lr: np.ndarray, valid: np.ndarray) -> None:
        """Add MS-scale samples directly: ``pan_d (h, w)``, ``ms_lr (C, h, w)``, ``valid``."""
        x = np.concatenate([pan_d[None][:, valid], ms_lr[:, valid]], axis=0)
        self.lr.add(x)
