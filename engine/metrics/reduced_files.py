"""Wald's protocol with files: write a reduced-resolution PAN/MS pair and its reference,
then score any pan-sharpening of that pair (classical or deep) against the reference.

This lets every method, including a neural network run by the ordinary pan-sharpening
algorithm, be compared at reduced resolution on the same degraded pair (Wald, Ranchin &
Mangolini, PE&RS 1997): the PAN and MS are low-passed with the sensor's MTF filters and
decimated by the ratio; the original MS is the reference.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from ..io.pair import block_aligned_windows, check_pair
from ..io.raster_io import RasterReader, RasterWriter
from ..nodata import fill_with_band_means
from ..sensors import Sensor, get_sensor
from .reduced_resolution import reduced_resolution_report


def _scaled(gt, x0: float, y0: float, factor: float):
    if gt is None:
        return None
    ox = gt[0] + x0 * gt[1] + y0 * gt[2]
    oy = gt[3] + x0 * gt[4] + y0 * gt[5]
    return (ox, gt[1] * factor, gt[2] * factor, oy, gt[4] * factor, gt[5] * factor)


def write_reduced_pair(pan_path: str, ms_path: str, sensor: str | Sensor, out_dir: str,
                       band_names: Sequence[str] | None = None) -> dict[str, str]:
    """Degrade a PAN/MS pair by its ratio and write ``pan_reduced.tif``,
    ``ms_reduced.tif`` and ``reference.tif`` (the original MS, on the reduced PAN grid)
    into ``out_dir``.  Small scenes only (read whole).  Returns the three paths."""
    from ..wald import wald_pair

    sensor = sensor if isinstance(sensor, Sensor) else get_sensor(sensor)
    with RasterReader(pan_path, "PAN") as pr, RasterReader(ms_path, "MS") as mr:
        alignment = check_pair(pr.info, mr.info)
        pwin, mwin, _ = block_aligned_windows(alignment, (pr.info.width, pr.info.height),
                                              (mr.info.width, mr.info.height))
        pan, pok = pr.read_with_mask(pwin.x0, pwin.y0, pwin.width, pwin.height,
                                     out_dtype=np.float64)
        ms, mok = mr.read_with_mask(mwin.x0, mwin.y0, mwin.width, mwin.height,
                                    out_dtype=np.float64)
        pan_info, ms_info = pr.info, mr.info
    r = alignment.ratio
    names = list(band_names) if band_names else (
        list(ms_info.band_descriptions) if any(ms_info.band_descriptions) else None)
    pair = wald_pair(fill_with_band_means(pan[0], pok[0], "the PAN is all nodata"),
                     fill_with_band_means(ms, mok.all(axis=0), "the MS is all nodata"),
                     r, sensor.gnyq(ms.shape[0]), sensor.pan_gnyq)
    gt_pan = _scaled(pan_info.geotransform, pwin.x0, pwin.y0, r)
    gt_ms = _scaled(pan_info.geotransform, pwin.x0, pwin.y0, r * r)
    out = {}
    for key, arr, gt in (("pan_reduced", pair.pan_lr[None], gt_pan),
                         ("ms_reduced", pair.ms_lr, gt_ms), ("reference", pair.gt, gt_pan)):
        path = os.path.join(out_dir, f"{key}.tif")
        with RasterWriter(path, arr.shape[2], arr.shape[1], arr.shape[0], np.float32, gt,
                          pan_info.crs_wkt, None, None,
                          None if key == "pan_reduced" else names) as w:
            w.write(0, 0, arr.astype(np.float32))
        out[key] = path
    return out


def score_against_reference(fused_path: str, reference_path: str, ratio: int,
                            block_size: int = 32) -> dict[str, float]:
    """Reduced-resolution indices (Q2N, SAM, ERGAS, SCC, Q_AVG, PSNR, SSIM, CC) of a
    pan-sharpening of :func:`write_reduced_pair`'s pair against its reference."""
    with RasterReader(fused_path, "FUSED") as fr, RasterReader(reference_path, "REF") as rr:
        fused = fr.read_all()
        ref = rr.read_all()
    ok = np.isfinite(fused).all(axis=0) & np.isfinite(ref).all(axis=0)
    return reduced_resolution_report(np.where(ok, fused, 0.0), np.where(ok, ref, 0.0), ratio,
                                     block_size=block_size, mask=None if ok.all() else ok)
