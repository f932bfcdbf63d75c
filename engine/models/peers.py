"""Peer CNNs of the PanTiny comparison (arXiv 2507.15059, Table A), under the common interface.

Written from the papers' descriptions; all convolutions are 'same' (zero padding) so the
output has the input size for any H, W.

- :class:`PNN`: Masi, Cozzolino, Verdoliva, Scarpa, "Pansharpening by Convolutional Neural
  Networks", Remote Sensing 8(7):594, 2016.  Three layers (9x9, 48 filters, ReLU; 5x5, 32
  filters, ReLU; 5x5, bands filters, linear) on concat[bms, pan, NDVI, NDWI] -- the paper's
  variant with nonlinear radiometric indices as extra input planes.  No residual.
  68,900 parameters at 4 bands, the 68.9 K of the PanTiny table.
- :class:`PanNet`: Yang, Fu, Hu, Huang, Ding, Paisley, "PanNet: A Deep Network Architecture
  for Pan-Sharpening", ICCV 2017.  High-pass (x - box5(x)) of bms and pan -> Conv3x3 to 32,
  ReLU -> 4 residual blocks (conv-ReLU-conv + skip) -> Conv3x3 to bands, + bms.  The LR
  high-pass is taken from ``bms`` instead of a learned x4 transposed convolution so that
  any ratio works.  76,612 parameters at 4 bands (77,640 with the 4->4 8x8 transposed
  convolution of the original).  The PanTiny table's 80.3 K (80,336, from its FLOPs
  column) could not be reproduced from the published description: no combination of
  standard PanNet widths, block counts, kernel sizes, biases or BatchNorm gives it.
- :class:`MSDCNN`: Yuan, Wei, Meng, Shen, Zhang, "A Multiscale and Multidepth
  Convolutional Neural Network for Remote Sensing Imagery Pan-Sharpening", IEEE JSTARS
  11(3), 2018.  Shallow branch 9x9/64 -> kxk/32 -> 5x5/bands and a deep branch 7x7/60 ->
  multi-scale block (3x3, 5x5, 7x7 with 20 filters each, concatenated, + skip) -> 3x3/30 ->
  multi-scale block (10 filters each, + skip) -> 5x5/bands; output = shallow + deep.
  With the shallow middle kernel k = 5: 239,004 parameters at 4 bands, the PanTiny
  table's 239.0 K (k = 1 gives 189,852).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .base import PanSharpNet


def _conv(c_in: int, c_out: int, k: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=k, padding=k // 2, bias=bias)


# --------------------------------------------------------------------------------------
# PNN
# --------------------------------------------------------------------------------------

#: default 0-based (green, red, nir) band positions for the radiometric indices
DEFAULT_INDEX_BANDS: dict[int, dict[str, int]] = {
    4: {"green": 1, "red": 2, "nir": 3},  # B, G, R, NIR
    8: {"green": 2, "red": 4, "nir": 6},  # WorldView: C, B, G, Y, R, RE, NIR1, NIR2
}


def normalized_difference(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """(a - b) / (a + b), the denominator clamped at ``eps``; result clipped to [-1, 1]."""
    return ((a - b) / (a + b).clamp_min(eps)).clamp(-1.0, 1.0)


class PNN(PanSharpNet):
    """PNN (Masi et al. 2016) with NDVI/NDWI input planes; output is the image itself."""

    name = "pnn"
    residual = False

    def __init__(
        self,
        bands: int = 4,
        features: Sequence[int] = (48, 32),
        kernels: Sequence[int] = (9, 5, 5),
        index_bands: Mapping[str, int] | None | str = "auto",
    ) -> None:
        super().__init__(bands)
        if index_bands == "auto":
            index_bands = DEFAULT_INDEX_BANDS.get(self.bands)
        if index_bands is not None:
            index_bands = {k: int(index_bands[k]) for k in ("green", "red", "nir")}
            if min(index_bands.values()) < 0 or max(index_bands.values()) >= self.bands:
                raise InputError(f"PNN index bands {index_bands} outside 0..{self.bands - 1}")
        f1, f2 = (int(f) for f in features)
        k1, k2, k3 = (int(k) for k in kernels)
        if any(k % 2 == 0 for k in (k1, k2, k3)):
            raise InputError(f"PNN kernels must be odd, got {kernels}")
        self.index_bands = index_bands
        self._hp = {"features": [f1, f2], "kernels": [k1, k2, k3], "index_bands": index_bands}
        c_in = self.bands + 1 + (2 if index_bands is not None else 0)
        self.conv1 = _conv(c_in, f1, k1)
        self.conv2 = _conv(f1, f2, k2)
        self.conv3 = _conv(f2, self.bands, k3)

    @property
    def hparams(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in self._hp.items()}

    def forward(
        self, ms: torch.Tensor | None, bms: torch.Tensor, pan: torch.Tensor
    ) -> torch.Tensor:
        """(B, C, h, w) unused, (B, C, H, W), (B, 1, H, W) -> (B, C, H, W)."""
        self.check_inputs(ms, bms, pan)
        planes = [bms, pan.to(bms.dtype)]
        if self.index_bands is not None:
            g = bms[:, self.index_bands["green"] : self.index_bands["green"] + 1]
            r = bms[:, self.index_bands["red"] : self.index_bands["red"] + 1]
            n = bms[:, self.index_bands["nir"] : self.index_bands["nir"] + 1]
            planes += [normalized_difference(n, r), normalized_difference(g, n)]  # NDVI, NDWI
        x = F.relu(self.conv1(torch.cat(planes, dim=1)))
        x = F.relu(self.conv2(x))
        return self.conv3(x)


# --------------------------------------------------------------------------------------
# PanNet
# --------------------------------------------------------------------------------------


def high_pass(x: torch.Tensor, size: int) -> torch.Tensor:
    """x - box_size(x) per channel, reflect borders (replicate when the image is tiny)."""
    if size <= 1:
        return x
    p = size // 2
    mode = "reflect" if min(x.shape[-2:]) > p else "replicate"
    low = F.avg_pool2d(F.pad(x, (p, p, p, p), mode=mode), size, stride=1)
    return x - low


class _ResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = _conv(channels, channels, 3)
        self.conv2 = _conv(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class PanNet(PanSharpNet):
    """PanNet (Yang et al. 2017): ResNet on high-pass inputs, output + bms."""

    name = "pannet"
    residual = True

    def __init__(
        self, bands: int = 4, channels: int = 32, res_blocks: int = 4, hp_size: int = 5
    ) -> None:
        super().__init__(bands)
        c, n, s = int(channels), int(res_blocks), int(hp_size)
        if c < 1 or n < 0 or s < 1 or s % 2 == 0:
            raise InputError(f"invalid PanNet shape: channels {c}, blocks {n}, hp_size {s}")
        self._hp = {"channels": c, "res_blocks": n, "hp_size": s}
        self.head = _conv(self.bands + 1, c, 3)
        self.body = nn.Sequential(*[_ResBlock(c) for _ in range(n)])
        self.output = _conv(c, self.bands, 3)

    @property
    def hparams(self) -> dict[str, Any]:
        return dict(self._hp)

    def forward(
        self, ms: torch.Tensor | None, bms: torch.Tensor, pan: torch.Tensor
    ) -> torch.Tensor:
        """(B, C, h, w) unused, (B, C, H, W), (B, 1, H, W) -> (B, C, H, W)."""
        self.check_inputs(ms, bms, pan)
        s = self._hp["hp_size"]
        x = torch.cat([high_pass(bms, s), high_pass(pan.to(bms.dtype), s)], dim=1)
        x = F.relu(self.head(x))
        return self.output(self.body(x)) + bms


# --------------------------------------------------------------------------------------
# MSDCNN
# --------------------------------------------------------------------------------------


class _MultiScale(nn.Module):
    """Parallel 3x3/5x5/7x7 convolutions (ReLU), concatenated, plus the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels % 3:
            raise InputError(
                f"MSDCNN multi-scale block needs channels divisible by 3, got {channels}"
            )
        self.branches = nn.ModuleList(_conv(channels, channels // 3, k) for k in (3, 5, 7))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.cat([F.relu(b(x)) for b in self.branches], dim=1)


class MSDCNN(PanSharpNet):
    """MSDCNN (Yuan et al. 2018): shallow 3-layer CNN + deep multi-scale CNN, summed."""

    name = "msdcnn"
    residual = False

    def __init__(self, bands: int = 4, shallow_mid_kernel: int = 5) -> None:
        super().__init__(bands)
        k = int(shallow_mid_kernel)
        if k < 1 or k % 2 == 0:
            raise InputError(f"MSDCNN shallow_mid_kernel must be odd, got {k}")
        self._hp = {"shallow_mid_kernel": k}
        c_in = self.bands + 1
        self.shallow = nn.ModuleList(
            [_conv(c_in, 64, 9), _conv(64, 32, k), _conv(32, self.bands, 5)]
        )
        self.deep_head = _conv(c_in, 60, 7)
        self.ms1 = _MultiScale(60)
        self.deep_mid = _conv(60, 30, 3)
        self.ms2 = _MultiScale(30)
        self.deep_out = _conv(30, self.bands, 5)

    @property
    def hparams(self) -> dict[str, Any]:
        return dict(self._hp)

    def forward(
        self, ms: torch.Tensor | None, bms: torch.Tensor, pan: torch.Tensor
    ) -> torch.Tensor:
        """(B, C, h, w) unused, (B, C, H, W), (B, 1, H, W) -> (B, C, H, W)."""
        self.check_inputs(ms, bms, pan)
        x = torch.cat([bms, pan.to(bms.dtype)], dim=1)
        s = F.relu(self.shallow[0](x))
        s = F.relu(self.shallow[1](s))
        s = self.shallow[2](s)
        d = F.relu(self.deep_head(x))
        d = F.relu(self.deep_mid(self.ms1(d)))
        d = self.deep_out(self.ms2(d))
        return s + d
