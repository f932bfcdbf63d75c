"""The pixel Window type and its pure functions (engine/io/windows.py)."""

import numpy as np
import pytest

from engine.errors import InputError
from engine.io.windows import (Window, column_chunks, contains, full_window, intersection,
                               relative_to, row_strips, rows_window, with_row_halo)


def test_window_bounds_shape_and_slices():
    win = Window(3, 5, 4, 2)
    assert (win.x1, win.y1, win.shape) == (7, 7, (2, 4))
    img = np.arange(100).reshape(10, 10)
    assert np.array_equal(img[win.slices()], img[5:7, 3:7])


def test_intersection_and_relative_window():
    raster = full_window(10, 8)
    assert intersection(Window(-2, -3, 5, 5), raster) == Window(0, 0, 3, 2)
    assert intersection(Window(8, 6, 5, 5), raster) == Window(8, 6, 2, 2)
    assert intersection(Window(10, 0, 3, 3), raster) is None
    assert intersection(Window(-5, 0, 5, 3), raster) is None
    inside = intersection(Window(-2, -3, 5, 5), raster)
    assert relative_to(inside, Window(-2, -3, 5, 5)) == Window(2, 3, 3, 2)


def test_contains():
    raster = full_window(10, 8)
    assert contains(raster, Window(0, 0, 10, 8))
    assert not contains(raster, Window(1, 0, 10, 8))
    assert not contains(raster, Window(0, 0, 0, 8))  # empty
    assert not contains(raster, Window(-1, 0, 2, 2))


def test_strips_chunks_and_halos_cover_exactly():
    strips = row_strips(10, 4, 7)
    assert strips == [rows_window(0, 4, 7), rows_window(4, 8, 7), rows_window(8, 10, 7)]
    assert sum(s.height for s in strips) == 10
    chunks = column_chunks(9, 4, 3)
    assert [(c.x0, c.width, c.height) for c in chunks] == [(0, 4, 3), (4, 4, 3), (8, 1, 3)]
    assert with_row_halo(strips[0], 2, 10) == Window(0, 0, 7, 6)
    assert with_row_halo(strips[1], 2, 10) == Window(0, 2, 7, 8)
    assert with_row_halo(strips[2], 2, 10) == Window(0, 6, 7, 4)
    with pytest.raises(InputError, match="positive"):
        row_strips(10, 0)
    with pytest.raises(InputError, match="positive"):
        column_chunks(10, 0)
