"""Row-chunked PanTiny inference equals the plain forward pass."""

import pytest

torch = pytest.importorskip("torch")

from engine.inference.predictor import CPU_STRIP_ROWS, TiledPredictor  # noqa: E402
from engine.models import build_model  # noqa: E402
from engine.models.row_chunked import local_rows, transformer_block_rows  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _model(scale: str = "small"):
    torch.manual_seed(0)
    m = build_model("pantiny", bands=4, scale=scale).eval()
    with torch.no_grad():  # away from the initialisation (temperature 1, LN identity)
        for p in m.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return m


@pytest.mark.parametrize("shape,rows", [((2, 4, 37, 29), 8), ((1, 4, 40, 24), 7),
                                        ((1, 4, 16, 16), 64), ((1, 4, 12, 20), 1)])
def test_forward_rows_equals_forward(shape, rows):
    m = _model()
    torch.manual_seed(1)
    bms = torch.rand(*shape)
    pan = bms.mean(1, keepdim=True) + 0.2 * torch.rand(shape[0], 1, *shape[2:])
    with torch.inference_mode():
        ref = m(None, bms, pan)
        got = m.forward_rows(None, bms, pan, rows=rows)
    assert got.shape == ref.shape
    assert torch.allclose(got, ref, atol=2e-5, rtol=0), (got - ref).abs().max()


def test_block_and_local_helpers_against_the_modules():
    m = _model("normal")
    x = torch.randn(1, 28, 33, 21)
    with torch.inference_mode():
        block = m.encoder[0]
        assert torch.allclose(transformer_block_rows(block, x, 5), block(x), atol=2e-5)
        f = m.fusion
        xp = torch.randn(1, 29, 33, 21)
        assert torch.allclose(local_rows(f, [xp], 2, 4), f(xp), atol=1e-5)
        # a halo too small for two stacked 3x3 convolutions is visibly wrong at the cuts
        assert not torch.allclose(local_rows(f, [xp], 1, 4), f(xp), atol=1e-3)


def test_cpu_predictor_uses_the_strips_and_matches_the_plain_model(monkeypatch):
    import engine.inference.predictor as predictor

    monkeypatch.setattr(predictor, "CPU_FAST_PATH", False)  # the fast path: test_fast_path.py
    m = _model()
    torch.manual_seed(2)
    import numpy as np

    bms = np.random.default_rng(0).random((4, 48, 40), dtype=np.float32)
    pan = bms.mean(0) + 0.1
    calls = []
    plain_rows = m.forward_rows
    m.forward_rows = lambda *a, **k: calls.append(k.get("rows")) or plain_rows(*a, **k)
    whole = TiledPredictor(m, "cpu", tile_size=None).predict(pan, bms)
    assert calls == [CPU_STRIP_ROWS]
    with torch.inference_mode():
        ref = m(None, torch.from_numpy(bms)[None], torch.from_numpy(pan)[None, None])
    np.testing.assert_allclose(whole, ref[0].clamp(min=0).numpy(), atol=2e-5)
