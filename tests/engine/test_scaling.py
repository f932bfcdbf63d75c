"""engine.inference.scaling: percentile scaling computed once per image, recipe (de)serialisation."""

import numpy as np
import pytest

from engine.errors import InputError
from engine.inference.scaling import PERCENTILE99, Scaling, compute_scale


def test_percentile_of_a_ramp_is_the_hand_value():
    # values 1..10000: numpy's linear percentile at 99 is 1 + 0.99 * 9999 = 9900.01
    a = np.arange(1, 10001, dtype=np.float64).reshape(100, 100)
    assert compute_scale(a) == pytest.approx(9900.01, abs=1e-9)
    assert compute_scale(a, percentile=50.0) == pytest.approx(5000.5, abs=1e-9)


def test_joint_bands_pool_every_band():
    rng = np.random.default_rng(1)
    ms = np.stack([rng.uniform(0, 100, (40, 40)), rng.uniform(0, 1000, (40, 40))])
    assert compute_scale(ms) == pytest.approx(np.percentile(ms.ravel(), 99.0))
    # not the per-band value of either band
    assert compute_scale(ms) != pytest.approx(np.percentile(ms[1], 99.0))


def test_valid_mask_and_nan_are_excluded():
    rng = np.random.default_rng(2)
    img = rng.uniform(0, 10, (3, 50, 50))
    valid = np.ones((50, 50), dtype=bool)
    valid[10:20, 10:20] = False
    polluted = img.copy()
    polluted[:, 10:20, 10:20] = 1e9          # nodata fill values, masked out
    polluted[0, 0, 0] = np.nan               # non-finite: ignored, also without a mask
    got = compute_scale(polluted, valid=valid)
    ref = np.nanpercentile(polluted[:, valid], 99.0)     # independent: numpy on the kept values
    assert got == pytest.approx(ref)
    assert got < 10.0                                    # the 1e9 fill never entered
    # a full-shape mask works too
    assert compute_scale(polluted, valid=np.broadcast_to(valid, img.shape)) == pytest.approx(ref)


def test_subsampling_is_deterministic_close_and_does_not_alias_on_columns():
    # every column holds its index: a flat stride that is a multiple of W would see one
    # value only; the regular 2-D grid must give nearly the exact percentile
    h, w = 600, 1000
    img = np.broadcast_to(np.arange(w, dtype=np.float64), (h, w))
    exact = np.percentile(img, 99.0)
    sub = compute_scale(img, max_samples=10_000)
    assert sub == compute_scale(img, max_samples=10_000)
    assert abs(sub - exact) / exact < 0.01


def test_errors_say_what_is_wrong():
    with pytest.raises(InputError, match="no valid pixel"):
        compute_scale(np.ones((5, 5)), valid=np.zeros((5, 5), bool))
    with pytest.raises(InputError, match="positive"):
        compute_scale(np.zeros((5, 5)))
    with pytest.raises(InputError, match="percentile"):
        compute_scale(np.ones((5, 5)), percentile=0)
    with pytest.raises(InputError, match="does not match"):
        compute_scale(np.ones((2, 5, 5)), valid=np.ones((4, 4), bool))


def test_recipe_is_the_project_dict_and_roundtrips():
    assert PERCENTILE99.recipe() == {"mode": "percentile", "percentile": 99.0, "joint_bands": True}
    s = Scaling.from_dict({"mode": "percentile", "percentile": 99.0, "joint_bands": True})
    assert s == PERCENTILE99 and not s.fitted
    fitted = s.fit(np.full((4, 8, 8), 2.0) * np.arange(1, 5)[:, None, None], np.full((32, 32), 5.0))
    d = fitted.to_dict()
    assert d["ms_scale"] == pytest.approx(8.0) and d["pan_scale"] == pytest.approx(5.0)
    assert Scaling.from_dict(d) == fitted
    assert fitted.recipe() == PERCENTILE99.recipe()       # values stay out of the recipe
    assert Scaling.from_dict(None) == PERCENTILE99


def test_fit_apply_invert_keep_band_ratios():
    rng = np.random.default_rng(3)
    ms = rng.uniform(100, 2000, (4, 16, 16)).astype(np.float32)
    pan = rng.uniform(50, 1500, (64, 64))
    s = PERCENTILE99.fit(ms, pan)
    assert s.ms_scale == pytest.approx(np.percentile(ms.astype(np.float64), 99.0))
    assert s.pan_scale == pytest.approx(np.percentile(pan, 99.0))
    scaled = s.apply(ms, "ms")
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled[0] / scaled[2], ms[0] / ms[2], rtol=1e-6)
    np.testing.assert_allclose(s.invert(scaled, "ms"), ms, rtol=1e-6)
    np.testing.assert_allclose(s.apply(pan, "pan") * s.pan_scale, pan)


def test_per_band_and_fixed_and_none_modes():
    ms = np.stack([np.full((4, 4), 10.0), np.full((4, 4), 20.0)])
    per_band = Scaling(joint_bands=False).fit(ms, np.ones((8, 8)))
    assert per_band.ms_scale == (10.0, 20.0)
    np.testing.assert_allclose(per_band.apply(ms), 1.0)
    assert Scaling.from_dict(per_band.to_dict()) == per_band
    fixed = Scaling.fixed(2047, 2047)
    assert fixed.fit(ms, ms[0]) is fixed
    np.testing.assert_allclose(fixed.apply(np.array([2047.0])), 1.0)
    assert Scaling.from_dict(fixed.to_dict()) == fixed
    none = Scaling(mode="none")
    np.testing.assert_array_equal(none.apply(ms), ms)


def test_unfitted_or_invalid_scaling_is_refused():
    with pytest.raises(InputError, match="not fitted"):
        PERCENTILE99.apply(np.ones((2, 2)))
    with pytest.raises(InputError, match="mode"):
        Scaling(mode="per-tile")
    with pytest.raises(InputError, match="positive"):
        Scaling(mode="fixed", ms_scale=0.0, pan_scale=1.0)
