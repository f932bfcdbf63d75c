"""Quality indices of pan-sharpening, vectorised numpy (float64).

Reduced resolution (need a GT): :func:`psnr`, :func:`ssim`, :func:`sam`, :func:`ergas`,
:func:`scc`, :func:`cc`, :func:`q_index`, :func:`q_avg`, :func:`q2n` and
:func:`reduced_resolution_report`.

Full resolution (no reference): :func:`d_lambda`, :func:`d_s`, :func:`qnr` (original
Alparone 2008 definition by default, ``variant='toolbox'`` for toolbox 1.0),
:func:`d_lambda_k`, :func:`hqnr`, :func:`d_rho` and :func:`full_resolution_report`.

Window statistics (distinct blocks by reshaping, sliding windows by integral images)
live in :mod:`.blocks`.  Images are bands-first: MS ``(L, h, w)``, PAN ``(H, W)``,
fused/GT ``(L, H, W)``.
"""

from .no_reference import (
    d_lambda, d_lambda_k, d_rho, d_s, full_resolution_report, hqnr, qnr,
)
from .q2n import hypercomplex_conj, hypercomplex_multiply, q2n
from .reference import cc, ergas, psnr, sam, scc, ssim
from .reduced_resolution import reduced_resolution_report
from .uiqi import q_avg, q_index, q_per_band, uiqi_from_moments

__all__ = [
    "cc", "d_lambda", "d_lambda_k", "d_rho", "d_s", "ergas", "full_resolution_report",
    "hqnr", "hypercomplex_conj", "hypercomplex_multiply", "psnr", "q2n", "q_avg",
    "q_index", "q_per_band", "qnr", "reduced_resolution_report", "sam", "scc", "ssim",
    "uiqi_from_moments",
]
