"""Sensor table: MS band layout, MTF gains at Nyquist (GNyq), ratio and bit depth.

GNyq values are the published figures collected in the Vivone/DLPan toolbox tables
(``genMTF.m`` / ``MTF_PAN.m``; Vivone et al., IEEE GRSM 2021), facts that may be used
freely.  GaoFen-2 and Landsat 8 have no authoritative published values: they use the
toolbox's unknown-sensor defaults (MS 0.30, PAN 0.15) and say so in ``note``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from .errors import InputError

WV_BANDS = ("Coastal", "Blue", "Green", "Yellow", "Red", "RedEdge", "NIR1", "NIR2")
BGRN = ("Blue", "Green", "Red", "NIR")
#: 0-based indices of B, G, R, NIR1 inside an 8-band WorldView MS (bands 2, 3, 5, 7).
WV_BGRN_INDICES = tuple(WV_BANDS.index(b) for b in ("Blue", "Green", "Red", "NIR1"))


@dataclass(frozen=True)
class Sensor:
    """What the engine needs to know about an MS/PAN instrument pair."""

    key: str
    name: str
    band_names: tuple[str, ...]
    ms_gnyq: tuple[float, ...]
    pan_gnyq: float
    ratio: int
    bits: int | None
    note: str = ""
    aliases: tuple[str, ...] = field(default=())
    #: Short name in option lists (the Processing SENSOR options); default :attr:`name`.
    label: str = ""

    @property
    def option(self) -> str:
        """The sensor's option string in the Processing algorithms."""
        return self.label or self.name

    def gnyq(self, band_count: int, band_indices: Sequence[int] | None = None) -> tuple[float, ...]:
        """Per-band MS GNyq for an image with ``band_count`` bands.

        ``band_indices`` (0-based, into the native band list) selects a subset.  Without
        it, a native-size image gets the native table, a 4-band image from an 8-band
        WorldView sensor gets the B, G, R, NIR1 subset, and any other count gets the
        mean gain repeated (with a uniform table that is exact).
        """
        if band_indices is not None:
            idx = list(band_indices)
            if len(idx) != band_count or min(idx) < 0 or max(idx) >= len(self.ms_gnyq):
                raise InputError(
                    f"band indices {idx} do not select {band_count} of the "
                    f"{len(self.ms_gnyq)} {self.name} bands"
                )
            return tuple(self.ms_gnyq[i] for i in idx)
        if band_count == len(self.ms_gnyq):
            return self.ms_gnyq
        if band_count == 4 and len(self.ms_gnyq) == 8:
            return tuple(self.ms_gnyq[i] for i in WV_BGRN_INDICES)
        mean = sum(self.ms_gnyq) / len(self.ms_gnyq)
        return (mean,) * band_count

    def gnyq_of(self, bands: Sequence[int], ms_band_count: int) -> tuple[float, ...]:
        """MS GNyq of the 1-based ``bands`` picked from an MS of ``ms_band_count`` bands:
        the sensor's entries for those bands when the MS has the sensor's native band
        count, else as :meth:`gnyq` for ``len(bands)`` bands."""
        if ms_band_count == len(self.ms_gnyq):
            return self.gnyq(len(bands), [int(b) - 1 for b in bands])
        return self.gnyq(len(bands))


_UNKNOWN_NOTE = "no published GNyq; toolbox unknown-sensor defaults (MS 0.30, PAN 0.15)"

SENSORS: dict[str, Sensor] = {
    s.key: s
    for s in (
        Sensor("wv2", "WorldView-2", WV_BANDS, (0.35,) * 7 + (0.27,), 0.11, 4, 11,
               aliases=("worldview2", "worldview-2")),
        Sensor("wv3", "WorldView-3", WV_BANDS,
               (0.325, 0.355, 0.360, 0.350, 0.365, 0.360, 0.335, 0.315), 0.14, 4, 11,
               aliases=("worldview3", "worldview-3")),
        Sensor("qb", "QuickBird", BGRN, (0.34, 0.32, 0.30, 0.22), 0.15, 4, 11,
               aliases=("quickbird",)),
        Sensor("ikonos", "IKONOS", BGRN, (0.26, 0.28, 0.29, 0.28), 0.17, 4, 11),
        Sensor("geoeye1", "GeoEye-1", BGRN, (0.23, 0.23, 0.23, 0.23), 0.16, 4, 11,
               aliases=("geoeye", "geoeye-1")),
        Sensor("pleiades", "Pleiades", BGRN, (0.285, 0.285, 0.29, 0.285), 0.15, 4, 12,
               aliases=("phr1b", "pléiades")),
        Sensor("gf2", "GaoFen-2", BGRN, (0.30,) * 4, 0.15, 4, 10, note=_UNKNOWN_NOTE,
               aliases=("gaofen2", "gaofen-2")),
        Sensor("landsat8", "Landsat 8", ("Coastal", "Blue", "Green", "Red", "NIR"),
               (0.30,) * 5, 0.15, 2, 12, note=_UNKNOWN_NOTE, aliases=("l8", "oli")),
        Sensor("landsat7", "Landsat 7 ETM+", BGRN, (0.30,) * 4, 0.15, 2, 8, note=_UNKNOWN_NOTE,
               aliases=("l7", "etm+")),
        Sensor("generic", "Generic (unknown sensor)", BGRN, (0.30,) * 4, 0.15, 4, None,
               note=_UNKNOWN_NOTE, aliases=("none", "other", "unknown"), label="Generic"),
    )
}


#: Sensors offered by the Processing algorithms (SENSOR parameter), in option order.  The
#: options are static strings stored in batch files and models: never reorder or rename,
#: only append.
PROCESSING_SENSORS = ("wv3", "wv2", "qb", "ikonos", "geoeye1", "pleiades", "gf2", "landsat8",
                      "generic")


def sensor_options() -> list[str]:
    """The SENSOR option strings of the Processing algorithms (each resolves through
    :func:`get_sensor`)."""
    return [SENSORS[key].option for key in PROCESSING_SENSORS]


def ms_band_names(sensor: Sensor, descriptions: Sequence[str], count: int
                  ) -> tuple[str, ...] | None:
    """Names of the ``count`` bands of an MS file: its band ``descriptions`` when it has
    any, else the sensor's band names when the counts match, else B, G, R, NIR for a
    4-band extract of an 8-band WorldView MS; None when unknown."""
    if any(descriptions):
        return tuple(descriptions)
    if len(sensor.band_names) == count:
        return tuple(sensor.band_names)
    if count == 4 and tuple(sensor.band_names) == WV_BANDS:
        return BGRN
    return None


def get_sensor(name: str) -> Sensor:
    """Look a sensor up by key, display name or alias (case-insensitive)."""
    wanted = name.strip().lower()
    for sensor in SENSORS.values():
        if wanted in (sensor.key, sensor.name.lower(), *sensor.aliases):
            return sensor
    raise InputError(f"unknown sensor {name!r}; choose one of: {', '.join(SENSORS)}")


#: Satellite identifiers found in product metadata (GDAL's IMAGERY ``SATELLITEID``, MTL
#: ``SPACECRAFT_ID``, DIMAP mission names), upper case without separators -> sensor key.
_METADATA_IDS = {
    "WV03": "wv3", "WORLDVIEW3": "wv3", "WV02": "wv2", "WORLDVIEW2": "wv2",
    "QB02": "qb", "QUICKBIRD": "qb", "QUICKBIRD2": "qb", "IK02": "ikonos", "IKONOS": "ikonos",
    "GE01": "geoeye1", "GEOEYE1": "geoeye1", "PHR1A": "pleiades", "PHR1B": "pleiades",
    "PLEIADES": "pleiades", "GF2": "gf2", "GAOFEN2": "gf2", "LANDSAT8": "landsat8",
}
#: Metadata keys that may name the satellite.
_METADATA_KEYS = ("SATELLITEID", "SATID", "SPACECRAFT_ID", "MISSION", "SENSOR", "SATELLITE")


def sensor_from_metadata(items: dict[str, str]) -> Sensor | None:
    """The sensor named by product metadata (see :data:`_METADATA_KEYS`), or None."""
    for key in _METADATA_KEYS:
        value = items.get(key)
        if not value:
            continue
        token = "".join(ch for ch in str(value).upper() if ch.isalnum())
        for ident, sensor_key in _METADATA_IDS.items():
            if token == ident or token.startswith(ident):
                return SENSORS[sensor_key]
    return None
