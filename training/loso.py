"""Leave-one-sensor-out study: does the model pan-sharpen a satellite it has never seen?

Usage::

    python -m training.loso --data-root .run/datasets/all --out .run/loso/aug \\
        --recipe aug --steps 300 [--groups WV3 Landsat] [--single] [--reuse]
        [--adapt-steps 0] [--write training/RESULTS.md]

The data is the output of ``python -m training.build_datasets --scenes all --variants K``.
For every sensor group (:data:`GROUPS`: WorldView-3, WorldView-2, QuickBird, Landsat (7 and
8), the very-high-resolution scene) a model is trained on all the *other* groups
(multiple-in-one, every dataset drawn with equal probability) for a fixed number of
optimiser steps, then evaluated on the held-out group's scenes:

* reduced resolution (Wald, Ranchin, Mangolini, PE&RS 1997): the registered scene (at most
  ``--max-size`` MS pixels a side, central crop) degraded with the sensor's MTF gains;
  Q2n (Garzelli & Nencini, IEEE GRSL 2009), SAM (degrees), ERGAS;
* full resolution (central crop of at most ``--max-size`` PAN pixels a side): HQNR
  (Arienzo et al., IEEE GRSL 2022) and D_rho (Scarpa & Ciotola, IEEE TGRS 2022);

beside EXP (interp23tap upsampling), GDAL's Brovey (``gdal_pansharpen``'s weighted Brovey
with default weights, run through ``osgeo.gdal`` exactly as a QGIS user gets it) and
MTF-GLP-HPM (Vivone et al., IEEE TGRS 2018; :mod:`engine.fusion`).  When
:mod:`engine.adaptation` can be imported, the model is also evaluated after scene
adaptation (target-adaptive fine-tuning, Scarpa et al., IEEE TGRS 2018): on the degraded
pair for the RR scores (never the reference), on the full-resolution pair for the FR ones.

``--single`` adds, for the paper's claim (multiple-in-one vs one dataset), a model trained
on the largest group alone (most training patches), at the same number of steps,
evaluated on every other held-out group.  ``--recipe aug`` trains on
``<group>/train_aug.h5`` (Wald patches plus randomised degradations, :mod:`training.augment`),
``--recipe plain`` on ``<group>/train.h5``.  ``--reuse`` only evaluates the checkpoints of an
earlier run (no training), keeping the scores it already has (e.g. to add the
adaptation columns).  ``--checkpoint CKPT`` trains nothing and scores that one model on
every group (a bundled model on the sensors it was trained on, for comparison).
Results: ``<out>/results.json`` and ``<out>/results.md``; ``--write`` puts the table into
a Markdown file's ``## Leave-one-sensor-out`` section.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from engine.errors import EngineError, InputError

#: Sensor groups of the study -> datasets of ``training.build_datasets``.
GROUPS: dict[str, tuple[str, ...]] = {
    "WV3": ("wv3",), "WV2": ("wv2",), "QuickBird": ("qb",), "Landsat": ("l7", "l8"),
    "VHR": ("vhr",),
}
#: The recipe of the study's models (a :class:`engine.trainer.trainer.TrainConfig` mapping
#: without datasets / epochs, which the study sets).
DEFAULT_RECIPE: dict[str, Any] = {
    "model": "pantiny", "hparams": {}, "bands": 4, "balanced": True,
    "loss": {"l1": 1.5, "ssim": 4.0, "focal": 1.5},
    "optimizer": {"lr": 5.0e-4, "weight_decay": 1.0e-4, "betas": [0.9, 0.999], "eps": 1.0e-8},
    "scheduler": {"eta_min": 1.0e-6}, "batch_size": 16, "crop": 32, "augment": True,
    "eval_splits": ["val"], "eval_max_patches": 32, "fr_eval": False, "seed": 123,
    "device": "cpu", "amp": False, "num_workers": 0, "progress": False,
}
STEPS_PER_EPOCH = 25
MODEL = "model"
MODEL_ADAPTED = "model + adaptation"
#: Label suffix of a model's output after the spectral consistency correction.
CORRECTED = " + spectral correction"
BASELINE_METHODS = {"EXP": "exp", "GDAL Brovey": "gdal_brovey", "MTF-GLP-HPM": "mtf_glp_hpm"}
RR_KEYS = ("Q2N", "SAM", "ERGAS")
FR_KEYS = ("HQNR", "D_RHO")

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(f"[{_dt.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- data


def load_manifest(data_root: Path) -> dict[str, Any]:
    path = data_root / "manifest.json"
    if not path.is_file():
        raise InputError(f"{path} not found: build the data with python -m "
                         "training.build_datasets --scenes all --variants 2 --out "
                         f"{data_root}")
    return json.loads(path.read_text())


def group_datasets(manifest: dict[str, Any], group: str) -> list[str]:
    """The built datasets of a study group (those present in the manifest)."""
    return [d for d in GROUPS[group] if d in manifest["groups"]]


def train_count(manifest: dict[str, Any], datasets: Sequence[str], recipe: str) -> int:
    key = "train_aug" if recipe == "aug" else "train"
    return sum(manifest["groups"][d]["files"].get(key, {}).get("count", 0) for d in datasets)


def dataset_entries(manifest: dict[str, Any], datasets: Sequence[str], recipe: str
                    ) -> list[dict[str, Any]]:
    """Trainer dataset entries (explicit HDF5 files; ``train_aug.h5`` for ``aug``)."""
    out = []
    key = "train_aug" if recipe == "aug" else "train"
    for d in datasets:
        files = manifest["groups"][d]["files"]
        if key not in files:
            if recipe == "aug" and "train" in files:
                raise InputError(f"dataset {d} has no train_aug.h5: rebuild with --variants K")
            continue   # test-only dataset
        entry = {"name": d, "kind": "h5", "train": files[key]["path"]}
        if "val" in files:
            entry["val"] = files["val"]["path"]
        out.append(entry)
    return out


def eval_scene_names(manifest: dict[str, Any], group: str, per_dataset: int) -> list[str]:
    """Scenes evaluated for a held-out group: every scene of its datasets, at most
    ``per_dataset`` per dataset (evenly spaced, deterministic)."""
    names: list[str] = []
    for d in group_datasets(manifest, group):
        scenes = list(manifest["groups"][d]["scenes"])
        if len(scenes) > per_dataset:
            idx = np.linspace(0, len(scenes) - 1, per_dataset).round().astype(int)
            scenes = [scenes[i] for i in sorted(set(idx.tolist()))]
        names += scenes
    return names


def prepare_scene(name: str, max_size: int, cache: Path | None = None,
                  data_dir: str | None = None) -> dict[str, Any]:
    """RR and FR evaluation arrays of one scene (scaled as the builder scales it).

    ``rr``: ``pan`` (H, W), ``ms`` (C, H/R, W/R), ``lms`` (C, H, W), ``gt`` (C, H, W): the
    central crop of at most ``max_size`` MS pixels, Wald-degraded with the sensor's gains.
    ``fr``: ``pan``, ``ms`` (native), ``lms`` (interp23tap, pixel-is-area), ``valid``: the
    central crop of at most ``max_size`` PAN pixels (multiples of 32 PAN pixels).
    """
    if cache is not None and (cache / f"{name}.npz").is_file():
        z = np.load(cache / f"{name}.npz", allow_pickle=False)
        meta = json.loads(str(z["meta"]))
        return {"meta": meta,
                "rr": {k: z[f"rr_{k}"] for k in ("pan", "ms", "lms", "gt")},
                "fr": {k: z[f"fr_{k}"] for k in ("pan", "ms", "lms", "valid")}}
    from engine.inference.scaling import Scaling
    from engine.io.grid import Alignment
    from engine.io.placement import ms_to_pan_grid
    from engine.nodata import fill_with_band_means
    from engine.wald import degrade

    from .build_datasets import fr_scene_arrays, load_scene, register, scene_spec, shared_data_dir

    nm, spec = scene_spec(name)
    scene = load_scene(nm, spec, shared_data_dir(data_dir))
    r = scene.ratio
    ms_valid = np.all(np.isfinite(scene.ms), axis=0)
    scaling = Scaling().fit(scene.ms, scene.pan, ms_valid=ms_valid,
                            pan_valid=np.isfinite(scene.pan))
    reg = register(scene, spec.get("registration", "auto"), log=lambda m: None)
    pan = scaling.apply(reg.pan, "pan")
    ms = scaling.apply(reg.ms, "ms")
    h, w = ms.shape[-2:]
    # RR: central crop of at most max_size MS pixels (multiples of 32 at the GT scale)
    q = 32
    hr, wr = (min(h, max_size) // q) * q, (min(w, max_size) // q) * q
    if hr == 0 or wr == 0:
        raise InputError(f"scene {nm}: {h} x {w} MS pixels after registration, smaller than "
                         f"one {q}-pixel Q2n block: not evaluated")
    i0, j0 = ((h - hr) // 2 // r) * r, ((w - wr) // 2 // r) * r
    gt = ms[:, i0:i0 + hr, j0:j0 + wr]
    pan_c = pan[r * i0: r * (i0 + hr), r * j0: r * (j0 + wr)]
    gt_f = fill_with_band_means(gt, np.all(np.isfinite(gt), axis=0))
    pan_f = fill_with_band_means(pan_c[None], np.isfinite(pan_c))[0]
    pan_lr, ms_lr = degrade(pan_f, gt_f, r, scene.gnyq, scene.sensor.pan_gnyq)
    lms = ms_to_pan_grid(ms_lr, Alignment(r), pan_lr.shape, method="interp23tap",
                         phase="toolbox", border="symmetric")
    rr = {"pan": pan_lr.astype(np.float32), "ms": ms_lr.astype(np.float32),
          "lms": lms.astype(np.float32), "gt": gt_f.astype(np.float32)}
    # FR: central crop of at most max_size PAN pixels
    mh = min(h, max_size // r)
    mw = min(w, max_size // r)
    a0, b0 = (h - mh) // 2, (w - mw) // 2
    fr = fr_scene_arrays(pan[r * a0: r * (a0 + mh), r * b0: r * (b0 + mw)],
                         ms[:, a0:a0 + mh, b0:b0 + mw], r)
    fr = {"pan": fr["pan"][0, 0], "ms": fr["ms"][0], "lms": fr["lms"][0],
          "valid": fr["valid"][0].astype(bool)}
    meta = {"name": nm, "group": scene.group, "sensor": scene.sensor.key, "ratio": r,
            "gnyq": list(scene.gnyq), "pan_gnyq": float(scene.sensor.pan_gnyq),
            "rr_shape": list(gt.shape[-2:]), "fr_shape": list(fr["pan"].shape),
            "registration": reg.info["applied_offset"]}
    out = {"meta": meta, "rr": rr, "fr": fr}
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(cache / f"{name}.npz", meta=json.dumps(meta),
                 **{f"rr_{k}": v for k, v in rr.items()}, **{f"fr_{k}": v for k, v in fr.items()})
    return out


# --------------------------------------------------------------------------- methods


def gdal_brovey(pan: np.ndarray, ms: np.ndarray, ratio: int, phase: str = "area") -> np.ndarray:
    """``gdal_pansharpen``'s weighted Brovey with GDAL's defaults (weights 1/L, cubic
    resampling of the MS) through ``osgeo.gdal``: ``pan`` (H, W), ``ms`` (C, H/R, W/R) ->
    (C, H, W) float64.

    ``phase='area'``: the MS pixel covers its R x R PAN block (real products).
    ``phase='toolbox'``: the MS sample sits on PAN pixel ``R*k + R//2`` (Wald-degraded
    pairs decimated at the toolbox phase); the MS geotransform is shifted so that GDAL
    places it there.
    """
    from osgeo import gdal

    gdal.UseExceptions()
    r = int(ratio)
    H, W = pan.shape
    c, h, w = ms.shape
    mem = gdal.GetDriverByName("MEM")
    p_ds = mem.Create("", W, H, 1, gdal.GDT_Float32)
    p_ds.SetGeoTransform((0.0, 1.0, 0.0, 0.0, 0.0, -1.0))
    p_ds.GetRasterBand(1).WriteArray(pan.astype(np.float32))
    off = (r // 2 + 0.5 - r / 2.0) if phase == "toolbox" else 0.0
    m_ds = mem.Create("", w, h, c, gdal.GDT_Float32)
    m_ds.SetGeoTransform((off, float(r), 0.0, -off, 0.0, -float(r)))
    for b in range(c):
        m_ds.GetRasterBand(b + 1).WriteArray(ms[b].astype(np.float32))
    bands_xml = "".join(f'<SpectralBand dstBand="{b + 1}"></SpectralBand>' for b in range(c))
    xml = ("<VRTDataset subClass=\"VRTPansharpenedDataset\"><PansharpeningOptions>"
           "<Algorithm>WeightedBrovey</Algorithm><Resampling>Cubic</Resampling>"
           f"{bands_xml}</PansharpeningOptions></VRTDataset>")
    vrt = gdal.CreatePansharpenedVRT(xml, p_ds.GetRasterBand(1),
                                     [m_ds.GetRasterBand(b + 1) for b in range(c)])
    out = vrt.ReadAsArray().astype(np.float64)
    return out.reshape(c, H, W)


def baseline(method: str, pan: np.ndarray, ms: np.ndarray, lms: np.ndarray, ratio: int,
             gnyq: Sequence[float], pan_gnyq: float, phase: str,
             valid: np.ndarray | None = None) -> np.ndarray:
    """A classical method on arrays (``lms``: the MS on the PAN grid)."""
    if method == "gdal_brovey":
        return gdal_brovey(pan, ms, ratio, phase)
    from engine.fusion import fuse

    return fuse(method, pan.astype(np.float64), lms.astype(np.float64), None, ratio,
                gnyq, pan_gnyq, valid=valid)


def model_predict(model: Any, pan: np.ndarray, lms: np.ndarray, ratio: int,
                  valid: np.ndarray | None = None) -> np.ndarray:
    """Run a model over a whole (small) image on the CPU -> (C, H, W) float64."""
    import torch

    from engine.inference.predictor import TiledPredictor

    pred = TiledPredictor(model, torch.device("cpu"), tile_size=None, overlap=0, batch_size=1,
                          dtype="fp32", ratio=ratio)
    return np.asarray(pred.predict(pan.astype(np.float32), lms.astype(np.float32), valid),
                      dtype=np.float64)


def adaptation_available() -> bool:
    try:
        import engine.adaptation  # noqa: F401
    except ImportError:
        return False
    return True


def adapt(model: Any, pan: np.ndarray, ms: np.ndarray, meta: dict[str, Any], steps: int | None,
          valid: np.ndarray | None = None, phase: str = "area",
          settings: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """A scene-adapted copy of ``model`` (:func:`engine.adaptation.adapt_model`, default
    :class:`engine.adaptation.AdaptationConfig` unless ``steps`` or ``settings``, e.g.
    ``{"lr": 3e-4}``).  ``phase``: 'toolbox' for Wald-degraded pairs, 'area' for real
    products.  A scene too small to adapt to keeps the base model (recorded as skipped)."""
    from engine.adaptation import AdaptationConfig, adapt_model
    from engine.adaptation.config import AdaptationUnavailable

    kw = dict(settings or {})
    if steps is not None:
        kw["steps"] = int(steps)
    cfg = AdaptationConfig(**kw)
    t0 = time.time()
    try:
        res = adapt_model(model, pan.astype(np.float32), ms.astype(np.float32),
                          ratio=int(meta["ratio"]), mtf_gains=tuple(meta["gnyq"]),
                          pan_mtf_gain=float(meta["pan_gnyq"]), config=cfg, valid=valid,
                          phase=phase)
    except AdaptationUnavailable as exc:
        return model, {"skipped": str(exc), "config": cfg.as_dict(),
                       "seconds": round(time.time() - t0, 2)}
    info = dict(res.to_metadata()) if hasattr(res, "to_metadata") else {}
    info["seconds"] = round(time.time() - t0, 2)
    info["reverted"] = bool(getattr(res, "reverted", False))
    return res.model, info


def _clean(fused: np.ndarray) -> np.ndarray:
    return np.clip(np.nan_to_num(fused, nan=0.0), 0.0, None)


def score_scene(predictors: dict[str, Callable[[str, dict], np.ndarray]], scene: dict[str, Any],
                log: Log = _stderr) -> dict[str, dict[str, float]]:
    """RR and FR indices of every predictor on one scene.  ``predictors[label](kind,
    arrays)`` returns the fused image for ``kind`` 'rr' or 'fr'."""
    from engine.metrics import full_resolution_report, reduced_resolution_report

    meta, rr, fr = scene["meta"], scene["rr"], scene["fr"]
    r = int(meta["ratio"])
    out: dict[str, dict[str, float]] = {}
    for label, fn in predictors.items():
        t0 = time.time()
        res: dict[str, float] = {}
        rep = reduced_resolution_report(_clean(fn("rr", rr)), rr["gt"].astype(np.float64), r,
                                        peak=1.0)
        res.update({k: float(rep[k]) for k in RR_KEYS})
        valid = fr["valid"]
        rep = full_resolution_report(_clean(fn("fr", fr)), fr["pan"].astype(np.float64),
                                     fr["ms"].astype(np.float64), r, meta["gnyq"],
                                     mask=None if valid.all() else valid)
        res.update({k: float(rep[k]) for k in FR_KEYS})
        out[label] = res
        scores = " ".join(f"{k} {v:.4f}" for k, v in res.items())
        log(f"    {meta['name']:<16} {label:<20} {scores} ({time.time() - t0:.1f} s)")
    return out


def baseline_predictors(meta: dict[str, Any]) -> dict[str, Callable]:
    r, g, pg = int(meta["ratio"]), meta["gnyq"], float(meta["pan_gnyq"])

    def mk(method: str) -> Callable:
        def fn(kind: str, a: dict[str, np.ndarray]) -> np.ndarray:
            phase = "toolbox" if kind == "rr" else "area"
            return baseline(method, a["pan"], a["ms"], a["lms"], r, g, pg, phase,
                            a.get("valid"))
        return fn
    return {label: mk(m) for label, m in BASELINE_METHODS.items()}


def adaptation_label(steps: int | None, settings: dict[str, Any] | None = None) -> str:
    """Column label of an adapted model: ``" + adaptation"`` at the defaults, else with the
    settings that differ, e.g. ``" + adaptation (60 steps, lr 0.0003)"``."""
    parts = ([f"{steps} steps"] if steps is not None else []) + [
        f"{k} {v}" for k, v in sorted((settings or {}).items())]
    return " + adaptation" + (f" ({', '.join(parts)})" if parts else "")


def model_predictors(model: Any, meta: dict[str, Any], adapt_steps: int | None,
                     with_adaptation: bool, label: str = MODEL,
                     infos: list | None = None,
                     adapt_settings: dict[str, Any] | None = None,
                     correction: bool = False) -> dict[str, Callable]:
    """Fusers of ``model`` for :func:`score_scene`: the model as it is, adapted to the
    scene (``with_adaptation``) and, with ``correction``, each of them followed by the
    spectral consistency correction (:mod:`engine.inference.spectral_correction`, the
    sensor's MTF gains) under its own label; the corrected adapted model is adapted as
    ``pantiny:pansharpen`` does it then: through the correction, without the guard's
    spectral criterion."""
    r = int(meta["ratio"])
    memo: dict[tuple[str, str], np.ndarray] = {}

    def remembered(key: str, fn: Callable) -> Callable:
        def run(kind: str, a: dict[str, np.ndarray]) -> np.ndarray:
            if (key, kind) not in memo:
                memo[(key, kind)] = fn(kind, a)
            return memo[(key, kind)]
        return run

    def plain(kind: str, a: dict[str, np.ndarray]) -> np.ndarray:
        return model_predict(model, a["pan"], a["lms"], r, a.get("valid"))

    def adapted(settings: dict[str, Any] | None, column: str) -> Callable:
        def run(kind: str, a: dict[str, np.ndarray]) -> np.ndarray:
            m, info = adapt(model, a["pan"], a["ms"], meta, adapt_steps, a.get("valid"),
                            "toolbox" if kind == "rr" else "area", settings)
            if infos is not None:
                infos.append({"scene": meta["name"], "kind": kind, "label": column, **info})
            return model_predict(m, a["pan"], a["lms"], r, a.get("valid"))
        return remembered(column, run)

    preds = {label: remembered(label, plain)}
    suffix = adaptation_label(adapt_steps, adapt_settings)
    if with_adaptation:
        preds[label + suffix] = adapted(adapt_settings, label + suffix)
    if correction:
        from engine.inference.spectral_correction import correct

        def corrected(fn: Callable) -> Callable:
            return lambda kind, a: correct(fn(kind, a), a["lms"], r, meta["gnyq"])
        out = {f"{label}{CORRECTED}": corrected(preds[label])}
        if with_adaptation:
            # as pan-sharpening does: with the correction, adapted through it, and the
            # guard has no spectral test
            column = f"{label}{suffix}{CORRECTED}"
            out[column] = corrected(adapted(dict(adapt_settings or {}, spectral_guard=False,
                                                 through_correction=True), column))
        preds.update(out)
    return preds


# --------------------------------------------------------------------------- training


def train_model(out: Path, manifest: dict[str, Any], data_root: Path, datasets: Sequence[str],
                recipe: str, steps: int, base: dict[str, Any], log: Log = _stderr
                ) -> dict[str, Any]:
    """Train one model on ``datasets`` for about ``steps`` optimiser steps (epochs of
    :data:`STEPS_PER_EPOCH` steps, fewer when the data is smaller); returns a summary."""
    from engine.trainer.trainer import train

    n = train_count(manifest, datasets, recipe)
    per_epoch = max(1, min(STEPS_PER_EPOCH, math.ceil(n / int(base["batch_size"]))))
    epochs = max(1, round(steps / per_epoch))
    cfg = dict(base, datasets=dataset_entries(manifest, datasets, recipe),
               data_root=str(data_root), epochs=epochs, max_steps_per_epoch=per_epoch,
               eval_every=epochs, out_dir=str(out), name=out.name)
    log(f"  training on {', '.join(datasets)} ({recipe}, {n} patches): {epochs} epochs x "
        f"{per_epoch} steps")
    t0 = time.time()
    res = train(cfg)
    summary = {"datasets": list(datasets), "recipe": recipe, "train_patches": n,
               "epochs": epochs, "steps_per_epoch": per_epoch, "steps": epochs * per_epoch,
               "seconds": round(time.time() - t0, 1), "best": res["best"],
               "best_score": res["best_score"]}
    (out / "loso_train.json").write_text(json.dumps(summary, indent=1))
    return summary


def checkpoint_of(run: Path) -> Path | None:
    for name in ("best.ckpt", "latest.ckpt"):
        if (run / name).is_file():
            return run / name
    return None


# --------------------------------------------------------------------------- study


def run_study(data_root: str | os.PathLike, out: str | os.PathLike, recipe: str = "aug",
              steps: int = 300, groups: Sequence[str] | None = None, single: bool = False,
              reuse: bool = False, adapt_steps: int | None = None, adaptation: str = "auto",
              per_dataset: int = 6, max_size: int = 512, base: dict[str, Any] | None = None,
              data_dir: str | None = None, log: Log = _stderr,
              adapt_settings: dict[str, Any] | None = None,
              correction: bool = False, checkpoint: str | None = None,
              rescore: bool = False) -> dict[str, Any]:
    """Train (unless ``reuse``) and evaluate; see the module docstring.  Returns the
    results (also written to ``<out>/results.json``).  ``adapt_settings``: fields of
    :class:`engine.adaptation.AdaptationConfig` that differ from its defaults;
    ``correction``: also score every model output after the spectral consistency
    correction; ``rescore``: with ``reuse``, compute this run's columns again instead of
    keeping the scores of an earlier run (e.g. after a change to adaptation)."""
    import torch

    from engine.trainer.trainer import json_clean
    from engine.weights.checkpoint import load_model

    data_root, out = Path(data_root), Path(out)
    manifest = load_manifest(data_root)
    base = dict(DEFAULT_RECIPE, **(base or {}))
    present = [g for g in GROUPS if group_datasets(manifest, g)]
    held = [g for g in (groups or present) if g in present]
    if not held:
        raise InputError(f"none of the groups {list(groups or [])} is in {data_root} "
                         f"(present: {present})")
    with_adapt = adaptation == "on" or (adaptation == "auto" and adaptation_available())
    if adaptation == "on" and not adaptation_available():
        raise InputError("engine.adaptation cannot be imported: use --adaptation off")
    cache = out / "eval_cache"
    suffix = adaptation_label(adapt_steps, adapt_settings)
    results: dict[str, Any] = json.loads((out / "results.json").read_text()) \
        if (out / "results.json").is_file() else {}
    results.update({"recipe": recipe, "steps_requested": steps, "data_root": str(data_root),
                    "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                    "machine": f"{platform.processor() or platform.machine()}, "
                               f"{os.cpu_count()} cores, torch {torch.__version__}, "
                               f"{torch.get_num_threads()} thread(s)",
                    "adaptation": with_adapt, "max_size": max_size,
                    "per_dataset": per_dataset})
    results.setdefault("groups", {})
    results.setdefault("models", {})

    def get_model(tag: str, datasets: Sequence[str]) -> Any:
        if checkpoint is not None:
            results["models"][tag] = {"checkpoint": str(checkpoint)}
            model, _ = load_model(checkpoint, device=torch.device("cpu"))
            return model.eval()
        run = out / tag
        ckpt = checkpoint_of(run)
        if ckpt is None:
            if reuse:
                raise InputError(f"--reuse: no checkpoint in {run}")
            results["models"][tag] = train_model(run, manifest, data_root, datasets, recipe,
                                                 steps, base, log)
            ckpt = checkpoint_of(run)
        elif (run / "loso_train.json").is_file():
            results["models"][tag] = json.loads((run / "loso_train.json").read_text())
        model, _ = load_model(ckpt, device=torch.device("cpu"))
        model.eval()
        return model

    largest = max(present, key=lambda h: train_count(manifest, group_datasets(manifest, h),
                                                     "train"))
    for g in held:
        log(f"held out: {g}")
        others = [d for h in present if h != g for d in group_datasets(manifest, h)]
        model = get_model(f"without-{g}", others)
        old = results["groups"].get(g, {}) if reuse else {}
        entry: dict[str, Any] = {"datasets": group_datasets(manifest, g), "scenes": {},
                                 "adaptation_runs": list(old.get("adaptation_runs", []))}
        if rescore:   # this run's adaptation columns are adapted again
            mine = {f"{MODEL}{suffix}", f"{MODEL}{suffix}{CORRECTED}"}
            entry["adaptation_runs"] = [r for r in entry["adaptation_runs"]
                                        if r.get("label") not in mine]
        single_model = None
        if single and largest != g and checkpoint is None:
            single_model = get_model(f"only-{largest}", group_datasets(manifest, largest))
            entry["single_group"] = largest
        for name in eval_scene_names(manifest, g, per_dataset):
            try:
                scene = prepare_scene(name, max_size, cache, data_dir)
            except InputError as exc:
                log(f"    {exc}")
                entry.setdefault("skipped", {})[name] = str(exc)
                continue
            meta = scene["meta"]
            preds = model_predictors(model, meta, adapt_steps, with_adapt,
                                     infos=entry["adaptation_runs"],
                                     adapt_settings=adapt_settings, correction=correction)
            if single_model is not None:
                preds.update(model_predictors(single_model, meta, None, False,
                                              label=f"single group ({entry['single_group']})"))
            preds.update(baseline_predictors(meta))
            # --reuse keeps the scores an earlier run computed (e.g. adds adaptation only),
            # except those of this run's own columns with --rescore
            done = {k: v for k, v in old.get("scenes", {}).get(name, {}).get("scores", {})
                    .items() if not (rescore and k in preds)}
            scores = dict(done)
            scores.update(score_scene({k: f for k, f in preds.items() if k not in done},
                                      scene, log))
            entry["scenes"][name] = {"meta": meta, "scores": scores}
        entry["mean"] = mean_scores(entry["scenes"])
        results["groups"][g] = entry
        (out / "results.json").write_text(json.dumps(json_clean(results), indent=1))
    (out / "results.md").write_text(to_markdown(results) + "\n")
    return results


def mean_scores(scenes: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Mean of every index over a group's scenes, per method."""
    acc: dict[str, dict[str, list[float]]] = {}
    for s in scenes.values():
        for label, m in s["scores"].items():
            for k, v in m.items():
                if v is not None and math.isfinite(v):
                    acc.setdefault(label, {}).setdefault(k, []).append(v)
    return {label: {k: float(np.mean(v)) for k, v in d.items()} for label, d in acc.items()}


def _f(v: Any, nd: int = 3) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.{nd}f}"


def to_markdown(results: dict[str, Any]) -> str:
    """The study's table: one row per held-out group and method, plus the means."""
    groups = results.get("groups", {})
    labels: list[str] = []
    for e in groups.values():
        for label in e["mean"]:
            if label not in labels:
                labels.append(label)
    lines = ["| held-out group | method | Q2n | SAM | ERGAS | HQNR | D_RHO |",
             "|---|---|---|---|---|---|---|"]
    for g, e in groups.items():
        n = len(e["scenes"])
        for label in labels:
            m = e["mean"].get(label)
            if m is None:
                continue
            lines.append(f"| {g} ({n} scene{'s' if n > 1 else ''}) | {label} | "
                         + " | ".join(_f(m.get(k), 3 if k != "SAM" else 2)
                                      for k in RR_KEYS + FR_KEYS) + " |")
    for label in labels:
        vals = [e["mean"][label] for e in groups.values() if label in e["mean"]]
        if len(vals) != len(groups):
            continue
        lines.append(f"| **mean over groups** | {label} | "
                     + " | ".join(_f(float(np.mean([v[k] for v in vals])), 3 if k != "SAM" else 2)
                                  for k in RR_KEYS + FR_KEYS) + " |")
    return "\n".join(lines)


def targets(results: dict[str, Any], label: str) -> list[str]:
    """The issue's bar for ``label`` ("model" or "model + adaptation"), one sentence per
    check, with the margins: on every held-out group Q2n above EXP and GDAL Brovey; mean
    Q2n at least MTF-GLP-HPM's; mean HQNR at least EXP's."""
    groups = {g: e["mean"] for g, e in results.get("groups", {}).items() if label in e["mean"]}
    if not groups:
        return [f"- {label}: not evaluated"]
    lines = []
    for g, m in groups.items():
        q = m[label]["Q2N"]
        for base in ("EXP", "GDAL Brovey"):
            d = q - m[base]["Q2N"]
            lines.append(f"- {g}: Q2n {q:.3f} vs {base} {m[base]['Q2N']:.3f}: "
                         + ("met" if d > 0 else "MISSED") + f" ({d:+.3f})")

    def mean(method: str, key: str) -> float:
        return float(np.mean([m[method][key] for m in groups.values()]))

    d = mean(label, "Q2N") - mean("MTF-GLP-HPM", "Q2N")
    lines.append(f"- mean Q2n {mean(label, 'Q2N'):.3f} vs MTF-GLP-HPM "
                 f"{mean('MTF-GLP-HPM', 'Q2N'):.3f}: " + ("met" if d >= 0 else "MISSED")
                 + f" ({d:+.3f})")
    d = mean(label, "HQNR") - mean("EXP", "HQNR")
    lines.append(f"- mean HQNR {mean(label, 'HQNR'):.3f} vs EXP {mean('EXP', 'HQNR'):.3f}: "
                 + ("met" if d >= 0 else "MISSED") + f" ({d:+.3f})")
    return lines


def compare(results: dict[str, dict[str, Any]], label: str = MODEL) -> str:
    """Recipes side by side (``{recipe name: results}``): the model's Q2n / HQNR / D_RHO
    per held-out group they share, and their means."""
    names = list(results)
    common = [g for g in next(iter(results.values()))["groups"]
              if all(g in r["groups"] and label in r["groups"][g]["mean"]
                     for r in results.values())]
    lines = ["| held-out group | " + " | ".join(f"Q2n {n} | HQNR {n} | D_RHO {n}" for n in names)
             + " |", "|---|" + "---|---|---|" * len(names)]
    rows = {n: [] for n in names}
    for g in common:
        cells = []
        for n in names:
            m = results[n]["groups"][g]["mean"][label]
            rows[n].append(m)
            cells.append(f"{m['Q2N']:.3f} | {m['HQNR']:.3f} | {m['D_RHO']:.3f}")
        lines.append(f"| {g} | " + " | ".join(cells) + " |")
    if common:
        lines.append("| **mean** | " + " | ".join(
            " | ".join(f"{np.mean([m[k] for m in rows[n]]):.3f}" for k in ("Q2N", "HQNR", "D_RHO"))
            for n in names) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.loso",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", required=True,
                    help="output of training.build_datasets --scenes all --variants K")
    ap.add_argument("--out", required=True, help="folder for the models and results")
    ap.add_argument("--recipe", choices=("aug", "plain"), default="aug")
    ap.add_argument("--steps", type=int, default=300, help="optimiser steps per model")
    ap.add_argument("--groups", nargs="*", default=None, choices=list(GROUPS),
                    help="held-out groups (default: every group in the data)")
    ap.add_argument("--single", action="store_true",
                    help="also a model trained on the largest group alone")
    ap.add_argument("--reuse", action="store_true", help="evaluate saved models, never train")
    ap.add_argument("--rescore", action="store_true",
                    help="with --reuse: compute this run's columns again instead of keeping "
                         "earlier scores (e.g. after a change to adaptation)")
    ap.add_argument("--checkpoint", default=None,
                    help="score this model on every group instead of training one per "
                         "held-out group (e.g. a bundled model on its training sensors)")
    ap.add_argument("--adaptation", choices=("auto", "on", "off"), default="auto",
                    help="evaluate with scene adaptation (auto: when engine.adaptation exists)")
    ap.add_argument("--adapt-steps", type=int, default=None,
                    help="adaptation steps (default: AdaptationConfig's, column 'model + "
                         "adaptation'; others get their own column)")
    ap.add_argument("--adapt-set", action="append", default=[], metavar="KEY=VALUE",
                    help="an AdaptationConfig field for the adaptation column (YAML value, "
                         "e.g. lr=3e-4 or scheme=both); repeatable")
    ap.add_argument("--correction", action="store_true",
                    help="also score each model output after the spectral consistency "
                         "correction (columns '... + spectral correction')")
    ap.add_argument("--per-dataset", type=int, default=6,
                    help="at most this many scenes per dataset are evaluated")
    ap.add_argument("--max-size", type=int, default=512,
                    help="evaluation crop: MS pixels (RR) / PAN pixels (FR) per side")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a key of the training recipe (YAML value)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--data-dir", default=None, help="shared scenes folder")
    ap.add_argument("--write", default=None, help="Markdown file to put the table into")
    ap.add_argument("--section", default="Leave-one-sensor-out table",
                    help="section title for --write")
    args = ap.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        from .train import parse_sets

        res = run_study(args.data_root, args.out, args.recipe, args.steps, args.groups,
                        args.single, args.reuse, args.adapt_steps, args.adaptation,
                        args.per_dataset, args.max_size, parse_sets(args.set),
                        args.data_dir, adapt_settings=parse_sets(args.adapt_set),
                        correction=args.correction, checkpoint=args.checkpoint,
                        rescore=args.rescore)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    md = to_markdown(res)
    labels = sorted({k for e in res["groups"].values() for k in e["mean"]
                     if k.startswith(MODEL)})
    md += "\n\nThe issue's bar:\n\n" + "\n".join(
        f"{label}:\n\n" + "\n".join(targets(res, label)) + "\n" for label in labels)
    print(md)
    if args.write:
        from engine.io.report_files import replace_markdown_section

        replace_markdown_section(args.write, f"## {args.section}", md + "\n",
                                 title="# Training results")
    return 0


if __name__ == "__main__":
    sys.exit(main())
