"""Window statistics of engine.metrics.blocks against plain Python loops."""

import numpy as np
import pytest

from engine.errors import InputError
from engine.metrics import blocks
from engine.metrics import q_avg
from engine.metrics.blocks import (
    block_cross_moments, block_valid, block_view, crop_to_multiple, sliding_moments,
    sliding_sums, sliding_valid,
)


def test_block_view_is_the_distinct_block_layout():
    img = np.arange(2 * 8 * 12, dtype=float).reshape(2, 8, 12)
    v = block_view(img, 4)
    assert v.shape == (2, 2, 4, 3, 4)
    for c in range(2):
        for by in range(2):
            for bx in range(3):
                np.testing.assert_array_equal(v[c, by, :, bx, :],
                                              img[c, 4 * by:4 * by + 4, 4 * bx:4 * bx + 4])


def test_crop_to_multiple_and_too_small():
    img = np.zeros((3, 70, 45))
    assert crop_to_multiple(img, 32).shape == (3, 64, 32)
    with pytest.raises(InputError, match="smaller than one"):
        crop_to_multiple(np.zeros((1, 20, 40)), 32)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 8, 9, 13])
def test_sliding_sums_match_loop(size):
    rng = np.random.default_rng(size)
    img = rng.normal(100.0, 20.0, (2, 23, 19))
    got = sliding_sums(img, size)
    assert got.shape == (2, 23 - size + 1, 19 - size + 1)
    for c in range(2):
        for i in range(got.shape[1]):
            for j in range(got.shape[2]):
                assert got[c, i, j] == pytest.approx(img[c, i:i + size, j:j + size].sum(),
                                                     rel=1e-12)


def test_sliding_sums_does_not_alias_its_input():
    img = np.ones((5, 5))
    out = sliding_sums(img[1:], 1)
    out += 1
    assert np.all(img == 1)


def test_block_moments_match_loop():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 16, 24))
    b = rng.normal(size=(2, 16, 24))
    m = block_cross_moments(a, b, 8)
    k = 0
    for by in range(2):
        for bx in range(3):
            xa = a[:, 8 * by:8 * by + 8, 8 * bx:8 * bx + 8].reshape(3, -1)
            xb = b[:, 8 * by:8 * by + 8, 8 * bx:8 * bx + 8].reshape(2, -1)
            np.testing.assert_allclose(m.mean_a[k], xa.mean(1), atol=1e-13)
            np.testing.assert_allclose(m.mean_b[k], xb.mean(1), atol=1e-13)
            np.testing.assert_allclose(m.var_a[k], xa.var(1), atol=1e-13)
            np.testing.assert_allclose(m.var_b[k], xb.var(1), atol=1e-13)
            full = np.cov(np.vstack([xa, xb]), bias=True)
            np.testing.assert_allclose(m.cov[k], full[:3, 3:], atol=1e-13)
            k += 1
    same = block_cross_moments(a, None, 8)
    np.testing.assert_allclose(same.var_a, same.var_b)
    np.testing.assert_allclose(np.diagonal(same.cov, axis1=1, axis2=2), same.var_a)


def test_sliding_moments_match_loop():
    rng = np.random.default_rng(2)
    x = rng.normal(500.0, 30.0, (1, 14, 12))
    y = x + rng.normal(0.0, 5.0, x.shape)
    m = sliding_moments(x, y, 10)
    for i in range(5):
        for j in range(3):
            wx = x[0, i:i + 10, j:j + 10].ravel()
            wy = y[0, i:i + 10, j:j + 10].ravel()
            assert m.mean_x[0, i, j] == pytest.approx(wx.mean(), rel=1e-13)
            assert m.var_x[0, i, j] == pytest.approx(wx.var(), rel=1e-9)
            assert m.var_y[0, i, j] == pytest.approx(wy.var(), rel=1e-9)
            assert m.cov[0, i, j] == pytest.approx(np.cov(wx, wy, bias=True)[0, 1], rel=1e-9)


def test_valid_maps_exclude_windows_touching_invalid_pixels():
    mask = np.ones((8, 8), dtype=bool)
    mask[5, 2] = False
    bv = block_valid(mask, 4, (8, 8))
    np.testing.assert_array_equal(bv, [[True, True], [False, True]])
    sv = sliding_valid(mask, 3, (8, 8))
    for i in range(6):
        for j in range(6):
            assert sv[i, j] == bool(mask[i:i + 3, j:j + 3].all())


def test_chunking_does_not_change_results(monkeypatch):
    rng = np.random.default_rng(3)
    x = rng.random((2, 50, 41)) + 1.0
    y = x + 0.1 * rng.random(x.shape)
    whole = q_avg(x, y, block_size=8)
    big = block_cross_moments(x[:, :50, :40], y[:, :50, :40], 5)
    monkeypatch.setattr(blocks, "CHUNK_ELEMENTS", 300)  # many tiny chunks
    monkeypatch.setattr(blocks, "BLOCK_CHUNK_ELEMENTS", 300)
    assert q_avg(x, y, block_size=8) == pytest.approx(whole, abs=1e-12)
    small = block_cross_moments(x[:, :50, :40], y[:, :50, :40], 5)
    np.testing.assert_allclose(small.cov, big.cov, atol=1e-14)
    np.testing.assert_allclose(small.mean_b, big.mean_b, atol=1e-14)


def test_indices_never_modify_their_inputs():
    from engine.metrics import q2n, q_avg as qa, d_rho, full_resolution_report
    rng = np.random.default_rng(4)
    x = rng.random((1, 2, 2)) + 1
    y = rng.random((1, 2, 2)) + 1
    x0, y0 = x.copy(), y.copy()
    qa(x, y, 2, "distinct")
    qa(x, y, 2, "sliding")
    q2n(x, y, 2)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)
    f = rng.random((2, 16, 16)) + 1
    p = rng.random((16, 16)) + 1
    m = rng.random((2, 4, 4)) + 1
    copies = [a.copy() for a in (f, p, m)]
    full_resolution_report(f, p, m, 4, 0.3, block_size=8)
    d_rho(f, p, 4)
    for a, c in zip((f, p, m), copies):
        np.testing.assert_array_equal(a, c)
