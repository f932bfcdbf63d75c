"""engine.inference.raster: the streamed GeoTIFF pipeline on generated rasters (CPU, fast).

Fixtures are written with plain GDAL calls (not the writer under test); the model is a
randomly initialised PanTiny saved as a checkpoint in tmp_path.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from osgeo import gdal, osr

from engine.weights.checkpoint import read_metadata, save_checkpoint
from engine.errors import AlignmentError, Canceled, InputError
from engine.io.grid import Alignment
from engine.inference.predictor import TiledPredictor
from engine.models import build_model
from engine.io.placement import ms_to_pan_grid
from engine.inference.raster import NullFeedback, default_bands, pansharpen_raster
from engine.inference.scaling import PERCENTILE99, Scaling

R = 4
H, W = 96, 104  # PAN
GT_PAN = (500000.0, 0.5, 0.0, 5000000.0, 0.0, -0.5)
GT_MS = (500000.0, 2.0, 0.0, 5000000.0, 0.0, -2.0)
TILE = dict(tile_size=64, overlap=16, batch_size=4)


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _wkt(epsg: int) -> str:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    return srs.ExportToWkt()


def _tif(path: Path, data: np.ndarray, gdt: int, gt, epsg: int | None = 32633,
         nodata: float | None = None) -> str:
    data = data if data.ndim == 3 else data[None]
    ds = gdal.GetDriverByName("GTiff").Create(str(path), data.shape[2], data.shape[1],
                                              data.shape[0], gdt)
    if gt is not None:
        ds.SetGeoTransform(gt)
    if epsg is not None:
        ds.SetProjection(_wkt(epsg))
    for i, band in enumerate(data):
        b = ds.GetRasterBand(i + 1)
        if nodata is not None:
            b.SetNoDataValue(nodata)
        b.WriteArray(band)
    ds = None
    return str(path)


def _scene(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Smooth 11-bit-like MS (4, H/4, W/4) and a PAN that follows it, both uint16."""
    rng = np.random.default_rng(seed)
    ms = rng.random((4, H // R, W // R))
    for _ in range(2):
        ms = (ms + np.roll(ms, 1, -1) + np.roll(ms, 1, -2)) / 3
    ms = 200 + 1500 * ms
    pan = np.kron(ms.mean(0), np.ones((R, R))) + 80 * rng.random((H, W))
    return np.rint(pan).astype(np.uint16), np.rint(ms).astype(np.uint16)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> str:
    torch.manual_seed(0)
    model = build_model("pantiny", bands=4)
    with torch.no_grad():  # a visible residual, so band/position mix-ups show
        list(model.parameters())[-1].mul_(20.0)
    path = tmp_path_factory.mktemp("ckpt") / "pantiny-random.ckpt"
    save_checkpoint(path, model, {"bands": {"count": 4, "names": ["Blue", "Green", "Red", "NIR"]},
                                  "ratio": 4, "input_scaling": PERCENTILE99.recipe()})
    return str(path)


@pytest.fixture()
def pair(tmp_path) -> tuple[str, str, np.ndarray, np.ndarray]:
    pan, ms = _scene()
    return (_tif(tmp_path / "pan.tif", pan, gdal.GDT_UInt16, GT_PAN),
            _tif(tmp_path / "ms.tif", ms, gdal.GDT_UInt16, GT_MS), pan, ms)


def _read(path: str) -> tuple[np.ndarray, gdal.Dataset]:
    ds = gdal.Open(path)
    return ds.ReadAsArray(), ds


def _no_leftovers(folder: Path, expected: set[str]) -> None:
    assert set(os.listdir(folder)) == expected


# ---------------------------------------------------------------- happy path


def test_output_on_pan_grid_with_provenance(tmp_path, pair, ckpt):
    pan_p, ms_p, pan, ms = pair
    out_p = str(tmp_path / "out.tif")
    res = pansharpen_raster(pan_p, ms_p, out_p, ckpt, device="cpu", **TILE)
    assert res["OUTPUT"] == out_p and res["DEVICE_USED"] == "cpu"
    assert res["BANDS"] == [1, 2, 3, 4]
    data, ds = _read(out_p)
    assert (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) == (W, H, 4)
    assert ds.GetGeoTransform() == GT_PAN
    ref = osr.SpatialReference(wkt=_wkt(32633))
    assert ds.GetSpatialRef().IsSame(ref)
    assert data.dtype == np.uint16  # default: the MS data type
    b1 = ds.GetRasterBand(1)
    assert b1.GetNoDataValue() == 0  # uint16 MS without nodata -> 0
    assert [ds.GetRasterBand(i + 1).GetDescription() for i in range(4)] == [
        "Blue", "Green", "Red", "NIR"]
    md = ds.GetMetadata()
    _, sha = read_metadata(ckpt)
    assert md["PANTINY_CHECKPOINT_SHA256"] == sha
    assert md["PANTINY_TILE_SIZE"] == "64" and md["PANTINY_OVERLAP"] == "16"
    assert md["PANTINY_DEVICE"] == "cpu" and md["PANTINY_MS_BANDS"] == "1,2,3,4"
    scaling = json.loads(md["PANTINY_INPUT_SCALING"])
    assert scaling["ms_scale"] == pytest.approx(np.percentile(ms.astype(float), 99))
    assert scaling["pan_scale"] == pytest.approx(np.percentile(pan.astype(float), 99))
    assert md["PANTINY_ENGINE_VERSION"]
    # values: same order of magnitude as the MS (scaling inverted), all valid
    assert (data > 0).all()
    assert 0.5 < data.mean() / ms.mean() < 2.0
    _no_leftovers(tmp_path, {"pan.tif", "ms.tif", "out.tif"})


@pytest.mark.parametrize("chunk,correction", [(2048, True), (24, True), (2048, False)])
def test_streamed_equals_in_memory_pipeline(tmp_path, pair, ckpt, chunk, correction,
                                            monkeypatch):
    """Strip-wise reading, column-chunked placement, tiled inference and the strip-wise
    spectral correction give the whole-array result (chunk 24: five placement chunks per
    strip)."""
    import engine.inference.raster as ri
    from engine.inference.spectral_correction import correct
    from engine.sensors import get_sensor

    monkeypatch.setattr(ri, "PLACEMENT_CHUNK", chunk)
    pan_p, ms_p, pan, ms = pair
    out_p = str(tmp_path / "out.tif")
    res = pansharpen_raster(pan_p, ms_p, out_p, ckpt, device="cpu", out_dtype="float32",
                            spectral_correction=correction, **TILE)
    got, ds = _read(out_p)
    gains = get_sensor("generic").gnyq(4)
    assert res["SPECTRAL_CORRECTION"] == (list(gains) if correction else None)
    assert ds.GetMetadata()["PANTINY_SPECTRAL_CORRECTION"].startswith(
        "F + (bms - LP(F)), MTF gains 0.3" if correction else "off")
    sc = Scaling().fit(ms=ms.astype(np.float64), pan=pan.astype(np.float64))
    bms = ms_to_pan_grid(ms / sc.ms_scale, Alignment(R), (H, W), "interp23tap", "area")
    from engine.weights.checkpoint import load_model

    model, _ = load_model(ckpt)
    want = TiledPredictor(model, "cpu", clip_min=None, **TILE).predict(
        (pan / sc.pan_scale).astype(np.float32), bms.astype(np.float32))
    if correction:
        want = correct(want, bms, R, gains)
    want = np.maximum(want, 0.0)  # the output is clipped at 0 (an unsigned MS)
    np.testing.assert_allclose(got, want * sc.ms_scale, rtol=1e-4, atol=1e-3)


def test_nodata_propagates(tmp_path, ckpt):
    pan, ms = _scene(5)
    pan[10:20, 30:50] = 0  # PAN nodata
    ms[2, 15, 5] = 65535  # one MS nodata pixel in one band -> a 4x4 PAN block
    pan_p = _tif(tmp_path / "pan.tif", pan, gdal.GDT_UInt16, GT_PAN, nodata=0)
    ms_p = _tif(tmp_path / "ms.tif", ms, gdal.GDT_UInt16, GT_MS, nodata=65535)
    out_p = str(tmp_path / "out.tif")
    pansharpen_raster(pan_p, ms_p, out_p, ckpt, device="cpu", **TILE)
    data, ds = _read(out_p)
    assert ds.GetRasterBand(1).GetNoDataValue() == 65535  # the MS nodata
    bad = np.zeros((H, W), dtype=bool)
    bad[10:20, 30:50] = True
    bad[60:64, 20:24] = True
    assert (data[:, bad] == 65535).all()
    assert (data[:, ~bad] != 65535).all()


def test_partial_ms_footprint_is_nodata(tmp_path, ckpt):
    """An MS covering only the left half: the right half of the output is nodata."""
    pan, ms = _scene(6)
    pan_p = _tif(tmp_path / "pan.tif", pan.astype(np.float32), gdal.GDT_Float32, GT_PAN)
    ms_p = _tif(tmp_path / "ms.tif", ms[:, :, :13].astype(np.float32), gdal.GDT_Float32, GT_MS)
    out_p = str(tmp_path / "out.tif")
    pansharpen_raster(pan_p, ms_p, out_p, ckpt, device="cpu", **TILE)
    data, ds = _read(out_p)
    assert data.dtype == np.float32 and np.isnan(ds.GetRasterBand(1).GetNoDataValue())
    assert np.isnan(data[:, :, 52:]).all()
    assert np.isfinite(data[:, :, :52]).all()


def test_eight_band_ms_uses_bands_2_3_5_7(tmp_path, pair, ckpt):
    pan_p, ms_p, pan, ms = pair
    rng = np.random.default_rng(1)
    ms8 = rng.integers(0, 2047, (8,) + ms.shape[1:]).astype(np.uint16)  # distractors
    ms8[[1, 2, 4, 6]] = ms
    ms8_p = _tif(tmp_path / "ms8.tif", ms8, gdal.GDT_UInt16, GT_MS)
    assert default_bands(8, 4, ["Blue", "Green", "Red", "NIR"]) == [2, 3, 5, 7]
    assert default_bands(4, 4, None) == [1, 2, 3, 4]
    with pytest.raises(InputError, match="BANDS"):
        default_bands(6, 4, None)
    res4 = pansharpen_raster(pan_p, ms_p, str(tmp_path / "o4.tif"), ckpt, device="cpu", **TILE)
    res8 = pansharpen_raster(pan_p, ms8_p, str(tmp_path / "o8.tif"), ckpt, device="cpu", **TILE)
    assert res8["BANDS"] == [2, 3, 5, 7]
    np.testing.assert_array_equal(_read(res8["OUTPUT"])[0], _read(res4["OUTPUT"])[0])
    # explicit bands: another order gives another result; wrong count is refused
    res = pansharpen_raster(pan_p, ms8_p, str(tmp_path / "o8b.tif"), ckpt, bands=[3, 2, 5, 7],
                            device="cpu", **TILE)
    assert not np.array_equal(_read(res["OUTPUT"])[0], _read(res4["OUTPUT"])[0])
    with pytest.raises(InputError, match="expects 4"):
        pansharpen_raster(pan_p, ms8_p, str(tmp_path / "bad.tif"), ckpt, bands=[2, 3, 5],
                          device="cpu", **TILE)
    with pytest.raises(InputError, match="does not exist"):
        pansharpen_raster(pan_p, ms8_p, str(tmp_path / "bad.tif"), ckpt, bands=[2, 3, 5, 9],
                          device="cpu", **TILE)
    assert not (tmp_path / "bad.tif").exists()


# ---------------------------------------------------------------- cancel, errors


class _CancelAfter(NullFeedback):
    def __init__(self, n: int) -> None:
        self.n = n
        self.progress: list[float] = []
        self.messages: list[str] = []

    def set_progress(self, percent: float) -> None:
        self.progress.append(percent)

    def info(self, message: str) -> None:
        self.messages.append(message)

    def is_canceled(self) -> bool:
        self.n -= 1
        return self.n < 0


def test_progress_and_messages(tmp_path, pair, ckpt):
    pan_p, ms_p, *_ = pair
    fb = _CancelAfter(10_000)
    pansharpen_raster(pan_p, ms_p, str(tmp_path / "out.tif"), ckpt, device="cpu", feedback=fb,
                      **TILE)
    assert fb.progress == sorted(fb.progress) and fb.progress[-1] == pytest.approx(100.0)
    text = "\n".join(fb.messages)
    assert "CPU" in text and "band mapping: MS band 1 -> Blue" in text
    assert "input scaling" in text


@pytest.mark.parametrize("after", [0, 3, 6])
def test_cancel_leaves_no_file(tmp_path, pair, ckpt, after):
    pan_p, ms_p, *_ = pair
    out = tmp_path / "out.tif"
    with pytest.raises(Canceled):
        pansharpen_raster(pan_p, ms_p, str(out), ckpt, device="cpu", batch_size=1,
                          tile_size=64, overlap=16, feedback=_CancelAfter(after))
    assert not out.exists()
    _no_leftovers(tmp_path, {"pan.tif", "ms.tif"})


def test_non_integer_ratio_refused(tmp_path, pair, ckpt):
    pan_p, _, _, ms = pair
    gt = (GT_MS[0], 1.7, 0.0, GT_MS[3], 0.0, -1.7)
    ms_p = _tif(tmp_path / "ms17.tif", ms, gdal.GDT_UInt16, gt)
    out = tmp_path / "out.tif"
    with pytest.raises(AlignmentError, match="integer multiple"):
        pansharpen_raster(pan_p, ms_p, str(out), ckpt, device="cpu", **TILE)
    _no_leftovers(tmp_path, {"pan.tif", "ms.tif", "ms17.tif"})


def test_different_crs_refused(tmp_path, pair, ckpt):
    pan_p, _, _, ms = pair
    ms_p = _tif(tmp_path / "ms_utm34.tif", ms, gdal.GDT_UInt16, GT_MS, epsg=32634)
    out = tmp_path / "out.tif"
    with pytest.raises(AlignmentError, match="coordinate reference systems"):
        pansharpen_raster(pan_p, ms_p, str(out), ckpt, device="cpu", **TILE)
    _no_leftovers(tmp_path, {"pan.tif", "ms.tif", "ms_utm34.tif"})


def test_cuda_request_falls_back_with_warning(tmp_path, pair, ckpt, monkeypatch):
    pan_p, ms_p, *_ = pair
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    class Warn(NullFeedback):
        warnings: list[str] = []

        def warning(self, message: str) -> None:
            self.warnings.append(message)

    fb = Warn()
    res = pansharpen_raster(pan_p, ms_p, str(tmp_path / "out.tif"), ckpt, device="cuda",
                            feedback=fb, **TILE)
    assert res["DEVICE_USED"] == "cpu"
    assert any("CUDA was requested" in w for w in fb.warnings)
