"""Input scaling of PAN and MS values into the range the models were trained on.

The project's training and inference scaling is ``"percentile99"`` (products of any bit
depth reach about [0, 1]; PanCollection, Deng et al., IEEE GRSM 2022, divides by a fixed
DN range instead): the MS is divided by the 99th percentile of its valid pixels computed
**once over the whole image**, jointly over all used bands (one divisor, so band ratios
are kept), and the PAN by its own 99th percentile.  Never compute it per tile: per-tile
statistics cause seams.  Checkpoints and datasets store the *recipe*
(``{"mode": "percentile", "percentile": 99.0, "joint_bands": true}``); the fitted divisors
belong to one image and are stored with that image (dataset attributes, output metadata).

Modes:

* ``percentile``: divisors fitted on the image (:meth:`Scaling.fit`).
* ``fixed``: given divisors (e.g. 2047 for 11-bit DN, 255 for 8-bit products).
* ``none``: divisor 1 (data already scaled).

Pure numpy; no torch, no GDAL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal, Sequence

import numpy as np

from ..errors import InputError

Mode = Literal["percentile", "fixed", "none"]
Kind = Literal["ms", "pan"]

DEFAULT_PERCENTILE = 99.0
#: Values used to estimate a percentile; larger inputs are subsampled on a regular grid.
DEFAULT_MAX_SAMPLES = 4_000_000


def _strided_values(array: np.ndarray, valid: np.ndarray | None, max_samples: int) -> np.ndarray:
    """Finite (and valid) values of ``array`` on a regular pixel grid of about
    ``max_samples`` values (all bands of a sampled pixel are kept together)."""
    arr = np.asarray(array)
    if arr.ndim == 0 or arr.size == 0:
        raise InputError("cannot compute a scale from an empty array")
    if arr.ndim == 1:
        arr = arr[None, None, :]
    elif arr.ndim == 2:
        arr = arr[None]
    elif arr.ndim > 3:
        arr = arr.reshape((-1,) + arr.shape[-2:])
    bands, height, width = arr.shape
    mask = None
    if valid is not None:
        mask = np.asarray(valid, dtype=bool)
        mask = mask.reshape((-1,) + mask.shape[-2:]) if mask.ndim >= 2 else mask[None, None]
        if mask.shape[-2:] != arr.shape[-2:] or mask.shape[0] not in (1, bands):
            raise InputError(
                f"the valid mask {np.shape(valid)} does not match the image {np.shape(array)}")
    # Regular grid subsampling: the same step along both axes keeps it isotropic and
    # never aliases onto a single column (a flat stride of W would).
    step = max(1, math.ceil(math.sqrt(bands * height * width / max(int(max_samples), 1))))
    sub = arr[:, ::step, ::step]
    sub_mask = np.isfinite(sub)
    if mask is not None:
        sub_mask &= mask[:, ::step, ::step]
    return np.asarray(sub[sub_mask], dtype=np.float64)


def compute_scale(array: np.ndarray, valid: np.ndarray | None = None,
                  percentile: float = DEFAULT_PERCENTILE,
                  max_samples: int = DEFAULT_MAX_SAMPLES) -> float:
    """The ``percentile``-th percentile of the valid, finite values of ``array``.

    ``array`` is ``(H, W)`` or ``(C, H, W)``; all bands are pooled (joint scaling).
    ``valid`` is a boolean mask ``(H, W)`` (applied to every band) or of the array's
    shape.  Inputs with more than ``max_samples`` values are subsampled on a regular
    pixel grid (deterministic).  Compute it once per image, never per tile.  Raises
    :class:`InputError` when no valid value is left or the percentile is not > 0.
    """
    if not 0.0 < float(percentile) <= 100.0:
        raise InputError(f"the percentile must lie in (0, 100], got {percentile}")
    values = _strided_values(array, valid, max_samples)
    if values.size == 0:
        raise InputError(
            "no valid pixel to compute the input scaling from: the image is all nodata or "
            "non-finite; check the nodata value or the valid mask")
    scale = float(np.percentile(values, float(percentile)))
    if not math.isfinite(scale) or scale <= 0.0:
        raise InputError(
            f"the {percentile:g}th percentile of the valid pixels is {scale:g}; a percentile "
            "scaling needs positive data. Use a fixed divisor (mode 'fixed') instead")
    return scale


def _as_scale(value: Any) -> float | tuple[float, ...] | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple, np.ndarray)):
        out = tuple(float(v) for v in np.ravel(value))
        return out[0] if len(out) == 1 else out
    return float(value)


@dataclass(frozen=True)
class Scaling:
    """How raw PAN/MS values are mapped to model units: ``scaled = raw / divisor``.

    ``ms_scale`` is one divisor (joint over bands) or one per band (``joint_bands``
    False); ``pan_scale`` one divisor.  ``None`` until fitted (percentile mode).
    """

    mode: Mode = "percentile"
    percentile: float = DEFAULT_PERCENTILE
    joint_bands: bool = True
    ms_scale: float | tuple[float, ...] | None = None
    pan_scale: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("percentile", "fixed", "none"):
            raise InputError(f"unknown scaling mode {self.mode!r}; use 'percentile', "
                             "'fixed' or 'none'")
        for name in ("ms_scale", "pan_scale"):
            val = getattr(self, name)
            if val is not None:
                vals = val if isinstance(val, tuple) else (val,)
                if not all(math.isfinite(v) and v > 0 for v in vals):
                    raise InputError(f"{name} must be positive, got {val}")

    # ------------------------------------------------------------------ (de)serialise
    def recipe(self) -> dict:
        """The image-independent part, as stored in checkpoints."""
        if self.mode == "percentile":
            return {"mode": "percentile", "percentile": float(self.percentile),
                    "joint_bands": bool(self.joint_bands)}
        if self.mode == "fixed":
            return {"mode": "fixed", "ms_scale": _json_scale(self.ms_scale),
                    "pan_scale": _json_scale(self.pan_scale)}
        return {"mode": "none"}

    def to_dict(self) -> dict:
        """Recipe plus the fitted divisors (when known); JSON-serialisable."""
        out = self.recipe()
        if self.mode == "percentile" and self.fitted:
            out["ms_scale"] = _json_scale(self.ms_scale)
            out["pan_scale"] = _json_scale(self.pan_scale)
        return out

    @classmethod
    def from_dict(cls, d: dict | None) -> "Scaling":
        """Inverse of :meth:`to_dict`/:meth:`recipe`; ``None`` or ``{}`` gives the default."""
        if not d:
            return cls()
        if not isinstance(d, dict):
            raise InputError(f"a scaling must be a mapping, got {type(d).__name__}")
        mode = d.get("mode", "percentile")
        return cls(mode=mode, percentile=float(d.get("percentile", DEFAULT_PERCENTILE)),
                   joint_bands=bool(d.get("joint_bands", True)),
                   ms_scale=_as_scale(d.get("ms_scale")),
                   pan_scale=_as_scale(d.get("pan_scale")))

    @classmethod
    def fixed(cls, ms_scale: float | Sequence[float], pan_scale: float) -> "Scaling":
        return cls(mode="fixed", ms_scale=_as_scale(ms_scale), pan_scale=float(pan_scale))

    # ------------------------------------------------------------------ fitting
    @property
    def fitted(self) -> bool:
        return self.mode == "none" or (self.ms_scale is not None and self.pan_scale is not None)

    def fit(self, ms: np.ndarray | None = None, pan: np.ndarray | None = None,
            ms_valid: np.ndarray | None = None, pan_valid: np.ndarray | None = None,
            max_samples: int = DEFAULT_MAX_SAMPLES) -> "Scaling":
        """Return a copy with the divisors computed on the WHOLE image.

        ``ms`` ``(C, h, w)`` holds only the bands the model uses; ``pan`` ``(H, W)``.
        Masks are ``(h, w)`` / ``(H, W)`` booleans (True = valid).  Fixed and none modes
        are returned unchanged.  Either image may be omitted (its divisor is kept).
        """
        if self.mode != "percentile":
            return self
        ms_scale, pan_scale = self.ms_scale, self.pan_scale
        if ms is not None:
            ms_arr = np.asarray(ms)
            if self.joint_bands or ms_arr.ndim == 2:
                ms_scale = compute_scale(ms_arr, ms_valid, self.percentile, max_samples)
            else:
                ms_scale = tuple(compute_scale(band, ms_valid, self.percentile, max_samples)
                                 for band in ms_arr)
        if pan is not None:
            pan_scale = compute_scale(pan, pan_valid, self.percentile, max_samples)
        return replace(self, ms_scale=ms_scale, pan_scale=pan_scale)

    # ------------------------------------------------------------------ apply / invert
    def divisor(self, kind: Kind) -> float | np.ndarray:
        """The divisor of ``kind`` ('ms' or 'pan'); per-band divisors as a ``(C, 1, 1)``
        array that broadcasts over ``(C, H, W)``."""
        if kind not in ("ms", "pan"):
            raise InputError(f"kind must be 'ms' or 'pan', got {kind!r}")
        if self.mode == "none":
            return 1.0
        value = self.ms_scale if kind == "ms" else self.pan_scale
        if value is None:
            raise InputError(f"the {kind.upper()} scaling is not fitted yet: call fit() on "
                             "the whole image first")
        if isinstance(value, tuple):
            return np.asarray(value, dtype=np.float64)[:, None, None]
        return float(value)

    def apply(self, array: np.ndarray, kind: Kind = "ms") -> np.ndarray:
        """Raw values -> model units (``array / divisor``); float32 stays float32."""
        arr = np.asarray(array)
        dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
        return (arr / self.divisor(kind)).astype(dtype, copy=False)

    def invert(self, array: np.ndarray, kind: Kind = "ms") -> np.ndarray:
        """Model units -> raw values (``array * divisor``); float32 stays float32."""
        arr = np.asarray(array)
        dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
        return (arr * self.divisor(kind)).astype(dtype, copy=False)


def _json_scale(value: float | tuple[float, ...] | None) -> float | list[float] | None:
    if isinstance(value, tuple):
        return [float(v) for v in value]
    return None if value is None else float(value)


#: The project's training/inference scaling recipe (stored in every checkpoint).
PERCENTILE99 = Scaling()
