"""engine.inference.predictor: tile grid, stitching, determinism, nodata, devices (CPU only, fast)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import Canceled, InputError
from engine.devices import select_device
from engine.inference.predictor import TiledPredictor, fill_values, valid_mask
from engine.inference.tiling import axis_weights, blend_radius, plan_axis, seam_positions
from engine.models import build_model


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], passes: int = 3) -> np.ndarray:
    """Spatially correlated test image in ~[0, 1] (box-blurred noise)."""
    a = rng.random(shape)
    for _ in range(passes):
        a = (a + np.roll(a, 1, -1) + np.roll(a, -1, -1) + np.roll(a, 1, -2) + np.roll(a, -1, -2)) / 5
    a -= a.min()
    return (a / a.max()).astype(np.float32)


pytestmark = pytest.mark.usefixtures("torch_one_thread")  # tiny tiles: one thread is fastest


@pytest.fixture(scope="module")
def images() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    h, w = 120, 136
    bms = _smooth_noise(rng, (4, h, w))
    pan = (0.25 * bms.sum(0) + 0.2 * rng.random((h, w))).astype(np.float32)
    return pan, bms


@pytest.fixture(scope="module")
def small(images) -> tuple[np.ndarray, np.ndarray]:
    """A crop for the (slower) PanTiny runs."""
    pan, bms = images
    return pan[:88, :100], bms[:, :88, :100]


@pytest.fixture(scope="module")
def pnn() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("pnn", bands=4).eval()


@pytest.fixture(scope="module")
def pantiny() -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model("pantiny", bands=4).eval()
    # Random init leaves the residual branch weak; scale the output conv so that the
    # residual (and thus any tiling effect) is of the order of the image itself.
    with torch.no_grad():
        for p in list(model.parameters())[-1:]:
            p.mul_(20.0)
    return model


# ---------------------------------------------------------------- tile grid


@pytest.mark.parametrize("length,tile,overlap", [(300, 128, 32), (129, 128, 32), (1000, 256, 64),
                                                 (97, 32, 0), (500, 64, 63)])
def test_plan_axis_covers_once_with_full_tiles_and_margins(length, tile, overlap):
    spans = plan_axis(length, tile, overlap)
    kept = np.zeros(length, dtype=int)
    for s in spans:
        assert 0 <= s.start and s.start + tile <= length  # always a full tile inside the image
        assert s.start <= s.keep_start < s.keep_stop <= s.start + tile
        kept[s.keep_start : s.keep_stop] += 1
    assert (kept == 1).all()
    assert spans[0].keep_start == 0 and spans[-1].keep_stop == length
    assert spans[-1].start + tile == length  # last tile moved back to the edge
    for a, b in zip(spans[:-1], spans[1:]):  # interior sides: >= overlap // 2 dropped
        assert a.start + tile - a.keep_stop >= overlap // 2
        assert b.keep_start - b.start >= overlap // 2
    # regular stride except for the last tile
    starts = [s.start for s in spans[:-1]]
    assert starts == [k * (tile - overlap) for k in range(len(starts))]


def test_plan_axis_small_and_whole():
    assert plan_axis(100, 128, 32) == plan_axis(100, None, 0)
    (s,) = plan_axis(100, 128, 32)
    assert (s.start, s.keep_start, s.keep_stop) == (0, 0, 100)
    assert seam_positions(300, 128, 32) == [112, 198]
    with pytest.raises(InputError):
        plan_axis(0, 128, 32)


@pytest.mark.parametrize("length,tile,overlap", [(300, 128, 32), (1000, 256, 64), (129, 128, 32),
                                                 (700, 256, 16), (97, 32, 0)])
def test_linear_blend_weights_partition_unity(length, tile, overlap):
    spans = plan_axis(length, tile, overlap)
    r = blend_radius(spans, tile, overlap, "linear")
    assert blend_radius(spans, tile, overlap, "cut") == 0
    if len(spans) > 1 and overlap >= 4:
        assert 0 < r <= overlap // 4
    total = np.zeros(length)
    for s, (lo, hi, w) in zip(spans, axis_weights(spans, r)):
        # only inside the tile, and never within overlap // 4 of an interior tile edge
        assert s.start <= lo and hi <= s.start + tile
        if lo > 0:
            assert lo - s.start >= overlap // 4
        if hi < length:
            assert s.start + tile - hi >= overlap // 4
        assert ((w > 0) & (w <= 1)).all()
        total[lo:hi] += w
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_predictor_rejects_bad_settings(pnn):
    for kwargs in ({"tile_size": 64, "overlap": 64}, {"tile_size": 4}, {"overlap": -1},
                   {"batch_size": -1}, {"dtype": "fp16"}, {"blend": "cubic"}):
        with pytest.raises(InputError):
            TiledPredictor(pnn, "cpu", **kwargs)


# ---------------------------------------------------------------- exactness


@pytest.mark.filterwarnings("ignore:TF32 acceleration:UserWarning")
def test_pnn_tiled_equals_whole_when_overlap_covers_receptive_field(images, pnn):
    """PNN (9x9, 5x5, 5x5: receptive-field half-width 8).  'cut' with overlap 16 and
    'linear' with overlap 32 leave >= 8 px of unused context on every interior side, and
    edge tiles see the image edge like the whole run."""
    pan, bms = images
    whole = TiledPredictor(pnn, "cpu", tile_size=None).predict(pan, bms)
    cut = TiledPredictor(pnn, "cpu", tile_size=64, overlap=16, batch_size=3,
                         blend="cut").predict(pan, bms)
    lin = TiledPredictor(pnn, "cpu", tile_size=64, overlap=32, blend="linear").predict(pan, bms)
    # default CPU kernels (oneDNN) pick algorithms by tensor shape: equal to round-off
    np.testing.assert_allclose(cut, whole, rtol=0, atol=2e-6)
    np.testing.assert_allclose(lin, whole, rtol=0, atol=2e-6)
    # with the shape-independent reference kernels a hard cut is bitwise equal
    with torch.backends.mkldnn.flags(enabled=False):
        whole_ref = TiledPredictor(pnn, "cpu", tile_size=None).predict(pan, bms)
        cut_ref = TiledPredictor(pnn, "cpu", tile_size=64, overlap=16,
                                 blend="cut").predict(pan, bms)
    assert np.array_equal(cut_ref, whole_ref)
    # negative controls: too little unused context -> visible differences
    short = TiledPredictor(pnn, "cpu", tile_size=64, overlap=4, blend="cut").predict(pan, bms)
    assert np.abs(short - whole).max() > 1e-3
    short = TiledPredictor(pnn, "cpu", tile_size=64, overlap=16,
                           blend="linear").predict(pan, bms)
    assert np.abs(short - whole).max() > 1e-4


def test_pantiny_tiled_close_to_whole(small, pantiny):
    pan, bms = small
    whole = TiledPredictor(pantiny, "cpu", tile_size=None).predict(pan, bms)
    tiled = TiledPredictor(pantiny, "cpu", tile_size=64, overlap=32).predict(pan, bms)
    residual = np.abs(whole - np.maximum(bms, 0)).max()
    diff = np.abs(tiled - whole)
    assert residual > 0.05  # the model does change the image
    # channel attention pools over the tile: never exact, but small against the residual
    assert 0 < diff.max() < 0.25 * residual
    assert diff.mean() < 0.02 * residual


def test_deterministic_and_batch_size_independent(small, pantiny):
    pan, bms = small
    a = TiledPredictor(pantiny, "cpu", tile_size=48, overlap=16, batch_size=4).predict(pan, bms)
    b = TiledPredictor(pantiny, "cpu", tile_size=48, overlap=16, batch_size=4).predict(pan, bms)
    assert np.array_equal(a, b)
    c = TiledPredictor(pantiny, "cpu", tile_size=48, overlap=16, batch_size=1).predict(pan, bms)
    # same tile grid, same tiles; oneDNN may round differently for another batch shape
    np.testing.assert_allclose(c, a, rtol=0, atol=1e-5 * float(np.abs(a).max()))


@pytest.mark.filterwarnings("ignore:TF32 acceleration:UserWarning")
def test_batch_size_bitwise_with_reference_kernels(images, pnn):
    pan, bms = images
    with torch.backends.mkldnn.flags(enabled=False):
        a = TiledPredictor(pnn, "cpu", tile_size=48, overlap=8, batch_size=1).predict(pan, bms)
        b = TiledPredictor(pnn, "cpu", tile_size=48, overlap=8, batch_size=5).predict(pan, bms)
    assert np.array_equal(a, b)


# ---------------------------------------------------------------- streaming


@pytest.mark.parametrize("blend", ["cut", "linear"])
def test_predict_rows_streams_bounded_rows(images, pnn, blend):
    pan, bms = images
    pred = TiledPredictor(pnn, "cpu", tile_size=64, overlap=16, blend=blend)
    asked = []

    def read_rows(y0, y1):
        asked.append((y0, y1))
        return pan[y0:y1], bms[:, y0:y1], None

    vmask = valid_mask(pan, bms)
    fp, fm = fill_values(pan, bms, vmask)
    blocks = list(pred.predict_rows(read_rows, *pan.shape, fill_pan=fp, fill_ms=fm))
    assert all(y1 - y0 == 64 for y0, y1 in asked)  # one row of tiles at a time
    rows = [y0 for y0, _ in blocks]
    assert rows[0] == 0  # consecutive blocks covering every row once, in order
    assert all(a + b.shape[1] == c for (a, b), c in zip(blocks, rows[1:]))
    out = np.concatenate([b for _, b in blocks], axis=1)
    assert out.shape == bms.shape
    np.testing.assert_array_equal(out, pred.predict(pan, bms))


def test_image_smaller_than_tile_runs_as_one_capped_tile(images, pnn):
    pan, bms = images
    p, m = pan[:40, :50], bms[:, :40, :50]
    pred = TiledPredictor(pnn, "cpu", tile_size=64, overlap=16)
    assert pred.tile_shape(40, 50) == (40, 50)
    out = pred.predict(p, m)
    whole = TiledPredictor(pnn, "cpu", tile_size=None).predict(p, m)
    assert out.shape == m.shape and np.isfinite(out).all()
    # no padding: one tile of the image's own size is whole-image inference
    np.testing.assert_allclose(out, whole, atol=2e-6)


def test_tile_is_capped_per_axis_to_the_image():
    """A 128 x 128 image with the largest tile runs as one 128 x 128 tile (not 4096 x 4096,
    which took minutes and 7 GB), and a thin image gets tiles capped only along its
    short axis."""
    seen = []

    class Spy(torch.nn.Module):
        def forward(self, ms, bms, pan):
            seen.append(tuple(bms.shape))
            return bms.clone()

    pan = np.random.default_rng(0).random((128, 128), dtype=np.float32)
    bms = np.stack([pan] * 4)
    out = TiledPredictor(Spy(), "cpu", tile_size=4096, overlap=1024).predict(pan, bms)
    assert seen == [(1, 4, 128, 128)]
    np.testing.assert_allclose(out, bms)
    seen.clear()
    pan = np.zeros((40, 300), dtype=np.float32)
    TiledPredictor(Spy(), "cpu", tile_size=128, overlap=32).predict(pan, np.stack([pan] * 4))
    assert {s[2:] for s in seen} == {(40, 128)} and len(seen) == 3


# ---------------------------------------------------------------- nodata, clipping


def test_nodata_propagates_and_does_not_leak(small, pantiny):
    pan, bms = small
    valid = np.ones(pan.shape, dtype=bool)
    valid[40:60, 50:80] = False
    pan_a, bms_a = pan.copy(), bms.copy()
    pan_a[~valid] = 1e6  # garbage under the mask
    bms_a[2, 70, 10] = np.nan  # one NaN in one MS band
    pan_b, bms_b = pan.copy(), bms.copy()
    pan_b[~valid] = -3.0
    bms_b[:, ~valid] = 77.0
    bms_b[2, 70, 10] = np.nan
    pred = TiledPredictor(pantiny, "cpu", tile_size=64, overlap=32)
    a = pred.predict(pan_a, bms_a, valid)
    b = pred.predict(pan_b, bms_b, valid, fill_pan=float(pan[valid].mean()),
                     fill_ms=bms[:, valid].mean(axis=1))
    bad = ~valid
    bad[70, 10] = True
    assert np.isnan(a[:, bad]).all() and np.isnan(b[:, bad]).all()
    assert np.isfinite(a[:, ~bad]).all()
    # invalid pixels are filled before inference: the garbage never reaches neighbours
    # (fill values differ only by the single NaN pixel's contribution to the means)
    np.testing.assert_allclose(a[:, ~bad], b[:, ~bad], atol=1e-4)


def test_all_invalid_gives_all_nan(images, pnn):
    pan, bms = images
    out = TiledPredictor(pnn, "cpu", tile_size=64, overlap=16).predict(
        pan, bms, np.zeros(pan.shape, dtype=bool))
    assert np.isnan(out).all()


class _Negative(torch.nn.Module):
    def forward(self, ms, bms, pan):
        return bms - 0.5


def test_output_clipped_at_zero(images):
    pan, bms = images
    out = TiledPredictor(_Negative(), "cpu", tile_size=64, overlap=16).predict(pan, bms)
    assert out.min() == 0.0
    np.testing.assert_allclose(out, np.maximum(bms - 0.5, 0), atol=1e-7)


# ---------------------------------------------------------------- progress, cancel


def test_progress_and_cancel(images, pnn):
    pan, bms = images
    seen = []
    TiledPredictor(pnn, "cpu", tile_size=64, overlap=16, batch_size=2).predict(
        pan, bms, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    calls = []

    def cancel_after_two():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Canceled):
        TiledPredictor(pnn, "cpu", tile_size=64, overlap=16, batch_size=1).predict(
            pan, bms, is_canceled=cancel_after_two)


# ---------------------------------------------------------------- devices


def test_select_device(monkeypatch):
    dev, msg = select_device("cpu")
    assert dev.type == "cpu" and "CPU" in msg
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    dev, msg = select_device("cuda")
    assert dev.type == "cpu"
    assert msg.startswith("WARNING") and "CUDA was requested" in msg and "CPU" in msg
    dev, msg = select_device("auto")
    assert dev.type == "cpu" and not msg.startswith("WARNING")
    with pytest.raises(InputError):
        select_device("tpu")


def test_bf16_on_cpu_falls_back(pnn):
    pred = TiledPredictor(pnn, "cpu", dtype="bf16")
    assert pred.dtype == "fp32" and any("bf16" in m for m in pred.messages)


def test_global_torch_flags_restored(images, pnn):
    pan, bms = images
    before = torch.are_deterministic_algorithms_enabled()
    TiledPredictor(pnn, "cpu", tile_size=64, overlap=16).predict(pan, bms)
    assert torch.are_deterministic_algorithms_enabled() == before
    assert not torch.is_inference_mode_enabled()
