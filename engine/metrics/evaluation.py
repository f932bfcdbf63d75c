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
from ..errors import AlignmentError, InputError
from ..feedback import Feedback, NullFeedback
from ..filters import decimate
from ..fusion import fuse
from ..io.grid import Alignment
from . import full_resolution_report, reduced_resolution_report
from ..io.pair import block_aligned_windows, check_pair, ms_on_pan_grid, report_infinite
from ..io.placement import ms_to_pan_grid
from ..io.raster_io import RasterReader, RasterWriter, read_metadata, same_crs
from ..io.report_files import write_report
from ..nodata import fill_with_band_means
from ..sensors import Sensor, get_sensor, ms_band_names
from .quality_map import LocalQuality, local_no_reference, local_reference

#: Largest number of PAN pixels x (2 x bands + 1) evaluated in memory (float64): ~3 GiB.
MAX_EVALUATION_VALUES = 400_000_000


#: Refusal of an image without a valid pixel (band-mean filling needs one).
_ALL_NODATA = "every pixel is nodata: nothing to evaluate"


def reduced_resolution_scores(pan: np.ndarray, ms: np.ndarray, ratio: int, method: str,
                              ms_gnyq: Sequence[float], pan_gnyq: float,
                              pan_valid: np.ndarray | None = None,
                              ms_valid: np.ndarray | None = None,
                              block_size: int = 32, baselines: Sequence[str] = (),
                              keep_arrays: bool = False,
                              fuser: Callable[..., np.ndarray] | None = None) -> dict[str, Any]:
    """Wald's protocol for one method on a registered pair.

    ``pan (H, W)`` and ``ms (C, H/R, W/R)`` share their top-left corner (toolbox
    registration).  Nodata (``*_valid`` False) is filled with band means before the
    degradation; every reduced pixel whose MTF footprint (3 sigma) touches nodata is
    left out of the indices, as are nodata GT pixels.  Returns ``scores`` (Q2N, SAM,
    ERGAS, SCC, Q_AVG, PSNR, SSIM, CC as floats), ``conventions`` and ``sizes``;
    ``baseline_scores`` ({method: scores}) for the methods in ``baselines`` fused from the
    same reduced pair; with ``keep_arrays``, ``arrays`` (``fused``, ``baselines``,
    ``ms_up``, ``gt`` at MS scale, and ``mask``).
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

    def run(name: str) -> np.ndarray:
        out = fuse(name, pair.pan_lr, ms_up, pair.ms_lr, ratio, ms_gnyq, pan_gnyq, valid=mask)
        return np.where(np.isfinite(out), out, 0.0)

    def score(fused: np.ndarray) -> dict[str, float]:
        return reduced_resolution_report(fused, pair.gt, ratio, block_size=block_size,
                                         mask=None if mask.all() else mask)

    if fuser is not None:
        fused = fuser(pair.pan_lr, ms_up, pair.ms_lr, mask)
        fused = np.where(np.isfinite(fused), fused, 0.0)
    else:
        fused = run(method)
    extra = {name: run(name) for name in baselines if name != method}
    result = {"scores": score(fused), "conventions": pair.conventions.as_dict(),
              "baseline_scores": {name: score(img) for name, img in extra.items()},
              "valid_fraction": float(mask.mean()),
              "sizes": {"pan_reduced": list(pair.pan_lr.shape),
                        "ms_reduced": list(pair.ms_lr.shape),
                        "reference": list(pair.gt.shape)}}
    if keep_arrays:
        result["arrays"] = {"fused": fused, "baselines": extra, "ms_up": ms_up,
                            "gt": pair.gt, "mask": mask}
    return result


class _Pair:
    """A PAN/MS file pair cut to its block-aligned common footprint.

    ``ms_bands``: 1-based MS bands to read (None: all), e.g. the bands a 4-band result
    was made from.  An MS whose ratio to the PAN is within 1 % of an integer is read
    resampled onto the exact grid (:func:`engine.io.pair.ms_on_pan_grid`).
    """

    def __init__(self, pan_path: str, ms_path: str, sensor: str | Sensor,
                 ms_bands: Sequence[int] | None = None, feedback: Feedback | None = None):
        self.sensor = sensor if isinstance(sensor, Sensor) else get_sensor(sensor)
        self.pan_path, self.ms_path = pan_path, ms_path
        with RasterReader(pan_path, "PAN") as pan_r, \
                ms_on_pan_grid(pan_r.info, ms_path, feedback) as ms_source, \
                RasterReader(ms_source, "MS") as ms_r:
            self.pan_info, self.ms_info = pan_r.info, ms_r.info
            self.ms_bands = list(ms_bands) if ms_bands else None
            count = len(self.ms_bands) if self.ms_bands else ms_r.info.band_count
            self.alignment = check_pair(pan_r.info, ms_r.info)
            self.pan_win, self.ms_win, self.residual = block_aligned_windows(
                self.alignment, (pan_r.info.width, pan_r.info.height),
                (ms_r.info.width, ms_r.info.height))
            values = self.pan_win.width * self.pan_win.height * (2 * count + 1)
            if values > MAX_EVALUATION_VALUES:
                raise InputError(
                    f"the common area of PAN and MS ({self.pan_win.width}x{self.pan_win.height} "
                    f"PAN pixels, {count} bands) is too large to evaluate in "
                    "memory; clip a representative subset of both rasters (e.g. gdal_translate "
                    "-projwin) and evaluate that")
            p = self.pan_win
            pan, pan_ok = pan_r.read_with_mask(p.x0, p.y0, p.width, p.height, out_dtype=np.float64)
            m = self.ms_win
            ms, ms_ok = ms_r.read_with_mask(m.x0, m.y0, m.width, m.height, self.ms_bands,
                                            out_dtype=np.float64)
            self.readers = (pan_r, ms_r)  # closed below; kept for their +-inf counts
        self.pan, self.pan_valid = pan[0], pan_ok[0]
        self.ms, self.ms_valid = ms, ms_ok.all(axis=0)
        self.gnyq = (self.sensor.gnyq_of(self.ms_bands, self.ms_info.band_count)
                     if self.ms_bands else self.sensor.gnyq(count))
        self.band_names = self._band_names()

    def _band_names(self) -> list[str]:
        """Names of the MS bands read: the file's descriptions, else the sensor's."""
        info, sensor = self.ms_info, self.sensor
        names = (ms_band_names(sensor, info.band_descriptions, info.band_count)
                 or [f"band {i + 1}" for i in range(info.band_count)])
        picked = self.ms_bands or range(1, info.band_count + 1)
        return [names[b - 1] or f"band {b}" for b in picked]

    def describe(self) -> dict[str, Any]:
        return {
            "sensor": self.sensor.name, "ratio": self.alignment.ratio,
            "ms_bands": self.ms_bands or "all",
            "ms_gnyq": list(self.gnyq), "pan_gnyq": self.sensor.pan_gnyq,
            "pan_window": vars(self.pan_win), "ms_window": vars(self.ms_win),
            "offset_rounding_pan_px": [round(v, 4) for v in self.residual],
            "bands": int(self.ms.shape[0]), "engine_version": __version__,
        }

    def map_geotransform(self, block: int, ms_scale: bool = False):
        """Geotransform of a map with one pixel per ``block`` x ``block`` pixels of the
        PAN window (``ms_scale``: of the MS window), or None without georeferencing."""
        info, win = (self.ms_info, self.ms_win) if ms_scale else (self.pan_info, self.pan_win)
        gt = info.geotransform
        if gt is None:
            return None
        x0 = gt[0] + win.x0 * gt[1] + win.y0 * gt[2]
        y0 = gt[3] + win.x0 * gt[4] + win.y0 * gt[5]
        return (x0, gt[1] * block, gt[2] * block, y0, gt[4] * block, gt[5] * block)


#: Display names of the classical methods (engine ids -> names users see).
METHOD_NAMES = {"exp": "EXP", "brovey": "Brovey", "gsa": "GSA", "mtf_glp": "MTF-GLP",
                "mtf_glp_hpm": "MTF-GLP-HPM"}


def write_quality_map(path: str, local: LocalQuality, geotransform, crs_wkt: str | None,
                      extra: dict[str, str] | None = None) -> str:
    """Write the per-block maps of ``local`` as a float32 raster, one band per index, with
    band descriptions; NaN (nodata) where a block was left out.  A ``.qml`` style shows
    the three bands as R, G, B from 0 (black, best) to their 98th percentile."""
    keys = list(local.maps)
    first = local.maps[keys[0]]
    meta = {"PANTINY_QUALITY_MAP_BLOCK": local.block_size, **(extra or {})}
    with RasterWriter(path, first.shape[1], first.shape[0], len(keys), np.float32,
                      geotransform, crs_wkt, float("nan"), None,
                      [local.descriptions[k] for k in keys], meta) as writer:
        writer.write(0, 0, np.stack([local.maps[k] for k in keys]).astype(np.float32))
    if len(keys) == 3:  # shown as a colour composite where dark = good in every band
        from ..io.display import write_style

        limits = []
        for k in keys:
            v = local.maps[k][np.isfinite(local.maps[k])]
            hi = float(np.percentile(v, 98)) if v.size else 1.0
            limits.append((0.0, hi if hi > 0 else 1.0))
        write_style(path, (1, 2, 3), limits)
    return path


def _scene_name(path: str) -> str:
    folder = os.path.basename(os.path.dirname(os.path.abspath(path)))
    return f"{folder}/{os.path.basename(path)}" if folder else os.path.basename(path)


def evaluate_reduced_files(pan_path: str, ms_path: str, method: str, sensor: str | Sensor,
                           block_size: int = 32, report_path: str | None = None,
                           feedback: Feedback | None = None, baselines: Sequence[str] = ("exp",),
                           quality_map_path: str | None = None, *,
                           checkpoint: str | None = None, bands: Sequence[int] | None = None,
                           adapt_steps: int = 0, adapt_config: Any = None,
                           device: str = "auto",
                           spectral_correction: bool = True) -> dict[str, float]:
    """Wald-protocol scores of ``method`` on a real PAN/MS pair given as files.

    ``checkpoint``: evaluate that deep model instead of the classical ``method`` (which
    then only labels the report), on the 1-based MS ``bands`` (default: from the model's
    bands, e.g. 2, 3, 5, 7 of an 8-band WorldView MS), after ``adapt_steps`` steps of scene
    adaptation on the degraded pair (never on the reference; :mod:`engine.adaptation`),
    with the spectral consistency correction unless ``spectral_correction`` is False
    (:mod:`engine.inference.spectral_correction`, as pan-sharpening applies it).
    Returns the score dict (Q2N, SAM in degrees, ERGAS, SCC, Q_AVG, PSNR, SSIM, CC);
    writes a JSON/HTML report to ``report_path`` when given (with the ``baselines``
    scored on the same reduced pair beside ``method``), and the local Q, SAM and relative
    RMSE per ``block_size`` block of the reduced images to ``quality_map_path``.
    """
    fb = feedback or NullFeedback()
    fb.info(f"reading {pan_path} and {ms_path}")
    pair = _Pair(pan_path, ms_path, sensor, feedback=fb)
    report_infinite(fb, *pair.readers)
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
                                       device, fb, spectral_correction)
        pair.gnyq = pair.sensor.gnyq_of([i + 1 for i in idx], pair.ms.shape[0])
        pair.ms = pair.ms[idx]
        pair.band_names = [pair.band_names[i] for i in idx]
    wants_more = bool(report_path or quality_map_path)
    result = reduced_resolution_scores(pair.pan, pair.ms, pair.alignment.ratio, method,
                                       pair.gnyq, pair.sensor.pan_gnyq, pair.pan_valid,
                                       pair.ms_valid, block_size, fuser=fuser,
                                       baselines=baselines if report_path else (),
                                       keep_arrays=wants_more)
    fb.set_progress(80)
    scores = result["scores"]
    for key, value in scores.items():
        fb.info(f"{key} = {value:.6f}")
    if wants_more:
        arrays = result["arrays"]
        mask = None if arrays["mask"].all() else arrays["mask"]
        local = local_reference(arrays["fused"], arrays["gt"], block_size, mask)
        if quality_map_path:
            write_quality_map(quality_map_path, local,
                              pair.map_geotransform(block_size, ms_scale=True),
                              pair.ms_info.crs_wkt, {"PANTINY_QUALITY_MAP": "reduced resolution"})
            fb.info(f"quality map written to {quality_map_path}")
        if report_path:
            _reduced_report(report_path, pair, method, block_size, result, local, mask,
                            deep)
            fb.info(f"report written to {report_path}")
    fb.set_progress(100)
    return scores


def _reduced_report(report_path, pair, method, block_size, result, local, mask,
                    deep: dict[str, Any] | None = None) -> None:
    from ..report.previews import array_previews

    arrays = result["arrays"]
    name = METHOD_NAMES.get(method, method)
    baselines = {METHOD_NAMES.get(k, k): v for k, v in result["baseline_scores"].items()}
    per_band: dict[str, dict[str, list[float]]] = {k: {name: v}
                                                   for k, v in local.per_band.items()}
    for key, img in arrays["baselines"].items():
        other = local_reference(img, arrays["gt"], block_size, mask)
        for index, values in other.per_band.items():
            per_band[index][METHOD_NAMES.get(key, key)] = values
    images = [("Reduced MS, upsampled", arrays["ms_up"]),
              (f"{name} at reduced resolution", arrays["fused"]),
              ("Reference (original MS)", arrays["gt"])]
    previews, note = array_previews(images, pair.band_names)
    write_report(report_path, {
        "title": f"{name} at reduced resolution (Wald protocol): {_scene_name(pair.ms_path)}",
        "subtitle": (f"Sensor {pair.sensor.name}, ratio {pair.alignment.ratio}: the PAN and "
                     "the MS were degraded by the ratio, fused, and compared with the "
                     "original MS."),
        "label": name, "scores": result["scores"], "baselines": baselines,
        "band_names": pair.band_names, "per_band": per_band,
        "previews": previews, "preview_note": note + " (images at the MS scale)",
        "notes": ["EXP is the MS interpolated with no PAN detail: a method worth using "
                  "scores clearly better than EXP."],
        "method": method, "pan": os.path.abspath(pair.pan_path),
        "ms": os.path.abspath(pair.ms_path), "block_size": block_size,
        "details": {
            "Inputs": {"PAN": os.path.abspath(pair.pan_path),
                       "MS": os.path.abspath(pair.ms_path), **pair.describe()},
            "Wald protocol": result["conventions"],
            **({"Deep model": deep} if deep else {}),
            "Sizes": result["sizes"],
            "Conventions": {
                "valid fraction": result["valid_fraction"],
                "placement": "interp23tap, toolbox phase",
                "Q2n": f"{block_size}x{block_size} blocks, reference block normalisation",
                "Q (mean)": f"sliding {block_size}x{block_size} window",
                "SAM": "degrees, over non-zero pixels",
                "ERGAS": "100/ratio, reference band means"}},
        "inputs": pair.describe(), "wald": result["conventions"],
        "valid_fraction": result["valid_fraction"], "sizes": result["sizes"],
    })


def bands_from_provenance(fused_path: str) -> list[int] | None:
    """The MS bands (1-based) a pan-sharpened raster was made from, as recorded by the
    deep pan-sharpening (``PANTINY_MS_BANDS``), or None when the raster does not say."""
    text = read_metadata(fused_path, "FUSED").get("PANTINY_MS_BANDS", "").strip()
    if not text:
        return None
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        return None


def result_label(fused_path: str) -> str:
    """How a pan-sharpened raster is called in a report: the model or method that made it
    (from its provenance metadata), else its file name."""
    meta = read_metadata(fused_path, "FUSED")
    if meta.get("PANTINY_CHECKPOINT"):
        return f"PanTiny {os.path.splitext(meta['PANTINY_CHECKPOINT'])[0]}"
    if meta.get("PANTINY_METHOD"):
        return METHOD_NAMES.get(meta["PANTINY_METHOD"], meta["PANTINY_METHOD"])
    return os.path.basename(fused_path)


def evaluate_qnr_files(fused_path: str, pan_path: str, ms_path: str, sensor: str | Sensor,
                       block_size: int = 32, report_path: str | None = None,
                       feedback: Feedback | None = None, bands: Sequence[int] | None = None,
                       quality_map_path: str | None = None,
                       baselines: Sequence[str] = ("exp", "mtf_glp_hpm")) -> dict[str, float]:
    """No-reference indices of a fused raster on the PAN grid (files).

    Returns D_LAMBDA, D_S, QNR (original definition), D_LAMBDA_K, D_S_TOOLBOX, HQNR and
    D_RHO.  Pixels that are nodata in the fused raster, the PAN or the MS are excluded
    (blocks touching them are left out).  ``bands``: the 1-based MS bands the fused bands
    correspond to; None takes them from the fused raster's provenance metadata when its
    band count differs from the MS's (a 4-band deep result of an 8-band MS), else all.
    ``quality_map_path``: write the local D_lambda, D_s and D_rho per ``block_size``
    block.  The report (``report_path``) scores the ``baselines`` (classical methods
    fused in memory from the same PAN and MS) beside the raster.
    """
    fb = feedback or NullFeedback()
    with RasterReader(fused_path, "FUSED") as fused_r:
        fused_count = fused_r.info.band_count
    with RasterReader(ms_path, "MS") as ms_r:
        ms_count = ms_r.info.band_count
    if not bands and fused_count != ms_count:
        bands = bands_from_provenance(fused_path)
        if bands:
            fb.info(f"MS bands {','.join(map(str, bands))} (from the fused raster's metadata)")
    if bands and len(bands) != fused_count:
        raise InputError(f"BANDS lists {len(bands)} MS bands but the fused raster has "
                         f"{fused_count}; give one MS band per fused band, in order")
    pair = _Pair(pan_path, ms_path, sensor, bands, fb)
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
                f"{pair.ms.shape[0]}; set BANDS to the MS bands that were fused (e.g. "
                "2,3,5,7 of an 8-band WorldView MS for a B, G, R, NIR result)")
        pg, fg = pair.pan_info.geotransform, info.geotransform
        if pg is not None and fg is not None and not np.allclose(pg, fg, rtol=0, atol=1e-6 * abs(pg[1])):
            raise InputError(
                f"the fused raster's geotransform {fg} differs from the PAN's {pg}; the fused "
                "raster must lie on the PAN grid")
        if pair.pan_info.crs_wkt and info.crs_wkt and not same_crs(pair.pan_info.crs_wkt,
                                                                   info.crs_wkt):
            raise AlignmentError(
                "the fused raster's coordinate reference system differs from the PAN's: it "
                "is not on the PAN grid. Evaluate the output of a pan-sharpening of this PAN "
                "(which keeps the PAN's CRS), not a reprojected copy")
        p = pair.pan_win
        fused, fused_ok = fused_r.read_with_mask(p.x0, p.y0, p.width, p.height,
                                                 out_dtype=np.float64)
        fused_names = list(info.band_descriptions)
    report_infinite(fb, fused_r, *pair.readers)
    fb.set_progress(30)
    r = pair.alignment.ratio
    valid = pair.pan_valid & fused_ok.all(axis=0) & np.kron(
        pair.ms_valid, np.ones((r, r), dtype=bool)).astype(bool)
    if not valid.any():
        raise InputError("every pixel is nodata in the fused raster, the PAN or the MS")
    ms_valid_rep = np.ones_like(pair.ms_valid) if pair.ms_valid.all() else pair.ms_valid
    f_fill = fill_with_band_means(fused, valid, _ALL_NODATA)
    p_fill = fill_with_band_means(pair.pan, valid, _ALL_NODATA)
    m_fill = fill_with_band_means(pair.ms, ms_valid_rep, _ALL_NODATA)
    mask = None if valid.all() else valid
    del fused

    def score(img: np.ndarray) -> dict[str, float]:
        return full_resolution_report(img, p_fill, m_fill, r, pair.gnyq,
                                      block_size=block_size, mask=mask)

    scores = score(f_fill)
    fb.set_progress(60)
    for key, value in scores.items():
        fb.info(f"{key} = {value:.6f}")
    if report_path or quality_map_path:
        local = local_no_reference(f_fill, p_fill, m_fill, r, block_size, mask)
        if quality_map_path:
            write_quality_map(quality_map_path, local, pair.map_geotransform(block_size),
                              pair.pan_info.crs_wkt, {"PANTINY_QUALITY_MAP": "no reference"})
            fb.info(f"quality map written to {quality_map_path}")
        if report_path:
            columns: dict[str, dict[str, float]] = {}
            per_band = {k: {result_label(fused_path): v} for k, v in local.per_band.items()}
            own = read_metadata(fused_path, "FUSED").get("PANTINY_METHOD")
            if baselines and p_fill.size * (4 * m_fill.shape[0] + 2) > MAX_EVALUATION_VALUES:
                fb.warning("the report leaves out the EXP and MTF-GLP-HPM baselines: this "
                           "area is too large to fuse them in memory as well")
                baselines = ()
            for method in baselines:
                if fb.is_canceled():
                    break
                if method == own:  # the raster is this baseline: scoring it again adds nothing
                    continue
                name = METHOD_NAMES.get(method, method)
                fb.info(f"baseline {name}")
                up = ms_to_pan_grid(m_fill, Alignment(r), p_fill.shape)
                img = fuse(method, p_fill, up, m_fill, r, pair.gnyq, pair.sensor.pan_gnyq)
                del up
                img = np.where(np.isfinite(img), img, 0.0)
                columns[name] = score(img)
                other = local_no_reference(img, p_fill, m_fill, r, block_size, mask)
                for key, values in other.per_band.items():
                    per_band[key][name] = values
            _qnr_report(report_path, pair, fused_path, fused_names, scores, columns, per_band,
                        block_size, float(valid.mean()), quality_map_path)
            fb.info(f"report written to {report_path}")
    fb.set_progress(100)
    return scores


def _qnr_report(report_path, pair, fused_path, fused_names, scores, baselines, per_band,
                block_size, valid_fraction, quality_map_path) -> None:
    from ..report.previews import file_previews

    label = result_label(fused_path)
    previews, note = file_previews(pair.pan_path, pair.ms_path, fused_path, pair.pan_win,
                                   pair.ms_win, pair.alignment.ratio,
                                   pair._band_names() if not pair.ms_bands else
                                   [None] * pair.ms_info.band_count,
                                   fused_names if any(fused_names) else pair.band_names,
                                   pair.ms_bands)
    write_report(report_path, {
        "title": f"Quality of {label}: {_scene_name(pair.ms_path)}",
        "subtitle": (f"Full resolution, no reference. Sensor {pair.sensor.name}, ratio "
                     f"{pair.alignment.ratio}, {pair.ms.shape[0]} bands "
                     f"({', '.join(pair.band_names)})."),
        "label": label, "scores": scores, "baselines": baselines,
        "band_names": pair.band_names, "per_band": per_band,
        "previews": previews, "preview_note": note,
        "quality_map": quality_map_path,
        "notes": ["These indices reward adding no detail: EXP (the MS interpolated, no PAN "
                  "detail) often has the best QNR. Judge a result beside EXP, by D_rho, and "
                  "by the pictures below."] if baselines else [],
        "fused": os.path.abspath(fused_path), "pan": os.path.abspath(pair.pan_path),
        "ms": os.path.abspath(pair.ms_path), "block_size": block_size,
        "inputs": pair.describe(), "valid_fraction": valid_fraction,
        "details": {
            "Inputs": {"fused raster": os.path.abspath(fused_path),
                       "PAN": os.path.abspath(pair.pan_path),
                       "MS": os.path.abspath(pair.ms_path), **pair.describe(),
                       "valid fraction": valid_fraction},
            "Definitions": {
                "QNR": "Alparone et al. 2008 (original): distinct blocks of "
                       f"{block_size} PAN pixels, MS terms at MS scale (blocks of "
                       f"{block_size // pair.alignment.ratio}), degraded PAN by bicubic "
                       "decimation",
                "HQNR": "(1 - D_lambda^K)(1 - D_s toolbox): Khan 2009 D_lambda^K with the "
                        "sensor's MTF kernels, D_s at PAN scale (Vivone et al. 2015)",
                "D_rho": "Scarpa & Ciotola 2022, windows of ratio x ratio PAN pixels",
                "Baselines": "EXP and MTF-GLP-HPM fused in memory from the same PAN and "
                             "MS window",
            }},
        "definitions": {
            "QNR": "Alparone et al. 2008 (original): distinct blocks, M terms at MS scale "
                   "(block/R), P_LR = bicubic decimation of PAN",
            "HQNR": "(1 - D_LAMBDA_K)(1 - D_S_TOOLBOX), Khan 2009 D_lambda^K with the "
                    "toolbox MTF kernels, toolbox-1.0 D_s at PAN scale",
            "D_RHO": "Scarpa & Ciotola 2022, R x R windows",
        },
    })
