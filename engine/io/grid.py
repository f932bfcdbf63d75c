"""Pure geotransform arithmetic: how an MS grid sits on a PAN grid (no GDAL here).

Convention: pixel-is-area.  A geotransform ``(x0, dx, rx, y0, ry, dy)`` maps pixel
corner ``(col, row)`` to ``x = x0 + col*dx + row*rx``, ``y = y0 + col*ry + row*dy``.
Positions are expressed in PAN pixel-centre coordinates: PAN pixel ``(r, c)`` has
centre ``(r, c)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import AlignmentError

GeoTransform = tuple[float, float, float, float, float, float]


@dataclass(frozen=True)
class GridInfo:
    """Size and georeferencing of one raster (``geotransform`` None: plain pixel grid)."""

    width: int
    height: int
    geotransform: GeoTransform | None = None
    crs_wkt: str | None = None

    @property
    def georeferenced(self) -> bool:
        return self.geotransform is not None


@dataclass(frozen=True)
class Alignment:
    """Where the MS grid sits on the PAN grid.

    The centre of MS pixel ``(i, j)`` lies at PAN pixel-centre coordinates
    ``(offset_y + ratio*i + (ratio-1)/2, offset_x + ratio*j + (ratio-1)/2)``;
    ``offset_*`` is the MS top-left corner minus the PAN top-left corner, in PAN pixels.
    """

    ratio: int
    offset_y: float = 0.0
    offset_x: float = 0.0

    def ms_centre(self, i: float, j: float) -> tuple[float, float]:
        half = (self.ratio - 1) / 2.0
        return (self.offset_y + self.ratio * i + half, self.offset_x + self.ratio * j + half)

    def ms_index_of_pan(self, r: float, c: float) -> tuple[float, float]:
        """Fractional MS pixel-centre index of PAN pixel centre ``(r, c)``."""
        half = (self.ratio - 1) / 2.0
        return ((r - self.offset_y - half) / self.ratio, (c - self.offset_x - half) / self.ratio)


def _check_north_up(name: str, gt: GeoTransform) -> None:
    if gt[2] != 0.0 or gt[4] != 0.0:
        raise AlignmentError(
            f"the {name} raster is rotated (geotransform {gt}); warp it to a north-up grid "
            "first (e.g. gdalwarp) and try again"
        )


def _integer_ratio(pan_size: float, ms_size: float, axis: str, tol: float) -> int:
    ratio = ms_size / pan_size
    nearest = round(ratio)
    if nearest < 1 or abs(ratio - nearest) > tol * nearest:
        raise AlignmentError(
            f"the MS pixel size ({ms_size:g}) is not an integer multiple of the PAN pixel size "
            f"({pan_size:g}) along {axis} (ratio {ratio:.4f}); resample the MS to exactly an "
            "integer multiple of the PAN pixel size"
        )
    return int(nearest)


def _check_ratio(ratio: int) -> None:
    if ratio < 2:
        raise AlignmentError(
            "the MS has the same pixel size as the PAN (ratio 1): it is already on the PAN "
            "grid. Give the MS at its native resolution (e.g. 4 times the PAN pixel size)")


def align_grids(pan: GridInfo, ms: GridInfo, rel_tol: float = 1e-3) -> Alignment:
    """Derive ratio and offset of ``ms`` on ``pan``; raise :class:`AlignmentError` if impossible.

    Georeferenced pairs: the ratio comes from the pixel sizes and must be an integer in
    both axes; the grids must overlap.  Pairs without georeferencing (either one lacks a
    geotransform) must have sizes an integer ratio apart and share the top-left corner.
    """
    if pan.georeferenced and ms.georeferenced:
        pg, mg = pan.geotransform, ms.geotransform
        assert pg is not None and mg is not None
        _check_north_up("PAN", pg)
        _check_north_up("MS", mg)
        if pg[1] == 0 or pg[5] == 0:
            raise AlignmentError(f"the PAN geotransform {pg} has a zero pixel size")
        if (pg[1] > 0) != (mg[1] > 0) or (pg[5] > 0) != (mg[5] > 0):
            raise AlignmentError("PAN and MS geotransforms have opposite axis orientations")
        rx = _integer_ratio(abs(pg[1]), abs(mg[1]), "x", rel_tol)
        ry = _integer_ratio(abs(pg[5]), abs(mg[5]), "y", rel_tol)
        if rx != ry:
            raise AlignmentError(
                f"the MS/PAN pixel-size ratio differs between x ({rx}) and y ({ry}); "
                "pan-sharpening needs square ratios"
            )
        off_x = (mg[0] - pg[0]) / pg[1]
        off_y = (mg[3] - pg[3]) / pg[5]
        _check_ratio(rx)
        alignment = Alignment(rx, off_y, off_x)
        # Overlap test on the PAN grid (pixel-is-area footprints).
        ms_x0, ms_x1 = off_x, off_x + rx * ms.width
        ms_y0, ms_y1 = off_y, off_y + ry * ms.height
        if ms_x1 <= 0 or ms_x0 >= pan.width or ms_y1 <= 0 or ms_y0 >= pan.height:
            raise AlignmentError(
                "the PAN and MS rasters do not overlap: check that they show the same area "
                "and use the same CRS"
            )
        return alignment
    ratio_x = pan.width / ms.width
    ratio_y = pan.height / ms.height
    r = round(ratio_x)
    if r < 1 or not math.isclose(ratio_x, r) or not math.isclose(ratio_y, r):
        raise AlignmentError(
            f"without georeferencing, the PAN size ({pan.width}x{pan.height}) must be an integer "
            f"multiple of the MS size ({ms.width}x{ms.height}); got ratios {ratio_x:.4f} (x) and "
            f"{ratio_y:.4f} (y). Georeference both rasters or crop them to matching extents"
        )
    _check_ratio(r)
    return Alignment(r)
