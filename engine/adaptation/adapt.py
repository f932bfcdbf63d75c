"""Scene adaptation: fine-tune a copy of a model on the scene being processed (torch).

See :mod:`engine.adaptation.config` for the schemes and the papers they come from.
Arrays in, model out; no GDAL.  The steps, in order:

1. The scene's invalid pixels (NaN, ``valid`` False) are filled with band means and
   excluded, with the reach of the MTF filters, from every patch.
2. Reduced-resolution pair (Wald's protocol, as the training data were made): PAN and MS
   low-passed with the sensor's MTF-matched filters (exact-GNyq kernel) and decimated at
   the toolbox phase; the degraded MS is put back on the degraded PAN grid with
   interp23tap.  The scene's MS is the reference.
3. Patches: valid windows spread over the whole scene (farthest-point sampling, seeded).
   A few reduced-resolution windows are kept aside as guard patches; no training patch
   overlaps them.
4. ``steps`` Adam steps, each on ``batch_size`` patches with a seeded flip/rotation (the
   output is turned back before the loss, so the MTF/decimation phase is kept).
   Cancellation is checked and progress reported between steps.
   With ``through_correction`` every loss, and the guard, judge the output after the
   spectral consistency correction, as the user gets it.
5. Guard: the L1 error on the guard patches before and after; if adaptation did not
   lower it, or made the full-resolution spectral consistency of the guard areas (the
   MTF-filtered, decimated output against the MS, Z-PNN's L_spec) more than 5 % worse,
   or a loss became non-finite, the base model is returned and the log says so.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from ..devices import deterministic, select_device
from ..errors import Canceled, InputError
from ..feedback import Feedback, NullFeedback
from ..inference.spectral_correction_torch import Kernels, correct_tensor, separable_kernels
from ..io.grid import Alignment
from ..io.placement import ms_to_pan_grid
from ..nodata import fill_with_band_means
from ..wald import degrade
from .config import AdaptationConfig, AdaptationResult, AdaptationUnavailable
from .fr_loss import FullResolutionLoss
from .sampling import candidate_windows, dilate, spread_windows

#: Reach of the 41-tap MTF filters, in pixels of the grid they run on.
MTF_HALF_SUPPORT = 20
#: PAN MTF gain used when none is given (the literature's unknown-sensor value).
DEFAULT_PAN_GAIN = 0.15
#: The guard also reverts when the full-resolution spectral consistency (Z-PNN's L_spec)
#: of the guard areas grows by more than this factor.
SPECTRAL_TOLERANCE = 1.05
#: Smallest patch side tried on small scenes, in units of the ratio.
MIN_PATCH_RATIOS = 4

Monitor = Callable[[int, "torch.nn.Module"], None]


def _windows(bad: np.ndarray, size: int, unit: int, need: int, smallest: int = 0
             ) -> tuple[int, int, np.ndarray]:
    """Largest patch side ``s`` (multiple of ``unit``, from ``size`` down to
    :data:`MIN_PATCH_RATIOS` units, or ``smallest``) that fits at least ``need``
    disjoint valid windows.

    Returns ``(s, disjoint count, candidates)``; candidates lie at half-patch steps (at
    every ``unit`` at the smallest side).
    """
    s = max(unit, (int(size) // unit) * unit)
    smallest = min(s, max(smallest, MIN_PATCH_RATIOS * unit))
    while True:
        disjoint = len(candidate_windows(bad, s, s))
        if disjoint >= need or s <= smallest:
            step = max(unit, (s // 2 // unit) * unit) if disjoint >= need else unit
            return s, disjoint, candidate_windows(bad, s, step)
        s = max(smallest, ((s * 3 // 4) // unit) * unit)


def _stack(arr: np.ndarray, wins: np.ndarray, size: int, scale: int = 1) -> np.ndarray:
    """Windows ``(row, col)`` (in units where ``scale`` array pixels make one) of side
    ``size`` cut from ``arr (C, H, W)`` -> ``(N, C, size*scale, size*scale)`` float32."""
    out = [arr[:, r * scale:(r + size) * scale, c * scale:(c + size) * scale] for r, c in wins]
    return np.ascontiguousarray(np.stack(out), dtype=np.float32)


def _augment(t: torch.Tensor, k: int) -> torch.Tensor:
    """One of the 8 flips/rotations of the square patches ``t (N, C, S, S)``."""
    t = torch.rot90(t, k % 4, dims=(-2, -1))
    return torch.flip(t, dims=(-1,)) if k >= 4 else t


def _unaugment(t: torch.Tensor, k: int) -> torch.Tensor:
    t = torch.flip(t, dims=(-1,)) if k >= 4 else t
    return torch.rot90(t, -(k % 4), dims=(-2, -1))


class _Data:
    """The scene's training and guard tensors (see the module docstring)."""

    def __init__(self, pan: np.ndarray, ms: np.ndarray, ratio: int, gains: Sequence[float],
                 pan_gain: float, cfg: AdaptationConfig, valid: np.ndarray | None,
                 phase: str, device: torch.device) -> None:
        r = ratio
        c, h0, w0 = ms.shape
        h, w = min(h0, pan.shape[0] // r), min(w0, pan.shape[1] // r)
        if h < MIN_PATCH_RATIOS or w < MIN_PATCH_RATIOS:
            raise AdaptationUnavailable(
                f"the scene ({pan.shape[1]}x{pan.shape[0]} PAN pixels) is too small to adapt "
                "the model to it; use no adaptation")
        pan = np.asarray(pan[: r * h, : r * w], dtype=np.float64)
        ms = np.asarray(ms[:, :h, :w], dtype=np.float64)
        pan_ok = np.isfinite(pan)
        if valid is not None:
            pan_ok &= np.asarray(valid, dtype=bool)[: r * h, : r * w]
        pan_block_ok = pan_ok.reshape(h, r, w, r).all(axis=(1, 3))
        ms_ok = np.all(np.isfinite(ms), axis=0) & pan_block_ok
        empty = "every pixel of the scene is nodata: nothing to adapt the model to"
        pan_f = fill_with_band_means(pan[None], pan_ok, empty)[0]
        ms_f = fill_with_band_means(ms, ms_ok, empty)
        self.channels = c
        rng = np.random.default_rng(cfg.seed)
        n_guard = cfg.guard_patches

        # ---- reduced resolution: Wald pair of the scene (also the guard)
        pan_lr, ms_lr = degrade(pan_f, ms_f, r, gains, pan_gain, convention="exact",
                                phase="toolbox")
        hh, ww = pan_lr.shape
        gt = ms_f[:, :hh, :ww]
        lms = ms_to_pan_grid(ms_lr, Alignment(r), (hh, ww), method="interp23tap",
                             phase="toolbox", border="symmetric")
        bad_rr = (dilate(~ms_ok[:hh, :ww], MTF_HALF_SUPPORT)
                  | dilate(~pan_block_ok[:hh, :ww], math.ceil(MTF_HALF_SUPPORT / r)))
        size_rr, disjoint, cand_rr = _windows(bad_rr, cfg.patch_size, r, n_guard + 2)
        n_guard = min(n_guard, max(1, disjoint // 3))
        if disjoint < 2:
            raise AdaptationUnavailable(
                "the scene has too few valid areas to adapt the model to it (it needs at "
                f"least two {size_rr * r}x{size_rr * r} PAN-pixel areas free of nodata); "
                "use no adaptation")
        guard = spread_windows(candidate_windows(bad_rr, size_rr, size_rr), n_guard, rng)
        exclude = [(int(y), int(x), size_rr) for y, x in guard]
        self.size_rr = size_rr
        self.guard = self._rr_tensors(pan_lr, ms_lr, lms, gt, guard, size_rr, r, device)
        self.train_rr = None
        self.train_fr = None
        if cfg.scheme in ("reduced", "both"):
            wins = spread_windows(cand_rr, cfg.patches, rng, exclude, size_rr)
            if len(wins) == 0:
                raise AdaptationUnavailable(
                    "no reduced-resolution training patch is left beside the guard patches: "
                    "the scene is too small to adapt to")
            self.train_rr = self._rr_tensors(pan_lr, ms_lr, lms, gt, wins, size_rr, r, device)
        # ---- full resolution: the scene itself, MS placed on the PAN grid as at inference
        bms = ms_to_pan_grid(ms_f, Alignment(r), pan_f.shape, method="interp23tap",
                             phase=phase, border="symmetric")
        bms = np.where(np.isfinite(bms), bms, 0.0)
        # spectral guard: the centre of every guard area at full resolution
        g = min(size_rr, max(math.ceil(32 / r), cfg.patch_size // r))
        self.guard_fr = None
        if g * r >= 32:
            centres = guard + (size_rr - g) // 2
            self.guard_fr = {
                "pan": torch.from_numpy(_stack(pan_f[None], centres, g, r)).to(device),
                "bms": torch.from_numpy(_stack(bms, centres, g, r)).to(device),
                "ms": torch.from_numpy(_stack(ms_f, centres, g)).to(device),
            }
        self.size_fr = 0
        if cfg.scheme in ("full", "both"):
            bad_fr = dilate(~ms_ok, math.ceil(MTF_HALF_SUPPORT / r) + 1)
            # at least 32 PAN px: the MTF filters' reflected borders need 21
            min_ms = math.ceil(32 / r)
            size_ms, _, cand_fr = _windows(bad_fr, max(min_ms, cfg.patch_size // r), 1, 2,
                                           min_ms)
            wins = spread_windows(cand_fr, cfg.patches, rng, exclude, size_ms)
            if len(wins) == 0:
                raise AdaptationUnavailable(
                    "no full-resolution training patch is left beside the guard patches: the "
                    "scene is too small to adapt to")
            self.size_fr = size_ms * r
            self.train_fr = {
                "pan": torch.from_numpy(_stack(pan_f[None], wins, size_ms, r)).to(device),
                "bms": torch.from_numpy(_stack(bms, wins, size_ms, r)).to(device),
                "ms": torch.from_numpy(_stack(ms_f, wins, size_ms)).to(device),
            }

    @staticmethod
    def _rr_tensors(pan_lr, ms_lr, lms, gt, wins, size, r, device) -> dict[str, torch.Tensor]:
        lr_wins = wins // r
        return {
            "pan": torch.from_numpy(_stack(pan_lr[None], wins, size)).to(device),
            "bms": torch.from_numpy(_stack(lms, wins, size)).to(device),
            "ms": torch.from_numpy(_stack(ms_lr, lr_wins, size // r)).to(device),
            "gt": torch.from_numpy(_stack(gt, wins, size)).to(device),
        }


def _guard_outputs(model: torch.nn.Module, guard: dict[str, torch.Tensor],
                   kernels: Kernels | None) -> Iterator[tuple[slice, torch.Tensor]]:
    """The model's (non-negative) output on each guard patch, one patch at a time, after
    the spectral consistency correction when ``kernels`` are given."""
    model.eval()
    with torch.no_grad():
        for i in range(guard["pan"].shape[0]):
            sl = slice(i, i + 1)
            out = model(guard["ms"][sl], guard["bms"][sl], guard["pan"][sl]).float().clamp(min=0)
            yield sl, out if kernels is None else correct_tensor(out, guard["bms"][sl], kernels)


def _guard_l1(model: torch.nn.Module, guard: dict[str, torch.Tensor],
              kernels: Kernels | None) -> float:
    """Mean L1 error of the model's (non-negative) output on the guard patches."""
    return float(np.mean([float((out - guard["gt"][sl]).abs().mean())
                          for sl, out in _guard_outputs(model, guard, kernels)]))


def _guard_spectral(model: torch.nn.Module, guard: dict[str, torch.Tensor] | None,
                    loss: FullResolutionLoss, kernels: Kernels | None) -> float | None:
    """Full-resolution spectral consistency (``L_spec``) of the model on the guard areas."""
    if guard is None:
        return None
    return float(np.mean([float(loss.spectral(out, guard["ms"][sl]))
                          for sl, out in _guard_outputs(model, guard, kernels)]))


def adapt_model(model: torch.nn.Module, pan: np.ndarray, ms: np.ndarray, *, ratio: int,
                mtf_gains: Sequence[float], pan_mtf_gain: float | None = None,
                config: AdaptationConfig = AdaptationConfig(),
                valid: np.ndarray | None = None, feedback: Feedback | None = None,
                phase: str = "area", monitor: Monitor | None = None) -> AdaptationResult:
    """Fine-tune a copy of ``model`` on one scene; the base model is never modified.

    * ``pan``: ``(H, W)`` float32 PAN; ``ms``: ``(C, H/ratio, W/ratio)`` float32 MS sharing
      the PAN's top-left corner.  Both **in the model's input scaling** (the units
      :class:`engine.inference.scaling.Scaling` maps raw values to: the checkpoint's
      ``input_scaling`` recipe fitted on the whole scene, e.g. divided by the 99th
      percentile of the valid pixels), exactly as they would be given to the model.
      NaN marks nodata.
    * ``ratio``: PAN/MS pixel-size ratio; ``mtf_gains``: the C per-band MS MTF gains at
      Nyquist (:meth:`engine.sensors.Sensor.gnyq`); ``pan_mtf_gain``: the PAN's (None:
      0.15, the literature's unknown-sensor value).
    * ``valid``: optional ``(H, W)`` bool mask of usable PAN pixels.
    * ``feedback``: progress (0-100 over the steps), log lines, cancellation (checked
      between steps; raises :class:`~engine.errors.Canceled`).
    * ``phase``: how the MS sits on the PAN grid: 'area' (georeferenced products, as
      pan-sharpening places it) or 'toolbox' (Wald-protocol reduced pairs).
    * ``monitor(step, model)``: optional call after every step (studies).

    Returns an :class:`AdaptationResult`; its ``model`` is the adapted copy, or ``model``
    itself when ``config.steps`` is 0 or the guard reverted.
    """
    fb: Feedback = feedback if feedback is not None else NullFeedback()
    cfg = config
    r = int(ratio)
    if r != ratio or r < 1:
        raise InputError(f"the ratio must be a positive integer, got {ratio}")
    pan = np.asarray(pan)
    ms = np.asarray(ms)
    if pan.ndim != 2 or ms.ndim != 3:
        raise InputError(f"adaptation needs pan (H, W) and ms (C, h, w), got {pan.shape} "
                         f"and {ms.shape}")
    gains = tuple(float(g) for g in np.atleast_1d(np.asarray(mtf_gains, dtype=np.float64)))
    if len(gains) == 1:
        gains = gains * ms.shape[0]
    if len(gains) != ms.shape[0] or not all(0.0 < g < 1.0 for g in gains):
        raise InputError(f"need {ms.shape[0]} MS MTF gains in (0, 1), got {list(gains)}")
    pan_gain = DEFAULT_PAN_GAIN if pan_mtf_gain is None else float(pan_mtf_gain)
    if not 0.0 < pan_gain < 1.0:
        raise InputError(f"the PAN MTF gain must lie in (0, 1), got {pan_mtf_gain}")
    if phase not in ("area", "toolbox"):
        raise InputError(f"phase must be 'area' or 'toolbox', got {phase!r}")
    common = dict(config=cfg, ratio=r, mtf_gains=gains, pan_mtf_gain=pan_gain)
    if cfg.steps == 0:
        return AdaptationResult(model=model, reverted=False, steps=0, loss_before=None,
                                loss_after=None, reason="no adaptation requested", **common)

    t0 = time.perf_counter()
    dev, _ = select_device(cfg.device)
    data = _Data(pan, ms, r, gains, pan_gain, cfg, valid, phase, dev)
    work = copy.deepcopy(model).to(dev).float()
    for p in work.parameters():
        p.requires_grad_(True)
    counts = {k: int(v["pan"].shape[0]) for k, v in
              (("reduced", data.train_rr), ("full", data.train_fr)) if v is not None}
    how = cfg.scheme + (", through the spectral correction" if cfg.through_correction else "")
    fb.info(f"scene adaptation ({how}): {cfg.steps} steps, lr {cfg.lr:g}, "
            f"{counts} training patches, {data.guard['pan'].shape[0]} guard patches, on {dev}")
    beta = cfg.beta if cfg.beta is not None else (0.25 if data.channels <= 4 else 0.36)
    fr_loss = FullResolutionLoss(gains, r, beta, phase, dev)
    rho_ref = (fr_loss.reference_corr(data.train_fr["pan"], data.train_fr["bms"])
               if data.train_fr is not None else None)
    rng = np.random.default_rng(cfg.seed + 1)
    orders = {k: [] for k in counts}
    kernels = separable_kernels(gains, r, dev) if cfg.through_correction else None

    def batch(kind: str, n: int) -> np.ndarray:
        """Next ``n`` patch indices of ``kind``, cycling through seeded permutations."""
        out = []
        while len(out) < n:
            if not orders[kind]:
                orders[kind] = list(rng.permutation(counts[kind]))
            out.append(orders[kind].pop())
        return np.asarray(out)

    def step_loss(kind: str, n: int) -> torch.Tensor:
        idx = torch.from_numpy(batch(kind, n)).to(dev)
        k = int(rng.integers(8))
        src = data.train_rr if kind == "reduced" else data.train_fr
        ms_t, bms_t, pan_t = (src[key].index_select(0, idx) for key in ("ms", "bms", "pan"))
        out = _unaugment(work(_augment(ms_t, k), _augment(bms_t, k), _augment(pan_t, k)), k)
        out = out.float()
        if kernels is not None:
            out = correct_tensor(out, bms_t, kernels)
        if kind == "reduced":
            return (out - src["gt"].index_select(0, idx)).abs().mean()
        loss, _ = fr_loss(out, pan_t, ms_t, rho_ref.index_select(0, idx))
        return loss

    reverted, reason = False, ""
    first = last = None
    done = 0
    with deterministic(dev):
        before = _guard_l1(work, data.guard, kernels)
        spec_before = _guard_spectral(work, data.guard_fr, fr_loss, kernels)
        work.train()
        opt = torch.optim.Adam(work.parameters(), lr=cfg.lr)
        kinds = list(counts)
        for step in range(cfg.steps):
            if fb.is_canceled():
                raise Canceled("scene adaptation canceled")
            if len(kinds) == 2:
                half = max(1, cfg.batch_size // 2)
                loss = step_loss("reduced", half) + step_loss("full", half)
            else:
                loss = step_loss(kinds[0], cfg.batch_size)
            value = float(loss.detach())
            if not math.isfinite(value):
                reverted, reason = True, f"the training loss became {value} at step {step + 1}"
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done = step + 1
            first = value if first is None else first
            last = value
            fb.set_progress(100.0 * done / cfg.steps)
            if monitor is not None:
                monitor(done, work)
        after = _guard_l1(work, data.guard, kernels)
        spec_after = _guard_spectral(work, data.guard_fr, fr_loss, kernels)
    work.eval()
    if not reverted and not (math.isfinite(after) and after < before):
        reverted = True
        reason = (f"adaptation did not lower the error on the guard patches "
                  f"(L1 {before:.5f} -> {after:.5f})")
    elif (not reverted and cfg.spectral_guard and spec_before is not None
          and spec_after is not None and not spec_after <= SPECTRAL_TOLERANCE * spec_before):
        reverted = True
        reason = (f"adaptation made the full-resolution spectral consistency of the guard "
                  f"areas worse (L_spec {spec_before:.5f} -> {spec_after:.5f})")
    seconds = time.perf_counter() - t0
    if reverted:
        fb.warning(f"scene adaptation reverted: {reason}; the base model is used")
    else:
        fb.info(f"scene adaptation kept: guard L1 {before:.5f} -> {after:.5f} "
                f"({100 * (after - before) / before:+.1f} %) in {seconds:.1f} s")
    return AdaptationResult(
        model=model if reverted else work, reverted=reverted, steps=done,
        loss_before=before, loss_after=after, seconds=seconds, device=str(dev),
        spec_before=spec_before, spec_after=spec_after,
        train_loss_first=first, train_loss_last=last, train_patches=counts,
        guard_patches=int(data.guard["pan"].shape[0]),
        patch_size={"reduced": data.size_rr, "full": data.size_fr}, reason=reason, **common)

