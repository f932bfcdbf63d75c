"""Torch datasets of pan-sharpening samples (training and evaluation).

Every sample is a dict of float32 tensors in model units (about [0, 1]):

- ``ms``  (C, h, w): the low-resolution MS;
- ``lms`` (C, H, W): the MS interpolated onto the PAN grid (``bms`` in PanTiny);
- ``pan`` (1, H, W);
- ``gt``  (C, H, W): the reference, absent in full-resolution (FR) files;

plus ``dataset`` (str, the dataset's name) and ``index`` (int, the sample's row).

Readers:

* :class:`H5PanDataset` reads the PanCollection HDF5 layout (keys ``gt``, ``ms``, ``lms``,
  ``pan``; N x C x H x W; Deng et al., IEEE GRSM 2022) and the MATLAB ``.mat`` files of the same
  lineage (v5 through ``scipy.io.loadmat``, v7.3 through h5py; N x H x W x C).
* :class:`TifFolderDataset` reads the PanTiny TIF folders (the code of arXiv 2507.15059) and makes
  the LR MS on the fly, as the PanTiny loader does.

``h5py``, ``scipy.io`` and the raster reader are imported lazily, inside the classes.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset, WeightedRandomSampler

from ..errors import DependencyError, InputError
from ..filters import imresize_bicubic

KEYS = ("gt", "ms", "lms", "pan")
MATLAB_73_MAGIC = b"MATLAB 7.3 MAT-file"


def _decode(value: Any) -> Any:
    """HDF5 attribute -> plain Python (bytes -> str, JSON strings kept as str)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        return [_decode(v) for v in value.tolist()] if value.dtype.kind in "OSU" else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def resolve_scale(scale: float | str | None, attrs: dict[str, Any], path: str | os.PathLike,
                  sample_max: float | None = None) -> float:
    """The divisor that maps stored values to model units.

    ``scale``: a number, a sensor name (``'wv3'`` -> 2047 = 2^bits - 1) or None.  With
    None the file decides: attribute ``img_range`` / ``max_value`` (files written by
    :mod:`training.build_datasets` carry ``img_range = 1`` because they are already
    scaled).  A file without such an attribute needs an explicit ``scale``.
    """
    if scale is not None:
        if isinstance(scale, str):
            from ..sensors import get_sensor

            bits = get_sensor(scale).bits
            if bits is None:
                raise InputError(f"sensor {scale!r} has no bit depth; pass a numeric scale")
            return float(2 ** bits - 1)
        value = float(scale)
        if not math.isfinite(value) or value <= 0:
            raise InputError(f"the scale must be a positive number, got {scale}")
        return value
    for key in ("img_range", "max_value", "max_val"):
        if key in attrs:
            return float(attrs[key])
    hint = "" if sample_max is None else f" (its largest sample value is {sample_max:g})"
    raise InputError(
        f"{os.fspath(path)} does not say how its values are scaled{hint}; pass scale= the "
        "sensor's maximum (2047 for 11-bit WorldView/QuickBird, 1023 for GaoFen-2) or a "
        "sensor name")


class H5PanDataset(Dataset):
    """PanCollection-style HDF5 (or MATLAB .mat) pan-sharpening samples.

    ``path``: ``.h5``/``.hdf5`` (PanCollection layout, N x C x H x W, ``pan`` N x 1 x H x W)
    or ``.mat`` (v5 or v7.3; MATLAB order N x H x W x C, ``pan`` N x H x W).  The
    layout is detected from the shapes (``layout='auto'``) or forced (``'nchw'`` /
    ``'nhwc'``).  ``scale``: see :func:`resolve_scale`; values are divided by it.
    ``bands``: 0-based band indices to keep (e.g. ``(1, 2, 4, 6)`` for the B, G, R, NIR of
    an 8-band WorldView file).  Files without ``gt`` (full-resolution) are allowed;
    ``lms`` may be absent too, it is then unavailable (KeyError at access).
    ``in_memory``: load everything at once (default: True for .mat v5 and for HDF5 files
    under 256 MiB, else read sample by sample, one file handle per worker process).
    """

    def __init__(self, path: str | os.PathLike, scale: float | str | None = None,
                 name: str | None = None, bands: Sequence[int] | None = None,
                 layout: str = "auto", in_memory: bool | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"dataset file {self.path} does not exist")
        if layout not in ("auto", "nchw", "nhwc"):
            raise InputError(f"layout must be 'auto', 'nchw' or 'nhwc', got {layout!r}")
        self.bands = None if bands is None else [int(b) for b in bands]
        self._h5 = None            # per-process handle (lazy)
        self._arrays: dict[str, np.ndarray] | None = None
        self._matlab73 = self._is_matlab73(self.path)
        self._is_hdf5 = self._matlab73 or self._is_hdf5_file(self.path)
        if self._is_hdf5:
            h5py = _import_h5py()
            with h5py.File(self.path, "r") as f:
                self.keys = [k for k in KEYS if k in f]
                shapes = {k: tuple(f[k].shape) for k in self.keys}
                self.attrs = {k: _decode(v) for k, v in f.attrs.items()}
                size = sum(f[k].size * f[k].dtype.itemsize for k in self.keys)
                sample_max = None
                if scale is None and not any(k in self.attrs for k in ("img_range", "max_value", "max_val")):
                    sample_max = float(np.max(f[self.keys[0]][0]))
            if self._matlab73:   # h5py sees MATLAB arrays with reversed axes
                shapes = {k: s[::-1] for k, s in shapes.items()}
            load = size < 256 * 2 ** 20 if in_memory is None else in_memory
        else:
            arrays = self._load_mat_v5(self.path)
            self.keys = [k for k in KEYS if k in arrays]
            shapes = {k: arrays[k].shape for k in self.keys}
            self.attrs = {}
            sample_max = float(np.max(arrays[self.keys[0]][0])) if self.keys else None
            self._arrays = arrays
            load = True
        if "pan" not in self.keys or "ms" not in self.keys:
            raise InputError(f"{self.path} lacks the 'pan' or 'ms' key (found {self.keys}); "
                             "expected PanCollection keys gt, ms, lms, pan")
        self.layout = self._detect_layout(shapes) if layout == "auto" else layout
        self.scale = resolve_scale(scale, self.attrs, self.path, sample_max)
        self.name = name or str(self.attrs.get("dataset") or self.path.stem)
        self._n = shapes["pan"][0]
        for k in self.keys:
            if shapes[k][0] != self._n:
                raise InputError(f"{self.path}: key {k!r} has {shapes[k][0]} samples, pan has "
                                 f"{self._n}")
        if load and self._arrays is None:
            h5py = _import_h5py()
            with h5py.File(self.path, "r") as f:
                self._arrays = {k: f[k][()] for k in self.keys}
        if self._arrays is not None and self._matlab73:
            self._arrays = {k: np.transpose(v) for k, v in self._arrays.items()}
        # shapes after layout normalisation
        first = self._sample(0)
        self.close()    # no handle inherited by forked DataLoader workers
        self.band_count = first["ms"].shape[0]
        self.ratio = first["pan"].shape[-1] // first["ms"].shape[-1]
        self.has_gt = "gt" in self.keys

    # ------------------------------------------------------------------ file type
    @staticmethod
    def _is_matlab73(path: Path) -> bool:
        with open(path, "rb") as fh:
            return fh.read(len(MATLAB_73_MAGIC)) == MATLAB_73_MAGIC

    @staticmethod
    def _is_hdf5_file(path: Path) -> bool:
        with open(path, "rb") as fh:
            head = fh.read(8)
        return head == b"\x89HDF\r\n\x1a\n"

    @staticmethod
    def _load_mat_v5(path: Path) -> dict[str, np.ndarray]:
        try:
            from scipy import io as sio
        except ImportError as exc:  # pragma: no cover
            raise DependencyError("reading .mat files needs scipy") from exc
        try:
            raw = sio.loadmat(path)
        except (ValueError, NotImplementedError, OSError) as exc:
            raise InputError(f"{path} is neither HDF5 nor a MATLAB v5 .mat file: {exc}") from exc
        return {k: v for k, v in raw.items() if k in KEYS}

    def _detect_layout(self, shapes: dict[str, tuple[int, ...]]) -> str:
        pan = shapes["pan"]
        if len(pan) == 3:
            return "nhwc"
        if len(pan) != 4:
            raise InputError(f"{self.path}: 'pan' must be 3-D or 4-D, got shape {pan}")
        if pan[1] == 1 and pan[3] != 1:
            return "nchw"
        if pan[3] == 1 and pan[1] != 1:
            return "nhwc"
        ref = shapes.get("lms") or shapes.get("gt")
        if ref is not None:   # 1 x 1 PAN: decide from the MS-like arrays
            return "nchw" if tuple(ref[2:]) == tuple(pan[2:]) else "nhwc"
        return "nchw"

    # ------------------------------------------------------------------ access
    def _handle(self):
        if self._h5 is None:
            h5py = _import_h5py()
            self._h5 = h5py.File(self.path, "r")
        return self._h5

    def _raw(self, key: str, index: int) -> np.ndarray:
        if self._arrays is not None:
            return self._arrays[key][index]
        ds = self._handle()[key]
        if self._matlab73:
            return np.transpose(ds[..., index])
        return ds[index]

    def _sample(self, index: int) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for key in self.keys:
            a = np.asarray(self._raw(key, index))
            if key == "pan":
                if a.ndim == 2:
                    a = a[None]
                elif self.layout == "nhwc":
                    a = np.moveaxis(a, -1, 0)
            else:
                if a.ndim == 2:
                    a = a[None]
                elif self.layout == "nhwc":
                    a = np.moveaxis(a, -1, 0)
                if self.bands is not None:
                    if max(self.bands) >= a.shape[0]:
                        raise InputError(f"{self.path}: band indices {self.bands} exceed the "
                                         f"{a.shape[0]} bands of {key!r}")
                    a = a[self.bands]
            out[key] = a
        return out

    def __len__(self) -> int:
        return int(self._n)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        raw = self._sample(index)
        sample: dict[str, Any] = {
            k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32) / np.float32(self.scale))
            for k, v in raw.items()
        }
        sample["dataset"] = self.name
        sample["index"] = int(index)
        return sample

    def __getstate__(self) -> dict:   # open handles do not pickle (DataLoader workers)
        state = self.__dict__.copy()
        state["_h5"] = None
        return state

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass

    def attr_json(self, key: str, default: Any = None) -> Any:
        """An attribute that holds JSON text, decoded (``default`` when absent)."""
        if key not in self.attrs:
            return default
        val = self.attrs[key]
        return json.loads(val) if isinstance(val, str) else val


def _import_h5py():
    try:
        import h5py
    except ImportError as exc:
        raise DependencyError("reading HDF5 datasets needs h5py (pip install h5py)") from exc
    return h5py


def _natural_key(name: str) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))


PILLOW_PRECISION_BITS = 32 - 8 - 2   # Pillow's fixed-point precision for 8-bit images


def _pillow_cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    ax = np.abs(x)
    near = ((a + 2.0) * ax - (a + 3.0)) * ax * ax + 1.0
    far = (((ax - 5.0) * ax + 8.0) * ax - 4.0) * a
    return np.where(ax < 1.0, near, np.where(ax < 2.0, far, 0.0))


def _pillow_coefficients(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Source indices ``(out, k)`` and normalised weights of Pillow's bicubic resampling
    along one axis (``precompute_coeffs`` of Pillow's ``Resample.c``): support 2 widened by
    the shrink factor, pixel-centre alignment, window clipped at the borders and the
    weights renormalised there."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 2.0 * filterscale
    ksize = int(math.ceil(support)) * 2 + 1
    centers = (np.arange(out_size) + 0.5) * scale
    xmin = np.maximum(np.trunc(centers - support + 0.5), 0).astype(np.int64)
    xmax = np.minimum(np.trunc(centers + support + 0.5), in_size).astype(np.int64)
    taps = np.arange(ksize)
    w = _pillow_cubic((taps[None] + xmin[:, None] - centers[:, None] + 0.5) / filterscale)
    w[taps[None] >= (xmax - xmin)[:, None]] = 0.0
    total = w.sum(axis=1, keepdims=True)
    w = np.divide(w, total, out=np.zeros_like(w), where=total != 0)
    idx = np.minimum(xmin[:, None] + taps[None], in_size - 1)
    return idx, w


def pillow_bicubic_resize(img: np.ndarray, out_h: int, out_w: int,
                          quantize: bool = True) -> np.ndarray:
    """Pillow's ``Image.resize((out_w, out_h), BICUBIC)`` of a bands-first image.

    Two separable passes, horizontal first, as Pillow does.  With ``quantize`` (8-bit
    images: values 0..255) the weights are Pillow's 22-bit fixed-point coefficients and
    every pass rounds and clips to 0..255, which reproduces Pillow's result exactly for
    the 'L', 'RGB' and 'CMYK' modes ('RGBA' is resized premultiplied by alpha in Pillow,
    which is not reproduced).  ``quantize=False`` keeps floats.  Returns float64.
    """
    arr = np.asarray(img, dtype=np.float64)
    for axis, n_out in ((-1, int(out_w)), (-2, int(out_h))):
        n_in = arr.shape[axis]
        if n_in == n_out:
            continue
        idx, w = _pillow_coefficients(n_in, n_out)
        moved = np.moveaxis(arr, axis, -1)[..., idx]          # (..., out, k)
        if quantize:
            one = 1 << PILLOW_PRECISION_BITS
            k = np.where(w < 0, np.trunc(w * one - 0.5), np.trunc(w * one + 0.5)).astype(np.int64)
            acc = np.einsum("...nk,nk->...n", moved.astype(np.int64), k) + (one >> 1)
            out = np.clip(acc >> PILLOW_PRECISION_BITS, 0, 255).astype(np.float64)
        else:
            out = np.einsum("...nk,nk->...n", moved, w)
        arr = np.moveaxis(out, -1, axis)
    return arr


class TifFolderDataset(Dataset):
    """PanTiny TIF folders: ``<root>/ms/<n>.tif`` (the GT, 128 x 128 x 4, 8 bit) and
    ``<root>/pan/<n>.tif`` (128 x 128, 8 bit); e.g. ``root = WV2_data/train128``.

    The LR MS is made on the fly as in the PanTiny/Pan-Mamba loader (the code published
    with arXiv 2507.15059): ``ms`` = Pillow bicubic x1/``ratio`` of the GT (antialiased:
    the kernel widens with the shrink factor), ``lms`` = Pillow bicubic x``ratio`` of ``ms``.
    ``resize='pillow'`` (default) reproduces Pillow's arithmetic exactly
    (:func:`pillow_bicubic_resize`: 22-bit fixed-point weights, horizontal pass first,
    8-bit rounding after each pass, window clipped and renormalised at the borders), so
    the samples equal those of the authors' loader without needing Pillow.
    ``resize='matlab'`` uses :func:`engine.filters.imresize_bicubic` (MATLAB ``imresize``:
    same Keys kernel a = -0.5 and placement, mirrored borders), rounded once per resize
    when ``quantize``: it differs from Pillow by at most one 8-bit level inside the image
    and a few levels on the outermost pixels.  Values are divided by ``max_value`` (255,
    ``ToTensor``).  FR folders (``ms`` holding the native LR MS, no GT) are read with
    ``full_resolution=True``: ``ms`` is the file, ``lms`` its bicubic x``ratio``.
    4-band TIFs that GDAL sees as RGBA are read raw (the NIR is data, not alpha); note that
    Pillow itself resizes RGBA images premultiplied by alpha, which is not reproduced.

    Rasters are read with :mod:`engine.io.raster_io` (GDAL), imported lazily.
    """

    def __init__(self, root: str | os.PathLike, name: str | None = None, ratio: int = 4,
                 quantize: bool = True, full_resolution: bool = False,
                 max_value: float = 255.0, resize: str = "pillow") -> None:
        if resize not in ("pillow", "matlab"):
            raise InputError(f"resize must be 'pillow' or 'matlab', got {resize!r}")
        self.resize = resize
        self.root = Path(root)
        ms_dir, pan_dir = self.root / "ms", self.root / "pan"
        if not ms_dir.is_dir() or not pan_dir.is_dir():
            raise InputError(f"{self.root} must contain the folders 'ms' and 'pan' "
                             "(PanTiny layout <set>/train128/{ms,pan}/<n>.tif)")
        exts = (".tif", ".tiff", ".TIF", ".TIFF")
        ms_files = {p.name: p for p in ms_dir.iterdir() if p.suffix in exts}
        pan_files = {p.name: p for p in pan_dir.iterdir() if p.suffix in exts}
        common = sorted(set(ms_files) & set(pan_files), key=_natural_key)
        missing = sorted(set(ms_files) ^ set(pan_files))
        if missing:
            raise InputError(f"{self.root}: files without a partner in ms/ or pan/: "
                             f"{missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if not common:
            raise InputError(f"{self.root}: no TIF files in ms/ and pan/")
        self.files = [(ms_files[n], pan_files[n]) for n in common]
        self.name = name or (self.root.parent.name if self.root.name.lower().startswith(("train", "test")) else self.root.name)
        self.ratio = int(ratio)
        self.quantize = bool(quantize)
        self.full_resolution = bool(full_resolution)
        self.max_value = float(max_value)
        self.has_gt = not self.full_resolution
        first = self._read(self.files[0][0])
        self.band_count = first.shape[0]

    @staticmethod
    def _read(path: Path) -> np.ndarray:
        """Raw values ``(C, H, W)`` float64.  Masks are ignored on purpose: a 4-band 8-bit
        TIF is often tagged RGBA, and GDAL would then treat the NIR band as an alpha mask."""
        from ..io import raster_io   # lazy: GDAL only when TIFs are actually read

        with raster_io.RasterReader(os.fspath(path), "TIF") as reader:
            w, h = reader.info.width, reader.info.height
            data, _ = reader.read_with_mask(0, 0, w, h, out_dtype=np.float64)
        return data

    def _resize(self, img: np.ndarray, scale: float) -> np.ndarray:
        h, w = img.shape[-2:]
        out_h, out_w = int(round(h * scale)), int(round(w * scale))
        if self.resize == "pillow":
            return pillow_bicubic_resize(img, out_h, out_w, quantize=self.quantize)
        out = imresize_bicubic(img, scale)
        if self.quantize:
            out = np.clip(np.rint(out), 0.0, self.max_value)
        return out

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, Any]:
        ms_path, pan_path = self.files[index]
        ms_file = self._read(ms_path)
        pan = self._read(pan_path)[:1]
        if self.full_resolution:
            gt = None
            ms = ms_file
        else:
            gt = ms_file
            h, w = gt.shape[-2:]
            if h % self.ratio or w % self.ratio:
                raise InputError(f"{ms_path}: GT size {h}x{w} is not a multiple of the ratio "
                                 f"{self.ratio}")
            ms = self._resize(gt, 1.0 / self.ratio)
        lms = self._resize(ms, float(self.ratio))
        if lms.shape[-2:] != pan.shape[-2:]:
            raise InputError(f"{pan_path}: PAN {pan.shape[-2:]} does not match the MS "
                             f"upsampled x{self.ratio} {lms.shape[-2:]}")
        d = np.float32(self.max_value)
        sample: dict[str, Any] = {
            "ms": torch.from_numpy((ms / d).astype(np.float32)),
            "lms": torch.from_numpy((lms / d).astype(np.float32)),
            "pan": torch.from_numpy((pan / d).astype(np.float32)),
        }
        if gt is not None:
            sample["gt"] = torch.from_numpy((gt / d).astype(np.float32))
        sample["dataset"] = self.name
        sample["index"] = int(index)
        return sample


def concat_datasets(datasets: Sequence[Dataset], balanced: bool = False,
                    num_samples: int | None = None,
                    generator: torch.Generator | None = None
                    ) -> tuple[ConcatDataset, WeightedRandomSampler | None]:
    """Concatenate datasets (multiple-in-one training, arXiv 2507.15059).

    ``balanced=False``: plain concatenation, uniform over samples (as in the paper);
    the sampler is None (shuffle in the DataLoader).  ``balanced=True``: a
    :class:`WeightedRandomSampler` (with replacement) that draws each dataset with equal
    probability (every sample of dataset ``i`` weighs ``1 / len(dataset_i)``);
    ``num_samples`` defaults to the total length, i.e. one "epoch" has as many draws as
    the concatenation has samples.
    """
    if not datasets:
        raise InputError("no dataset to concatenate")
    lengths = [len(d) for d in datasets]
    if any(n == 0 for n in lengths):
        raise InputError(f"empty dataset in the list (lengths {lengths})")
    concat = ConcatDataset(list(datasets))
    if not balanced:
        return concat, None
    weights = balanced_weights(lengths)
    sampler = WeightedRandomSampler(weights, num_samples or sum(lengths), replacement=True,
                                    generator=generator)
    return concat, sampler


def balanced_weights(lengths: Sequence[int]) -> torch.Tensor:
    """Per-sample weights that give every dataset the same total weight (1/k each)."""
    k = len(lengths)
    return torch.cat([torch.full((n,), 1.0 / (k * n), dtype=torch.float64) for n in lengths])


class FrScene:
    """A full-resolution test scene written by ``training.build_datasets`` (or any
    PanCollection-style FR file with one sample): scaled ``pan`` (H, W), ``ms`` (C, h, w),
    ``lms`` (C, H, W), ``valid`` (H, W) bool, and the sensor facts needed by the FR
    indices (``ratio``, ``ms_gnyq``, ``pan_gnyq``) from the file attributes.
    """

    def __init__(self, path: str | os.PathLike, scale: float | str | None = None,
                 ms_gnyq: Sequence[float] | None = None, pan_gnyq: float | None = None) -> None:
        ds = H5PanDataset(path, scale=scale)
        if len(ds) != 1:
            raise InputError(f"{path}: a full-resolution scene file holds one sample, found "
                             f"{len(ds)}")
        sample = ds._sample(0)
        self.path = Path(path)
        self.name = str(ds.attrs.get("source_scene") or self.path.stem)
        self.dataset = ds.name
        self.ratio = ds.ratio
        self.pan = sample["pan"][0].astype(np.float64) / ds.scale
        self.ms = sample["ms"].astype(np.float64) / ds.scale
        if "lms" not in sample:
            raise InputError(f"{path}: no 'lms' key (the MS on the PAN grid)")
        self.lms = sample["lms"].astype(np.float64) / ds.scale
        self.valid = np.ones(self.pan.shape, dtype=bool)
        if ds._is_hdf5:
            h5py = _import_h5py()
            with h5py.File(self.path, "r") as f:
                if "valid" in f:
                    self.valid = np.asarray(f["valid"][0], dtype=bool)
        attr_gnyq = ds.attr_json("ms_gnyq")
        self.ms_gnyq = tuple(ms_gnyq if ms_gnyq is not None else (attr_gnyq or (0.3,) * self.ms.shape[0]))
        pg = ds.attrs.get("pan_gnyq")
        self.pan_gnyq = float(pan_gnyq if pan_gnyq is not None else (pg if pg is not None else 0.15))
        self.attrs = ds.attrs
        ds.close()
