"""Reduced-resolution (reference) indices: the fused image ``F`` is compared with a GT ``G``.

Every function takes ``fused`` and ``gt`` as ``(C, H, W)`` arrays (``(H, W)`` is read as
one band), float64 internally, and an optional ``mask`` (``(H, W)`` bool, True = valid):
pixel-wise indices (PSNR, SAM, ERGAS, CC, SCC) use the valid pixels only; windowed
indices (SSIM) leave out the windows that touch an invalid pixel.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import InputError
from ._checks import as_image, check_mask, check_ratio, check_same_shape
from .blocks import sliding_valid


def _pair(fused: np.ndarray, gt: np.ndarray, mask: np.ndarray | None):
    f = as_image(fused, "fused")
    g = as_image(gt, "gt")
    check_same_shape(f, g, "fused", "gt")
    return f, g, check_mask(mask, f.shape[1:])


def _valid_pixels(img: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``(C, Npix)`` pixel values, restricted to the mask."""
    return img.reshape(img.shape[0], -1) if mask is None else img[:, mask]


def psnr(fused: np.ndarray, gt: np.ndarray, peak: float | None = None,
         mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB, per band, averaged over bands.

    ``PSNR_b = 10 log10(peak^2 / MSE_b)``.  ``peak``: the data's maximum value
    (``2^bits - 1`` for DN, 1 for reflectance); None uses the GT maximum over the valid
    pixels.  A band with MSE 0 gives +inf (so identical images give inf).
    """
    f, g, mask = _pair(fused, gt, mask)
    fv, gv = _valid_pixels(f, mask), _valid_pixels(g, mask)
    pk = float(gv.max()) if peak is None else float(peak)
    if not pk > 0:
        raise InputError(f"PSNR peak must be positive, got {pk}; pass peak= explicitly")
    mse = np.mean((fv - gv) ** 2, axis=1)
    with np.errstate(divide="ignore"):
        per_band = 10.0 * np.log10(pk**2 / mse)
    return float(np.mean(per_band))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    t = np.arange(size) - (size - 1) / 2.0
    g = np.exp(-(t**2) / (2.0 * sigma**2))
    return g / g.sum()


def _gauss_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable Gaussian weighting at the 'valid' positions of the last two axes."""
    r = len(g) // 2
    out = ndimage.correlate1d(img, g, axis=-2, mode="constant")[..., r:-r, :]
    return ndimage.correlate1d(out, g, axis=-1, mode="constant")[..., r:-r]


def ssim(fused: np.ndarray, gt: np.ndarray, data_range: float | None = None,
         mask: np.ndarray | None = None) -> float:
    """Structural similarity (Wang, Bovik, Sheikh & Simoncelli, IEEE TIP 2004).

    Statistics from an 11x11 Gaussian window (sigma 1.5, unit sum) at the 'valid'
    positions (no padding), ``C1 = (0.01 D)^2``, ``C2 = (0.03 D)^2`` with ``D =
    data_range`` (None: the GT maximum, i.e. the range of non-negative data starting
    at 0).  The index is the mean of the SSIM map per band (no clamping), averaged over
    bands.  With a mask, windows touching an invalid pixel are left out.
    """
    f, g, mask = _pair(fused, gt, mask)
    if f.shape[1] < 11 or f.shape[2] < 11:
        raise InputError(f"SSIM needs images of at least 11x11 pixels, got {f.shape[1:]}")
    d = float(g.max() if mask is None else g[:, mask].max()) if data_range is None \
        else float(data_range)
    if not d > 0:
        raise InputError(f"SSIM data range must be positive, got {d}; pass data_range=")
    c1, c2 = (0.01 * d) ** 2, (0.03 * d) ** 2
    w = _gaussian_window()
    valid = sliding_valid(mask, 11, f.shape[1:])
    if not valid.any():
        raise InputError("no 11x11 SSIM window is entirely valid under the mask")
    per_band = []
    for x, y in zip(f, g):  # loop over bands (bounded temporaries)
        mx, my = _gauss_valid(x, w), _gauss_valid(y, w)
        sxx = _gauss_valid(x * x, w) - mx * mx
        syy = _gauss_valid(y * y, w) - my * my
        sxy = _gauss_valid(x * y, w) - mx * my
        smap = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
        per_band.append(smap[valid].mean())
    return float(np.mean(per_band))


def sam(fused: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Spectral angle mapper in **degrees** (Yuhas, Goetz & Boardman 1992).

    Mean over pixels of ``arccos(<F(p), G(p)> / (|F(p)| |G(p)|))``; pixels where either
    spectrum has zero norm are excluded (as in the Vivone toolbox); the cosine is
    clipped to [-1, 1] against rounding.  Ideal value 0.
    """
    f, g, mask = _pair(fused, gt, mask)
    fv, gv = _valid_pixels(f, mask), _valid_pixels(g, mask)
    dot = np.sum(fv * gv, axis=0)
    norm = np.sqrt(np.sum(fv * fv, axis=0) * np.sum(gv * gv, axis=0))
    keep = norm > 0
    if not keep.any():
        raise InputError("SAM is undefined: every (valid) pixel has a zero spectrum")
    cos = np.clip(dot[keep] / norm[keep], -1.0, 1.0)
    return float(np.degrees(np.mean(np.arccos(cos))))


def ergas(fused: np.ndarray, gt: np.ndarray, ratio: int, mask: np.ndarray | None = None) -> float:
    """ERGAS (Wald 2000): ``100/R * sqrt(mean_l (RMSE_l / mu_l)^2)``, ``mu_l`` = GT band mean.

    ``ratio`` R is the PAN/MS resolution ratio (100/R = 25 for R = 4).  A GT band with
    mean 0 makes ERGAS +inf.  Ideal value 0.
    """
    f, g, mask = _pair(fused, gt, mask)
    r = check_ratio(ratio)
    fv, gv = _valid_pixels(f, mask), _valid_pixels(g, mask)
    rmse = np.sqrt(np.mean((fv - gv) ** 2, axis=1))
    mu = np.mean(gv, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(rmse == 0, 0.0, rmse / np.abs(mu))
    return float(100.0 / r * np.sqrt(np.mean(rel**2)))


_SOBEL = np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])


def sobel_magnitude(img: np.ndarray) -> np.ndarray:
    """``(C, H, W) -> (C, H-2, W-2)`` Sobel gradient magnitude, toolbox SCC border rule.

    Each band first loses its outermost rows and columns; the horizontal and vertical
    Sobel responses of the cropped band are computed at the same size with zero padding
    (MATLAB ``imfilter`` default) and combined as ``sqrt(gx^2 + gy^2)``.
    """
    core = np.asarray(img, dtype=np.float64)[:, 1:-1, 1:-1]
    gy = ndimage.correlate(core, _SOBEL[None], mode="constant", cval=0.0)
    gx = ndimage.correlate(core, _SOBEL.T[None], mode="constant", cval=0.0)
    return np.sqrt(gx * gx + gy * gy)


def scc(fused: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Spatial correlation coefficient, Vivone-toolbox definition (Zhou, Civco & Silander 1998).

    Both images are high-passed with the Sobel gradient magnitude (:func:`sobel_magnitude`,
    border rule of the toolbox, zero-padded edge kept) and correlated *uncentred* over
    all bands jointly: ``sum(Fs Gs) / sqrt(sum(Fs^2) sum(Gs^2))``.  With a mask, the
    sums run over the magnitude pixels whose 3x3 neighbourhood (in the cropped band) is
    entirely valid.  Two edge-free images give 1, one edge-free image gives 0.
    Ideal value 1.
    """
    f, g, mask = _pair(fused, gt, mask)
    if f.shape[1] < 3 or f.shape[2] < 3:
        raise InputError(f"SCC needs images of at least 3x3 pixels, got {f.shape[1:]}")
    fs, gs = sobel_magnitude(f), sobel_magnitude(g)
    if mask is not None:
        core = mask[1:-1, 1:-1]
        ok = ndimage.minimum_filter(core.astype(np.uint8), size=3, mode="constant",
                                    cval=1).astype(bool)
        fs, gs = fs[:, ok], gs[:, ok]
    num = float(np.sum(fs * gs))
    den = float(np.sqrt(np.sum(fs * fs) * np.sum(gs * gs)))
    if den == 0:
        return 1.0 if not fs.any() and not gs.any() else 0.0
    return num / den


def cc(fused: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean over bands of the Pearson correlation between fused and GT bands.

    A band that is constant in both images scores 1, constant in only one scores 0.
    Ideal value 1.
    """
    f, g, mask = _pair(fused, gt, mask)
    fv, gv = _valid_pixels(f, mask), _valid_pixels(g, mask)
    fc = fv - fv.mean(axis=1, keepdims=True)
    gc = gv - gv.mean(axis=1, keepdims=True)
    num = np.sum(fc * gc, axis=1)
    sf, sg = np.sum(fc * fc, axis=1), np.sum(gc * gc, axis=1)
    eps = np.finfo(np.float64).eps
    flat_f = sf <= (64 * eps * np.abs(fv).max(axis=1)) ** 2 * fv.shape[1]
    flat_g = sg <= (64 * eps * np.abs(gv).max(axis=1)) ** 2 * gv.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(flat_f | flat_g, np.where(flat_f & flat_g, 1.0, 0.0),
                     num / np.sqrt(np.where(flat_f | flat_g, 1.0, sf * sg)))
    return float(np.mean(r))
