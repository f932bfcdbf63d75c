"""Wald's reduced-resolution protocol (engine.wald)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import InputError
from engine.filters import decimate, mtf_filter
from engine.sensors import get_sensor
from engine.wald import WaldConventions, degrade, reduced_sizes, wald_pair

R = 4


def test_reduced_sizes_crop_to_multiples_of_ratio():
    s = reduced_sizes((133, 125), (8, 33, 31), R)
    assert s == {"pan_crop": (128, 112), "ms_crop": (32, 28), "pan_lr": (32, 28),
                 "ms_lr": (8, 7)}
    with pytest.raises(InputError):
        reduced_sizes((100, 100), (4, 32, 32), R)      # PAN smaller than R x MS
    with pytest.raises(InputError):
        reduced_sizes((12, 12), (4, 3, 3), R)          # nothing left


def test_degrade_shapes_dtype_and_crop():
    rng = np.random.default_rng(1)
    pan = rng.random((133, 130)).astype(np.float32)
    ms = rng.random((4, 33, 32)).astype(np.float32)
    pan_lr, ms_lr = degrade(pan, ms, R, (0.3, 0.3, 0.3, 0.3), 0.15)
    assert pan_lr.shape == (32, 32) and ms_lr.shape == (4, 8, 8)
    assert pan_lr.dtype == np.float64 and ms_lr.dtype == np.float64
    # The crop is from the top-left corner: rows beyond the crop must not matter
    # except through nothing at all (filtering happens after the crop).
    pan2 = pan.copy()
    pan2[128:] = 1e6
    ms2 = ms.copy()
    ms2[:, 32:] = 1e6
    p2, m2 = degrade(pan2, ms2, R, 0.3, 0.15)
    np.testing.assert_array_equal(p2, pan_lr)
    np.testing.assert_array_equal(m2, ms_lr)


def test_constant_stays_constant():
    pan = np.full((64, 64), 7.5)
    ms = np.stack([np.full((16, 16), v) for v in (1.0, 2.0, 3.0)])
    pan_lr, ms_lr = degrade(pan, ms, R, (0.3, 0.35, 0.2), 0.11)
    np.testing.assert_allclose(pan_lr, 7.5, rtol=1e-12)
    for b, v in enumerate((1.0, 2.0, 3.0)):
        np.testing.assert_allclose(ms_lr[b], v, rtol=1e-12)


def test_decimation_phase_and_gain_at_nyquist():
    """A cosine at the MS Nyquist frequency with peaks on fine pixels R*k + R//2 comes
    out as GNyq * (-1)^k: checks the MTF gain (exact kernel) and the toolbox phase."""
    H = W = 256
    x = np.arange(W)
    f = 1.0 / (2 * R)
    row = np.cos(2 * np.pi * f * (x - R // 2))
    pan = np.tile(row, (H, 1))
    ms = np.ones((2, 64, 64))  # MS content is irrelevant here
    pan_lr, _ = degrade(pan, ms, R, (0.3, 0.3), 0.14)
    centre = pan_lr[20:-20, 20:-20]
    expected = 0.14 * (-1.0) ** np.arange(64)[20:-20]
    np.testing.assert_allclose(centre, np.broadcast_to(expected, centre.shape), atol=2e-3)
    # Phase 'area' keeps fine pixels 4k, where cos(2 pi (4k - 2) / 8) = cos(pi k - pi/2) = 0.
    pan_lr0, _ = degrade(pan, ms, R, (0.3, 0.3), 0.14, phase="area")
    assert np.abs(pan_lr0[20:-20, 20:-20]).max() < 1e-6


def test_each_band_uses_its_own_gain():
    rng = np.random.default_rng(3)
    ms = np.repeat(rng.random((1, 64, 64)), 2, axis=0)
    pan = rng.random((256, 256))
    _, ms_lr = degrade(pan, ms, R, (0.2, 0.4), 0.15)
    for b, g in enumerate((0.2, 0.4)):
        np.testing.assert_allclose(ms_lr[b], decimate(mtf_filter(ms[b], g, R), R), rtol=1e-12)
    assert np.abs(ms_lr[0] - ms_lr[1]).max() > 1e-3


def test_toolbox_kernel_convention_is_selectable():
    rng = np.random.default_rng(4)
    pan = rng.random((128, 128)) + 1.0
    ms = rng.random((1, 32, 32)) + 1.0
    p_exact, _ = degrade(pan, ms, R, 0.3, 0.15, convention="exact")
    p_tb, _ = degrade(pan, ms, R, 0.3, 0.15, convention="toolbox")
    # Toolbox kernel is not renormalised (DC gain ~0.998): slightly darker on average.
    ratio = p_tb.mean() / p_exact.mean()
    assert 0.995 < ratio < 0.9995


def test_wald_pair_records_conventions():
    s = get_sensor("wv3")
    rng = np.random.default_rng(5)
    pan = rng.random((130, 128))
    ms = rng.random((8, 33, 32))
    pair = wald_pair(pan, ms, s.ratio, s.gnyq(8), s.pan_gnyq)
    assert isinstance(pair.conventions, WaldConventions)
    d = pair.conventions.as_dict()
    assert d["kernel_convention"] == "exact" and d["decimation_phase"] == "toolbox"
    assert d["ms_gnyq"] == s.gnyq(8) and d["pan_gnyq"] == 0.14
    assert d["crop_ms"] == (32, 32) and d["crop_pan"] == (128, 128)
    np.testing.assert_array_equal(pair.gt, ms[:, :32, :32])
    assert pair.pan_lr.shape == (32, 32) and pair.ms_lr.shape == (8, 8, 8)


def test_nonfinite_inputs_are_rejected():
    pan = np.ones((64, 64))
    ms = np.ones((2, 16, 16))
    ms[0, 3, 3] = np.nan
    with pytest.raises(InputError, match="finite"):
        degrade(pan, ms, R, 0.3, 0.15)
    with pytest.raises(InputError, match="GNyq"):
        degrade(pan, np.ones((2, 16, 16)), R, (0.3, 0.3, 0.3), 0.15)   # 3 gains, 2 bands
