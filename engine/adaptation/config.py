"""Settings and result of scene adaptation (no torch, no GDAL).

Scene adaptation fine-tunes a copy of a trained pan-sharpening network on the scene it is
about to process, with that scene as its only supervision:

* ``"reduced"``: target-adaptive fine-tuning at reduced resolution (Scarpa, Vitale &
  Cozzolino, "Target-adaptive CNN-based pansharpening", IEEE TGRS 56(9), 2018): the
  scene's own PAN and MS are degraded by Wald's protocol with the sensor's MTF and the
  network learns to recover the scene's MS from them (L1 loss).
* ``"full"``: the unsupervised full-resolution loss of Z-PNN (Ciotola, Vitale, Mazza,
  Poggi & Scarpa, "Pansharpening by convolutional neural networks in the full resolution
  framework", IEEE TGRS 60, 2022): spectral consistency of the MTF-filtered, decimated
  output with the MS plus a local-correlation term of every output band with the PAN,
  thresholded by the correlation the MS itself has with the low-passed PAN.
* ``"both"``: the sum of the two, each on half of every batch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import InputError

SCHEMES = ("reduced", "full", "both")


class AdaptationUnavailable(InputError):
    """The scene is too small or has too little valid area to adapt a model to it."""


#: Default number of adaptation steps (the ADAPT_STEPS default of ``pantiny:pansharpen``):
#: 20 from training/adaptation_study.py, raised to 60 by the leave-one-sensor-out study
#: once adaptation ran through the spectral correction (training/RESULTS.md,
#: "Leave-one-sensor-out"); about 20 s on a 1300 x 1300 scene on a 2-core CPU.
DEFAULT_STEPS = 60


@dataclass(frozen=True)
class AdaptationConfig:
    """How a model is adapted to one scene.

    * ``steps``: optimiser steps (fixed, so a run is reproducible for a given seed and
      device whatever the machine's speed); 0 returns the base model.
    * ``lr``: Adam learning rate.
    * ``patch_size``: side of the training patches in pixels of the grid the network runs
      on (reduced-resolution pixels for ``"reduced"``, PAN pixels for ``"full"``);
      rounded down to a multiple of the ratio and reduced on small scenes.
    * ``batch_size``: patches per step.
    * ``patches``: patches drawn from the scene (spread over its valid area) and cycled
      through, per scheme.
    * ``scheme``: ``"reduced"``, ``"full"`` or ``"both"`` (see the module docstring).
    * ``seed``: seed of the patch choice and the flips/rotations of each step.
    * ``guard_fraction``: share of ``patches`` kept aside (at least 1, at most 8) as
      reduced-resolution guard patches, never trained on: when adaptation makes their
      L1 error worse, the base model is kept.
    * ``device``: 'cpu', 'cuda', 'cuda:N' or 'auto'.
    * ``beta``: weight of the full-resolution structural term (None: 0.25 for up to 4
      bands, 0.36 for more, the Z-PNN settings).
    * ``spectral_guard``: the guard also reverts when adaptation makes the
      full-resolution spectral consistency of the guard areas worse (Z-PNN's L_spec).
      Pointless, and harmful, when the output then goes through the spectral consistency
      correction, which restores that consistency whatever the model does
      (:mod:`engine.inference.spectral_correction`).
    * ``through_correction``: the losses and the guard's L1 judge the model's output
      after the spectral consistency correction (``F + (M~ - LP(F))``, the sensor's MTF
      gains), i.e. what the user gets when the correction is on: the steps are spent on
      the detail the correction leaves to the model, not on the low frequencies it
      replaces anyway.
    """

    steps: int = DEFAULT_STEPS
    lr: float = 1e-4
    patch_size: int = 64
    batch_size: int = 4
    patches: int = 24
    scheme: str = "reduced"
    seed: int = 0
    guard_fraction: float = 0.2
    device: str = "cpu"
    beta: float | None = None
    spectral_guard: bool = True
    through_correction: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or int(self.steps) != self.steps or self.steps < 0:
            raise InputError(f"adaptation steps must be an integer >= 0, got {self.steps!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise InputError(f"the adaptation learning rate must be > 0, got {self.lr!r}")
        if int(self.patch_size) != self.patch_size or self.patch_size < 8:
            raise InputError(f"the adaptation patch size must be an integer >= 8, got "
                             f"{self.patch_size!r}")
        if int(self.batch_size) != self.batch_size or self.batch_size < 1:
            raise InputError(f"the adaptation batch size must be >= 1, got {self.batch_size!r}")
        if int(self.patches) != self.patches or self.patches < 2:
            raise InputError(f"at least 2 adaptation patches are needed, got {self.patches!r}")
        if self.scheme not in SCHEMES:
            raise InputError(f"unknown adaptation scheme {self.scheme!r}; use one of "
                             f"{', '.join(SCHEMES)}")
        if not 0.0 < float(self.guard_fraction) < 1.0:
            raise InputError(f"the guard fraction must lie in (0, 1), got {self.guard_fraction}")
        if self.device not in ("cpu", "cuda", "auto") and not str(self.device).startswith("cuda:"):
            raise InputError(f"unknown device {self.device!r}; use 'cpu', 'cuda' or 'auto'")
        if not isinstance(self.spectral_guard, bool):
            raise InputError(f"spectral_guard must be true or false, got {self.spectral_guard!r}")
        if not isinstance(self.through_correction, bool):
            raise InputError(f"through_correction must be true or false, got "
                             f"{self.through_correction!r}")
        if self.beta is not None and not (math.isfinite(self.beta) and self.beta >= 0):
            raise InputError(f"beta must be >= 0, got {self.beta!r}")

    @property
    def guard_patches(self) -> int:
        """Number of guard patches kept aside."""
        return int(min(8, max(1, round(self.guard_fraction * self.patches))))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _json_float(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass
class AdaptationResult:
    """What :func:`engine.adaptation.adapt_model` did.

    ``model`` is the adapted copy, or the base model itself when nothing was kept (no
    steps, or the guard reverted).  ``loss_before``/``loss_after``: mean L1 error (model
    units) of the base and of the adapted model on the guard patches (reduced
    resolution, the scene's own MS as reference); ``spec_before``/``spec_after``: the
    full-resolution spectral consistency (Z-PNN's L_spec) on the same areas.
    ``train_loss_first``/``_last``: the training loss of the first and last step.
    """

    model: Any
    reverted: bool
    steps: int
    loss_before: float | None
    loss_after: float | None
    config: AdaptationConfig
    seconds: float = 0.0
    device: str = "cpu"
    train_loss_first: float | None = None
    train_loss_last: float | None = None
    train_patches: dict[str, int] = field(default_factory=dict)
    guard_patches: int = 0
    patch_size: dict[str, int] = field(default_factory=dict)
    reason: str = ""
    ratio: int = 0
    mtf_gains: tuple[float, ...] = ()
    pan_mtf_gain: float | None = None
    spec_before: float | None = None
    spec_after: float | None = None

    @property
    def adapted(self) -> bool:
        """True when the returned model is the adapted copy."""
        return self.steps > 0 and not self.reverted

    def to_metadata(self) -> dict[str, Any]:
        """JSON-safe record of the run (non-finite numbers become None)."""
        return {
            "method": {
                "reduced": "target-adaptive fine-tuning at reduced resolution "
                           "(Scarpa et al., IEEE TGRS 2018)",
                "full": "unsupervised full-resolution loss (Z-PNN, Ciotola et al., "
                        "IEEE TGRS 2022)",
                "both": "reduced-resolution (Scarpa et al. 2018) + full-resolution "
                        "(Ciotola et al. 2022) losses",
            }[self.config.scheme],
            "config": self.config.as_dict(),
            "steps": int(self.steps),
            "adapted": bool(self.adapted),
            "reverted": bool(self.reverted),
            "reason": self.reason,
            "guard_l1_before": _json_float(self.loss_before),
            "guard_l1_after": _json_float(self.loss_after),
            "guard_spectral_before": _json_float(self.spec_before),
            "guard_spectral_after": _json_float(self.spec_after),
            "train_loss_first": _json_float(self.train_loss_first),
            "train_loss_last": _json_float(self.train_loss_last),
            "train_patches": dict(self.train_patches),
            "guard_patches": int(self.guard_patches),
            "patch_size": dict(self.patch_size),
            "ratio": int(self.ratio),
            "mtf_gains": [float(g) for g in self.mtf_gains],
            "pan_mtf_gain": _json_float(self.pan_mtf_gain),
            "seconds": round(float(self.seconds), 3),
            "device": self.device,
        }
