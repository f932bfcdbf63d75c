"""Local quality: the no-reference and reference indices block by block, and per band.

The global indices of :mod:`.no_reference` and :mod:`.reduced_resolution` are averages
over an image; a user also needs to see *where* a fusion is poor.  These functions return
one value per distinct ``S x S`` block (a small image on the PAN grid, one pixel per
block) and one value per band.

No reference (Alparone et al., PE&RS 2008; Scarpa & Ciotola, Remote Sensing 2022), for a
block ``k``:

* local D_lambda ``= 1/(L(L-1)) sum_{l != r} |Q_k(F_l, F_r) - Q_k(M_l, M_r)|``;
* local D_s ``= 1/L sum_l |Q_k(F_l, P) - Q_k(M_l, P_LR)|``;
* local D_rho ``= mean over bands and over the R x R windows starting in the block of
  (1 - rho)``, rho the local correlation of F_l and P;

with Q_k the UIQI of the block (``S x S`` at PAN scale for F and P, ``S/R x S/R`` at MS
scale for M and P_LR, the same footprint).  Per band: the D_lambda term of band ``l``
(mean over ``r``), its D_s term and its D_rho, computed from the block averages as the
global indices are, so the band means of the D_lambda and D_s terms equal D_LAMBDA and D_S,
and that of D_rho equals D_RHO over the block-aligned part of the image.  D_rho is
computed one band and one strip of blocks at a time (bounded temporaries).

Reference (Wald's protocol): per block ``1 -`` the mean per-band Q (so that, as for every
other map band, 0 is best), the SAM (degrees, mean over the block's pixels) and the
relative RMSE ``100 * RMSE / mean(GT)`` averaged over bands;
per band Q, PSNR and CC.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..filters import imresize_bicubic
from .blocks import block_cross_moments, block_valid, flat_tolerance, sliding_moments
from .uiqi import q_per_band, uiqi_from_moments


@dataclass
class LocalQuality:
    """Per-block maps ``(nby, nbx)`` (NaN = block left out) and per-band values."""

    block_size: int
    maps: dict[str, np.ndarray]
    descriptions: dict[str, str]
    per_band: dict[str, list[float]] = field(default_factory=dict)


def block_q_matrices(stack: np.ndarray, size: int) -> np.ndarray:
    """``(nby, nbx, C, C)`` UIQI of every band pair inside every distinct block."""
    c, h, w = stack.shape
    m = block_cross_moments(stack, None, size)
    tol = flat_tolerance(stack, size, sliding=False)[:, 0, 0]
    q = uiqi_from_moments(m.mean_a[:, :, None], m.mean_a[:, None, :], m.var_a[:, :, None],
                          m.var_a[:, None, :], m.cov, tol[:, None], tol[None, :])
    return q.reshape(h // size, w // size, c, c)


def _rho_strip(fused: np.ndarray, pan: np.ndarray, ratio: int) -> np.ndarray:
    """``(h-R+1, w-R+1)`` local correlation of one band with the PAN (D_rho rules: a
    window flat in both is 1, flat in one is 0)."""
    m = sliding_moments(fused[None], pan[None], ratio)
    flat_f = m.var_x[0] <= m.tol_x[0]
    flat_p = m.var_y[0] <= m.tol_y[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = m.cov[0] / np.sqrt(m.var_x[0] * m.var_y[0])
    either = flat_f | flat_p
    rho[either] = (flat_f & flat_p)[either]
    return np.clip(rho, -1.0, 1.0)


def _local_rho(f: np.ndarray, p: np.ndarray, r: int, s: int, nby: int, nbx: int,
               mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Block means ``(nby, nbx)`` and band means ``(L,)`` of ``1 - rho`` over the R x R
    windows whose top-left pixel lies in a block.  One strip of ``S + R - 1`` rows and one
    band at a time, so temporaries stay a few strips in size."""
    bands, h, w = f.shape
    wc = nbx * s
    block_sum = np.zeros((nby, nbx))
    block_cnt = np.zeros((nby, nbx))
    band_sum = np.zeros(bands)
    band_cnt = 0.0
    for by in range(nby):
        y0, y1 = by * s, min(by * s + s + r - 1, h)
        ok = None
        if mask is not None:
            from .blocks import sliding_valid
            ok = sliding_valid(np.asarray(mask[y0:y1], bool), r, (y1 - y0, w))
        for b in range(bands):
            one = 1.0 - _rho_strip(f[b, y0:y1], p[y0:y1], r)[:s, :wc]
            if ok is not None:
                one[~ok[:s, :wc]] = np.nan
            rows, cols = one.shape
            padded = np.full((s, wc), np.nan)
            padded[:rows, :cols] = one
            per_block = padded.reshape(s, nbx, s)
            finite = np.isfinite(per_block)
            block_sum[by] += np.where(finite, per_block, 0.0).sum(axis=(0, 2))
            block_cnt[by] += finite.sum(axis=(0, 2))
            band_sum[b] += np.nansum(one)
            if b == 0:
                band_cnt += float(np.isfinite(one).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return block_sum / block_cnt, band_sum / max(band_cnt, 1.0)


def local_no_reference(fused: np.ndarray, pan: np.ndarray, ms: np.ndarray, ratio: int,
                       block_size: int = 32, mask: np.ndarray | None = None) -> LocalQuality:
    """Local D_lambda, D_s and D_rho of ``fused (L, H, W)`` against ``pan (H, W)`` and
    ``ms (L, H/R, W/R)``, one value per ``S x S`` block (``S = block_size``, a multiple of
    ``ratio``); ``mask (H, W)`` True = valid: blocks holding an invalid pixel are NaN."""
    f = np.asarray(fused, dtype=np.float64)
    p = np.asarray(pan, dtype=np.float64)
    m = np.asarray(ms, dtype=np.float64)
    r, s = int(ratio), int(block_size)
    if s % r:
        raise InputError(f"the block size ({s}) must be a multiple of the ratio ({r})")
    bands, h, w = f.shape
    nby, nbx = h // s, w // s
    if nby == 0 or nbx == 0:
        raise InputError(f"image of {h}x{w} pixels is smaller than one {s}x{s} block")
    hc, wc = nby * s, nbx * s
    valid = block_valid(mask, s, (hc, wc))
    qf = block_q_matrices(np.concatenate([f, p[None]])[:, :hc, :wc], s)
    p_lr = imresize_bicubic(p, 1.0 / r)
    stack_lr = np.concatenate([m, p_lr[None]])[:, : hc // r, : wc // r]
    qm = block_q_matrices(stack_lr, s // r)
    off = ~np.eye(bands, dtype=bool)
    dl_pairs = np.abs(qf[..., :bands, :bands] - qm[..., :bands, :bands])  # (nby, nbx, L, L)
    local_dl = dl_pairs[..., off].mean(axis=-1) if bands > 1 else np.zeros((nby, nbx))
    ds_terms = np.abs(qf[..., :bands, bands] - qm[..., :bands, bands])  # (nby, nbx, L)
    local_ds = ds_terms.mean(axis=-1)

    local_rho, band_rho = _local_rho(f, p, r, s, nby, nbx, mask)
    for arr in (local_dl, local_ds, local_rho):
        arr[~valid] = np.nan

    qf_mean, qm_mean = qf[valid].mean(axis=0), qm[valid].mean(axis=0)
    band_dl = (np.abs(qf_mean[:bands, :bands] - qm_mean[:bands, :bands]).sum(axis=1)
               / max(bands - 1, 1))
    band_ds = np.abs(qf_mean[:bands, bands] - qm_mean[:bands, bands])
    return LocalQuality(
        s,
        {"D_LAMBDA": local_dl, "D_S": local_ds, "D_RHO": local_rho},
        {"D_LAMBDA": "local spectral distortion D_lambda (0 is best)",
         "D_S": "local spatial distortion D_s (0 is best)",
         "D_RHO": "local PAN-correlation distortion D_rho (0 is best)"},
        {"D_LAMBDA": band_dl.tolist(), "D_S": band_ds.tolist(), "D_RHO": band_rho.tolist()},
    )


class _quiet:
    """Silence numpy's 'mean of empty slice' warnings (empty blocks are NaN on purpose)."""

    def __enter__(self):
        import warnings
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


def local_reference(fused: np.ndarray, gt: np.ndarray, block_size: int = 32,
                    mask: np.ndarray | None = None, peak: float | None = None) -> LocalQuality:
    """Local Q, SAM and relative RMSE of ``fused (L, H, W)`` against ``gt (L, H, W)`` per
    ``S x S`` block, and per-band Q (distinct blocks), PSNR (dB) and CC."""
    f = np.asarray(fused, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    s = int(block_size)
    bands, h, w = f.shape
    nby, nbx = h // s, w // s
    if nby == 0 or nbx == 0:
        raise InputError(f"image of {h}x{w} pixels is smaller than one {s}x{s} block")
    hc, wc = nby * s, nbx * s
    fc, gc = f[:, :hc, :wc], g[:, :hc, :wc]
    valid = block_valid(mask, s, (hc, wc))
    m = block_cross_moments(fc, gc, s)
    tf = flat_tolerance(fc, s, sliding=False)[:, 0, 0]
    tg = flat_tolerance(gc, s, sliding=False)[:, 0, 0]
    idx = np.arange(bands)
    q = uiqi_from_moments(m.mean_a, m.mean_b, m.var_a, m.var_b, m.cov[:, idx, idx], tf, tg)
    local_q = q.mean(axis=1).reshape(nby, nbx)
    dot = (fc * gc).sum(axis=0)
    norms = np.sqrt((fc * fc).sum(axis=0) * (gc * gc).sum(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        angle = np.degrees(np.arccos(np.clip(dot / norms, -1.0, 1.0)))
    angle[norms == 0] = np.nan
    with _quiet():
        local_sam = np.nanmean(angle.reshape(nby, s, nbx, s), axis=(1, 3))
        err = ((fc - gc) ** 2).reshape(bands, nby, s, nbx, s).mean(axis=(2, 4))
        mean_g = np.abs(gc.reshape(bands, nby, s, nbx, s).mean(axis=(2, 4)))
        with np.errstate(divide="ignore", invalid="ignore"):
            local_rel = (100.0 * np.sqrt(err) / mean_g).mean(axis=0)
    for arr in (local_q, local_sam, local_rel):
        arr[~valid] = np.nan
    sel = np.ones((h, w), bool) if mask is None else np.asarray(mask, bool)
    peak = float(g[:, sel].max()) if peak is None else float(peak)
    psnr, cc = [], []
    for b in range(bands):
        fb, gb = f[b][sel], g[b][sel]
        mse = float(np.mean((fb - gb) ** 2))
        psnr.append(float("inf") if mse == 0 else 10.0 * np.log10(peak * peak / mse))
        c = np.corrcoef(fb, gb)[0, 1] if fb.std() > 0 and gb.std() > 0 else 1.0
        cc.append(float(c))
    band_q = q_per_band(fc, gc, block_size=s, mode="distinct",
                        mask=None if mask is None else np.asarray(mask, bool)[:hc, :wc])
    return LocalQuality(
        s,
        {"Q_DEFICIT": 1.0 - local_q, "SAM": local_sam, "RMSE_REL": local_rel},
        {"Q_DEFICIT": "local 1 - mean per-band Q (0 is best)",
         "SAM": "local spectral angle, degrees (0 is best)",
         "RMSE_REL": "local RMSE, % of the reference mean (0 is best)"},
        {"Q": [float(v) for v in band_q], "PSNR": psnr, "CC": cc},
    )
