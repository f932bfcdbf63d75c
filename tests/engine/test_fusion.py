"""Classical fusion methods (engine.fusion): analytic checks, nodata, guards, real RR scene."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from engine.errors import InputError
from engine.filters import decimate, interp23tap, mtf_filter
from engine.fusion import METHODS, apply, estimate, fuse, make_config
from engine.fusion.common import modulate
from engine.fusion.gsa import regression_weights
from engine.fusion.stats import FusionStatistics, MomentAccumulator
from engine.io.grid import Alignment
from engine.io.placement import ms_to_pan_grid

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
R = 4
GNYQ = (0.3, 0.32, 0.34, 0.28)
PAN_GNYQ = 0.15
ALL = sorted(METHODS)


def scene(seed=0, h=32, w=32, C=4):
    """A synthetic RR pair: ``pan (R h, R w)``, ``ms_lr (C, h, w)``, ``ms_up``."""
    rng = np.random.default_rng(seed)
    pan = ndimage.gaussian_filter(rng.random((R * h, R * w)), 1.5) * 400 + 100
    base = decimate(mtf_filter(pan, 0.3, R), R)          # MS sees a blurred scene
    ms_lr = np.stack([base * (0.5 + 0.2 * b) + 20 * b for b in range(C)])
    ms_lr += ndimage.gaussian_filter(rng.random(ms_lr.shape), (0, 3, 3)) * 30
    ms_up = interp23tap(ms_lr, R)
    return pan, ms_lr, ms_up


def test_registry_ids():
    assert set(METHODS) == {"exp", "brovey", "brovey_gdal", "gsa", "mtf_glp", "mtf_glp_hpm"}
    pan, ms_lr, ms_up = scene()
    with pytest.raises(InputError, match="unknown fusion method"):
        fuse("ihs", pan, ms_up, ms_lr, R, GNYQ, PAN_GNYQ)


@pytest.mark.parametrize("method", ALL)
def test_shapes_and_dtype(method):
    pan, ms_lr, ms_up = scene()
    out = fuse(method, pan.astype(np.float32), ms_up.astype(np.float32), ms_lr, R, GNYQ,
               PAN_GNYQ)
    assert out.shape == ms_up.shape and out.dtype == np.float64
    assert np.isfinite(out).all()


@pytest.mark.parametrize("method", [m for m in ALL if m != "brovey_gdal"])
def test_constant_inputs_stay_constant(method):
    """(GDAL's Brovey does not equalise the PAN, so it scales by PAN / intensity: its
    own test checks GDAL's documented behaviour.)"""
    pan = np.full((64, 64), 50.0)
    ms_lr = np.stack([np.full((16, 16), v) for v in (10.0, 20.0, 30.0, 40.0)])
    ms_up = ms_to_pan_grid(ms_lr, Alignment(R), (64, 64), phase="toolbox")
    out = fuse(method, pan, ms_up, ms_lr, R, GNYQ, PAN_GNYQ)
    for b, v in enumerate((10.0, 20.0, 30.0, 40.0)):
        np.testing.assert_allclose(out[b], v, rtol=1e-8)


def test_exp_returns_ms_up():
    pan, ms_lr, ms_up = scene()
    np.testing.assert_array_equal(fuse("exp", pan, ms_up, ms_lr, R, GNYQ, PAN_GNYQ), ms_up)


def test_brovey_reproduces_bands_proportional_to_pan():
    pan, _, _ = scene(1)
    k = np.array([0.4, 0.9, 1.3, 2.0])
    ms_up = k[:, None, None] * pan[None]
    out = fuse("brovey", pan, ms_up, None, R, GNYQ, PAN_GNYQ)
    np.testing.assert_allclose(out, ms_up, rtol=1e-10)


def test_brovey_formula():
    pan, ms_lr, ms_up = scene(2)
    out = fuse("brovey", pan, ms_up, ms_lr, R, GNYQ, PAN_GNYQ)
    i = ms_up.mean(0)
    p_eq = (pan - pan.mean()) * i.std() / pan.std() + i.mean()
    np.testing.assert_allclose(out, ms_up * p_eq / i, rtol=1e-10)


@pytest.mark.parametrize("method", ["brovey", "gsa", "mtf_glp", "mtf_glp_hpm"])
def test_pan_equal_to_intensity_changes_little(method):
    """If the PAN carries no detail beyond the upsampled MS, fusion adds (almost) nothing;
    a textured PAN changes the result much more."""
    pan, ms_lr, ms_up = scene(3)
    flat_pan = ms_up.mean(0)
    quiet = fuse(method, flat_pan, ms_up, ms_lr, R, GNYQ, PAN_GNYQ)
    loud = fuse(method, pan, ms_up, ms_lr, R, GNYQ, PAN_GNYQ)
    rel_quiet = np.abs(quiet - ms_up).mean() / ms_up.mean()
    rel_loud = np.abs(loud - ms_up).mean() / ms_up.mean()
    assert rel_quiet < (1e-3 if method in ("brovey", "gsa") else 1e-2)
    assert rel_loud > 1.5 * rel_quiet
    if method == "brovey":
        np.testing.assert_allclose(quiet, ms_up, rtol=1e-10)


def test_gsa_regression_recovers_known_weights():
    rng = np.random.default_rng(4)
    ms_lr = rng.random((4, 40, 40)) * 100
    w_true = np.array([0.1, 0.3, 0.2, 0.4])
    pan_d = np.tensordot(w_true, ms_lr, axes=1) + 7.0
    cfg = make_config(R, GNYQ, PAN_GNYQ, 4)
    stats = FusionStatistics(4, cfg, need_lr=True)
    ok = np.ones((40, 40), bool)
    # Feed the samples in three blocks: the accumulator must not care.
    for rows in (slice(0, 13), slice(13, 31), slice(31, 40)):
        stats.add_lr_samples(pan_d[rows], ms_lr[:, rows], ok[rows])
    w, w0 = regression_weights(stats)
    np.testing.assert_allclose(w, w_true, rtol=1e-9)
    assert w0 == pytest.approx(7.0, rel=1e-9)


def test_gsa_parameters_match_direct_formulas():
    pan, ms_lr, ms_up = scene(5)
    p = estimate("gsa", pan, ms_up, ms_lr, R, GNYQ, PAN_GNYQ)
    w = np.asarray(p.values["weights"])
    i = np.tensordot(w, ms_up, axes=1) + p.values["w0"]
    gains = [np.cov(i.ravel(), ms_up[b].ravel(), bias=True)[0, 1] / i.var() for b in range(4)]
    np.testing.assert_allclose(p.values["gains"], gains, rtol=1e-9)
    out = apply(p, pan, ms_up)
    p_eq = (pan - pan.mean()) * i.std() / pan.std() + i.mean()
    np.testing.assert_allclose(out, ms_up + np.asarray(gains)[:, None, None] * (p_eq - i),
                               rtol=1e-9)
    # ms_lr in toolbox registration and samples of interp23tap(ms_lr) are the same data.
    p2 = estimate("gsa", pan, ms_up, None, R, GNYQ, PAN_GNYQ)
    np.testing.assert_allclose(p2.values["weights"], p.values["weights"], rtol=1e-6)
    with pytest.raises(InputError, match="ms_lr"):
        estimate("gsa", pan, ms_up, ms_lr[:, :-1], R, GNYQ, PAN_GNYQ)


def test_moment_accumulator_blockwise_equals_numpy():
    rng = np.random.default_rng(6)
    x = rng.random((3, 1000)) * 1e4 + 5e4
    acc = MomentAccumulator(3)
    for s in np.array_split(np.arange(1000), 7):
        acc.add(x[:, s])
    np.testing.assert_allclose(acc.mean, x.mean(1), rtol=1e-13)
    np.testing.assert_allclose(acc.cov, np.cov(x, bias=True), rtol=1e-9)
    a, b = MomentAccumulator(3), MomentAccumulator(3)
    a.add(x[:, :300])
    b.add(x[:, 300:] + 0.0)
    a.merge(b)
    np.testing.assert_allclose(a.cov, np.cov(x, bias=True), rtol=1e-9)
    with pytest.raises(InputError, match="no valid pixel"):
        MomentAccumulator(2).mean


@pytest.mark.parametrize("method", ALL)
def test_nodata_never_enters_statistics_and_comes_out_invalid(method):
    pan, ms_lr, ms_up = scene(7)
    valid = np.ones(pan.shape, bool)
    valid[40:60, 10:50] = False
    pan_a, pan_b = pan.copy(), pan.copy()
    pan_a[~valid] = 0.0
    pan_b[~valid] = 1e9
    ms_a = ms_up.copy()
    ms_a[:, 90:95, 90:97] = np.nan         # NaN in the MS is nodata too
    out_a = fuse(method, pan_a, ms_a, None, R, GNYQ, PAN_GNYQ, valid=valid)
    out_b = fuse(method, pan_b, ms_a, None, R, GNYQ, PAN_GNYQ, valid=valid)
    bad = ~valid
    bad[90:95, 90:97] = True
    assert np.isnan(out_a[:, bad]).all()
    assert np.isfinite(out_a[:, ~bad]).all()
    np.testing.assert_allclose(out_a[:, ~bad], out_b[:, ~bad], rtol=1e-12)
    # Statistics equal those computed over the valid pixels only.
    p = estimate(method, pan_a, ms_a, None, R, GNYQ, PAN_GNYQ, valid=valid)
    if method in ("mtf_glp", "mtf_glp_hpm"):
        ok = ~bad
        sd_p, sd_0 = pan[ok].std(), ms_up[0][ok].std()
        assert p.values["pan_gain"][0] == pytest.approx(sd_0 / sd_p, rel=1e-9)


def display_scene():
    """8-bit-like scene: black PAN block, MS clipped at 0 (display zeros), interp23tap
    ringing below 0 next to the zeros."""
    rng = np.random.default_rng(8)
    base = ndimage.gaussian_filter(rng.random((128, 128)), 3)
    base = (base - base.min()) / (base.max() - base.min())
    pan = np.round(30 + 220 * base)
    pan[30:50, 30:50] = 0.0
    ms_lr = np.stack([np.clip(255 * (decimate(mtf_filter(base, 0.3, R), R) - 0.2 * k) / 0.6,
                              0, 255) for k in range(4)])
    return pan, ms_lr, interp23tap(ms_lr, R)


@pytest.mark.parametrize("method", ["brovey", "mtf_glp_hpm"])
def test_multiplicative_guard_on_zeros(method):
    """Near-zero denominators: the published ratio explodes, the guarded one does not."""
    pan, _, ms_up = display_scene()
    # Ringing can make the intensity ~0 while the bands are not.
    ms_up[:, 100, 100] = (30.0, -10.0, -10.0, -9.99)
    raw = fuse(method, pan, ms_up, None, R, GNYQ, PAN_GNYQ, eps_rel=0.0, max_ratio=np.inf)
    out = fuse(method, pan, ms_up, None, R, GNYQ, PAN_GNYQ)       # eps_rel 0.01, max_ratio 5
    assert np.isfinite(out).all()
    assert not np.isfinite(raw).all() or np.abs(raw).max() > 10 * np.abs(out).max()
    span = np.abs(ms_up).max() + 255.0
    assert np.abs(out).max() <= 5.0 * span
    # Elsewhere the guard changes nothing.
    same = np.isclose(out, raw, rtol=1e-12, atol=0)
    assert same.mean() > 0.97


def test_modulate_guard_rules():
    m = np.array([10.0, 10.0, 10.0, 10.0])
    num = np.array([20.0, 200.0, -5.0, 3.0])
    den = np.array([10.0, 10.0, 10.0, 0.5])
    out = modulate(m, num, den, tau=1.0, max_ratio=5.0)
    # ratio 2; ratio 20 clipped to 5; negative ratio clipped to 0; den <= tau -> additive.
    np.testing.assert_allclose(out, [20.0, 50.0, 0.0, 10.0 + 2.5])


def test_valid_mask_shape_is_checked():
    pan, ms_lr, ms_up = scene()
    with pytest.raises(InputError, match="valid mask"):
        fuse("exp", pan, ms_up, None, R, GNYQ, PAN_GNYQ, valid=np.ones((3, 3), bool))
    with pytest.raises(InputError, match="PAN grid"):
        fuse("exp", pan[:-1], ms_up, None, R, GNYQ, PAN_GNYQ)


# ---------------------------------------------------------------- real scene (Wald RR)

def _quality():
    """(name, function(fused, gt) -> higher is better)."""
    try:
        from engine.metrics import q2n
    except ImportError:
        q2n = None
    if q2n is not None:
        return "q2n", lambda f, g: float(np.asarray(q2n(f, g, block_size=32)).ravel()[0])

    def cc(f, g):
        return float(np.mean([np.corrcoef(f[b].ravel(), g[b].ravel())[0, 1]
                              for b in range(f.shape[0])]))
    return "cc", cc


def test_wv3_shanghai_reduced_resolution_gsa_and_hpm_beat_exp():
    gdal = pytest.importorskip("osgeo.gdal")
    from engine.sensors import get_sensor
    from engine.wald import wald_pair
    folder = DATA / "wv3-shanghai"
    pan_ds = gdal.Open(str(folder / "PAN_AOI_4_Shanghai_img1920.tif"))
    ms_ds = gdal.Open(str(folder / "MUL_AOI_4_Shanghai_img1920.tif"))
    if pan_ds is None or ms_ds is None:
        pytest.skip("wv3-shanghai is not available")
    pan = pan_ds.ReadAsArray().astype(np.float64)
    ms = ms_ds.ReadAsArray().astype(np.float64)[[1, 2, 4, 6]]      # B, G, R, NIR1
    s = get_sensor("wv3")
    gnyq = s.gnyq(4)
    pair = wald_pair(pan, ms, s.ratio, gnyq, s.pan_gnyq)            # exact kernel, toolbox phase
    ms_up = ms_to_pan_grid(pair.ms_lr, Alignment(s.ratio), pair.pan_lr.shape, phase="toolbox")
    name, quality = _quality()
    scores = {m: quality(fuse(m, pair.pan_lr, ms_up, pair.ms_lr, s.ratio, gnyq, s.pan_gnyq),
                         pair.gt)
              for m in ("exp", "gsa", "mtf_glp_hpm")}
    print(name, scores)
    assert scores["gsa"] > scores["exp"] + 0.02, scores
    assert scores["mtf_glp_hpm"] > scores["exp"] + 0.02, scores


def test_gdal_brovey_reproduces_gdal_default_weights():
    """GDAL 3.6 checked in the spec: MS (1, 2, 3) with PAN 6 gives (3, 6, 9)."""
    from engine.fusion import fuse

    ms_up = np.array([1.0, 2.0, 3.0])[:, None, None] * np.ones((3, 4, 4))
    pan = np.full((4, 4), 6.0)
    out = fuse("brovey_gdal", pan, ms_up, None, 4, 0.3, 0.15)
    np.testing.assert_allclose(out[:, 0, 0], [3.0, 6.0, 9.0])
    zero = fuse("brovey_gdal", pan, np.zeros((3, 4, 4)), None, 4, 0.3, 0.15)
    assert np.all(zero == 0)
