"""engine.io.raster_io: metadata, windowed reads (halo, nodata), safe block writes.

Synthetic rasters are made with plain GDAL calls (independent of the writer under test)
in tmp_path; the real scenes are read from ../shared/data (never written to).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, osr

from engine.errors import InputError, RasterIOError
from engine.io.grid import align_grids
from engine.io.raster_io import (
    RasterReader,
    RasterWriter,
    default_creation_options,
    driver_for_path,
    grid_info,
    open_raster,
    parse_creation_options,
    read_raster,
    read_window,
    same_crs,
)

REPO = Path(__file__).resolve().parents[2]


def _data_dir() -> Path:
    env = os.environ.get("PANTINY_DATA")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared" / "data", Path("/work/shared/data")]
    for cand in candidates:
        if cand.is_dir():
            return cand
    return candidates[0]


DATA = _data_dir()
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"real scenes not found at {DATA}")

UTM33_GT_PAN = (500000.0, 0.5, 0.0, 5000000.0, 0.0, -0.5)
UTM33_GT_MS = (500000.0, 2.0, 0.0, 5000000.0, 0.0, -2.0)


def _srs_wkt(epsg: int) -> str:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    return srs.ExportToWkt()


def _make_tif(path: Path, data: np.ndarray, gdt: int, gt=None, epsg=None, nodata=None,
              descriptions=None) -> Path:
    """Plain GDAL GeoTIFF writer for fixtures (not the code under test)."""
    bands, h, w = data.shape
    ds = gdal.GetDriverByName("GTiff").Create(str(path), w, h, bands, gdt)
    assert ds is not None
    if gt is not None:
        ds.SetGeoTransform(gt)
    if epsg is not None:
        ds.SetProjection(_srs_wkt(epsg))
    for i in range(bands):
        band = ds.GetRasterBand(i + 1)
        if nodata is not None:
            band.SetNoDataValue(nodata)
        if descriptions:
            band.SetDescription(descriptions[i])
        band.WriteArray(data[i])
    ds = None
    return path


@pytest.fixture
def pan_tif(tmp_path) -> tuple[Path, np.ndarray]:
    """64x48 uint16 PAN in EPSG:32633, no nodata; value = 100*row + col."""
    rows, cols = np.mgrid[0:48, 0:64]
    data = (100 * rows + cols).astype(np.uint16)[None]
    return _make_tif(tmp_path / "pan.tif", data, gdal.GDT_UInt16, UTM33_GT_PAN, 32633,
                     descriptions=["PAN"]), data


@pytest.fixture
def ms_tif(tmp_path) -> tuple[Path, np.ndarray]:
    """16x12 4-band float32 MS in EPSG:32633, nodata -9999 on a 3x2 patch of every band."""
    rows, cols = np.mgrid[0:12, 0:16]
    data = np.stack([(b + 1) * 1000.0 + 10 * rows + cols for b in range(4)]).astype(np.float32)
    data[:, 4:6, 7:10] = -9999.0
    return _make_tif(tmp_path / "ms.tif", data, gdal.GDT_Float32, UTM33_GT_MS, 32633,
                     nodata=-9999.0, descriptions=["B", "G", "R", "NIR"]), data


# ----------------------------------------------------------------------------- metadata


def test_open_raster_synthetic_metadata(pan_tif, ms_tif):
    pan = open_raster(pan_tif[0], "PAN")
    assert (pan.width, pan.height, pan.band_count) == (64, 48, 1)
    assert pan.dtype == np.uint16 and pan.nodata == (None,)
    assert pan.geotransform == UTM33_GT_PAN
    assert pan.band_descriptions == ("PAN",)
    assert same_crs(pan.crs_wkt, "EPSG:32633")
    ms = open_raster(ms_tif[0], "MS")
    assert ms.shape == (4, 12, 16) and ms.dtype == np.float32
    assert ms.nodata == (-9999.0,) * 4
    assert ms.band_descriptions == ("B", "G", "R", "NIR")
    alignment = align_grids(grid_info(pan), grid_info(ms))
    assert (alignment.ratio, alignment.offset_x, alignment.offset_y) == (4, 0.0, 0.0)


def test_default_geotransform_means_not_georeferenced(tmp_path):
    path = _make_tif(tmp_path / "plain.tif", np.zeros((1, 4, 5), np.uint8), gdal.GDT_Byte)
    info = open_raster(path)
    assert info.geotransform is None and info.crs_wkt is None and not info.georeferenced
    assert grid_info(info).geotransform is None


def test_missing_and_unreadable_files_name_the_input(tmp_path):
    missing = tmp_path / "nope.tif"
    with pytest.raises(RasterIOError) as err:
        open_raster(missing, "PAN")
    assert str(err.value).startswith(f"cannot open the PAN raster {missing}: ")
    text = tmp_path / "notes.txt"
    text.write_text("not a raster\n")
    with pytest.raises(RasterIOError, match=r"cannot open the MS raster .*notes\.txt: \S"):
        RasterReader(text, "MS")
    assert isinstance(err.value, OSError)  # RasterIOError is an OSError too


def test_gdal_exceptions_stay_off(tmp_path):
    before = gdal.GetUseExceptions()
    with pytest.raises(RasterIOError):
        open_raster(tmp_path / "missing.tif")
    assert gdal.GetUseExceptions() == before == 0


def test_works_when_someone_else_enabled_gdal_exceptions(tmp_path, pan_tif):
    gdal.UseExceptions()
    try:
        with pytest.raises(RasterIOError, match="cannot open the PAN raster"):
            open_raster(tmp_path / "missing.tif", "PAN")
        np.testing.assert_array_equal(read_window(pan_tif[0], 0, 0, 2, 1)[0, 0], [0, 1])
        with RasterWriter(tmp_path / "w.tif", 2, 2, 1, np.uint8, nodata=0) as writer:
            writer.write(0, 0, np.full((2, 2), 3.0))
        with pytest.raises(InputError):
            RasterWriter(tmp_path / "x.tif", 2, 2, 1, np.uint8, creation_options="FOO=1")
        with pytest.raises(InputError, match="cannot interpret"):
            same_crs("not a crs", "EPSG:4326")
        with pytest.raises(InputError, match="cannot interpret"):
            RasterWriter(tmp_path / "y.tif", 2, 2, 1, np.uint8, crs_wkt="not a crs")
    finally:
        gdal.DontUseExceptions()
    assert (read_raster(tmp_path / "w.tif") == 3).all()


def test_same_crs():
    assert same_crs(None, None) and same_crs("", None)
    assert not same_crs(None, "EPSG:32633")
    assert same_crs(_srs_wkt(32633), "EPSG:32633")
    assert not same_crs("EPSG:32633", "EPSG:32634")
    # axis order (EPSG:4326 is lat/lon officially) does not matter
    assert same_crs("EPSG:4326", "+proj=longlat +datum=WGS84 +no_defs")
    with pytest.raises(InputError):
        same_crs("not a crs at all", "EPSG:4326")


# ----------------------------------------------------------------------------- reading


def test_read_window_inside_matches_file(pan_tif):
    path, data = pan_tif
    block = read_window(path, 10, 5, 7, 3)
    assert block.shape == (1, 3, 7) and block.dtype == np.float64
    np.testing.assert_array_equal(block[0], data[0, 5:8, 10:17])
    assert block[0, 0, 0] == 510.0  # 100*row + col


def test_read_window_outside_is_nan(pan_tif):
    path, data = pan_tif
    with RasterReader(path, "PAN") as reader:
        halo = reader.read(-2, -3, 6, 5)  # 2 columns left, 3 rows above the raster
        assert np.isnan(halo[:, :3, :]).all() and np.isnan(halo[:, :, :2]).all()
        np.testing.assert_array_equal(halo[0, 3:, 2:], data[0, 0:2, 0:4])
        right = reader.read(60, 46, 8, 4)  # beyond the bottom-right corner
        np.testing.assert_array_equal(right[0, :2, :4], data[0, 46:48, 60:64])
        assert np.isnan(right[0, 2:, :]).all() and np.isnan(right[0, :, 4:]).all()
        away = reader.read(500, 500, 3, 3)
        assert np.isnan(away).all()
        values, valid = reader.read_with_mask(-1, 0, 3, 1)
        assert values.dtype == np.uint16
        np.testing.assert_array_equal(values[0, 0], [0, 0, 1])
        np.testing.assert_array_equal(valid[0, 0], [False, True, True])


def test_nodata_becomes_nan_and_band_selection(ms_tif):
    path, data = ms_tif
    with RasterReader(path, "MS") as reader:
        full = reader.read_all()
        assert np.isnan(full[:, 4:6, 7:10]).all()
        assert np.isnan(full).sum() == 4 * 6
        good = ~np.isnan(full)
        np.testing.assert_array_equal(full[good], data.astype(np.float64)[good])
        picked = reader.read(0, 0, 16, 12, bands=[4, 1], out_dtype=np.float32)
        assert picked.dtype == np.float32
        np.testing.assert_array_equal(picked[0, 0, :3], [4000, 4001, 4002])
        np.testing.assert_array_equal(picked[1, 0, :3], [1000, 1001, 1002])
        raw, valid = reader.read_with_mask(6, 4, 3, 1, bands=[2])
        np.testing.assert_array_equal(raw[0, 0], [2046, -9999, -9999])
        np.testing.assert_array_equal(valid[0, 0], [True, False, False])
        with pytest.raises(InputError, match="band 5 does not exist"):
            reader.read(0, 0, 2, 2, bands=[5])
        with pytest.raises(InputError, match="read_with_mask"):
            reader.read(0, 0, 2, 2, out_dtype=np.uint16)
        with pytest.raises(InputError):
            reader.read(0, 0, 0, 2)


def test_nan_and_dataset_mask_are_invalid(tmp_path):
    data = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    data[0, 1, 1] = np.nan  # float raster without a nodata value
    path = _make_tif(tmp_path / "nan.tif", data, gdal.GDT_Float32)
    got = read_raster(path)
    assert np.isnan(got[0, 1, 1]) and np.isnan(got).sum() == 1
    # internal per-dataset mask (as written by gdal_translate -mask / QGIS exports)
    ds = gdal.GetDriverByName("GTiff").Create(str(tmp_path / "mask.tif"), 4, 3, 2, gdal.GDT_Byte)
    for b in (1, 2):
        ds.GetRasterBand(b).WriteArray(np.full((3, 4), 7 * b, np.uint8))
    assert ds.CreateMaskBand(gdal.GMF_PER_DATASET) == 0
    mask = np.full((3, 4), 255, np.uint8)
    mask[2, :2] = 0
    ds.GetRasterBand(1).GetMaskBand().WriteArray(mask)
    ds = None
    got = read_raster(tmp_path / "mask.tif")
    assert np.isnan(got[:, 2, :2]).all() and np.isnan(got).sum() == 4
    assert (got[1][~np.isnan(got[1])] == 14).all()


# ----------------------------------------------------------------------------- real scenes


@needs_data
def test_real_wv3_dos_float_pair():
    pan = open_raster(DATA / "wv3-dos-float" / "pan.tif", "PAN")
    ms = open_raster(DATA / "wv3-dos-float" / "mul.tif", "MS")
    assert (pan.width, pan.height, pan.band_count) == (580, 575, 1)
    assert (ms.width, ms.height, ms.band_count) == (144, 143, 8)
    assert pan.dtype == ms.dtype == np.float32
    assert pan.nodata == (0.0,) and ms.nodata == (0.0,) * 8
    assert pan.geotransform[1] == pytest.approx(0.3) and ms.geotransform[1] == pytest.approx(1.2)
    assert same_crs(pan.crs_wkt, ms.crs_wkt) and same_crs(pan.crs_wkt, "EPSG:32642")
    alignment = align_grids(grid_info(pan), grid_info(ms))
    assert alignment.ratio == 4
    assert alignment.offset_x == pytest.approx(2.0, abs=1e-6)  # (400430.4 - 400429.8) / 0.3
    assert alignment.offset_y == pytest.approx(1.0, abs=1e-6)  # (4217661.6 - 4217661.9) / -0.3
    # windowed reads equal GDAL's own whole-band reads (nodata 0 -> NaN)
    ds = gdal.Open(str(DATA / "wv3-dos-float" / "mul.tif"))
    ref = ds.GetRasterBand(3).ReadAsArray(100, 120, 44, 23).astype(np.float64)
    ds = None
    ref[ref == 0] = np.nan
    got = read_window(DATA / "wv3-dos-float" / "mul.tif", 100, 120, 50, 30, bands=[3])
    np.testing.assert_array_equal(got[0, :23, :44], ref)
    assert np.isnan(got[0, 23:, :]).all() and np.isnan(got[0, :, 44:]).all()


@needs_data
def test_real_wv2_sydney_envi_ms_without_map_info():
    pan = open_raster(DATA / "wv2-sydney" / "WV2_PAN.img", "PAN")
    ms = open_raster(DATA / "wv2-sydney" / "WV2_MS", "MS")
    assert (pan.width, pan.height, pan.band_count, pan.dtype) == (1600, 1600, 1, np.uint8)
    assert pan.geotransform is not None and pan.geotransform[1] == 0.5
    assert same_crs(pan.crs_wkt, "EPSG:32756")
    assert (ms.width, ms.height, ms.band_count, ms.dtype) == (400, 400, 4, np.uint8)
    assert ms.geotransform is None and ms.crs_wkt is None
    assert align_grids(grid_info(pan), grid_info(ms)).ratio == 4
    with RasterReader(DATA / "wv2-sydney" / "WV2_MS", "MS") as reader:
        block = reader.read(390, 390, 20, 20)
    assert block.shape == (4, 20, 20)
    assert np.isnan(block[:, 10:, :]).all()
    inside = block[:, :10, :10]
    assert not np.isnan(inside).any() and inside.min() >= 0 and inside.max() <= 255


@needs_data
def test_real_qb_toulouse_gcps_only():
    xs = open_raster(DATA / "qb-toulouse" / "QB_Toulouse_Ortho_XS.tif", "MS")
    assert (xs.width, xs.height, xs.band_count, xs.dtype) == (500, 500, 4, np.uint32)
    assert xs.geotransform is None and xs.crs_wkt is None and xs.gcp_count > 0
    block = read_window(DATA / "qb-toulouse" / "QB_Toulouse_Ortho_PAN.tif", 0, 0, 64, 64,
                        name="PAN")
    assert block.shape == (1, 64, 64) and 0 <= np.nanmin(block) and np.nanmax(block) <= 2047


@needs_data
def test_real_wv3_shanghai_geographic():
    pan = open_raster(DATA / "wv3-shanghai" / "PAN_AOI_4_Shanghai_img1920.tif", "PAN")
    ms = open_raster(DATA / "wv3-shanghai" / "MUL_AOI_4_Shanghai_img1920.tif", "MS")
    assert (pan.width, pan.height) == (1300, 1300) and ms.shape == (8, 325, 325)
    assert pan.dtype == ms.dtype == np.uint16
    assert same_crs(pan.crs_wkt, "EPSG:4326") and same_crs(pan.crs_wkt, ms.crs_wkt)
    alignment = align_grids(grid_info(pan), grid_info(ms))
    assert (alignment.ratio, alignment.offset_x, alignment.offset_y) == (4, 0.0, 0.0)
    block = read_window(DATA / "wv3-shanghai" / "MUL_AOI_4_Shanghai_img1920.tif",
                        200, 200, 32, 32, bands=[2, 3, 5, 7])
    assert block.shape == (4, 32, 32) and np.nanmax(block) <= 2047 and np.nanmin(block) >= 0


# ----------------------------------------------------------------------------- writing


def test_writer_round_trip_with_georeferencing(tmp_path):
    out = tmp_path / "fused.tif"
    rng = np.random.default_rng(0)
    data = rng.normal(500.0, 100.0, (3, 40, 50)).astype(np.float64)
    data[1, 10:12, 20:25] = np.nan
    with RasterWriter(out, 50, 40, 3, np.float32, UTM33_GT_PAN, _srs_wkt(32633), nodata=-9999,
                      band_descriptions=["B", "G", "R"],
                      metadata={"pantiny_version": "0.1.0", "ratio": 4}) as writer:
        assert not out.exists()  # nothing visible before close
        writer.write(0, 0, data[:, :25, :])
        writer.write(0, 25, data[:, 25:, :])
    assert writer.state == "closed"
    assert sorted(os.listdir(tmp_path)) == ["fused.tif"]
    info = open_raster(out)
    assert info.shape == (3, 40, 50) and info.dtype == np.float32
    assert info.geotransform == UTM33_GT_PAN and same_crs(info.crs_wkt, "EPSG:32633")
    assert info.nodata == (-9999.0,) * 3 and info.band_descriptions == ("B", "G", "R")
    back = read_raster(out)
    np.testing.assert_array_equal(np.isnan(back), np.isnan(data))
    np.testing.assert_allclose(back[~np.isnan(back)], data[~np.isnan(data)], rtol=1e-6)
    ds = gdal.Open(str(out))
    assert ds.GetMetadataItem("pantiny_version") == "0.1.0" and ds.GetMetadataItem("ratio") == "4"
    structure = ds.GetMetadata("IMAGE_STRUCTURE")
    assert structure["COMPRESSION"] == "DEFLATE" and structure["PREDICTOR"] == "3"
    assert ds.GetRasterBand(1).GetBlockSize() == [256, 256]  # tiled
    ds = None


def test_writer_integer_rounding_clipping_and_reserved_nodata(tmp_path):
    out = tmp_path / "u16.tif"
    block = np.array([[[np.nan, 0.2, -5.0, 1e9, 12.5, 13.5, 7.49, 65534.6]]])
    with RasterWriter(out, 8, 1, 1, np.uint16, nodata=0) as writer:
        writer.write(0, 0, block)
    with RasterReader(out) as reader:
        values, valid = reader.read_with_mask(0, 0, 8, 1)
    # NaN -> nodata 0; 0.2 and -5 would become 0 (reserved) -> 1; clip to 65535; rint half-even
    np.testing.assert_array_equal(values[0, 0], [0, 1, 1, 65535, 12, 14, 7, 65535])
    np.testing.assert_array_equal(valid[0, 0], [False] + [True] * 7)
    # nodata in the middle of the range: moved away on the side of the original value
    out2 = tmp_path / "u8.tif"
    with RasterWriter(out2, 4, 1, 1, np.uint8, nodata=100) as writer:
        writer.write(0, 0, np.array([[99.6, 100.2, 300.0, np.nan]]),
                     nodata_mask=np.array([[False, False, False, False]]))
    values, _ = RasterReader(out2).read_with_mask(0, 0, 4, 1)
    np.testing.assert_array_equal(values[0, 0], [99, 101, 255, 100])
    # int16 with nodata at the minimum; explicit nodata mask
    out3 = tmp_path / "i16.tif"
    with RasterWriter(out3, 3, 1, 1, np.int16, nodata=-32768) as writer:
        writer.write(0, 0, np.array([[-40000.0, 5.0, 6.0]]),
                     nodata_mask=np.array([[False, False, True]]))
    values, _ = RasterReader(out3).read_with_mask(0, 0, 3, 1)
    np.testing.assert_array_equal(values[0, 0], [-32767, 5, -32768])


def test_writer_float_nodata_is_reserved(tmp_path):
    out = tmp_path / "f.tif"
    with RasterWriter(out, 3, 1, 1, np.float32, nodata=0.0) as writer:
        writer.write(0, 0, np.array([[0.0, np.nan, 2.5]]))
    got = read_raster(out)[0, 0]
    assert got[0] > 0 and got[0] < 1e-30  # a valid 0 is nudged off the nodata value
    assert np.isnan(got[1]) and got[2] == 2.5


def test_abort_and_exception_leave_no_file(tmp_path):
    out = tmp_path / "never.tif"
    writer = RasterWriter(out, 10, 10, 1, np.uint8)
    writer.write(0, 0, np.ones((1, 10, 10)))
    assert len(os.listdir(tmp_path)) == 1  # the hidden temporary file
    writer.abort()
    assert writer.state == "aborted" and os.listdir(tmp_path) == []
    with pytest.raises(RasterIOError, match="aborted"):
        writer.close()
    with pytest.raises(RuntimeError, match="boom"):
        with RasterWriter(out, 10, 10, 1, np.uint8) as writer2:
            writer2.write(0, 0, np.ones((10, 10)))
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []
    writer3 = RasterWriter(out, 10, 10, 1, np.uint8)
    del writer3  # garbage-collected before close
    assert os.listdir(tmp_path) == []


def test_overwrite_replaces_file_and_stale_sidecar(tmp_path):
    out = tmp_path / "o.tif"
    for value in (1, 2):
        with RasterWriter(out, 4, 4, 1, np.uint8) as writer:
            writer.write(0, 0, np.full((4, 4), value))
        if value == 1:
            (tmp_path / "o.tif.aux.xml").write_text("<PAMDataset><Metadata><MDI key='old'>1"
                                                    "</MDI></Metadata></PAMDataset>")
    assert sorted(os.listdir(tmp_path)) == ["o.tif"]
    assert (read_raster(out) == 2).all()
    assert gdal.Open(str(out)).GetMetadataItem("old") is None


def test_writer_rejects_bad_blocks_and_arguments(tmp_path):
    with RasterWriter(tmp_path / "a.tif", 8, 6, 2, np.float32) as writer:
        with pytest.raises(InputError, match="does not fit"):
            writer.write(4, 0, np.zeros((2, 6, 5)))
        with pytest.raises(InputError, match="does not fit"):
            writer.write(-1, 0, np.zeros((2, 2, 2)))
        with pytest.raises(InputError, match=r"shape \(2, h, w\)"):
            writer.write(0, 0, np.zeros((3, 2, 2)))
        writer.write(0, 0, np.zeros((2, 6, 8)))
    with pytest.raises(InputError, match="cannot be stored in uint8"):
        RasterWriter(tmp_path / "b.tif", 2, 2, 1, np.uint8, nodata=-1)
    with pytest.raises(InputError, match="cannot be stored"):
        RasterWriter(tmp_path / "c.tif", 2, 2, 1, np.complex64)
    with pytest.raises(RasterIOError, match="does not exist"):
        RasterWriter(tmp_path / "missing" / "d.tif", 2, 2, 1, np.uint8)
    with pytest.raises(InputError, match="VRT"):
        RasterWriter(tmp_path / "e.vrt", 2, 2, 1, np.uint8)
    assert sorted(os.listdir(tmp_path)) == ["a.tif"]


def test_driver_for_path_and_hfa_output(tmp_path):
    assert driver_for_path("x.tif") == driver_for_path("X.TIFF") == "GTiff"
    assert driver_for_path("noext") == "GTiff"
    assert driver_for_path("x.img") == "HFA"
    for bad in ("x.vrt", "x.png", "x.jpg", "x.unknownext"):
        with pytest.raises(InputError):
            driver_for_path(bad)
    out = tmp_path / "out.img"
    with RasterWriter(out, 6, 5, 2, np.int16, UTM33_GT_MS, "EPSG:32633", nodata=-1,
                      band_descriptions=["one", "two"]) as writer:
        writer.write(0, 0, np.arange(60, dtype=np.float64).reshape(2, 5, 6))
    info = open_raster(out)
    assert info.driver == "HFA" and info.shape == (2, 5, 6) and info.dtype == np.int16
    assert info.geotransform == UTM33_GT_MS and info.band_descriptions == ("one", "two")
    np.testing.assert_array_equal(read_raster(out).ravel(), np.arange(60))
    assert not [n for n in os.listdir(tmp_path) if "partial" in n]


def test_parse_creation_options():
    expected = ["COMPRESS=LZW", "TILED=YES"]
    assert parse_creation_options("COMPRESS=LZW|TILED=YES") == expected
    assert parse_creation_options("compress=LZW, tiled=YES") == expected
    assert parse_creation_options("COMPRESS=LZW TILED=YES\n") == expected
    assert parse_creation_options("-co COMPRESS=LZW -co TILED=YES") == expected
    assert parse_creation_options(["COMPRESS=LZW", " TILED=YES "]) == expected
    assert parse_creation_options(None) == parse_creation_options("  ") == []
    assert parse_creation_options("ZLEVEL=9|NUM_THREADS=ALL_CPUS") == [
        "ZLEVEL=9", "NUM_THREADS=ALL_CPUS"]
    for bad in ("COMPRESS", "=LZW", "COMPRESS=LZW|TILED"):
        with pytest.raises(InputError, match="KEY=VALUE"):
            parse_creation_options(bad)
    assert default_creation_options("GTiff", np.uint16) == [
        "TILED=YES", "COMPRESS=DEFLATE", "PREDICTOR=2", "BIGTIFF=IF_SAFER"]
    assert "PREDICTOR=3" in default_creation_options("GTiff", np.float32)
    assert default_creation_options("HFA", np.float32) == []


def test_creation_options_applied_and_validated(tmp_path):
    with RasterWriter(tmp_path / "lzw.tif", 4, 4, 1, np.float32,
                      creation_options="COMPRESS=LZW") as writer:
        assert sorted(writer.creation_options) == [
            "BIGTIFF=IF_SAFER", "COMPRESS=LZW", "PREDICTOR=3", "TILED=YES"]
        writer.write(0, 0, np.ones((4, 4)))
    structure = gdal.Open(str(tmp_path / "lzw.tif")).GetMetadata("IMAGE_STRUCTURE")
    assert structure["COMPRESSION"] == "LZW" and structure["PREDICTOR"] == "3"
    with RasterWriter(tmp_path / "raw.tif", 4, 4, 1, np.uint8,
                      creation_options="COMPRESS=NONE|TILED=NO") as writer:
        assert "PREDICTOR=2" not in writer.creation_options
        writer.write(0, 0, np.ones((4, 4)))
    assert "COMPRESSION" not in (gdal.Open(str(tmp_path / "raw.tif")).GetMetadata(
        "IMAGE_STRUCTURE") or {})
    with pytest.raises(InputError, match="no creation option FOO"):
        RasterWriter(tmp_path / "x.tif", 4, 4, 1, np.uint8, creation_options="FOO=1")
    with pytest.raises(InputError, match="COMPRESS=BANANA is not valid"):
        RasterWriter(tmp_path / "y.tif", 4, 4, 1, np.uint8, creation_options="COMPRESS=BANANA")
    assert sorted(os.listdir(tmp_path)) == ["lzw.tif", "raw.tif"]


def test_cog_output(tmp_path):
    out = tmp_path / "cog.tif"
    data = np.arange(3 * 300 * 260, dtype=np.float64).reshape(3, 300, 260) % 1000
    with RasterWriter(out, 260, 300, 3, np.uint16, UTM33_GT_PAN, "EPSG:32633", nodata=0,
                      cog=True, band_descriptions=["a", "b", "c"],
                      metadata={"source": "test"}) as writer:
        for y in range(0, 300, 128):
            writer.write(0, y, data[:, y:y + 128, :])
    assert sorted(os.listdir(tmp_path)) == ["cog.tif"]
    ds = gdal.Open(str(out))
    assert ds.GetMetadata("IMAGE_STRUCTURE")["LAYOUT"] == "COG"
    assert ds.GetMetadataItem("source") == "test"
    assert ds.GetRasterBand(2).GetDescription() == "b"
    ds = None
    expected = data.copy()
    expected[expected == 0] = 1  # 0 is the reserved nodata value
    np.testing.assert_array_equal(read_raster(out), expected)


def test_partial_files_name_the_temporaries_of_one_output_only(tmp_path):
    from engine.io.raster_io import partial_files

    other = tmp_path / ".out2.0123456789ab.partial.tif"   # another output's temporary
    other.write_bytes(b"")
    writer = RasterWriter(tmp_path / "out.tif", 8, 8, 1, dtype=np.uint16)
    found = partial_files(tmp_path / "out.tif")
    assert len(found) == 1 and os.path.basename(found[0]).startswith(".out.")
    writer.write(0, 0, np.ones((1, 8, 8)))
    writer.close()
    assert partial_files(tmp_path / "out.tif") == []
    assert partial_files(tmp_path / "out2.tif") == [str(other)]
