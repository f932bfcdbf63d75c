"""PanTiny inference with folded weights, in pixel-major layout: the same numbers, faster on a CPU.

:class:`FastPanTiny` is built from a trained :class:`~engine.models.pantiny.PanTiny` and
computes what its :meth:`~engine.models.pantiny.PanTiny.forward` computes (tests hold it
to 1e-4 relative; in practice the difference is float rounding, ~1e-6), with less
arithmetic and far fewer passes over memory:

* **Pixel-major layout.**  Inside the transformer blocks activations are ``(H, W, C)``
  contiguous, so every 1x1 convolution is one matrix product ``(H*W, C_in) @ (C_in,
  C_out)`` (BLAS), a strip of rows is a contiguous slice (no copies), and the
  depthwise 3x3 convolutions run on a channels-last view (oneDNN).
* **LayerNorm affine folded** into the following 1x1 convolution: ``W (n * g + b) =
  (W diag g) n + W b``; the normalisation itself stays (the
  "WithBias" LayerNorm of Restormer, Zamir et al., CVPR 2022, without its affine).
* **Attention without normalising q and k.**  MDTA's ``softmax(q_n k_n^T * tau)`` with
  L2-normalised rows equals ``softmax(G / (|q| |k|^T) * tau)`` with the Gram matrix ``G
  = q k^T`` and the row norms, all sums over the tile; they are accumulated strip by
  strip (as :mod:`engine.models.row_chunked`), so q and k are never stored.
* **Projection folded into the attention**: ``proj(attn v) = (W_proj blockdiag(attn)) v``,
  one C x C product per pixel instead of two, with the residual added by the same
  ``addmm``; the feed-forward's output projection adds its residual the same way.
* **Cache-sized strips** of ``rows`` rows (with a one-row halo for the depthwise 3x3)
  for the transformer blocks, as :mod:`engine.models.row_chunked`.

Inference only (no autograd), float32, any device (written for the CPU; the GPU keeps
the plain forward pass).  Shapes as the model: ``bms`` (B, C, H, W), ``pan`` (B, 1, H, W).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .blocks import TransformerBlock
from .pantiny import PanTiny

_EPS_NORM = 1e-12  # as F.normalize, which MDTA uses


@dataclass
class _FoldedBlock:
    """One TransformerBlock's weights, folded (see the module doc).  ``q``, ``k``, ``v``
    and the two feed-forward halves get separate weights so that every activation is a
    contiguous (pixels, channels) matrix."""

    heads: int
    ln_eps: tuple[float, float]
    qkv: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]  # q, k, v: (C, C) weight
    #                      with LN1's weight folded in, (C,) bias, (C, 1, 3, 3) depthwise
    temperature: torch.Tensor  # (heads,)
    proj_w: torch.Tensor     # (C, C)
    ffn: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]  # gate, value halves:
    #                      (h, C) weight with LN2's weight folded in, (h,) bias, depthwise
    out_wt: torch.Tensor     # (h, C) = project_out weight transposed


def _fold_linear(conv: torch.nn.Conv2d, norm, dw: torch.nn.Conv2d, parts: int
                 ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """1x1 ``conv`` after the LayerNorm ``norm``, followed by the depthwise ``dw``, split
    into ``parts`` equal groups of output channels: ``[(weight, bias, dw weight)]``."""
    w = conv.weight.detach()[:, :, 0, 0].float()          # (out, in)
    g, b = norm.weight.detach().float(), norm.bias.detach().float()
    wf, bf, d = w * g[None, :], w @ b, dw.weight.detach().float()
    return [(a.contiguous(), c.contiguous(), e.contiguous())
            for a, c, e in zip(wf.chunk(parts), bf.chunk(parts), d.chunk(parts))]


def _fold_block(block: TransformerBlock) -> _FoldedBlock:
    a, f = block.attn, block.ffn
    return _FoldedBlock(
        heads=a.heads,
        ln_eps=(block.norm1.eps, block.norm2.eps),
        qkv=_fold_linear(a.qkv, block.norm1, a.qkv_dw, 3),
        temperature=a.temperature.detach().float().reshape(-1).contiguous(),
        proj_w=a.proj.weight.detach()[:, :, 0, 0].float().contiguous(),
        ffn=_fold_linear(f.project_in, block.norm2, f.dw, 2),
        out_wt=f.project_out.weight.detach()[:, :, 0, 0].float().t().contiguous(),
    )


def _dw3x3(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Depthwise 3x3 'same' convolution (zero padding) of a pixel-major (n, W, K) slab."""
    # (1, K, n, W) channels-last view; the batch stride must be n*W*K (not K, as
    # permute-then-unsqueeze gives), or oneDNN takes a ~20x slower NCHW path
    y = F.conv2d(x.unsqueeze(0).permute(0, 3, 1, 2), weight, padding=1,
                 groups=weight.shape[0])
    return y[0].permute(1, 2, 0)  # (n, W, K), contiguous: oneDNN keeps channels-last


def _norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    """Channel LayerNorm without affine over the last axis: the same formula as
    :class:`~engine.models.blocks.ChannelLayerNorm` (and ``F.layer_norm``), written out
    because ``F.layer_norm`` over 28 channels is about 2x slower on a CPU (measured)."""
    d = x - x.mean(-1, keepdim=True)
    return d * torch.rsqrt(d.square().mean(-1, keepdim=True) + eps)


def _branch(n: torch.Tensor, part: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
            r0: int, r1: int) -> torch.Tensor:
    """Rows ``[r0, r1)`` (slab coordinates) of depthwise(linear(n)) as (pixels, K)."""
    w, b, d = part
    return _dw3x3(F.linear(n, w, b), d)[r0:r1].reshape(-1, w.shape[0])


def _block_rows(fb: _FoldedBlock, x: torch.Tensor, rows: int) -> torch.Tensor:
    """One folded transformer block on a pixel-major tile ``x`` (H, W, C) -> (H, W, C)."""
    h, w, c = x.shape
    heads, ch = fb.heads, c // fb.heads
    spans = [(r0, min(r0 + rows, h)) for r0 in range(0, h, rows)]
    gram = x.new_zeros((c, c))
    nq = x.new_zeros(c)
    nk = x.new_zeros(c)
    v_all = torch.empty((h * w, c), dtype=x.dtype, device=x.device)
    for r0, r1 in spans:  # pass 1: Gram matrix, norms of q and k, v
        s0, s1 = max(r0 - 1, 0), min(r1 + 1, h)
        n = _norm(x[s0:s1], fb.ln_eps[0])
        q = _branch(n, fb.qkv[0], r0 - s0, r1 - s0)
        k = _branch(n, fb.qkv[1], r0 - s0, r1 - s0)
        gram.addmm_(q.t(), k)  # all C x C products; only the heads' diagonal blocks are used
        nq += q.square().sum(0)
        nk += k.square().sum(0)
        v_all[r0 * w: r1 * w] = _branch(n, fb.qkv[2], r0 - s0, r1 - s0)
    gram = torch.stack([gram[i * ch:(i + 1) * ch, i * ch:(i + 1) * ch] for i in range(heads)])
    qn = nq.sqrt().clamp_min(_EPS_NORM).view(heads, ch, 1)
    kn = nk.sqrt().clamp_min(_EPS_NORM).view(heads, 1, ch)
    attn = torch.softmax(gram / (qn * kn) * fb.temperature.view(heads, 1, 1), dim=-1)
    # proj(attn v) = (W_proj blockdiag(attn)) v, applied to pixel rows: v @ M^T
    mt = (fb.proj_w @ torch.block_diag(*attn.unbind(0))).t().contiguous()
    xf = x.reshape(-1, c)
    out = torch.empty_like(x)
    for r0, r1 in spans:  # pass 2: attention output (+ residual), then the feed-forward
        s0, s1 = max(r0 - 1, 0), min(r1 + 1, h)
        y = torch.addmm(xf[s0 * w: s1 * w], v_all[s0 * w: s1 * w], mt)
        n = _norm(y.view(s1 - s0, w, c), fb.ln_eps[1])
        g = F.gelu(_branch(n, fb.ffn[0], r0 - s0, r1 - s0))
        g *= _branch(n, fb.ffn[1], r0 - s0, r1 - s0)
        torch.addmm(y[(r0 - s0) * w: (r1 - s0) * w], g, fb.out_wt,
                    out=out[r0:r1].view(-1, c))
    return out


class FastPanTiny(torch.nn.Module):
    """Inference-only PanTiny with folded weights (see the module doc).

    ``FastPanTiny(model)(ms, bms, pan)`` equals ``model(ms, bms, pan)`` up to float
    rounding; ``ms`` is unused, as in PanTiny.  Built once per run (the weights are
    copied, so later changes to ``model`` are not seen).  ``rows``: rows per strip of the
    transformer blocks (cache-sized; 32 is best for 256 px tiles on a CPU).
    """

    def __init__(self, model: PanTiny, rows: int = 32) -> None:
        super().__init__()
        if not isinstance(model, PanTiny):
            raise TypeError(f"FastPanTiny needs a PanTiny, got {type(model).__name__}")
        self.bands = model.bands
        self.rows = int(rows)
        self.check_inputs = model.check_inputs
        conv = lambda m: m.weight.detach().float().contiguous()  # noqa: E731
        self.patch_embed = conv(model.patch_embed)
        self.fusion = (conv(model.fusion[0]), conv(model.fusion[2]))
        self.refine = conv(model.refine)
        self.output = conv(model.output)
        self.encoder = [_fold_block(b) for b in model.encoder]
        self.latent = [_fold_block(b) for b in model.latent]

    @torch.no_grad()
    def forward(self, ms: torch.Tensor | None, bms: torch.Tensor,
                pan: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) unused, (B, C, H, W), (B, 1, H, W) -> (B, C, H, W)."""
        self.check_inputs(ms, bms, pan)
        return torch.cat([self._one(bms[i: i + 1], pan[i: i + 1])
                          for i in range(bms.shape[0])], dim=0)

    def _one(self, bms: torch.Tensor, pan: torch.Tensor) -> torch.Tensor:
        cl = torch.channels_last
        bms = bms.float().contiguous(memory_format=cl)
        x = F.conv2d(bms, self.patch_embed, padding=1)
        x = x.contiguous(memory_format=cl)[0].permute(1, 2, 0)  # (H, W, C) contiguous
        for fb in self.encoder:
            x = _block_rows(fb, x, self.rows)
        x = x.permute(2, 0, 1).unsqueeze(0)  # channels-last NCHW view
        x = torch.cat([x, pan.to(x.dtype).contiguous(memory_format=cl)], dim=1)
        x = F.conv2d(F.relu(F.conv2d(x, self.fusion[0], padding=1)), self.fusion[1], padding=1)
        x = x.contiguous(memory_format=cl)[0].permute(1, 2, 0)
        for fb in self.latent:
            x = _block_rows(fb, x, self.rows)
        x = x.permute(2, 0, 1).unsqueeze(0)
        x = F.conv2d(F.conv2d(x, self.refine, padding=1), self.output, padding=1)
        return x + bms
