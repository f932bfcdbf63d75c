"""Scene adaptation: fine-tune a copy of a pan-sharpening model on the scene itself.

Public API::

    from engine.adaptation import AdaptationConfig, AdaptationResult, adapt_model
    result = adapt_model(model, pan, ms, ratio=4, mtf_gains=sensor.gnyq(4),
                         pan_mtf_gain=sensor.pan_gnyq, config=AdaptationConfig(steps=20))
    adapted = result.model          # the base model when nothing was kept

``pan`` ``(H, W)`` and ``ms`` ``(C, H/ratio, W/ratio)`` are float32 arrays in the model's
input scaling (see :func:`engine.adaptation.adapt.adapt_model`).  Methods: Scarpa,
Vitale & Cozzolino, "Target-adaptive CNN-based pansharpening", IEEE TGRS 56(9), 2018
(reduced resolution); Ciotola et al., "Pansharpening by convolutional neural networks in
the full resolution framework", IEEE TGRS 60, 2022 (Z-PNN full-resolution loss).

Importing this package needs no torch; :func:`adapt_model` imports it on first use.
"""

from __future__ import annotations

from typing import Any

from .config import (DEFAULT_STEPS, SCHEMES, AdaptationConfig, AdaptationResult,
                     AdaptationUnavailable)

__all__ = ["AdaptationConfig", "AdaptationResult", "AdaptationUnavailable", "DEFAULT_STEPS",
           "SCHEMES", "adapt_model"]


def adapt_model(model: Any, pan: Any, ms: Any, **kwargs: Any) -> AdaptationResult:
    """See :func:`engine.adaptation.adapt.adapt_model` (keyword-only arguments: ``ratio``,
    ``mtf_gains``, ``pan_mtf_gain``, ``config``, ``valid``, ``feedback``, ``phase``,
    ``monitor``)."""
    from .adapt import adapt_model as _adapt

    return _adapt(model, pan, ms, **kwargs)
