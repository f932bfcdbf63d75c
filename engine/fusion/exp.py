"""EXP: the MS interpolated onto the PAN grid, unchanged (the floor every method must
beat; Vivone et al., "A Critical Comparison Among Pansharpening Algorithms", IEEE TGRS
2015)."""

from __future__ import annotations

import numpy as np

from .common import FusionConfig, invalidate
from .stats import FusionStatistics

NAME = "exp"
HALO = 0
NEEDS_LR = False


def estimate(stats: FusionStatistics, cfg: FusionConfig) -> dict:
    """No parameters."""
    return {}


def apply(values: dict, cfg: FusionConfig, pan: np.ndarray, ms_up: np.ndarray,
          valid: np.ndarray) -> np.ndarray:
    """``F_b = M~_b`` (invalid pixels NaN)."""
    return invalidate(np.array(ms_up, dtype=np.float64, copy=True), valid)
