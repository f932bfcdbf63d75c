"""Brovey transform (BT).

Reference: Gillespie, Kahle & Walker, "Color enhancement of highly correlated images.
II. Channel ratio and 'chromaticity' transformation techniques", Remote Sensing of
Environment 22, 1987; form with the PAN equalised to the intensity as in Vivone et al.,
IEEE TGRS 2015::

    I = (1/L) sum_b M~_b ;  P' = (P - mu_P) * sd_I / sd_P + mu_I ;  F_b = M~_b * P' / I

Statistics (mu, sd; population) over valid pixels only.  Guard (the ratio explodes
where I ~ 0, e.g. the display zeros of 8-bit products): :func:`common.modulate` with
``tau = eps_rel * (|mu_I| + sd_I)``; where ``I <= tau`` the additive fallback
``F_b = M~_b + (P' - I)`` is used, elsewhere the ratio ``P'/I`` is clipped to
``[0, max_ratio]``.
"""

from __future__ import annotations

import numpy as np

from .common import FusionConfig, invalidate, match_coefficients, modulate
from .stats import FusionStatistics

NAME = "brovey"
HALO = 0
NEEDS_LR = False


def estimate(stats: FusionStatistics, cfg: FusionConfig) -> dict:
    """PAN mean/std, intensity mean/std (from the moments of ``[P, M~]``), guard tau."""
    mean, cov = stats.hr.mean, stats.hr.cov
    L = stats.bands
    mu_p, sd_p = mean[0], np.sqrt(max(cov[0, 0], 0.0))
    mu_i = mean[1:].mean()
    sd_i = np.sqrt(max(cov[1:, 1:].sum() / L**2, 0.0))
    a, b = match_coefficients(mu_p, sd_p, mu_i, sd_i)
    return {"pan_gain": a, "pan_offset": b, "mu_i": float(mu_i), "sd_i": float(sd_i),
            "tau": float(cfg.eps_rel * (abs(mu_i) + sd_i))}


def apply(values: dict, cfg: FusionConfig, pan: np.ndarray, ms_up: np.ndarray,
          valid: np.ndarray) -> np.ndarray:
    intensity = ms_up.mean(axis=0)
    p_eq = values["pan_gain"] * pan + values["pan_offset"]
    out = modulate(ms_up, p_eq[None], intensity[None], values["tau"], cfg.max_ratio)
    return invalidate(out, valid)
