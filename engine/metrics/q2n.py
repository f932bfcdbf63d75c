"""Q2n: the hypercomplex extension of UIQI (Q4 for 4 bands, Q8 for 8 bands).

References
----------
* A. Garzelli & F. Nencini, "Hypercomplex Quality Assessment of Multi/Hyperspectral
  Images", IEEE Geoscience and Remote Sensing Letters 6(4), 2009 (Q2n).
* L. Alparone, S. Baronti, A. Garzelli & F. Nencini, "A global quality measurement of
  pan-sharpened multispectral imagery", IEEE GRSL 1(4), 2004 (Q4, quaternions).

Each pixel's band vector, zero-padded to ``L' = 2^n >= L`` components, is read as a
hypercomplex number ``z = x_1 + x_2 i_1 + ... + x_L' i_{L'-1}`` of the Cayley-Dickson
algebra of dimension ``L'`` (complex 2, quaternions 4, octonions 8, sedenions 16).
Doubling rule used here, for ``a, b, c, d`` in the algebra of half dimension::

    (a, b) (c, d) = (a c - d* b,  d a + b c*),      (a, b)* = (a*, -b)

With the basis order (1, i, j, k) this yields Hamilton's quaternions (i j = k), which
the tests check against the ordinary quaternion product; the octonions it yields are a
normed, alternative algebra (also tested).

In every block (default 32x32, shift 32) the index is::

    Q2n_block = 4 |sigma_zz'| |zbar| |zbar'| / ((sigma_z^2 + sigma_z'^2) (|zbar|^2 + |zbar'|^2))
    sigma_zz' = E[(z - zbar)(z' - zbar')*]      (reference z on the left)

and Q2n is the mean of ``Q2n_block`` over the blocks.  If both sigma terms vanish only
the mean factor ``2 |zbar| |zbar'| / (|zbar|^2 + |zbar'|^2)`` remains.

Before that, every band of both images is normalised with the *reference* block's band
mean ``m_b`` and sample standard deviation ``s_b`` (divisor N-1): ``x <- (x - m_b)/s_b + 1``.
A flat reference band (``s_b`` within rounding of 0) is handled explicitly with
``x <- x - m_b + 1`` for both images (the reference code divides by machine epsilon
instead, which makes any deviation of the test band explode).  Zero padding bands
become the constant 1 in both images and still enter the mean factor.

This is a float implementation: no integer cast, any data range works.  Because the
product is bilinear, ``sigma_zz'`` is obtained from the block's band cross-covariance
matrix ``C_ij`` and the algebra's structure constants ``T[k, i, j]`` (``e_i e_j* = sum_k
T_kij e_k``) as ``sum_ij T_kij C_ij``: no per-pixel hypercomplex product is needed.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import InputError
from ._checks import as_image, check_mask, check_same_shape
from .blocks import block_cross_moments, block_valid, flat_tolerance


def hypercomplex_conj(a: np.ndarray) -> np.ndarray:
    """Conjugate of hypercomplex numbers stored on the last axis: ``(a0, -a1, ..., -a_n)``."""
    out = -np.asarray(a, dtype=np.float64)
    out[..., 0] *= -1.0
    return out


def hypercomplex_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cayley-Dickson product ``a b`` of arrays of hypercomplex numbers (last axis, size 2^n).

    ``(p, q)(r, s) = (p r - s* q, s p + q r*)``, recursively down to real numbers.
    Broadcasts over the leading axes.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n = a.shape[-1]
    if n != b.shape[-1] or n & (n - 1):
        raise InputError(f"hypercomplex numbers need 2^n components on the last axis, got "
                         f"{a.shape[-1]} and {b.shape[-1]}")
    if n == 1:
        return a * b
    h = n // 2
    p, q = a[..., :h], a[..., h:]
    r, s = b[..., :h], b[..., h:]
    first = hypercomplex_multiply(p, r) - hypercomplex_multiply(hypercomplex_conj(s), q)
    second = hypercomplex_multiply(s, p) + hypercomplex_multiply(q, hypercomplex_conj(r))
    return np.concatenate([first, second], axis=-1)


@lru_cache(maxsize=None)
def _conj_structure(n: int) -> np.ndarray:
    """``T[k, i, j]``: component ``k`` of ``e_i * conj(e_j)`` in the 2^n-dimensional algebra."""
    eye = np.eye(n)
    prods = hypercomplex_multiply(eye[:, None, :], hypercomplex_conj(eye)[None, :, :])
    t = np.ascontiguousarray(prods.transpose(2, 0, 1))
    t.setflags(write=False)
    return t


def _next_pow2(n: int) -> int:
    return 1 << max(0, int(n - 1).bit_length())


def _pad_end(img: np.ndarray, size: int, shift: int) -> np.ndarray:
    """Mirror-pad (symmetric, edge repeated) at the bottom/right so blocks tile the image."""
    h, w = img.shape[-2:]
    ph = (-(h - size)) % shift if h >= size else size - h
    pw = (-(w - size)) % shift if w >= size else size - w
    if ph == 0 and pw == 0:
        return img
    pad = [(0, 0)] * (img.ndim - 2) + [(0, ph), (0, pw)]
    return np.pad(img, pad, mode="symmetric")


def q2n_blocks(test: np.ndarray, reference: np.ndarray, block_size: int = 32,
               shift: int | None = None) -> np.ndarray:
    """``(nby, nbx)`` array of per-block Q2n values (see the module docstring).

    ``test``, ``reference``: ``(L, H, W)`` float arrays already mirror-padded so that
    the blocks tile them (``(H - S) % shift == 0``).
    """
    size = int(block_size)
    step = size if shift is None else int(shift)
    x = np.asarray(reference, dtype=np.float64)
    y = np.asarray(test, dtype=np.float64)
    if step != size:
        # Overlapping blocks: gather them into a (L, nby*S, nbx*S) mosaic of distinct blocks.
        x = _mosaic(x, size, step)
        y = _mosaic(y, size, step)
    nbands, h, w = x.shape
    nby, nbx = h // size, w // size
    npix = size * size
    lp = _next_pow2(nbands)

    m = block_cross_moments(x, y, size)  # cov[b, i, j] = cov(ref_i, test_j)
    tol_x = flat_tolerance(x, size, sliding=False)[:, 0, 0]
    tol_y = flat_tolerance(y, size, sliding=False)[:, 0, 0]
    flat_ref = m.var_a <= tol_x  # (nb, L)
    flat_test = m.var_b <= tol_y
    # Reference-block normalisation with the sample standard deviation (N - 1).
    s = np.sqrt(m.var_a * (npix / (npix - 1.0))) if npix > 1 else np.ones_like(m.var_a)
    s = np.where(flat_ref, 1.0, s)

    var_z = np.where(flat_ref, 0.0, m.var_a) / s**2  # (nb, L)
    var_zp = np.where(flat_test, 0.0, m.var_b) / s**2
    zbar_p = (m.mean_b - m.mean_a) / s + 1.0  # test mean after normalisation; ref -> 1
    cov = m.cov / (s[:, :, None] * s[:, None, :])
    cov = np.where(flat_ref[:, :, None] | flat_test[:, None, :], 0.0, cov)

    nb = cov.shape[0]
    cpad = np.zeros((nb, lp, lp))
    cpad[:, :nbands, :nbands] = cov
    sigma_zzp = np.einsum("kij,bij->bk", _conj_structure(lp), cpad)
    mod_sigma = np.sqrt(np.sum(sigma_zzp**2, axis=1))

    sig2 = var_z.sum(axis=1) + var_zp.sum(axis=1)
    mod_zbar2 = float(lp)  # every normalised reference component has block mean 1
    mod_zbarp2 = np.sum(zbar_p**2, axis=1) + (lp - nbands)
    mean_term = 2.0 * np.sqrt(mod_zbar2 * mod_zbarp2) / (mod_zbar2 + mod_zbarp2)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(sig2 > 0, 2.0 * mod_sigma / np.where(sig2 > 0, sig2, 1.0) * mean_term,
                     mean_term)
    return q.reshape(nby, nbx)


def _mosaic(img: np.ndarray, size: int, step: int) -> np.ndarray:
    from numpy.lib.stride_tricks import sliding_window_view

    v = sliding_window_view(img, (size, size), axis=(1, 2))[:, ::step, ::step]
    c, nby, nbx = v.shape[:3]
    return v.transpose(0, 1, 3, 2, 4).reshape(c, nby * size, nbx * size)


def q2n(test: np.ndarray, reference: np.ndarray, block_size: int = 32,
        shift: int | None = None, mask: np.ndarray | None = None) -> float:
    """Q2n of ``test`` against ``reference`` (Garzelli & Nencini 2009; Q4: Alparone 2004).

    ``test`` (e.g. fused), ``reference`` (e.g. GT): ``(L, H, W)`` float arrays, any
    number of bands (zero-padded to the next power of 2).  ``block_size`` ``S`` = 32 and
    ``shift`` = ``S`` (non-overlapping) by default.  Images whose size does not fit the
    block grid are mirror-padded (symmetric) at the bottom/right.  ``mask`` (``(H, W)``
    bool, True = valid, padded the same way): blocks holding an invalid pixel are left
    out of the mean.  Ideal value 1; asymmetric (the reference normalises the blocks).
    """
    y = as_image(test, "test")
    x = as_image(reference, "reference")
    check_same_shape(y, x, "test", "reference")
    mask = check_mask(mask, x.shape[1:])
    size = int(block_size)
    step = size if shift is None else int(shift)
    if size < 2 or step < 1:
        raise InputError(f"Q2n needs block_size >= 2 and shift >= 1, got {block_size}, {shift}")
    h, w = x.shape[1:]
    if h < size or w < size:
        raise InputError(f"image of {h}x{w} pixels is smaller than one {size}x{size} block; "
                         "use a larger image or a smaller block size")
    xp, yp = _pad_end(x, size, step), _pad_end(y, size, step)
    qb = q2n_blocks(yp, xp, size, step)
    if mask is None:
        return float(qb.mean())
    mp = _pad_end(mask, size, step)
    if step != size:
        mp = _mosaic(mp[None], size, step)[0]
    valid = block_valid(mp, size, mp.shape)
    if not valid.any():
        raise InputError(f"no {size}x{size} block is entirely valid under the mask")
    return float(qb[valid].mean())
