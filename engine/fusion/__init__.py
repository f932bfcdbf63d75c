"""Classical pan-sharpening methods (Vivone et al., IEEE TGRS 2015 and IEEE GRSM 2021), in
two steps each:

* ``estimate``: global parameters from moments accumulated over valid pixels
  (:class:`.stats.FusionStatistics`, block-wise, exact whatever the blocking);
* ``apply``: the per-pixel fusion of a tile; methods with a low-pass (``halo > 0``)
  need that many PAN rows of context around the tile.

Inputs: ``pan (H, W)``, ``ms_up (C, H, W)`` = the MS already on the PAN grid
(:func:`engine.io.placement.ms_to_pan_grid`), optional ``ms_lr (C, H/R, W/R)`` and
``valid (H, W)`` bool.  Pixels that are invalid, or NaN in the PAN or any MS band,
never enter a statistic and come out NaN in every band.  Output float64 ``(C, H, W)``.

Method ids: ``exp``, ``brovey``, ``brovey_gdal`` (GDAL's weighted Brovey), ``gsa``,
``mtf_glp``, ``mtf_glp_hpm``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Callable, Sequence

import numpy as np

from ..errors import InputError
from ..filters import Convention, decimate
from . import brovey, brovey_gdal, exp, gsa, mtf_glp, mtf_glp_hpm
from .common import (FusionConfig, FusionParams, as_float_inputs, combined_valid, lowpass,
                     make_config)
from .stats import FusionStatistics, MomentAccumulator


@dataclass(frozen=True)
class FusionMethod:
    """Registry entry: ``halo`` = PAN rows of context ``apply`` needs per side."""

    name: str
    estimate: Callable[[FusionStatistics, FusionConfig], dict]
    apply: Callable[..., np.ndarray]
    halo: int
    needs_lr: bool
    module: ModuleType


def _entry(mod: ModuleType) -> FusionMethod:
    return FusionMethod(mod.NAME, mod.estimate, mod.apply, mod.HALO, mod.NEEDS_LR, mod)


METHODS: dict[str, FusionMethod] = {
    m.NAME: _entry(m) for m in (exp, brovey, brovey_gdal, gsa, mtf_glp, mtf_glp_hpm)
}


def get_method(name: str) -> FusionMethod:
    try:
        return METHODS[name]
    except KeyError:
        raise InputError(
            f"unknown fusion method {name!r}; choose one of: {', '.join(METHODS)}") from None


def estimate(method: str, pan: np.ndarray, ms_up: np.ndarray, ms_lr: np.ndarray | None,
             ratio: int, ms_gnyq: float | Sequence[float], pan_gnyq: float,
             valid: np.ndarray | None = None, convention: Convention = "exact",
             eps_rel: float = 0.01, max_ratio: float = 5.0) -> FusionParams:
    """Global parameters of ``method`` for a whole image (see :func:`fuse`)."""
    m = get_method(method)
    pan, ms_up = as_float_inputs(pan, ms_up)
    cfg = make_config(ratio, ms_gnyq, pan_gnyq, ms_up.shape[0], convention, eps_rel, max_ratio)
    ok = combined_valid(pan, ms_up, valid)
    use_lr = m.needs_lr and ms_lr is not None
    stats = FusionStatistics(ms_up.shape[0], cfg, need_lr=m.needs_lr and not use_lr)
    stats.add_tile(pan, ms_up, ok)
    if use_lr:
        ms_lr = np.asarray(ms_lr, dtype=np.float64)
        r = cfg.ratio
        if ms_lr.ndim != 3 or ms_lr.shape[0] != ms_up.shape[0] or \
                (r * ms_lr.shape[1], r * ms_lr.shape[2]) != pan.shape:
            raise InputError(
                f"ms_lr {ms_lr.shape} is not the MS of a PAN {pan.shape} at ratio {r} in "
                "toolbox registration; pass ms_lr=None to take the MS-scale samples from ms_up")
        stats.lr = MomentAccumulator(1 + ms_up.shape[0])
        stats.need_lr = True
        pan_d = decimate(lowpass(pan, ok, cfg.pan_gnyq, cfg), r)
        ok_d = decimate(ok, r) & np.all(np.isfinite(ms_lr), axis=0)
        stats.add_lr_samples(pan_d, ms_lr, ok_d)
    return FusionParams(m.name, cfg, m.estimate(stats, cfg))


def apply(params: FusionParams, pan_tile: np.ndarray, ms_up_tile: np.ndarray,
          valid_tile: np.ndarray | None = None) -> np.ndarray:
    """Fuse one tile with parameters from :func:`estimate` -> ``(C, rows, W)`` float64.

    Rows within ``METHODS[params.method].halo`` of a tile edge that is not an image edge
    are only context: crop them from the result.
    """
    m = get_method(params.method)
    pan_tile, ms_up_tile = as_float_inputs(pan_tile, ms_up_tile)
    ok = combined_valid(pan_tile, ms_up_tile, valid_tile)
    with np.errstate(invalid="ignore", divide="ignore"):
        return m.apply(params.values, params.config, pan_tile, ms_up_tile, ok)


def fuse(method: str, pan: np.ndarray, ms_up: np.ndarray, ms_lr: np.ndarray | None,
         ratio: int, ms_gnyq: float | Sequence[float], pan_gnyq: float,
         valid: np.ndarray | None = None, convention: Convention = "exact",
         eps_rel: float = 0.01, max_ratio: float = 5.0) -> np.ndarray:
    """Pan-sharpen with ``method``: ``pan (H, W)``, ``ms_up (C, H, W)`` -> ``(C, H, W)``.

    ``ms_lr`` (the MS at its own scale, in toolbox registration with the PAN, or None)
    is used only by GSA's regression.  ``ms_gnyq``/``pan_gnyq`` are the sensor's MTF
    gains (:func:`engine.sensors.get_sensor`), ``convention`` the MTF kernel
    (Vivone et al., IEEE TGRS 2015).  ``eps_rel``/``max_ratio``: guard of Brovey and MTF-GLP-HPM
    (:func:`engine.fusion.common.modulate`).  Invalid pixels (mask, NaN) come out NaN.
    """
    params = estimate(method, pan, ms_up, ms_lr, ratio, ms_gnyq, pan_gnyq, valid,
                      convention, eps_rel, max_ratio)
    return apply(params, pan, ms_up, valid)


__all__ = ["METHODS", "FusionMethod", "FusionConfig", "FusionParams", "FusionStatistics",
           "MomentAccumulator", "apply", "estimate", "fuse", "get_method", "make_config"]
