"""Invalid (nodata) pixels: the one helper that fills them before filtering.

Filters and degradations (MTF low-pass, Wald's protocol) spread every pixel over its
neighbours, so nodata must be replaced by a neutral value first and masked again after.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError


def fill_with_band_means(img: np.ndarray, valid: np.ndarray,
                         empty_message: str | None = None) -> np.ndarray:
    """A float64 copy of ``img`` (C, H, W) with invalid pixels replaced by each band's
    mean over the ``valid`` (H, W) ones; the input is never modified.

    Where nothing is valid the bands are filled with 0, or, when ``empty_message`` is
    given, :class:`~engine.errors.InputError` is raised with it.
    """
    out = np.array(img, dtype=np.float64, copy=True)
    if valid.all():
        return out
    if not valid.any() and empty_message is not None:
        raise InputError(empty_message)
    for band in out.reshape(-1, *valid.shape):
        band[~valid] = band[valid].mean() if valid.any() else 0.0
    return out
