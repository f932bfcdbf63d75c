"""engine.filters against the spec's numbers and plain reference formulations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from engine.filters import (KERNEL_23TAP, cubic_shift, decimate, imresize_bicubic, interp23tap,
                            mtf_kernel, shift_axis)


def _gain_at_ms_nyquist(kernel: np.ndarray, ratio: int) -> float:
    """Frequency response of the (symmetric) kernel at 1/(2 ratio) cycles/pixel along x."""
    n = np.arange(kernel.shape[1]) - kernel.shape[1] // 2
    return float((kernel.sum(axis=0) * np.cos(2 * np.pi * n / (2 * ratio))).sum())


@pytest.mark.parametrize("gnyq", [0.35, 0.30, 0.26, 0.15, 0.11])
def test_exact_kernel_has_the_nominal_gain_and_unit_dc(gnyq):
    k = mtf_kernel(gnyq, 4, convention="exact")
    assert k.shape == (41, 41)
    assert k.sum() == pytest.approx(1.0, abs=1e-12)
    assert _gain_at_ms_nyquist(k, 4) == pytest.approx(gnyq, abs=1e-3)


@pytest.mark.parametrize("gnyq,expected", [(0.35, 0.332), (0.30, 0.282), (0.26, 0.243),
                                           (0.15, 0.137), (0.11, 0.099)])
def test_toolbox_kernel_matches_the_spec_numbers(gnyq, expected):
    """Spec 3.2: the toolbox design lands 5-10 % below GNyq, DC gain ~0.998."""
    k = mtf_kernel(gnyq, 4, convention="toolbox")
    assert _gain_at_ms_nyquist(k, 4) == pytest.approx(expected, abs=1.5e-3)
    assert 0.997 <= k.sum() <= 0.999


def test_toolbox_kernel_dc_gain_for_026():
    assert mtf_kernel(0.26, 4, convention="toolbox").sum() == pytest.approx(0.9986, abs=1e-4)


def test_23tap_kernel_values():
    assert KERNEL_23TAP[11] == 1.0 and KERNEL_23TAP.sum() == pytest.approx(2.0, abs=1e-9)
    assert KERNEL_23TAP[12] == pytest.approx(0.610668182370)
    assert KERNEL_23TAP[22] == pytest.approx(-0.000120162964)
    assert np.all(KERNEL_23TAP[1::2][KERNEL_23TAP[1::2] != 1.0] == 0.0)  # even offsets


def _zero_insertion_reference(img: np.ndarray, ratio: int) -> np.ndarray:
    out = np.asarray(img, float)
    for stage in range(int(np.log2(ratio))):
        c, h, w = out.shape
        up = np.zeros((c, 2 * h, 2 * w))
        start = 1 if stage == 0 else 0
        up[:, start::2, start::2] = out
        up = ndimage.correlate1d(up, KERNEL_23TAP, axis=1, mode="wrap")
        out = ndimage.correlate1d(up, KERNEL_23TAP, axis=2, mode="wrap")
    return out


@pytest.mark.parametrize("ratio", [2, 4, 8])
@pytest.mark.parametrize("shape", [(3, 7, 9), (1, 1, 3), (2, 16, 16), (1, 12, 13)])
def test_polyphase_interp23tap_equals_zero_insertion_and_filtering(ratio, shape):
    x = np.random.default_rng(0).random(shape)
    np.testing.assert_allclose(interp23tap(x, ratio), _zero_insertion_reference(x, ratio),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("ratio", [2, 4, 8])
def test_interp23tap_puts_samples_back_at_the_toolbox_phase(ratio):
    x = np.random.default_rng(1).random((2, 6, 5))
    up = interp23tap(x, ratio)
    assert up.shape == (2, 6 * ratio, 5 * ratio)
    np.testing.assert_allclose(decimate(up, ratio, "toolbox"), x, atol=1e-12)
    np.testing.assert_allclose(interp23tap(np.full((1, 4, 4), 3.0), ratio), 3.0, atol=1e-12)


def test_interp23tap_refuses_other_ratios():
    with pytest.raises(ValueError, match="power of 2"):
        interp23tap(np.ones((1, 4, 4)), 3)


def test_imresize_bicubic_constant_and_linear_ramp():
    assert np.allclose(imresize_bicubic(np.full((16, 16), 3.0), 0.25), 3.0)
    ramp = np.tile(np.arange(32.0), (32, 1))
    small = imresize_bicubic(ramp, 0.25)
    # pixel-area alignment: output column i averages input around 4 i + 1.5
    np.testing.assert_allclose(small[5, 2:6], 4 * np.arange(2, 6) + 1.5, atol=1e-9)


def test_shifts():
    x = np.random.default_rng(2).random((3, 20, 30))
    np.testing.assert_allclose(cubic_shift(x, 0, 3)[..., :-3], x[..., 3:], atol=0)
    np.testing.assert_allclose(shift_axis(x, 1, -2)[:, 2:], x[:, :-2], atol=0)
    ramp = np.tile(np.arange(30.0), (4, 1))
    np.testing.assert_allclose(cubic_shift(ramp, 0, 0.25)[:, 2:-3], ramp[:, 2:-3] + 0.25,
                               atol=1e-12)
