"""The models bundled with the plugin (``resources/models/``), without importing torch.

``resources/models/index.json`` lists them::

    {"models": [{"id": "pantiny-bgrn-v1", "file": "pantiny-bgrn-v1.ckpt",
                 "card": "pantiny-bgrn-v1.md", "sha256": "...", "default": true,
                 "label": "..."}]}

Model ids are public API (stored in batch files as the MODEL value): never rename one.
The folder is found next to this package both in the repository (``engine/`` beside
``resources/``) and in the plugin zip (``pantiny_qgis/engine`` beside
``pantiny_qgis/resources``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from ..errors import CheckpointError

_ENGINE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS_DIR = os.path.join(os.path.dirname(_ENGINE_DIR), "resources", "models")


@dataclass(frozen=True)
class BundledModel:
    """One entry of ``index.json``."""

    id: str
    file: str
    card: str
    sha256: str
    label: str = ""
    default: bool = False


def bundled_models(models_dir: str = MODELS_DIR) -> list[BundledModel]:
    """The bundled models, default first (empty list when none is bundled)."""
    index = os.path.join(models_dir, "index.json")
    if not os.path.isfile(index):
        return []
    with open(index, encoding="utf-8") as handle:
        entries = json.load(handle)["models"]
    models = [BundledModel(e["id"], e["file"], e.get("card", ""), e.get("sha256", ""),
                           e.get("label", ""), bool(e.get("default", False))) for e in entries]
    return sorted(models, key=lambda m: not m.default)


def default_model_id(models_dir: str = MODELS_DIR) -> str | None:
    models = bundled_models(models_dir)
    return models[0].id if models else None


def model_path(model_id: str, models_dir: str = MODELS_DIR) -> str:
    """Path of a bundled model's checkpoint; the checkpoint's own hash is checked on load."""
    for model in bundled_models(models_dir):
        if model.id == model_id:
            path = os.path.join(models_dir, model.file)
            if not os.path.isfile(path):
                raise CheckpointError(f"the bundled model {model_id} is missing its file {path}; "
                                      "reinstall the plugin")
            return path
    known = ", ".join(m.id for m in bundled_models(models_dir)) or "none"
    raise CheckpointError(f"unknown bundled model {model_id!r} (bundled: {known}); give a "
                          "checkpoint file with MODEL_FILE instead")
