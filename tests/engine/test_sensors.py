"""The sensor table is the one source of the Processing SENSOR options and band subsets."""

from engine.sensors import (PROCESSING_SENSORS, SENSORS, WV_BANDS, WV_BGRN_INDICES, get_sensor,
                            sensor_options)


def test_processing_options_come_from_the_table_and_never_change():
    # public API: stored verbatim in batch files and models (only appending is allowed)
    assert sensor_options()[:9] == ["WorldView-3", "WorldView-2", "QuickBird", "IKONOS",
                                    "GeoEye-1", "Pleiades", "GaoFen-2", "Landsat 8", "Generic"]
    for key, option in zip(PROCESSING_SENSORS, sensor_options()):
        assert get_sensor(option) is SENSORS[key]


def test_worldview_bgrn_subset_is_read_from_the_band_names():
    assert WV_BGRN_INDICES == (1, 2, 4, 6)
    assert [WV_BANDS[i] for i in WV_BGRN_INDICES] == ["Blue", "Green", "Red", "NIR1"]
    wv3 = get_sensor("wv3")
    assert wv3.gnyq(4) == tuple(wv3.ms_gnyq[i] for i in WV_BGRN_INDICES)


def test_ms_band_names_descriptions_then_sensor_then_worldview_subset():
    from engine.sensors import BGRN, ms_band_names

    wv3, ik = get_sensor("WorldView-3"), get_sensor("IKONOS")
    assert ms_band_names(wv3, ("a", "", "c", "d"), 4) == ("a", "", "c", "d")
    assert ms_band_names(wv3, ("",) * 8, 8) == WV_BANDS
    assert ms_band_names(wv3, ("",) * 4, 4) == BGRN  # B, G, R, NIR1 extract of a WV MS
    assert ms_band_names(ik, ("",) * 4, 4) == BGRN
    assert ms_band_names(wv3, ("",) * 3, 3) is None


def test_classical_result_of_a_4_band_worldview_extract_gets_bgrn_names(shared_data,
                                                                        tmp_path):
    """A 4-band extract of an 8-band WorldView MS, without band descriptions, fused with
    SENSOR WorldView-3 (this once failed with a NameError)."""
    import pytest

    gdal = pytest.importorskip("osgeo.gdal")
    from engine.fusion.raster import pansharpen_classical_raster

    src = shared_data / "wv3-dos-float"
    pan, ms = str(tmp_path / "pan.tif"), str(tmp_path / "ms4.tif")
    gdal.Translate(pan, str(src / "pan.tif"), srcWin=[0, 0, 256, 256])
    gdal.Translate(ms, str(src / "mul.tif"), srcWin=[0, 0, 64, 64], bandList=[2, 3, 5, 7])
    ds = gdal.Open(ms, gdal.GA_Update)
    for b in range(1, 5):
        ds.GetRasterBand(b).SetDescription("")
    ds = None
    out = str(tmp_path / "out.tif")
    pansharpen_classical_raster(pan, ms, out, method="mtf_glp_hpm", sensor="WorldView-3")
    ds = gdal.Open(out)
    assert [ds.GetRasterBand(b).GetDescription() for b in range(1, 5)] == list(
        ("Blue", "Green", "Red", "NIR"))


def test_gnyq_of_picks_the_native_entries_of_the_chosen_bands():
    wv3 = get_sensor("WorldView-3")
    assert wv3.gnyq_of([2, 3, 5, 7], 8) == wv3.gnyq(4)          # the default B, G, R, NIR1
    assert wv3.gnyq_of([1, 4, 6, 8], 8) == tuple(wv3.ms_gnyq[i] for i in (0, 3, 5, 7))
    assert wv3.gnyq_of([1, 2, 3, 4], 4) == wv3.gnyq(4)          # a 4-band extract: B, G, R, NIR
