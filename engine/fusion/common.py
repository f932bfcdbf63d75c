"""Shared pieces of the fusion methods: configuration, valid masks, low-pass with
nodata, mean/std matching and the guarded multiplicative modulation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..filters import Convention, mtf_filter, mtf_kernel

#: PAN-grid rows of context the MTF low-pass needs on each side (41-tap kernel).
LOWPASS_HALO = 20


@dataclass(frozen=True)
class FusionConfig:
    """Sensor description and guard settings shared by all methods.

    ``eps_rel`` and ``max_ratio`` set the guard of the multiplicative methods (Brovey,
    MTF-GLP-HPM), see :func:`modulate`.
    """

    ratio: int
    ms_gnyq: tuple[float, ...]
    pan_gnyq: float
    convention: Convention = "exact"
    eps_rel: float = 0.01
    max_ratio: float = 5.0

    def as_dict(self) -> dict:
        return asdict(self)


def make_config(ratio: int, ms_gnyq: float | Sequence[float], pan_gnyq: float, bands: int,
                convention: Convention = "exact", eps_rel: float = 0.01,
                max_ratio: float = 5.0) -> FusionConfig:
    """Validate and normalise the arguments into a :class:`FusionConfig`."""
    if int(ratio) != ratio or ratio < 1:
        raise InputError(f"the ratio must be a positive integer, got {ratio}")
    g = np.atleast_1d(np.asarray(ms_gnyq, dtype=np.float64))
    if g.size == 1:
        g = np.repeat(g, bands)
    if g.size != bands:
        raise InputError(f"got {g.size} MS GNyq values for {bands} MS bands")
    if not (eps_rel >= 0 and max_ratio > 0):
        raise InputError("eps_rel must be >= 0 and max_ratio > 0")
    return FusionConfig(int(ratio), tuple(float(x) for x in g), float(pan_gnyq),
                        convention, float(eps_rel), float(max_ratio))


@dataclass
class FusionParams:
    """Global parameters estimated for one method (JSON-friendly ``values``)."""

    method: str
    config: FusionConfig
    values: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"method": self.method, "config": self.config.as_dict(), "values": self.values}


def combined_valid(pan: np.ndarray, ms_up: np.ndarray,
                   valid: np.ndarray | None = None) -> np.ndarray:
    """Valid PAN-grid pixels: ``valid`` (if given) & finite PAN & every MS band finite."""
    ok = np.isfinite(pan) & np.all(np.isfinite(ms_up), axis=0)
    if valid is not None:
        v = np.asarray(valid, dtype=bool)
        if v.shape != ok.shape:
            raise InputError(f"the valid mask has shape {v.shape}, expected {ok.shape}")
        ok &= v
    return ok


def lowpass(img: np.ndarray, valid: np.ndarray, gnyq: float, cfg: FusionConfig) -> np.ndarray:
    """MTF-matched low-pass of a ``(H, W)`` image that ignores invalid pixels.

    Normalised convolution (Knutsson & Westin, CVPR 1993): ``K*(x v) / K*(v)`` with the
    ``cfg.convention`` kernel and replicate borders; with every pixel valid this is
    ``K*x / sum(K)``, i.e. plain filtering for the unit-sum 'exact' kernel.  Values at
    pixels with no valid pixel inside the kernel support are 0 (they are invalid
    anyway).
    """
    if valid.all():
        k = mtf_kernel(float(gnyq), cfg.ratio, convention=cfg.convention)
        return mtf_filter(img, float(gnyq), cfg.ratio, cfg.convention) / k.sum()
    num = mtf_filter(np.where(valid, img, 0.0), float(gnyq), cfg.ratio, cfg.convention)
    den = mtf_filter(valid.astype(np.float64), float(gnyq), cfg.ratio, cfg.convention)
    return np.where(den > 1e-9, num / np.where(den > 1e-9, den, 1.0), 0.0)


def match_coefficients(mu_src: float, sd_src: float, mu_dst: float,
                       sd_dst: float) -> tuple[float, float]:
    """``(a, b)`` with ``a*x + b`` = mean/std equalisation of ``src`` onto ``dst``.

    A constant source (``sd_src == 0``) maps to the target mean.
    """
    a = sd_dst / sd_src if sd_src > 0 else 0.0
    return float(a), float(mu_dst - a * mu_src)


def modulate(m: np.ndarray, num: np.ndarray, den: np.ndarray, tau: float,
             max_ratio: float) -> np.ndarray:
    """Guarded multiplicative injection ``m * num / den``.

    * where ``den > tau``: ``m * clip(num / den, 0, max_ratio)``;
    * where ``den <= tau`` (the low-resolution intensity is ~0, e.g. black display
      zeros): additive fallback ``m + (num - den)``, which is what the modulation
      tends to for ``m ~ den`` and stays bounded.

    ``tau = eps_rel * (|mean| + std)`` of the denominator's data, computed by the
    caller from the valid pixels.  Radiance/DN/reflectance are non-negative, hence the
    lower clip at 0.
    """
    ok = den > tau
    ratio = np.clip(num / np.where(ok, den, 1.0), 0.0, max_ratio)
    return np.where(ok, m * ratio, m + (num - den))


def as_float_inputs(pan: np.ndarray, ms_up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pan = np.asarray(pan, dtype=np.float64)
    ms_up = np.asarray(ms_up, dtype=np.float64)
    if pan.ndim == 3 and pan.shape[0] == 1:
        pan = pan[0]
    if ms_up.ndim == 2:
        ms_up = ms_up[None]
    if pan.ndim != 2 or ms_up.ndim != 3 or ms_up.shape[1:] != pan.shape:
        raise InputError(
            f"PAN {pan.shape} and MS-on-PAN-grid {ms_up.shape} do not match: the MS must "
            "already be on the PAN grid (engine.io.placement.ms_to_pan_grid)")
    return pan, ms_up


def invalidate(out: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Set every band of invalid pixels to NaN (in place) and return ``out``."""
    if not valid.all():
        out[:, ~valid] = np.nan
    return out
