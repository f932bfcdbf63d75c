"""GDAL's weighted Brovey (``gdal_pansharpen`` / QGIS ``gdal:pansharp`` defaults).

What QGIS users already have, reproduced so the deep model can be compared with it on
the same data (GDAL documentation of ``gdal_pansharpen``)::

    pseudo_pan = sum_b w_b M~_b   (w_b = 1/L, GDAL's default weights)
    F_b = M~_b * P / pseudo_pan   (0 where pseudo_pan = 0)

No PAN equalisation, no guard beyond GDAL's zero test.  GDAL resamples the MS with cubic
convolution; here ``ms_up`` is whatever placement the caller used.
"""

from __future__ import annotations

import numpy as np

from .common import FusionConfig, invalidate
from .stats import FusionStatistics

NAME = "brovey_gdal"
HALO = 0
NEEDS_LR = False


def estimate(stats: FusionStatistics, cfg: FusionConfig) -> dict:
    """No parameters (GDAL's default weights 1/L)."""
    return {}


def apply(values: dict, cfg: FusionConfig, pan: np.ndarray, ms_up: np.ndarray,
          valid: np.ndarray) -> np.ndarray:
    pseudo = ms_up.mean(axis=0)
    factor = np.where(pseudo != 0, pan / np.where(pseudo != 0, pseudo, 1.0), 0.0)
    return invalidate(ms_up * factor[None], valid)
