"""Scene adaptation through the plugin: ADAPTED_MODEL round trip, SENSOR, and
``pantiny:evaluate_reduced`` with deep models (real wv3-shanghai crops, short runs)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from osgeo import gdal

from engine.weights.model_zoo import default_model_id
from pantiny_qgis.algorithms.evaluate_reduced import REDUCED_OUTPUTS

SHANGHAI = ("wv3-shanghai/PAN_AOI_4_Shanghai_img1920.tif",
            "wv3-shanghai/MUL_AOI_4_Shanghai_img1920.tif")


def _crop(shared_data, tmp_path, pan_px: int) -> tuple[str, str]:
    pan, ms = str(tmp_path / "pan.tif"), str(tmp_path / "ms.tif")
    gdal.Translate(pan, str(shared_data / SHANGHAI[0]), srcWin=[0, 0, pan_px, pan_px])
    gdal.Translate(ms, str(shared_data / SHANGHAI[1]), srcWin=[0, 0, pan_px // 4, pan_px // 4])
    return pan, ms


def _run(alg, params, feedback=None):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    return processing.run(f"pantiny:{alg}", params, context=QgsProcessingContext(),
                          feedback=feedback or QgsProcessingFeedback())


def test_adapted_model_round_trips_through_model_file(provider, shared_data, tmp_path):
    pan, ms = _crop(shared_data, tmp_path, 320)
    ckpt = str(tmp_path / "adapted.ckpt")
    first = _run("pansharpen", {"PAN": pan, "MS": ms, "SENSOR": "WorldView-3",
                                "ADAPT_STEPS": 2, "ADAPTED_MODEL": ckpt, "DEVICE": "cpu",
                                "OUTPUT": str(tmp_path / "a.tif")})
    assert first["ADAPTED_MODEL"] == ckpt
    recorded = json.loads(gdal.Open(first["OUTPUT"]).GetMetadataItem("PANTINY_ADAPTATION"))
    assert recorded["steps"] == 2 and recorded["guard_l1_before"] is not None
    # the spectral correction (default on) follows: the model is adapted through it and
    # the guard has no spectral test
    assert recorded["config"]["spectral_guard"] is False
    assert recorded["config"]["through_correction"] is True
    assert gdal.Open(first["OUTPUT"]).GetMetadataItem("PANTINY_SENSOR") == "wv3"
    second = _run("pansharpen", {"PAN": pan, "MS": ms, "MODEL_FILE": ckpt, "ADAPT_STEPS": 0,
                                 "SENSOR": "WorldView-3", "DEVICE": "cpu",
                                 "OUTPUT": str(tmp_path / "b.tif")})
    assert "ADAPTED_MODEL" not in second
    a, b = (gdal.Open(r["OUTPUT"]).ReadAsArray() for r in (first, second))
    np.testing.assert_array_equal(a, b)
    assert json.loads(gdal.Open(second["OUTPUT"]).GetMetadataItem(
        "PANTINY_ADAPTATION")) == {"steps": 0}


def test_sensor_defaults_to_generic_and_unseen_sensor_is_logged(provider, shared_data,
                                                                 tmp_path):
    from qgis.core import QgsProcessingFeedback

    class Log(QgsProcessingFeedback):
        lines: list[str] = []

        def pushInfo(self, info):  # noqa: N802
            self.lines.append(info)
            super().pushInfo(info)

        def pushWarning(self, warning):  # noqa: N802
            self.lines.append(warning)
            super().pushWarning(warning)

    pan, ms = _crop(shared_data, tmp_path, 128)
    log = Log()
    out = _run("pansharpen", {"PAN": pan, "MS": ms, "ADAPT_STEPS": 0, "DEVICE": "cpu",
                              "OUTPUT": str(tmp_path / "o.tif")}, log)["OUTPUT"]
    assert gdal.Open(out).GetMetadataItem("PANTINY_SENSOR") == "generic"
    assert any("generic MTF gains" in line for line in log.lines)
    assert any("unknown" in line and "ADAPT_STEPS" in line for line in log.lines)


def test_evaluate_reduced_with_a_deep_model_via_qgis_process(provider, shared_data, tmp_path,
                                                              run_qgis_process):
    pan, ms = _crop(shared_data, tmp_path, 768)
    done = run_qgis_process("--json", "run", "pantiny:evaluate_reduced", f"--PAN={pan}",
                            f"--MS={ms}", f"--METHOD={default_model_id()}",
                            "--SENSOR=WorldView-3", "--ADAPT_STEPS=2", "--DEVICE=cpu",
                            timeout=300)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert set(payload["results"]) >= set(REDUCED_OUTPUTS)
    log = " ".join(payload["log"]["info"])
    assert "2, 3, 5, 7" in log and "degraded pair only" in log
    # the correction is on by default, so the model is adapted through it
    assert "scene adaptation (reduced, through the spectral correction): 2 steps" in log
    adapted = payload["results"]
    plain = _run("evaluate_reduced", {"PAN": pan, "MS": ms, "METHOD": default_model_id(),
                                      "SENSOR": "WorldView-3", "DEVICE": "cpu"})
    exp = _run("evaluate_reduced", {"PAN": pan, "MS": ms, "METHOD": "EXP",
                                    "SENSOR": "WorldView-3"})
    for scores in (adapted, plain):
        assert 0.5 < scores["Q2N"] <= 1.0
        assert scores["Q2N"] > exp["Q2N"] + 0.05  # the model card: 0.95 vs 0.77 on WV3


def test_evaluate_reduced_model_file_option_needs_a_file(provider, shared_data, tmp_path):
    from qgis.core import QgsProcessingException

    pan, ms = _crop(shared_data, tmp_path, 128)
    with pytest.raises(QgsProcessingException, match="MODEL_FILE"):
        _run("evaluate_reduced", {"PAN": pan, "MS": ms, "METHOD": "Deep model from MODEL_FILE",
                                  "SENSOR": "WorldView-3"})


def test_cancel_during_adaptation_leaves_no_output(provider, shared_data, tmp_path):
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    class CancelDuringAdaptation(QgsProcessingFeedback):
        def setProgress(self, value):  # noqa: N802
            super().setProgress(value)
            if value > 5:  # adaptation reports 5-45 %
                self.cancel()

    pan, ms = _crop(shared_data, tmp_path, 320)
    out, ckpt = tmp_path / "canceled.tif", tmp_path / "canceled.ckpt"
    with pytest.raises(QgsProcessingException, match="cancel"):
        _run("pansharpen", {"PAN": pan, "MS": ms, "ADAPT_STEPS": 50, "DEVICE": "cpu",
                            "ADAPTED_MODEL": str(ckpt), "OUTPUT": str(out)},
             CancelDuringAdaptation())
    assert not out.exists() and not ckpt.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ms.tif", "pan.tif"]


def test_spectral_correction_keeps_the_ms_colours_on_an_unseen_sensor(provider, shared_data,
                                                                       tmp_path):
    """pantiny-bgrn-v2 never saw the 0.5 m / 2 m Zhengzhou sensor; its raw output drifts
    from the MS colours (Khan's D_lambda), which SPECTRAL_CORRECTION (on by default)
    brings back, and the output records what was done."""
    from engine.metrics.no_reference import d_lambda_k

    root = shared_data / "vhr-zhengzhou"
    pan, ms = str(tmp_path / "pan.tif"), str(tmp_path / "ms.tif")
    gdal.Translate(pan, str(root / "pan.tif"), srcWin=[0, 0, 512, 512])
    gdal.Translate(ms, str(root / "ms.tif"), srcWin=[0, 0, 128, 128], bandList=[3, 2, 1, 4])
    common = {"PAN": pan, "MS": ms, "MODEL": "pantiny-bgrn-v2", "ADAPT_STEPS": 0,
              "DEVICE": "cpu"}
    on = _run("pansharpen", {**common, "OUTPUT": str(tmp_path / "on.tif")})["OUTPUT"]
    off = _run("pansharpen", {**common, "SPECTRAL_CORRECTION": False,
                              "OUTPUT": str(tmp_path / "off.tif")})["OUTPUT"]
    assert gdal.Open(on).GetMetadataItem("PANTINY_SPECTRAL_CORRECTION").startswith(
        "F + (bms - LP(F)), MTF gains 0.3")
    assert gdal.Open(off).GetMetadataItem("PANTINY_SPECTRAL_CORRECTION") == "off"
    ms_a = gdal.Open(ms).ReadAsArray().astype(np.float64)
    scores = {}
    for name, path in (("on", on), ("off", off)):
        fused = gdal.Open(path).ReadAsArray().astype(np.float64)[:, :508, :508]
        scores[name] = d_lambda_k(fused, ms_a[:, :127, :127], 4, 0.3)
    assert scores["on"] < scores["off"] - 0.02, scores
