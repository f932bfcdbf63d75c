"""Shared part of MTF-GLP and MTF-GLP-HPM: per-band equalised PAN and its low-pass.

``P_b = match(P -> M~_b)`` (mean/std over valid pixels) and ``P_L,b`` = ``P_b``
low-passed with band b's MTF-matched filter (``cfg.ms_gnyq[b]``, ``cfg.convention``,
normalised convolution over valid pixels, :func:`common.lowpass`).

Design choice: the low-pass is the MTF filter applied at PAN scale, without the
decimation + interp23tap round trip of the toolbox's pyramid (Aiazzi et al., PE&RS
2006 describe both; the undecimated form needs only a 20-pixel halo, works with any
ratio and with nodata holes).  Because the filter has unit DC gain and the
equalisation is affine, ``P_L,b = a_b LP_b(P) + c_b`` with the same ``(a_b, c_b)``.
"""

from __future__ import annotations

import numpy as np

from .common import FusionConfig, lowpass, match_coefficients
from .stats import FusionStatistics


def band_matching(stats: FusionStatistics) -> dict:
    mean, cov = stats.hr.mean, stats.hr.cov
    mu_p, sd_p = mean[0], np.sqrt(max(cov[0, 0], 0.0))
    gains, offsets, taus = [], [], []
    for b in range(stats.bands):
        mu_b, sd_b = mean[1 + b], np.sqrt(max(cov[1 + b, 1 + b], 0.0))
        a, c = match_coefficients(mu_p, sd_p, mu_b, sd_b)
        gains.append(a)
        offsets.append(c)
        taus.append(float(stats.cfg.eps_rel * (abs(mu_b) + sd_b)))
    return {"pan_gain": gains, "pan_offset": offsets, "tau": taus}


def equalised_pan_and_lowpass(values: dict, cfg: FusionConfig, pan: np.ndarray,
                              valid: np.ndarray):
    """Yield ``(b, P_b, P_L,b)`` per band, grouped by GNyq: one low-pass per distinct
    gain, and only one low-pass plane alive at a time."""
    gains = list(cfg.ms_gnyq)
    for g in dict.fromkeys(gains):
        lp = lowpass(pan, valid, g, cfg)
        for b in (i for i, gi in enumerate(gains) if gi == g):
            a, c = values["pan_gain"][b], values["pan_offset"][b]
            yield b, a * pan + c, a * lp + c
