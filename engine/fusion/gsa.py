"""GSA: adaptive Gram-Schmidt component substitution.

Reference: Aiazzi, Baronti & Selva, "Improving component substitution pansharpening
through multivariate regression of MS+Pan data", IEEE TGRS 45(10), 2007; GS injection
from Laben & Brower, US Patent 6,011,875 (2000).

* Intensity weights: least squares with a constant term, ``P_d ~ sum_b w_b M_b + w_0``
  at MS scale, where ``P_d`` is the PAN low-passed with its MTF filter
  (``cfg.pan_gnyq``, ``cfg.convention``) and decimated at the toolbox phase (fine
  pixel ``R*k + R//2``) and ``M_b`` the MS at the same places: the given LR MS when
  it is in toolbox registration with the PAN (PAN = R x MS), otherwise the samples
  of ``M~`` there (which pairs each sample with the low-passed PAN at the same
  place, whatever the placement).  ``M~`` is not low-passed again before sampling:
  it is already band-limited to the MS resolution (an interpolation of the MS), and
  at toolbox placement its samples at ``R*k + R//2`` are the MS values themselves
  (interp23tap interpolates), so both routes give the same weights there.
* ``I = sum_b w_b M~_b + w_0``;  ``P' = (P - mu_P) * sd_I / sd_P + mu_I``;
* ``g_b = cov(I, M~_b) / var(I)``;  ``F_b = M~_b + g_b (P' - I)``.

All statistics over valid pixels only; ``cov``/``var`` follow from the moments of
``[P, M~]`` because ``I`` is linear in ``M~``.
"""

from __future__ import annotations

import numpy as np

from .common import FusionConfig, invalidate, match_coefficients
from .stats import FusionStatistics

NAME = "gsa"
HALO = 0
NEEDS_LR = True


def regression_weights(stats: FusionStatistics) -> tuple[np.ndarray, float]:
    """``(w, w0)`` of the LR regression (covariance form of least squares with intercept)."""
    mean, cov = stats.lr.mean, stats.lr.cov
    cmm, cmp = cov[1:, 1:], cov[1:, 0]
    w = np.linalg.lstsq(cmm, cmp, rcond=1e-12)[0]
    w0 = mean[0] - w @ mean[1:]
    return w, float(w0)


def estimate(stats: FusionStatistics, cfg: FusionConfig) -> dict:
    w, w0 = regression_weights(stats)
    mean, cov = stats.hr.mean, stats.hr.cov
    cmm = cov[1:, 1:]
    mu_p, sd_p = mean[0], np.sqrt(max(cov[0, 0], 0.0))
    mu_i = float(w @ mean[1:] + w0)
    var_i = float(w @ cmm @ w)
    sd_i = np.sqrt(max(var_i, 0.0))
    gains = (cmm @ w) / var_i if var_i > 0 else np.zeros(stats.bands)
    a, b = match_coefficients(mu_p, sd_p, mu_i, sd_i)
    return {"weights": [float(x) for x in w], "w0": w0, "gains": [float(x) for x in gains],
            "pan_gain": a, "pan_offset": b, "mu_i": mu_i, "sd_i": float(sd_i)}


def apply(values: dict, cfg: FusionConfig, pan: np.ndarray, ms_up: np.ndarray,
          valid: np.ndarray) -> np.ndarray:
    w = np.asarray(values["weights"])
    intensity = np.tensordot(w, ms_up, axes=1) + values["w0"]
    detail = values["pan_gain"] * pan + values["pan_offset"] - intensity
    out = ms_up + np.asarray(values["gains"])[:, None, None] * detail[None]
    return invalidate(out, valid)
