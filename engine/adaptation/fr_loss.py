"""Unsupervised full-resolution loss of Z-PNN (torch).

Ciotola, Vitale, Mazza, Poggi & Scarpa, "Pansharpening by convolutional neural networks
in the full resolution framework", IEEE TGRS 60, 2022:

``L = L_spec + beta * L_struct``

* ``L_spec = mean |D(F)_b - M_b|``: every output band ``F_b`` is low-passed with the
  sensor's MTF-matched Gaussian for that band (exact-GNyq kernel, Vivone et al., IEEE
  TGRS 2015) and decimated onto the MS grid, then compared (L1) with the MS.
* ``L_struct = mean_{b,x} (1 - rho_R(F_b, P)) * [1 - rho_R(F_b, P) > 1 - rho_ref_b]``:
  ``rho_R`` is the local correlation coefficient in ``R x R`` windows between the output
  band and the PAN; ``rho_ref_b`` the correlation, in ``4R x 4R`` windows, between the
  PAN low-passed with the band's MTF filter and the interpolated MS band.  Only pixels
  whose correlation falls short of that reference are pushed up, never beyond it.

Tensors are ``(N, C, H, W)`` in model units; the PAN is ``(N, 1, H, W)``.  Patches start
on the MS grid (PAN offsets multiples of R).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..filters import mtf_kernel

_EPS = 1e-8


def mtf_kernels(gains: Sequence[float], ratio: int, device: torch.device) -> torch.Tensor:
    """Depthwise ``(C, 1, 41, 41)`` float32 kernels, one per band (exact-GNyq convention)."""
    k = np.stack([mtf_kernel(float(g), int(ratio), convention="exact") for g in gains])
    return torch.from_numpy(k[:, None].astype(np.float32)).to(device)


def lowpass(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Depthwise filtering with reflected borders; same size as ``x``."""
    pad = kernels.shape[-1] // 2
    c = x.shape[1]
    k = kernels if kernels.shape[0] == c else kernels[:1].expand(c, -1, -1, -1)
    return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="reflect"), k, groups=c)


def decimate(x: torch.Tensor, ratio: int, phase: str) -> torch.Tensor:
    """Samples on the MS grid: 'toolbox' keeps pixel ``R*k + R//2``; 'area' takes the
    centre ``R*k + (R-1)/2`` of each ``R x R`` block (mean of the two middle pixels per
    axis for even R)."""
    r = int(ratio)
    if phase == "toolbox" or r % 2 == 1:
        o = r // 2 if phase == "toolbox" else (r - 1) // 2
        return x[..., o::r, o::r]
    a, b = r // 2 - 1, r // 2
    rows = 0.5 * (x[..., a::r, :] + x[..., b::r, :])
    return 0.5 * (rows[..., a::r] + rows[..., b::r])


def local_corr(x: torch.Tensor, y: torch.Tensor, size: int) -> torch.Tensor:
    """Correlation coefficient of ``x`` and ``y`` (broadcast over channels) in
    ``size x size`` windows, same spatial size (reflected borders), clipped to [-1, 1]."""
    lo, hi = (size - 1) // 2, size // 2

    def box(t: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.pad(t, (lo, hi, lo, hi), mode="reflect"), size, stride=1)

    y = y.expand_as(x)
    mx, my = box(x), box(y)
    vx = (box(x * x) - mx * mx).clamp_min(0)
    vy = (box(y * y) - my * my).clamp_min(0)
    cov = box(x * y) - mx * my
    return (cov / torch.sqrt(vx * vy + _EPS)).clamp(-1.0, 1.0)


class FullResolutionLoss(torch.nn.Module):
    """Z-PNN loss for patches of one scene (see the module docstring).

    ``gains``: per-band MS MTF gains at Nyquist; ``phase``: how the MS sits on the PAN
    grid ('area' for georeferenced products, 'toolbox' for Wald-protocol pairs);
    ``edge``: MS pixels left out at each patch side (their filter footprint leaves the
    patch).
    """

    def __init__(self, gains: Sequence[float], ratio: int, beta: float, phase: str,
                 device: torch.device, edge: int = 2) -> None:
        super().__init__()
        self.ratio = int(ratio)
        self.beta = float(beta)
        self.phase = phase
        self.edge = int(edge)
        self.register_buffer("kernels", mtf_kernels(gains, ratio, device))

    def reference_corr(self, pan: torch.Tensor, bms: torch.Tensor) -> torch.Tensor:
        """``rho_ref`` ``(N, C, H, W)``: low-passed PAN against the interpolated MS."""
        with torch.no_grad():
            pan_lp = lowpass(pan.expand_as(bms), self.kernels)
            return local_corr(bms, pan_lp, 4 * self.ratio)

    def spectral(self, fused: torch.Tensor, ms: torch.Tensor) -> torch.Tensor:
        """``L_spec``: L1 between the MTF-filtered, decimated output and the MS."""
        low = decimate(lowpass(fused, self.kernels), self.ratio, self.phase)
        e = self.edge if min(ms.shape[-2:]) > 2 * self.edge + 2 else 0
        sl = (Ellipsis, slice(e, ms.shape[-2] - e), slice(e, ms.shape[-1] - e))
        return (low[sl] - ms[sl]).abs().mean()

    def forward(self, fused: torch.Tensor, pan: torch.Tensor, ms: torch.Tensor,
                rho_ref: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        spec = self.spectral(fused, ms)
        rho = local_corr(fused, pan, self.ratio)
        short = 1.0 - rho
        struct = (short * (short > (1.0 - rho_ref)).to(short.dtype)).mean()
        total = spec + self.beta * struct
        return total, {"spec": float(spec.detach()), "struct": float(struct.detach())}
