"""Reduced-resolution indices: analytic values, hand examples and simple loop references."""

import os
from pathlib import Path

import numpy as np
import pytest

from engine.errors import InputError
from engine.metrics import (
    cc, ergas, psnr, q2n, q_avg, q_index, reduced_resolution_report, sam, scc, ssim,
)

PATCH = (Path(os.environ.get("PANTINY_DATA")
         or Path(__file__).resolve().parents[2].parent / "shared" / "data")
         / "wv3-rr-patches" / "train.mat")


def uiqi_loop(x, y):
    """UIQI of one window (Wang & Bovik 2002) with the img_qi degenerate rules, plainly."""
    x = np.asarray(x, float).ravel()
    y = np.asarray(y, float).ravel()
    mx, my = x.mean(), y.mean()
    vx = ((x - mx) ** 2).mean()
    vy = ((y - my) ** 2).mean()
    cxy = ((x - mx) * (y - my)).mean()
    d1, d2 = vx + vy, mx**2 + my**2
    if d1 == 0 and d2 != 0:
        return 2 * mx * my / d2
    if d1 * d2 == 0:
        return 1.0
    return 4 * cxy * mx * my / (d1 * d2)


def q_sliding_loop(x, y, s, mask=None):
    vals = []
    for i in range(x.shape[0] - s + 1):
        for j in range(x.shape[1] - s + 1):
            if mask is not None and not mask[i:i + s, j:j + s].all():
                continue
            vals.append(uiqi_loop(x[i:i + s, j:j + s], y[i:i + s, j:j + s]))
    return np.mean(vals)


def q_distinct_loop(x, y, s):
    vals = []
    for i in range(0, x.shape[0] - s + 1, s):
        for j in range(0, x.shape[1] - s + 1, s):
            vals.append(uiqi_loop(x[i:i + s, j:j + s], y[i:i + s, j:j + s]))
    return np.mean(vals)


@pytest.fixture
def pair():
    rng = np.random.default_rng(10)
    gt = rng.uniform(100, 1000, (4, 40, 36))
    fused = gt + rng.normal(0, 40, gt.shape)
    return fused, gt


# --- UIQI -------------------------------------------------------------------------------


def test_uiqi_hand_example_2x2():
    # x = [1 2; 3 4], y = [2 2; 3 5]: mu 2.5 and 3, var 5/4 and 3/2, cov 5/4 (divisor 4)
    # Q = 4 (5/4)(2.5)(3) / ((5/4 + 3/2)(2.5^2 + 3^2)) = 37.5 / 41.9375 = 600/671
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    y = np.array([[2.0, 2.0], [3.0, 5.0]])
    assert q_index(x, y, block_size=2, mode="distinct") == pytest.approx(600 / 671, abs=1e-14)
    assert q_index(x, y, block_size=None) == pytest.approx(600 / 671, abs=1e-14)
    assert q_index(x, y, block_size=2, mode="sliding") == pytest.approx(600 / 671, abs=1e-14)


def test_uiqi_hand_example_4x4_two_windows():
    # Two distinct 2x2 blocks in a 2x4 image: block A identical (Q = 1),
    # block B: x = [0 2; 0 2], y = [1 1; 1 1] -> y flat, x not: Q = 0.  Mean 0.5.
    x = np.array([[5.0, 6.0, 0.0, 2.0], [7.0, 8.0, 0.0, 2.0]])
    y = np.array([[5.0, 6.0, 1.0, 1.0], [7.0, 8.0, 1.0, 1.0]])
    assert q_index(x, y, block_size=2, mode="distinct") == pytest.approx(0.5, abs=1e-14)


def test_uiqi_degenerate_windows_follow_img_qi():
    flat3 = np.full((4, 4), 3.0)
    flat5 = np.full((4, 4), 5.0)
    zero = np.zeros((4, 4))
    # both flat, means not both 0: luminance term only
    assert q_index(flat3, flat5, 4, "distinct") == pytest.approx(2 * 15 / 34, abs=1e-14)
    # both flat and zero: 1
    assert q_index(zero, zero, 4, "distinct") == 1.0
    # identical flat: 1
    assert q_index(flat5, flat5, 4, "sliding") == pytest.approx(1.0, abs=1e-14)
    # one flat, one textured: covariance 0 -> 0
    tex = np.arange(16.0).reshape(4, 4)
    assert q_index(tex, flat5, 4, "distinct") == 0.0


def test_uiqi_identical_is_one_and_symmetric(pair):
    fused, gt = pair
    assert q_avg(gt, gt, 8) == pytest.approx(1.0, abs=1e-12)
    assert q_avg(gt, gt, 8, "distinct") == pytest.approx(1.0, abs=1e-12)
    assert q_avg(fused, gt, 8) == pytest.approx(q_avg(gt, fused, 8), abs=1e-13)


def test_uiqi_constant_bias_lowers_only_the_mean_factor():
    rng = np.random.default_rng(11)
    x = rng.uniform(50, 150, (16, 16))
    y = x + 40.0
    mx, my = x.mean(), y.mean()
    expected = 2 * mx * my / (mx**2 + my**2)  # correlation and contrast factors are 1
    assert q_index(x, y, block_size=None) == pytest.approx(expected, rel=1e-12)
    assert expected < 1.0


@pytest.mark.parametrize("s", [1, 5, 8])
def test_q_sliding_matches_loop(pair, s):
    fused, gt = pair
    for b in range(2):
        assert q_index(fused[b], gt[b], s, "sliding") == pytest.approx(
            q_sliding_loop(fused[b], gt[b], s), abs=1e-9)


@pytest.mark.parametrize("s", [4, 7, 16])
def test_q_distinct_matches_loop_with_crop(pair, s):
    fused, gt = pair  # 40x36: not a multiple of 7 or 16 -> cropped to the largest multiple
    expected = np.mean([q_distinct_loop(fused[b], gt[b], s) for b in range(4)])
    assert q_avg(fused, gt, s, "distinct") == pytest.approx(expected, abs=1e-9)


def test_q_default_window_32_sliding_matches_loop():
    rng = np.random.default_rng(12)
    gt = rng.uniform(0, 2047, (1, 36, 35))
    fused = 0.9 * gt + rng.normal(0, 100, gt.shape)
    assert q_avg(fused, gt) == pytest.approx(q_sliding_loop(fused[0], gt[0], 32), abs=1e-9)


def test_q_mask_excludes_windows(pair):
    fused, gt = pair
    bad = fused.copy()
    bad[:, 10:13, 20:22] = 1e6  # corrupt a small region
    mask = np.ones(gt.shape[1:], dtype=bool)
    mask[10:13, 20:22] = False
    got = q_index(bad[0], gt[0], 6, "sliding", mask=mask)
    assert got == pytest.approx(q_sliding_loop(bad[0], gt[0], 6, mask), abs=1e-9)
    assert got != pytest.approx(q_index(bad[0], gt[0], 6, "sliding"), abs=1e-3)
    # distinct blocks touching the region are dropped: same as blocks of the clean image
    clean_blocks = [(i, j) for i in range(0, 36, 6) for j in range(0, 36, 6)
                    if mask[i:i + 6, j:j + 6].all()]
    expected = np.mean([uiqi_loop(bad[0, i:i + 6, j:j + 6], gt[0, i:i + 6, j:j + 6])
                        for i, j in clean_blocks])
    assert q_index(bad[0], gt[0], 6, "distinct", mask=mask) == pytest.approx(expected, abs=1e-9)


def test_q_errors():
    with pytest.raises(InputError, match="same shape"):
        q_avg(np.zeros((2, 8, 8)), np.zeros((3, 8, 8)))
    with pytest.raises(InputError, match="smaller than one"):
        q_avg(np.ones((1, 8, 8)), np.ones((1, 8, 8)), block_size=32)
    with pytest.raises(InputError, match="mode"):
        q_avg(np.ones((1, 8, 8)), np.ones((1, 8, 8)), block_size=4, mode="diagonal")
    with pytest.raises(InputError, match="NaN"):
        q_avg(np.full((1, 8, 8), np.nan), np.ones((1, 8, 8)), block_size=4)


# --- PSNR, SSIM ---------------------------------------------------------------------------


def test_psnr_of_a_known_mse():
    rng = np.random.default_rng(13)
    gt = rng.uniform(0.2, 0.8, (3, 16, 16))
    signs = np.where(rng.random(gt.shape) < 0.5, -1.0, 1.0)
    fused = gt + 0.1 * signs  # MSE = 0.01 in every band
    assert psnr(fused, gt, peak=1.0) == pytest.approx(20.0, abs=1e-9)
    assert psnr(fused, gt, peak=2047.0) == pytest.approx(10 * np.log10(2047.0**2 / 0.01), abs=1e-9)
    # per band, then averaged: MSE 0.01 and 0.0001 -> 20 dB and 40 dB -> 30 dB
    two = fused[:2].copy()
    two[1] = gt[1] + 0.01 * signs[1]
    assert psnr(two, gt[:2], peak=1.0) == pytest.approx(30.0, abs=1e-9)
    assert psnr(gt, gt, peak=1.0) == np.inf


def test_psnr_default_peak_and_mask():
    gt = np.full((1, 4, 4), 2.0)
    fused = gt + 0.02
    assert psnr(fused, gt) == pytest.approx(10 * np.log10(4.0 / 0.0004), abs=1e-9)
    fused[0, 0, 0] = 100.0
    mask = np.ones((4, 4), dtype=bool)
    mask[0, 0] = False
    assert psnr(fused, gt, mask=mask) == pytest.approx(10 * np.log10(4.0 / 0.0004), abs=1e-9)


def ssim_loop(x, y, d):
    t = np.arange(11) - 5.0
    g = np.exp(-t**2 / (2 * 1.5**2))
    w = np.outer(g, g)
    w /= w.sum()
    c1, c2 = (0.01 * d) ** 2, (0.03 * d) ** 2
    vals = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            a, b = x[i:i + 11, j:j + 11], y[i:i + 11, j:j + 11]
            ma, mb = (w * a).sum(), (w * b).sum()
            va = (w * (a - ma) ** 2).sum()
            vb = (w * (b - mb) ** 2).sum()
            cab = (w * (a - ma) * (b - mb)).sum()
            vals.append((2 * ma * mb + c1) * (2 * cab + c2)
                        / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return np.mean(vals)


def test_ssim_matches_loop_and_identity():
    rng = np.random.default_rng(14)
    gt = rng.uniform(0, 255, (2, 16, 15))
    fused = gt + rng.normal(0, 30, gt.shape)
    expected = np.mean([ssim_loop(fused[b], gt[b], 255.0) for b in range(2)])
    assert ssim(fused, gt, data_range=255.0) == pytest.approx(expected, abs=1e-10)
    assert ssim(gt, gt, data_range=255.0) == pytest.approx(1.0, abs=1e-12)
    assert ssim(gt, gt) == pytest.approx(1.0, abs=1e-12)


def test_ssim_mask_drops_windows():
    rng = np.random.default_rng(15)
    gt = rng.uniform(0, 1, (1, 30, 12))
    fused = gt + rng.normal(0, 0.05, gt.shape)
    bad = fused.copy()
    bad[0, 25:, :] = 50.0
    mask = np.ones((30, 12), dtype=bool)
    mask[25:, :] = False  # only windows with rows 0..24 remain: rows 0..14 as top-left
    expected = ssim_loop(bad[0, :25], gt[0, :25], 1.0)
    assert ssim(bad, gt, data_range=1.0, mask=mask) == pytest.approx(expected, abs=1e-10)


# --- SAM ---------------------------------------------------------------------------------


def test_sam_of_a_known_angle():
    gt = np.zeros((2, 4, 4))
    gt[0] = 3.0  # spectrum (3, 0)
    fused = np.zeros((2, 4, 4))
    fused[0] = 2.0
    fused[1] = 2.0  # spectrum (2, 2): 45 degrees everywhere
    assert sam(fused, gt) == pytest.approx(45.0, abs=1e-10)
    fused[1, :2] = 0.0  # half the pixels at 0 degrees -> mean 22.5
    assert sam(fused, gt) == pytest.approx(22.5, abs=1e-10)
    # a zero-norm pixel is excluded, not counted as 0 or 90 degrees
    f2 = np.zeros((2, 1, 3))
    g2 = np.ones((2, 1, 3))
    f2[:, 0, 0] = [1.0, 0.0]   # 45 degrees
    f2[:, 0, 1] = [0.0, 0.0]   # zero norm: excluded
    f2[:, 0, 2] = [1.0, 1.0]   # 0 degrees
    assert sam(f2, g2) == pytest.approx(22.5, abs=1e-10)


def test_sam_constant_gain_is_zero_and_mask(pair):
    fused, gt = pair
    assert sam(1.7 * gt, gt) == pytest.approx(0.0, abs=1e-6)
    assert sam(gt, gt) == pytest.approx(0.0, abs=1e-6)
    bad = 1.7 * gt
    bad[:, 0, 0] = [1.0, 0.0, 0.0, 0.0]
    mask = np.ones(gt.shape[1:], dtype=bool)
    mask[0, 0] = False
    assert sam(bad, gt) > 0.01
    assert sam(bad, gt, mask=mask) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(InputError, match="zero spectrum"):
        sam(np.zeros((2, 3, 3)), np.ones((2, 3, 3)))


# --- ERGAS, CC, SCC -----------------------------------------------------------------------


def test_ergas_hand_example():
    gt = np.stack([np.full((4, 4), 10.0), np.full((4, 4), 20.0)])
    fused = gt.copy()
    fused[0] += 1.0  # RMSE 1 / mean 10 = 0.1
    fused[1] -= 4.0  # RMSE 4 / mean 20 = 0.2
    # 100/4 * sqrt((0.01 + 0.04) / 2) = 25 * sqrt(0.025)
    assert ergas(fused, gt, 4) == pytest.approx(25.0 * np.sqrt(0.025), abs=1e-12)
    assert ergas(fused, gt, 2) == pytest.approx(50.0 * np.sqrt(0.025), abs=1e-12)
    assert ergas(gt, gt, 4) == 0.0
    zero_mean = np.zeros((1, 4, 4))
    assert ergas(zero_mean + 1.0, zero_mean, 4) == np.inf


def test_cc_matches_numpy(pair):
    fused, gt = pair
    expected = np.mean([np.corrcoef(fused[b].ravel(), gt[b].ravel())[0, 1] for b in range(4)])
    assert cc(fused, gt) == pytest.approx(expected, abs=1e-12)
    assert cc(gt, gt) == pytest.approx(1.0, abs=1e-12)
    assert cc(-gt, gt) == pytest.approx(-1.0, abs=1e-12)
    flat = np.full((1, 5, 5), 7.0)
    assert cc(flat, flat) == 1.0
    assert cc(flat, gt[:1, :5, :5]) == 0.0


def scc_loop(f, g):
    """Toolbox SCC written plainly: crop 1 px, Sobel 'same' with zero padding, uncentred."""
    k = np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])

    def mag(band):
        core = band[1:-1, 1:-1]
        p = np.pad(core, 1)
        gy = np.zeros_like(core)
        gx = np.zeros_like(core)
        for i in range(core.shape[0]):
            for j in range(core.shape[1]):
                win = p[i:i + 3, j:j + 3]
                gy[i, j] = (win * k).sum()
                gx[i, j] = (win * k.T).sum()
        return np.sqrt(gx**2 + gy**2)

    fm = np.stack([mag(b) for b in f])
    gm = np.stack([mag(b) for b in g])
    return (fm * gm).sum() / np.sqrt((fm**2).sum() * (gm**2).sum())


def test_scc_matches_loop_and_invariances(pair):
    fused, gt = pair
    small_f, small_g = fused[:2, :12, :10], gt[:2, :12, :10]
    assert scc(small_f, small_g) == pytest.approx(scc_loop(small_f, small_g), abs=1e-12)
    assert scc(gt, gt) == pytest.approx(1.0, abs=1e-12)
    # gain-invariant; not offset-invariant (zero padding at the border, as the toolbox)
    assert scc(3.0 * fused, gt) == pytest.approx(scc(fused, gt), abs=1e-12)
    zero = np.zeros((1, 6, 6))  # no edge at all, even against the zero padding
    assert scc(zero, zero) == 1.0
    assert scc(zero, gt[:1, :6, :6]) == 0.0


# --- Q2n and the report --------------------------------------------------------------------


def test_report_on_identical_images(pair):
    _, gt = pair
    r = reduced_resolution_report(gt, gt, 4, block_size=8)
    assert set(r) == {"Q2N", "SAM", "ERGAS", "SCC", "Q_AVG", "PSNR", "SSIM", "CC"}
    assert all(isinstance(v, float) for v in r.values())
    assert r["Q2N"] == pytest.approx(1.0, abs=1e-12)
    assert r["Q_AVG"] == pytest.approx(1.0, abs=1e-12)
    assert r["SSIM"] == pytest.approx(1.0, abs=1e-12)
    assert r["SAM"] == pytest.approx(0.0, abs=1e-6)
    assert r["ERGAS"] == 0.0
    assert r["SCC"] == pytest.approx(1.0, abs=1e-12)
    assert r["CC"] == pytest.approx(1.0, abs=1e-12)
    assert r["PSNR"] == np.inf


def test_report_matches_the_individual_indices(pair):
    fused, gt = pair
    mask = np.ones(gt.shape[1:], dtype=bool)
    mask[30:, 30:] = False
    r = reduced_resolution_report(fused, gt, 4, peak=1000.0, block_size=8, mask=mask)
    assert r["Q2N"] == q2n(fused, gt, 8, mask=mask)
    assert r["SAM"] == sam(fused, gt, mask=mask)
    assert r["ERGAS"] == ergas(fused, gt, 4, mask=mask)
    assert r["Q_AVG"] == q_avg(fused, gt, 8, mask=mask)
    assert r["PSNR"] == psnr(fused, gt, 1000.0, mask=mask)
    assert r["SSIM"] == ssim(fused, gt, 1000.0, mask=mask)
    assert r["CC"] == cc(fused, gt, mask=mask)
    assert r["SCC"] == scc(fused, gt, mask=mask)


def _load_patch():
    import scipy.io

    try:
        data = scipy.io.loadmat(str(PATCH))
        get = lambda k: np.asarray(data[k])  # noqa: E731
    except NotImplementedError:  # MATLAB v7.3 (HDF5)
        import h5py

        f = h5py.File(PATCH, "r")
        get = lambda k: np.asarray(f[k]).T  # noqa: E731
    gt = get("gt")[0].transpose(2, 0, 1).astype(np.float64)
    lms = get("lms")[0].transpose(2, 0, 1).astype(np.float64)
    ms = get("ms")[0].transpose(2, 0, 1).astype(np.float64)
    pan = get("pan")[0].astype(np.float64)
    return gt, lms, ms, pan


@pytest.mark.skipif(not PATCH.exists(), reason="shared WV3 RR patch not available")
def test_real_wv3_patch_plumbing():
    gt, lms, ms, pan = _load_patch()
    assert gt.shape == (8, 64, 64) and lms.shape == (8, 64, 64) and ms.shape == (8, 16, 16)
    assert pan.shape == (64, 64)
    q_lms = q2n(lms, gt)
    assert 0.0 < q_lms < 1.0
    assert q2n(gt, gt) == pytest.approx(1.0, abs=1e-12)
    r = reduced_resolution_report(lms, gt, 4, peak=2047.0)
    assert r["Q2N"] == q_lms
    assert 0.0 < r["Q_AVG"] < 1.0
    assert 0.0 < r["SAM"] < 30.0
    assert 0.0 < r["ERGAS"] < 50.0
    assert 0.0 < r["SCC"] < 1.0
    assert 0.0 < r["SSIM"] < 1.0
    assert 0.0 < r["CC"] <= 1.0
    assert 15.0 < r["PSNR"] < 80.0
    # pixel replication of the MS (blockier than the patch's lms) scores worse
    blocky = np.repeat(np.repeat(ms, 4, axis=1), 4, axis=2)
    rb = reduced_resolution_report(blocky, gt, 4, peak=2047.0)
    assert rb["Q2N"] < r["Q2N"] and rb["Q_AVG"] < r["Q_AVG"]
    assert rb["ERGAS"] > r["ERGAS"] and rb["SCC"] < r["SCC"]
    assert reduced_resolution_report(gt, gt, 4, peak=2047.0)["Q2N"] == pytest.approx(1.0)
