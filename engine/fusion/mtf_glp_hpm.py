"""MTF-GLP-HPM: high-pass modulation with MTF-matched low-pass.

Reference: Aiazzi, Alparone, Baronti, Garzelli & Selva, "An MTF-based spectral
distortion minimizing model for pan-sharpening of very high resolution multispectral
images of urban areas", 2nd GRSS/ISPRS Joint Workshop URBAN 2003; Vivone et al., IEEE
TGRS 2015::

    F_b = M~_b * P_b / P_L,b

with ``P_b = match(P -> M~_b)`` (mean/std over valid pixels) and ``P_L,b`` its
low-pass with band b's MTF filter (undecimated, exact-GNyq kernel by default; see
:mod:`._glp`).

Guard (the published formula divides by ``P_L,b + eps``, which explodes where the
low-passed PAN is ~0, e.g. the zeros of display-stretched 8-bit products): with
``tau_b = eps_rel * (|mu_b| + sd_b)`` of band b over valid pixels,
:func:`common.modulate` uses ``M~_b * clip(P_b / P_L,b, 0, max_ratio)`` where
``P_L,b > tau_b`` and the additive fallback ``M~_b + (P_b - P_L,b)`` (MTF-GLP) where
``P_L,b <= tau_b``.
"""

from __future__ import annotations

import numpy as np

from . import _glp
from .common import LOWPASS_HALO, FusionConfig, invalidate, modulate
from .stats import FusionStatistics

NAME = "mtf_glp_hpm"
HALO = LOWPASS_HALO
NEEDS_LR = False


def estimate(stats: FusionStatistics, cfg: FusionConfig) -> dict:
    """Per-band PAN equalisation coefficients and guard thresholds."""
    return _glp.band_matching(stats)


def apply(values: dict, cfg: FusionConfig, pan: np.ndarray, ms_up: np.ndarray,
          valid: np.ndarray) -> np.ndarray:
    out = np.empty(ms_up.shape)
    for b, p_b, pl_b in _glp.equalised_pan_and_lowpass(values, cfg, pan, valid):
        out[b] = modulate(ms_up[b], p_b, pl_b, values["tau"][b], cfg.max_ratio)
    return invalidate(out, valid)
