"""Training losses: PanTiny's composite objective (arXiv 2507.15059 and its published
configuration).

``L = w_l1 * L1 + w_ssim * (1 - SSIM) + w_focal * focal`` with the published weights
(1.5, 4.0, 1.5); any term with weight 0 is skipped (not even computed).

* L1: mean absolute error over all elements.
* SSIM: single-scale SSIM of Wang, Bovik, Sheikh & Simoncelli, "Image quality
  assessment: from error visibility to structural similarity", IEEE TIP 2004:
  11x11 Gaussian window (sigma 1.5) applied depthwise (per band) with zero padding 5,
  C1 = (0.01 D)^2, C2 = (0.03 D)^2 with data range D = 1, mean of the SSIM map over
  bands, pixels and batch.  (PanTiny's key for it is "MEF_SSIM", but it is plain SSIM.)
* focal: a power loss that up-weights large errors, defined in the spec as
  ``mean(((255|d|)^1.1 / 255) * |d|) = 255^0.1 * mean(|d|^2.1)`` with ``d = pred - gt``.

Values are expected in model units (about [0, 1]).  torch only; no numpy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping

import torch
import torch.nn.functional as F

from .errors import InputError

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
FOCAL_POWER = 2.1
FOCAL_GAIN = 255.0 ** 0.1   # ~1.7394


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA,
                    dtype: torch.dtype = torch.float32,
                    device: torch.device | str | None = None) -> torch.Tensor:
    """``(size, size)`` normalised Gaussian window (sum 1)."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-(x ** 2) / (2.0 * sigma ** 2))
    g = g / g.sum()
    return torch.outer(g, g).to(dtype=dtype, device=device)


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0,
         window: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """Mean SSIM of ``(N, C, H, W)`` tensors (depthwise Gaussian, zero padding)."""
    if pred.shape != target.shape or pred.ndim != 4:
        raise InputError(f"SSIM needs two (N, C, H, W) tensors of equal shape, got "
                         f"{tuple(pred.shape)} and {tuple(target.shape)}")
    c = pred.shape[1]
    dtype = pred.dtype if pred.dtype in (torch.float32, torch.float64) else torch.float32
    x, y = pred.to(dtype), target.to(dtype)
    w = gaussian_window(window, sigma, dtype, x.device).expand(c, 1, window, window)
    pad = window // 2

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, w, padding=pad, groups=c)

    mu_x, mu_y = blur(x), blur(y)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    var_x = blur(x * x) - mu_xx
    var_y = blur(y * y) - mu_yy
    cov = blur(x * y) - mu_xy
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    smap = ((2 * mu_xy + c1) * (2 * cov + c2)) / ((mu_xx + mu_yy + c1) * (var_x + var_y + c2))
    return smap.mean()


def focal_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``255^0.1 * mean(|pred - target|^2.1)`` (arXiv 2507.15059)."""
    d = (pred - target).abs()
    return FOCAL_GAIN * d.pow(FOCAL_POWER).mean()


@dataclass(frozen=True)
class LossWeights:
    """Weights of the composite loss; 0 switches a term off."""

    l1: float = 1.5
    ssim: float = 4.0
    focal: float = 1.5

    def __post_init__(self) -> None:
        vals = (self.l1, self.ssim, self.focal)
        if any(v < 0 for v in vals) or not any(v > 0 for v in vals):
            raise InputError(f"loss weights must be >= 0 with at least one > 0, got {vals}")

    @classmethod
    def from_dict(cls, d: Mapping[str, float] | None) -> "LossWeights":
        """Accepts ``{"l1", "ssim", "focal"}`` and PanTiny's ``{"L1", "MEF_SSIM", "focal"}``."""
        if not d:
            return cls()
        alias = {"l1": "l1", "ssim": "ssim", "mef_ssim": "ssim", "focal": "focal"}
        out: dict[str, float] = {"l1": 0.0, "ssim": 0.0, "focal": 0.0}
        for k, v in d.items():
            key = alias.get(str(k).lower())
            if key is None:
                raise InputError(f"unknown loss term {k!r}; use l1, ssim and focal")
            out[key] = float(v)
        return cls(**out)

    def as_dict(self) -> dict:
        return asdict(self)


class CompositeLoss(torch.nn.Module):
    """``w_l1*L1 + w_ssim*(1-SSIM) + w_focal*focal``; ``forward`` returns the total and
    the (detached) terms."""

    def __init__(self, weights: LossWeights | Mapping[str, float] | None = None) -> None:
        super().__init__()
        self.weights = weights if isinstance(weights, LossWeights) else LossWeights.from_dict(weights)

    def forward(self, pred: torch.Tensor, target: torch.Tensor
                ) -> tuple[torch.Tensor, dict[str, float]]:
        # Losses in float32 even under autocast (bf16 SSIM statistics are too coarse).
        pred = pred.float()
        target = target.float()
        w = self.weights
        total = pred.new_zeros(())
        terms: dict[str, float] = {}
        if w.l1 > 0:
            l1 = (pred - target).abs().mean()
            total = total + w.l1 * l1
            terms["l1"] = float(l1.detach())
        if w.ssim > 0:
            s = 1.0 - ssim(pred, target)
            total = total + w.ssim * s
            terms["ssim"] = float(s.detach())
        if w.focal > 0:
            f = focal_loss(pred, target)
            total = total + w.focal * f
            terms["focal"] = float(f.detach())
        return total, terms
