"""engine.metrics.reduced_files (Wald pair as files, any method scored on it) and the
side-by-side picture of engine.report.previews, on a real scene (wv3-dos-float)."""

from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal

from engine.fusion.raster import pansharpen_classical_raster
from engine.metrics.reduced_files import score_against_reference, write_reduced_pair
from engine.report.previews import side_by_side


def test_reduced_pair_files_rank_methods_and_side_by_side(shared_data, tmp_path):
    pan = str(shared_data / "wv3-dos-float/pan.tif")
    ms = str(shared_data / "wv3-dos-float/mul.tif")
    paths = write_reduced_pair(pan, ms, "WorldView-3", str(tmp_path))
    p, m, ref = (gdal.Open(paths[k]) for k in ("pan_reduced", "ms_reduced", "reference"))
    assert (p.RasterXSize, p.RasterYSize) == (ref.RasterXSize, ref.RasterYSize)
    assert p.RasterXSize == 4 * m.RasterXSize and ref.RasterCount == m.RasterCount == 8
    assert p.GetGeoTransform()[1] == pytest.approx(4 * gdal.Open(pan).GetGeoTransform()[1])
    assert m.GetGeoTransform()[1] == pytest.approx(4 * p.GetGeoTransform()[1])
    scores = {}
    for method in ("exp", "mtf_glp_hpm"):
        out = str(tmp_path / f"{method}.tif")
        pansharpen_classical_raster(paths["pan_reduced"], paths["ms_reduced"], out,
                                    method=method, sensor="WorldView-3")
        scores[method] = score_against_reference(out, paths["reference"], 4)
    assert scores["mtf_glp_hpm"]["Q2N"] > scores["exp"]["Q2N"] + 0.02
    assert scores["mtf_glp_hpm"]["ERGAS"] < scores["exp"]["ERGAS"]
    img = side_by_side(paths["ms_reduced"], [str(tmp_path / "exp.tif"),
                                             str(tmp_path / "mtf_glp_hpm.tif")], crop=64)
    assert img.dtype == np.uint8 and img.shape == (64, 3 * 64 + 2 * 6, 3)
    assert (img[:, 64:70] == 255).all() and img[:, :64].std() > 5
