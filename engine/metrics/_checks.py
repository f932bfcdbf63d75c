"""Input validation shared by the quality indices (raise InputError with a clear message)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import InputError


def as_image(img: np.ndarray, name: str) -> np.ndarray:
    """``(C, H, W)`` float64 view/copy of a ``(H, W)`` or ``(C, H, W)`` finite image."""
    arr = np.asarray(img, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise InputError(f"{name} must be an image of shape (H, W) or (C, H, W), got {arr.shape}")
    if arr.size == 0:
        raise InputError(f"{name} is empty (shape {arr.shape})")
    if not np.isfinite(arr).all():
        raise InputError(
            f"{name} contains NaN or infinite values; replace nodata by a finite value "
            "and pass a mask (True = valid) instead"
        )
    return arr


def as_pan(pan: np.ndarray) -> np.ndarray:
    """``(H, W)`` float64 PAN from ``(H, W)`` or ``(1, H, W)``."""
    arr = as_image(pan, "pan")
    if arr.shape[0] != 1:
        raise InputError(f"pan must have one band, got {arr.shape[0]} (shape {arr.shape})")
    return arr[0]


def check_same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise InputError(f"{name_a} {a.shape} and {name_b} {b.shape} must have the same shape "
                         "(bands, rows, columns)")


def check_mask(mask: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray | None:
    """Validate a ``(H, W)`` bool validity mask (True = valid); None passes through."""
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.shape != tuple(shape):
        raise InputError(f"mask {m.shape} must have the image's shape {tuple(shape)} "
                         "(PAN scale for full-resolution indices)")
    if m.dtype != bool:
        raise InputError(f"mask must be boolean (True = valid pixel), got dtype {m.dtype}")
    if not m.any():
        raise InputError("the mask marks every pixel invalid")
    return m


def check_ratio(ratio: int) -> int:
    r = int(ratio)
    if r != ratio or r < 1:
        raise InputError(f"ratio must be a positive integer, got {ratio!r}")
    return r


def check_fr_inputs(fused: np.ndarray, pan: np.ndarray, ms: np.ndarray, ratio: int,
                    mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                      int, np.ndarray | None]:
    """Validate a full-resolution triple: fused ``(L, H, W)``, pan ``(H, W)``, ms ``(L, h, w)``."""
    f = as_image(fused, "fused")
    p = as_pan(pan)
    m = as_image(ms, "ms")
    r = check_ratio(ratio)
    if f.shape[0] != m.shape[0]:
        raise InputError(f"fused has {f.shape[0]} bands but ms has {m.shape[0]}; "
                         "they must have the same bands")
    if p.shape != f.shape[1:]:
        raise InputError(f"pan {p.shape} and fused {f.shape[1:]} must cover the same "
                         "PAN-scale grid")
    if (m.shape[1] * r, m.shape[2] * r) != f.shape[1:]:
        raise InputError(
            f"ratio mismatch: ms {m.shape[1]}x{m.shape[2]} times ratio {r} is "
            f"{m.shape[1] * r}x{m.shape[2] * r}, but fused/pan are {f.shape[1]}x{f.shape[2]}"
        )
    return f, p, m, r, check_mask(mask, f.shape[1:])


def check_gnyq(gnyq: float | Sequence[float], bands: int) -> np.ndarray:
    g = np.atleast_1d(np.asarray(gnyq, dtype=np.float64))
    if g.size == 1:
        g = np.repeat(g, bands)
    if g.shape != (bands,):
        raise InputError(f"gnyq needs one value per band ({bands}), got {g.size}")
    if np.any((g <= 0) | (g >= 1)):
        raise InputError(f"every GNyq must lie in (0, 1), got {g.tolist()}")
    return g
