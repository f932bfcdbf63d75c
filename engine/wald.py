"""Wald's reduced-resolution (RR) protocol: degrade a PAN/MS pair by the scale ratio.

Reference: Wald, Ranchin & Mangolini, "Fusion of satellite images of different spatial
resolutions: assessing the quality of resulting images", PE&RS 63(6), 1997.  The
MTF-matched degradation follows Aiazzi et al., PE&RS 2006 and Vivone et al., IEEE TGRS
2015.

Steps (per band): low-pass with the sensor's MTF-matched Gaussian
(:func:`engine.filters.mtf_filter`, the MS bands with their own GNyq, the PAN with the
PAN GNyq), then keep every ``ratio``-th sample by nearest decimation at the toolbox
phase (fine pixel ``ratio*k + ratio//2``, :func:`engine.filters.decimate`).  The
original MS is the ground truth of the fusion of the degraded pair.

Cropping: the MS is first cropped to ``(h//R)*R x (w//R)*R`` and the PAN to exactly
``R`` times that MS size, both from the top-left corner, so that every degraded pixel
has a full ``R x R`` footprint and the PAN/MS pixel correspondence of the input is
kept.  A PAN that is smaller than ``R`` times the cropped MS is an error.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from .errors import InputError
from .filters import Convention, Phase, decimate, mtf_filter


@dataclass(frozen=True)
class WaldConventions:
    """How an RR pair was made; store it with every score computed on that pair."""

    ratio: int
    kernel_convention: str          # 'exact' or 'toolbox' MTF kernel (filters.mtf_kernel)
    decimation_phase: str           # 'toolbox' keeps fine pixel R*k + R//2; 'area' keeps R*k
    pan_degradation: str            # always 'mtf' here (PAN low-passed with its MTF)
    ms_gnyq: tuple[float, ...]
    pan_gnyq: float
    crop_pan: tuple[int, int]       # (H, W) of the PAN actually used
    crop_ms: tuple[int, int]        # (h, w) of the MS actually used (= ground truth size)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class WaldPair:
    """Result of :func:`wald_pair`: the degraded inputs, the ground truth, the conventions."""

    pan_lr: np.ndarray   # (h, w) float64, PAN at MS scale
    ms_lr: np.ndarray    # (C, h/R, w/R) float64
    gt: np.ndarray       # (C, h, w) the cropped original MS (float64)
    conventions: WaldConventions


def reduced_sizes(pan_shape: Sequence[int], ms_shape: Sequence[int],
                  ratio: int) -> dict[str, tuple[int, int]]:
    """Sizes used by :func:`degrade`.

    ``pan_shape`` is ``(H, W)`` (or ``(1, H, W)``), ``ms_shape`` is ``(C, h, w)`` or
    ``(h, w)``.  Returns ``{'pan_crop': (R*h', R*w'), 'ms_crop': (h', w'),
    'pan_lr': (h', w'), 'ms_lr': (h'/R, w'/R)}`` with ``h' = (h//R)*R``.
    """
    if int(ratio) != ratio or ratio < 1:
        raise InputError(f"the ratio must be a positive integer, got {ratio}")
    ratio = int(ratio)
    H, W = (int(s) for s in pan_shape[-2:])
    h, w = (int(s) for s in ms_shape[-2:])
    hc, wc = (h // ratio) * ratio, (w // ratio) * ratio
    if hc == 0 or wc == 0:
        raise InputError(
            f"the MS ({h}x{w}) is smaller than the ratio {ratio}: nothing is left after "
            "degradation; use a larger scene")
    if H < ratio * hc or W < ratio * wc:
        raise InputError(
            f"the PAN ({H}x{W}) must be at least {ratio} times the cropped MS "
            f"({hc}x{wc}); check the ratio or crop the MS to the PAN extent")
    return {
        "pan_crop": (ratio * hc, ratio * wc),
        "ms_crop": (hc, wc),
        "pan_lr": (hc, wc),
        "ms_lr": (hc // ratio, wc // ratio),
    }


def _gains(ms_gnyq: float | Sequence[float], bands: int) -> tuple[float, ...]:
    g = np.atleast_1d(np.asarray(ms_gnyq, dtype=np.float64))
    if g.size == 1:
        g = np.repeat(g, bands)
    if g.size != bands:
        raise InputError(f"got {g.size} MS GNyq values for {bands} bands")
    return tuple(float(x) for x in g)


def degrade(pan: np.ndarray, ms: np.ndarray, ratio: int,
            ms_gnyq: float | Sequence[float], pan_gnyq: float,
            convention: Convention = "exact",
            phase: Phase = "toolbox") -> tuple[np.ndarray, np.ndarray]:
    """Wald degradation of a pair: ``pan (H, W)``, ``ms (C, h, w)`` -> ``(pan_lr, ms_lr)``.

    ``pan_lr`` is ``(h', w')`` and ``ms_lr`` ``(C, h'/R, w'/R)`` (float64) where
    ``h' = (h//R)*R`` (see the module docstring for the crop).  Each MS band is filtered
    with its own GNyq, the PAN with ``pan_gnyq``, kernel ``convention`` ('exact' is the
    project default; Vivone et al., IEEE TGRS 2015), then decimated by ``ratio`` at ``phase``
    ('toolbox': fine pixel ``R*k + R//2``).  Inputs must be finite: fill or mask
    nodata before degrading.
    """
    pan_lr, ms_lr, _ = _degrade(pan, ms, ratio, ms_gnyq, pan_gnyq, convention, phase)
    return pan_lr, ms_lr


def _degrade(pan, ms, ratio, ms_gnyq, pan_gnyq, convention, phase):
    pan = np.asarray(pan)
    ms = np.asarray(ms)
    if pan.ndim == 3 and pan.shape[0] == 1:
        pan = pan[0]
    if pan.ndim != 2:
        raise InputError(f"the PAN must be (H, W), got shape {pan.shape}")
    if ms.ndim == 2:
        ms = ms[None]
    if ms.ndim != 3:
        raise InputError(f"the MS must be (C, h, w), got shape {ms.shape}")
    if not (np.all(np.isfinite(pan)) and np.all(np.isfinite(ms))):
        raise InputError("degrade() needs finite inputs; fill NaN/nodata pixels first")
    sizes = reduced_sizes(pan.shape, ms.shape, ratio)
    (H, W), (h, w) = sizes["pan_crop"], sizes["ms_crop"]
    gains = _gains(ms_gnyq, ms.shape[0])
    pan_c = pan[:H, :W].astype(np.float64)
    ms_c = ms[:, :h, :w].astype(np.float64)
    pan_lr = decimate(mtf_filter(pan_c, float(pan_gnyq), ratio, convention), ratio, phase)
    ms_lr = decimate(mtf_filter(ms_c, gains, ratio, convention), ratio, phase)
    conv = WaldConventions(ratio=int(ratio), kernel_convention=str(convention),
                           decimation_phase=str(phase), pan_degradation="mtf",
                           ms_gnyq=gains, pan_gnyq=float(pan_gnyq),
                           crop_pan=(H, W), crop_ms=(h, w))
    return np.ascontiguousarray(pan_lr), np.ascontiguousarray(ms_lr), (conv, ms_c)


def wald_pair(pan: np.ndarray, ms: np.ndarray, ratio: int,
              ms_gnyq: float | Sequence[float], pan_gnyq: float,
              convention: Convention = "exact", phase: Phase = "toolbox") -> WaldPair:
    """:func:`degrade` plus the ground truth (the cropped MS) and the conventions used."""
    pan_lr, ms_lr, (conv, gt) = _degrade(pan, ms, ratio, ms_gnyq, pan_gnyq, convention, phase)
    return WaldPair(pan_lr=pan_lr, ms_lr=ms_lr, gt=gt, conventions=conv)
