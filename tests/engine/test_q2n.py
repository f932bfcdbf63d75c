"""Q2n (Garzelli & Nencini 2009): algebra checks and agreement with a plain per-block loop."""

import numpy as np
import pytest

from engine.errors import InputError
from engine.metrics import hypercomplex_conj, hypercomplex_multiply, q2n


def hamilton(a, b):
    """Ordinary quaternion product, a = a0 + a1 i + a2 j + a3 k."""
    a0, a1, a2, a3 = a
    b0, b1, b2, b3 = b
    return np.array([
        a0 * b0 - a1 * b1 - a2 * b2 - a3 * b3,
        a0 * b1 + a1 * b0 + a2 * b3 - a3 * b2,
        a0 * b2 - a1 * b3 + a2 * b0 + a3 * b1,
        a0 * b3 + a1 * b2 - a2 * b1 + a3 * b0,
    ])


def qconj(a):
    return np.array([a[0], -a[1], -a[2], -a[3]])


def octonion(a, b):
    """Octonion product built by doubling the quaternions written above:
    (p, q)(r, s) = (p r - s* q, s p + q r*)."""
    p, q, r, s = a[:4], a[4:], b[:4], b[4:]
    return np.concatenate([hamilton(p, r) - hamilton(qconj(s), q),
                           hamilton(s, p) + hamilton(q, qconj(r))])


def conj(a):
    out = -np.array(a, dtype=float)
    out[0] = -out[0]
    return out


def product_for(n):
    if n == 1:
        return lambda a, b: a * b
    if n == 2:
        return lambda a, b: np.array([a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]])
    if n == 4:
        return hamilton
    if n == 8:
        return octonion
    raise ValueError(n)


def q2n_loop(test, ref, s, shift=None, mask=None):
    """Per-block Q2n exactly as the formulas read (zero band padding, mirror padding)."""
    shift = s if shift is None else shift
    bands = ref.shape[0]
    lp = 1
    while lp < bands:
        lp *= 2
    mult = product_for(lp)
    x = np.zeros((lp,) + ref.shape[1:])
    y = np.zeros((lp,) + ref.shape[1:])
    x[:bands], y[:bands] = ref, test
    h, w = ref.shape[1:]
    ph, pw = (-(h - s)) % shift, (-(w - s)) % shift
    x = np.pad(x, ((0, 0), (0, ph), (0, pw)), mode="symmetric")
    y = np.pad(y, ((0, 0), (0, ph), (0, pw)), mode="symmetric")
    if mask is not None:
        mask = np.pad(mask, ((0, ph), (0, pw)), mode="symmetric")
    vals = []
    for i in range(0, x.shape[1] - s + 1, shift):
        for j in range(0, x.shape[2] - s + 1, shift):
            if mask is not None and not mask[i:i + s, j:j + s].all():
                continue
            bx = x[:, i:i + s, j:j + s].reshape(lp, -1).copy()
            by = y[:, i:i + s, j:j + s].reshape(lp, -1).copy()
            for b in range(lp):
                m, sd = bx[b].mean(), bx[b].std(ddof=1)
                if sd == 0:
                    bx[b], by[b] = bx[b] - m + 1, by[b] - m + 1
                else:
                    bx[b], by[b] = (bx[b] - m) / sd + 1, (by[b] - m) / sd + 1
            zbar, zbarp = bx.mean(axis=1), by.mean(axis=1)
            dx, dy = bx - zbar[:, None], by - zbarp[:, None]
            sig2 = np.mean(np.sum(dx**2, axis=0))
            sig2p = np.mean(np.sum(dy**2, axis=0))
            acc = np.zeros(lp)
            for p in range(dx.shape[1]):
                acc += mult(dx[:, p], conj(dy[:, p]))
            acc /= dx.shape[1]
            nz, nzp = np.linalg.norm(zbar), np.linalg.norm(zbarp)
            mean_term = 2 * nz * nzp / (nz**2 + nzp**2)
            if sig2 + sig2p == 0:
                vals.append(mean_term)
            else:
                vals.append(2 * np.linalg.norm(acc) / (sig2 + sig2p) * mean_term)
    return float(np.mean(vals))


def images(bands, h, w, seed, noise=0.3):
    rng = np.random.default_rng(seed)
    base = rng.uniform(200, 1200, (1, h, w))
    ref = base * rng.uniform(0.6, 1.4, (bands, 1, 1)) + rng.normal(0, 80, (bands, h, w))
    test = ref * rng.uniform(0.9, 1.1, (bands, 1, 1)) + rng.normal(0, 80 * noise, ref.shape)
    return test, ref


# --- algebra ---------------------------------------------------------------------------


def test_quaternion_case_is_the_ordinary_quaternion_product():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 4))
    b = rng.normal(size=(50, 4))
    got = hypercomplex_multiply(a, b)
    for k in range(50):
        np.testing.assert_allclose(got[k], hamilton(a[k], b[k]), atol=1e-14)
    one, i, j, k = np.eye(4)
    np.testing.assert_array_equal(hypercomplex_multiply(i, j), k)    # ij = k
    np.testing.assert_array_equal(hypercomplex_multiply(j, i), -k)   # ji = -k
    np.testing.assert_array_equal(hypercomplex_multiply(j, k), i)
    np.testing.assert_array_equal(hypercomplex_multiply(k, i), j)
    np.testing.assert_array_equal(hypercomplex_multiply(i, i), -one)


def test_complex_case_is_complex_multiplication():
    a, b = np.array([1.5, -2.0]), np.array([0.25, 3.0])
    z = complex(*a) * complex(*b)
    np.testing.assert_allclose(hypercomplex_multiply(a, b), [z.real, z.imag])


def test_octonions_are_a_normed_alternative_algebra():
    rng = np.random.default_rng(1)
    a, b, c = rng.normal(size=(3, 8))
    ab = hypercomplex_multiply(a, b)
    np.testing.assert_allclose(ab, octonion(a, b), atol=1e-14)
    assert np.linalg.norm(ab) == pytest.approx(np.linalg.norm(a) * np.linalg.norm(b), rel=1e-12)
    np.testing.assert_allclose(hypercomplex_multiply(hypercomplex_multiply(a, a), b),
                               hypercomplex_multiply(a, ab), atol=1e-12)  # left alternative
    np.testing.assert_allclose(hypercomplex_multiply(ab, b),
                               hypercomplex_multiply(a, hypercomplex_multiply(b, b)), atol=1e-12)
    np.testing.assert_allclose(hypercomplex_conj(ab),
                               hypercomplex_multiply(hypercomplex_conj(b), hypercomplex_conj(a)),
                               atol=1e-12)
    left = hypercomplex_multiply(ab, c)
    right = hypercomplex_multiply(a, hypercomplex_multiply(b, c))
    assert np.abs(left - right).max() > 1e-3  # octonions are not associative


# --- Q2n ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bands", [1, 2, 3, 4, 5, 8])
def test_identical_images_give_one(bands):
    test, ref = images(bands, 32, 24, seed=bands)
    assert q2n(ref, ref, block_size=8) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("bands,seed", [(4, 1), (4, 2), (8, 3), (8, 4), (3, 5), (5, 6), (2, 7)])
def test_matches_per_block_loop(bands, seed):
    test, ref = images(bands, 24, 32, seed)
    got = q2n(test, ref, block_size=8)
    assert 0.0 < got < 1.0
    assert got == pytest.approx(q2n_loop(test, ref, 8), abs=1e-10)


def test_matches_loop_with_mirror_padding_and_overlap():
    test, ref = images(4, 27, 21, seed=8)  # not multiples of 8: mirror-padded at the end
    assert q2n(test, ref, block_size=8) == pytest.approx(q2n_loop(test, ref, 8), abs=1e-10)
    assert q2n(test, ref, block_size=8, shift=5) == pytest.approx(
        q2n_loop(test, ref, 8, shift=5), abs=1e-10)


def test_matches_loop_with_default_32_blocks_8_bands():
    test, ref = images(8, 64, 64, seed=9)
    assert q2n(test, ref) == pytest.approx(q2n_loop(test, ref, 32), abs=1e-10)


def test_constant_bias_lowers_only_the_mean_factor():
    _, ref = images(4, 16, 16, seed=10)
    bias = np.array([30.0, -20.0, 50.0, 10.0])
    test = ref + bias[:, None, None]
    expected = []
    for i in (0, 8):
        for j in (0, 8):
            blk = ref[:, i:i + 8, j:j + 8].reshape(4, -1)
            zbarp = 1.0 + bias / blk.std(axis=1, ddof=1)  # normalised test mean
            nz, nzp = 2.0, np.linalg.norm(zbarp)            # |zbar| = sqrt(4)
            expected.append(2 * nz * nzp / (nz**2 + nzp**2))
    got = q2n(test, ref, block_size=8)
    assert got == pytest.approx(np.mean(expected), abs=1e-12)
    assert got < 1.0


def test_scale_invariant_float_implementation():
    test, ref = images(4, 32, 32, seed=11)
    # [0, 1] floats give the same value as DN: no integer cast anywhere
    assert q2n(test / 2047.0, ref / 2047.0, 16) == pytest.approx(q2n(test, ref, 16), abs=1e-12)


def test_flat_reference_band_is_handled_explicitly():
    test, ref = images(4, 16, 16, seed=12)
    ref[2, :8, :8] = 500.0          # a flat (saturated) reference band in one block
    test[2, :8, :8] = 503.0         # the test deviates by a constant 3 there
    got = q2n(test, ref, block_size=8)
    assert np.isfinite(got) and 0.0 < got <= 1.0
    assert got == pytest.approx(q2n_loop(test, ref, 8), abs=1e-10)
    zero = np.zeros((4, 16, 16))
    assert q2n(zero, zero, 8) == 1.0
    ref2 = ref.copy()
    ref2[:, :8, :8] = 0.0           # an all-zero (nodata) block
    assert q2n(ref2, ref2, 8) == pytest.approx(1.0, abs=1e-12)


def test_mask_excludes_blocks():
    test, ref = images(4, 24, 24, seed=13)
    test[:, 3, 17] = 1e7
    mask = np.ones((24, 24), dtype=bool)
    mask[3, 17] = False
    got = q2n(test, ref, 8, mask=mask)
    assert got == pytest.approx(q2n_loop(test, ref, 8, mask=mask), abs=1e-10)
    clean = test.copy()
    clean[:, 0:8, 16:24] = ref[:, 0:8, 16:24]  # the excluded block does not matter
    assert q2n(clean, ref, 8, mask=mask) == pytest.approx(got, abs=1e-12)
    assert q2n(test, ref, 8) < got


def test_errors():
    with pytest.raises(InputError, match="same shape"):
        q2n(np.ones((4, 32, 32)), np.ones((3, 32, 32)))
    with pytest.raises(InputError, match="smaller than one"):
        q2n(np.ones((4, 16, 16)), np.ones((4, 16, 16)))
    with pytest.raises(InputError, match="2\\^n"):
        hypercomplex_multiply(np.ones(3), np.ones(3))
