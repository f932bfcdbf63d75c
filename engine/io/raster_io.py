"""GDAL raster input/output for the engine: metadata, windowed reads, safe block writes.

This is the ONLY engine module that imports GDAL.  GDAL's Python exceptions are never
switched on globally (``gdal.UseExceptions()`` would change the behaviour of QGIS's own
algorithms and of other plugins in the same interpreter); instead every ``Open`` /
``Create`` result is checked for None and ``gdal.GetLastErrorMsg()`` is reported, with
GDAL's own error printing silenced only for the duration of each call.  If someone else
did switch exceptions on, the ``RuntimeError`` GDAL then raises is handled the same way.

Conventions:

* arrays are bands first: ``(C, h, w)``; band numbers are 1-based, as in GDAL and QGIS;
* windows are given in pixels of the raster: ``x0`` column, ``y0`` row, ``w``, ``h``;
  they may reach outside the raster (halos): the outside is filled (NaN for floats);
* on float reads, NaN marks every pixel that is nodata (band nodata value, GDAL mask or
  alpha band, or NaN in the file) or outside the raster;
* on writes of float blocks, NaN marks the pixels to write as nodata.

GDAL dataset handles are not thread-safe: use one :class:`RasterReader` per thread.
"""

from __future__ import annotations

import os
import re
import uuid
import xml.etree.ElementTree as ElementTree
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

import numpy as np
from osgeo import gdal, osr

from ..errors import InputError, RasterIOError
from .grid import GeoTransform, GridInfo
from .windows import Window, contains, full_window, intersection, relative_to

__all__ = [
    "RasterInfo",
    "RasterReader",
    "RasterWriter",
    "open_raster",
    "grid_info",
    "same_crs",
    "read_window",
    "read_raster",
    "parse_creation_options",
    "default_creation_options",
    "driver_for_path",
]

_DEFAULT_GEOTRANSFORM = (0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

# GDAL data type <-> numpy dtype (GDT_Int8/Int64/UInt64 exist only in newer GDAL).
_GDT_TO_NUMPY: dict[int, np.dtype] = {
    gdal.GDT_Byte: np.dtype(np.uint8),
    gdal.GDT_UInt16: np.dtype(np.uint16),
    gdal.GDT_Int16: np.dtype(np.int16),
    gdal.GDT_UInt32: np.dtype(np.uint32),
    gdal.GDT_Int32: np.dtype(np.int32),
    gdal.GDT_Float32: np.dtype(np.float32),
    gdal.GDT_Float64: np.dtype(np.float64),
}
for _name, _np in (("GDT_Int8", np.int8), ("GDT_Int64", np.int64), ("GDT_UInt64", np.uint64)):
    if hasattr(gdal, _name):
        _GDT_TO_NUMPY[getattr(gdal, _name)] = np.dtype(_np)
_NUMPY_TO_GDT: dict[np.dtype, int] = {v: k for k, v in _GDT_TO_NUMPY.items()}

# Output drivers chosen by extension (others are looked up in GDAL's driver list).
_EXTENSION_DRIVERS = {".tif": "GTiff", ".tiff": "GTiff", ".gtif": "GTiff", ".img": "HFA"}
_REFUSED_EXTENSIONS = {
    ".vrt": "a VRT file only references other rasters and cannot hold the pixels",
    ".jpg": "JPEG cannot be written block by block and is lossy",
    ".jpeg": "JPEG cannot be written block by block and is lossy",
    ".png": "PNG cannot be written block by block",
}
_SIDECAR_SUFFIXES = (".aux.xml", ".ovr", ".msk")


# --------------------------------------------------------------------------- helpers


@contextmanager
def _gdal_call() -> Iterator[None]:
    """Reset GDAL's last error and keep its messages off stderr for one call."""
    gdal.ErrorReset()
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        yield
    except RuntimeError as exc:  # GDAL exceptions were switched on by someone else
        raise RasterIOError(f"GDAL error: {exc}") from exc
    finally:
        gdal.PopErrorHandler()


def _last_error(default: str) -> str:
    message = (gdal.GetLastErrorMsg() or "").strip()
    return message or default


def _failed() -> bool:
    return gdal.GetLastErrorType() >= gdal.CE_Failure


def _numpy_dtype(gdal_type: int, band: gdal.Band | None = None) -> np.dtype:
    if gdal_type == gdal.GDT_Byte and band is not None:
        if band.GetMetadataItem("PIXELTYPE", "IMAGE_STRUCTURE") == "SIGNEDBYTE":
            return np.dtype(np.int8)
    try:
        return _GDT_TO_NUMPY[gdal_type]
    except KeyError:
        raise InputError(
            f"GDAL data type {gdal.GetDataTypeName(gdal_type)} is not supported (complex or "
            "unknown); convert the raster to a real-valued type first (e.g. gdal_translate -ot "
            "Float32)"
        ) from None


def _gdal_type(dtype: np.dtype, what: str = "data type") -> int:
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        dtype = np.dtype(np.uint8)
    try:
        return _NUMPY_TO_GDT[dtype]
    except KeyError:
        supported = ", ".join(sorted(str(d) for d in _NUMPY_TO_GDT))
        raise InputError(f"{what} {dtype} cannot be stored with GDAL {gdal.__version__}; "
                         f"use one of: {supported}") from None


def _as_int(value, what: str) -> int:
    if isinstance(value, (bool, np.bool_)) or int(value) != value:
        raise InputError(f"{what} must be an integer, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- metadata


@dataclass(frozen=True)
class RasterInfo:
    """What the engine needs to know about a raster on disk.

    ``dtype`` is the numpy type that holds every band without loss (the common type of
    the bands); ``nodata`` has one entry per band (None: no nodata value);
    ``geotransform`` is None when the raster has no georeferencing (or only GCPs) or has
    GDAL's default ``(0, 1, 0, 0, 0, 1)``; ``crs_wkt`` is None when no CRS is set.
    """

    path: str
    width: int
    height: int
    band_count: int
    dtype: np.dtype
    nodata: tuple[float | None, ...]
    geotransform: GeoTransform | None
    crs_wkt: str | None
    band_descriptions: tuple[str, ...]
    band_dtypes: tuple[np.dtype, ...] = ()
    driver: str = ""
    gcp_count: int = 0

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(bands, height, width)``."""
        return (self.band_count, self.height, self.width)

    @property
    def georeferenced(self) -> bool:
        return self.geotransform is not None


def _open_dataset(path: str | os.PathLike, name: str) -> gdal.Dataset:
    path = os.fspath(path)
    flags = gdal.OF_RASTER | gdal.OF_READONLY
    try:
        with _gdal_call():
            ds = gdal.OpenEx(path, flags)
            message = _last_error("")
    except RasterIOError as exc:  # someone switched GDAL exceptions on
        ds, message = None, str(exc.__cause__ or exc)
    if ds is None:
        if not message:
            message = ("no such file or directory" if not os.path.exists(path)
                       else "GDAL does not recognise it as a raster format")
        raise RasterIOError(f"cannot open the {name} raster {path}: {message}")
    if ds.RasterCount == 0:
        subdatasets = ds.GetMetadata("SUBDATASETS") or {}
        first = subdatasets.get("SUBDATASET_1_NAME")
        hint = (f"; it contains subdatasets, open one of them instead, e.g. {first}"
                if first else "")
        raise RasterIOError(f"cannot open the {name} raster {path}: it has no raster bands{hint}")
    return ds


def _info_from_dataset(ds: gdal.Dataset, path: str) -> RasterInfo:
    bands = [ds.GetRasterBand(i + 1) for i in range(ds.RasterCount)]
    band_dtypes = tuple(_numpy_dtype(b.DataType, b) for b in bands)
    dtype = np.result_type(*band_dtypes)
    gt = ds.GetGeoTransform(can_return_null=True)
    geotransform = None
    if gt is not None and tuple(float(v) for v in gt) != _DEFAULT_GEOTRANSFORM:
        geotransform = tuple(float(v) for v in gt)
    wkt = ds.GetProjectionRef() or None
    return RasterInfo(
        path=path,
        width=int(ds.RasterXSize),
        height=int(ds.RasterYSize),
        band_count=int(ds.RasterCount),
        dtype=np.dtype(dtype),
        nodata=tuple(b.GetNoDataValue() for b in bands),
        geotransform=geotransform,  # type: ignore[arg-type]
        crs_wkt=wkt,
        band_descriptions=tuple(b.GetDescription() or "" for b in bands),
        band_dtypes=band_dtypes,
        driver=ds.GetDriver().ShortName,
        gcp_count=int(ds.GetGCPCount()),
    )


def open_raster(path: str | os.PathLike, name: str = "PAN") -> RasterInfo:
    """Read the metadata of a raster; ``name`` (e.g. ``'PAN'``, ``'MS'``) labels errors.

    Raises :class:`RasterIOError` ``'cannot open the {name} raster {path}: {reason}'``
    for missing, unreadable or band-less files.
    """
    ds = _open_dataset(path, name)
    try:
        return _info_from_dataset(ds, os.fspath(path))
    finally:
        ds = None  # noqa: F841 (closes the dataset)


def grid_info(info: RasterInfo) -> GridInfo:
    """The :class:`engine.io.grid.GridInfo` (size + georeferencing) of a raster."""
    return GridInfo(info.width, info.height, info.geotransform, info.crs_wkt)


def parse_crs(text: str) -> osr.SpatialReference:
    """A CRS definition (WKT, PROJ string or ``EPSG:n``) as an OSR spatial reference;
    :class:`~engine.errors.InputError` when GDAL cannot read it."""
    srs = osr.SpatialReference()
    try:
        with _gdal_call():
            err = srs.SetFromUserInput(text)
    except RasterIOError:
        err = 1
    if err != 0:
        raise InputError(f"cannot interpret the CRS definition {text[:80]!r}")
    return srs


def same_crs(wkt_a: str | None, wkt_b: str | None) -> bool:
    """True when two CRS definitions (WKT, PROJ string or ``EPSG:n``) are the same CRS.

    Two missing CRSs count as the same; one missing and one set do not.  Axis order
    differences (lat/lon vs lon/lat) are ignored.
    """
    if not wkt_a and not wkt_b:
        return True
    if not wkt_a or not wkt_b:
        return False
    refs = [parse_crs(text) for text in (wkt_a, wkt_b)]
    for srs in refs:
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return bool(refs[0].IsSame(refs[1], ["IGNORE_DATA_AXIS_TO_SRS_AXIS_MAPPING=YES"]))


# --------------------------------------------------------------------------- reading


class RasterReader:
    """Keeps one GDAL dataset open and reads windows from it (use as a context manager).

    >>> with RasterReader("ms.tif", "MS") as ms:             # doctest: +SKIP
    ...     block = ms.read(-8, -8, 80, 80, bands=[2, 3, 5, 7])  # (4, 80, 80), NaN halo
    """

    def __init__(self, path: str | os.PathLike, name: str = "raster"):
        self.name = name
        self.path = os.fspath(path)
        self._ds: gdal.Dataset | None = _open_dataset(self.path, name)
        self.info: RasterInfo = _info_from_dataset(self._ds, self.path)

    # context manager -------------------------------------------------------
    def __enter__(self) -> "RasterReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the dataset (idempotent)."""
        self._ds = None

    @property
    def closed(self) -> bool:
        return self._ds is None

    # reading ---------------------------------------------------------------
    def _bands(self, bands: Sequence[int] | None) -> list[int]:
        count = self.info.band_count
        if bands is None:
            return list(range(1, count + 1))
        out = []
        for b in bands:
            b = _as_int(b, "a band number")
            if not 1 <= b <= count:
                raise InputError(f"band {b} does not exist in the {self.name} raster "
                                 f"{self.path}, which has {count} band(s) (numbered from 1)")
            out.append(b)
        if not out:
            raise InputError("the band list is empty")
        return out

    def _valid_mask(self, raw: np.ndarray, bands: list[int], x: int, y: int) -> np.ndarray:
        """Validity (C, h, w) of the raw native values read at ``(x, y)``."""
        assert self._ds is not None
        valid = np.ones(raw.shape, dtype=bool)
        dataset_mask = None
        for i, b in enumerate(bands):
            band = self._ds.GetRasterBand(b)
            data = raw[i]
            if data.dtype.kind == "f":
                valid[i] &= ~np.isnan(data)
            flags = band.GetMaskFlags()
            if flags & gdal.GMF_ALL_VALID:
                continue
            if flags & gdal.GMF_NODATA:
                nodata = band.GetNoDataValue()
                if nodata is None:
                    continue
                if np.isnan(nodata):
                    continue  # already handled above
                if data.dtype.kind in "iu":
                    if nodata != int(nodata):
                        continue
                    info = np.iinfo(data.dtype)
                    if not info.min <= nodata <= info.max:
                        continue
                    valid[i] &= data != data.dtype.type(int(nodata))
                else:
                    valid[i] &= data != data.dtype.type(nodata)
                continue
            # alpha band or explicit mask (.msk / internal): read GDAL's mask band
            if flags & gdal.GMF_PER_DATASET and dataset_mask is not None:
                valid[i] &= dataset_mask
                continue
            h, w = data.shape
            with _gdal_call():
                buf = band.GetMaskBand().ReadRaster(x, y, w, h, buf_type=gdal.GDT_Byte)
                failed = buf is None or _failed()
            if failed:
                raise RasterIOError(f"cannot read the mask of band {b} of the {self.name} "
                                    f"raster {self.path}: {_last_error('read failed')}")
            mask = np.frombuffer(buf, dtype=np.uint8).reshape(h, w) != 0
            if flags & gdal.GMF_PER_DATASET:
                dataset_mask = mask
            valid[i] &= mask
        return valid

    def read_with_mask(
        self,
        x0: int,
        y0: int,
        w: int,
        h: int,
        bands: Sequence[int] | None = None,
        out_dtype: np.dtype | type | None = None,
        fill: float = 0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Read a window; return ``(data (C, h, w), valid (C, h, w) bool)``.

        ``valid`` is False outside the raster and where the band's nodata/mask applies.
        ``data`` is ``out_dtype`` (default: the raster's native dtype); pixels outside
        the raster hold ``fill``, nodata pixels keep their stored value.
        """
        if self._ds is None:
            raise RasterIOError(f"the {self.name} raster {self.path} is closed")
        x0, y0 = _as_int(x0, "x0"), _as_int(y0, "y0")
        w, h = _as_int(w, "the window width"), _as_int(h, "the window height")
        if w <= 0 or h <= 0:
            raise InputError(f"the window size must be positive, got {w}x{h}")
        band_list = self._bands(bands)
        native = np.result_type(*(self.info.band_dtypes[b - 1] for b in band_list))
        dtype = np.dtype(native if out_dtype is None else out_dtype)
        win = Window(x0, y0, w, h)
        data = np.full((len(band_list), h, w), fill, dtype=dtype)
        valid = np.zeros((len(band_list), h, w), dtype=bool)
        inside = intersection(win, full_window(self.info.width, self.info.height))
        if inside is None:
            return data, valid  # entirely outside
        with _gdal_call():
            buf = self._ds.ReadRaster(inside.x0, inside.y0, inside.width, inside.height,
                                      buf_type=_gdal_type(native), band_list=band_list)
            failed = buf is None or _failed()
        if failed:
            raise RasterIOError(
                f"cannot read window x={inside.x0} y={inside.y0} {inside.width}x{inside.height} "
                f"of the {self.name} raster {self.path}: {_last_error('read failed')}")
        raw = np.frombuffer(buf, dtype=native).reshape(len(band_list), *inside.shape)
        sy, sx = relative_to(inside, win).slices()
        data[:, sy, sx] = raw
        valid[:, sy, sx] = self._valid_mask(raw, band_list, inside.x0, inside.y0)
        return data, valid

    def read(
        self,
        x0: int,
        y0: int,
        w: int,
        h: int,
        bands: Sequence[int] | None = None,
        out_dtype: np.dtype | type = np.float64,
    ) -> np.ndarray:
        """Read a window as floats ``(C, h, w)``: NaN outside the raster and on nodata."""
        dtype = np.dtype(out_dtype)
        if dtype.kind != "f":
            raise InputError(f"read() returns floats with NaN for nodata; for {dtype} use "
                             "read_with_mask()")
        data, valid = self.read_with_mask(x0, y0, w, h, bands, dtype, fill=np.nan)
        data[~valid] = np.nan
        return data

    def read_window(self, win: Window, bands: Sequence[int] | None = None,
                    out_dtype: np.dtype | type = np.float64) -> np.ndarray:
        """:meth:`read` of a :class:`~engine.io.windows.Window` ``(C, height, width)``."""
        return self.read(win.x0, win.y0, win.width, win.height, bands, out_dtype)

    def read_all(self, bands: Sequence[int] | None = None,
                 out_dtype: np.dtype | type = np.float64) -> np.ndarray:
        """The whole raster as floats ``(C, H, W)`` with NaN on nodata (small rasters only)."""
        return self.read(0, 0, self.info.width, self.info.height, bands, out_dtype)


def read_window(
    path: str | os.PathLike,
    x0: int,
    y0: int,
    w: int,
    h: int,
    bands: Sequence[int] | None = None,
    out_dtype: np.dtype | type = np.float64,
    name: str = "raster",
) -> np.ndarray:
    """One-shot :meth:`RasterReader.read` (opens and closes the file; loops should keep a
    :class:`RasterReader` instead)."""
    with RasterReader(path, name) as reader:
        return reader.read(x0, y0, w, h, bands, out_dtype)


def read_raster(
    path: str | os.PathLike,
    bands: Sequence[int] | None = None,
    out_dtype: np.dtype | type = np.float64,
    name: str = "raster",
) -> np.ndarray:
    """A whole raster as floats ``(C, H, W)`` with NaN on nodata (small rasters only)."""
    with RasterReader(path, name) as reader:
        return reader.read_all(bands, out_dtype)


# --------------------------------------------------------------------------- writing


def parse_creation_options(options: str | Sequence[str] | None) -> list[str]:
    """Parse GDAL creation options into ``['KEY=VALUE', ...]`` (keys upper-cased).

    Accepts QGIS's ``'KEY=VALUE|KEY=VALUE'``, or items separated by commas, spaces or
    new lines, optionally with ``-co`` prefixes (``'-co COMPRESS=LZW -co TILED=YES'``),
    or a list of ``'KEY=VALUE'`` strings.  None or blank -> ``[]``.
    """
    if options is None:
        return []
    if isinstance(options, str):
        text = options.strip()
        if not text:
            return []
        items = text.split("|") if "|" in text else re.split(r"[,\s]+", text)
    else:
        items = list(options)
    out: list[str] = []
    for item in items:
        item = str(item).strip()
        if not item or item.lower() == "-co":
            continue
        if item.lower().startswith("-co"):
            item = item[3:].strip()
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not re.fullmatch(r"[A-Za-z0-9_\-]+", key):
            raise InputError(f"creation option {item!r} is not of the form KEY=VALUE "
                             "(write them as KEY=VALUE|KEY=VALUE, e.g. COMPRESS=LZW|TILED=YES)")
        out.append(f"{key.upper()}={value}")
    return out


def _options_dict(options: Sequence[str]) -> dict[str, str]:
    return dict(opt.split("=", 1) for opt in options)


def default_creation_options(driver: str, dtype: np.dtype | type) -> list[str]:
    """The default profile: tiled, DEFLATE-compressed BigTIFF-if-needed GTiff.

    PREDICTOR is 2 (horizontal differencing) for integers and 3 (floating point) for
    floats.  Other drivers: no defaults.
    """
    if driver != "GTiff":
        return []
    predictor = "3" if np.dtype(dtype).kind == "f" else "2"
    return ["TILED=YES", "COMPRESS=DEFLATE", f"PREDICTOR={predictor}", "BIGTIFF=IF_SAFER"]


def _merge_gtiff_options(user: list[str], dtype: np.dtype) -> list[str]:
    """User options win; defaults fill the keys the user did not give."""
    merged = _options_dict(default_creation_options("GTiff", dtype))
    given = _options_dict(user)
    if "COMPRESS" in given:
        merged.pop("PREDICTOR", None)
        if given["COMPRESS"].upper() in ("DEFLATE", "LZW", "ZSTD") and "PREDICTOR" not in given:
            merged["PREDICTOR"] = "3" if dtype.kind == "f" else "2"
    merged.update(given)
    return [f"{k}={v}" for k, v in merged.items()]


def _check_options(driver: gdal.Driver, options: list[str]) -> None:
    """Refuse creation options the driver does not know (GDAL would only warn)."""
    xml = driver.GetMetadataItem("DMD_CREATIONOPTIONLIST") or ""
    if not xml or not options:
        return
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return
    known: dict[str, set[str]] = {}
    for opt in root.iter("Option"):
        name = (opt.get("name") or "").upper()
        values = {(v.text or "").strip().upper() for v in opt.iter("Value")}
        if opt.get("type") == "string-select" and values:
            known[name] = values
        else:
            known[name] = set()
    for item in options:
        key, _, value = item.partition("=")
        if key not in known:
            raise InputError(
                f"the {driver.ShortName} driver has no creation option {key}; valid options: "
                f"{', '.join(sorted(known))}")
        allowed = known[key]
        if allowed and value.upper() not in allowed:
            raise InputError(f"creation option {key}={value} is not valid for "
                             f"{driver.ShortName}; choose one of: {', '.join(sorted(allowed))}")


def driver_for_path(path: str | os.PathLike) -> str:
    """GDAL driver short name for an output path, from its extension.

    ``.tif``/``.tiff`` (and no extension) -> GTiff, ``.img`` -> HFA; other extensions
    are looked up among GDAL's drivers that can create rasters block by block.  VRT,
    JPEG, PNG and unknown extensions are refused with an :class:`InputError`.
    """
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if not ext:
        return "GTiff"
    if ext in _EXTENSION_DRIVERS:
        return _EXTENSION_DRIVERS[ext]
    if ext in _REFUSED_EXTENSIONS:
        raise InputError(f"cannot write {os.fspath(path)}: {_REFUSED_EXTENSIONS[ext]}; "
                         "write a GeoTIFF (.tif) instead")
    for i in range(gdal.GetDriverCount()):
        drv = gdal.GetDriver(i)
        meta = drv.GetMetadata() or {}
        exts = (meta.get("DMD_EXTENSIONS") or meta.get("DMD_EXTENSION") or "").lower().split()
        if (ext[1:] in exts and meta.get("DCAP_RASTER") == "YES"
                and meta.get("DCAP_CREATE") == "YES"):
            return drv.ShortName
    raise InputError(f"cannot write {os.fspath(path)}: no GDAL driver creates '{ext}' rasters "
                     "block by block; write a GeoTIFF (.tif) instead")


class RasterWriter:
    """Write a raster block by block; the file appears only when everything succeeded.

    Pixels go to a hidden temporary file in the destination folder, which is moved onto
    ``path`` by :meth:`close` (or a ``with`` block that ends without an exception).
    :meth:`abort`, an exception inside the ``with`` block, or garbage collection before
    ``close`` delete the temporary file, so no half-written raster is ever left behind.

    ``dtype``: output numpy dtype (uint8, uint16, int16, uint32, int32, float32,
    float64).  Float blocks mark nodata with NaN; for integer outputs they are rounded
    and clipped to the dtype range, and ``nodata`` is reserved: a valid value that would
    round to it is moved one step away from it.  ``creation_options``: see
    :func:`parse_creation_options`; for GTiff they are merged over
    :func:`default_creation_options`.  ``cog=True`` writes a tiled GTiff, then converts
    it to a Cloud Optimized GeoTIFF on close (``creation_options`` then go to the COG
    driver).  ``metadata`` is stored in the dataset's default metadata domain
    (provenance: plugin version, weights hash, scaling, band mapping...).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        width: int,
        height: int,
        bands: int,
        dtype: np.dtype | type = np.float32,
        geotransform: Sequence[float] | None = None,
        crs_wkt: str | None = None,
        nodata: float | None = None,
        creation_options: str | Sequence[str] | None = None,
        band_descriptions: Sequence[str | None] | None = None,
        metadata: Mapping[str, object] | None = None,
        driver: str | None = None,
        cog: bool = False,
    ):
        self.path = os.path.abspath(os.fspath(path))
        self.width = _as_int(width, "the width")
        self.height = _as_int(height, "the height")
        self.bands = _as_int(bands, "the band count")
        if self.width <= 0 or self.height <= 0 or self.bands <= 0:
            raise InputError(f"cannot create a {self.bands}-band {self.width}x{self.height} "
                             "raster: sizes must be positive")
        self.dtype = np.dtype(dtype)
        self._gdt = _gdal_type(self.dtype, "output data type")
        self.nodata = self._check_nodata(nodata)
        self.driver_name = driver or driver_for_path(self.path)
        self.cog = bool(cog)
        if self.cog and self.driver_name not in ("GTiff", "COG"):
            raise InputError(f"COG output must be a .tif file, not {self.path}")
        if self.cog:
            self.driver_name = "GTiff"
        folder = os.path.dirname(self.path)
        if not os.path.isdir(folder):
            raise RasterIOError(f"cannot write {self.path}: the folder {folder} does not exist")
        if os.path.isdir(self.path):
            raise RasterIOError(f"cannot write {self.path}: it is a folder")
        drv = gdal.GetDriverByName(self.driver_name)
        if drv is None or drv.GetMetadataItem("DCAP_CREATE") != "YES":
            raise InputError(f"GDAL driver {self.driver_name} is not available for writing")

        user_options = parse_creation_options(creation_options)
        if self.cog:
            cog_drv = gdal.GetDriverByName("COG")
            if cog_drv is None:
                raise InputError("this GDAL has no COG driver; write a plain GeoTIFF")
            _check_options(cog_drv, user_options)
            cog_defaults = {"COMPRESS": "DEFLATE", "PREDICTOR": "YES", "BIGTIFF": "IF_SAFER"}
            cog_defaults.update(_options_dict(user_options))
            self._cog_options = [f"{k}={v}" for k, v in cog_defaults.items()]
            options = ["TILED=YES", "COMPRESS=DEFLATE", "ZLEVEL=1", "BIGTIFF=IF_SAFER"]
        else:
            _check_options(drv, user_options)
            options = (_merge_gtiff_options(user_options, self.dtype)
                       if self.driver_name == "GTiff" else user_options)
            self._cog_options = []
        self.creation_options = options

        stem, ext = os.path.splitext(os.path.basename(self.path))
        self._tmp_stem = f".{stem}.{uuid.uuid4().hex[:12]}.partial"
        self._tmp_path = os.path.join(folder, self._tmp_stem + ext)
        self._state = "open"  # "open" -> "closed" (moved into place) or "aborted"
        self._ds: gdal.Dataset | None = None
        try:
            with _gdal_call():
                ds = drv.Create(self._tmp_path, self.width, self.height, self.bands,
                                self._gdt, options)
                message = _last_error("creation failed")
            if ds is None:
                raise RasterIOError(f"cannot create {self.path} ({self.driver_name}): {message}")
            self._ds = ds
            self._set_metadata(geotransform, crs_wkt, band_descriptions, metadata)
        except BaseException:
            self.abort()
            raise

    # setup ---------------------------------------------------------------
    def _check_nodata(self, nodata: float | None) -> float | None:
        if nodata is None:
            return None
        nodata = float(nodata)
        if self.dtype.kind in "iu":
            info = np.iinfo(self.dtype)
            if np.isnan(nodata) or nodata != int(nodata) or not info.min <= nodata <= info.max:
                raise InputError(f"nodata {nodata:g} cannot be stored in {self.dtype} "
                                 f"(integers {info.min}..{info.max})")
        elif not np.isnan(nodata) and np.isfinite(nodata):
            if float(self.dtype.type(nodata)) != nodata:
                raise InputError(f"nodata {nodata!r} is not exactly representable in {self.dtype}")
        return nodata

    def _set_metadata(self, geotransform, crs_wkt, band_descriptions, metadata) -> None:
        ds = self._ds
        assert ds is not None
        if geotransform is not None:
            gt = tuple(float(v) for v in geotransform)
            if len(gt) != 6:
                raise InputError(f"a geotransform has 6 numbers, got {geotransform!r}")
            with _gdal_call():
                if ds.SetGeoTransform(gt) != 0:
                    raise RasterIOError(f"cannot set the geotransform of {self.path}: "
                                        f"{_last_error('refused')}")
        if crs_wkt:
            srs = parse_crs(crs_wkt)
            with _gdal_call():
                if ds.SetSpatialRef(srs) != 0:
                    raise RasterIOError(f"cannot set the CRS of {self.path}: "
                                        f"{_last_error('refused')}")
        if band_descriptions is not None and len(band_descriptions) != self.bands:
            raise InputError(f"{len(band_descriptions)} band descriptions for {self.bands} bands")
        for i in range(self.bands):
            band = ds.GetRasterBand(i + 1)
            if self.nodata is not None:
                band.SetNoDataValue(self.nodata)
            if band_descriptions is not None and band_descriptions[i]:
                band.SetDescription(str(band_descriptions[i]))
        if metadata:
            ds.SetMetadata({str(k): str(v) for k, v in metadata.items()})

    # context manager -------------------------------------------------------
    def __enter__(self) -> "RasterWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self):
        try:
            if self._state == "open":
                self.abort()
        except Exception:  # noqa: BLE001 (never raise from a finaliser)
            pass

    @property
    def block_shape(self) -> tuple[int, int]:
        """The driver's natural ``(block_height, block_width)`` (align writes to it)."""
        if self._ds is None:
            raise RasterIOError(f"{self.path} is closed")
        bw, bh = self._ds.GetRasterBand(1).GetBlockSize()
        return int(bh), int(bw)

    # writing ---------------------------------------------------------------
    def _convert(self, block: np.ndarray, nodata_mask: np.ndarray | None) -> np.ndarray:
        """Block -> output dtype with NaN/mask -> nodata, rounding, clipping, reservation."""
        out_t = self.dtype
        nd = self.nodata
        if block.dtype.kind == "f":
            invalid = np.isnan(block)
        else:
            invalid = np.zeros(block.shape, dtype=bool)
        if nodata_mask is not None:
            invalid = invalid | nodata_mask
        if out_t.kind in "iu":
            info = np.iinfo(out_t)
            lo, hi = float(info.min), float(info.max)
            if hi > np.iinfo(np.int32).max:  # float64 cannot hold 2**63-1 / 2**64-1
                hi = float(np.nextafter(hi, 0))
            values = np.where(invalid, 0, block).astype(np.float64, copy=False)
            values = np.rint(np.clip(values, lo, hi))
            out = values.astype(out_t)
            if nd is not None:
                ndi = int(nd)
                collide = ~invalid & (out == ndi)
                if collide.any():
                    up = ndi + 1 if ndi < info.max else ndi - 1
                    down = ndi - 1 if ndi > info.min else ndi + 1
                    src = np.where(invalid, 0, block)
                    out[collide] = np.where(src[collide] >= ndi, up, down).astype(out_t)
                out[invalid] = ndi
            else:
                out[invalid] = 0
            return out
        out = block.astype(out_t)
        if nd is not None and not np.isnan(nd):
            ndv = out_t.type(nd)
            collide = ~invalid & (out == ndv)
            if collide.any():
                src = block[collide]
                toward = np.where(src >= nd, np.inf, -np.inf).astype(out_t)
                out[collide] = np.nextafter(np.full(src.shape, ndv, dtype=out_t), toward)
            out[invalid] = ndv
        else:
            out[invalid] = np.nan
        return out

    def write(self, x0: int, y0: int, block: np.ndarray,
              nodata_mask: np.ndarray | None = None) -> None:
        """Write ``block`` (C, h, w) -- or (h, w) for one band -- at column ``x0``, row ``y0``.

        The block must lie inside the raster.  ``nodata_mask`` (True = nodata), of shape
        (h, w) or (C, h, w), marks extra nodata pixels besides NaN.
        """
        if self._ds is None:
            raise RasterIOError(f"{self.path} is already closed or aborted")
        block = np.asarray(block)
        if block.ndim == 2:
            block = block[None]
        if block.ndim != 3 or block.shape[0] != self.bands:
            raise InputError(f"expected a block of shape ({self.bands}, h, w), got {block.shape}")
        if block.dtype.kind not in "biuf":
            raise InputError(f"cannot write {block.dtype} data")
        _, h, w = block.shape
        x0, y0 = _as_int(x0, "x0"), _as_int(y0, "y0")
        if not contains(full_window(self.width, self.height), Window(x0, y0, w, h)):
            raise InputError(f"block {w}x{h} at x={x0} y={y0} does not fit inside the "
                             f"{self.width}x{self.height} output")
        if nodata_mask is not None:
            nodata_mask = np.broadcast_to(np.asarray(nodata_mask, dtype=bool), block.shape)
        out = np.ascontiguousarray(self._convert(block, nodata_mask))
        with _gdal_call():
            err = self._ds.WriteRaster(x0, y0, w, h, out.tobytes(), buf_type=self._gdt,
                                       band_list=list(range(1, self.bands + 1)))
            failed = err != 0 or _failed()
            message = _last_error("write failed")
        if failed:
            raise RasterIOError(f"cannot write block x={x0} y={y0} {w}x{h} to {self.path}: "
                                f"{message}")

    # finishing ---------------------------------------------------------------
    def _tmp_files(self) -> list[str]:
        folder = os.path.dirname(self._tmp_path)
        try:
            names = os.listdir(folder)
        except OSError:
            return []
        return [os.path.join(folder, n) for n in names if n.startswith(self._tmp_stem)]

    @property
    def state(self) -> str:
        """``'open'``, ``'closed'`` (file in place) or ``'aborted'`` (nothing written)."""
        return self._state

    def abort(self) -> None:
        """Discard everything written so far (idempotent); no file is left behind.

        After a successful :meth:`close` this does nothing.
        """
        self._discard()
        if self._state == "open":
            self._state = "aborted"

    def _discard(self) -> None:
        ds, self._ds = self._ds, None
        if ds is not None:
            with _gdal_call():
                ds = None  # noqa: F841 (closes the dataset)
        for name in self._tmp_files():
            try:
                os.remove(name)
            except OSError:
                pass

    def close(self) -> str:
        """Flush, close and move the raster onto its final path; return that path."""
        if self._state == "closed":
            return self.path
        if self._state == "aborted":
            raise RasterIOError(f"writing {self.path} was aborted; nothing was written")
        try:
            ds, self._ds = self._ds, None
            with _gdal_call():
                ds.FlushCache()
                ds = None  # noqa: F841 (closes the dataset, writing the last blocks)
                failed, message = _failed(), _last_error("")
            if failed:
                raise RasterIOError(f"cannot finish writing {self.path}: {message}")
            src = self._tmp_path
            if self.cog:
                src = self._to_cog()
            final_stem = os.path.splitext(self.path)[0]
            for suffix in _SIDECAR_SUFFIXES:  # stale sidecars would describe the old file
                stale = self.path + suffix
                if os.path.exists(stale):
                    os.remove(stale)
            moves = []
            for name in self._tmp_files():
                rest = os.path.basename(name)[len(self._tmp_stem):]
                if name == src:
                    target = self.path
                elif self.cog and name != src:
                    continue  # the intermediate GTiff and its sidecars are deleted below
                else:
                    target = final_stem + rest
                moves.append((name, target))
            # main file last, so a crash in between never exposes a raster without sidecars
            moves.sort(key=lambda m: m[0] == src)
            for name, target in moves:
                os.replace(name, target)
        except RasterIOError:
            self.abort()
            raise
        except OSError as exc:
            self.abort()
            raise RasterIOError(f"cannot finish writing {self.path}: {exc}") from exc
        except BaseException:
            self.abort()
            raise
        self._state = "closed"
        self._discard()  # removes the intermediate files of a COG conversion, if any
        return self.path

    def _to_cog(self) -> str:
        stem, ext = os.path.splitext(self._tmp_path)
        cog_path = f"{stem}.cog{ext}"
        with _gdal_call():
            src = gdal.Open(self._tmp_path)
            out = None
            if src is not None:
                out = gdal.GetDriverByName("COG").CreateCopy(cog_path, src, 0, self._cog_options)
            message = _last_error("conversion failed")
            failed = out is None
            out = src = None  # noqa: F841 (close both)
        if failed:
            raise RasterIOError(f"cannot convert {self.path} to a Cloud Optimized GeoTIFF: "
                                f"{message}")
        return cog_path


#: Metadata domains searched for the acquiring satellite (GDAL's readers of DigitalGlobe,
#: Pleiades/SPOT DIMAP, Landsat MTL... put it in IMAGERY as SATELLITEID).
_SENSOR_DOMAINS = ("IMAGERY", "", "ENVI")


def sensor_metadata(path: str | os.PathLike, name: str = "MS") -> dict[str, str]:
    """Metadata items of the dataset's IMAGERY, default and ENVI domains (upper-case keys),
    where GDAL exposes the acquiring satellite (e.g. ``SATELLITEID=WV03``)."""
    ds = _open_dataset(path, name)
    try:
        out: dict[str, str] = {}
        for domain in _SENSOR_DOMAINS:
            items = ds.GetMetadata(domain) or {}
            if isinstance(items, dict):
                out.update({str(k).upper(): str(v) for k, v in items.items()})
        return out
    finally:
        ds = None  # noqa: F841 (closes the dataset)
