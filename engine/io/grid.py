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


#: Relative tolerance of a ratio accepted as exactly integer (pixel sizes rounded in files).
EXACT_RATIO_TOLERANCE = 1e-3
#: Relative tolerance of a near-integer ratio (e.g. 4.015): such an MS is resampled once
#: onto a grid of exactly ``ratio`` PAN pixels (:func:`near_integer_regrid`).  1 % is a
#: pixel-size error of at most 0.04 MS pixel per MS pixel for ratio 4, far beyond any
#: rounding, yet below what changes the scale of the spectra meaningfully.
NEAR_INTEGER_TOLERANCE = 0.01


def _integer_ratio(pan_size: float, ms_size: float, axis: str, tol: float) -> int:
    ratio = ms_size / pan_size
    nearest = round(ratio)
    if nearest < 1 or abs(ratio - nearest) > tol * nearest:
        raise AlignmentError(
            f"the MS pixel size ({ms_size:g}) is not an integer multiple of the PAN pixel size "
            f"({pan_size:g}) along {axis} (ratio {ratio:.4f}; only ratios within "
            f"{NEAR_INTEGER_TOLERANCE:.0%} of an integer are resampled automatically); "
            "resample the MS to exactly an "
            "integer multiple of the PAN pixel size (e.g. gdalwarp -tr <4 x PAN pixel size>)"
        )
    return int(nearest)


@dataclass(frozen=True)
class Regrid:
    """A grid for an MS whose pixel size is nearly (not exactly) ``ratio`` PAN pixels.

    ``geotransform``/``width``/``height``: pixel size exactly ``ratio`` x the PAN's, corners
    on PAN pixel corners (the PAN origin plus whole multiples of the new pixel), covering
    the MS cells whose centre lies inside the MS footprint.  ``measured``: the measured
    ratios along x and y.
    """

    ratio: int
    geotransform: GeoTransform
    width: int
    height: int
    measured: tuple[float, float]


def near_integer_regrid(pan: GridInfo, ms: GridInfo,
                        tol: float = NEAR_INTEGER_TOLERANCE,
                        exact_tol: float = EXACT_RATIO_TOLERANCE) -> Regrid | None:
    """The :class:`Regrid` of an MS whose ratio is within ``tol`` of an integer ``R >= 2``
    but not within ``exact_tol``; None in every other case (exact ratios, rasters without
    georeferencing, rotated or flipped grids, clearly non-integer ratios: those are left to
    :func:`align_grids`, which accepts or refuses them with its own message)."""
    if not (pan.georeferenced and ms.georeferenced):
        return None
    pg, mg = pan.geotransform, ms.geotransform
    assert pg is not None and mg is not None
    if pg[2] or pg[4] or mg[2] or mg[4] or pg[1] == 0 or pg[5] == 0:
        return None
    if (pg[1] > 0) != (mg[1] > 0) or (pg[5] > 0) != (mg[5] > 0):
        return None
    rx, ry = mg[1] / pg[1], mg[5] / pg[5]
    r = round(rx)
    if r < 2 or round(ry) != r:
        return None
    dev = max(abs(rx - r), abs(ry - r)) / r
    if dev <= exact_tol or dev > tol:
        return None
    step_x, step_y = r * pg[1], r * pg[5]

    def cells(m0: float, m_step: float, n: int, p0: float, step: float) -> tuple[int, int]:
        a, b = (m0 - p0) / step, (m0 + m_step * n - p0) / step
        return math.ceil(a - 0.5), math.floor(b + 0.5)

    j0, j1 = cells(mg[0], mg[1], ms.width, pg[0], step_x)
    i0, i1 = cells(mg[3], mg[5], ms.height, pg[3], step_y)
    if j1 <= j0 or i1 <= i0:
        return None
    gt = (pg[0] + j0 * step_x, step_x, 0.0, pg[3] + i0 * step_y, 0.0, step_y)
    return Regrid(r, gt, j1 - j0, i1 - i0, (rx, ry))


def _check_ratio(ratio: int) -> None:
    if ratio < 2:
        raise AlignmentError(
            "the MS has the same pixel size as the PAN (ratio 1): it is already on the PAN "
            "grid. Give the MS at its native resolution (e.g. 4 times the PAN pixel size)")


def align_grids(pan: GridInfo, ms: GridInfo, rel_tol: float = EXACT_RATIO_TOLERANCE
                ) -> Alignment:
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
