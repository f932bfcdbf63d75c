"""Spectral consistency correction (engine.inference.spectral_correction)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import InputError
from engine.filters import mtf_filter
from engine.inference.spectral_correction import HALO, correct, correct_rows
from engine.io.grid import Alignment
from engine.io.placement import ms_to_pan_grid
from engine.io.raster_io import read_raster
from engine.metrics import full_resolution_report, reduced_resolution_report
from engine.inference.scaling import Scaling
from engine.sensors import get_sensor
from engine.wald import degrade

GENERIC = get_sensor("generic")
GAINS = GENERIC.gnyq(4)


@pytest.fixture(scope="module")
def vhr_rr(shared_data):
    """Wald pair of a 384 x 384 PAN-px piece of vhr-zhengzhou (scaled): pan_lr (96, 96),
    ms_lr (4, 24, 24), its bms on the PAN grid and the reference MS (4, 96, 96)."""
    root = shared_data / "vhr-zhengzhou"
    pan = read_raster(root / "pan.tif", bands=[1], name="PAN")[0][:384, :384]
    ms = read_raster(root / "ms.tif", bands=[3, 2, 1, 4], name="MS")[:, :96, :96]
    scale = Scaling().fit(ms=ms, pan=pan)
    pan, ms = scale.apply(pan, "pan"), scale.apply(ms, "ms")
    pan_lr, ms_lr = degrade(pan, ms, 4, GAINS, GENERIC.pan_gnyq)
    bms = ms_to_pan_grid(ms_lr, Alignment(4), pan_lr.shape, phase="toolbox")
    return pan_lr, ms_lr, bms, ms[:, : pan_lr.shape[0], : pan_lr.shape[1]]


def test_correction_restores_the_colours_of_a_shifted_result(vhr_rr):
    """A result that is darker and shifted in colour (what a network does on a sensor it
    never saw) gets the MS's band means back and keeps its own spatial detail."""
    pan_lr, ms_lr, bms, ref = vhr_rr
    gain = np.array([0.7, 0.8, 0.9, 1.1])[:, None, None]
    shifted = (ref * gain - 0.01).astype(np.float32)
    out = correct(shifted, bms, 4, GAINS)
    assert out.dtype == np.float32 and out.shape == ref.shape
    np.testing.assert_allclose(out.mean(axis=(1, 2)), bms.mean(axis=(1, 2)), rtol=0, atol=2e-3)
    assert np.abs(shifted.mean(axis=(1, 2)) - bms.mean(axis=(1, 2))).max() > 0.02
    # the detail above the MS resolution is the input's: high-pass unchanged
    hp_in = shifted - mtf_filter(shifted, GAINS, 4)
    hp_out = out - mtf_filter(out, GAINS, 4)
    inner = (slice(None), slice(HALO, -HALO), slice(HALO, -HALO))
    corr = np.corrcoef(hp_in[inner].ravel(), hp_out[inner].ravel())[0, 1]
    assert corr > 0.95
    # and against the true reference it is closer than the shifted input
    q_in = reduced_resolution_report(np.clip(shifted, 0, None), ref, 4, peak=1.0)
    q_out = reduced_resolution_report(np.clip(out, 0, None), ref, 4, peak=1.0)
    assert q_out["Q2N"] > q_in["Q2N"] + 0.02
    assert q_out["ERGAS"] < q_in["ERGAS"]


def test_correction_lowers_khan_spectral_distortion(vhr_rr):
    """D_lambda^K (the spectral half of HQNR) of the shifted result falls."""
    pan_lr, ms_lr, bms, ref = vhr_rr
    shifted = (ref * np.array([0.7, 0.8, 0.9, 1.1])[:, None, None]).astype(np.float32)
    before = full_resolution_report(shifted, pan_lr, ms_lr, 4, GAINS)
    after = full_resolution_report(np.clip(correct(shifted, bms, 4, GAINS), 0, None),
                                   pan_lr, ms_lr, 4, GAINS)
    assert after["D_LAMBDA_K"] < before["D_LAMBDA_K"] - 0.05
    assert after["HQNR"] > before["HQNR"]


@pytest.mark.parametrize("block_rows", [7, 32, 50, 200])
def test_streamed_rows_equal_the_whole_image(vhr_rr, block_rows):
    _, _, bms, ref = vhr_rr
    rng = np.random.default_rng(0)
    fused = (ref + 0.02 * rng.standard_normal(ref.shape)).astype(np.float32)
    fused[:, 10:14, 30:60] = np.nan                   # nodata stays nodata
    whole = correct(fused, bms, 4, GAINS)
    h = fused.shape[1]
    blocks = [(y, fused[:, y:y + block_rows]) for y in range(0, h, block_rows)]
    calls = []

    def read_bms(y0: int, y1: int) -> np.ndarray:
        calls.append((y0, y1))
        return bms[:, y0:y1]

    out = list(correct_rows(iter(blocks), read_bms, h, 4, GAINS))
    assert [y for y, _ in out] == [y for y, _ in blocks]
    assert [b.shape for _, b in out] == [b.shape for _, b in blocks]
    streamed = np.concatenate([b for _, b in out], axis=1)
    assert np.array_equal(np.isnan(streamed), np.isnan(whole))
    assert np.isnan(whole[:, 10:14, 30:60]).all()
    np.testing.assert_allclose(streamed, whole, rtol=0, atol=1e-5, equal_nan=True)
    assert all(y1 - y0 <= block_rows + 2 * HALO for y0, y1 in calls)


def test_bad_arguments_are_refused(vhr_rr):
    _, _, bms, ref = vhr_rr
    with pytest.raises(InputError, match="same shape"):
        correct(ref[:3], bms, 4, GAINS)
    with pytest.raises(InputError, match="MTF gains"):
        correct(ref, bms, 4, 1.5)
    with pytest.raises(InputError, match="consecutive"):
        list(correct_rows(iter([(0, ref[:, :10]), (20, ref[:, 20:])]),
                          lambda a, b: bms[:, a:b], ref.shape[1], 4, GAINS))


@pytest.mark.parametrize("gnyq,ratio", [(0.3, 4), (0.15, 4), (0.35, 2)])
def test_separable_lowpass_equals_the_2d_mtf_filter(vhr_rr, gnyq, ratio):
    """The two 1-D passes give the 2-D MTF filter of engine.filters (replicate borders)
    to within 1e-5 of the image's range, and the normalised convolution ignores nodata."""
    from engine.inference.spectral_correction import lowpass

    _, _, _, ref = vhr_rr
    img = ref[3].astype(np.float64)
    valid = np.ones(img.shape, bool)
    want = mtf_filter(img, gnyq, ratio)
    got = lowpass(img, valid, gnyq, ratio)
    assert np.abs(got - want).max() < 1e-5 * np.ptp(img)
    holes = valid.copy()
    holes[40:50, 40:50] = False
    spoiled = np.where(holes, img, 1e6)           # values under the holes must not leak
    got_holes = lowpass(spoiled, holes, gnyq, ratio)
    assert np.abs(got_holes[holes]).max() < 2 * np.abs(img).max()


def test_column_chunks_give_the_same_result(vhr_rr, monkeypatch):
    """Correcting a few columns at a time (memory bounded whatever the width) changes
    nothing."""
    import engine.inference.spectral_correction as sc

    _, _, bms, ref = vhr_rr
    fused = (ref * 0.8).astype(np.float32)
    fused[:, 50:60, 20:24] = np.nan
    whole = correct(fused, bms, 4, GAINS)
    monkeypatch.setattr(sc, "COLUMN_CHUNK", 7)
    chunked = correct(fused, bms, 4, GAINS)
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-6, equal_nan=True)


def test_torch_version_equals_numpy(vhr_rr):
    """The device version (used on a GPU; here on the CPU) gives the numpy result within
    float32 rounding, nodata included, also inside the streamed rows."""
    torch = pytest.importorskip("torch")
    from engine.inference.spectral_correction_torch import correct_on_device

    _, _, bms, ref = vhr_rr
    fused = (ref * np.array([0.7, 0.8, 0.9, 1.1])[:, None, None]).astype(np.float32)
    fused[:, 30:36, 10:50] = np.nan
    want = correct(fused, bms, 4, GAINS)
    got = correct_on_device(fused, bms, 4, GAINS, torch.device("cpu"))
    assert np.array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5 * np.nanmax(np.abs(want)),
                               equal_nan=True)
    h = fused.shape[1]
    blocks = [(y, fused[:, y:y + 32]) for y in range(0, h, 32)]
    streamed = np.concatenate([b for _, b in correct_rows(
        iter(blocks), lambda a, b: bms[:, a:b], h, 4, GAINS,
        correct_window=lambda f, m, r, g: correct_on_device(f, m, r, g, "cpu"))], axis=1)
    np.testing.assert_allclose(streamed, want, rtol=0, atol=2e-5 * np.nanmax(np.abs(want)),
                               equal_nan=True)


def test_batched_differentiable_correction_equals_numpy(vhr_rr):
    """``correct_tensor`` (used to adapt a model through the correction) gives the numpy
    result on every item of a batch, and passes no gradient to the low frequencies it
    replaces: a constant change of the model output leaves the corrected output as it was."""
    torch = pytest.importorskip("torch")
    from engine.inference.spectral_correction_torch import correct_tensor, separable_kernels

    _, _, bms, ref = vhr_rr
    fused = np.stack([ref * k for k in (0.8, 1.2)]).astype(np.float32)
    kernels = separable_kernels(GAINS, 4, "cpu")
    f = torch.from_numpy(fused).requires_grad_(True)
    m = torch.from_numpy(np.stack([bms, bms]).astype(np.float32))
    got = correct_tensor(f, m, kernels)
    for i in range(2):
        want = correct(fused[i], bms, 4, GAINS)
        np.testing.assert_allclose(got[i].detach().numpy(), want, rtol=0,
                                   atol=2e-5 * np.abs(want).max())
    shifted = correct_tensor(f + 0.25, m, kernels)
    np.testing.assert_allclose(shifted.detach().numpy(), got.detach().numpy(), atol=1e-5)
    got.sum().backward()
    assert f.grad is not None and torch.isfinite(f.grad).all()
    # the gradient of a sum is (1 - sum of the kernel) = 0 away from the borders
    assert float(f.grad[:, :, 25:-25, 25:-25].abs().max()) < 1e-5
