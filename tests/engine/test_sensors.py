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
