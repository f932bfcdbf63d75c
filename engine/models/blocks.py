"""Restormer-style building blocks (bias-free), written from the paper description.

Reference: S. W. Zamir, A. Arora, S. Khan, M. Hayat, F. S. Khan, M.-H. Yang,
"Restormer: Efficient Transformer for High-Resolution Image Restoration", CVPR 2022.
Specifics (LayerNorm "WithBias", ffn_factor 2.0, no conv biases) follow the PanTiny model
tree published with arXiv 2507.15059.

All tensors are (B, C, H, W).  Nothing here down-samples, so any H, W works.  Note that
MDTA pools statistics over the *whole* H*W extent (channel attention), so the output at a
pixel depends on the whole input tile (Restormer's MDTA, Zamir et al., CVPR 2022).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError


def conv3x3(c_in: int, c_out: int) -> nn.Conv2d:
    """3x3 'same' convolution without bias (zero padding 1)."""
    return nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False)


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis at every pixel ("WithBias" variant).

    y = (x - mean_c(x)) / sqrt(var_c(x) + eps) * weight + bias, with the biased
    (population) variance and eps = 1e-5.  Parameters: 2*C.
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=1, keepdim=True)
        var = (x - mean).pow(2).mean(dim=1, keepdim=True)
        y = (x - mean) * torch.rsqrt(var + self.eps)
        return y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class MDTA(nn.Module):
    """Multi-Dconv head transposed attention (channel attention over the whole tile).

    1x1 conv C->3C, depthwise 3x3 on 3C, split into q, k, v; per head reshape to
    (c_h, H*W), L2-normalise q and k along H*W; attn = softmax(q k^T * tau_h) is a
    c_h x c_h matrix (tau_h learnable, one per head, initialised to 1); out = attn v,
    then a 1x1 conv C->C.  Parameters: 3C^2 + 27C + C^2 + heads.
    """

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        if heads < 1 or channels % heads:
            raise InputError(f"MDTA: {channels} channels cannot be split into {heads} heads")
        self.heads = int(heads)
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(channels, 3 * channels, kernel_size=1, bias=False)
        self.qkv_dw = nn.Conv2d(
            3 * channels, 3 * channels, kernel_size=3, padding=1, groups=3 * channels, bias=False
        )
        self.proj = nn.Conv2d(channels, channels, kernel_size=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv_dw(self.qkv(x)).chunk(3, dim=1)
        shape = (b, self.heads, c // self.heads, h * w)
        q = F.normalize(q.reshape(shape), dim=-1)
        k = F.normalize(k.reshape(shape), dim=-1)
        v = v.reshape(shape)
        attn = torch.softmax((q @ k.transpose(-2, -1)) * self.temperature, dim=-1)
        out = (attn @ v).reshape(b, c, h, w)
        return self.proj(out)


class GDFN(nn.Module):
    """Gated-Dconv feed-forward network.

    hidden = int(C * ffn_factor); 1x1 conv C->2*hidden, depthwise 3x3 on 2*hidden,
    split into x1, x2, GELU(x1) * x2, 1x1 conv hidden->C.
    Parameters: 2*hidden*C + 18*hidden + hidden*C.
    """

    def __init__(self, channels: int, ffn_factor: float = 2.0) -> None:
        super().__init__()
        hidden = int(channels * ffn_factor)
        if hidden < 1:
            raise InputError(f"GDFN: ffn_factor {ffn_factor} gives no hidden channels")
        self.hidden = hidden
        self.project_in = nn.Conv2d(channels, 2 * hidden, kernel_size=1, bias=False)
        self.dw = nn.Conv2d(
            2 * hidden, 2 * hidden, kernel_size=3, padding=1, groups=2 * hidden, bias=False
        )
        self.project_out = nn.Conv2d(hidden, channels, kernel_size=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.dw(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(x1) * x2)


class TransformerBlock(nn.Module):
    """x <- x + MDTA(LN(x)); x <- x + GDFN(LN(x)).  9,718 parameters at C=28, 2 heads."""

    def __init__(self, channels: int, heads: int, ffn_factor: float = 2.0) -> None:
        super().__init__()
        self.norm1 = ChannelLayerNorm(channels)
        self.attn = MDTA(channels, heads)
        self.norm2 = ChannelLayerNorm(channels)
        self.ffn = GDFN(channels, ffn_factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


def transformer_block_params(channels: int, heads: int, ffn_factor: float = 2.0) -> int:
    """Closed-form parameter count of one :class:`TransformerBlock` (the arithmetic of the
    layer table of arXiv 2507.15059)."""
    c, h = channels, int(channels * ffn_factor)
    mdta = 3 * c * c + 27 * c + c * c + heads
    gdfn = 2 * h * c + 18 * h + h * c
    return mdta + gdfn + 4 * c
