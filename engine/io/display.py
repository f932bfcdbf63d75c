"""How a multispectral raster is shown: true-colour bands, contrast stretch, QGIS style.

Pure text and numpy (GDAL reads go through :mod:`.raster_io`):

* :func:`colour_of` maps a band name (``'Red'``, ``'Blue'``, ``'NIR1'``...) to the colour
  it stands for; :func:`rgb_bands` finds the red, green and blue bands of a raster from
  its band names (1-based band numbers);
* :func:`stretch_limits` gives the per-band 2nd/98th percentile of valid values, the
  usual "cumulative count cut" display stretch of QGIS;
* :func:`qgis_style` writes a QGIS layer style (``.qml``) that shows those bands as
  R, G, B with that stretch; :func:`write_default_style` puts it next to a raster as
  ``<name>.qml``, which QGIS loads as the layer's default style when the file is opened.
"""

from __future__ import annotations

import os
import tempfile
from typing import Sequence

import numpy as np

#: Band names (lower case, without spaces, dashes or underscores) -> display colour.
_COLOUR_NAMES = {
    "red": "red", "r": "red", "b4red": "red",
    "green": "green", "g": "green",
    "blue": "blue", "b": "blue",
    "nir": "nir", "nir1": "nir", "nir2": "nir", "nearinfrared": "nir",
    "coastal": "coastal", "coastalblue": "coastal", "yellow": "yellow",
    "rededge": "rededge", "re": "rededge",
}

#: Longest side of the decimated image used for display statistics (pixels).
STATS_SIDE = 1024


def colour_of(name: str | None) -> str | None:
    """The colour a band name stands for: 'red', 'green', 'blue', 'nir', 'coastal',
    'yellow', 'rededge', or None when the name says nothing known."""
    if not name:
        return None
    key = "".join(ch for ch in str(name).lower() if ch.isalnum())
    return _COLOUR_NAMES.get(key)


def rgb_bands(names: Sequence[str | None]) -> tuple[int, int, int] | None:
    """1-based ``(red, green, blue)`` band numbers from the band names, or None when
    any of the three is missing (the first band of each colour wins)."""
    found: dict[str, int] = {}
    for i, name in enumerate(names):
        colour = colour_of(name)
        if colour in ("red", "green", "blue") and colour not in found:
            found[colour] = i + 1
    if len(found) != 3:
        return None
    return found["red"], found["green"], found["blue"]


def stretch_limits(values: np.ndarray, low: float = 2.0, high: float = 98.0
                   ) -> list[tuple[float, float]]:
    """Per band ``(min, max)`` display limits: the ``low``/``high`` percentiles of the
    finite values of ``values (C, h, w)`` (NaN = nodata); ``(0, 1)`` for an empty band
    and ``max > min`` always."""
    limits = []
    for band in values:
        v = band[np.isfinite(band)]
        if v.size == 0:
            limits.append((0.0, 1.0))
            continue
        lo, hi = (float(x) for x in np.percentile(v, [low, high]))
        if not hi > lo:
            hi = lo + max(abs(lo) * 1e-6, 1e-12)
        limits.append((lo, hi))
    return limits


def to_display(values: np.ndarray, limits: Sequence[tuple[float, float]]) -> np.ndarray:
    """``(C, h, w)`` floats -> ``(h, w, C)`` uint8 with the given limits (NaN -> 0)."""
    out = np.empty(values.shape[1:] + (values.shape[0],), dtype=np.uint8)
    for c, (lo, hi) in enumerate(limits):
        scaled = (values[c] - lo) * (255.0 / (hi - lo))
        scaled = np.where(np.isfinite(scaled), scaled, 0.0)
        out[..., c] = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return out


def qgis_style(rgb: tuple[int, int, int], limits: Sequence[tuple[float, float]]) -> str:
    """A QGIS layer style (``.qml`` text): multiband colour renderer with bands ``rgb``
    (1-based) stretched linearly between ``limits`` (one ``(min, max)`` per colour).

    The limits are fixed values (``<limits>None</limits>``), so QGIS does not compute a
    histogram of the whole raster (and write a ``.aux.xml`` next to it) on loading."""
    parts = []
    for colour, (lo, hi) in zip(("red", "green", "blue"), limits):
        parts.append(
            f"      <{colour}ContrastEnhancement><minValue>{lo!r}</minValue>"
            f"<maxValue>{hi!r}</maxValue><algorithm>StretchToMinimumMaximum</algorithm>"
            f"</{colour}ContrastEnhancement>\n")
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        "<qgis version=\"3.22.0\" styleCategories=\"Symbology\">\n  <pipe>\n"
        f"    <rasterrenderer type=\"multibandcolor\" redBand=\"{rgb[0]}\" "
        f"greenBand=\"{rgb[1]}\" blueBand=\"{rgb[2]}\" alphaBand=\"-1\" opacity=\"1\" "
        "nodataColor=\"\">\n      <rasterTransparency/>\n"
        "      <minMaxOrigin><limits>None</limits><extent>WholeRaster</extent>"
        "<statAccuracy>Estimated</statAccuracy><cumulativeCutLower>0.02</cumulativeCutLower>"
        "<cumulativeCutUpper>0.98</cumulativeCutUpper><stdDevFactor>2</stdDevFactor>"
        "</minMaxOrigin>\n" + "".join(parts) +
        "    </rasterrenderer>\n  </pipe>\n</qgis>\n")


def write_style(raster_path: str | os.PathLike, rgb: tuple[int, int, int],
                limits: Sequence[tuple[float, float]]) -> str:
    """Write ``<name>.qml`` (see :func:`qgis_style`) next to a raster; returns its path."""
    target = style_path(raster_path)
    fd, tmp = tempfile.mkstemp(prefix=".style.", suffix=".qml", dir=os.path.dirname(target))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(qgis_style(rgb, limits))
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


def style_path(raster_path: str | os.PathLike) -> str:
    """Where QGIS looks for a raster's default style: ``<path without extension>.qml``."""
    return os.path.splitext(os.path.abspath(os.fspath(raster_path)))[0] + ".qml"


def write_default_style(raster_path: str | os.PathLike) -> str | None:
    """Write ``<name>.qml`` next to a raster so that QGIS opens it in true colour.

    The red, green and blue bands come from the band descriptions (see
    :func:`rgb_bands`); the stretch from a decimated read of at most
    :data:`STATS_SIDE` pixels per side (bounded memory).  Returns the style's path, or
    None (nothing written) when the raster has no band described as red, green and blue.
    """
    from .raster_io import RasterReader

    with RasterReader(raster_path, "raster") as reader:
        rgb = rgb_bands(reader.info.band_descriptions)
        if rgb is None:
            return None
        values = reader.read_decimated(None, STATS_SIDE, bands=list(rgb))
    return write_style(raster_path, rgb, stretch_limits(values))
