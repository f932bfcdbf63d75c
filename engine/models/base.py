"""Common interface of every pan-sharpening network in :mod:`engine.models`.

``forward(ms, bms, pan)``:

- ``ms``  (B, C, h, w): the low-resolution MS (accepted by every model, used by none);
- ``bms`` (B, C, H, W): the MS interpolated onto the PAN grid;
- ``pan`` (B, 1, H, W): the PAN;
- returns (B, C, H, W) on the same (scaled, reflectance-like ~[0, 1]) value scale.

No model down-samples, so any H, W works.  ``hparams`` returns a JSON-serialisable dict
that rebuilds an identical architecture through ``registry.build_model(name, bands,
**hparams)``; checkpoints store it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import InputError


class PanSharpNet(nn.Module):
    """Base class: band count, registry name, hyper-parameters and input checks."""

    #: registry name, set by subclasses
    name: str = ""
    #: True when the output is ``bms + residual`` (a zero output layer returns ``bms``)
    residual: bool = False

    def __init__(self, bands: int) -> None:
        super().__init__()
        if int(bands) < 1:
            raise InputError(f"a model needs at least one MS band, got {bands}")
        self.bands = int(bands)

    @property
    def hparams(self) -> dict[str, Any]:
        """Resolved hyper-parameters (JSON-serialisable), band count excluded."""
        raise NotImplementedError

    def num_parameters(self) -> int:
        """Number of learnable scalars."""
        return sum(p.numel() for p in self.parameters())

    def check_inputs(self, ms: torch.Tensor | None, bms: torch.Tensor, pan: torch.Tensor) -> None:
        """Raise :class:`InputError` when the tensors do not follow the interface."""
        if bms.dim() != 4 or bms.shape[1] != self.bands:
            raise InputError(
                f"{self.name}: bms must be (B, {self.bands}, H, W), got {tuple(bms.shape)}"
            )
        if pan.dim() != 4 or pan.shape[1] != 1:
            raise InputError(f"{self.name}: pan must be (B, 1, H, W), got {tuple(pan.shape)}")
        if pan.shape[0] != bms.shape[0] or pan.shape[2:] != bms.shape[2:]:
            raise InputError(
                f"{self.name}: pan {tuple(pan.shape)} and bms {tuple(bms.shape)} must share "
                "batch size and the PAN grid (H, W); interpolate the MS onto the PAN grid first"
            )
        if ms is not None and (ms.dim() != 4 or ms.shape[1] != self.bands):
            raise InputError(
                f"{self.name}: ms must be (B, {self.bands}, h, w), got {tuple(ms.shape)}"
            )
