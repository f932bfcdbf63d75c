"""A deep model as the fusion step of Wald's reduced-resolution protocol (torch).

:func:`model_fuser` returns a callable for
:func:`engine.metrics.evaluation.reduced_resolution_scores`: it scales the degraded pair
with the checkpoint's input scaling (fitted on the degraded pair itself, as inference
fits it on a scene), optionally adapts a copy of the model to that degraded pair
(:mod:`engine.adaptation`, never seeing the reference), runs the tiled predictor and maps
the output back to data units, after the spectral consistency correction unless it is
turned off (:mod:`engine.inference.spectral_correction`), as :func:`.raster.pansharpen_raster`
does.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..devices import select_device
from ..feedback import Feedback
from ..sensors import Sensor
from ..weights.checkpoint import load_model, read_metadata
from .predictor import TiledPredictor
from .raster import default_bands, check_bands
from .scaling import Scaling
from .scene_adaptation import ProgressRange
from .spectral_correction import correct


def model_fuser(checkpoint: str, ms_band_count: int, bands: Sequence[int] | None,
                sensor: Sensor, ratio: int, adapt_steps: int, adapt_config: Any,
                device: str, fb: Feedback, spectral_correction: bool = True
                ) -> tuple[Callable[..., np.ndarray], dict[str, Any], list[int]]:
    """``(fuser, info, band indices)``: ``fuser(pan_lr, ms_up, ms_lr, mask)`` returns the
    fused ``(C, h, w)`` in data units; ``info`` (filled when it runs) records the model,
    bands and adaptation; the band indices (0-based) select the MS bands the model uses."""
    meta, sha = read_metadata(checkpoint)
    count = int(meta["bands"]["count"])
    names = meta["bands"].get("names")
    chosen = (default_bands(ms_band_count, count, names) if not bands
              else check_bands(bands, ms_band_count, count))
    idx = [b - 1 for b in chosen]
    dev, msg = select_device(device)
    (fb.warning if msg.startswith("WARNING") else fb.info)(msg)
    model, _ = load_model(checkpoint, dev)
    gains = sensor.gnyq_of(chosen, ms_band_count)
    info: dict[str, Any] = {"checkpoint_sha256": sha, "model": meta.get("model"),
                            "ms_bands": chosen, "adaptation": {"steps": 0},
                            "spectral_correction": list(gains) if spectral_correction else None}
    fb.info(f"deep model {meta.get('model')} on MS bands {', '.join(map(str, chosen))}")

    def fuse(pan_lr: np.ndarray, ms_up: np.ndarray, ms_lr: np.ndarray,
             mask: np.ndarray) -> np.ndarray:
        scaling = Scaling.from_dict(meta.get("input_scaling")).fit(ms=ms_lr, pan=pan_lr)
        pan_s = scaling.apply(pan_lr, "pan").astype(np.float32)
        ms_s = scaling.apply(ms_lr, "ms").astype(np.float32)
        bms_s = scaling.apply(ms_up, "ms").astype(np.float32)
        used = model
        if adapt_steps:
            from dataclasses import replace

            from ..adaptation import AdaptationConfig, adapt_model

            cfg = adapt_config if adapt_config is not None else AdaptationConfig()
            cfg = replace(cfg, steps=int(adapt_steps), device=str(dev),
                          spectral_guard=cfg.spectral_guard and not spectral_correction,
                          through_correction=cfg.through_correction or spectral_correction)
            fb.info("scene adaptation on the degraded pair only (never on the reference)")
            result = adapt_model(model, pan_s, ms_s, ratio=ratio, mtf_gains=gains,
                                 pan_mtf_gain=sensor.pan_gnyq, config=cfg, valid=mask,
                                 feedback=ProgressRange(fb, 20.0, 70.0), phase="toolbox")
            used = result.model
            info["adaptation"] = result.to_metadata()
        info["input_scaling"] = scaling.to_dict()
        pred = TiledPredictor(used, dev, ratio=ratio).predict(pan_s, bms_s, valid=mask)
        if spectral_correction:
            pred = correct(pred, bms_s, ratio, gains)
        return scaling.invert(pred, "ms").astype(np.float64)

    return fuse, info, idx
