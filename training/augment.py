"""Randomised Wald degradations: training patches for sensors the model has never seen.

Wald's protocol (Wald, Ranchin, Mangolini, PE&RS 63(6), 1997) degrades a real pair with
*one* sensor's MTF, exact registration and the sensor's own PAN/MS relation.  A model
trained only on that learns those properties.  Here every patch gets its own draw of what
varies between sensors (the "sensor-robust" recipe of issue 14):

* MTF gains at Nyquist: MS drawn from ``ms_gnyq`` per patch (a common value plus a small
  per-band jitter), PAN from ``pan_gnyq``; published gains of the common sensors lie in
  0.15-0.45 (MS) and 0.08-0.25 (PAN) (Vivone et al., IEEE GRSM 9(1), 2021, Table of
  GNyq values);
* sub-pixel misregistration of the MS against the PAN: a Keys-cubic shift of the
  low-passed MS by up to ``shift`` reduced-scale PAN pixels in each axis, before
  decimation (so the target stays aligned with the PAN);
* radiometry: per-band gain and offset applied to the MS and its ground truth alike (a
  different calibration), a gain/offset on the PAN, Gaussian noise on the degraded MS
  and PAN;
* the spectral relation between PAN and MS: with probability ``mix_prob`` the degraded
  PAN gets ``sum_b w_b (GT_b - mean GT_b)`` added (``w_b`` uniform in ``+-mix``), then is
  brought back to its own mean and standard deviation, i.e. a PAN band whose response
  weighs the MS bands differently.

All values are in the builder's scaled units (99th percentile = 1).  Each patch is degraded
from a window of ``margin`` extra ground-truth pixels on every side (the region is padded
symmetrically), so the filters see real context and no pixel of another region.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.filters import cubic_shift, decimate, mtf_filter
from engine.io.grid import Alignment
from engine.io.placement import ms_to_pan_grid
from engine.nodata import fill_with_band_means
from engine.sensors import Sensor

KERNEL_CONVENTION = "exact"
#: Context around each patch, in ground-truth pixels (>= the 20-pixel half support of the
#: 41-tap MTF kernels; a multiple of 2 and 4).
MARGIN = 24


@dataclass(frozen=True)
class AugmentRanges:
    """Ranges of the random degradation (uniform draws; scaled units)."""

    ms_gnyq: tuple[float, float] = (0.15, 0.45)
    ms_gnyq_jitter: float = 0.05
    pan_gnyq: tuple[float, float] = (0.08, 0.25)
    shift: float = 0.5                 # reduced-scale PAN pixels, each axis
    ms_gain: tuple[float, float] = (0.85, 1.15)
    ms_offset: float = 0.03
    pan_gain: tuple[float, float] = (0.85, 1.15)
    pan_offset: float = 0.03
    noise: tuple[float, float] = (0.0, 0.01)
    mix_prob: float = 0.5
    mix: float = 0.3

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}


@dataclass(frozen=True)
class Degradation:
    """One draw of :class:`AugmentRanges` (what :func:`degrade_window` applies)."""

    ms_gnyq: tuple[float, ...]
    pan_gnyq: float
    shift: tuple[float, float]
    ms_gain: tuple[float, ...]
    ms_offset: tuple[float, ...]
    pan_gain: float
    pan_offset: float
    ms_noise: float
    pan_noise: float
    mix: tuple[float, ...] | None


def draw(rng: np.random.Generator, bands: int, ranges: AugmentRanges = AugmentRanges()
         ) -> Degradation:
    """Draw one random degradation for a ``bands``-band MS."""
    lo, hi = ranges.ms_gnyq
    base = rng.uniform(lo, hi)
    gn = np.clip(base + rng.uniform(-ranges.ms_gnyq_jitter, ranges.ms_gnyq_jitter, bands), lo, hi)
    mix = None
    if rng.uniform() < ranges.mix_prob:
        mix = tuple(float(v) for v in rng.uniform(-ranges.mix, ranges.mix, bands))
    return Degradation(
        ms_gnyq=tuple(float(v) for v in gn),
        pan_gnyq=float(rng.uniform(*ranges.pan_gnyq)),
        shift=(float(rng.uniform(-ranges.shift, ranges.shift)),
               float(rng.uniform(-ranges.shift, ranges.shift))),
        ms_gain=tuple(float(v) for v in rng.uniform(*ranges.ms_gain, bands)),
        ms_offset=tuple(float(v) for v in rng.uniform(-ranges.ms_offset, ranges.ms_offset, bands)),
        pan_gain=float(rng.uniform(*ranges.pan_gain)),
        pan_offset=float(rng.uniform(-ranges.pan_offset, ranges.pan_offset)),
        ms_noise=float(rng.uniform(*ranges.noise)),
        pan_noise=float(rng.uniform(*ranges.noise)),
        mix=mix,
    )


def degrade_window(pan: np.ndarray, gt: np.ndarray, ratio: int, d: Degradation,
                   rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Degrade one window: ``pan (R*n, R*m)``, ``gt (C, n, m)`` (finite, scaled) ->
    ``gt (C, n, m)``, ``pan (n, m)``, ``ms (C, n/R, m/R)``, ``lms (C, n, m)`` (float64).

    ``n`` and ``m`` must be multiples of ``ratio``.  ``rng`` draws the noise.
    """
    r = int(ratio)
    c = gt.shape[0]
    low = mtf_filter(gt, d.ms_gnyq, r, KERNEL_CONVENTION)
    if d.shift != (0.0, 0.0):
        low = cubic_shift(low, d.shift[0], d.shift[1])
    ms_lr = decimate(low, r, "toolbox")
    pan_lr = decimate(mtf_filter(pan, d.pan_gnyq, r, KERNEL_CONVENTION), r, "toolbox")
    if d.mix is not None:
        mu, sd = pan_lr.mean(), pan_lr.std()
        w = np.asarray(d.mix).reshape(c, 1, 1)
        mixed = pan_lr + (w * (gt - gt.mean(axis=(1, 2), keepdims=True))).sum(axis=0)
        msd = mixed.std()
        pan_lr = (mixed - mixed.mean()) * (sd / msd if msd > 0 else 1.0) + mu
    a = np.asarray(d.ms_gain).reshape(c, 1, 1)
    o = np.asarray(d.ms_offset).reshape(c, 1, 1)
    gt = a * gt + o
    ms_lr = a * ms_lr + o + rng.normal(0.0, d.ms_noise, ms_lr.shape)
    pan_lr = d.pan_gain * pan_lr + d.pan_offset + rng.normal(0.0, d.pan_noise, pan_lr.shape)
    lms = ms_to_pan_grid(ms_lr, Alignment(r), pan_lr.shape, method="interp23tap",
                         phase="toolbox", border="symmetric")
    return {"gt": gt, "pan": pan_lr, "ms": ms_lr, "lms": lms}


def random_variants(pan: np.ndarray, ms: np.ndarray, sensor: Sensor, patch: int,
                    origins: np.ndarray, variants: int, rng: np.random.Generator,
                    ranges: AugmentRanges = AugmentRanges(), margin: int = MARGIN,
                    row0: int = 0) -> dict[str, np.ndarray]:
    """``variants`` randomly degraded copies of every patch of one region.

    ``pan (R*n, R*m)``, ``ms (C, n, m)``: the registered, scaled region (NaN on nodata,
    filled with band means here).  ``origins (N, 2)``: top-left ground-truth pixels of the
    patches (row + ``row0``, col), as :func:`training.build_datasets.region_patches`
    returns them.  Returns ``gt``, ``pan``, ``ms``, ``lms`` (float32, N*K patches),
    ``origin`` and ``variant`` (1..K).
    """
    r = int(sensor.ratio)
    if patch % r or margin % r:
        raise ValueError(f"patch ({patch}) and margin ({margin}) must be multiples of {r}")
    c = ms.shape[0]
    ms_f = fill_with_band_means(ms, np.all(np.isfinite(ms), axis=0))
    pan_f = fill_with_band_means(pan[None], np.isfinite(pan))[0]
    ms_p = np.pad(ms_f, ((0, 0), (margin, margin), (margin, margin)), mode="symmetric")
    pan_p = np.pad(pan_f, r * margin, mode="symmetric")
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("gt", "pan", "ms", "lms")}
    origin, variant = [], []
    w = patch + 2 * margin
    q = margin // r
    for y0, x in np.asarray(origins, dtype=np.int64).reshape(-1, 2):
        y = int(y0) - row0
        for k in range(1, variants + 1):
            d = draw(rng, c, ranges)
            res = degrade_window(pan_p[r * y: r * (y + w), r * x: r * (x + w)],
                                 ms_p[:, y: y + w, x: x + w], r, d, rng)
            for key in ("gt", "pan", "lms"):
                img = res[key] if res[key].ndim == 3 else res[key][None]
                out[key].append(img[:, margin: margin + patch, margin: margin + patch])
            out["ms"].append(res["ms"][:, q: q + patch // r, q: q + patch // r])
            origin.append((int(y0), int(x)))
            variant.append(k)
    if not origin:
        return {"gt": np.zeros((0, c, patch, patch), np.float32),
                "pan": np.zeros((0, 1, patch, patch), np.float32),
                "ms": np.zeros((0, c, patch // r, patch // r), np.float32),
                "lms": np.zeros((0, c, patch, patch), np.float32),
                "origin": np.zeros((0, 2), np.int32), "variant": np.zeros(0, np.int16)}
    arrays = {k: np.stack(v).astype(np.float32) for k, v in out.items()}
    arrays["origin"] = np.asarray(origin, np.int32)
    arrays["variant"] = np.asarray(variant, np.int16)
    return arrays
