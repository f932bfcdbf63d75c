"""Full-resolution indices: ideal cases, plain per-block loops, masks, errors, a real patch."""

import os
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from engine.errors import InputError
from engine.filters import imresize_bicubic, interp23tap, mtf_filter
from engine.metrics import (
    d_lambda, d_lambda_k, d_rho, d_s, full_resolution_report, hqnr, q2n, qnr,
)

PATCH = (Path(os.environ.get("PANTINY_DATA")
         or Path(__file__).resolve().parents[2].parent / "shared" / "data")
         / "wv3-rr-patches" / "train.mat")
WV3_GNYQ = [0.325, 0.355, 0.360, 0.350, 0.365, 0.360, 0.335, 0.315]


def uiqi_loop(x, y):
    x = np.asarray(x, float).ravel()
    y = np.asarray(y, float).ravel()
    mx, my = x.mean(), y.mean()
    vx, vy = ((x - mx) ** 2).mean(), ((y - my) ** 2).mean()
    cxy = ((x - mx) * (y - my)).mean()
    d1, d2 = vx + vy, mx**2 + my**2
    if d1 == 0 and d2 != 0:
        return 2 * mx * my / d2
    if d1 * d2 == 0:
        return 1.0
    return 4 * cxy * mx * my / (d1 * d2)


def q_blocks_loop(x, y, s, mask=None, scale=1):
    """Mean UIQI over distinct s x s blocks (cropped); mask is at scale*s resolution."""
    vals = []
    for i in range(0, (x.shape[0] // s) * s, s):
        for j in range(0, (x.shape[1] // s) * s, s):
            if mask is not None:
                fi, fj, fs = i * scale, j * scale, s * scale
                if not mask[fi:fi + fs, fj:fj + fs].all():
                    continue
            vals.append(uiqi_loop(x[i:i + s, j:j + s], y[i:i + s, j:j + s]))
    return np.mean(vals)


def fr_loop(f, p, m, r, s, variant, mask=None):
    """(D_lambda, D_s) by the formulas, one block at a time."""
    bands = f.shape[0]
    hc, wc = (f.shape[1] // s) * s, (f.shape[2] // s) * s
    f, pc = f[:, :hc, :wc], p[:hc, :wc]
    p_lr = imresize_bicubic(p, 1 / r)
    if variant == "original":
        ref = m[:, :hc // r, :wc // r]
        ref_p = p_lr[:hc // r, :wc // r]
        rs, scale = s // r, r
    else:
        ref = interp23tap(m, r)[:, :hc, :wc]
        ref_p = interp23tap(p_lr, r)[:hc, :wc]
        rs, scale = s, 1
    dl = []
    for a in range(bands):
        for b in range(bands):
            if a != b:
                dl.append(abs(q_blocks_loop(f[a], f[b], s, mask)
                              - q_blocks_loop(ref[a], ref[b], rs, mask, scale)))
    ds = [abs(q_blocks_loop(f[a], pc, s, mask) - q_blocks_loop(ref[a], ref_p, rs, mask, scale))
          for a in range(bands)]
    return np.mean(dl), np.mean(ds)


def scene(bands=3, h=72, w=72, r=4, seed=0):
    rng = np.random.default_rng(seed)
    base = ndimage.gaussian_filter(rng.normal(size=(h, w)), 2.0)
    base /= base.std()
    f = np.stack([500 + 120 * (1 + 0.2 * b) * base
                  + 40 * ndimage.gaussian_filter(rng.normal(size=(h, w)), 1.0)
                  for b in range(bands)])
    p = f.mean(axis=0) + rng.normal(0, 10, (h, w))
    m = ndimage.uniform_filter(f, (1, r, r))[:, r // 2::r, r // 2::r]
    fused = f + rng.normal(0, 15, f.shape)
    return fused, p, m


@pytest.mark.parametrize("variant", ["original", "toolbox"])
def test_d_lambda_and_d_s_match_the_block_loop(variant):
    f, p, m = scene()  # 72x72 with S = 16: cropped to 64x64 (MS 16x16, blocks 4x4)
    dl, ds = fr_loop(f, p, m, 4, 16, variant)
    assert d_lambda(f, m, 4, 16, variant) == pytest.approx(dl, abs=1e-9)
    assert d_s(f, p, m, 4, 16, variant) == pytest.approx(ds, abs=1e-9)
    assert qnr(f, p, m, 4, 16, variant) == pytest.approx((1 - dl) * (1 - ds), abs=1e-9)
    assert 0 < dl < 1 and 0 < ds < 1


def test_default_blocks_32_match_the_loop():
    f, p, m = scene(bands=2, h=64, w=96, seed=1)
    dl, ds = fr_loop(f, p, m, 4, 32, "original")
    assert d_lambda(f, m, 4) == pytest.approx(dl, abs=1e-9)
    assert d_s(f, p, m, 4) == pytest.approx(ds, abs=1e-9)


@pytest.mark.parametrize("variant", ["original", "toolbox"])
def test_ideal_case_gives_zero_distortion(variant):
    # F_l = c_l P and M_l = c_l P_LR: every Q(F_l, F_r), Q(F_l, P) equals its MS-side twin
    rng = np.random.default_rng(2)
    p = 300 + 100 * ndimage.gaussian_filter(rng.normal(size=(64, 64)), 2.0) \
        + rng.normal(0, 5, (64, 64))
    c = np.array([0.5, 0.8, 1.3])[:, None, None]
    f = c * p
    m = c * imresize_bicubic(p, 0.25)
    assert d_lambda(f, m, 4, 16, variant) == pytest.approx(0.0, abs=1e-12)
    assert d_s(f, p, m, 4, 16, variant) == pytest.approx(0.0, abs=1e-12)
    assert qnr(f, p, m, 4, 16, variant) == pytest.approx(1.0, abs=1e-12)


def test_replicated_ms_has_zero_original_d_lambda_and_exp_zero_toolbox_d_lambda():
    _, _, m = scene(seed=3)
    replicated = np.repeat(np.repeat(m, 4, axis=1), 4, axis=2)  # same block statistics
    assert d_lambda(replicated, m, 4, 16) == pytest.approx(0.0, abs=1e-12)
    assert d_lambda(interp23tap(m, 4), m, 4, 16, "toolbox") == pytest.approx(0.0, abs=1e-12)
    assert d_lambda(replicated, m, 4, 16, "toolbox") > 1e-4


@pytest.mark.parametrize("variant", ["original", "toolbox"])
def test_flat_blocks_follow_img_qi_and_never_give_nan(variant):
    f, p, m = scene(seed=4)
    levels = np.array([2047.0, 1500.0, 900.0])[:, None, None]
    f[:, :16, :16] = levels     # flat (saturated / clipped) blocks, different per band
    p[:16, :16] = 1800.0
    m[:, :4, :4] = levels
    m[:, 4:8, 8:12] = levels    # flat only on the MS side
    dl, ds = fr_loop(f, p, m, 4, 16, variant)
    got_dl = d_lambda(f, m, 4, 16, variant)
    got_ds = d_s(f, p, m, 4, 16, variant)
    assert np.isfinite(got_dl) and np.isfinite(got_ds)
    assert got_dl == pytest.approx(dl, abs=1e-9)
    assert got_ds == pytest.approx(ds, abs=1e-9)


@pytest.mark.parametrize("variant", ["original", "toolbox"])
def test_mask_excludes_blocks(variant):
    f, p, m = scene(seed=5)
    f[:, 20:23, 40:44] = 0.0    # nodata in the fused image
    mask = np.ones(p.shape, dtype=bool)
    mask[20:23, 40:44] = False
    dl, ds = fr_loop(f, p, m, 4, 16, variant, mask)
    assert d_lambda(f, m, 4, 16, variant, mask=mask) == pytest.approx(dl, abs=1e-9)
    assert d_s(f, p, m, 4, 16, variant, mask=mask) == pytest.approx(ds, abs=1e-9)
    assert d_lambda(f, m, 4, 16, variant) != pytest.approx(dl, abs=1e-4)


def test_d_lambda_k_is_one_minus_q2n_against_exp():
    f, p, m = scene(bands=4, h=64, w=64, seed=6)
    g = [0.34, 0.32, 0.30, 0.22]
    expected = 1 - q2n(mtf_filter(f, g, 4, convention="toolbox"), interp23tap(m, 4), 32)
    assert d_lambda_k(f, m, 4, g) == pytest.approx(expected, abs=1e-12)
    assert 0 < expected < 1
    assert d_lambda_k(f, m, 4, 0.3) == pytest.approx(
        d_lambda_k(f, m, 4, [0.3] * 4), abs=1e-12)
    assert hqnr(f, p, m, 4, g) == pytest.approx(
        (1 - expected) * (1 - d_s(f, p, m, 4, variant="toolbox")), abs=1e-12)


def test_full_resolution_report_is_consistent():
    f, p, m = scene(bands=4, h=64, w=64, seed=7)
    g = [0.34, 0.32, 0.30, 0.22]
    mask = np.ones(p.shape, dtype=bool)
    mask[50:, :10] = False
    r = full_resolution_report(f, p, m, 4, g, mask=mask)
    assert list(r) == ["D_LAMBDA", "D_S", "QNR", "D_LAMBDA_K", "D_S_TOOLBOX", "HQNR", "D_RHO"]
    assert all(type(v) is float for v in r.values())
    assert r["D_LAMBDA"] == pytest.approx(d_lambda(f, m, 4, mask=mask), abs=1e-14)
    assert r["D_S"] == pytest.approx(d_s(f, p, m, 4, mask=mask), abs=1e-14)
    assert r["QNR"] == pytest.approx(qnr(f, p, m, 4, mask=mask), abs=1e-14)
    assert r["D_LAMBDA_K"] == pytest.approx(d_lambda_k(f, m, 4, g, mask=mask), abs=1e-14)
    assert r["D_S_TOOLBOX"] == pytest.approx(d_s(f, p, m, 4, variant="toolbox", mask=mask),
                                             abs=1e-14)
    assert r["HQNR"] == pytest.approx(hqnr(f, p, m, 4, g, mask=mask), abs=1e-14)
    assert r["D_RHO"] == pytest.approx(d_rho(f, p, 4, mask=mask), abs=1e-14)


# --- D_rho -----------------------------------------------------------------------------


def d_rho_loop(f, p, r, mask=None):
    vals = []
    for b in range(f.shape[0]):
        for i in range(p.shape[0] - r + 1):
            for j in range(p.shape[1] - r + 1):
                if mask is not None and not mask[i:i + r, j:j + r].all():
                    continue
                x = f[b, i:i + r, j:j + r].ravel()
                y = p[i:i + r, j:j + r].ravel()
                vx, vy = x.var(), y.var()
                if vx == 0 and vy == 0:
                    rho = 1.0
                elif vx == 0 or vy == 0:
                    rho = 0.0
                else:
                    rho = np.mean((x - x.mean()) * (y - y.mean())) / np.sqrt(vx * vy)
                vals.append(1 - np.clip(rho, -1, 1))
    return np.mean(vals)


def test_d_rho_matches_loop_and_ideal_values():
    rng = np.random.default_rng(8)
    p = rng.uniform(0, 100, (20, 22))
    f = np.stack([p + rng.normal(0, 20, p.shape), 2 * p + rng.normal(0, 5, p.shape)])
    f[0, :4, :4] = 7.0          # flat in F only -> rho 0
    p2 = p.copy()
    p2[10:15, 10:15] = 3.0
    f[1, 10:15, 10:15] = 9.0    # flat in both -> rho 1
    assert d_rho(f, p2, 4) == pytest.approx(d_rho_loop(f, p2, 4), abs=1e-10)
    assert d_rho(f, p2, 2) == pytest.approx(d_rho_loop(f, p2, 2), abs=1e-10)
    assert d_rho(3 * p[None] + 10, p, 4) == pytest.approx(0.0, abs=1e-12)
    assert d_rho(-p[None], p, 4) == pytest.approx(2.0, abs=1e-12)
    mask = np.ones(p.shape, dtype=bool)
    mask[5, 5] = False
    assert d_rho(f, p2, 4, mask=mask) == pytest.approx(d_rho_loop(f, p2, 4, mask), abs=1e-10)


# --- errors ----------------------------------------------------------------------------


def test_input_errors_are_clear():
    f, p, m = scene(bands=3, h=64, w=64)
    with pytest.raises(InputError, match="bands"):
        qnr(f[:2], p, m, 4)
    with pytest.raises(InputError, match="pan"):
        qnr(f, p[:60], m, 4)
    with pytest.raises(InputError, match="ratio mismatch"):
        qnr(f, p, m, 2)
    with pytest.raises(InputError, match="ratio mismatch"):
        d_lambda(f, m, 8)
    with pytest.raises(InputError, match="smaller than one"):
        qnr(f[:, :16, :16], p[:16, :16], m[:, :4, :4], 4)
    with pytest.raises(InputError, match="multiple of the ratio"):
        qnr(f, p, m, 4, block_size=18)
    bad = f.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        qnr(bad, p, m, 4)
    with pytest.raises(InputError, match="mask"):
        qnr(f, p, m, 4, mask=np.ones((16, 16), dtype=bool))
    with pytest.raises(InputError, match="gnyq"):
        d_lambda_k(f, m, 4, [0.3, 0.3])
    with pytest.raises(InputError, match="variant"):
        qnr(f, p, m, 4, variant="pantiny")
    with pytest.raises(InputError, match="power of 2"):
        qnr(np.ones((3, 48, 48)) + f[:, :48, :48], p[:48, :48], np.ones((3, 16, 16)), 3,
            block_size=24, variant="toolbox")
    with pytest.raises(InputError, match="power of 2"):
        full_resolution_report(f[:, :48, :48], p[:48, :48], np.ones((3, 16, 16)), 3, 0.3,
                               block_size=24)
    allbad = np.zeros(p.shape, dtype=bool)
    with pytest.raises(InputError, match="invalid"):
        qnr(f, p, m, 4, mask=allbad)


# --- real data -------------------------------------------------------------------------


@pytest.mark.skipif(not PATCH.exists(), reason="shared WV3 RR patch not available")
def test_real_wv3_patch_full_resolution_plumbing():
    import scipy.io

    try:
        data = scipy.io.loadmat(str(PATCH))
        get = lambda k: np.asarray(data[k])  # noqa: E731
    except NotImplementedError:  # MATLAB v7.3
        import h5py

        h5 = h5py.File(PATCH, "r")
        get = lambda k: np.asarray(h5[k]).T  # noqa: E731
    gt = get("gt")[0].transpose(2, 0, 1).astype(float)
    lms = get("lms")[0].transpose(2, 0, 1).astype(float)
    ms = get("ms")[0].transpose(2, 0, 1).astype(float)
    pan = get("pan")[0].astype(float)
    r_gt = full_resolution_report(gt, pan, ms, 4, WV3_GNYQ)
    r_lms = full_resolution_report(lms, pan, ms, 4, WV3_GNYQ)
    for r in (r_gt, r_lms):
        assert all(np.isfinite(v) for v in r.values())
        assert 0 <= r["D_LAMBDA"] < 1 and 0 <= r["D_S"] < 1 and 0 < r["QNR"] <= 1
        assert 0 < r["HQNR"] <= 1 and 0 <= r["D_RHO"] <= 2
    # the GT (real detail, consistent with this PAN) beats the interpolated MS spatially
    assert r_gt["D_S"] < r_lms["D_S"]
    assert r_gt["QNR"] > r_lms["QNR"] and r_gt["HQNR"] > r_lms["HQNR"]
    assert r_gt["D_RHO"] < r_lms["D_RHO"]
    # interpolation keeps the spectral relations of the MS: small original D_lambda
    assert r_lms["D_LAMBDA"] < 0.01
