"""Row-chunked inference of Restormer-style blocks: the same numbers, in cache-sized pieces.

On the CPU a :class:`~engine.models.blocks.TransformerBlock` over a whole 256 x 256 tile
is memory-bound: every 1x1 and depthwise convolution streams ~(4C x H x W) floats
through memory.  Running the block on strips of ``rows`` rows keeps the working set in
the cache (``bench/cpu_inference.py``: about 1.7x faster for the whole pipeline).

The block is not local, though: MDTA normalises q and k over the *whole* tile and mixes
channels with one attention matrix per head.  So a block is evaluated in two passes:

1. per strip (with a one-row halo for the depthwise 3x3): q, k, v of the strip; the
   partial Gram matrices ``q k^T`` and squared norms of q and k are summed over strips;
   v is kept;
2. ``attn = softmax(G / (|q| |k|^T) * tau)`` once; then per strip (again with a halo):
   ``y = x + proj(attn v)`` and ``y + GDFN(LN(y))``.

This equals ``block(x)`` up to float rounding (the sums are taken in another order);
tests hold it to 1e-5.  Inference only (no autograd concerns).  Shapes ``(B, C, H, W)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from typing import Callable

from .blocks import TransformerBlock


def _slab(h: int, r0: int, r1: int) -> tuple[int, int]:
    """Rows ``[r0, r1)`` extended by one halo row on each side, clipped to ``[0, h)``."""
    return max(r0 - 1, 0), min(r1 + 1, h)


def _crop(t: torch.Tensor, s0: int, r0: int, r1: int) -> torch.Tensor:
    """Rows ``[r0, r1)`` of ``t``, whose first row is image row ``s0``."""
    return t[:, :, r0 - s0: r1 - s0]


def transformer_block_rows(block: TransformerBlock, x: torch.Tensor,
                           rows: int = 32) -> torch.Tensor:
    """``block(x)`` computed strip by strip (``rows`` rows per strip); see module doc."""
    b, c, h, w = x.shape
    attn_mod, ffn = block.attn, block.ffn
    heads = attn_mod.heads
    ch = c // heads
    spans = [(r0, min(r0 + rows, h)) for r0 in range(0, h, rows)]
    gram = x.new_zeros((b, heads, ch, ch))
    nq = x.new_zeros((b, heads, ch, 1))
    nk = x.new_zeros((b, heads, ch, 1))
    v_all = torch.empty((b, c, h, w), dtype=x.dtype, device=x.device)
    for r0, r1 in spans:  # pass 1: q, k statistics and v
        s0, s1 = _slab(h, r0, r1)
        z = attn_mod.qkv_dw(attn_mod.qkv(block.norm1(x[:, :, s0:s1])))
        q, k, v = _crop(z, s0, r0, r1).chunk(3, dim=1)
        q = q.reshape(b, heads, ch, -1)
        k = k.reshape(b, heads, ch, -1)
        gram += q @ k.transpose(-2, -1)
        nq += (q * q).sum(-1, keepdim=True)
        nk += (k * k).sum(-1, keepdim=True)
        v_all[:, :, r0:r1] = v
    eps = 1e-12  # as F.normalize
    denom = nq.sqrt().clamp_min(eps) * nk.sqrt().clamp_min(eps).transpose(-2, -1)
    attn = torch.softmax(gram / denom * attn_mod.temperature, dim=-1)
    out = torch.empty_like(x)
    for r0, r1 in spans:  # pass 2: attention output and the feed-forward part
        s0, s1 = _slab(h, r0, r1)
        va = v_all[:, :, s0:s1].reshape(b, heads, ch, -1)
        y = x[:, :, s0:s1] + attn_mod.proj((attn @ va).reshape(b, c, s1 - s0, w))
        x1, x2 = _crop(ffn.dw(ffn.project_in(block.norm2(y))), s0, r0, r1).chunk(2, dim=1)
        out[:, :, r0:r1] = _crop(y, s0, r0, r1) + ffn.project_out(F.gelu(x1) * x2)
    return out


def local_rows(fn: Callable[..., torch.Tensor], inputs: list[torch.Tensor], halo: int,
               rows: int = 32) -> torch.Tensor:
    """``fn(*inputs)`` strip by strip, for a ``fn`` whose output row depends only on the
    input rows within ``halo`` (stacked 'same' convolutions with zero padding: halo = the
    number of 3x3 layers).  All inputs share ``H``; the output has ``fn``'s channels."""
    h = inputs[0].shape[-2]
    parts = []
    for r0 in range(0, h, rows):
        r1 = min(r0 + rows, h)
        s0, s1 = max(r0 - halo, 0), min(r1 + halo, h)
        y = fn(*[t[:, :, s0:s1] for t in inputs])
        parts.append(y[:, :, r0 - s0: r1 - s0])
    return torch.cat(parts, dim=2)
