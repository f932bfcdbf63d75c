"""Deep pan-sharpening networks (PyTorch).  Importing this package imports torch.

Every model follows ``forward(ms, bms, pan) -> fused`` (see :mod:`.base`); build them by
name with :func:`build_model`.
"""

from .base import PanSharpNet
from .blocks import GDFN, MDTA, ChannelLayerNorm, TransformerBlock
from .pantiny import SCALES, PanTiny
from .peers import MSDCNN, PNN, PanNet
from .registry import MODELS, ModelSpec, build_model, default_hparams, list_models

__all__ = [
    "GDFN",
    "MDTA",
    "MODELS",
    "MSDCNN",
    "PNN",
    "SCALES",
    "ChannelLayerNorm",
    "ModelSpec",
    "PanNet",
    "PanSharpNet",
    "PanTiny",
    "TransformerBlock",
    "build_model",
    "default_hparams",
    "list_models",
]
