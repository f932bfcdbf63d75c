"""MS placement on the PAN grid (engine.io.placement)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.errors import InputError
from engine.filters import interp23tap
from engine.io.grid import Alignment, GridInfo, align_grids
from engine.io.placement import effective_method, lr_rows_for, ms_to_pan_grid, place_rows

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
R = 4


def smooth_field(y, x):
    """A smooth field, band-limited well below the MS Nyquist frequency (1/8 cy/px)."""
    return (100.0 + 20.0 * np.sin(2 * np.pi * y / 53.0 + 0.3)
            + 15.0 * np.cos(2 * np.pi * x / 41.0 - 1.1)
            + 10.0 * np.sin(2 * np.pi * (x + y) / 67.0))


def sample_ms(alignment: Alignment, h: int, w: int) -> np.ndarray:
    """LR image whose pixel (j, k) is the field at the MS pixel centre on the PAN grid."""
    j, k = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    cy, cx = alignment.ms_centre(j, k)
    return np.stack([smooth_field(cy, cx), 0.5 * smooth_field(cy, cx) + 3.0])


def inner(H, W, margin):
    m = np.zeros((H, W), bool)
    m[margin:H - margin, margin:W - margin] = True
    return m


def real_offsets() -> tuple[float, float]:
    """Alignment of the real wv3-dos-float pair (1 and 2 PAN px: fractions of an MS px)."""
    gdal = pytest.importorskip("osgeo.gdal")
    infos = []
    for name in ("pan.tif", "mul.tif"):
        ds = gdal.Open(str(DATA / "wv3-dos-float" / name))
        if ds is None:
            pytest.skip("wv3-dos-float is not available")
        infos.append(GridInfo(ds.RasterXSize, ds.RasterYSize, ds.GetGeoTransform()))
    a = align_grids(*infos)
    assert a.ratio == 4
    return a.offset_y, a.offset_x


@pytest.mark.parametrize("method", ["interp23tap", "bicubic"])
@pytest.mark.parametrize("offsets", [(0.0, 0.0), (0.3, -1.7), (2.5, 0.25), (-3.0, 6.0), "real"])
def test_smooth_field_returns_to_the_pan_grid(method, offsets):
    if offsets == "real":
        offsets = real_offsets()
        assert offsets == pytest.approx((1.0, 2.0), abs=1e-6)
    a = Alignment(R, *offsets)
    h, w = 40, 44
    H, W = R * h + 6, R * w - 3
    up = ms_to_pan_grid(sample_ms(a, h, w), a, (H, W), method=method)
    Y, X = np.mgrid[:H, :W]
    truth = smooth_field(Y, X)
    sel = inner(H, W, 40) & np.isfinite(up[0])
    err = np.abs(up[0] - truth)[sel]
    # interp23tap is near-ideal for such a field; Keys bicubic is a little worse.
    tol = 0.03 if method == "interp23tap" else 0.15
    assert err.max() < tol, err.max()
    np.testing.assert_allclose(up[1][sel], 0.5 * up[0][sel] + 3.0, rtol=1e-8)


def test_wrong_phase_is_half_a_pixel_off():
    """Area-sampled data placed with the toolbox phase is measurably shifted: the test
    above would fail with the wrong placement formula."""
    a = Alignment(R, 0.0, 0.0)
    h = w = 40
    ms = sample_ms(a, h, w)
    Y, X = np.mgrid[:R * h, :R * w]
    truth = smooth_field(Y, X)
    sel = inner(R * h, R * w, 24)
    good = np.abs(ms_to_pan_grid(ms, a, (R * h, R * w))[0] - truth)[sel].max()
    bad = np.abs(ms_to_pan_grid(ms, a, (R * h, R * w), phase="toolbox")[0] - truth)[sel].max()
    assert good < 0.02 and bad > 0.5


@pytest.mark.parametrize("method", ["interp23tap", "bicubic"])
def test_constant_stays_constant(method):
    ms = np.stack([np.full((20, 24), 3.25), np.full((20, 24), -1.5)])
    for off in [(0.0, 0.0), (1.0, 2.0), (0.37, -2.6)]:
        up = ms_to_pan_grid(ms, Alignment(R, *off), (80, 96), method=method)
        ok = np.isfinite(up)
        assert ok.mean() > 0.9
        # interp23tap's published taps are rounded to 12 decimals: 1e-9 relative.
        np.testing.assert_allclose(up[0][ok[0]], 3.25, rtol=1e-8)
        np.testing.assert_allclose(up[1][ok[1]], -1.5, rtol=1e-8)


@pytest.mark.parametrize("method", ["interp23tap", "bicubic"])
def test_integer_offsets_shift_exactly(method):
    rng = np.random.default_rng(0)
    ms = rng.random((3, 30, 30))
    H = W = 120
    base = ms_to_pan_grid(ms, Alignment(R, 0.25, -0.5), (H, W), method=method)
    dy, dx = 3, -5                                   # PAN pixels, any integer
    moved = ms_to_pan_grid(ms, Alignment(R, 0.25 + dy, -0.5 + dx), (H, W), method=method)
    # moved[y, x] == base[y - dy, x - dx]
    a = moved[:, dy:, :W + dx]
    b = base[:, :H - dy, -dx:]
    both = np.isfinite(a) & np.isfinite(b)
    assert both.mean() > 0.9
    np.testing.assert_allclose(a[both], b[both], rtol=0, atol=1e-12)


def test_toolbox_phase_is_exactly_interp23tap():
    rng = np.random.default_rng(1)
    ms = rng.random((4, 16, 20))
    up = ms_to_pan_grid(ms, Alignment(R), (64, 80), phase="toolbox")
    np.testing.assert_array_equal(up, interp23tap(ms, R))
    # Symmetric borders differ from circular only near the image edges.
    sym = ms_to_pan_grid(ms, Alignment(R), (64, 80), phase="toolbox", border="symmetric")
    assert np.abs(sym - up).max() > 1e-3
    np.testing.assert_allclose(sym[:, 28:36, 36:44], up[:, 28:36, 36:44], atol=2e-3)
    with pytest.raises(InputError, match="circular"):
        ms_to_pan_grid(ms, Alignment(R, 1.0, 0.0), (64, 80), border="circular")


def test_symmetric_border_avoids_wraparound():
    """A bright left edge must not leak into the right edge (interp23tap is circular)."""
    ms = np.zeros((1, 16, 16))
    ms[:, :, 0] = 1000.0
    up = ms_to_pan_grid(ms, Alignment(R), (64, 64))
    assert np.abs(up[0, :, -8:]).max() < 1e-9
    circ = interp23tap(ms, R)
    assert np.abs(circ[0, :, -4:]).max() > 10.0


def test_outside_footprint_is_nan():
    ms = np.ones((2, 10, 12))
    a = Alignment(R, 2.0, -3.0)       # MS footprint rows [2, 42), cols [-3, 45)
    up = ms_to_pan_grid(ms, a, (48, 48))
    rows_ok = np.isfinite(up[0]).any(axis=1)
    cols_ok = np.isfinite(up[0]).any(axis=0)
    # pixel-centre-inside rule: PAN row y valid iff 1.5 <= y < 41.5
    np.testing.assert_array_equal(np.flatnonzero(rows_ok), np.arange(2, 42))
    np.testing.assert_array_equal(np.flatnonzero(cols_ok), np.arange(0, 45))
    assert np.isnan(up[1]).sum() == np.isnan(up[0]).sum()


def test_ms_nodata_is_nan_and_does_not_ring():
    a = Alignment(R, 0.0, 0.0)
    ms = sample_ms(a, 40, 40)
    holed = ms.copy()
    holed[:, 18:21, 10:14] = np.nan
    up = ms_to_pan_grid(holed, a, (160, 160))
    ref = ms_to_pan_grid(ms, a, (160, 160))
    bad = np.isnan(up[0])
    expected = np.zeros((160, 160), bool)
    expected[18 * R:21 * R, 10 * R:14 * R] = True
    np.testing.assert_array_equal(bad, expected)
    # Next to the hole the fill keeps the interpolation close to the hole-free one
    # (field range ~90, ~10 per LR pixel there); zero- or nodata-valued holes would
    # ring by ~100.
    ring = np.zeros_like(bad)
    ring[17 * R:22 * R, 9 * R:15 * R] = True
    ring &= ~bad
    assert np.abs(up[0][ring] - ref[0][ring]).max() < 5.0
    # Far away nothing changes.
    np.testing.assert_allclose(up[:, 120:, :], ref[:, 120:, :], atol=1e-9)
    # The explicit mask does the same as NaN.
    valid = np.ones((40, 40), bool)
    valid[18:21, 10:14] = False
    up2 = ms_to_pan_grid(np.where(np.isnan(holed), -9999.0, holed), a, (160, 160),
                         ms_valid=valid)
    np.testing.assert_array_equal(np.isnan(up2), np.isnan(up))
    np.testing.assert_allclose(up2[~np.isnan(up2)], up[~np.isnan(up)], rtol=1e-12)


def test_non_power_of_two_ratio_uses_bicubic():
    assert effective_method("interp23tap", 3) == "bicubic"
    assert effective_method("interp23tap", 4) == "interp23tap"
    a = Alignment(3, 0.5, -1.0)
    h = w = 40
    ms = sample_ms(a, h, w)
    up = ms_to_pan_grid(ms, a, (120, 120))
    Y, X = np.mgrid[:120, :120]
    sel = inner(120, 120, 12) & np.isfinite(up[0])
    assert np.abs(up[0] - smooth_field(Y, X))[sel].max() < 0.15
    with pytest.raises(InputError):
        effective_method("lanczos", 4)


@pytest.mark.parametrize("method", ["interp23tap", "bicubic"])
def test_row_blocks_equal_whole_image(method):
    rng = np.random.default_rng(2)
    ms = rng.random((2, 50, 30))
    a = Alignment(R, 1.25, 2.0)
    H, W = 205, 118
    whole = ms_to_pan_grid(ms, a, (H, W), method=method)
    for r0, r1 in [(0, 37), (60, 101), (170, 205)]:
        l0, l1 = lr_rows_for(r0, r1, a, 50)
        assert 0 <= l0 < l1 <= 50
        part = place_rows(ms[:, l0:l1], l0, 50, a, r0, r1 - r0, W, method=method)
        np.testing.assert_allclose(part, whole[:, r0:r1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("shift", [0.1, 0.25, 0.5, 0.75, 2.3, -1.6])
def test_fast_shift_equals_general_keys_resampling(shift):
    """filters.shift_axis (one 4-tap correlation) == the gathered Keys resampler at i+shift."""
    from engine.filters import resample_axis, shift_axis
    a = np.random.default_rng(3).random((2, 30, 40))
    for axis in (1, 2):
        positions = np.arange(a.shape[axis]) + shift
        np.testing.assert_allclose(shift_axis(a, axis, shift),
                                   resample_axis(a, axis, positions, 1.0, "replicate"),
                                   rtol=0, atol=1e-13)
