"""Reduced-resolution report: every reference index of the project's defaults at once."""

from __future__ import annotations

import numpy as np

from ._checks import as_image, check_mask, check_ratio, check_same_shape
from .q2n import q2n
from .reference import cc, ergas, psnr, sam, scc, ssim
from .uiqi import q_avg


def reduced_resolution_report(fused: np.ndarray, gt: np.ndarray, ratio: int,
                              peak: float | None = None, block_size: int = 32,
                              mask: np.ndarray | None = None) -> dict[str, float]:
    """Reduced-resolution indices of ``fused`` ``(L, H, W)`` against ``gt`` ``(L, H, W)``.

    Keys (plain floats): ``Q2N`` (distinct ``S x S`` blocks, shift ``S``, GT as
    reference), ``SAM`` (degrees), ``ERGAS`` (100/R, GT means), ``SCC`` (toolbox Sobel
    definition), ``Q_AVG`` (sliding ``S x S`` window, 'valid'), ``PSNR`` (dB, per band,
    averaged), ``SSIM`` (Gaussian 11x11, sigma 1.5), ``CC`` (mean per-band Pearson).
    ``peak`` is the PSNR peak and the SSIM data range; None uses the GT maximum for both.
    ``mask`` ``(H, W)`` bool (True = valid): pixel indices use valid pixels, block and
    window indices leave out the blocks/windows touching an invalid pixel.
    """
    f = as_image(fused, "fused")
    g = as_image(gt, "gt")
    check_same_shape(f, g, "fused", "gt")
    mask = check_mask(mask, f.shape[1:])
    r = check_ratio(ratio)
    if peak is None:
        peak = float(g.max() if mask is None else g[:, mask].max())
    return {
        "Q2N": q2n(f, g, block_size=block_size, mask=mask),
        "SAM": sam(f, g, mask=mask),
        "ERGAS": ergas(f, g, r, mask=mask),
        "SCC": scc(f, g, mask=mask),
        "Q_AVG": q_avg(f, g, block_size=block_size, mode="sliding", mask=mask),
        "PSNR": psnr(f, g, peak=peak, mask=mask),
        "SSIM": ssim(f, g, data_range=peak, mask=mask),
        "CC": cc(f, g, mask=mask),
    }
