"""Classical pan-sharpening of raster files, streamed in strips (bounded memory).

Reads the PAN and MS with :mod:`engine.io.raster_io`, places the MS on the PAN grid from
the geotransforms (:mod:`engine.io.placement`), fuses strip by strip
(:func:`engine.fusion.streaming.fuse_strips`: one statistics pass, one fusion pass) and
writes the result on the PAN grid with :class:`engine.io.raster_io.RasterWriter` (the file
appears only when everything succeeded).
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from .. import __version__
from ..feedback import Feedback, NullFeedback
from . import get_method
from .streaming import fuse_strips
from ..io.pair import (REGRID_RESAMPLING, check_pair, default_nodata, first_nodata,
                       ms_on_pan_grid, report_clipping, report_infinite)
from ..io.raster_io import RasterReader, RasterWriter
from ..io.windows import rows_window
from ..sensors import Sensor, get_sensor, ms_band_names


def _numpy_type(name: Any) -> Any:
    """A GDAL type name ('Byte', 'UInt16', ...) or numpy dtype as a numpy dtype; GDAL's
    'Byte' is unsigned (numpy's 'byte' would be int8)."""
    text = str(name).lower()
    return np.uint8 if text == "byte" else text


def pansharpen_classical_raster(pan_path: str, ms_path: str, output_path: str, method: str,
                                sensor: str | Sensor = "generic", out_dtype: Any = None,
                                creation_options: str | Sequence[str] | None = None,
                                feedback: Feedback | None = None, strip_rows: int = 512,
                                nodata: float | None = None, cog: bool = False) -> dict[str, Any]:
    """Fuse ``ms_path`` with ``pan_path`` by ``method`` into ``output_path`` (PAN grid).

    ``method``: an :data:`engine.fusion.METHODS` id; ``sensor``: sets the MTF gains;
    ``out_dtype``: output type name or numpy dtype (default: the MS type); ``nodata``:
    output nodata (default: the MS nodata, else :func:`engine.io.pair.default_nodata`).
    Returns ``{'OUTPUT': path, 'SECONDS': float, ...}``.
    """
    fb = feedback or NullFeedback()
    t0 = time.perf_counter()
    m = get_method(method)
    sensor = sensor if isinstance(sensor, Sensor) else get_sensor(sensor)
    with RasterReader(pan_path, "PAN") as pan_r, \
            ms_on_pan_grid(pan_r.info, ms_path, fb) as ms_source, \
            RasterReader(ms_source, "MS") as ms_r:
        pan_i, ms_i = pan_r.info, ms_r.info
        alignment = check_pair(pan_i, ms_i)
        gnyq = sensor.gnyq(ms_i.band_count)
        out_t = np.dtype(ms_i.dtype if out_dtype is None else _numpy_type(out_dtype))
        bands = list(range(1, ms_i.band_count + 1))
        if nodata is None:
            nodata = first_nodata(ms_i.nodata, bands)
            if nodata is None:
                nodata = default_nodata(out_t)
        fb.info(f"PAN {pan_i.width}x{pan_i.height}, MS {ms_i.width}x{ms_i.height}x"
                f"{ms_i.band_count}, ratio {alignment.ratio}, MS offset "
                f"({alignment.offset_x:g}, {alignment.offset_y:g}) PAN px")
        fb.info(f"method {m.name}, sensor {sensor.name}, MS GNyq "
                f"{', '.join(f'{g:g}' for g in gnyq)}, PAN GNyq {sensor.pan_gnyq:g}")
        names = ms_band_names(sensor, ms_i.band_descriptions, ms_i.band_count)
        metadata = {
            "PANTINY_ENGINE_VERSION": __version__, "PANTINY_METHOD": m.name,
            "PANTINY_SENSOR": sensor.name, "PANTINY_RATIO": alignment.ratio,
            "PANTINY_MS_GNYQ": ",".join(f"{g:g}" for g in gnyq),
            "PANTINY_PAN_GNYQ": sensor.pan_gnyq,
            "PANTINY_PLACEMENT": "interp23tap, pixel-is-area (geotransforms)",
        }
        if ms_source != ms_path:
            metadata["PANTINY_MS_RESAMPLED"] = (f"{REGRID_RESAMPLING}, onto exactly "
                                                f"{alignment.ratio} PAN pixels")
        with RasterWriter(output_path, pan_i.width, pan_i.height, ms_i.band_count, out_t,
                          pan_i.geotransform, pan_i.crs_wkt, nodata, creation_options,
                          names, metadata, cog=cog) as writer:
            fuse_strips(
                m.name,
                read_pan=lambda a, b: pan_r.read_window(rows_window(a, b, pan_i.width))[0],
                read_ms=lambda a, b: ms_r.read_window(rows_window(a, b, ms_i.width)),
                alignment=alignment, pan_shape=(pan_i.height, pan_i.width),
                ms_shape=(ms_i.band_count, ms_i.height, ms_i.width),
                write=lambda r0, block: writer.write(0, r0, block),
                ms_gnyq=gnyq, pan_gnyq=sensor.pan_gnyq, strip_rows=strip_rows,
                is_canceled=fb.is_canceled, progress=lambda f: fb.set_progress(100.0 * f))
        report_infinite(fb, pan_r, ms_r)
        report_clipping(fb, writer)
    seconds = time.perf_counter() - t0
    fb.info(f"written {output_path} in {seconds:.1f} s")
    return {"OUTPUT": output_path, "SECONDS": seconds, "RATIO": alignment.ratio}
