"""Pixel windows: one value type and pure functions over it (after rasterio's ``windows``).

A :class:`Window` is ``x0, y0, width, height`` in pixels (0-based, top-left origin,
columns x, rows y; ``x1 = x0 + width`` and ``y1 = y0 + height`` are exclusive).  The
raster reader and writer, the tiler and the streaming loops (classical fusion, model
inference, statistics sampling) describe the parts of a raster they touch with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError


@dataclass(frozen=True)
class Window:
    """A pixel window ``x0, y0, width, height`` (0-based, top-left origin)."""

    x0: int
    y0: int
    width: int
    height: int

    @property
    def x1(self) -> int:
        """First column after the window."""
        return self.x0 + self.width

    @property
    def y1(self) -> int:
        """First row after the window."""
        return self.y0 + self.height

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``, the shape of one band of the window's data."""
        return self.height, self.width

    def slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices selecting the window from a ``(..., H, W)`` array."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


def full_window(width: int, height: int) -> Window:
    """The whole ``width`` x ``height`` raster."""
    return Window(0, 0, int(width), int(height))


def rows_window(y0: int, y1: int, width: int) -> Window:
    """Rows ``[y0, y1)`` over the full ``width``."""
    return Window(0, int(y0), int(width), int(y1) - int(y0))


def intersection(a: Window, b: Window) -> Window | None:
    """The common part of two windows, None when they do not overlap."""
    x0, y0 = max(a.x0, b.x0), max(a.y0, b.y0)
    x1, y1 = min(a.x1, b.x1), min(a.y1, b.y1)
    if x1 <= x0 or y1 <= y0:
        return None
    return Window(x0, y0, x1 - x0, y1 - y0)


def relative_to(inner: Window, outer: Window) -> Window:
    """``inner`` in the coordinates of ``outer``'s top-left corner."""
    return Window(inner.x0 - outer.x0, inner.y0 - outer.y0, inner.width, inner.height)


def contains(outer: Window, inner: Window) -> bool:
    """True when ``inner`` (non-empty) lies entirely inside ``outer``."""
    return (inner.width > 0 and inner.height > 0 and inner.x0 >= outer.x0
            and inner.y0 >= outer.y0 and inner.x1 <= outer.x1 and inner.y1 <= outer.y1)


def row_strips(height: int, rows: int, width: int = 0) -> list[Window]:
    """Consecutive full-width strips of ``rows`` rows covering ``[0, height)`` (the last
    one shorter)."""
    if rows < 1:
        raise InputError(f"strip rows must be positive, got {rows}")
    return [rows_window(y0, min(height, y0 + rows), width) for y0 in range(0, height, rows)]


def column_chunks(width: int, cols: int, height: int = 0) -> list[Window]:
    """Consecutive full-height chunks of ``cols`` columns covering ``[0, width)``."""
    if cols < 1:
        raise InputError(f"chunk columns must be positive, got {cols}")
    return [Window(x0, 0, min(width, x0 + cols) - x0, int(height))
            for x0 in range(0, width, cols)]


def with_row_halo(win: Window, halo: int, height: int) -> Window:
    """``win`` grown by ``halo`` rows above and below, clipped to rows ``[0, height)``."""
    y0, y1 = max(0, win.y0 - halo), min(height, win.y1 + halo)
    return Window(win.x0, y0, win.width, y1 - y0)
