"""Near-integer pixel-size ratios: the grid an MS is resampled onto (engine.io.grid)."""

from __future__ import annotations

import pytest

from engine.errors import AlignmentError
from engine.io.grid import GridInfo, align_grids, near_integer_regrid

# vhr-zhengzhou as published: PAN 0.4981 x 0.5006 m, MS 2.0 x 2.01 m, extents 1.5 m apart
PAN = GridInfo(800, 800, (732114.75, 0.498125057284382, 0.0, 3841233.25, 0.0, -0.500624779725097))
MS = GridInfo(200, 200, (732114.0, 2.0, 0.0, 3841234.0, 0.0, -2.009999748750031))


def test_zhengzhou_gets_an_exact_grid_aligned_with_the_pan():
    plan = near_integer_regrid(PAN, MS)
    assert plan is not None and plan.ratio == 4
    assert plan.measured == pytest.approx((4.0151, 4.0150), abs=1e-4)
    assert (plan.width, plan.height) == (200, 200)
    gt = plan.geotransform
    assert gt[1] == 4 * PAN.geotransform[1] and gt[5] == 4 * PAN.geotransform[5]
    assert (gt[0], gt[3]) == (PAN.geotransform[0], PAN.geotransform[3])
    aligned = align_grids(PAN, GridInfo(plan.width, plan.height, gt))
    assert (aligned.ratio, aligned.offset_x, aligned.offset_y) == (4, 0.0, 0.0)


def test_exact_ratio_needs_no_resampling():
    ms = GridInfo(200, 200, (732114.75, 4 * 0.498125057284382, 0.0, 3841233.25, 0.0,
                             -4 * 0.500624779725097))
    assert near_integer_regrid(PAN, ms) is None


@pytest.mark.parametrize("size", [2.2, 1.6])
def test_clearly_non_integer_ratio_keeps_its_refusal(size):
    ms = GridInfo(100, 100, (732114.0, size, 0.0, 3841234.0, 0.0, -size))
    assert near_integer_regrid(PAN, ms) is None
    with pytest.raises(AlignmentError, match=r"not an integer multiple .* only ratios within "
                                             r"1% of an integer are resampled"):
        align_grids(PAN, ms)


def test_offset_ms_grid_starts_on_a_pan_corner_multiple():
    pan = GridInfo(100, 100, (0.0, 1.0, 0.0, 100.0, 0.0, -1.0))
    ms = GridInfo(20, 20, (10.3, 4.02, 0.0, 91.7, 0.0, -4.02))
    plan = near_integer_regrid(pan, ms)
    assert plan is not None
    assert plan.geotransform[0] % 4 == 0 and (100 - plan.geotransform[3]) % 4 == 0
    # every new cell centre lies inside the MS footprint
    x_first = plan.geotransform[0] + 2
    x_last = plan.geotransform[0] + 4 * plan.width - 2
    assert 10.3 <= x_first and x_last <= 10.3 + 20 * 4.02


def test_zhengzhou_ms_is_resampled_in_memory_onto_the_exact_grid(shared_data):
    """The virtual copy has the planned grid, keeps the spectra (band means within 1 %)
    and disappears afterwards."""
    import numpy as np
    from osgeo import gdal

    from engine.io.pair import ms_on_pan_grid
    from engine.io.raster_io import RasterReader, open_raster

    class Log:
        lines: list[str] = []

        def warning(self, text):
            self.lines.append(text)

    pan = open_raster(shared_data / "vhr-zhengzhou" / "pan.tif", "PAN")
    ms_path = str(shared_data / "vhr-zhengzhou" / "ms.tif")
    log = Log()
    with ms_on_pan_grid(pan, ms_path, log) as source:
        assert source.startswith("/vsimem/")
        with RasterReader(source, "MS") as resampled, RasterReader(ms_path, "MS") as original:
            info = resampled.info
            assert info.geotransform == pytest.approx(near_integer_regrid(
                GridInfo(pan.width, pan.height, pan.geotransform),
                GridInfo(original.info.width, original.info.height,
                         original.info.geotransform)).geotransform, rel=1e-12)
            assert info.dtype == original.info.dtype and info.band_count == 4
            a, b = resampled.read_all(), original.read_all()
            np.testing.assert_allclose(np.nanmean(a, axis=(1, 2)), np.nanmean(b, axis=(1, 2)),
                                       rtol=0.01)
    assert "resampled once" in log.lines[0]
    assert not [n for n in (gdal.ReadDir("/vsimem/") or []) if n.startswith("pantiny-")]
