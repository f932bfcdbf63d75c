"""Model registry: name -> class, default hyper-parameters and a one-line description.

``build_model(name, bands=4, **hparams)`` builds a network; ``model.hparams`` gives the
resolved hyper-parameters that a checkpoint stores so that
``build_model(name, bands, **model.hparams)`` rebuilds the same architecture.

Parameter counts at 4 bands, checked in ``tests/engine/test_models.py``:

=========== =========== =================================================================
name        parameters  note
=========== =========== =================================================================
pantiny     81,744      arXiv 2507.15059 (small 33,788; large 195,912)
pnn         68,900      = PanTiny Table A "68.9 K" (PNN with NDVI/NDWI inputs)
pannet      76,612      Table A says 80.3 K (80,336 from its FLOPs); not reproducible from
                        the published description, see :mod:`.peers`
msdcnn      239,004     = Table A "239.0 K" (shallow middle kernel 5x5)
=========== =========== =================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from torch import nn

from ..errors import InputError
from .base import PanSharpNet
from .pantiny import PanTiny
from .peers import MSDCNN, PNN, PanNet


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry."""

    name: str
    factory: Callable[..., PanSharpNet]
    defaults: dict[str, Any] = field(default_factory=dict)
    description: str = ""


MODELS: dict[str, ModelSpec] = {
    "pantiny": ModelSpec(
        "pantiny",
        PanTiny,
        {"scale": "normal", "width": None, "heads": None, "enc_blocks": None,
         "latent_blocks": None, "ffn_factor": 2.0},
        "PanTiny, Restormer blocks + enhanced_conv PAN fusion, output + bms (arXiv 2507.15059)",
    ),
    "pnn": ModelSpec(
        "pnn",
        PNN,
        {"features": [48, 32], "kernels": [9, 5, 5], "index_bands": "auto"},
        "PNN, Masi et al. 2016: 3-layer CNN on [bms, pan, NDVI, NDWI]",
    ),
    "pannet": ModelSpec(
        "pannet",
        PanNet,
        {"channels": 32, "res_blocks": 4, "hp_size": 5},
        "PanNet, Yang et al. 2017: ResNet on high-pass inputs, output + bms",
    ),
    "msdcnn": ModelSpec(
        "msdcnn",
        MSDCNN,
        {"shallow_mid_kernel": 5},
        "MSDCNN, Yuan et al. 2018: shallow + multi-scale deep CNN",
    ),
}


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(MODELS)


def default_hparams(name: str) -> dict[str, Any]:
    """A copy of the default hyper-parameters of ``name``."""
    return dict(_spec(name).defaults)


def _spec(name: str) -> ModelSpec:
    key = str(name).lower()
    if key not in MODELS:
        raise InputError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    return MODELS[key]


def build_model(name: str, bands: int = 4, **hparams: Any) -> nn.Module:
    """Build model ``name`` for ``bands`` MS bands; unknown hyper-parameters raise InputError."""
    spec = _spec(name)
    unknown = sorted(set(hparams) - set(spec.defaults))
    if unknown:
        raise InputError(
            f"model {spec.name!r} has no hyper-parameter(s) {unknown}; "
            f"known: {sorted(spec.defaults)}"
        )
    kwargs = {**spec.defaults, **hparams}
    try:
        return spec.factory(bands=bands, **kwargs)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"cannot build model {spec.name!r} with {kwargs}: {exc}") from exc
