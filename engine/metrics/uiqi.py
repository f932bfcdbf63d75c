"""Universal Image Quality Index (UIQI, "Q") and its band average Q_avg.

Reference: Z. Wang & A. C. Bovik, "A Universal Image Quality Index", IEEE Signal
Processing Letters 9(3), 2002::

    Q = 4 sigma_xy mu_x mu_y / ((sigma_x^2 + sigma_y^2) (mu_x^2 + mu_y^2))

computed in local windows and averaged over the windows.  Pan-sharpening uses 32x32
windows: sliding with stride 1 over the 'valid' positions for the reduced-resolution
Q_avg, distinct blocks inside D_lambda / D_s.

Degenerate windows (zero denominators) follow the rules of the authors' reference
implementation (``img_qi``), which the paper itself does not state:

* ``sigma_x^2 + sigma_y^2 = 0`` and ``mu_x^2 + mu_y^2 != 0`` -> ``2 mu_x mu_y / (mu_x^2 + mu_y^2)``;
* any other zero denominator (in particular both means 0) -> 1.

A window whose variance is within rounding error of 0 counts as flat (see
:func:`engine.metrics.blocks.flat_tolerance`); when one of the two windows is flat the
covariance is set to 0 (Cauchy-Schwarz).  The same rules are used inside D_lambda and
D_s, so a flat (saturated or nodata) block never yields NaN.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..errors import InputError
from .blocks import (
    block_cross_moments, block_valid, crop_to_multiple, flat_tolerance, row_chunks,
    sliding_moments, sliding_valid,
)
from ._checks import as_image, check_mask, check_same_shape

Mode = Literal["sliding", "distinct"]


def uiqi_from_moments(mean_x: np.ndarray, mean_y: np.ndarray, var_x: np.ndarray,
                      var_y: np.ndarray, cov: np.ndarray, tol_x: np.ndarray | float = 0.0,
                      tol_y: np.ndarray | float = 0.0) -> np.ndarray:
    """Window-wise UIQI from population moments (any broadcastable shapes), img_qi rules.

    Variances ``<= tol`` count as 0.  Returns an array of Q values in [-1, 1].
    """
    flat_x = var_x <= tol_x
    flat_y = var_y <= tol_y
    vx = np.where(flat_x, 0.0, var_x)
    vy = np.where(flat_y, 0.0, var_y)
    cxy = np.where(flat_x | flat_y, 0.0, cov)
    sum_var = vx + vy
    sum_mean2 = mean_x * mean_x + mean_y * mean_y
    den = sum_var * sum_mean2
    q = np.ones(np.broadcast(den, cxy).shape)
    lum_only = (sum_var == 0) & (sum_mean2 != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(lum_only, 2.0 * mean_x * mean_y / np.where(lum_only, sum_mean2, 1.0), q)
        ok = den != 0
        q = np.where(ok, 4.0 * cxy * mean_x * mean_y / np.where(ok, den, 1.0), q)
    return q


def _q_per_band_sliding(x: np.ndarray, y: np.ndarray, size: int,
                        mask: np.ndarray | None) -> np.ndarray:
    c, h, w = x.shape
    valid = None if mask is None else sliding_valid(mask, size, (h, w))
    count = (h - size + 1) * (w - size + 1) if valid is None else int(valid.sum())
    if count == 0:
        raise InputError(f"no {size}x{size} window is entirely valid under the mask")
    total = np.zeros(c)
    for b in range(c):  # loop over bands and chunks of rows (bounded temporaries)
        for r0, r1 in row_chunks(h - size + 1, size, w):
            rows = slice(r0, r1 + size - 1)
            mom = sliding_moments(x[b: b + 1, rows], y[b: b + 1, rows], size)
            q = uiqi_from_moments(mom.mean_x, mom.mean_y, mom.var_x, mom.var_y, mom.cov,
                                  mom.tol_x, mom.tol_y)[0]
            total[b] += q.sum() if valid is None else q[valid[r0:r1]].sum()
    return total / count


def _q_per_band_distinct(x: np.ndarray, y: np.ndarray, size: int,
                         mask: np.ndarray | None) -> np.ndarray:
    x = crop_to_multiple(x, size)
    y = crop_to_multiple(y, size)
    valid = block_valid(mask, size, x.shape[1:]).ravel()
    if not valid.any():
        raise InputError(f"no {size}x{size} block is entirely valid under the mask")
    # Per-band moments: treat each band as its own 1-band image (batched over bands).
    qs = []
    tol_x = flat_tolerance(x, size, sliding=False)
    tol_y = flat_tolerance(y, size, sliding=False)
    for b in range(x.shape[0]):  # loop over bands
        m = block_cross_moments(x[b: b + 1], y[b: b + 1], size)
        q = uiqi_from_moments(m.mean_a[:, 0], m.mean_b[:, 0], m.var_a[:, 0], m.var_b[:, 0],
                              m.cov[:, 0, 0], tol_x[b, 0, 0], tol_y[b, 0, 0])
        qs.append(q[valid].mean())
    return np.asarray(qs)


def _q_per_band_global(x: np.ndarray, y: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    sel = np.ones(x.shape[1:], dtype=bool) if mask is None else mask
    if not sel.any():
        raise InputError("the mask leaves no valid pixel")
    xv, yv = x[:, sel], y[:, sel]
    mx, my = xv.mean(axis=1), yv.mean(axis=1)
    dx, dy = xv - mx[:, None], yv - my[:, None]
    tol_x = flat_tolerance(xv[:, None, :], 1, sliding=False)[:, 0, 0]
    tol_y = flat_tolerance(yv[:, None, :], 1, sliding=False)[:, 0, 0]
    return uiqi_from_moments(mx, my, (dx * dx).mean(1), (dy * dy).mean(1), (dx * dy).mean(1),
                             tol_x, tol_y)


def q_per_band(fused: np.ndarray, gt: np.ndarray, block_size: int | None = 32,
               mode: Mode = "sliding", mask: np.ndarray | None = None) -> np.ndarray:
    """``(C,)`` window-averaged UIQI of every band (Wang & Bovik 2002).

    ``fused``, ``gt``: ``(C, H, W)`` or ``(H, W)``.  ``block_size``: window side ``S``
    (None: one window = the whole image).  ``mode``: ``'sliding'`` (stride 1, 'valid'
    positions) or ``'distinct'`` (non-overlapping blocks; the image is cropped to the
    largest multiple of ``S``).  ``mask``: ``(H, W)`` bool, True = valid; windows that
    touch an invalid pixel are left out of the average.
    """
    x = as_image(fused, "fused")
    y = as_image(gt, "gt")
    check_same_shape(x, y, "fused", "gt")
    mask = check_mask(mask, x.shape[1:])
    if block_size is None:
        return _q_per_band_global(x, y, mask)
    size = int(block_size)
    if size < 1:
        raise InputError(f"block size must be >= 1, got {block_size}")
    if size > x.shape[1] or size > x.shape[2]:
        raise InputError(f"image of {x.shape[1]}x{x.shape[2]} pixels is smaller than one "
                         f"{size}x{size} window; use a smaller block size")
    if mode == "sliding":
        return _q_per_band_sliding(x, y, size, mask)
    if mode == "distinct":
        return _q_per_band_distinct(x, y, size, mask)
    raise InputError(f"unknown window mode {mode!r} (use 'sliding' or 'distinct')")


def q_index(x: np.ndarray, y: np.ndarray, block_size: int | None = 32,
            mode: Mode = "sliding", mask: np.ndarray | None = None) -> float:
    """UIQI of two single-band images ``(H, W)``, averaged over windows (Wang & Bovik 2002).

    Symmetric in ``x`` and ``y``.  See :func:`q_per_band` for the arguments; the
    degenerate-window rules are those of the module docstring.  Ideal value 1.
    """
    xa, ya = np.asarray(x), np.asarray(y)
    if xa.ndim != 2 or ya.ndim != 2:
        raise InputError(f"q_index takes two (H, W) images, got {xa.shape} and {ya.shape}; "
                         "use q_avg for multi-band images")
    return float(q_per_band(xa, ya, block_size, mode, mask)[0])


def q_avg(fused: np.ndarray, gt: np.ndarray, block_size: int | None = 32,
          mode: Mode = "sliding", mask: np.ndarray | None = None) -> float:
    """Q_avg: mean over bands of the window-averaged UIQI (Wang & Bovik 2002).

    ``fused``, ``gt``: ``(C, H, W)``.  Default: sliding 32x32 window, 'valid' positions
    (the reduced-resolution convention of the Vivone toolbox).  Ideal value 1.
    """
    return float(np.mean(q_per_band(fused, gt, block_size, mode, mask)))
