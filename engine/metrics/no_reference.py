"""Full-resolution (no-reference) indices: D_lambda, D_s, QNR, D_lambda^(K), HQNR, D_rho.

Inputs everywhere: ``fused`` F ``(L, H, W)``, ``pan`` P ``(H, W)``, ``ms`` M ``(L, h, w)``
with ``H = R h``, ``W = R w`` (``R`` = ``ratio``), float64 internally.

QNR, original definition (default, ``variant='original'``).  Alparone, Aiazzi,
Baronti, Garzelli, Nencini & Selva, "Multispectral and Panchromatic Data Fusion
Assessment Without Reference", PE&RS 74(2), 2008::

    D_lambda = [1/(L(L-1)) sum_l sum_{r!=l} |Q(F_l, F_r) - Q(M_l, M_r)|^p]^(1/p)
    D_s      = [1/L sum_l |Q(F_l, P) - Q(M_l, P_LR)|^q]^(1/q)
    QNR      = (1 - D_lambda)^alpha (1 - D_s)^beta,     p = q = alpha = beta = 1

Q is the UIQI averaged over distinct blocks: ``S x S`` at PAN scale for the F and P
terms, ``S/R x S/R`` at MS scale for the M and P_LR terms (same ground footprint).
``P_LR = imresize_bicubic(P, 1/R)`` (MATLAB-style bicubic with antialiasing, the
"original paper" option of the Vivone/DLPan toolbox).

QNR, ``variant='toolbox'`` ("toolbox 1.0", Vivone et al., IEEE TGRS 2015): everything at
PAN scale on distinct ``S x S`` blocks; D_lambda compares Q(F_l, F_r) with
Q(EXP_l, EXP_r), ``EXP = interp23tap(M)``; D_s compares Q(F_b, P) with
Q(EXP_b, interp23tap(imresize_bicubic(P, 1/R))).

D_lambda^(K): Khan, Alparone & Chanussot, "Pansharpening Quality Assessment Using the
Modulation Transfer Functions of Instruments", IEEE TGRS 47(11), 2009, in the 2021
toolbox form ``1 - Q2n(reference = interp23tap(M), test = MTF_MS * F)`` with the
toolbox MTF kernels (:func:`engine.filters.mtf_filter`, ``convention='toolbox'``),
32x32 blocks, shift 32.  HQNR = (1 - D_lambda^(K)) (1 - D_s[toolbox]) (Aiazzi et al.,
"Full scale assessment of pansharpening methods and data products", SPIE 2014;
Vivone et al., IEEE GRSM 2021).

D_rho: Scarpa & Ciotola, "Full-Resolution Quality Assessment for Pansharpening",
Remote Sensing 14(8), 2022 (see :func:`d_rho` for the window used).

Sizes: the block-based D_lambda / D_s crop F, P (and EXP) to the largest multiple of
``S`` (top-left part) and M, P_LR to the matching ``(H_c/R, W_c/R)``; images smaller than
one block raise :class:`InputError`.  D_lambda^(K) uses Q2n, which mirror-pads instead.

Flat blocks: every block Q follows the ``img_qi`` degenerate-window rules of
:mod:`engine.metrics.uiqi` (never NaN), unlike the toolbox's block UQI.

Nodata: ``mask`` ``(H, W)`` bool at PAN scale, True = valid.  A PAN-scale ``S x S`` block
that holds an invalid pixel is left out of every block average, and so is the MS-scale
``S/R x S/R`` block with the same footprint.  Filters (interp23tap, MTF, bicubic) still
see the nodata values, so blocks next to nodata are affected by them: put a neutral
value (e.g. the image mean) under the mask.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Literal, Sequence

import numpy as np
import scipy.fft

from ..errors import InputError
from ..filters import imresize_bicubic, interp23tap, mtf_filter
from ._checks import as_image, as_pan, check_fr_inputs, check_gnyq, check_mask, check_ratio
from .blocks import (
    block_cross_moments, block_valid, flat_tolerance, row_chunks, sliding_sums, sliding_valid,
)
from .q2n import q2n
from .uiqi import uiqi_from_moments

Variant = Literal["original", "toolbox"]


def block_q_matrix(stack: np.ndarray, size: int, valid: np.ndarray) -> np.ndarray:
    """``(C, C)`` UIQI of every band pair of ``stack`` averaged over distinct blocks.

    ``stack``: ``(C, H, W)`` with sides multiples of ``size``; ``valid``: ``(H/S, W/S)``
    bool selecting the blocks that enter the average.
    """
    if not valid.any():
        raise InputError(f"no {size}x{size} block is entirely valid under the mask")
    m = block_cross_moments(stack, None, size)
    tol = flat_tolerance(stack, size, sliding=False)[:, 0, 0]
    var = m.var_a
    q = uiqi_from_moments(m.mean_a[:, :, None], m.mean_a[:, None, :], var[:, :, None],
                          var[:, None, :], m.cov, tol[:, None], tol[None, :])
    return q[valid.ravel()].mean(axis=0)


def _d_lambda_from(qf: np.ndarray, qm: np.ndarray, bands: int, p: float) -> float:
    if bands < 2:
        raise InputError("D_lambda needs at least 2 bands")
    off = ~np.eye(bands, dtype=bool)
    diff = np.abs(qf[:bands, :bands] - qm[:bands, :bands])[off]
    return float(np.mean(diff**p) ** (1.0 / p))


def _d_s_from(qf: np.ndarray, qm: np.ndarray, bands: int, q: float) -> float:
    diff = np.abs(qf[:bands, bands] - qm[:bands, bands])
    return float(np.mean(diff**q) ** (1.0 / q))


class _FullResolution:
    """Shared, lazily computed intermediates of the full-resolution indices."""

    def __init__(self, fused, pan, ms, ratio, block_size, mask):
        if pan is None:
            self.f = as_image(fused, "fused")
            self.m = as_image(ms, "ms")
            self.r = check_ratio(ratio)
            if self.f.shape[0] != self.m.shape[0]:
                raise InputError(f"fused has {self.f.shape[0]} bands but ms has "
                                 f"{self.m.shape[0]}; they must have the same bands")
            if (self.m.shape[1] * self.r, self.m.shape[2] * self.r) != self.f.shape[1:]:
                raise InputError(
                    f"ratio mismatch: ms {self.m.shape[1:]} times ratio {self.r} does not "
                    f"give the fused size {self.f.shape[1:]}")
            self.p = None
            self.mask = check_mask(mask, self.f.shape[1:])
        else:
            self.f, self.p, self.m, self.r, self.mask = check_fr_inputs(fused, pan, ms, ratio,
                                                                        mask)
        self.bands = self.f.shape[0]
        self.s = int(block_size)
        if self.s < 2:
            raise InputError(f"block size must be >= 2, got {block_size}")
        h, w = self.f.shape[1:]
        if h < self.s or w < self.s:
            raise InputError(f"image of {h}x{w} pixels is smaller than one "
                             f"{self.s}x{self.s} block; use a larger image or a smaller block")
        self.hc, self.wc = (h // self.s) * self.s, (w // self.s) * self.s
        self.valid = block_valid(self.mask, self.s, (self.hc, self.wc))
        if not self.valid.any():
            raise InputError(f"no {self.s}x{self.s} block is entirely valid under the mask")
        self._cache: dict[str, object] = {}

    def _get(self, key, fn):
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def _need_pan(self):
        if self.p is None:
            raise InputError("this index needs the PAN image")

    def _crop(self, img):
        return img[..., : self.hc, : self.wc]

    # --- PAN scale, F terms (shared by both variants) --------------------------------
    def q_fused(self) -> np.ndarray:
        """Q matrix of [F; P] (or F alone) on S x S blocks at PAN scale."""
        def run():
            stack = self.f if self.p is None else np.concatenate([self.f, self.p[None]])
            return block_q_matrix(self._crop(stack), self.s, self.valid)
        return self._get("q_fused", run)

    # --- original variant: MS scale ---------------------------------------------------
    def p_lr(self) -> np.ndarray:
        self._need_pan()
        return self._get("p_lr", lambda: imresize_bicubic(self.p, 1.0 / self.r))

    def q_ms_original(self) -> np.ndarray:
        def run():
            if self.s % self.r:
                raise InputError(f"the original QNR needs a block size that is a multiple of "
                                 f"the ratio (S/R blocks at MS scale); got S={self.s}, "
                                 f"R={self.r}")
            sl = self.s // self.r
            stack = self.m if self.p is None else np.concatenate([self.m, self.p_lr()[None]])
            stack = stack[:, : self.hc // self.r, : self.wc // self.r]
            return block_q_matrix(stack, sl, self.valid)
        return self._get("q_ms_original", run)

    # --- toolbox variant: EXP at PAN scale --------------------------------------------
    def exp(self) -> np.ndarray:
        return self._get("exp", lambda: interp23tap(self.m, self.r))

    def q_exp_toolbox(self) -> np.ndarray:
        def run():
            stack = self.exp()
            if self.p is not None:
                p_tilde = interp23tap(self.p_lr(), self.r)
                stack = np.concatenate([stack, p_tilde[None]])
            return block_q_matrix(self._crop(stack), self.s, self.valid)
        return self._get("q_exp_toolbox", run)

    def q_reference(self, variant: Variant) -> np.ndarray:
        if variant == "original":
            return self.q_ms_original()
        if variant == "toolbox":
            return self.q_exp_toolbox()
        raise InputError(f"unknown QNR variant {variant!r} (use 'original' or 'toolbox')")

    # --- indices -----------------------------------------------------------------------
    def d_lambda(self, variant: Variant, p: float = 1.0) -> float:
        qm = self.q_reference(variant)
        return _d_lambda_from(self.q_fused(), qm, self.bands, p)

    def d_s(self, variant: Variant, q: float = 1.0) -> float:
        self._need_pan()
        qm = self.q_reference(variant)
        return _d_s_from(self.q_fused(), qm, self.bands, q)

    def mtf_filtered(self, gnyq: Sequence[float] | float, workers: int = -1) -> np.ndarray:
        """F low-passed band by band with the toolbox MTF kernels (replicate borders).

        ``workers``: threads of the FFT convolutions (-1: every core).
        """
        g = check_gnyq(gnyq, self.bands)
        with scipy.fft.set_workers(workers):
            return mtf_filter(self.f, g, self.r, convention="toolbox")

    def d_lambda_k(self, gnyq: Sequence[float] | float,
                   filtered: np.ndarray | None = None) -> float:
        if filtered is None:
            filtered = self.mtf_filtered(gnyq)
        return 1.0 - q2n(filtered, self.exp(), block_size=self.s, mask=self.mask)


def d_lambda(fused: np.ndarray, ms: np.ndarray, ratio: int, block_size: int = 32,
             variant: Variant = "original", mask: np.ndarray | None = None,
             p: float = 1.0) -> float:
    """Spectral distortion D_lambda of QNR (Alparone et al. 2008). Ideal value 0.

    ``variant='original'``: band-pair Q of F on ``S x S`` blocks vs band-pair Q of M on
    ``S/R x S/R`` blocks at MS scale.  ``variant='toolbox'``: vs band-pair Q of
    ``interp23tap(M)`` on ``S x S`` blocks at PAN scale.  ``p`` is the exponent (1).
    """
    return _FullResolution(fused, None, ms, ratio, block_size, mask).d_lambda(variant, p)


def d_s(fused: np.ndarray, pan: np.ndarray, ms: np.ndarray, ratio: int, block_size: int = 32,
        variant: Variant = "original", mask: np.ndarray | None = None,
        q: float = 1.0) -> float:
    """Spatial distortion D_s of QNR (Alparone et al. 2008). Ideal value 0.

    ``variant='original'``: Q(F_l, P) on ``S x S`` blocks vs Q(M_l, P_LR) on ``S/R``
    blocks at MS scale, ``P_LR = imresize_bicubic(P, 1/R)``.  ``variant='toolbox'``
    (the D_s inside HQNR): Q(F_l, P) vs Q(interp23tap(M)_l, interp23tap(P_LR)) on
    ``S x S`` blocks at PAN scale.  ``q`` is the exponent (1).
    """
    return _FullResolution(fused, pan, ms, ratio, block_size, mask).d_s(variant, q)


def qnr(fused: np.ndarray, pan: np.ndarray, ms: np.ndarray, ratio: int, block_size: int = 32,
        variant: Variant = "original", mask: np.ndarray | None = None, p: float = 1.0,
        q: float = 1.0, alpha: float = 1.0, beta: float = 1.0) -> float:
    """QNR = (1 - D_lambda)^alpha (1 - D_s)^beta (Alparone et al. 2008). Ideal value 1.

    Name the variant next to the value: 'original' (default) and 'toolbox' give
    different numbers for the same image.
    """
    fr = _FullResolution(fused, pan, ms, ratio, block_size, mask)
    return float((1.0 - fr.d_lambda(variant, p)) ** alpha * (1.0 - fr.d_s(variant, q)) ** beta)


def d_lambda_k(fused: np.ndarray, ms: np.ndarray, ratio: int, gnyq: float | Sequence[float],
               block_size: int = 32, mask: np.ndarray | None = None) -> float:
    """Khan's spectral distortion, 2021 toolbox form (Khan, Alparone & Chanussot 2009).

    ``1 - Q2n(test = mtf_filter(F, gnyq, R, 'toolbox'), reference = interp23tap(M))``
    at PAN scale, ``S x S`` blocks with shift ``S``.  ``gnyq``: MS MTF gain at Nyquist,
    one per band or a scalar (see :func:`engine.sensors.get_sensor`).  Ideal value 0.
    """
    return _FullResolution(fused, None, ms, ratio, block_size, mask).d_lambda_k(gnyq)


def hqnr(fused: np.ndarray, pan: np.ndarray, ms: np.ndarray, ratio: int,
         gnyq: float | Sequence[float], block_size: int = 32,
         mask: np.ndarray | None = None) -> float:
    """Hybrid QNR = (1 - D_lambda^(K)) (1 - D_s[toolbox]) (Aiazzi et al. 2014). Ideal 1."""
    fr = _FullResolution(fused, pan, ms, ratio, block_size, mask)
    return float((1.0 - fr.d_lambda_k(gnyq)) * (1.0 - fr.d_s("toolbox")))


def d_rho(fused: np.ndarray, pan: np.ndarray, ratio: int,
          mask: np.ndarray | None = None) -> float:
    """D_rho (Scarpa & Ciotola 2022): mean over bands and windows of ``1 - rho``.

    ``rho`` is the Pearson correlation between fused band ``b`` and PAN inside a local
    ``sigma x sigma`` window with ``sigma = R``, clipped to [-1, 1].  Window choice: a
    square ``R x R`` box sliding with stride 1 over the 'valid' positions only (no
    padding), so every correlation uses ``R^2`` real pixels; the authors' tool instead
    zero-pads a box of half-width ``ceil(R/2)`` at the border, which changes only a
    border strip of about ``R/2`` pixels.  A window flat in both images gives rho = 1,
    flat in only one gives rho = 0.  With a mask, windows touching an invalid pixel are
    left out.  ``fused`` ``(L, H, W)``, ``pan`` ``(H, W)``.  Ideal value 0.
    """
    f = as_image(fused, "fused")
    p = as_pan(pan)
    r = check_ratio(ratio)
    if p.shape != f.shape[1:]:
        raise InputError(f"pan {p.shape} and fused {f.shape[1:]} must cover the same grid")
    mask = check_mask(mask, p.shape)
    h, w = p.shape
    if h < r or w < r:
        raise InputError(f"image of {h}x{w} pixels is smaller than one {r}x{r} window")
    valid = None if mask is None else sliding_valid(mask, r, (h, w))
    count = (h - r + 1) * (w - r + 1) if valid is None else int(valid.sum())
    if count == 0:
        raise InputError(f"no {r}x{r} window is entirely valid under the mask")
    inv_n = 1.0 / float(r * r)
    total = 0.0
    for r0, r1 in row_chunks(h - r + 1, r, w):  # chunks of rows: bounded temporaries
        rows = slice(r0, r1 + r - 1)
        ps = p[rows] - p[rows].mean()
        mp = sliding_sums(ps, r)
        mp *= inv_n
        vp = sliding_sums(ps * ps, r)
        vp *= inv_n
        vp -= mp * mp
        flat_p = vp <= flat_tolerance(ps[None], r, sliding=True)[0]
        sel = None if valid is None else valid[r0:r1]
        for b in range(f.shape[0]):  # loop over bands
            fs = f[b, rows] - f[b, rows].mean()
            mf = sliding_sums(fs, r)
            mf *= inv_n
            vf = sliding_sums(fs * fs, r)
            vf *= inv_n
            vf -= mf * mf
            cov = sliding_sums(fs * ps, r)
            cov *= inv_n
            cov -= mf * mp
            flat_f = vf <= flat_tolerance(fs[None], r, sliding=True)[0]
            den = vf * vp
            with np.errstate(divide="ignore", invalid="ignore"):
                np.sqrt(den, out=den)
                rho = np.divide(cov, den, out=cov)
            either = flat_f | flat_p
            if either.any():  # flat windows: 1 if flat in both images, 0 if in one
                rho[either] = (flat_f & flat_p)[either]
            np.clip(rho, -1.0, 1.0, out=rho)
            if sel is None:
                total += rho.size - rho.sum()
            else:
                total += np.count_nonzero(sel) - rho[sel].sum()
    return float(total / (count * f.shape[0]))


def full_resolution_report(fused: np.ndarray, pan: np.ndarray, ms: np.ndarray, ratio: int,
                           gnyq: float | Sequence[float], block_size: int = 32,
                           mask: np.ndarray | None = None) -> dict[str, float]:
    """Every full-resolution index of the project's defaults, as plain floats.

    Keys: ``D_LAMBDA``, ``D_S``, ``QNR`` (original definition, Alparone 2008),
    ``D_LAMBDA_K`` (Khan, 2021 toolbox form), ``D_S_TOOLBOX`` (the toolbox-1.0 D_s used
    inside HQNR), ``HQNR``, ``D_RHO`` (window ``R x R``).  Intermediates (EXP image,
    P_LR, block statistics of F) are computed once; the MTF filtering for D_lambda^(K)
    and D_rho run in two worker threads.  ``gnyq``: MS GNyq per band (or one value),
    e.g. ``engine.sensors.get_sensor("wv3").gnyq(L)``.  ``ratio`` must be a power of 2.
    ``mask``: ``(H, W)`` bool at PAN scale, True = valid (see the module docstring).
    """
    fr = _FullResolution(fused, pan, ms, ratio, block_size, mask)
    check_gnyq(gnyq, fr.bands)
    if fr.r < 2 or fr.r & (fr.r - 1):
        raise InputError(f"HQNR and the toolbox D_s interpolate with interp23tap, which needs "
                         f"a ratio that is a power of 2; got {fr.r}")
    # Two independent parts run in worker threads while the main thread computes the
    # block statistics and the EXP image: the MTF filtering of F (FFTs) and D_rho
    # (numpy on small chunks).  Both release the GIL for most of their work, so on a
    # multi-core machine they cost little wall time; on one core nothing is lost.
    with ThreadPoolExecutor(max_workers=2) as pool:
        filtered = pool.submit(fr.mtf_filtered, gnyq, 1)
        rho = pool.submit(d_rho, fr.f, fr.p, fr.r, fr.mask)
        dl = fr.d_lambda("original")
        ds = fr.d_s("original")
        dst = fr.d_s("toolbox")
        dlk = fr.d_lambda_k(gnyq, filtered.result())
        drho = rho.result()
    return {
        "D_LAMBDA": dl,
        "D_S": ds,
        "QNR": float((1.0 - dl) * (1.0 - ds)),
        "D_LAMBDA_K": float(dlk),
        "D_S_TOOLBOX": dst,
        "HQNR": float((1.0 - dlk) * (1.0 - dst)),
        "D_RHO": drho,
    }
