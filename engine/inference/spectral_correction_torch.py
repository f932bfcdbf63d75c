"""The spectral consistency correction on a torch device (for GPU runs).

Same formula and kernels as :mod:`engine.inference.spectral_correction` (``F + (M~ -
LP(F))``, the rank-1 MTF kernel as two 1-D passes, normalised convolution over valid
pixels, replicate borders), computed with depthwise convolutions on ``device`` in float32,
so that a GPU run does not wait for the single-threaded numpy filter on the host.  Equal to
the numpy version within float32 rounding (tested on the CPU).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from .spectral_correction import HALO, _gains, separable_mtf


Kernels = tuple[torch.Tensor, torch.Tensor]


def separable_kernels(gains: Sequence[float], ratio: int, device: torch.device | str) -> Kernels:
    """Depthwise ``(C, 1, 41, 1)`` column and ``(C, 1, 1, 41)`` row kernels of the
    per-band MTF-matched low-pass (gains at Nyquist, one per band)."""
    cols, rows = zip(*(separable_mtf(float(g), int(ratio)) for g in gains))
    col = torch.tensor(np.stack(cols), dtype=torch.float32, device=device)
    row = torch.tensor(np.stack(rows), dtype=torch.float32, device=device)
    return col[:, None, :, None], row[:, None, None, :]


def _filter(x: torch.Tensor, col: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
    """Separable low-pass of ``x (N, C, H, W)``, replicate borders."""
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (0, 0, HALO, HALO), mode="replicate"), col, groups=c)
    return F.conv2d(F.pad(x, (HALO, HALO, 0, 0), mode="replicate"), row, groups=c)


def correct_tensor(fused: torch.Tensor, bms: torch.Tensor, kernels: Kernels) -> torch.Tensor:
    """Differentiable correction ``fused + (bms - LP(fused))`` of ``(N, C, H, W)`` tensors
    without nodata (replicate borders); ``kernels`` from :func:`separable_kernels`.  Used to
    train or adapt a model through the correction."""
    return fused + bms - _filter(fused, *kernels)


def correct_on_device(fused: np.ndarray, bms: np.ndarray, ratio: int,
                      gains: float | Sequence[float], device: torch.device | str
                      ) -> np.ndarray:
    """:func:`engine.inference.spectral_correction.correct` computed on ``device``:
    ``(C, H, W)`` arrays in, ``(C, H, W)`` float32 out, NaN where either input is NaN."""
    f = torch.as_tensor(np.ascontiguousarray(fused, dtype=np.float32), device=device)
    m = torch.as_tensor(np.ascontiguousarray(bms, dtype=np.float32), device=device)
    if f.dim() != 3 or f.shape != m.shape:
        raise InputError(f"fused {tuple(f.shape)} and interpolated MS {tuple(m.shape)} must "
                         "both be (C, H, W) of the same shape")
    g = _gains(gains, f.shape[0], ratio)
    col, row = separable_kernels(g, int(ratio), f.device)
    with torch.no_grad():
        valid = torch.isfinite(f).all(0) & torch.isfinite(m).all(0)
        f0 = torch.where(valid, f, torch.zeros((), device=f.device))[None]
        if bool(valid.all()):
            low = _filter(f0, col, row)[0]
        else:
            w = valid.to(torch.float32)[None, None].expand(1, f.shape[0], -1, -1)
            num, den = _filter(f0, col, row)[0], _filter(w, col, row)[0]
            low = torch.where(den > 1e-6, num / den.clamp_min(1e-6),
                              torch.zeros((), device=f.device))
        out = torch.where(valid, f0[0] + m - low, torch.full((), float("nan"), device=f.device))
    return out.cpu().numpy()
