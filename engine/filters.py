"""Linear filters of the pan-sharpening toolkit: MTF-matched Gaussians, interp23tap,
MATLAB-style bicubic resizing, nearest decimation and sub-pixel shifts.

Images are numpy arrays ``(H, W)`` or ``(C, H, W)`` (bands first), any float dtype;
results are float64 unless stated.  Pixel coordinates are 0-based PAN pixels.

References
----------
* MTF-matched Gaussian filter: Aiazzi, Alparone, Baronti, Garzelli & Selva,
  "MTF-tailored multiscale fusion of high-resolution MS and Pan imagery", PE&RS 2006;
  Vivone et al., "A Critical Comparison Among Pansharpening Algorithms", IEEE TGRS 2015.
* interp23tap: Aiazzi, Alparone, Baronti & Garzelli, "Context-driven fusion of high
  spatial and spectral resolution images based on oversampled multiresolution
  analysis", IEEE TGRS 2002 (the 23-tap polynomial half-band kernel).
* Bicubic kernel: Keys, "Cubic convolution interpolation for digital image
  processing", IEEE TASSP 1981 (a = -0.5).
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
from scipy import ndimage, signal

from .errors import InputError

Convention = Literal["exact", "toolbox"]
Phase = Literal["toolbox", "area"]

MTF_TAPS = 41

#: Half of the 23-tap interpolation kernel (offsets 0, 1, ..., 11) before the x2 gain.
_HALF_23TAP = np.array([
    0.5, 0.305334091185, 0.0, -0.072698593239, 0.0, 0.021809577942, 0.0,
    -0.005192756653, 0.0, 0.000807762146, 0.0, -0.000060081482,
])
#: Full 23-tap kernel, offsets -11..11: 1 at 0, zeros at other even offsets, sums to 2.
KERNEL_23TAP = 2.0 * np.concatenate([_HALF_23TAP[:0:-1], _HALF_23TAP])


def _rotated_kaiser(n: int, beta: float = 0.5) -> np.ndarray:
    """Circularly symmetric 2-D window from the 1-D Kaiser window (MATLAB ``fwind1``)."""
    t = np.linspace(-1.0, 1.0, n)
    radius = np.hypot(t[:, None], t[None, :])
    window = np.interp(radius, t, np.kaiser(n, beta))
    window[radius >= 1.0] = 0.0
    return window


def mtf_kernel(gnyq: float, ratio: int, taps: int = MTF_TAPS,
               convention: Convention = "exact") -> np.ndarray:
    """``(taps, taps)`` low-pass kernel whose gain at the MS Nyquist frequency is ``gnyq``.

    ``convention="exact"``: the spatial Gaussian with response exactly ``gnyq`` at
    ``1/(2 ratio)`` cycles/PAN pixel (sigma = ratio * sqrt(-2 ln gnyq) / pi), windowed by
    a rotated Kaiser (beta 0.5) and normalised to unit sum (DC gain 1).

    ``convention="toolbox"``: the window-method design of the published toolbox: a
    Gaussian frequency response with ``alpha = (taps-1)/(2 ratio) / sqrt(-2 ln gnyq)``,
    inverse DFT, rotated Kaiser window, not renormalised (DC gain ~0.998).  Use it only
    where an index is defined through it (D_lambda^K, HQNR).
    """
    if not 0.0 < gnyq < 1.0:
        raise InputError(f"GNyq must lie in (0, 1), got {gnyq}")
    if taps % 2 == 0:
        raise InputError(f"the MTF kernel needs an odd number of taps, got {taps}")
    half = (taps - 1) // 2
    k = np.arange(-half, half + 1, dtype=np.float64)
    window = _rotated_kaiser(taps)
    if convention == "exact":
        sigma = ratio * np.sqrt(-2.0 * np.log(gnyq)) / np.pi
        g = np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / (2.0 * sigma**2))
        h = g * window
        return h / h.sum()
    if convention == "toolbox":
        alpha = np.sqrt(((taps - 1) * (1.0 / ratio) / 2.0) ** 2 / (-2.0 * np.log(gnyq)))
        response = np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / (2.0 * alpha**2))
        h = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(response))).real
        return h * window
    raise InputError(f"unknown MTF kernel convention {convention!r} (use 'exact' or 'toolbox')")


def filter2d_replicate(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate a ``(H, W)`` image with an odd, symmetric ``kernel``, replicate borders (FFT)."""
    ph, pw = kernel.shape[0] // 2, kernel.shape[1] // 2
    padded = np.pad(np.asarray(img, dtype=np.float64), ((ph, ph), (pw, pw)), mode="edge")
    return signal.fftconvolve(padded, kernel[::-1, ::-1], mode="valid")


def _as_bands(img: np.ndarray) -> tuple[np.ndarray, bool]:
    arr = np.asarray(img)
    if arr.ndim == 2:
        return arr[None], True
    if arr.ndim == 3:
        return arr, False
    raise InputError(f"expected an image of shape (H, W) or (C, H, W), got {arr.shape}")


def mtf_filter(img: np.ndarray, gnyq: float | Sequence[float], ratio: int,
               convention: Convention = "exact") -> np.ndarray:
    """Low-pass every band with its MTF-matched kernel (replicate borders).

    ``img`` is ``(H, W)`` with a scalar ``gnyq`` or ``(C, H, W)`` with one gain per band
    (a scalar is broadcast).
    """
    bands, squeeze = _as_bands(img)
    gains = np.broadcast_to(np.asarray(gnyq, dtype=np.float64), (bands.shape[0],))
    kernels: dict[float, np.ndarray] = {}
    out = np.empty(bands.shape, dtype=np.float64)
    for b, g in enumerate(gains):
        if g not in kernels:
            kernels[g] = mtf_kernel(float(g), ratio, convention=convention)
        out[b] = filter2d_replicate(bands[b], kernels[g])
    return out[0] if squeeze else out


def decimate(img: np.ndarray, ratio: int, phase: Phase = "toolbox") -> np.ndarray:
    """Nearest sub-sampling by ``ratio``.

    ``phase="toolbox"`` keeps fine pixels ``ratio*k + ratio//2`` (MATLAB ``imresize``
    nearest; the phase interp23tap puts samples back on).  ``phase="area"`` keeps
    ``ratio*k``.
    """
    start = ratio // 2 if phase == "toolbox" else 0
    return np.asarray(img)[..., start::ratio, start::ratio]


def _upsample2_axis(x: np.ndarray, axis: int, start: int) -> np.ndarray:
    """One x2 stage of interp23tap along ``axis`` (polyphase, circular borders).

    Equivalent to inserting zeros (samples at ``start::2``) and correlating with
    :data:`KERNEL_23TAP`: the sample phase keeps the samples (tap 1 at offset 0, zeros at
    other even offsets) and the other phase is a 12-tap correlation with the odd taps.
    """
    n = x.shape[axis]
    # Interpolated phase: fine index 2j + 1 - start sees LR sample j + d at kernel offset
    # 2d + 2*start - 1, i.e. the odd taps; d runs over 12 consecutive values.
    odd = KERNEL_23TAP[0::2]                    # offsets -11, -9, ..., 9, 11
    first = (-11 + 1 - 2 * start) // 2          # d of offset -11
    # correlate1d: out[j] = sum_k w[k] x[j + k - 6 - origin]  ->  origin = -6 - first
    inter = ndimage.correlate1d(x, odd, axis=axis, mode="wrap", origin=-6 - first)
    shape = list(x.shape)
    shape[axis] = 2 * n
    out = np.empty(shape)
    keep = [slice(None)] * x.ndim
    keep[axis] = slice(start, None, 2)
    out[tuple(keep)] = x
    keep[axis] = slice(1 - start, None, 2)
    out[tuple(keep)] = inter
    return out


def interp23tap(img: np.ndarray, ratio: int) -> np.ndarray:
    """Upsample by ``ratio`` (a power of 2) with the 23-tap kernel, circular borders.

    Works in log2(ratio) stages of x2: zero insertion (samples at odd positions in the
    first stage, even ones later) and separable filtering with :data:`KERNEL_23TAP`,
    computed in polyphase form.  LR sample ``j`` lands on fine pixel ``ratio*j + ratio//2``
    (toolbox placement).  ``(C, h, w) -> (C, h*ratio, w*ratio)``.
    """
    bands, squeeze = _as_bands(img)
    if ratio < 2 or ratio & (ratio - 1):
        raise InputError(f"interp23tap needs a ratio that is a power of 2, got {ratio}")
    out = np.asarray(bands, dtype=np.float64)
    for stage in range(int(np.log2(ratio))):
        start = 1 if stage == 0 else 0
        out = _upsample2_axis(_upsample2_axis(out, 1, start), 2, start)
    return out[0] if squeeze else out


def _keys_cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    near = (a + 2.0) * ax3 - (a + 3.0) * ax2 + 1.0
    far = a * ax3 - 5.0 * a * ax2 + 8.0 * a * ax - 4.0 * a
    return np.where(ax <= 1.0, near, np.where(ax < 2.0, far, 0.0))


def resample_axis(x: np.ndarray, axis: int, positions: np.ndarray, scale: float,
                   border: Literal["symmetric", "replicate"]) -> np.ndarray:
    """Keys-cubic resampling of ``x`` along ``axis`` at fractional source ``positions``.

    ``scale < 1`` widens the kernel by ``1/scale`` (anti-aliasing).  Weights are
    normalised to sum 1 per output sample.
    """
    n_in = x.shape[axis]
    width = 4.0 / scale if scale < 1.0 else 4.0
    left = np.floor(positions - width / 2.0).astype(np.int64) + 1
    taps = int(np.ceil(width)) + 1
    idx = left[:, None] + np.arange(taps)[None, :]
    dist = positions[:, None] - idx
    kscale = min(scale, 1.0)
    weights = kscale * _keys_cubic(kscale * dist)
    weights /= weights.sum(axis=1, keepdims=True)
    if border == "symmetric":
        period = 2 * n_in
        idx = np.mod(idx, period)
        idx = np.where(idx >= n_in, period - 1 - idx, idx)
    else:
        idx = np.clip(idx, 0, n_in - 1)
    moved = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    out = np.einsum("...nt,nt->...n", moved[..., idx], weights)
    return np.moveaxis(out, -1, axis)


def imresize_bicubic(img: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB ``imresize(img, scale)`` bicubic (a = -0.5), anti-aliased when shrinking.

    Pixel-area alignment: output pixel ``i`` samples input position
    ``(i + 0.5) / scale - 0.5``; borders are mirrored as MATLAB does.  Acts on the last
    two axes; output size ``ceil(n * scale)``.
    """
    arr = np.asarray(img, dtype=np.float64)
    for axis in (-2, -1):
        n_in = arr.shape[axis]
        n_out = int(np.ceil(n_in * scale - 1e-9))
        pos = (np.arange(n_out) + 0.5) / scale - 0.5
        arr = resample_axis(arr, axis, pos, scale, "symmetric")
    return arr


def shift_axis(img: np.ndarray, axis: int, shift: float) -> np.ndarray:
    """``out[i] = img(i + shift)`` along ``axis``: Keys cubic (a = -0.5), replicate borders.

    The weights are the same for every output sample, so this is a sum of four shifted
    copies (indices clipped at the borders), with no per-sample weight table.
    """
    arr = np.asarray(img, dtype=np.float64)
    whole = int(np.floor(shift))
    frac = float(shift - whole)
    n = arr.shape[axis]
    base = np.arange(n) + whole
    if frac == 0.0:
        return np.take(arr, np.clip(base, 0, n - 1), axis=axis)
    taps = np.arange(-1, 3)
    weights = _keys_cubic(frac - taps)
    weights /= weights.sum()
    out = np.zeros(arr.shape)
    for t, w in zip(taps, weights):
        out += w * np.take(arr, np.clip(base + t, 0, n - 1), axis=axis)
    return out


def cubic_shift(img: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """Resample so that ``out[y, x] = img(y + dy, x + dx)`` (Keys cubic, replicate borders).

    Used to move an image placed with the toolbox phase onto a grid whose samples sit
    at another sub-pixel offset.  Acts on the last two axes.
    """
    return shift_axis(shift_axis(img, -2, dy), -1, dx)
