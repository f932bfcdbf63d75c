"""The fast CPU path (folded PanTiny, worker threads, background reads) equals the plain
model within 1e-4 relative, on random inputs and on a real scene."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import engine.inference.predictor as predictor_mod  # noqa: E402
from engine.inference.predictor import TiledPredictor  # noqa: E402
from engine.models import build_model  # noqa: E402
from engine.models.fast_pantiny import FastPanTiny  # noqa: E402
from engine.weights.checkpoint import load_model  # noqa: E402
from engine.weights.model_zoo import default_model_id, model_path  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

RTOL = 1e-4  # relative to the largest output value


def _perturbed(scale: str, bands: int = 4, heads: int | None = None) -> torch.nn.Module:
    """A PanTiny away from its initialisation (LayerNorm affine and temperatures not
    identity), so that every folded weight matters."""
    torch.manual_seed(0)
    m = build_model("pantiny", bands=bands, scale=scale, heads=heads).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return m


def _assert_close(out: torch.Tensor | np.ndarray, ref: torch.Tensor | np.ndarray) -> None:
    out, ref = np.asarray(out, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    assert out.shape == ref.shape
    err = np.abs(out - ref).max() / np.abs(ref).max()
    assert err <= RTOL, f"largest difference {err:.3g} of the largest value"


@pytest.mark.parametrize("scale,heads,shape,rows", [
    ("small", None, (1, 4, 40, 36), 32),      # strips of 32 + 8 rows
    ("small", 4, (2, 4, 23, 31), 7),          # batch of 2, 4 heads, odd sizes
    ("normal", None, (1, 4, 64, 48), 16),     # the published scale
    ("small", None, (1, 4, 9, 70), 1),        # one-row strips
])
def test_fast_model_equals_plain_forward(scale, heads, shape, rows):
    m = _perturbed(scale, heads=heads)
    torch.manual_seed(1)
    bms = torch.rand(*shape)
    pan = bms.mean(1, keepdim=True) + 0.3 * torch.rand(shape[0], 1, *shape[2:])
    with torch.inference_mode():
        ref = m(None, bms, pan)
        out = FastPanTiny(m, rows=rows)(None, bms, pan)
    _assert_close(out, ref)


def test_fast_model_needs_pantiny():
    with pytest.raises(TypeError, match="PanTiny"):
        FastPanTiny(build_model("pnn", bands=4))


def test_cpu_predictor_uses_the_fast_path_and_matches_the_plain_model(monkeypatch):
    m = _perturbed("small")
    rng = np.random.default_rng(3)
    bms = rng.random((4, 70, 90), dtype=np.float32)
    pan = (bms.mean(0) + 0.2 * rng.random((70, 90))).astype(np.float32)
    calls = []
    real = FastPanTiny.forward
    monkeypatch.setattr(FastPanTiny, "forward",
                        lambda self, *a: calls.append(1) or real(self, *a))
    fast = TiledPredictor(m, "cpu", tile_size=48, overlap=16, threads=2)
    assert fast.fast_path and fast.threads == 2
    before = torch.get_num_threads()
    out = fast.predict(pan, bms)
    assert torch.get_num_threads() == before  # the run restores the thread count
    assert len(calls) == 6  # 2 x 3 tiles, all through the fast model
    monkeypatch.setattr(predictor_mod, "CPU_FAST_PATH", False)
    monkeypatch.setattr(predictor_mod, "CPU_STRIP_ROWS", None)
    plain = TiledPredictor(m, "cpu", tile_size=48, overlap=16, threads=1)
    assert not plain.fast_path and plain.strip_rows is None
    _assert_close(out, plain.predict(pan, bms))


def test_threads_do_not_change_the_result():
    m = _perturbed("small")
    rng = np.random.default_rng(4)
    bms = rng.random((4, 60, 100), dtype=np.float32)
    pan = bms.mean(0)
    one = TiledPredictor(m, "cpu", tile_size=40, overlap=8, threads=1).predict(pan, bms)
    three = TiledPredictor(m, "cpu", tile_size=40, overlap=8, threads=3).predict(pan, bms)
    np.testing.assert_array_equal(one, three)


def test_fast_path_on_a_real_scene(shared_data, monkeypatch):
    """The bundled default model on a 160 x 160 crop of wv3-shanghai (B, G, R, NIR1,
    scaled by the 99th percentiles, MS nearest-upsampled to the PAN grid)."""
    gdal = pytest.importorskip("osgeo.gdal")
    folder = shared_data / "wv3-shanghai"
    pan_ds = gdal.Open(str(folder / "PAN_AOI_4_Shanghai_img1920.tif"))
    ms_ds = gdal.Open(str(folder / "MUL_AOI_4_Shanghai_img1920.tif"))
    pan = pan_ds.ReadAsArray(400, 400, 160, 160).astype(np.float32)
    ms = np.stack([ms_ds.GetRasterBand(b).ReadAsArray(100, 100, 40, 40) for b in (2, 3, 5, 7)])
    ms = ms.astype(np.float32)
    pan /= np.percentile(pan, 99)
    ms /= np.percentile(ms, 99, axis=(1, 2), keepdims=True)
    bms = np.kron(ms, np.ones((1, 4, 4), dtype=np.float32))
    model, _ = load_model(model_path(default_model_id()), torch.device("cpu"))
    fast = TiledPredictor(model, "cpu", tile_size=96, overlap=32, threads=2)
    assert fast.fast_path
    out = fast.predict(pan, bms)
    monkeypatch.setattr(predictor_mod, "CPU_FAST_PATH", False)
    monkeypatch.setattr(predictor_mod, "CPU_STRIP_ROWS", None)
    plain = TiledPredictor(model, "cpu", tile_size=96, overlap=32, threads=1)
    ref = plain.predict(pan, bms)
    _assert_close(out, ref)
    assert np.abs(ref - bms).mean() > 1e-3  # the model did something


def test_large_tiles_get_fewer_workers():
    m = _perturbed("small")
    pred = TiledPredictor(m, "cpu", threads=4)
    assert pred.workers_for(256, 256) == 4
    assert pred.workers_for(1448, 1448) == 2  # ~1 GB per tile in a 2 GB budget
    assert pred.workers_for(4096, 4096) == 1  # one 4096 px tile alone is ~5 GB


def test_openblas_is_single_threaded_during_a_cpu_run_and_restored(monkeypatch):
    """Inside QGIS torch's products can land in the system OpenBLAS, whose own threads
    doubled the run time: the predictor limits it to one thread for the run."""
    from engine.inference import blas_threads

    state = {"n": 3}
    seen = []
    get, set_ = (lambda: state["n"]), (lambda n: state.__setitem__("n", n))
    monkeypatch.setattr(blas_threads, "_loaded_openblas", lambda: [(get, set_)])

    class Spy(torch.nn.Module):
        def forward(self, ms, bms, pan):
            seen.append(state["n"])
            return bms.clone()

    pan = np.zeros((40, 40), dtype=np.float32)
    TiledPredictor(Spy(), "cpu", tile_size=32, overlap=8).predict(pan, np.stack([pan] * 4))
    assert seen and set(seen) == {1}
    assert state["n"] == 3
