"""Strip-wise fusion (engine.fusion.streaming) equals whole-image fusion."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from engine.errors import EngineError, InputError
from engine.fusion import METHODS, fuse
from engine.fusion.streaming import FusionCanceled, fuse_strips
from engine.io.grid import Alignment
from engine.io.placement import ms_to_pan_grid

R = 4
GNYQ = (0.3, 0.32, 0.34, 0.28)
PAN_GNYQ = 0.15


def synthetic(seed=0):
    """PAN 203x155, MS 4x50x40 with a fractional offset, MS NaN hole, PAN nodata block."""
    rng = np.random.default_rng(seed)
    al = Alignment(R, 1.0, -2.5)
    H, W = R * 50 + 3, R * 40 - 5
    pan = ndimage.gaussian_filter(rng.random((H, W)), 1.5) * 300 + 50
    ms = ndimage.gaussian_filter(rng.random((4, 50, 40)), (0, 1, 1)) * 200 + 20
    ms[:, 10:13, 5:9] = np.nan
    valid = np.ones((H, W), bool)
    valid[100:110, 30:60] = False
    pan[~valid] = -1.0
    return al, pan, ms, valid


class Recorder:
    def __init__(self, shape):
        self.out = np.full(shape, -12345.0)
        self.calls = []

    def __call__(self, r0, block):
        assert block.dtype == np.float64
        self.calls.append((r0, block.shape[1]))
        self.out[:, r0:r0 + block.shape[1]] = block


@pytest.mark.parametrize("method", sorted(METHODS))
def test_strips_equal_whole_image(method):
    al, pan, ms, valid = synthetic()
    H, W = pan.shape
    whole = fuse(method, pan, ms_to_pan_grid(ms, al, (H, W)), None, R, GNYQ, PAN_GNYQ,
                 valid=valid)
    rec = Recorder(whole.shape)
    reads = []

    def read_pan(a, b):
        reads.append(b - a)
        return pan[a:b]

    params = fuse_strips(method, read_pan, lambda a, b: ms[:, a:b], al, (H, W), ms.shape,
                         rec, ms_gnyq=GNYQ, pan_gnyq=PAN_GNYQ, strip_rows=37,
                         read_valid=lambda a, b: valid[a:b])
    assert params.method == method
    assert [c[0] for c in rec.calls] == list(range(0, H, 37))          # 6 strips, in order
    assert max(reads) <= 37 + 2 * 20                                   # memory bound
    np.testing.assert_array_equal(np.isnan(rec.out), np.isnan(whole))
    assert np.isnan(whole).any() and np.isfinite(whole).mean() > 0.9
    ok = np.isfinite(whole)
    scale = np.abs(whole[ok]).max()
    assert np.abs(rec.out[ok] - whole[ok]).max() <= 1e-9 * scale      # measured ~5e-15


def test_nodata_values_and_progress():
    al, pan, ms, valid = synthetic(1)
    H, W = pan.shape
    ms_nd = np.where(np.isnan(ms), 0.0, ms)                 # MS nodata value 0
    rec_a = Recorder((4, H, W))
    fracs = []
    fuse_strips("mtf_glp_hpm", lambda a, b: pan[a:b], lambda a, b: ms_nd[:, a:b], al, (H, W),
                ms.shape, rec_a, ms_gnyq=GNYQ, pan_gnyq=PAN_GNYQ, strip_rows=64,
                pan_nodata=-1.0, ms_nodata=0.0, progress=fracs.append)
    rec_b = Recorder((4, H, W))
    fuse_strips("mtf_glp_hpm", lambda a, b: pan[a:b], lambda a, b: ms[:, a:b], al, (H, W),
                ms.shape, rec_b, ms_gnyq=GNYQ, pan_gnyq=PAN_GNYQ, strip_rows=64,
                read_valid=lambda a, b: valid[a:b])
    np.testing.assert_array_equal(np.isnan(rec_a.out), np.isnan(rec_b.out))
    ok = np.isfinite(rec_b.out)
    np.testing.assert_allclose(rec_a.out[ok], rec_b.out[ok], rtol=1e-12)
    assert fracs == sorted(fracs) and fracs[-1] == 1.0 and len(fracs) == 2 * 4


@pytest.mark.parametrize("cancel_after", [0, 2, 5])
def test_cancel_hook_stops_between_strips(cancel_after):
    al, pan, ms, valid = synthetic(2)
    H, W = pan.shape
    calls = {"n": 0}

    def is_canceled():
        calls["n"] += 1
        return calls["n"] > cancel_after

    rec = Recorder((4, H, W))
    with pytest.raises(FusionCanceled) as info:
        fuse_strips("gsa", lambda a, b: pan[a:b], lambda a, b: ms[:, a:b], al, (H, W),
                    ms.shape, rec, ms_gnyq=GNYQ, pan_gnyq=PAN_GNYQ, strip_rows=50,
                    is_canceled=is_canceled)
    assert isinstance(info.value, EngineError)
    assert calls["n"] == cancel_after + 1
    # Statistics pass has 5 strips: no block is written before it ends.
    assert len(rec.calls) == max(0, cancel_after - 5)


def test_reader_shape_is_checked():
    al, pan, ms, valid = synthetic()
    H, W = pan.shape
    with pytest.raises(InputError, match="read_pan"):
        fuse_strips("exp", lambda a, b: pan[a:b, :-1], lambda a, b: ms[:, a:b], al, (H, W),
                    ms.shape, Recorder((4, H, W)), ms_gnyq=GNYQ, pan_gnyq=PAN_GNYQ)
