"""Opening and checking a PAN/MS file pair (shared by every file-level operation).

Uses :mod:`engine.io.raster_io` (GDAL).  Everything here fails before any output exists.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator, Sequence

import numpy as np

from ..errors import AlignmentError, InputError
from .grid import NEAR_INTEGER_TOLERANCE, Alignment, align_grids, near_integer_regrid
from .raster_io import RasterInfo, grid_info, open_raster, same_crs, warped_to_grid
from .windows import Window


def check_pair(pan: RasterInfo, ms: RasterInfo, pan_name: str = "PAN") -> Alignment:
    """Validate a PAN/MS pair and return where the MS sits on the PAN grid.

    Refuses a PAN with more than one band, georeferenced rasters in different CRSs
    (the user is told to reproject the MS, which keeps the PAN grid untouched), and
    everything :func:`engine.io.grid.align_grids` refuses (non-integer ratio, no overlap,
    rotated grids).
    """
    if pan.band_count != 1:
        raise InputError(
            f"the {pan_name} raster {pan.path} has {pan.band_count} bands; a panchromatic "
            "raster has exactly one: extract the PAN band first (gdal_translate -b N)")
    if pan.georeferenced and ms.georeferenced and pan.crs_wkt and ms.crs_wkt \
            and not same_crs(pan.crs_wkt, ms.crs_wkt):
        raise AlignmentError(
            "the PAN and MS rasters use different coordinate reference systems; reproject "
            "the MS onto the PAN's CRS first (e.g. gdalwarp -t_srs <PAN CRS> -tr <4 x PAN "
            "pixel size> -tap) and try again")
    return align_grids(grid_info(pan), grid_info(ms))


#: Resampling of a near-integer-ratio MS onto its exact grid (GDAL name): cubic
#: convolution (Keys 1981) keeps the spectra closer than bilinear at a scale change
#: this small (at most 1 %).
REGRID_RESAMPLING = "cubic"


@contextmanager
def ms_on_pan_grid(pan: RasterInfo, ms_path: str, feedback=None, name: str = "MS"
                   ) -> Iterator[str]:
    """The path to read the MS from: ``ms_path`` itself, or, when its pixel size is within
    1 % (:data:`engine.io.grid.NEAR_INTEGER_TOLERANCE`) of an integer ratio but not
    exactly one, a virtual copy resampled once onto a grid of exactly ``ratio`` PAN
    pixels aligned with the PAN grid (:func:`engine.io.raster_io.warped_to_grid`; in
    memory, streamed, removed on exit).  The log says so with a warning.
    """
    ms = open_raster(ms_path, name)
    plan = None
    if pan.band_count == 1 and (not pan.crs_wkt or not ms.crs_wkt
                                or same_crs(pan.crs_wkt, ms.crs_wkt)):
        plan = near_integer_regrid(grid_info(pan), grid_info(ms))
    if plan is None:
        yield ms_path
        return
    if feedback is not None:
        feedback.warning(
            f"the MS pixel size is {plan.measured[0]:.4f} x {plan.measured[1]:.4f} times the "
            f"PAN's, not exactly {plan.ratio}: the MS is resampled once ({REGRID_RESAMPLING}) "
            f"onto a grid of exactly {plan.ratio} PAN pixels aligned with the PAN grid "
            f"({plan.width}x{plan.height} MS pixels; ratios within "
            f"{NEAR_INTEGER_TOLERANCE:.0%} of an integer are accepted this way). The output "
            "stays on the PAN grid")
    with warped_to_grid(ms_path, plan.geotransform, plan.width, plan.height,
                        REGRID_RESAMPLING, name) as path:
        yield path


def first_nodata(nodata: Sequence[float | None], bands: Sequence[int]) -> float | None:
    """The nodata value of the first of the 1-based ``bands`` that has one."""
    for b in bands:
        if nodata[b - 1] is not None:
            return nodata[b - 1]
    return None


def default_nodata(dtype: np.dtype) -> float:
    """Output nodata when the MS has none: 0 for unsigned integers, the minimum for signed
    integers, NaN for floats (valid outputs equal to it are moved one step away)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "u":
        return 0.0
    if dtype.kind == "i":
        return float(np.iinfo(dtype).min)
    return float("nan")


def block_aligned_windows(alignment: Alignment, pan_size: tuple[int, int],
                          ms_size: tuple[int, int]) -> tuple[Window, Window, tuple[float, float]]:
    """The largest PAN and MS windows where PAN block ``R x R`` ``j`` covers MS pixel ``j``.

    ``pan_size``/``ms_size`` are ``(width, height)``.  The MS offset on the PAN grid is
    rounded to whole PAN pixels (the residual, at most half a PAN pixel, is returned as
    ``(dy, dx)`` so callers can report it).  Used where an index or protocol needs the
    toolbox registration PAN = R x MS with a shared corner (QNR, Wald protocol).
    """
    r = alignment.ratio
    oy, ox = round(alignment.offset_y), round(alignment.offset_x)
    residual = (alignment.offset_y - oy, alignment.offset_x - ox)

    def axis(offset: int, pan_n: int, ms_n: int) -> tuple[int, int]:
        j0 = max(0, math.ceil(-offset / r))
        j1 = min(ms_n, (pan_n - offset) // r)
        return j0, j1

    jx0, jx1 = axis(ox, pan_size[0], ms_size[0])
    jy0, jy1 = axis(oy, pan_size[1], ms_size[1])
    if jx1 <= jx0 or jy1 <= jy0:
        raise AlignmentError("the PAN and MS rasters have no whole MS pixel in common")
    ms_win = Window(jx0, jy0, jx1 - jx0, jy1 - jy0)
    pan_win = Window(ox + r * jx0, oy + r * jy0, r * ms_win.width, r * ms_win.height)
    return pan_win, ms_win, residual


def report_infinite(feedback, *readers) -> None:
    """Warn about the +-inf values the readers met (they were read as nodata)."""
    for reader in readers:
        count = reader.infinite_count
        if count:
            feedback.warning(
                f"the {reader.name} raster has {count} +-inf value(s): they were treated as "
                "nodata (left out of every statistic, nodata in the output)")


def report_clipping(feedback, writer) -> None:
    """Say how many output values did not fit the integer output type and were clipped."""
    if writer.clipped_count:
        low = writer.clipped_low
        feedback.warning(
            f"{writer.clipped_count} output value(s) fell outside the range of the {writer.dtype} "
            f"output ({low} below its minimum) and were clipped to it; choose a wider or "
            "signed output data type to keep them")
