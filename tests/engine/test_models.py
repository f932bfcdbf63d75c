"""Tests for engine.models: parameter counts, shapes, residual, determinism, blocks."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from engine.errors import InputError
from engine.models import (
    GDFN,
    MDTA,
    ChannelLayerNorm,
    TransformerBlock,
    build_model,
    default_hparams,
    list_models,
)
from engine.models.blocks import transformer_block_params
from engine.models.peers import high_pass, normalized_difference

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny tensors: OpenMP threads only add contention (10x slower on a loaded 2-core box)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def inputs(bands: int, h: int, w: int, batch: int = 2, seed: int = 0, ratio: int = 4):
    g = torch.Generator().manual_seed(seed)
    bms = torch.rand(batch, bands, h, w, generator=g)
    pan = torch.rand(batch, 1, h, w, generator=g)
    ms = torch.rand(batch, bands, math.ceil(h / ratio), math.ceil(w / ratio), generator=g)
    return ms, bms, pan


# ------------------------------------------------------------------ parameter counts


def test_registry_lists_the_four_models():
    assert list_models() == ["msdcnn", "pannet", "pantiny", "pnn"]
    for name in list_models():
        assert isinstance(default_hparams(name), dict)


def test_transformer_block_has_9718_parameters():
    blk = TransformerBlock(28, 2, 2.0)
    assert n_params(blk) == 9718
    # the layer table of arXiv 2507.15059, layer by layer
    assert n_params(blk.attn.qkv) == 2352
    assert n_params(blk.attn.qkv_dw) == 756
    assert n_params(blk.attn.proj) == 784
    assert n_params(blk.ffn.project_in) == 3136
    assert n_params(blk.ffn.dw) == 1008
    assert n_params(blk.ffn.project_out) == 1568
    assert n_params(blk.norm1) + n_params(blk.norm2) == 112
    assert blk.attn.temperature.numel() == 2
    assert blk.ffn.hidden == 56


@pytest.mark.parametrize("c,h,f", [(28, 2, 2.0), (40, 4, 2.0), (20, 2, 2.0), (32, 4, 2.66)])
def test_block_closed_form_matches(c, h, f):
    assert n_params(TransformerBlock(c, h, f)) == transformer_block_params(c, h, f)


def test_pantiny_layer_table_counts():
    m = build_model("pantiny")
    assert m.num_parameters() == n_params(m) == 81_744
    assert n_params(m.patch_embed) == 1_008
    assert n_params(m.encoder) == 29_154
    assert n_params(m.fusion) == 7_308 + 7_056
    assert n_params(m.latent) == 29_154
    assert n_params(m.refine) == 7_056
    assert n_params(m.output) == 1_008
    # no biases anywhere except the LayerNorm shift
    for name, p in m.named_parameters():
        if name.endswith("bias"):
            assert ".norm" in name, name


@pytest.mark.parametrize(
    "scale,count", [("small", 33_788), ("normal", 81_744), ("large", 195_912)]
)
def test_pantiny_scales(scale, count):
    assert build_model("pantiny", scale=scale).num_parameters() == count


def test_pantiny_band_count_only_changes_first_and_last_conv():
    # 2 convs of 28*9 weights per extra band
    assert build_model("pantiny", bands=8).num_parameters() == 81_744 + 4 * 2 * 28 * 9
    assert build_model("pantiny", bands=3).num_parameters() == 81_744 - 2 * 28 * 9


def test_peer_counts_as_published():
    # PanTiny paper Table A (4 bands): PNN 68.9 K, MSDCNN 239.0 K; the exact integers
    # follow from its FLOPs column (FLOPs = 2 * params * 128^2).
    assert build_model("pnn").num_parameters() == 68_900
    assert build_model("msdcnn").num_parameters() == 239_004
    assert round(68_900 * 2 * 128 * 128 / 1e6, 2) == 2257.72
    assert round(239_004 * 2 * 128 * 128 / 1e6, 2) == 7831.68
    # PanNet as described by Yang et al. 2017 (32 filters, 4 residual blocks); Table A's
    # 80.3 K (80,336) is not reproducible from the published description.
    assert build_model("pannet").num_parameters() == 76_612


def test_peer_variants_counts():
    assert build_model("msdcnn", shallow_mid_kernel=1).num_parameters() == 189_852
    assert build_model("pnn", index_bands=None).num_parameters() == 68_900 - 2 * 48 * 81
    # 8-band PNN gets 11 input planes (8 + PAN + NDVI + NDWI)
    expected = (11 * 48 * 81 + 48) + (48 * 32 * 25 + 32) + (32 * 8 * 25 + 8)
    assert build_model("pnn", bands=8).num_parameters() == expected


def test_hparams_rebuild_identical_architecture():
    for name in list_models():
        for bands in (4, 8):
            m = build_model(name, bands=bands)
            m2 = build_model(name, bands=bands, **m.hparams)
            assert m2.hparams == m.hparams
            assert {k: v.shape for k, v in m.state_dict().items()} == {
                k: v.shape for k, v in m2.state_dict().items()
            }


# ------------------------------------------------------------------ forward


@pytest.mark.parametrize("name", ["pantiny", "pnn", "pannet", "msdcnn"])
@pytest.mark.parametrize("bands,h,w", [(4, 32, 32), (8, 24, 40), (4, 37, 53)])
def test_forward_shapes(name, bands, h, w):
    torch.manual_seed(0)
    m = build_model(name, bands=bands).eval()
    ms, bms, pan = inputs(bands, h, w)
    with torch.no_grad():
        out = m(ms, bms, pan)
        out_no_ms = m(None, bms, pan)
    assert out.shape == (2, bands, h, w)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert torch.equal(out, out_no_ms)  # the LR ms is never used


def test_pantiny_small_and_large_forward():
    for scale in ("small", "large"):
        m = build_model("pantiny", scale=scale).eval()
        _, bms, pan = inputs(4, 19, 23, batch=1)
        with torch.no_grad():
            assert m(None, bms, pan).shape == (1, 4, 19, 23)


@pytest.mark.parametrize("name", ["pantiny", "pannet"])
def test_zero_output_layer_returns_bms_exactly(name):
    m = build_model(name).eval()
    assert m.residual
    with torch.no_grad():
        m.output.weight.zero_()
        if m.output.bias is not None:
            m.output.bias.zero_()
    _, bms, pan = inputs(4, 37, 53)
    with torch.no_grad():
        assert torch.equal(m(None, bms, pan), bms)


def test_non_residual_models_do_not_return_bms():
    for name in ("pnn", "msdcnn"):
        m = build_model(name)
        assert not m.residual


def test_determinism_and_batch_independence():
    for name in list_models():
        torch.manual_seed(123)
        a = build_model(name)
        torch.manual_seed(123)
        b = build_model(name)
        for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
            assert ka == kb and torch.equal(va, vb)
        a.eval()
        ms, bms, pan = inputs(4, 13, 11, batch=2, seed=5)
        with torch.no_grad():
            y1 = a(ms, bms, pan)
            y2 = a(ms, bms, pan)
            y_first = a(ms[:1], bms[:1], pan[:1])
        assert torch.equal(y1, y2)
        torch.testing.assert_close(y1[:1], y_first, rtol=1e-5, atol=1e-6)


def test_pantiny_output_depends_on_whole_tile_but_pnn_is_local():
    torch.manual_seed(0)
    _, bms, pan = inputs(4, 40, 40, batch=1)
    bms2 = bms.clone()
    bms2[..., 39, 39] += 0.5  # far corner
    for name, global_ in (("pantiny", True), ("pnn", False)):
        m = build_model(name).eval()
        with torch.no_grad():
            d = (m(None, bms, pan) - m(None, bms2, pan))[..., 0, 0].abs().max().item()
        # PNN's receptive field is 9+5+5-2 = 17 pixels wide: (0,0) cannot see (39,39)
        assert (d > 0) == global_, name


def test_pan_enters_pantiny():
    m = build_model("pantiny").eval()
    _, bms, pan = inputs(4, 16, 16, batch=1)
    pan = pan.requires_grad_(True)
    m(None, bms, pan).sum().backward()
    assert pan.grad is not None and pan.grad.abs().sum() > 0


def test_input_checks():
    m = build_model("pantiny")
    ms, bms, pan = inputs(4, 16, 16)
    with pytest.raises(InputError, match="pan"):
        m(ms, bms, pan[..., :15])
    with pytest.raises(InputError, match="bms"):
        m(ms, bms[:, :3], pan)
    with pytest.raises(InputError, match="pan"):
        m(ms, bms, torch.cat([pan, pan], 1))


def test_build_errors():
    with pytest.raises(InputError, match="unknown model"):
        build_model("unet")
    with pytest.raises(InputError, match="no hyper-parameter"):
        build_model("pantiny", depth=3)
    with pytest.raises(InputError, match="heads"):
        build_model("pantiny", width=30, heads=4)
    with pytest.raises(InputError, match="scale"):
        build_model("pantiny", scale="xl")
    with pytest.raises(InputError):
        build_model("pnn", bands=3, index_bands={"green": 1, "red": 2, "nir": 3})


def test_pantiny_overrides():
    m = build_model("pantiny", scale="small", width=24)
    assert m.hparams["width"] == 24 and m.hparams["heads"] == 2
    assert m.num_parameters() == (
        4 * 24 * 9
        + 4 * transformer_block_params(24, 2)
        + 25 * 24 * 9
        + 24 * 24 * 9 * 2
        + 24 * 4 * 9
    )


# ------------------------------------------------------------------ blocks vs references


def test_layernorm_matches_torch_layer_norm():
    torch.manual_seed(1)
    ln = ChannelLayerNorm(6)
    with torch.no_grad():
        ln.weight.uniform_(0.5, 1.5)
        ln.bias.uniform_(-0.5, 0.5)
    x = torch.randn(2, 6, 5, 7) * 3 + 1
    ref = F.layer_norm(x.permute(0, 2, 3, 1), (6,), ln.weight, ln.bias, eps=1e-5)
    ref = ref.permute(0, 3, 1, 2)
    torch.testing.assert_close(ln(x), ref, rtol=1e-5, atol=1e-5)


def _mdta_reference(m: MDTA, x: torch.Tensor) -> torch.Tensor:
    """Independent, loop-over-heads evaluation of the MDTA formula (float64)."""
    b, c, h, w = x.shape
    qkv = F.conv2d(x, m.qkv.weight.double())
    qkv = F.conv2d(qkv, m.qkv_dw.weight.double(), padding=1, groups=3 * c)
    q, k, v = qkv[:, :c], qkv[:, c : 2 * c], qkv[:, 2 * c :]
    ch = c // m.heads
    outs = []
    for i in range(m.heads):
        sl = slice(i * ch, (i + 1) * ch)
        qi = q[:, sl].reshape(b, ch, -1)
        ki = k[:, sl].reshape(b, ch, -1)
        vi = v[:, sl].reshape(b, ch, -1)
        qi = qi / qi.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        ki = ki / ki.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        logits = torch.einsum("bin,bjn->bij", qi, ki) * m.temperature[i].double()
        a = torch.exp(logits - logits.amax(-1, keepdim=True))
        a = a / a.sum(-1, keepdim=True)
        outs.append(torch.einsum("bij,bjn->bin", a, vi).reshape(b, ch, h, w))
    return F.conv2d(torch.cat(outs, 1), m.proj.weight.double())


def test_mdta_matches_reference_formula():
    torch.manual_seed(2)
    m = MDTA(12, 3)
    assert torch.equal(m.temperature, torch.ones(3, 1, 1))
    with torch.no_grad():
        m.temperature.copy_(torch.tensor([0.5, 1.0, 3.0]).view(3, 1, 1))
    x = torch.randn(2, 12, 9, 11)
    torch.testing.assert_close(m(x).double(), _mdta_reference(m, x.double()), rtol=1e-4, atol=1e-5)


def test_gdfn_matches_reference_formula():
    torch.manual_seed(3)
    m = GDFN(8, 2.0)
    x = torch.randn(1, 8, 6, 5)
    y = F.conv2d(F.conv2d(x, m.project_in.weight), m.dw.weight, padding=1, groups=32)
    x1, x2 = y[:, :16], y[:, 16:]
    gelu = 0.5 * x1 * (1 + torch.erf(x1 / math.sqrt(2)))
    ref = F.conv2d(gelu * x2, m.project_out.weight)
    torch.testing.assert_close(m(x), ref, rtol=1e-5, atol=1e-6)


def test_high_pass_and_indices():
    x = torch.full((1, 2, 9, 9), 0.7)
    assert torch.allclose(high_pass(x, 5), torch.zeros_like(x), atol=1e-7)
    ramp = torch.arange(9.0).view(1, 1, 1, 9).expand(1, 1, 9, 9)
    hp = high_pass(ramp, 5)
    assert torch.allclose(hp[..., 2:7], torch.zeros(1, 1, 9, 5), atol=1e-6)  # linear interior
    nir, red = torch.tensor([0.6, 0.0, 0.2]), torch.tensor([0.2, 0.0, 0.2])
    torch.testing.assert_close(normalized_difference(nir, red), torch.tensor([0.5, 0.0, 0.0]))


def test_engine_package_does_not_import_torch():
    code = (
        "import sys, engine, engine.weights.checkpoint, engine.errors;"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
