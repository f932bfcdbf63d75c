"""engine.metrics.quality_map and the QUALITY_MAP rasters of the evaluations, on a real
scene (wv3-dos-float: 580x575 PAN, 8-band float MS, nodata 0) with spoiled regions."""

from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal

from engine.filters import interp23tap
from engine.metrics import d_lambda, d_rho, d_s
from engine.metrics.quality_map import local_no_reference, local_reference


def test_band_means_of_the_local_terms_are_the_global_indices():
    rng = np.random.default_rng(0)
    ms = rng.random((4, 32, 32)) * 100 + 50
    pan = interp23tap(ms, 4).mean(0) + rng.random((128, 128)) * 10
    fused = interp23tap(ms, 4) + 0.5 * (pan - pan.mean())[None]
    local = local_no_reference(fused, pan, ms, 4, 32)
    assert {k: v.shape for k, v in local.maps.items()} == {k: (4, 4) for k in
                                                           ("D_LAMBDA", "D_S", "D_RHO")}
    assert np.mean(local.per_band["D_S"]) == pytest.approx(d_s(fused, pan, ms, 4, 32))
    assert np.mean(local.per_band["D_LAMBDA"]) == pytest.approx(d_lambda(fused, ms, 4, 32))
    assert np.mean(local.per_band["D_RHO"]) == pytest.approx(d_rho(fused, pan, 4))
    ref = local_reference(fused, fused, 32)
    np.testing.assert_allclose(ref.maps["Q_DEFICIT"], 0.0, atol=1e-12)
    np.testing.assert_allclose(ref.maps["SAM"], 0.0, atol=1e-5)
    assert ref.per_band["CC"] == pytest.approx([1.0] * 4)


@pytest.fixture(scope="module")
def spoiled(tmp_path_factory, shared_data):
    """MTF-GLP-HPM of wv3-dos-float, then a copy with two spoiled 128x128 regions:
    top-left bands in reverse order (spectral damage), bottom-right replaced by the
    blurred MS (no PAN detail)."""
    from engine.fusion.raster import pansharpen_classical_raster

    folder = tmp_path_factory.mktemp("qmap")
    pan = str(shared_data / "wv3-dos-float/pan.tif")
    ms = str(shared_data / "wv3-dos-float/mul.tif")
    good = str(folder / "hpm.tif")
    pansharpen_classical_raster(pan, ms, good, method="mtf_glp_hpm", sensor="WorldView-3")
    exp = str(folder / "exp.tif")
    pansharpen_classical_raster(pan, ms, exp, method="exp", sensor="WorldView-3")
    bad = str(folder / "spoiled.tif")
    gdal.GetDriverByName("GTiff").CreateCopy(bad, gdal.Open(good))
    ds, src = gdal.Open(bad, gdal.GA_Update), gdal.Open(exp)
    data = ds.ReadAsArray()
    data[:, 64:192, 64:192] = data[::-1, 64:192, 64:192]
    data[:, 384:512, 384:512] = src.ReadAsArray()[:, 384:512, 384:512]
    for b in range(ds.RasterCount):
        ds.GetRasterBand(b + 1).WriteArray(data[b])
    ds = src = None
    return pan, ms, bad


def test_qnr_quality_map_grid_bands_range_and_spoiled_regions(spoiled, tmp_path):
    from engine.metrics.evaluation import evaluate_qnr_files

    pan, ms, bad = spoiled
    out = str(tmp_path / "qmap.tif")
    evaluate_qnr_files(bad, pan, ms, "WorldView-3", block_size=32, quality_map_path=out)
    q, p = gdal.Open(out), gdal.Open(pan)
    # one pixel per 32x32 PAN block, on the PAN grid (the window starts at the MS footprint)
    gt, pgt = q.GetGeoTransform(), p.GetGeoTransform()
    assert gt[1] == pytest.approx(32 * pgt[1]) and gt[5] == pytest.approx(32 * pgt[5])
    assert (gt[0] - pgt[0]) / pgt[1] == pytest.approx(round((gt[0] - pgt[0]) / pgt[1]))
    assert (gt[3] - pgt[3]) / pgt[5] == pytest.approx(round((gt[3] - pgt[3]) / pgt[5]))
    assert (q.RasterXSize, q.RasterYSize) == (p.RasterXSize // 32, p.RasterYSize // 32)
    assert q.RasterCount == 3
    names = [q.GetRasterBand(b + 1).GetDescription() for b in range(3)]
    assert [n.split(" (")[0] for n in names] == [
        "local spectral distortion D_lambda", "local spatial distortion D_s",
        "local PAN-correlation distortion D_rho"]
    maps = q.ReadAsArray()
    ok = np.isfinite(maps)
    assert ok[0].mean() > 0.5 and ((maps[ok] >= 0) & (maps[ok] <= 2)).all()
    # blocks entirely inside the spoiled regions, in map pixels (offset of the window)
    oy, ox = round((gt[3] - pgt[3]) / pgt[5]), round((gt[0] - pgt[0]) / pgt[1])
    def region(y0, y1, x0, x1):
        sel = np.zeros(maps.shape[1:], bool)
        sel[-(-(y0 - oy) // 32):(y1 - oy) // 32, -(-(x0 - ox) // 32):(x1 - ox) // 32] = True
        return sel
    swapped, flat = region(64, 192, 64, 192), region(384, 512, 384, 512)
    assert swapped.sum() >= 4 and flat.sum() >= 4
    clean = ~swapped & ~flat & ok[0]
    dl, ds_, drho = maps
    assert np.nanmean(dl[swapped]) > 3 * np.nanmean(dl[clean])
    assert np.nanmean(drho[flat]) > 2 * np.nanmean(drho[clean])


def test_reduced_quality_map(shared_data, tmp_path):
    from engine.metrics.evaluation import evaluate_reduced_files

    pan = str(shared_data / "wv3-dos-float/pan.tif")
    ms = str(shared_data / "wv3-dos-float/mul.tif")
    out = str(tmp_path / "rr.tif")
    evaluate_reduced_files(pan, ms, "mtf_glp_hpm", "WorldView-3", block_size=16,
                           quality_map_path=out)
    q, m = gdal.Open(out), gdal.Open(ms)
    assert q.RasterCount == 3
    assert q.GetGeoTransform()[1] == pytest.approx(16 * m.GetGeoTransform()[1])
    maps = q.ReadAsArray()
    deficit, sam = maps[0][np.isfinite(maps[0])], maps[1][np.isfinite(maps[1])]
    assert deficit.size > 10 and (deficit >= 0).all() and np.median(deficit) < 0.7
    assert (sam >= 0).all() and np.median(sam) < 20
