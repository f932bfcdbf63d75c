"""Outputs that look right in QGIS: true-colour bands, a default style, layer names."""

from __future__ import annotations

import pytest
from osgeo import gdal

DOS = ("wv3-dos-float/pan.tif", "wv3-dos-float/mul.tif")


def _run(alg, params, context=None):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    return processing.run(f"pantiny:{alg}", params, context=context or QgsProcessingContext(),
                          feedback=QgsProcessingFeedback())


def _colours(path):
    ds = gdal.Open(path)
    return [gdal.GetColorInterpretationName(ds.GetRasterBand(b + 1).GetColorInterpretation())
            for b in range(ds.RasterCount)]


def _renderer_bands(path):
    from qgis.core import QgsRasterLayer

    layer = QgsRasterLayer(path, "fused")
    assert layer.isValid()
    r = layer.renderer()
    return type(r).__name__, (r.redBand(), r.greenBand(), r.blueBand())


def test_classical_8_band_result_opens_in_true_colour(provider, shared_data, tmp_path):
    pan, ms = (str(shared_data / p) for p in DOS)
    out = str(tmp_path / "gsa.tif")
    _run("pansharpen_classical", {"PAN": pan, "MS": ms, "METHOD": "GSA",
                                  "SENSOR": "WorldView-3", "OUTPUT": out})
    # WorldView-3: Coastal, Blue, Green, Yellow, Red, RedEdge, NIR1, NIR2
    assert _colours(out) == ["Undefined", "Blue", "Green", "Undefined", "Red", "Undefined",
                             "Undefined", "Undefined"]
    ds = gdal.Open(out)
    assert ds.GetRasterBand(5).GetDescription() == "Red"
    ds = None
    assert _renderer_bands(out) == ("QgsMultiBandColorRenderer", (5, 3, 2))
    # the stretch comes from the data (2-98 %), not the data type's range
    from qgis.core import QgsRasterLayer
    layer = QgsRasterLayer(out, "x")  # kept alive: the renderer belongs to the layer
    ce = layer.renderer().redContrastEnhancement()
    ds = gdal.Open(out)
    red = ds.GetRasterBand(5).ReadAsArray()
    assert red.min() <= ce.minimumValue() < ce.maximumValue() <= red.max()


def test_deep_4_band_result_opens_in_true_colour_with_its_model_name(provider, shared_data,
                                                                    tmp_path):
    from qgis.core import QgsProcessingContext, QgsProject

    pan, ms = (str(shared_data / p) for p in DOS)
    out = str(tmp_path / "deep.tif")
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    context.addLayerToLoadOnCompletion(out, QgsProcessingContext.LayerDetails(
        "Pan-sharpened raster", QgsProject.instance(), "OUTPUT"))
    _run("pansharpen", {"PAN": pan, "MS": ms, "OUTPUT": out}, context)
    assert _colours(out) == ["Blue", "Green", "Red", "Undefined"]
    assert _renderer_bands(out) == ("QgsMultiBandColorRenderer", (3, 2, 1))
    details = context.layerToLoadOnCompletionDetails(out)
    from engine.weights.model_zoo import default_model_id
    assert details.name == f"PanTiny {default_model_id()}"
    assert details.postProcessor() is not None


def test_no_style_when_the_bands_have_no_colour_names(tmp_path):
    import numpy as np

    from engine.io.display import style_path, write_default_style
    from engine.io.raster_io import RasterWriter

    path = tmp_path / "plain.tif"
    with RasterWriter(path, 8, 8, 3, np.float32, band_descriptions=["a", "b", "c"]) as w:
        w.write(0, 0, np.ones((3, 8, 8), np.float32))
    assert write_default_style(path) is None
    assert not (tmp_path / "plain.qml").exists() and style_path(path).endswith("plain.qml")
    assert _colours(str(path))[1:] == ["Undefined", "Undefined"]


def test_4_band_deep_result_of_8_band_ms_is_scored_through_qgis_process(
        provider, shared_data, tmp_path, run_qgis_process):
    """The deep model writes PANTINY_MS_BANDS=2,3,5,7 into its output; evaluate_qnr reads
    it, so no band extraction and no BANDS are needed.  The quality map comes along."""
    import json

    from pantiny_qgis.algorithms.evaluate_qnr import QNR_OUTPUTS

    pan, ms = (str(shared_data / p) for p in DOS)
    fused = str(tmp_path / "deep.tif")
    done = run_qgis_process("--json", "run", "pantiny:pansharpen", f"--PAN={pan}",
                            f"--MS={ms}", "--DEVICE=cpu", f"--OUTPUT={fused}")
    assert done.returncode == 0, done.stderr
    ds = gdal.Open(fused)
    assert ds.RasterCount == 4 and ds.GetMetadataItem("PANTINY_MS_BANDS") == "2,3,5,7"
    ds = None
    qmap, report = str(tmp_path / "qmap.tif"), str(tmp_path / "deep.html")
    done = run_qgis_process("--json", "run", "pantiny:evaluate_qnr", f"--FUSED={fused}",
                            f"--PAN={pan}", f"--MS={ms}", "--SENSOR=WorldView-3",
                            f"--QUALITY_MAP={qmap}", f"--REPORT={report}")
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)["results"]
    assert set(results) == set(QNR_OUTPUTS) | {"REPORT", "QUALITY_MAP"}
    assert results["QUALITY_MAP"] == qmap and gdal.Open(qmap).RasterCount == 3
    for key in ("D_LAMBDA", "D_S", "D_RHO"):
        assert 0.0 <= results[key] < 0.5, (key, results[key])
    text = open(report).read()
    assert "Quality of PanTiny" in text and ">Blue</th>" in text and ">Coastal</th>" not in text
    # the same scores as with the bands given explicitly
    explicit = _run("evaluate_qnr", {"FUSED": fused, "PAN": pan, "MS": ms,
                                     "SENSOR": "WorldView-3", "BANDS": [2, 3, 5, 7]})
    assert explicit["QNR"] == pytest.approx(results["QNR"], rel=1e-9)
    # wrong bands change the score; a wrong count is refused with a clear message
    other = _run("evaluate_qnr", {"FUSED": fused, "PAN": pan, "MS": ms,
                                  "SENSOR": "WorldView-3", "BANDS": [1, 2, 3, 4]})
    assert other["D_LAMBDA_K"] != pytest.approx(results["D_LAMBDA_K"], rel=1e-3)
    from qgis.core import QgsProcessingException
    with pytest.raises(QgsProcessingException, match="BANDS lists 3 MS bands"):
        _run("evaluate_qnr", {"FUSED": fused, "PAN": pan, "MS": ms, "BANDS": [2, 3, 5]})


def test_processing_loads_the_result_named_and_in_true_colour(provider, shared_data, tmp_path):
    """The path of the Processing dialog: the result is loaded by handleAlgorithmResults,
    which names it from the algorithm and runs its post-processor (the style)."""
    from processing.gui.Postprocessing import handleAlgorithmResults
    from qgis.core import QgsApplication, QgsProcessingContext, QgsProject

    pan, ms = (str(shared_data / p) for p in DOS)
    out = str(tmp_path / "brovey.tif")
    project = QgsProject()
    context = QgsProcessingContext()
    context.setProject(project)
    context.addLayerToLoadOnCompletion(out, QgsProcessingContext.LayerDetails(
        "Pan-sharpened raster", project, "OUTPUT"))
    _run("pansharpen_classical", {"PAN": pan, "MS": ms, "METHOD": "Brovey",
                                  "SENSOR": "WorldView-3", "OUTPUT": out}, context)
    alg = QgsApplication.processingRegistry().algorithmById("pantiny:pansharpen_classical")
    handleAlgorithmResults(alg, context)
    layers = project.mapLayersByName("Brovey pan-sharpened")
    assert len(layers) == 1
    r = layers[0].renderer()
    assert (r.redBand(), r.greenBand(), r.blueBand()) == (5, 3, 2)


def test_evaluate_reduced_writes_its_quality_map(provider, shared_data, tmp_path):
    from pantiny_qgis.algorithms.evaluate_reduced import REDUCED_OUTPUTS

    pan, ms = (str(shared_data / p) for p in DOS)
    qmap = str(tmp_path / "rr_map.tif")
    result = _run("evaluate_reduced", {"PAN": pan, "MS": ms, "METHOD": "GSA",
                                       "SENSOR": "WorldView-3", "BLOCK_SIZE": 16,
                                       "QUALITY_MAP": qmap})
    assert set(result) == set(REDUCED_OUTPUTS) | {"QUALITY_MAP"} and result["QUALITY_MAP"] == qmap
    ds = gdal.Open(qmap)
    assert [ds.GetRasterBand(b + 1).GetDescription().split(",")[0] for b in range(3)] == [
        "local 1 - mean per-band Q (0 is best)", "local spectral angle", "local RMSE"]
    from qgis.core import QgsRasterLayer
    layer = QgsRasterLayer(qmap, "map")  # kept alive: the renderer belongs to the layer
    r = layer.renderer()  # its style: composite, 0 = black = best
    assert (r.redBand(), r.greenBand(), r.blueBand()) == (1, 2, 3)
    assert r.redContrastEnhancement().minimumValue() == 0.0
    # without QUALITY_MAP nothing extra is returned
    assert set(_run("evaluate_reduced", {"PAN": pan, "MS": ms, "METHOD": "GSA",
                                         "SENSOR": "WorldView-3"})) == set(REDUCED_OUTPUTS)
