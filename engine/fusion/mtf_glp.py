"""MTF-GLP: additive injection of MTF-filtered PAN detail (unit gains).

Reference: Aiazzi, Alparone, Baronti, Garzelli & Selva, "MTF-tailored multiscale fusion
of high-resolution MS and Pan imagery", PE&RS 72(5), 2006; Vivone et al., IEEE TGRS
2015.  ``F_b = M~_b + (P_b - P_L,b)`` with ``P_b``, ``P_L,b`` as in :mod:`._glp`
(undecimated MTF low-pass, see there).  Statistics over valid pixels only.
"""

from __future__ import annotations

import numpy as np

from . import _glp
from .common import LOWPASS_HALO, FusionConfig, invalidate
from .stats import FusionStatistics

NAME = "mtf_glp"
HALO = LOWPASS_HALO
NEEDS_LR = False


def estimate(stats: FusionStatistics, cfg: FusionConfig) -> dict:
    """Per-band PAN equalisation coefficients."""
    return _glp.band_matching(stats)


def apply(values: dict, cfg: FusionConfig, pan: np.ndarray, ms_up: np.ndarray,
          valid: np.ndarray) -> np.ndarray:
    out = np.empty(ms_up.shape)
    for b, p_b, pl_b in _glp.equalised_pan_and_lowpass(values, cfg, pan, valid):
        out[b] = ms_up[b] + (p_b - pl_b)
    return invalidate(out, valid)
