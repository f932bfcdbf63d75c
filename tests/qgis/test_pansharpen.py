"""``pantiny:pansharpen`` as users run it: processing.run, qgis_process --json, a batch of
three real scenes, cancellation, nodata, BANDS and a QGIS without PyTorch."""

from __future__ import annotations

import json

import numpy as np
import pytest
from osgeo import gdal, osr

from engine.weights.model_zoo import bundled_models, default_model_id

REAL = {  # PAN, MS, expected output bands (the model's 4: B, G, R, NIR)
    "wv3-dos-float": ("wv3-dos-float/pan.tif", "wv3-dos-float/mul.tif"),
    "wv3-shanghai": ("wv3-shanghai/PAN_AOI_4_Shanghai_img1920.tif",
                     "wv3-shanghai/MUL_AOI_4_Shanghai_img1920.tif"),
    "wv2-sydney": ("wv2-sydney/WV2_PAN.img", "wv2-sydney/WV2_MS"),
}


@pytest.fixture(scope="session")
def fast_ckpt(tmp_path_factory) -> str:
    """A randomly initialised PNN checkpoint (B, G, R, NIR): about 4x faster than PanTiny on
    the CPU, for the tests that check plumbing (grids, bands, batches) rather than quality."""
    import torch

    from engine.weights.checkpoint import save_checkpoint
    from engine.models import build_model
    from engine.inference.scaling import PERCENTILE99

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "pnn-random.ckpt"
    save_checkpoint(path, build_model("pnn", bands=4),
                    {"bands": {"count": 4, "names": ["Blue", "Green", "Red", "NIR"]},
                     "ratio": 4, "input_scaling": PERCENTILE99.recipe()})
    return str(path)


def _run(params, feedback=None):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    return processing.run("pantiny:pansharpen", params, context=QgsProcessingContext(),
                          feedback=feedback or QgsProcessingFeedback())


def _check_on_pan_grid(out: str, pan: str, ms: str, bands: int = 4) -> np.ndarray:
    fused, p, m = gdal.Open(out), gdal.Open(pan), gdal.Open(ms)
    assert (fused.RasterXSize, fused.RasterYSize) == (p.RasterXSize, p.RasterYSize)
    assert fused.GetGeoTransform() == p.GetGeoTransform()
    a, b = osr.SpatialReference(), osr.SpatialReference()
    a.ImportFromWkt(fused.GetProjection())
    b.ImportFromWkt(p.GetProjection())
    assert a.IsSame(b)
    assert fused.RasterCount == bands
    assert fused.GetRasterBand(1).DataType == m.GetRasterBand(1).DataType
    return fused.ReadAsArray()


def test_a_default_model_is_bundled_with_its_card():
    models = bundled_models()
    defaults = [m for m in models if m.default]
    assert len(defaults) == 1 and default_model_id() == defaults[0].id
    from engine.weights.model_zoo import MODELS_DIR, model_path
    import hashlib, os
    for m in models:  # every bundled model (ids are public API: older ones stay)
        path = model_path(m.id)
        assert hashlib.sha256(open(path, "rb").read()).hexdigest() == m.sha256
        assert os.path.isfile(os.path.join(MODELS_DIR, m.card))


def test_precision_parameter_falls_back_to_fp32_on_the_cpu(provider, shared_data, tmp_path,
                                                          fast_ckpt):
    pan, ms = (str(shared_data / p) for p in REAL["wv3-dos-float"])
    common = {"PAN": pan, "MS": ms, "MODEL_FILE": fast_ckpt, "DEVICE": "cpu", "ADAPT_STEPS": 0}
    a = _run({**common, "OUTPUT": str(tmp_path / "fp32.tif")})["OUTPUT"]
    b = _run({**common, "PRECISION": "bf16", "OUTPUT": str(tmp_path / "bf16.tif")})["OUTPUT"]
    np.testing.assert_array_equal(gdal.Open(a).ReadAsArray(), gdal.Open(b).ReadAsArray())
    md = gdal.Open(b).GetMetadata()
    assert md["PANTINY_PRECISION"] == "fp32"  # what really ran is recorded


def test_processing_run_with_the_default_model(provider, shared_data, tmp_path):
    pan, ms = (str(shared_data / p) for p in REAL["wv3-dos-float"])
    out = str(tmp_path / "fused.tif")
    result = _run({"PAN": pan, "MS": ms, "OUTPUT": out})
    assert result == {"OUTPUT": out, "DEVICE_USED": "cpu"}
    data = _check_on_pan_grid(out, pan, ms)
    assert np.isfinite(data).all() and data.std() > 0


def test_qgis_process_json_on_every_real_scene(provider, shared_data, tmp_path,
                                               run_qgis_process, fast_ckpt):
    for name, (pan, ms) in REAL.items():
        pan, ms = str(shared_data / pan), str(shared_data / ms)
        out = str(tmp_path / f"{name}.tif")
        done = run_qgis_process("--json", "run", "pantiny:pansharpen", f"--PAN={pan}",
                                f"--MS={ms}", "--DEVICE=cpu", f"--MODEL_FILE={fast_ckpt}",
                                f"--OUTPUT={out}")
        assert done.returncode == 0, (name, done.stderr)
        payload = json.loads(done.stdout)
        assert payload["results"] == {"OUTPUT": out, "DEVICE_USED": "cpu"}
        assert any("cpu" in line.lower() for line in payload["log"]["info"])
        _check_on_pan_grid(out, pan, ms)


def test_ms_already_on_the_pan_grid_is_refused_clearly(provider, shared_data, tmp_path):
    from qgis.core import QgsProcessingException

    out = tmp_path / "qb.tif"
    with pytest.raises(QgsProcessingException, match="same pixel size as the PAN"):
        _run({"PAN": str(shared_data / "qb-toulouse/QB_Toulouse_Ortho_PAN.tif"),
              "MS": str(shared_data / "qb-toulouse/QB_Toulouse_Ortho_XS.tif"),
              "OUTPUT": str(out)})
    assert not out.exists()


def test_batch_of_three_scenes(provider, shared_data, tmp_path, fast_ckpt):
    """What the batch dialog does: one run per row, a fresh algorithm instance each."""
    from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingFeedback

    alg = QgsApplication.processingRegistry().algorithmById("pantiny:pansharpen")
    rows = [{"PAN": str(shared_data / p), "MS": str(shared_data / m), "MODEL_FILE": fast_ckpt,
             "ADAPT_STEPS": 0, "OUTPUT": str(tmp_path / f"row{i}.tif")}
            for i, (p, m) in enumerate(REAL.values())]
    for row in rows:
        instance = alg.create()
        context, feedback = QgsProcessingContext(), QgsProcessingFeedback()
        ok, message = instance.checkParameterValues(row, context)
        assert ok, message
        results, ok = instance.run(row, context, feedback)
        assert ok and results["OUTPUT"] == row["OUTPUT"]
        _check_on_pan_grid(row["OUTPUT"], row["PAN"], row["MS"])


def test_cancel_leaves_no_output(provider, shared_data, tmp_path):
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    class CancelAtFirstProgress(QgsProcessingFeedback):
        def setProgress(self, value):  # noqa: N802
            super().setProgress(value)
            if value > 0:
                self.cancel()

    pan, ms = (str(shared_data / p) for p in REAL["wv3-shanghai"])
    out = tmp_path / "canceled.tif"
    with pytest.raises(QgsProcessingException, match="cancel"):
        _run({"PAN": pan, "MS": ms, "TILE_SIZE": 128, "OVERLAP": 32, "OUTPUT": str(out)},
             CancelAtFirstProgress())
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_bands_choice(provider, shared_data, tmp_path, fast_ckpt):
    pan, ms = (str(shared_data / p) for p in REAL["wv3-dos-float"])
    common = {"PAN": pan, "MS": ms, "MODEL_FILE": fast_ckpt, "ADAPT_STEPS": 0}
    auto = _run({**common, "OUTPUT": str(tmp_path / "auto.tif")})["OUTPUT"]
    explicit = _run({**common, "BANDS": [2, 3, 5, 7],
                     "OUTPUT": str(tmp_path / "2357.tif")})["OUTPUT"]
    other = _run({**common, "BANDS": [1, 2, 3, 4],
                  "OUTPUT": str(tmp_path / "1234.tif")})["OUTPUT"]
    a, e, o = (gdal.Open(p).ReadAsArray() for p in (auto, explicit, other))
    np.testing.assert_array_equal(a, e)
    assert not np.allclose(a, o)
    from qgis.core import QgsProcessingException
    with pytest.raises(QgsProcessingException, match="expects 4"):
        _run({**common, "BANDS": [2, 3, 5], "OUTPUT": str(tmp_path / "x.tif")})


def _write(path, array, gt, nodata):
    ds = gdal.GetDriverByName("GTiff").Create(str(path), array.shape[2], array.shape[1],
                                              array.shape[0], gdal.GDT_Int16)
    ds.SetGeoTransform(gt)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    ds.SetProjection(srs.ExportToWkt())
    for b in range(array.shape[0]):
        band = ds.GetRasterBand(b + 1)
        band.SetNoDataValue(nodata)
        band.WriteArray(array[b])
    ds = None
    return str(path)


def test_nodata_stays_nodata_with_signed_data(provider, tmp_path, fast_ckpt):
    rng = np.random.default_rng(0)
    ms = (300 + 500 * rng.random((4, 40, 40))).astype(np.int16)
    pan = np.kron(ms.mean(0), np.ones((4, 4))).astype(np.int16)[None]
    pan[0, :16, :16] = -9999
    ms[:, 30:34, 30:34] = -9999
    pan_p = _write(tmp_path / "pan.tif", pan, (500000, 1, 0, 4e6, 0, -1), -9999)
    ms_p = _write(tmp_path / "ms.tif", ms, (500000, 4, 0, 4e6, 0, -4), -9999)
    out = _run({"PAN": pan_p, "MS": ms_p, "MODEL_FILE": fast_ckpt,
                "OUTPUT": str(tmp_path / "o.tif")})["OUTPUT"]
    ds = gdal.Open(out)
    data = ds.ReadAsArray()
    assert ds.GetRasterBand(1).GetNoDataValue() == -9999
    assert np.all(data[:, :16, :16] == -9999)
    assert np.all(data[:, 120:136, 120:136] == -9999)
    assert np.all(data[:, 40:100, 40:100] != -9999)


def test_without_torch_the_algorithm_explains_what_to_install(provider, shared_data, tmp_path,
                                                              monkeypatch):
    from qgis.core import QgsApplication, QgsProcessingException

    from pantiny_qgis.algorithms import pansharpen

    monkeypatch.setattr(pansharpen, "missing_dependencies", lambda: ["torch"])
    alg = QgsApplication.processingRegistry().algorithmById("pantiny:pansharpen").create()
    ok, message = alg.canExecute()
    assert not ok and "PyTorch" in message
    pan, ms = (str(shared_data / p) for p in REAL["wv3-dos-float"])
    out = tmp_path / "never.tif"
    with pytest.raises(QgsProcessingException, match="PyTorch"):
        _run({"PAN": pan, "MS": ms, "OUTPUT": str(out)})
    assert not out.exists()
