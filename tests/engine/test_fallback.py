"""Out-of-memory fallback of inference: smaller tiles, then the CPU, said in the log.

No GPU is needed: the predictor's forward pass is monkeypatched to raise the errors
PyTorch raises (torch.cuda.OutOfMemoryError, RuntimeError('CUDA out of memory ...')).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from osgeo import gdal, osr

from engine.errors import DeviceOutOfMemory
from engine.inference import predictor as predictor_module
from engine.inference.fallback import Attempt, fallback_plan, run_with_fallback
from engine.inference.raster import pansharpen_raster


class Log:
    def __init__(self):
        self.lines = []

    def set_progress(self, p):
        pass

    def info(self, m):
        self.lines.append(m)

    def warning(self, m):
        self.lines.append("WARNING " + m)

    def is_canceled(self):
        return False


def test_plan_halves_tiles_then_falls_back_to_the_cpu():
    plan = fallback_plan("cuda:0", 512, 64)
    assert [(a.device, a.tile_size, a.overlap) for a in plan] == [
        ("cuda:0", 512, 64), ("cuda:0", 256, 64), ("cuda:0", 128, 32), ("cpu", 512, 64)]
    assert [a.tile_size for a in fallback_plan("cpu", 128, 16)] == [128, 64]
    assert fallback_plan("cpu", None, 16) == [Attempt("cpu", None, 16)]


def test_runner_retries_and_says_so():
    log = Log()
    moved = []

    def run(a):
        if a.device != "cpu":
            raise DeviceOutOfMemory(f"cuda ran out of memory with tiles of {a.tile_size} px")
        return "ok"

    result, used = run_with_fallback(run, fallback_plan("cuda", 256, 32), log, moved.append)
    assert result == "ok" and used == Attempt("cpu", 256, 32)
    assert [a.device for a in moved] == ["cuda", "cuda", "cpu"]
    text = "\n".join(log.lines)
    assert "retrying with tiles of 128 px" in text
    assert "retrying on the CPU with tiles of 256" in text


def test_runner_gives_up_with_what_it_tried():
    def run(a):
        raise DeviceOutOfMemory("no memory")

    with pytest.raises(DeviceOutOfMemory, match=r"every tile size tried \(128 px on cpu, 64 px"):
        run_with_fallback(run, fallback_plan("cpu", 128, 16), Log())


def _write(path, array, gt):
    ds = gdal.GetDriverByName("GTiff").Create(str(path), array.shape[2], array.shape[1],
                                              array.shape[0], gdal.GDT_UInt16)
    ds.SetGeoTransform(gt)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    ds.SetProjection(srs.ExportToWkt())
    for b in range(array.shape[0]):
        ds.GetRasterBand(b + 1).WriteArray(array[b])
    ds = None
    return str(path)


@pytest.fixture
def pair_and_model(tmp_path):
    from engine.inference.scaling import PERCENTILE99
    from engine.models import build_model
    from engine.weights.checkpoint import save_checkpoint

    rng = np.random.default_rng(1)
    pan = _write(tmp_path / "pan.tif", 300 + 100 * rng.random((1, 160, 160)),
                 (0.0, 1.0, 0.0, 160.0, 0.0, -1.0))
    ms = _write(tmp_path / "ms.tif", 300 + 100 * rng.random((4, 40, 40)),
                (0.0, 4.0, 0.0, 160.0, 0.0, -4.0))
    torch.manual_seed(0)
    ckpt = tmp_path / "pnn.ckpt"
    save_checkpoint(ckpt, build_model("pnn", bands=4),
                    {"bands": {"count": 4, "names": ["Blue", "Green", "Red", "NIR"]},
                     "ratio": 4, "input_scaling": PERCENTILE99.recipe()})
    return tmp_path, pan, ms, str(ckpt)


@pytest.mark.parametrize("error", [
    lambda: RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB"),
    lambda: torch.cuda.OutOfMemoryError("CUDA out of memory"),
])
def test_out_of_memory_mid_run_restarts_with_smaller_tiles(pair_and_model, monkeypatch, error):
    tmp_path, pan, ms, ckpt = pair_and_model
    real_forward = predictor_module.TiledPredictor._forward
    calls = {"big": 0}

    def forward(self, run_model, bms_t, pan_t):
        if self.tile_size > 64:
            calls["big"] += 1
            if calls["big"] > 1:  # fail after the first batch was written
                raise error()
        return real_forward(self, run_model, bms_t, pan_t)

    monkeypatch.setattr(predictor_module.TiledPredictor, "_forward", forward)
    log = Log()
    torch.set_num_threads(1)
    out = tmp_path / "out.tif"
    result = pansharpen_raster(pan, ms, str(out), ckpt, device="cpu", tile_size=128,
                               overlap=16, feedback=log)
    text = "\n".join(log.lines)
    assert "WARNING out of memory with tiles of 128 px on cpu" in text
    assert "retrying with tiles of 64 px (overlap 16)" in text
    assert result["TILE_SIZE"] == 64
    assert gdal.Open(str(out)).GetMetadataItem("PANTINY_TILE_SIZE") == "64"
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_other_runtime_errors_are_not_taken_for_memory(pair_and_model, monkeypatch):
    tmp_path, pan, ms, ckpt = pair_and_model

    def forward(self, run_model, bms_t, pan_t):
        raise RuntimeError("expected scalar type Float but found Half")

    monkeypatch.setattr(predictor_module.TiledPredictor, "_forward", forward)
    with pytest.raises(RuntimeError, match="scalar type"):
        pansharpen_raster(pan, ms, str(tmp_path / "o.tif"), ckpt, device="cpu", tile_size=128,
                          overlap=16)
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name or p.name == "o.tif"]
