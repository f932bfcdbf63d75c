"""Local statistics over image windows, vectorised (no Python loop over blocks or pixels).

Two window layouts are used by the quality indices:

* **distinct** ``S x S`` blocks (stride ``S``): a ``(C, H, W)`` image whose sides are
  multiples of ``S`` is reshaped to ``(C, H/S, S, W/S, S)`` and the statistics are taken
  over the two ``S`` axes (two-pass: means first, then centred products).
* **sliding** ``S x S`` windows, stride 1, 'valid' positions only (``H-S+1`` by
  ``W-S+1``): window sums by cumulative sums (integral images, separable: one cumulative
  sum and one difference per axis).  For small windows (``S <= 8``, e.g. the ``R x R``
  windows of D_rho) the sums are built by doubling shifted partial sums (about
  ``log2 S`` array additions per axis), which is faster and more accurate; the result is
  the same quantity.

Large images are processed in chunks of rows (sliding) or of blocks (distinct) so that
temporaries stay small (see ``CHUNK_ELEMENTS``); this is a loop over chunks, never over
pixels or single blocks.

All statistics are *population* moments (divisor N); Q-type indices are ratios in which
the divisor cancels.  Sliding statistics are computed on data shifted by the band mean
(a constant per band), which leaves variances and covariances unchanged and keeps the
cumulative sums small; the means are shifted back.

Flat windows.  Rounding makes the variance of a constant window a tiny number rather
than exactly 0.  :func:`flat_tolerance` gives, per band, the variance under which a
window is treated as flat (variance 0); the Q-type indices then apply their degenerate
window rules.  The tolerance is a bound on the rounding error of the computation
(sliding: about ``1e-6`` of the band's range in standard deviation for 2048x2048
images; distinct: ``~1e-14`` of the band's maximum), far below any real texture.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import InputError

#: Windows up to this side use doubling of shifted sums instead of cumulative sums.
SMALL_WINDOW = 8
#: Target number of elements of one temporary array in chunked loops (256 KiB of float64):
#: small temporaries stay in the CPU cache and are recycled by the allocator, which is
#: several times faster than streaming whole-image temporaries through memory.
CHUNK_ELEMENTS = 1 << 15
#: The same for the block moments (larger: the batched matrix products like bigger batches).
BLOCK_CHUNK_ELEMENTS = 1 << 17


def crop_to_multiple(img: np.ndarray, size: int) -> np.ndarray:
    """Crop the last two axes to the largest multiple of ``size`` (keeps the top-left)."""
    h, w = img.shape[-2:]
    hc, wc = (h // size) * size, (w // size) * size
    if hc == 0 or wc == 0:
        raise InputError(
            f"image of {h}x{w} pixels is smaller than one {size}x{size} block; "
            "use a larger image or a smaller block size"
        )
    return img[..., :hc, :wc]


def block_view(img: np.ndarray, size: int) -> np.ndarray:
    """Reshape ``(C, H, W)`` to ``(C, H/S, S, W/S, S)`` (a view when possible).

    ``H`` and ``W`` must be multiples of ``size`` (see :func:`crop_to_multiple`).
    """
    c, h, w = img.shape
    if h % size or w % size:
        raise InputError(f"image {h}x{w} is not a multiple of the block size {size}")
    return img.reshape(c, h // size, size, w // size, size)


def block_valid(mask: np.ndarray | None, size: int, shape: tuple[int, int]) -> np.ndarray:
    """``(H/S, W/S)`` bool: True where the ``S x S`` block holds only valid pixels.

    ``mask`` is ``(H, W)`` bool (True = valid) or None (every block valid).
    """
    nby, nbx = shape[0] // size, shape[1] // size
    if mask is None:
        return np.ones((nby, nbx), dtype=bool)
    m = np.asarray(mask, dtype=bool)[: nby * size, : nbx * size]
    return m.reshape(nby, size, nbx, size).all(axis=(1, 3))


def block_means(img: np.ndarray, size: int) -> np.ndarray:
    """``(C, H/S, W/S)`` means of distinct ``S x S`` blocks."""
    return block_view(np.asarray(img, dtype=np.float64), size).mean(axis=(2, 4))


def _blocks_as_rows(img: np.ndarray, size: int, row: int, col0: int, col1: int) -> np.ndarray:
    """Blocks ``col0:col1`` of block row ``row`` as ``(nblocks, C, S*S)`` (never a view)."""
    c = img.shape[0]
    part = img[:, row * size:(row + 1) * size, col0 * size:col1 * size]
    nbx = col1 - col0
    v = part.reshape(c, size, nbx, size).transpose(2, 0, 1, 3).reshape(nbx, c, size * size)
    # The caller centres the result in place: never hand out a view of the input.
    return v.copy() if np.may_share_memory(v, img) else v


class BlockMoments(NamedTuple):
    """Population moments of distinct blocks; ``nb = (H/S) * (W/S)`` in row-major order."""

    mean_a: np.ndarray  # (nb, Ca)
    mean_b: np.ndarray  # (nb, Cb)
    var_a: np.ndarray  # (nb, Ca)
    var_b: np.ndarray  # (nb, Cb)
    cov: np.ndarray  # (nb, Ca, Cb): cov(a_i, b_j)


def block_cross_moments(a: np.ndarray, b: np.ndarray | None, size: int) -> BlockMoments:
    """Means, variances and the cross-covariance matrix of distinct ``S x S`` blocks.

    ``a`` is ``(Ca, H, W)``, ``b`` is ``(Cb, H, W)`` or None (then ``b = a`` and ``cov`` is
    the within-block band covariance matrix of ``a``).  ``H``, ``W`` multiples of ``size``.
    Two-pass (centred) estimates with divisor ``N = S*S``; the covariance matrices come
    from one batched matrix product per chunk of blocks.
    """
    a = np.asarray(a, dtype=np.float64)
    same = b is None
    b = a if same else np.asarray(b, dtype=np.float64)
    if a.ndim != 3 or b.ndim != 3 or a.shape[1:] != b.shape[1:]:
        raise InputError(f"block moments need two (C, H, W) images of one size, got "
                         f"{a.shape} and {b.shape}")
    _, h, w = a.shape
    if h % size or w % size:
        raise InputError(f"image {h}x{w} is not a multiple of the block size {size}")
    nby, nbx = h // size, w // size
    n = size * size
    # Chunks of consecutive blocks of one block row (row-major order is kept).
    per_chunk = max(1, BLOCK_CHUNK_ELEMENTS // max(1, (a.shape[0] + b.shape[0]) * n))
    out = {k: [] for k in BlockMoments._fields}
    for row, c0 in ((r, c) for r in range(nby) for c in range(0, nbx, per_chunk)):
        c1 = min(nbx, c0 + per_chunk)
        xa = _blocks_as_rows(a, size, row, c0, c1)
        ma = xa.mean(axis=2)
        xa -= ma[..., None]
        if same:
            cov = np.matmul(xa, xa.transpose(0, 2, 1)) / n
            mb, va = ma, np.diagonal(cov, axis1=1, axis2=2).copy()
            vb = va
        else:
            xb = _blocks_as_rows(b, size, row, c0, c1)
            mb = xb.mean(axis=2)
            xb -= mb[..., None]
            cov = np.matmul(xa, xb.transpose(0, 2, 1)) / n
            va = np.einsum("bcn,bcn->bc", xa, xa) / n
            vb = np.einsum("bcn,bcn->bc", xb, xb) / n
        for key, val in zip(BlockMoments._fields, (ma, mb, va, vb, cov)):
            out[key].append(val)
    return BlockMoments(*(np.concatenate(out[k], axis=0) for k in BlockMoments._fields))


def _box_sum_doubling(arr: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Sums of ``size`` consecutive samples along ``axis`` ('valid'), by doubling.

    Partial sums of length 1, 2, 4, ... are built by adding shifted copies and the
    ones in the binary expansion of ``size`` are combined: about ``log2(size)`` array
    additions, and pairwise (accurate) summation.
    """
    n = arr.shape[axis]
    out_len = n - size + 1

    def take(a: np.ndarray, start: int, length: int) -> np.ndarray:
        index = [slice(None)] * a.ndim
        index[axis] = slice(start, start + length)
        return a[tuple(index)]

    result = None
    power, plen, offset, remaining = arr, 1, 0, size
    while remaining:  # loop over the bits of the window size
        if remaining & 1:
            part = take(power, offset, out_len)
            result = part if result is None else result + part
            offset += plen
        remaining >>= 1
        if remaining:
            m = power.shape[axis] - plen
            power = take(power, 0, m) + take(power, plen, m)
            plen *= 2
    return result.copy() if np.shares_memory(result, arr) else result


def sliding_sums(img: np.ndarray, size: int) -> np.ndarray:
    """Sums over every ``size x size`` window at 'valid' positions of the last two axes.

    ``(..., H, W) -> (..., H-size+1, W-size+1)``; element ``[i, j]`` is the sum of
    ``img[..., i:i+size, j:j+size]``.  Integral image (separable cumulative sums) for
    large windows, doubled shifted sums for ``size <= SMALL_WINDOW``.
    """
    arr = np.asarray(img)
    h, w = arr.shape[-2:]
    if size < 1 or size > h or size > w:
        raise InputError(f"window {size}x{size} does not fit into an image of {h}x{w}")
    if size <= SMALL_WINDOW:
        return _box_sum_doubling(_box_sum_doubling(arr, size, -2), size, -1)
    # Columns first: cumulative sum along the last (contiguous) axis, then rows on a
    # transposed contiguous copy (numpy's cumsum is slow along a non-last axis).
    c = np.cumsum(arr, axis=-1)
    zero = np.zeros(c.shape[:-1] + (1,), dtype=c.dtype)
    c = np.concatenate([zero, c], axis=-1)
    cols = c[..., size:] - c[..., :-size]  # (..., H, W-size+1)
    t = np.ascontiguousarray(np.swapaxes(cols, -1, -2))
    r = np.cumsum(t, axis=-1)
    zero = np.zeros(r.shape[:-1] + (1,), dtype=r.dtype)
    r = np.concatenate([zero, r], axis=-1)
    out = r[..., size:] - r[..., :-size]  # (..., W-size+1, H-size+1)
    return np.ascontiguousarray(np.swapaxes(out, -1, -2))


def row_chunks(out_rows: int, size: int, width: int, bands: int = 1):
    """Yield ``(r0, r1)`` ranges of sliding-window output rows, ~CHUNK_ELEMENTS per array.

    Output rows ``r0:r1`` of a ``size x size`` sliding statistic need input rows
    ``r0 : r1 + size - 1``.
    """
    step = max(4 * size, CHUNK_ELEMENTS // max(1, bands * width) - (size - 1))
    for r0 in range(0, out_rows, step):
        yield r0, min(out_rows, r0 + step)


def sliding_valid(mask: np.ndarray | None, size: int, shape: tuple[int, int]) -> np.ndarray:
    """``(H-S+1, W-S+1)`` bool: True where the sliding window holds only valid pixels."""
    h, w = shape
    if mask is None:
        return np.ones((h - size + 1, w - size + 1), dtype=bool)
    invalid = (~np.asarray(mask, dtype=bool)).astype(np.int64)
    return sliding_sums(invalid, size) == 0


class SlidingMoments(NamedTuple):
    """Population moments of sliding windows (each field ``(C, H-S+1, W-S+1)``)."""

    mean_x: np.ndarray
    mean_y: np.ndarray
    var_x: np.ndarray
    var_y: np.ndarray
    cov: np.ndarray
    tol_x: np.ndarray  # (C, 1, 1) flatness tolerance on var_x
    tol_y: np.ndarray


def sliding_moments(x: np.ndarray, y: np.ndarray, size: int) -> SlidingMoments:
    """Means, variances and covariance of ``x`` and ``y`` over sliding 'valid' windows.

    ``x``, ``y``: ``(C, H, W)`` (band ``c`` of ``x`` is paired with band ``c`` of ``y``).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 3:
        raise InputError(f"sliding moments need two (C, H, W) images of one shape, got "
                         f"{x.shape} and {y.shape}")
    _, h, w = x.shape
    n = float(size * size)
    cx = x.mean(axis=(1, 2), keepdims=True)
    cy = y.mean(axis=(1, 2), keepdims=True)
    xs, ys = x - cx, y - cy
    sx = sliding_sums(xs, size) / n
    sy = sliding_sums(ys, size) / n
    sxx = sliding_sums(xs * xs, size) / n
    syy = sliding_sums(ys * ys, size) / n
    sxy = sliding_sums(xs * ys, size) / n
    var_x = np.maximum(sxx - sx * sx, 0.0)
    var_y = np.maximum(syy - sy * sy, 0.0)
    cov = sxy - sx * sy
    tol_x = flat_tolerance(xs, size, sliding=True, image_shape=(h, w))
    tol_y = flat_tolerance(ys, size, sliding=True, image_shape=(h, w))
    return SlidingMoments(sx + cx, sy + cy, var_x, var_y, cov, tol_x, tol_y)


def flat_tolerance(img: np.ndarray, size: int, sliding: bool,
                   image_shape: tuple[int, int] | None = None) -> np.ndarray:
    """``(C, 1, 1)`` variance under which a window of band ``c`` is treated as flat.

    Sliding (cumulative sums on mean-shifted data): ``32 eps S (H+W) / S^2 * max|x|^2``,
    a bound on the rounding error of ``E[x^2] - E[x]^2``.  Distinct (two-pass):
    ``(64 eps max|x|)^2``.  ``img`` is ``(C, H, W)``.
    """
    eps = np.finfo(np.float64).eps
    scale2 = np.maximum(np.max(img, axis=(-2, -1), keepdims=True),
                        -np.min(img, axis=(-2, -1), keepdims=True)) ** 2
    if sliding:
        h, w = image_shape if image_shape is not None else img.shape[-2:]
        return 32.0 * eps * size * (h + w) / (size * size) * scale2
    return (64.0 * eps) ** 2 * scale2
