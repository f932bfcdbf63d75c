"""Streamed raster pan-sharpening with a trained model: files in, file out.

:func:`pansharpen_raster` reads a PAN and an MS raster, puts them on one grid, scales
them once from the whole images, runs :class:`engine.inference.predictor.TiledPredictor` one row of
tiles at a time and writes each finished strip with :class:`engine.io.raster_io.RasterWriter`.
Memory is bounded by ``tile_size`` x PAN width x (bands + a few planes) plus the model's
activations for one batch, never by the number of rows of the scene.

GDAL is reached only through :mod:`engine.io.raster_io`; this module itself imports no GDAL.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .. import __version__ as ENGINE_VERSION
from ..weights.checkpoint import load_model, read_metadata
from ..errors import Canceled, InputError
from ..feedback import Feedback, NullFeedback
from ..io.grid import Alignment
from ..devices import select_device
from .fallback import Attempt, fallback_plan, run_with_fallback
from .predictor import ReadRows, TiledPredictor
from .tiling import DEFAULT_OVERLAP, DEFAULT_TILE_SIZE
from ..io.placement import effective_method, lr_rows_for, place_rows
from ..io.pair import (REGRID_RESAMPLING, check_pair, default_nodata, first_nodata,
                       ms_on_pan_grid, report_clipping, report_infinite)
from ..io.raster_io import RasterInfo, RasterReader, RasterWriter
from ..sensors import WV_BGRN_INDICES, Sensor
from ..io.windows import column_chunks, row_strips, rows_window
from .scaling import DEFAULT_MAX_SAMPLES, Scaling
from .spectral_correction import correct_rows
from .scene_adaptation import ProgressRange, adapt_for_raster, resolve_sensor, save_adapted

#: MS placement used to build ``bms`` from a georeferenced MS (as the training data's
#: full-resolution scenes: interp23tap at pixel-is-area placement, symmetric borders).
BMS_METHOD = "interp23tap"
BMS_PHASE = "area"
#: PAN columns placed at once (bounds the memory of the MS placement of one strip).
PLACEMENT_CHUNK = 2048
#: Output columns handed to the writer at once (rounded to whole file blocks).
WRITE_CHUNK = 2048
#: PAN rows read at once when sampling the whole image for the input scaling.
_SAMPLE_STRIP_ROWS = 512


# --------------------------------------------------------------------------- helpers


def default_bands(ms_band_count: int, model_band_count: int,
                  model_band_names: Sequence[str] | None = None) -> list[int]:
    """1-based MS band numbers to feed a model, in the model's band order.

    8-band WorldView MS -> 2, 3, 5, 7 (B, G, R, NIR1) for a 4-band B, G, R, NIR model;
    an MS with exactly the model's band count -> all bands in file order.  Anything else
    must be given explicitly.
    """
    names = [n.lower() for n in (model_band_names or [])]
    bgrn = not names or names == ["blue", "green", "red", "nir"]
    if model_band_count == 4 and ms_band_count == 8 and bgrn:
        return [i + 1 for i in WV_BGRN_INDICES]  # 1-based B, G, R, NIR1
    if ms_band_count == model_band_count:
        return list(range(1, ms_band_count + 1))
    label = ", ".join(model_band_names) if model_band_names else f"{model_band_count} bands"
    raise InputError(
        f"the MS has {ms_band_count} bands and the model expects {model_band_count} "
        f"({label}); choose the MS bands to use, in that order (e.g. BANDS=2,3,5,7 for "
        "an 8-band WorldView MS)"
    )


def check_bands(bands: Sequence[int], ms_band_count: int, model_band_count: int) -> list[int]:
    """``bands`` (1-based MS band numbers) checked against the MS and the model: integers,
    existing bands, one per model band (:class:`~engine.errors.InputError` otherwise)."""
    out = []
    for b in bands:
        if isinstance(b, bool) or int(b) != b:
            raise InputError(f"band numbers must be integers, got {b!r}")
        if not 1 <= int(b) <= ms_band_count:
            raise InputError(
                f"MS band {b} does not exist: the MS has {ms_band_count} band(s), numbered "
                "from 1"
            )
        out.append(int(b))
    if len(out) != model_band_count:
        raise InputError(
            f"{len(out)} MS band(s) given ({', '.join(map(str, out))}) but the model expects "
            f"{model_band_count}"
        )
    return out


def _sample_step(values: int, max_samples: int) -> int:
    """Same regular-grid step as :func:`engine.inference.scaling.compute_scale` uses."""
    return max(1, math.ceil(math.sqrt(values / max(int(max_samples), 1))))


def _strided_sample(reader: RasterReader, bands: Sequence[int], max_samples: int,
                    feedback: Feedback) -> np.ndarray:
    """``image[:, ::s, ::s]`` of the whole raster (floats, NaN on nodata), read in strips.

    ``s`` is the step :func:`engine.inference.scaling.compute_scale` would use on the whole image,
    so fitting on this sample gives exactly the whole-image scaling.
    """
    info = reader.info
    step = _sample_step(len(bands) * info.height * info.width, max_samples)
    rows_per_read = step * max(1, _SAMPLE_STRIP_ROWS // step)
    parts = []
    for strip in row_strips(info.height, rows_per_read, info.width):
        if feedback.is_canceled():
            raise Canceled("pan-sharpening canceled")
        block = reader.read_window(strip, bands, np.float32)
        parts.append(block[:, ::step, ::step].copy())  # a view would keep the block alive
        _release_cache(reader)
    return np.concatenate(parts, axis=1)


def _column_chunks(alignment: Alignment, pan_width: int, ms_width: int,
                   chunk: int | None = None) -> list[tuple[int, int, int, int, Alignment]]:
    """Split the MS placement of a strip into column chunks to bound its memory.

    Returns ``(x0, x1, m0, m1, alignment')``: PAN columns ``[x0, x1)`` are placed from MS
    columns ``[m0, m1)`` (the columns that map onto them plus
    :data:`engine.io.placement.LR_MARGIN` of context, or up to the MS edge) with the
    alignment shifted to the chunk's origins.  With that context the chunks equal the
    whole-width placement (the same argument as :func:`engine.io.placement.lr_rows_for`
    for rows, which this reuses through a transposed alignment).
    """
    chunk = PLACEMENT_CHUNK if chunk is None else int(chunk)
    transposed = Alignment(alignment.ratio, alignment.offset_x, alignment.offset_x)
    out = []
    for cols in column_chunks(pan_width, chunk):
        x0, x1 = cols.x0, cols.x1
        m0, m1 = lr_rows_for(x0, x1, transposed, ms_width, BMS_PHASE)
        if m1 <= m0:
            continue  # outside the MS footprint: stays NaN
        shifted = Alignment(alignment.ratio, alignment.offset_y,
                            alignment.offset_x + alignment.ratio * m0 - x0)
        out.append((x0, x1, m0, m1, shifted))
    return out


def _release_cache(obj: Any) -> None:
    """Write out and drop GDAL's cached blocks of one raster (reader or writer).

    GDAL keeps every block read or written in its global block cache until the cache is
    full (5 % of RAM by default, QGIS's setting inside QGIS), so a long streamed run would
    otherwise grow by up to that amount.  Uses a public ``flush()`` when
    :mod:`engine.io.raster_io` offers one, else the dataset handle it keeps.
    """
    flush = getattr(obj, "flush", None)
    if callable(flush):
        flush()
        return
    ds = getattr(obj, "_ds", None)
    if ds is not None:
        ds.FlushCache()


class _BlockAlignedWriter:
    """Buffers consecutive row blocks and writes them in whole rows of file blocks.

    Writing only complete file blocks, then flushing them, keeps GDAL from caching the
    whole output and never rewrites a compressed block (which would bloat a GeoTIFF).
    """

    def __init__(self, writer: RasterWriter) -> None:
        self.writer = writer
        self.block_rows = max(1, int(writer.block_shape[0]))
        self.block_cols = max(1, int(writer.block_shape[1]))
        self.next_row = 0  # first row not yet written
        self.parts: list[np.ndarray] = []
        self.buffered = 0

    def add(self, y0: int, block: np.ndarray) -> None:
        if y0 != self.next_row + self.buffered:
            raise InputError(f"row blocks must arrive in order: got row {y0}, expected "
                             f"{self.next_row + self.buffered}")
        self.parts.append(block)
        self.buffered += block.shape[1]
        n = (self.buffered // self.block_rows) * self.block_rows
        if n:
            self._write(n)

    def finish(self) -> None:
        if self.buffered:
            self._write(self.buffered)

    def _write(self, n: int) -> None:
        data = self.parts[0] if len(self.parts) == 1 else np.concatenate(self.parts, axis=1)
        # column chunks bound the writer's conversion temporaries (float64 copies)
        step = max(1, WRITE_CHUNK // max(1, self.block_cols)) * self.block_cols
        for cols in column_chunks(data.shape[2], step, n):
            rows, xs = cols.slices()
            self.writer.write(cols.x0, self.next_row, data[:, rows, xs])
        rest = data[:, n:]
        self.parts = [rest] if rest.shape[1] else []
        self.buffered -= n
        self.next_row += n
        _release_cache(self.writer)


# --------------------------------------------------------------------------- pipeline


def pansharpen_raster(
    pan_path: str,
    ms_path: str,
    output_path: str,
    checkpoint_path: str,
    bands: Sequence[int] | None = None,
    device: str = "auto",
    tile_size: int = DEFAULT_TILE_SIZE,
    overlap: int = DEFAULT_OVERLAP,
    batch_size: int | None = None,
    creation_options: str | Sequence[str] | None = None,
    out_dtype: Any = None,
    feedback: Feedback | None = None,
    nodata: float | None = None,
    precision: str = "fp32",
    blend: str | None = None,
    cog: bool = False,
    max_samples: int = DEFAULT_MAX_SAMPLES,
    sensor: str | Sensor | None = None,
    adapt_steps: int = 0,
    adapt_config: Any = None,
    adapted_model_path: str | None = None,
    spectral_correction: bool = True,
) -> dict[str, Any]:
    """Pan-sharpen ``ms_path`` with ``pan_path`` using the model in ``checkpoint_path``.

    * ``bands``: 1-based MS band numbers in the model's band order (default from the MS
      band count and the checkpoint's band names, see :func:`default_bands`).
    * ``device``: 'auto', 'cpu' or 'cuda' (falls back to CPU with a warning).  When a
      batch of tiles runs out of memory, the run restarts with halved tiles, then (GPU)
      on the CPU, with a warning each time (:mod:`engine.inference.fallback`).
    * ``tile_size``/``overlap``/``batch_size``/``blend``: see
      :class:`engine.inference.predictor.TiledPredictor` (``batch_size`` None: 1 on the CPU, 8 on
      CUDA; ``blend`` None: :data:`engine.inference.tiling.DEFAULT_BLEND`).
    * ``precision``: 'fp32' or 'bf16' (bf16 autocast on CUDA only).
    * ``out_dtype``: output data type (default: the MS data type); ``nodata``: output
      nodata value (default: the MS nodata, else :func:`default_nodata`).
    * ``creation_options``: GDAL creation options (``'KEY=VALUE|...'`` or a list);
      ``cog``: write a Cloud Optimized GeoTIFF.
    * ``feedback``: :class:`Feedback` (progress 0-100, messages, cancellation).
    * ``sensor``: the satellite (key, name or :class:`~engine.sensors.Sensor`; None: the
      generic sensor): MTF gains of scene adaptation; a sensor the model was not trained
      on is logged, with a suggestion to adapt.
    * ``adapt_steps``: steps of scene adaptation before inference (0: none; see
      :mod:`engine.adaptation`); ``adapt_config``: an
      :class:`~engine.adaptation.AdaptationConfig` for the other settings (its ``steps``
      is replaced by ``adapt_steps``, its ``device`` by the inference device).
    * ``adapted_model_path``: write the model actually used (adapted, or the base model
      when the guard reverted) as a checkpoint there, usable as ``checkpoint_path``.
    * ``spectral_correction``: replace what the model output holds below the MS
      resolution by the MS itself (:mod:`engine.inference.spectral_correction`, the
      sensor's MTF gains), so that the result, degraded back, matches the MS; scene
      adaptation then trains and judges the model through the correction, and its guard
      leaves out the spectral criterion that the correction makes moot.

    The output lies on the PAN grid (same size, geotransform, CRS) with one band per
    model band, described by the checkpoint's band names.  It is nodata wherever the
    PAN or any used MS band is nodata or outside the MS footprint.  Values are the
    model output in scaled units, clipped at 0 (not when the MS is signed and has
    negative values, which are kept; the log says which), times the MS divisor of the
    input scaling; +-inf input values are nodata (counted in the log).  Provenance
    (engine version, checkpoint SHA-256, scaling, band mapping, tiling, device) is stored
    in the dataset metadata.

    Raises :class:`~engine.errors.InputError` / :class:`~engine.errors.AlignmentError`
    for unusable inputs (before any file is created), :class:`~engine.errors.Canceled`
    when canceled (the partial output is removed).  Returns a dict with ``OUTPUT``,
    ``DEVICE_USED``, ``BANDS``, ``SCALING``, ``TILE_SIZE``, ``OVERLAP``, ``BATCH_SIZE``,
    ``BLEND``, ``SECONDS``, ``MPIX_PER_S``, ``SENSOR``, ``ADAPTATION`` (the
    :meth:`~engine.adaptation.AdaptationResult.to_metadata` record, or None) and
    ``ADAPTED_MODEL`` (the checkpoint written, or None) and ``SPECTRAL_CORRECTION``
    (the MTF gains it used, or None when off).
    """
    fb: Feedback = feedback if feedback is not None else NullFeedback()
    t_start = time.perf_counter()
    # everything that can fail runs before the output file is created
    model, meta, sha256, dev = _load_model(checkpoint_path, device, fb)
    with RasterReader(pan_path, "PAN") as pan_r, \
            ms_on_pan_grid(pan_r.info, ms_path, fb) as ms_source, \
            RasterReader(ms_source, "MS") as ms_r:
        inputs = _check_inputs(pan_r.info, ms_r.info, meta, bands, out_dtype, nodata, fb)
        sensor_obj = resolve_sensor(sensor, meta, adapt_steps, fb)
        scale = _fit_scaling(pan_r, ms_r, inputs.ms_bands, meta, max_samples, fb)
        adaptation = None
        stream_fb: Feedback = fb
        if adapt_steps:
            al = inputs.alignment
            model, adaptation = adapt_for_raster(
                model, pan_r, ms_r, al.ratio, (al.offset_y, al.offset_x), inputs.ms_bands,
                scale.pan_div, scale.ms_div, sensor_obj, adapt_steps, adapt_config, dev, fb,
                corrected=spectral_correction)
            stream_fb = ProgressRange(fb, 45.0, 100.0)
        predictor = TiledPredictor(model, dev, tile_size=tile_size, overlap=overlap,
                                   batch_size=batch_size, dtype=precision,
                                   ratio=inputs.alignment.ratio, blend=blend, clip_min=None)
        for msg in predictor.messages:
            fb.warning(msg)
        floor = _output_floor(ms_r.info, scale, fb)
        correction = (sensor_obj.gnyq_of(inputs.ms_bands, ms_r.info.band_count)
                      if spectral_correction else None)
        if correction is not None:
            fb.info("spectral correction on: colours below the MS resolution from the MS, "
                    "detail above it from the network (MTF gains "
                    f"{', '.join(f'{g:g}' for g in correction)})")
        pan_info = pan_r.info
        plan = fallback_plan(dev, tile_size, overlap)

        def attempt(a: Attempt) -> tuple[TiledPredictor, RasterWriter, str, int]:
            pred = predictor if a == plan[0] else TiledPredictor(
                model, a.device, tile_size=a.tile_size, overlap=a.overlap,
                batch_size=batch_size, dtype=precision, ratio=inputs.alignment.ratio,
                blend=blend, clip_min=None)
            provenance = _provenance(meta, checkpoint_path, sha256, inputs, scale, pred,
                                     a.tile_size, a.overlap, a.device)
            if ms_source != ms_path:  # near-integer ratio: the MS was resampled once
                provenance["PANTINY_MS_RESAMPLED"] = (
                    f"{REGRID_RESAMPLING}, onto exactly {inputs.alignment.ratio} PAN pixels")
            provenance["PANTINY_SENSOR"] = sensor_obj.key
            provenance["PANTINY_ADAPTATION"] = json.dumps(
                adaptation.to_metadata() if adaptation is not None else {"steps": 0})
            provenance["PANTINY_SPECTRAL_CORRECTION"] = (
                "off" if correction is None else
                f"F + (bms - LP(F)), MTF gains {', '.join(f'{g:g}' for g in correction)}")
            writer = RasterWriter(
                output_path, pan_info.width, pan_info.height, len(inputs.band_names),
                dtype=inputs.out_dtype, geotransform=pan_info.geotransform,
                crs_wkt=pan_info.crs_wkt, nodata=inputs.nodata,
                creation_options=creation_options, band_descriptions=inputs.band_names,
                metadata=provenance, cog=cog,
            )
            path, n_clipped = _stream(pred, pan_r, ms_r, inputs, scale, writer, stream_fb,
                                      floor, correction)
            return pred, writer, path, n_clipped

        (predictor, writer, out_path, clipped), used = run_with_fallback(
            attempt, plan, fb, on_retry=lambda _next: _free_device_memory())
        dev, tile_size, overlap = used.device, used.tile_size, used.overlap
        if clipped:
            fb.info(f"{clipped} output value(s) below 0 were set to 0: the MS has no negative "
                    "values and negative radiance is not physical")
        report_infinite(fb, pan_r, ms_r)
        report_clipping(fb, writer)
    adapted_path = None
    if adapted_model_path:
        adapted_path = save_adapted(adapted_model_path, model, meta, sha256, adaptation,
                                    sensor_obj, pan_path)
        fb.info(f"model written to {adapted_path}")

    height, width = pan_info.height, pan_info.width
    seconds = time.perf_counter() - t_start
    mpix = height * width / 1e6 / seconds if seconds > 0 else float("inf")
    fb.info(f"done in {seconds:.1f} s ({mpix:.3f} MPix/s on {dev})")
    return {
        "OUTPUT": out_path,
        "DEVICE_USED": str(dev),
        "BANDS": inputs.ms_bands,
        "SCALING": scale.scaling.to_dict(),
        "TILE_SIZE": tile_size,
        "OVERLAP": overlap,
        "BATCH_SIZE": predictor.batch_size,
        "BLEND": predictor.blend,
        "SECONDS": seconds,
        "MPIX_PER_S": mpix,
        "SENSOR": sensor_obj.key,
        "ADAPTATION": adaptation.to_metadata() if adaptation is not None else None,
        "ADAPTED_MODEL": adapted_path,
        "SPECTRAL_CORRECTION": list(correction) if correction is not None else None,
    }


# --------------------------------------------------------------------------- pipeline steps


@dataclass(frozen=True)
class _Inputs:
    """A checked PAN/MS pair and what the output will be."""

    alignment: Alignment
    ms_bands: list[int]        # 1-based MS bands, in the model's band order
    band_names: list[str]      # output band descriptions (the model's band names)
    mapping: str               # "MS band 2 -> Blue, ..." (logged and stored)
    out_dtype: np.dtype
    nodata: float


@dataclass(frozen=True)
class _InputScale:
    """The whole-image input scaling and the fill values of invalid pixels (scaled)."""

    scaling: Scaling
    pan_div: float
    ms_div: np.ndarray         # (C,) float64
    fill_pan: float
    fill_ms: list[float]
    ms_min: float = 0.0        # smallest valid MS value of the sample (data units)


def _load_model(checkpoint_path: str, device: str, fb: Feedback
                ) -> tuple[Any, dict[str, Any], str, Any]:
    """``(model, metadata, checkpoint SHA-256, device)``; logs the device choice."""
    _, sha256 = read_metadata(checkpoint_path)
    dev, dev_msg = select_device(device)
    (fb.warning if dev_msg.startswith("WARNING") else fb.info)(dev_msg)
    model, meta = load_model(checkpoint_path, dev)
    return model, meta, sha256, dev


def _check_inputs(pan_info: RasterInfo, ms_info: RasterInfo, meta: dict[str, Any],
                  bands: Sequence[int] | None, out_dtype: Any, nodata: float | None,
                  fb: Feedback) -> _Inputs:
    """Check the pair against the model; choose the MS bands, output type and nodata."""
    model_bands = int(meta["bands"]["count"])
    band_names = list(meta["bands"].get("names") or [f"band {i + 1}" for i in range(model_bands)])
    alignment: Alignment = check_pair(pan_info, ms_info)
    ms_bands = (
        default_bands(ms_info.band_count, model_bands, meta["bands"].get("names"))
        if bands is None or len(bands) == 0
        else check_bands(bands, ms_info.band_count, model_bands)
    )
    ckpt_ratios = meta.get("ratio")
    ckpt_ratios = ckpt_ratios if isinstance(ckpt_ratios, list) else [ckpt_ratios]
    if ckpt_ratios and alignment.ratio not in ckpt_ratios:
        fb.warning(
            f"the MS/PAN resolution ratio is {alignment.ratio} but the model was trained "
            f"at ratio {', '.join(map(str, ckpt_ratios))}; results may be poor"
        )
    mapping = ", ".join(f"MS band {b} -> {n}" for b, n in zip(ms_bands, band_names))
    fb.info(f"band mapping: {mapping}")
    fb.info(
        f"PAN {pan_info.width}x{pan_info.height}, MS {ms_info.width}x{ms_info.height}x"
        f"{ms_info.band_count}, ratio {alignment.ratio}, MS offset "
        f"({alignment.offset_x:g}, {alignment.offset_y:g}) PAN px"
    )
    out_t = np.dtype(ms_info.dtype if out_dtype is None else out_dtype)
    if nodata is None:
        nodata = first_nodata(ms_info.nodata, ms_bands)
        if nodata is None:
            nodata = default_nodata(out_t)
    return _Inputs(alignment, ms_bands, band_names, mapping, out_t, nodata)


def _fit_scaling(pan_r: RasterReader, ms_r: RasterReader, ms_bands: list[int],
                 meta: dict[str, Any], max_samples: int, fb: Feedback) -> _InputScale:
    """Fit the checkpoint's input scaling once over the whole images (strided sample of
    the valid pixels, equal to the whole-image fit) and the scaled fill values."""
    fb.info("computing the input scaling over the whole images")
    pan_sample = _strided_sample(pan_r, [1], max_samples, fb)[0]
    fb.set_progress(3.0)
    ms_sample = _strided_sample(ms_r, ms_bands, max_samples, fb)
    fb.set_progress(5.0)
    scaling = Scaling.from_dict(meta.get("input_scaling"))
    try:
        # the samples already are compute_scale's regular grid: no second subsampling
        scaling = scaling.fit(ms=ms_sample, pan=pan_sample,
                              max_samples=max(ms_sample.size, pan_sample.size) + 1)
    except InputError as exc:
        raise InputError(f"cannot scale the inputs: {exc}") from exc
    pan_div = float(scaling.divisor("pan"))
    ms_div = np.asarray(scaling.divisor("ms"), dtype=np.float64).reshape(-1)
    if ms_div.size == 1:
        ms_div = np.repeat(ms_div, len(ms_bands))
    fill_pan = float(np.nanmean(pan_sample) / pan_div) if np.isfinite(pan_sample).any() else 0.0
    fill_ms = [
        float(np.nanmean(b) / d) if np.isfinite(b).any() else 0.0
        for b, d in zip(ms_sample, ms_div)
    ]
    fb.info(f"input scaling: {json.dumps(scaling.to_dict())}")
    ms_min = float(np.nanmin(ms_sample)) if np.isfinite(ms_sample).any() else 0.0
    return _InputScale(scaling, pan_div, ms_div, fill_pan, fill_ms, ms_min)


def _free_device_memory() -> None:
    """Give the GPU's cached blocks back before a retry (after an out-of-memory error)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _output_floor(ms_info: RasterInfo, scale: "_InputScale", fb: Feedback) -> float | None:
    """Lower clip of the model output: 0 (negative radiance is not physical), unless the
    MS is of a signed type and has negative values, which are then kept (None)."""
    if np.dtype(ms_info.dtype).kind in "if" and scale.ms_min < 0:
        fb.info(f"the MS has negative values (minimum {scale.ms_min:g}) in a signed data "
                "type: they are kept, and the output is not clipped at 0")
        return None
    return 0.0


def _row_reader(pan_r: RasterReader, ms_r: RasterReader, inputs: _Inputs,
                scale: _InputScale) -> ReadRows:
    """``read_rows(y0, y1)`` for :meth:`TiledPredictor.predict_rows`: scaled PAN rows and
    the scaled MS placed on them, column chunk by column chunk (NaN outside the MS)."""
    pan_info, ms_info = pan_r.info, ms_r.info
    width, ms_h, ms_w = pan_info.width, ms_info.height, ms_info.width
    alignment, ms_bands = inputs.alignment, inputs.ms_bands
    method = effective_method(BMS_METHOD, alignment.ratio)
    ms_div_b = scale.ms_div[:, None, None]
    chunks = _column_chunks(alignment, width, ms_w)

    def read_rows(y0: int, y1: int) -> tuple[np.ndarray, np.ndarray, None]:
        rows = rows_window(y0, y1, width)
        pan = pan_r.read_window(rows, [1], np.float32)[0]
        pan = pan / np.float32(scale.pan_div)
        bms = np.full((len(ms_bands), *rows.shape), np.nan, dtype=np.float32)
        l0, l1 = lr_rows_for(y0, y1, alignment, ms_h, BMS_PHASE)
        if l1 <= l0:  # rows entirely outside the MS footprint
            return pan, bms, None
        ms = ms_r.read(0, l0, ms_w, l1 - l0, ms_bands, np.float64) / ms_div_b
        for x0, x1, m0, m1, chunk_al in chunks:
            bms[:, :, x0:x1] = place_rows(ms[:, :, m0:m1], l0, ms_h, chunk_al, y0, rows.height,
                                          x1 - x0, method, BMS_PHASE)
        return pan, bms, None

    return read_rows


def _provenance(meta: dict[str, Any], checkpoint_path: str, sha256: str, inputs: _Inputs,
                scale: _InputScale, predictor: TiledPredictor, tile_size: int, overlap: int,
                dev: Any) -> dict[str, str]:
    """Dataset metadata recording how the output was made."""
    method = effective_method(BMS_METHOD, inputs.alignment.ratio)
    return {
        "PANTINY_ENGINE_VERSION": ENGINE_VERSION,
        "PANTINY_MODEL": str(meta.get("model")),
        "PANTINY_CHECKPOINT": os.path.basename(os.fspath(checkpoint_path)),
        "PANTINY_CHECKPOINT_SHA256": sha256,
        "PANTINY_INPUT_SCALING": json.dumps(scale.scaling.to_dict()),
        "PANTINY_BAND_MAPPING": inputs.mapping,
        "PANTINY_MS_BANDS": ",".join(map(str, inputs.ms_bands)),
        "PANTINY_BMS": f"{method}, phase {BMS_PHASE}",
        "PANTINY_TILE_SIZE": str(tile_size),
        "PANTINY_OVERLAP": str(overlap),
        "PANTINY_BATCH_SIZE": str(predictor.batch_size),
        "PANTINY_BLEND": predictor.blend,
        "PANTINY_PRECISION": predictor.dtype,
        "PANTINY_DEVICE": str(dev),
        "PANTINY_OUTPUT": "model output (scaled units) clipped at 0 unless the MS is signed "
                          "with negative values, times the MS divisor",
        "PANTINY_CREATED": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _stream(predictor: TiledPredictor, pan_r: RasterReader, ms_r: RasterReader,
            inputs: _Inputs, scale: _InputScale, writer: RasterWriter, fb: Feedback,
            floor: float | None = 0.0, correction: Sequence[float] | None = None
            ) -> tuple[str, int]:
    """Predict row block by row block into ``writer``; close it (the file appears) or
    abort it (nothing is left) on any error or cancellation.  With ``correction`` (MTF
    gains) the model output goes through the spectral consistency correction first.
    Output values below ``floor`` (None: no clip) are set to it.  Returns the output
    path and the number of values clipped."""
    height, width = pan_r.info.height, pan_r.info.width
    ms_div = scale.ms_div[:, None, None].astype(np.float32)
    clipped = 0
    try:
        def progress(fraction: float) -> None:
            fb.set_progress(5.0 + 95.0 * fraction)

        sink = _BlockAlignedWriter(writer)
        read_rows = _row_reader(pan_r, ms_r, inputs, scale)
        blocks = predictor.predict_rows(
            read_rows, height, width, fill_pan=scale.fill_pan, fill_ms=scale.fill_ms,
            progress=progress, is_canceled=fb.is_canceled)
        if correction is not None:
            window = None
            if predictor.device.type == "cuda":  # on the GPU, not the host's numpy
                from .spectral_correction_torch import correct_on_device

                def window(f: np.ndarray, m: np.ndarray, r: int, g: Sequence[float]
                           ) -> np.ndarray:
                    return correct_on_device(f, m, r, g, predictor.device)
            # the readers are idle while a yielded block is held (TiledPredictor.predict_rows)
            blocks = correct_rows(blocks, lambda y0, y1: read_rows(y0, y1)[1], height,
                                  inputs.alignment.ratio, correction, correct_window=window)
        for y0, block in blocks:
            if floor is not None:
                low = block < floor  # NaN (nodata) compares False
                if low.any():
                    clipped += int(np.count_nonzero(low))
                    block = np.where(low, np.float32(floor), block)
            sink.add(y0, block * ms_div)
            _release_cache(pan_r)
            _release_cache(ms_r)
        sink.finish()
        if fb.is_canceled():
            raise Canceled("pan-sharpening canceled")
        return writer.close(), clipped
    except BaseException:
        writer.abort()
        raise
