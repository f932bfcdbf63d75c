"""Catalogue of bad and odd inputs across the four algorithms, run as users run them.

Every case runs ``processing.run`` in-process on small generated rasters and asserts
the message (what is wrong, what to do), that no input file changed (SHA-256 of every
file in the input folder before and after) and that no partial output remains.  A few
cases go through ``qgis_process`` and one terminates it with SIGTERM.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from osgeo import gdal, osr

GT_PAN = (500000.0, 1.0, 0.0, 4000000.0, 0.0, -1.0)
GT_MS = (500000.0, 4.0, 0.0, 4000000.0, 0.0, -4.0)
QNR_KEYS = {"D_LAMBDA", "D_S", "QNR", "D_LAMBDA_K", "D_S_TOOLBOX", "HQNR", "D_RHO"}


def _write(path: Path, array: np.ndarray, gt=GT_PAN, epsg: int | None = 32633,
           gdal_type=gdal.GDT_UInt16, nodata: float | None = None, driver: str = "GTiff") -> str:
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[None]
    ds = gdal.GetDriverByName(driver).Create(str(path), array.shape[2], array.shape[1],
                                             array.shape[0], gdal_type)
    if gt is not None:
        ds.SetGeoTransform(gt)
    if epsg is not None:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(epsg)
        ds.SetProjection(srs.ExportToWkt())
    for b in range(array.shape[0]):
        band = ds.GetRasterBand(b + 1)
        if nodata is not None:
            band.SetNoDataValue(nodata)
        band.WriteArray(array[b])
    ds = None
    return str(path)


def _scene(rng: np.random.Generator, bands: int = 4, size: int = 128, ratio: int = 4):
    """A smooth PAN (size x size) and an MS (bands x size/ratio x size/ratio) of one scene."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = 400 + 200 * np.sin(6 * xx) * np.cos(5 * yy) + 20 * rng.random((size, size))
    pan = base
    lr = base.reshape(size // ratio, ratio, size // ratio, ratio).mean(axis=(1, 3))
    ms = np.stack([lr * (0.8 + 0.1 * b) + 5 * b for b in range(bands)])
    return pan, ms


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """The input folder: small generated rasters (read-only for the cases)."""
    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(7)
    pan, ms = _scene(rng)
    _write(d / "pan.tif", pan)
    _write(d / "ms.tif", ms, GT_MS)
    _, ms8 = _scene(rng, bands=8)
    _write(d / "ms8.tif", ms8, GT_MS)
    _write(d / "pan3.tif", np.stack([pan] * 3))
    _write(d / "fused.tif", np.repeat(np.repeat(ms, 4, 1), 4, 2))
    _write(d / "fused_utm34.tif", np.repeat(np.repeat(ms, 4, 1), 4, 2), epsg=32634)
    _write(d / "fused3.tif", np.repeat(np.repeat(ms[:3], 4, 1), 4, 2))
    _write(d / "ms_utm34.tif", ms, GT_MS, epsg=32634)
    _write(d / "ms_far.tif", ms, (600000.0, 4.0, 0.0, 4000000.0, 0.0, -4.0))
    _write(d / "ms_ratio43.tif", ms, (500000.0, 4.3, 0.0, 4000000.0, 0.0, -4.3))
    _write(d / "ms_ratio1.tif", pan[None].repeat(4, 0), GT_PAN)
    _write(d / "ms_rotated.tif", ms, (500000.0, 4.0, 0.5, 4000000.0, 0.5, -4.0))
    # ENVI pair without extension + .hdr, as delivered by some vendors
    _write(d / "ms_envi", ms, GT_MS, driver="ENVI")
    # float data with +-inf pixels (one each in the PAN and the MS, two in the fused)
    pan_f, ms_f, fused_f = pan.astype(np.float32), ms.astype(np.float32), \
        np.repeat(np.repeat(ms, 4, 1), 4, 2).astype(np.float32)
    pan_f[10, 10] = np.inf
    ms_f[2, 5, 5] = np.inf
    ms_f[0, 9, 3] = -np.inf
    fused_f[1, 40, 40], fused_f[3, 0, 0] = np.inf, -np.inf
    _write(d / "pan_inf.tif", pan_f, gdal_type=gdal.GDT_Float32)
    _write(d / "ms_inf.tif", ms_f, GT_MS, gdal_type=gdal.GDT_Float32)
    _write(d / "fused_inf.tif", fused_f, gdal_type=gdal.GDT_Float32)
    # signed data with negative values (e.g. a product with an offset)
    _write(d / "pan_i16.tif", pan - 450, gdal_type=gdal.GDT_Int16)
    _write(d / "ms_i16.tif", ms - 350, GT_MS, gdal_type=gdal.GDT_Int16)
    _write(d / "ms_ratio402.tif", ms, (500000.0, 4.02, 0.0, 4000000.0, 0.0, -4.02))
    (d / "notes.txt").write_text("not a raster\n")
    (d / "junk.ckpt").write_text("not a checkpoint\n")
    _absurd_checkpoint(d / "absurd.ckpt")
    os.symlink(d / "ms.tif", d / "ms_link.tif")
    return d


def _absurd_checkpoint(path: Path) -> None:
    """A hash-valid checkpoint of the bundled model whose metadata claims width 10**7."""
    from engine.weights.checkpoint import load_checkpoint, save_checkpoint
    from engine.weights.model_zoo import default_model_id, model_path

    ckpt = load_checkpoint(model_path(default_model_id()))
    meta = {k: v for k, v in ckpt.metadata.items()
            if k not in ("format_version", "created", "engine_version")}
    meta["hparams"] = {**meta["hparams"], "width": 10**7}
    save_checkpoint(path, ckpt.state_dict, meta)


def _on_pan_grid(bands: int) -> Callable[[dict, str, Path], None]:
    def check(result: dict, log: str, out: Path) -> None:
        ds = gdal.Open(result["OUTPUT"])
        assert (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) == (128, 128, bands)
        assert ds.GetGeoTransform() == GT_PAN
        data = ds.ReadAsArray().astype(float)
        assert np.isfinite(data).all() and data.std() > 0
    return check


def _logs(pattern: str, then: Callable | None = None) -> Callable[[dict, str, Path], None]:
    def check(result: dict, log: str, out: Path) -> None:
        import re

        assert re.search(pattern, log), log
        if then is not None:
            then(result, log, out)
    return check


def _finite_output(min_fraction: float) -> Callable[[dict, str, Path], None]:
    """The output is mostly valid (not all nodata because of one bad pixel)."""
    def check(result: dict, log: str, out: Path) -> None:
        ds = gdal.Open(result["OUTPUT"])
        data = ds.ReadAsArray().astype(float)
        nodata = ds.GetRasterBand(1).GetNoDataValue()
        ok = np.isfinite(data) & (data != nodata if nodata is not None else True)
        assert ok.mean() >= min_fraction, ok.mean()
    return check


def _nodata_at(pixels: list[tuple[int, int]], then: Callable) -> Callable[[dict, str, Path], None]:
    """The output is nodata at the PAN pixels (row, col) under an infinite input value."""
    def check(result: dict, log: str, out: Path) -> None:
        ds = gdal.Open(result["OUTPUT"])
        data = ds.ReadAsArray().astype(float)
        nodata = ds.GetRasterBand(1).GetNoDataValue()
        for r, c in pixels:
            values = data[:, r, c]
            assert np.all(np.isnan(values) | (values == nodata)), (r, c, values, nodata)
        then(result, log, out)
    return check


def _device_used(device: str) -> Callable[[dict, str, Path], None]:
    def check(result: dict, log: str, out: Path) -> None:
        assert result["DEVICE_USED"] == device
        _on_pan_grid(4)(result, log, out)
    return check


def _negatives_kept(result: dict, log: str, out: Path) -> None:
    ds = gdal.Open(result["OUTPUT"])
    assert ds.GetRasterBand(1).DataType == gdal.GDT_Int16
    data = ds.ReadAsArray().astype(float)
    valid = data != ds.GetRasterBand(1).GetNoDataValue()
    assert (data[valid] < 0).mean() > 0.1  # the input's negative range survives


def _scores(keys: set[str]) -> Callable[[dict, str, Path], None]:
    def check(result: dict, log: str, out: Path) -> None:
        assert keys <= set(result) and all(np.isfinite(result[k]) for k in keys), result
    return check


@pytest.fixture(scope="module")
def zhengzhou(shared_data, tmp_path_factory) -> Path:
    """vhr-zhengzhou (ratio 4.015, extents 1.5 m apart) and a 256 x 256 PAN crop of it with
    the matching MS crop (same pixel sizes), for the slower deep model."""
    d = tmp_path_factory.mktemp("zhengzhou")
    src = shared_data / "vhr-zhengzhou"
    for name in ("pan.tif", "ms.tif"):
        os.symlink(src / name, d / name)
    gdal.Translate(str(d / "pan_crop.tif"), str(src / "pan.tif"), srcWin=[0, 0, 256, 256])
    gdal.Translate(str(d / "ms_crop.tif"), str(src / "ms.tif"), srcWin=[0, 0, 64, 64])
    return d


def _hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file, except the ``.aux.xml`` statistics caches that QGIS itself
    writes beside any raster it loads as a layer (its default contrast stretch computes a
    histogram that GDAL keeps in a PAM sidecar; QGIS's own algorithms do the same)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file() and not p.name.endswith(".aux.xml")}


def _leftovers(*folders: Path) -> list[str]:
    return [p.name for f in folders if f.is_dir() for p in f.iterdir()
            if "partial" in p.name or p.name.startswith(".report.")]


def _run(alg: str, params: dict, feedback=None) -> dict:
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    return processing.run(f"pantiny:{alg}", params, context=QgsProcessingContext(),
                          feedback=feedback or QgsProcessingFeedback())


class _Log:
    """A QgsProcessingFeedback that keeps every message."""

    def __new__(cls):
        from qgis.core import QgsProcessingFeedback

        class Log(QgsProcessingFeedback):
            def __init__(self):
                super().__init__()
                self.lines: list[str] = []

            def pushInfo(self, text):  # noqa: N802
                self.lines.append(text)

            def pushWarning(self, text):  # noqa: N802
                self.lines.append("WARNING " + text)

            def reportError(self, text, fatalError=False):  # noqa: N802
                self.lines.append("ERROR " + text)

            @property
            def text(self) -> str:
                return "\n".join(self.lines)

        return Log()


@dataclass
class Case:
    """One bad (or odd) input: algorithm, parameters (from the input and output folders),
    the message expected (regex), or a check of the result when it must succeed."""

    id: str
    alg: str
    params: Callable[[Path, Path], dict]
    message: str | None = None
    check: Callable[[dict, str, Path], None] | None = None
    outputs: tuple[str, ...] = field(default=())


def _pan_ms(d: Path, o: Path, ms: str = "ms.tif", **extra) -> dict:
    return {"PAN": str(d / "pan.tif"), "MS": str(d / ms), **extra}


def _classical(d, o, **extra):
    return {**_pan_ms(d, o), "METHOD": "MTF-GLP-HPM", "OUTPUT": str(o / "out.tif"), **extra}


def _deep(d, o, **extra):
    return {**_pan_ms(d, o), "OUTPUT": str(o / "out.tif"), "DEVICE": "cpu", **extra}


def _qnr(d, o, **extra):
    return {"FUSED": str(d / "fused.tif"), **_pan_ms(d, o), **extra}


def _reduced(d, o, **extra):
    return {**_pan_ms(d, o), "METHOD": "GSA", "BLOCK_SIZE": 8, **extra}


OVERWRITE = r"would overwrite (the input|a sidecar file).*Choose another file name"

CASES: list[Case] = [
    # -- 1. never overwrite an input ------------------------------------------------------
    Case("classical-output-is-pan", "pansharpen_classical",
         lambda d, o: _classical(d, o, OUTPUT=str(d / "pan.tif")), OVERWRITE + ".*OUTPUT"),
    Case("classical-output-is-ms-dotdot", "pansharpen_classical",
         lambda d, o: _classical(d, o, OUTPUT=f"{o}/../../{d.name}/./ms.tif"),
         r"OUTPUT .* would overwrite the input MS"),
    Case("classical-output-is-ms-symlink", "pansharpen_classical",
         lambda d, o: _classical(d, o, OUTPUT=str(d / "ms_link.tif")),
         r"would overwrite the input MS"),
    Case("classical-output-is-envi-header", "pansharpen_classical",
         lambda d, o: _classical(d, o, MS=str(d / "ms_envi"), OUTPUT=str(d / "ms_envi.hdr")),
         r"would overwrite a sidecar file \(.*ms_envi\.hdr\) of the input MS"),
    Case("deep-output-is-ms", "pansharpen",
         lambda d, o: _deep(d, o, OUTPUT=str(d / "ms.tif")), r"would overwrite the input MS"),
    Case("deep-output-is-pan-dot", "pansharpen",
         lambda d, o: _deep(d, o, OUTPUT=f"{d}/./pan.tif"), r"would overwrite the input PAN"),
    Case("qnr-report-is-fused", "evaluate_qnr",
         lambda d, o: _qnr(d, o, REPORT=str(d / "fused.tif")),
         r"REPORT .* would overwrite the input FUSED"),
    Case("qnr-report-is-ms", "evaluate_qnr",
         lambda d, o: _qnr(d, o, REPORT=f"{d}/../{d.name}/ms.tif"),
         r"REPORT .* would overwrite the input MS"),
    Case("reduced-report-is-pan", "evaluate_reduced",
         lambda d, o: _reduced(d, o, REPORT=str(d / "pan.tif")),
         r"REPORT .* would overwrite the input PAN"),
    Case("reduced-report-folder-missing", "evaluate_reduced",
         lambda d, o: _reduced(d, o, REPORT=str(o / "missing" / "r.json")),
         r"REPORT .* the folder .* does not exist"),
    Case("reduced-report-is-a-folder", "evaluate_reduced",
         lambda d, o: _reduced(d, o, REPORT=str(o)), r"REPORT .* is a folder"),
    Case("qnr-report-under-a-file", "evaluate_qnr",
         lambda d, o: _qnr(d, o, REPORT=str(d / "notes.txt" / "r.html")),
         r"REPORT .* the folder .*notes.txt does not exist"),
    # -- 2. parameters ------------------------------------------------------------------
    Case("deep-bands-commas-reordered", "pansharpen",
         lambda d, o: _deep(d, o, BANDS="4,3,2,1"),
         check=_logs(r"MS band 4 -> \w+, MS band 3 -> \w+, MS band 2", _on_pan_grid(4))),
    Case("deep-bands-semicolons", "pansharpen",
         lambda d, o: _deep(d, o, MS=str(d / "ms8.tif"), BANDS="2;3;5;7"),
         check=_logs(r"MS band 2 -> \w+, MS band 3 -> \w+, MS band 5", _on_pan_grid(4))),
    Case("deep-bands-list-of-strings", "pansharpen",
         lambda d, o: _deep(d, o, MS=str(d / "ms8.tif"), BANDS=["2", "3", " 5", "7"]),
         check=_logs(r"MS band 7 -> ", _on_pan_grid(4))),
    Case("deep-bands-not-a-number", "pansharpen",
         lambda d, o: _deep(d, o, BANDS="2,x,5,7"), r"BANDS: 'x' is not a band number"),
    Case("deep-bands-duplicate", "pansharpen",
         lambda d, o: _deep(d, o, MS=str(d / "ms8.tif"), BANDS="2,3,3,7"),
         r"BANDS: band 3 is given twice"),
    Case("deep-bands-out-of-range", "pansharpen",
         lambda d, o: _deep(d, o, MS=str(d / "ms8.tif"), BANDS="2 3 5 9"),
         r"BANDS: band 9 does not exist: the MS has 8 band\(s\), numbered 1 to 8"),
    Case("deep-bands-zero", "pansharpen",
         lambda d, o: _deep(d, o, BANDS="0,1,2,3"), r"band 0 does not exist: band numbers start"),
    Case("deep-bands-too-few", "pansharpen",
         lambda d, o: _deep(d, o, MS=str(d / "ms8.tif"), BANDS="2,3"),
         r"2 MS band\(s\) given \(2, 3\) but the model expects 4"),
    Case("deep-tile-size-too-large", "pansharpen",
         lambda d, o: _deep(d, o, TILE_SIZE=5000),
         r"TILE_SIZE must be a whole number from 64 to 4096, got 5000"),
    Case("deep-tile-size-not-a-number", "pansharpen",
         lambda d, o: _deep(d, o, TILE_SIZE="big"), r"TILE_SIZE must be a whole number .*'big'"),
    Case("deep-overlap-too-large-for-tile", "pansharpen",
         lambda d, o: _deep(d, o, TILE_SIZE=64, OVERLAP=32), r"larger than twice the overlap"),
    Case("deep-checkpoint-absurd-hparams", "pansharpen",
         lambda d, o: _deep(d, o, MODEL_FILE=str(d / "absurd.ckpt")),
         r"hyper-parameter width=10000000, which cannot match its stored tensors"),
    Case("deep-checkpoint-not-a-checkpoint", "pansharpen",
         lambda d, o: _deep(d, o, MODEL_FILE=str(d / "junk.ckpt")), r"checkpoint"),
    Case("qnr-block-size-too-small", "evaluate_qnr",
         lambda d, o: _qnr(d, o, BLOCK_SIZE=4), r"BLOCK_SIZE must be a whole number from 8 to 512"),
    Case("reduced-block-size-fraction", "evaluate_reduced",
         lambda d, o: _reduced(d, o, BLOCK_SIZE=32.5), r"BLOCK_SIZE must be a whole number .*32.5"),
    # -- 3. non-finite and signed values -----------------------------------------------
    Case("classical-inf-in-pan-and-ms", "pansharpen_classical",
         lambda d, o: _classical(d, o, PAN=str(d / "pan_inf.tif"), MS=str(d / "ms_inf.tif")),
         check=_logs(r"the PAN raster has 1 \+-inf value.*\n?.*the MS raster has 2 \+-inf",
                     _nodata_at([(10, 10), (21, 21), (37, 13)], _finite_output(0.9)))),
    Case("deep-inf-in-ms", "pansharpen",
         lambda d, o: _deep(d, o, PAN=str(d / "pan_inf.tif"), MS=str(d / "ms_inf.tif")),
         check=_logs(r"WARNING the MS raster has 2 \+-inf value\(s\): they were treated as "
                     r"nodata",
                     _nodata_at([(10, 10), (21, 21), (37, 13)], _finite_output(0.9)))),
    Case("qnr-inf-in-fused", "evaluate_qnr",
         lambda d, o: _qnr(d, o, FUSED=str(d / "fused_inf.tif")),
         check=_logs(r"the FUSED raster has 2 \+-inf", _scores(QNR_KEYS))),
    Case("reduced-inf-in-ms", "evaluate_reduced",
         lambda d, o: _reduced(d, o, PAN=str(d / "pan_inf.tif"), MS=str(d / "ms_inf.tif")),
         check=_logs(r"the MS raster has 2 \+-inf", _scores({"Q2N", "SAM", "ERGAS"}))),
    Case("deep-signed-negatives-kept", "pansharpen",
         lambda d, o: _deep(d, o, PAN=str(d / "pan_i16.tif"), MS=str(d / "ms_i16.tif")),
         check=_logs(r"negative values \(minimum -\d+\) in a signed data type: they are kept",
                     _negatives_kept)),
    Case("classical-signed-negatives-kept", "pansharpen_classical",
         lambda d, o: _classical(d, o, PAN=str(d / "pan_i16.tif"), MS=str(d / "ms_i16.tif"),
                                 METHOD="GSA"), check=_negatives_kept),
    Case("classical-byte-output-clipped-says-so", "pansharpen_classical",
         lambda d, o: _classical(d, o, DATA_TYPE="Byte"),
         check=_logs(r"WARNING \d+ output value\(s\) fell outside the range of the uint8 "
                     r"output \(0 below its minimum\) and were clipped")),
    # -- 4. grids -----------------------------------------------------------------------
    Case("classical-near-integer-ratio-resampled", "pansharpen_classical",
         lambda d, o: _classical(d, o, MS=str(d / "ms_ratio402.tif")),
         check=_logs(r"WARNING the MS pixel size is 4.0200 x 4.0200 times the PAN's, not "
                     r"exactly 4: the MS is resampled once", _on_pan_grid(4))),
    Case("deep-near-integer-ratio-resampled", "pansharpen",
         lambda d, o: _deep(d, o, MS=str(d / "ms_ratio402.tif")),
         check=_logs(r"resampled once \(cubic\) onto a grid of exactly 4 PAN pixels",
                     _on_pan_grid(4))),
    Case("reduced-near-integer-ratio-resampled", "evaluate_reduced",
         lambda d, o: _reduced(d, o, MS=str(d / "ms_ratio402.tif")),
         check=_logs(r"resampled once", _scores({"Q2N", "SAM", "ERGAS"}))),
    Case("classical-clearly-non-integer-ratio", "pansharpen_classical",
         lambda d, o: _classical(d, o, MS=str(d / "ms_ratio43.tif")),
         r"not an integer multiple .*ratio 4.3000; only ratios within 1% of an integer"),
    Case("deep-ratio-one", "pansharpen",
         lambda d, o: _deep(d, o, MS=str(d / "ms_ratio1.tif")), r"ratio 1\): it is already"),
    Case("classical-rotated-ms", "pansharpen_classical",
         lambda d, o: _classical(d, o, MS=str(d / "ms_rotated.tif")), r"MS raster is rotated"),
    Case("classical-ms-other-crs", "pansharpen_classical",
         lambda d, o: _classical(d, o, MS=str(d / "ms_utm34.tif")),
         r"different coordinate reference systems; reproject the MS"),
    Case("reduced-no-overlap", "evaluate_reduced",
         lambda d, o: _reduced(d, o, MS=str(d / "ms_far.tif")), r"do not overlap"),
    Case("qnr-fused-other-crs", "evaluate_qnr",
         lambda d, o: _qnr(d, o, FUSED=str(d / "fused_utm34.tif")),
         r"fused raster's coordinate reference system differs from the PAN's"),
    Case("qnr-fused-band-count", "evaluate_qnr",
         lambda d, o: _qnr(d, o, FUSED=str(d / "fused3.tif")),
         r"fused raster has 3 bands but the MS has 4"),
    Case("qnr-fused-not-on-pan-grid", "evaluate_qnr",
         lambda d, o: _qnr(d, o, FUSED=str(d / "ms.tif")), r"not on the PAN grid"),
    # -- other inputs a careful tester tries ------------------------------------------
    Case("classical-pan-has-three-bands", "pansharpen_classical",
         lambda d, o: _classical(d, o, PAN=str(d / "pan3.tif")),
         r"PAN must be a single-band panchromatic raster.*3 bands"),
    Case("deep-pan-has-three-bands", "pansharpen",
         lambda d, o: _deep(d, o, PAN=str(d / "pan3.tif")), r"single-band"),
    Case("reduced-ms-not-a-raster", "evaluate_reduced",
         lambda d, o: _reduced(d, o, MS=str(d / "notes.txt")), r"MS"),
    Case("qnr-missing-pan", "evaluate_qnr",
         lambda d, o: _qnr(d, o, PAN=str(d / "missing.tif")), r"PAN"),
    Case("classical-envi-ms-without-extension", "pansharpen_classical",
         lambda d, o: _classical(d, o, MS=str(d / "ms_envi")), check=_on_pan_grid(4)),
    Case("classical-pan-and-ms-same-file", "pansharpen_classical",
         lambda d, o: _classical(d, o, MS=str(d / "pan.tif")), r"ratio 1\): it is already"),
    Case("qnr-fused-is-the-pan", "evaluate_qnr",
         lambda d, o: _qnr(d, o, FUSED=str(d / "pan.tif")),
         r"fused raster has 1 bands but the MS has 4"),
    Case("deep-checkpoint-missing", "pansharpen",
         lambda d, o: _deep(d, o, MODEL_FILE=str(d / "missing.ckpt")), r"missing\.ckpt"),
    Case("deep-cuda-requested-without-gpu", "pansharpen",
         lambda d, o: _deep(d, o, DEVICE="cuda"),
         check=_logs(r"WARNING .*CPU", _device_used("cpu"))),
    Case("classical-output-vrt-refused", "pansharpen_classical",
         lambda d, o: _classical(d, o, OUTPUT=str(o / "out.vrt")),
         r"a VRT file only references other rasters"),
    Case("classical-bad-creation-option", "pansharpen_classical",
         lambda d, o: _classical(d, o, CREATION_OPTIONS="COMPRESS=ZIPPY"),
         r"COMPRESS=ZIPPY is not valid for GTiff; choose one of"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(provider, data, tmp_path, case):
    from qgis.core import QgsProcessingException

    out = tmp_path / "out"
    out.mkdir()
    before = _hashes(data)
    params = case.params(data, out)
    log = _Log()
    if case.message is not None:
        with pytest.raises(QgsProcessingException, match=case.message):
            _run(case.alg, params, log)
        assert not (out / "out.tif").exists()
    else:
        result = _run(case.alg, params, log)
        assert case.check is not None
        case.check(result, log.text, out)
    assert _hashes(data) == before
    assert _leftovers(data, out) == []


def test_zhengzhou_near_integer_ratio_classical_and_deep(provider, zhengzhou, tmp_path):
    """The real product with ratio 4.015 and extents 1.5 m apart pan-sharpens with both
    algorithms (warning about the resampling), output on the PAN grid; evaluate_qnr
    accepts the pair and the result."""
    before = _hashes(zhengzhou)
    pan = gdal.Open(str(zhengzhou / "pan.tif"))
    log = _Log()
    out = str(tmp_path / "classical.tif")
    _run("pansharpen_classical", {"PAN": str(zhengzhou / "pan.tif"),
                                  "MS": str(zhengzhou / "ms.tif"), "OUTPUT": out}, log)
    assert "WARNING the MS pixel size is 4.0151 x 4.0150 times the PAN's" in log.text
    fused = gdal.Open(out)
    assert (fused.RasterXSize, fused.RasterYSize, fused.RasterCount) == (800, 800, 4)
    assert fused.GetGeoTransform() == pan.GetGeoTransform()
    assert fused.GetProjection() == pan.GetProjection()
    data = fused.ReadAsArray()
    assert (data != fused.GetRasterBand(1).GetNoDataValue()).mean() > 0.99
    scores = _run("evaluate_qnr", {"FUSED": out, "PAN": str(zhengzhou / "pan.tif"),
                                   "MS": str(zhengzhou / "ms.tif")})
    assert 0.5 < scores["QNR"] <= 1.0

    log = _Log()
    out = str(tmp_path / "deep.tif")
    _run("pansharpen", {"PAN": str(zhengzhou / "pan_crop.tif"),
                        "MS": str(zhengzhou / "ms_crop.tif"), "DEVICE": "cpu",
                        "OUTPUT": out}, log)
    assert "resampled once (cubic) onto a grid of exactly 4 PAN pixels" in log.text
    crop, deep = gdal.Open(str(zhengzhou / "pan_crop.tif")), gdal.Open(out)
    assert (deep.RasterXSize, deep.RasterYSize, deep.RasterCount) == (256, 256, 4)
    assert deep.GetGeoTransform() == crop.GetGeoTransform()
    # the deep result follows the classical one (same scene, same grid)
    a = deep.ReadAsArray().astype(float)
    b = fused.ReadAsArray(0, 0, 256, 256).astype(float)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9
    assert _hashes(zhengzhou) == before
    assert _leftovers(zhengzhou, tmp_path) == []
    # the resampled MS was a virtual raster in memory, gone after each run
    assert not [n for n in (gdal.ReadDir("/vsimem/") or []) if n.startswith("pantiny-")]


def test_sigterm_during_qgis_process_leaves_no_partial_output(provider, qgis_process_env,
                                                              tmp_path):
    """SIGTERM while the output is being written: the run stops with a message and the
    hidden .partial file is removed (it used to stay, zero bytes, in the output folder)."""
    rng = np.random.default_rng(3)
    pan, ms = _scene(rng, size=1024)
    src = tmp_path / "in"
    src.mkdir()
    _write(src / "pan.tif", pan)
    _write(src / "ms.tif", ms, GT_MS)
    before = _hashes(src)
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(
        ["/usr/bin/qgis_process.bin", "run", "pantiny:pansharpen", f"--PAN={src / 'pan.tif'}",
         f"--MS={src / 'ms.tif'}", "--DEVICE=cpu", "--TILE_SIZE=128", "--OVERLAP=16",
         f"--OUTPUT={out / 'fused.tif'}"],
        env=qgis_process_env, cwd=qgis_process_env["HOME"], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 150
        while proc.poll() is None and time.monotonic() < deadline:
            if _leftovers(out):
                break
            time.sleep(0.1)
        assert proc.poll() is None, "qgis_process ended before it could be terminated"
        assert _leftovers(out), "no partial output appeared in time"
        time.sleep(0.5)  # well inside the tile loop
        proc.send_signal(signal.SIGTERM)
        text, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert "stopped by SIGTERM: the partial output was removed" in text, text[-2000:]
    assert list(out.iterdir()) == []
    assert _hashes(src) == before


QGIS_PROCESS_CASES = [
    ("output-is-pan", ["pantiny:pansharpen_classical", "--PAN={d}/pan.tif", "--MS={d}/ms.tif",
                       "--OUTPUT={o}/../../{dn}/./pan.tif"],
     r"OUTPUT .* would overwrite the input PAN"),
    ("report-is-ms", ["pantiny:evaluate_reduced", "--PAN={d}/pan.tif", "--MS={d}/ms.tif",
                      "--BLOCK_SIZE=8", "--REPORT={d}/ms.tif"],
     r"REPORT .* would overwrite the input MS"),
    ("bands-not-a-number", ["pantiny:pansharpen", "--PAN={d}/pan.tif", "--MS={d}/ms8.tif",
                            "--BANDS=2,3,x,7", "--OUTPUT={o}/out.tif"],
     r"BANDS: 'x' is not a band number"),
    ("tile-size-range", ["pantiny:pansharpen", "--PAN={d}/pan.tif", "--MS={d}/ms.tif",
                         "--TILE_SIZE=8", "--OUTPUT={o}/out.tif"],
     r"TILE_SIZE must be a whole number from 64 to 4096, got 8"),
]


@pytest.mark.parametrize("args,message", [c[1:] for c in QGIS_PROCESS_CASES],
                         ids=[c[0] for c in QGIS_PROCESS_CASES])
def test_bad_input_through_qgis_process(provider, data, tmp_path, run_qgis_process, args,
                                        message):
    import re

    out = tmp_path / "out"
    out.mkdir()
    before = _hashes(data)
    done = run_qgis_process("run", *(a.format(d=data, o=out, dn=data.name) for a in args))
    assert done.returncode != 0
    assert re.search(message, done.stdout + done.stderr), done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert _hashes(data) == before
    assert list(out.iterdir()) == []
    assert _leftovers(data) == []
