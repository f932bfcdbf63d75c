"""Quality evaluation of pan-sharpening on arrays and on raster files.

* :func:`reduced_resolution_scores`: Wald's protocol on a full-resolution pair (arrays):
  degrade with the sensor's MTF filters, fuse the reduced pair, score against the
  original MS.
* :func:`evaluate_reduced_files` / :func:`evaluate_qnr_files`: the same, and the
  no-reference indices, for raster files (GDAL through :mod:`engine.io.raster_io`).

Conventions (recorded in every report): RR pairs use the exact-GNyq MTF kernel and the
toolbox decimation phase, the reduced MS is placed on the reduced PAN grid with
interp23tap at the toolbox phase (the RR convention of Vivone et al., IEEE TGRS 2015); the
full-resolution indices are those of :func:`engine.metrics.full_resolution_report`.
Real pairs are first cut to the block-aligned common footprint
(:func:`engine.io.pair.block_aligned_windows`).
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable, Sequence

import numpy as np
from scipy import ndimage

from .. import __version__
from ..errors import InputError
from ..feedback import Feedback, NullFeedback
from ..filters import decimate
from ..fusion import fuse
from ..io.grid import Alignment
from . import full_resolution_report, reduced_resolution_report
from ..io.pair import block_aligned_windows, check_pair
from ..io.placement import ms_to_pan_grid
from ..io.raster_io import RasterReader
from ..io.report_files import write_report
from ..nodata import fill_with_band_means
from ..sensors import Sensor, get_sensor

#: Largest number of PAN pixels x (2 x bands + 1) evaluated in memory (float64): ~3 GiB.
MAX_EVALUATION_VALUES = 400_000_000


#: Refusal of an image without a valid pixel (band-mean filling needs one).
_ALL_NODATA = "every pixel is nodata: nothing to evaluate"


def reduced_resolution_scores(pan: np.ndarray, ms: np.ndarray, ratio: int, method: str,
                              ms_gnyq: Sequence[float], pan_gnyq: float,
                              pan_valid: np.ndarray | None = None,
                              ms_valid: np.ndarray | None = None,
                              block_size: int = 32,
                              fuser: Callable[..., np.ndarray] | None = None) -> dict[str, Any]:
    """Wald's protocol for one method on a registered pair.

    ``pan (H, W)`` and ``ms (C, H/R, W/R)`` share their top-left corner (toolbox
    registration).  Nodata (``*_valid`` False) is filled with band means before the
    degradation; every reduced pixel whose MTF footprint (3 sigma) touches nodata is
    left out of the indices, as are nodata GT pixels.  Returns ``scores`` (Q2N, SAM,
    ERGAS, SCC, Q_AVG, PSNR, SSIM, CC as floats), ``conventions`` and ``sizes``.
    ``fuser(pan_lr, ms_up, ms_lr, mask) -> (C, h, w)`` replaces the classical ``method``
    (e.g. a deep model, :func:`engine.inference.reduced.model_fuser`); it sees only the
    degraded pair, never the reference.
    """
    from ..wald import wald_pair

    pan_valid = np.ones(pan.shape, bool) if pan_valid is None else pan_valid
    ms_valid = np.ones(ms.shape[1:], bool) if ms_valid is None else ms_valid
    pan_filled = fill_with_band_means(pan, pan_valid, _ALL_NODATA)
    ms_filled = fill_with_band_means(ms, ms_valid, _ALL_NODATA)
    pair = wald_pair(pan_filled, ms_filled, ratio, ms_gnyq, pan_gnyq)
    (h, w), (H, W) = pair.conventions.crop_ms, pair.conventions.crop_pan
    radius = int(math.ceil(3 * ratio * math.sqrt(-2 * math.log(min(ms_gnyq))) / math.pi))
    ms_ok = ndimage.binary_erosion(ms_valid[:h, :w], iterations=radius, border_value=1)
    pan_ok = ndimage.binary_erosion(pan_valid[:H, :W], iterations=radius, border_value=1)
    ms_lr = np.where(decimate(ms_ok, ratio)[None], pair.ms_lr, np.nan)
    ms_up = ms_to_pan_grid(ms_lr, Alignment(ratio), pair.pan_lr.shape, phase="toolbox")
    mask = ms_valid[:h, :w] & decimate(pan_ok, ratio) & np.all(np.isfinite(ms_up), axis=0)
    if not mask.any():
        raise InputError("no valid pixel is left after the Wald degradation: the scene has "
                         "too much nodata or is too small")
    if fuser is not None:
        fused = fuser(pair.pan_lr, ms_up, pair.ms_lr, mask)
    else:
        fused = fuse(method, pair.pan_lr, ms_up, pair.ms_lr, ratio, ms_gnyq, pan_gnyq,
                     valid=mask)
    fused = np.where(np.isfinite(fused), fused, 0.0)
    scores = reduced_resolution_report(fused, pair.gt, ratio, block_size=block_size,
                                       mask=None if mask.all() else mask)
    return {"scores": scores, "conventions": pair.conventions.as_dict(),
            "valid_fraction": float(mask.mean()),
            "sizes": {"pan_reduced": list(pair.pan_lr.shape), "ms_reduced": list(pair.ms_lr.shape),
                      "reference": list(pair.gt.shape)}}


class _Pair:
    """A PAN/MS file pair cut to its block-aligned common footprint."""

    def __init__(self, pan_path: str, ms_path: str, sensor: str | Sensor):
        self.sensor = sensor if isinstance(sensor, Sensor) else get_sensor(sensor)
        with RasterReader(pan_path, "PAN") as pan_r, RasterReader(ms_path, "MS") as ms_r:
            self.pan_info, self.ms_info = pan_r.info, ms_r.info
            self.alignment = check_pair(pan_r.info, ms_r.info)
            self.pan_win, self.ms_win, self.residual = block_aligned_windows(
                self.alignment, (pan_r.info.width, pan_r.info.height),
                (ms_r.info.width, ms_r.info.height))
            values = self.pan_win.width * self.pan_win.height * (2 * ms_r.info.band_count + 1)
            if values > MAX_EVALUATION_VALUES:
                raise InputError(
                    f"the common area of PAN and MS ({self.pan_win.width}x{self.pan_win.height} "
                    f"PAN pixels, {ms_r.info.band_count} bands) is too large to evaluate in "
                    "memory; clip a representative subset of both rasters (e.g. gdal_translate "
                    "-projwin) and evaluate that")
            p = self.pan_win
            pan, pan_ok = pan_r.read_with_mask(p.x0, p.y0, p.width, p.height, out_dtype=np.float64)
            m = self.ms_win
            ms, ms_ok = ms_r.read_with_mask(m.x0, m.y0, m.width, m.height, out_dtype=np.float64)
        self.pan, self.pan_valid = pan[0], pan_ok[0]
        self.ms, self.ms_valid = ms, ms_ok.all(axis=0)
        self.gnyq = self.sensor.gnyq(ms.shape[0])

    def describe(self) -> dict[str, Any]:
        return {
            "sensor": self.sensor.name, "ratio": self.alignment.ratio,
            "ms_gnyq": list(self.gnyq), "pan_gnyq": self.sensor.pan_gnyq,
            "pan_window": vars(self.pan_win), "ms_window": vars(self.ms_win),
            "offset_rounding_pan_px": [round(v, 4) for v in self.residual],
            "bands": int(self.ms.shape[0]), "engine_version": __version__,
        }


def evaluate_reduced_files(pan_path: str, ms_path: str, method: str, sensor: str | Sensor,
                           block_size: int = 32, report_path: str | None = None,
                           feedback: Feedback | None = None, *,
                           checkpoint: str | None = None, bands: Sequence[int] | None = None,
                           adapt_steps: int = 0, adapt_config: Any = None,
                           device: str = "auto") -> dict[str, float]:
    """Wald-protocol scores of ``method`` on a real PAN/MS pair given as files.

    ``checkpoint``: evaluate that deep model instead of the classical ``method`` (which
    then only labels the report), on the 1-based MS ``bands`` (default: from the model's
    bands, e.g. 2, 3, 5, 7 of an 8-band WorldView MS), after ``adapt_steps`` steps of scene
    adaptation on the degraded pair (never on the reference; :mod:`engine.adaptation`).
    Returns the score dict (Q2N, SAM in degrees, ERGAS, SCC, Q_AVG, PSNR, SSIM, CC);
    writes a JSON/HTML report to ``report_path`` when given.
    """
    fb = feedback or NullFeedback()
    fb.info(f"reading {pan_path} and {ms_path}")
    pair = _Pair(pan_path, ms_path, sensor)
    fb.set_progress(20)
    if abs(pair.residual[0]) > 1e-3 or abs(pair.residual[1]) > 1e-3:
        fb.info(f"MS offset rounded to whole PAN pixels (residual {pair.residual[0]:+.3f}, "
                f"{pair.residual[1]:+.3f} PAN px)")
    fuser = None
    deep: dict[str, Any] = {}
    if checkpoint:
        from ..inference.reduced import model_fuser

        fuser, deep, idx = model_fuser(checkpoint, pair.ms.shape[0], bands, pair.sensor,
                                       pair.alignment.ratio, adapt_steps, adapt_config,
                                       device, fb)
        native = len(pair.sensor.ms_gnyq) == pair.ms.shape[0]
        pair.ms = pair.ms[idx]
        pair.gnyq = pair.sensor.gnyq(len(idx), band_indices=idx if native else None)
    result = reduced_resolution_scores(pair.pan, pair.ms, pair.alignment.ratio, method,
                                       pair.gnyq, pair.sensor.pan_gnyq, pair.pan_valid,
                                       pair.ms_valid, block_size, fuser=fuser)
    fb.set_progress(100)
    scores = result["scores"]
    for key, value in scores.items():
        fb.info(f"{key} = {value:.6f}")
    if report_path:
        write_report(report_path, {
            "title": f"Reduced-resolution (Wald) evaluation of {method}",
            "scores": scores, "method": method, "pan": os.path.abspath(pan_path),
            "ms": os.path.abspath(ms_path), "block_size": block_size,
            "inputs": pair.describe(), "wald": result["conventions"],
            "valid_fraction": result["valid_fraction"], "sizes": result["sizes"],
            "placement": "interp23tap, toolbox phase",
            **({"deep_model": deep} if deep else {}),
        })
        fb.info(f"report written to {report_path}")
    return scores


def evaluate_qnr_files(fused_path: str, pan_path: str, ms_path: str, sensor: str | Sensor,
                       block_size: int = 32, report_path: str | None = None,
                       feedback: Feedback | None = None) -> dict[str, float]:
    """No-reference indices of a fused raster on the PAN grid (files).

    Returns D_LAMBDA, D_S, QNR (original definition), D_LAMBDA_K, D_S_TOOLBOX, HQNR and
    D_RHO.  Pixels that are nodata in the fused raster, the PAN or the MS are excluded
    (blocks touching them are left out).
    """
    fb = feedback or NullFeedback()
    pair = _Pair(pan_path, ms_path, sensor)
    with RasterReader(fused_path, "FUSED") as fused_r:
        info = fused_r.info
        if (info.width, info.height) != (pair.pan_info.width, pair.pan_info.height):
            raise InputError(
                f"the fused raster ({info.width}x{info.height}) is not on the PAN grid "
                f"({pair.pan_info.width}x{pair.pan_info.height}); evaluate the output of a "
                "pan-sharpening of this PAN")
        if info.band_count != pair.ms.shape[0]:
            raise InputError(
                f"the fused raster has {info.band_count} bands but the MS has "
                f"{pair.ms.shape[0]}; give the MS with the bands that were fused (e.g. "
                "extract bands 2,3,5,7 of an 8-band MS for a 4-band result)")
        pg, fg = pair.pan_info.geotransform, info.geotransform
        if pg is not None and fg is not None and not np.allclose(pg, fg, rtol=0, atol=1e-6 * abs(pg[1])):
            raise InputError(
                f"the fused raster's geotransform {fg} differs from the PAN's {pg}; the fused "
                "raster must lie on the PAN grid")
        p = pair.pan_win
        fused, fused_ok = fused_r.read_with_mask(p.x0, p.y0, p.width, p.height,
                                                 out_dtype=np.float64)
    fb.set_progress(30)
    r = pair.alignment.ratio
    valid = pair.pan_valid & fused_ok.all(axis=0) & np.kron(
        pair.ms_valid, np.ones((r, r), dtype=bool)).astype(bool)
    if not valid.any():
        raise InputError("every pixel is nodata in the fused raster, the PAN or the MS")
    ms_valid_rep = np.ones_like(pair.ms_valid) if pair.ms_valid.all() else pair.ms_valid
    scores = full_resolution_report(
        fill_with_band_means(fused, valid, _ALL_NODATA),
        fill_with_band_means(pair.pan, valid, _ALL_NODATA),
        fill_with_band_means(pair.ms, ms_valid_rep, _ALL_NODATA), r, pair.gnyq,
        block_size=block_size,
        mask=None if valid.all() else valid)
    fb.set_progress(100)
    for key, value in scores.items():
        fb.info(f"{key} = {value:.6f}")
    if report_path:
        write_report(report_path, {
            "title": "Full-resolution (no-reference) evaluation",
            "scores": scores, "fused": os.path.abspath(fused_path),
            "pan": os.path.abspath(pan_path), "ms": os.path.abspath(ms_path),
            "block_size": block_size, "inputs": pair.describe(),
            "valid_fraction": float(valid.mean()),
            "definitions": {
                "QNR": "Alparone et al. 2008 (original): distinct blocks, M terms at MS scale "
                       "(block/R), P_LR = bicubic decimation of PAN",
                "HQNR": "(1 - D_LAMBDA_K)(1 - D_S_TOOLBOX), Khan 2009 D_lambda^K with the "
                        "toolbox MTF kernels, toolbox-1.0 D_s at PAN scale",
                "D_RHO": "Scarpa & Ciotola 2022, R x R windows",
            },
        })
        fb.info(f"report written to {report_path}")
    return scores
