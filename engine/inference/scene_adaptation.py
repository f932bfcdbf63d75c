"""Scene adaptation inside file pan-sharpening: read the scene, adapt, record, save.

Used by :func:`engine.inference.raster.pansharpen_raster`.  The scene is read (scaled
exactly as inference scales it) on its block-aligned PAN/MS footprint; a scene larger
than :data:`ADAPT_MAX_PIXELS` PAN pixels is read as a mosaic of blocks spread evenly over
it (separated by nodata so that no patch straddles two blocks), so memory stays bounded
and the patches still come from the whole scene.  GDAL is reached only through
:mod:`engine.io.raster_io`.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from ..errors import InputError
from ..feedback import Feedback
from ..io.pair import block_aligned_windows
from ..io.raster_io import RasterReader, sensor_metadata
from ..sensors import Sensor, get_sensor, sensor_from_metadata

#: Largest PAN area (pixels) read into memory for scene adaptation.
ADAPT_MAX_PIXELS = 4_194_304
#: Side of the mosaic blocks of larger scenes, in MS pixels.
ADAPT_BLOCK_MS = 256
#: MS pixels of nodata between mosaic blocks.
_GAP_MS = 2


class ProgressRange:
    """Feedback that maps 0-100 % onto ``[lo, hi]`` % of another feedback."""

    def __init__(self, fb: Feedback, lo: float, hi: float) -> None:
        self.fb, self.lo, self.hi = fb, float(lo), float(hi)

    def set_progress(self, percent: float) -> None:
        self.fb.set_progress(self.lo + (self.hi - self.lo) * float(percent) / 100.0)

    def info(self, message: str) -> None:
        self.fb.info(message)

    def warning(self, message: str) -> None:
        self.fb.warning(message)

    def is_canceled(self) -> bool:
        return self.fb.is_canceled()


def resolve_sensor(sensor: str | Sensor | None, meta: dict[str, Any], adapt_steps: int,
                   fb: Feedback) -> Sensor:
    """The sensor object (None: generic); warns when the model never saw it and
    adaptation is off, and says when it adapts to a sensor the model was trained on
    (where adaptation rarely changes the result and ADAPT_STEPS=0 saves its time)."""
    obj = sensor if isinstance(sensor, Sensor) else get_sensor(sensor or "generic")
    trained = [str(s).lower() for s in (meta.get("sensors") or [])]
    if adapt_steps and obj.key != "generic" and obj.key in trained:
        fb.info(f"the model was trained on {obj.name} images: scene adaptation rarely changes "
                "the result on them (its check usually keeps the original model); "
                "ADAPT_STEPS=0 saves its time")
    # 'generic' in a model's sensors means scenes of unnamed sensors, not this one: an
    # unknown sensor is never one the model was trained on
    if trained and (obj.key == "generic" or obj.key not in trained) and not adapt_steps:
        names = ", ".join(get_sensor(s).name if _known(s) else s for s in trained
                          if s != "generic")
        what = ("the sensor is unknown (generic MTF gains)" if obj.key == "generic" else
                f"the sensor ({obj.name}) is not among the sensors this model was trained on")
        fb.warning(
            f"{what}; the model was trained on {names}. On another satellite the result may "
            "be darker or over-sharpened: consider scene adaptation (ADAPT_STEPS > 0), which "
            "fine-tunes the model on this scene first")
    return obj


def _known(key: str) -> bool:
    try:
        get_sensor(key)
        return True
    except InputError:
        return False


def _origins(n: int, block: int, count: int) -> list[int]:
    if count <= 1:
        return [max(0, (n - block) // 2)]
    return [int(round(v)) for v in np.linspace(0, n - block, count)]


def read_scene(pan_r: RasterReader, ms_r: RasterReader, ratio: int, offset: tuple[float, float],
               ms_bands: list[int], pan_div: float, ms_div: np.ndarray,
               max_pixels: int = ADAPT_MAX_PIXELS) -> tuple[np.ndarray, np.ndarray, str]:
    """Scaled ``pan (R*n, R*m)`` and ``ms (C, n, m)`` (float32, NaN on nodata) sharing
    their top-left corner, and a note on what was read."""
    from ..io.grid import Alignment

    pi, mi = pan_r.info, ms_r.info
    alignment = Alignment(ratio, offset[0], offset[1])
    pan_win, ms_win, _ = block_aligned_windows(alignment, (pi.width, pi.height),
                                               (mi.width, mi.height))
    r = ratio
    n, m = ms_win.height, ms_win.width
    ms_div_b = np.asarray(ms_div, dtype=np.float64)[:, None, None]

    def read(my: int, mx: int, bh: int, bw: int) -> tuple[np.ndarray, np.ndarray]:
        pan = pan_r.read(pan_win.x0 + r * mx, pan_win.y0 + r * my, r * bw, r * bh, [1],
                         np.float64)[0] / pan_div
        ms = ms_r.read(ms_win.x0 + mx, ms_win.y0 + my, bw, bh, ms_bands, np.float64) / ms_div_b
        return pan.astype(np.float32), ms.astype(np.float32)

    if r * r * n * m <= max_pixels:
        pan, ms = read(0, 0, n, m)
        return pan, ms, f"whole scene ({r * m}x{r * n} PAN px)"
    b = min(ADAPT_BLOCK_MS, n, m)
    per_axis = max(1, int(math.sqrt(max_pixels / (r * r * b * b))))
    ys = _origins(n, b, min(per_axis, math.ceil(n / b)))
    xs = _origins(m, b, min(per_axis, math.ceil(m / b)))
    step = b + _GAP_MS
    mh, mw = len(ys) * step - _GAP_MS, len(xs) * step - _GAP_MS
    pan = np.full((r * mh, r * mw), np.nan, np.float32)
    ms = np.full((len(ms_bands), mh, mw), np.nan, np.float32)
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            p, q = read(y, x, b, b)
            pan[r * i * step: r * (i * step + b), r * j * step: r * (j * step + b)] = p
            ms[:, i * step: i * step + b, j * step: j * step + b] = q
    return pan, ms, (f"mosaic of {len(ys)}x{len(xs)} blocks of {r * b}x{r * b} PAN px spread "
                     "over the scene")


def adapt_for_raster(model: Any, pan_r: RasterReader, ms_r: RasterReader, ratio: int,
                     offset: tuple[float, float], ms_bands: list[int], pan_div: float,
                     ms_div: np.ndarray, sensor: Sensor, steps: int, config: Any,
                     device: Any, fb: Feedback, corrected: bool = False) -> tuple[Any, Any]:
    """Read the scene and run :func:`engine.adaptation.adapt_model` on it (progress mapped
    to 5-45 %).  Returns ``(model to use, AdaptationResult)``; a scene too small to adapt
    to is logged and gives ``(model, None)``.  ``corrected``: the output will go through
    the spectral consistency correction, so the model is adapted, and judged by the guard,
    through it, and the guard's spectral criterion is left out
    (:attr:`~engine.adaptation.AdaptationConfig.through_correction`, ``spectral_guard``)."""
    from dataclasses import replace

    from ..adaptation import AdaptationConfig, AdaptationUnavailable, adapt_model

    cfg = config if config is not None else AdaptationConfig()
    cfg = replace(cfg, steps=int(steps), device=str(device),  # cuda:N kept, as inference
                  spectral_guard=cfg.spectral_guard and not corrected,
                  through_correction=cfg.through_correction or corrected)
    pan, ms, note = read_scene(pan_r, ms_r, ratio, offset, ms_bands, pan_div, ms_div)
    gains = sensor.gnyq_of(ms_bands, ms_r.info.band_count)
    fb.info(f"scene adaptation on the {note}, sensor {sensor.name} (MTF gains "
            f"{', '.join(f'{g:g}' for g in gains)})")
    try:
        result = adapt_model(model, pan, ms, ratio=ratio, mtf_gains=gains,
                             pan_mtf_gain=sensor.pan_gnyq, config=cfg,
                             feedback=ProgressRange(fb, 5.0, 45.0), phase="area")
    except AdaptationUnavailable as exc:
        fb.warning(f"scene adaptation skipped: {exc}")
        return model, None
    return result.model, result


def save_adapted(path: str, model: Any, meta: dict[str, Any], base_sha256: str,
                 adaptation: Any, sensor: Sensor, scene: str) -> str:
    """Write ``model`` as a checkpoint usable as MODEL_FILE; returns the path."""
    from ..weights.checkpoint import save_checkpoint

    md = {k: v for k, v in meta.items() if k not in ("format_version", "created",
                                                      "engine_version")}
    sensors = [str(s) for s in (meta.get("sensors") or [])]
    if adaptation is not None and adaptation.adapted and sensor.key not in sensors:
        sensors.append(sensor.key)
    md["sensors"] = sensors
    md["adaptation"] = {
        **(adaptation.to_metadata() if adaptation is not None else {"steps": 0}),
        "base_checkpoint_sha256": base_sha256, "sensor": sensor.key,
        "scene": os.path.basename(os.fspath(scene)),
    }
    save_checkpoint(path, model, md)
    return os.fspath(path)


def sensor_from_files(*paths: str) -> Sensor | None:
    """The sensor named in the metadata of the first of ``paths`` that names one."""
    for path in paths:
        try:
            found = sensor_from_metadata(sensor_metadata(path))
        except Exception:  # noqa: BLE001 - unreadable metadata only means "unknown"
            found = None
        if found is not None:
            return found
    return None
