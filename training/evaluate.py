"""Evaluate a checkpoint beside classical baselines (EXP, Brovey, MTF-GLP-HPM).

Usage::

    python -m training.evaluate CHECKPOINT --datasets wv3 wv2 qb l8 [--data-root DIR]
        [--split test] [--fr-scenes FILE.h5 ...] [--no-fr] [--out DIR] [--device auto]

``--datasets`` are names of datasets built by ``training.build_datasets`` under
``--data-root`` (their FR test scenes are found through the manifest) or paths to
PanCollection-style HDF5/.mat files with a ground truth (``--scale`` for raw DN files).
Reduced-resolution indices are averaged over patches, full-resolution ones are computed
per scene (see :mod:`engine.trainer.trainer`).  Brovey is the engine's plain Brovey
(:mod:`engine.fusion`), not GDAL's weighted variant.  The tables are printed and written
to ``<out>/evaluation.md`` and ``<out>/evaluation.json`` (default ``<out>`` = the
checkpoint's folder).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from engine.weights.checkpoint import load_model
from engine.trainer.datasets import FrScene, H5PanDataset
from engine.errors import EngineError, InputError
from engine.fusion import fuse
from engine.trainer.trainer import (FR_KEYS, DataSource, TrainConfig, json_clean, training_device,
                            dist_info,
                            evaluate_fr, evaluate_rr, model_fr_predict, model_rr_predictor,
                            resolve_datasets)

BASELINES = ("exp", "brovey", "brovey_gdal", "mtf_glp_hpm")
BASELINE_LABELS = {"exp": "EXP", "brovey": "Brovey", "brovey_gdal": "Brovey (GDAL)",
                   "mtf_glp_hpm": "MTF-GLP-HPM"}
RR_COLUMNS = ("Q2N", "SAM", "ERGAS", "PSNR", "SSIM")
FR_COLUMNS = ("D_LAMBDA", "D_S", "QNR", "D_LAMBDA_K", "HQNR")


def _baseline_rr(method: str, ratio: int, gnyq: Sequence[float], pan_gnyq: float):
    def predict(batch: dict[str, Any]) -> np.ndarray:
        pan = batch["pan"].numpy().astype(np.float64)
        lms = batch["lms"].numpy().astype(np.float64)
        ms = batch["ms"].numpy().astype(np.float64)
        return np.stack([fuse(method, p[0], l, m, ratio, gnyq, pan_gnyq)
                         for p, l, m in zip(pan, lms, ms)])
    return predict


def _sources(names: Sequence[str], data_root: str | None, split: str,
             scale: float | None) -> list[DataSource]:
    out: list[DataSource] = []
    built = [n for n in names if not Path(n).suffix]
    if built:
        cfg = TrainConfig(datasets=list(built), data_root=data_root, eval_splits=[split])
        out += resolve_datasets(cfg)
    for n in names:
        if Path(n).suffix:
            ds = H5PanDataset(n, scale=scale)
            out.append(DataSource(ds.name, ds.ratio, None, {split: ds}, [],
                                  ds.attrs.get("sensor")))
    return out


def evaluate_checkpoint(checkpoint: str, datasets: Sequence[str], data_root: str | None = None,
                        split: str = "test", fr_scenes: Sequence[str] = (), fr: bool = True,
                        device: str = "auto", scale: float | None = None,
                        baselines: Sequence[str] = BASELINES,
                        max_patches: int | None = None, fr_tile: int | None = None,
                        fr_per_dataset: int | None = None) -> dict[str, Any]:
    """RR (per dataset) and FR (per scene) indices of the model and the baselines.
    ``fr_per_dataset`` keeps at most that many FR scenes per dataset (evenly spaced)."""
    dev = training_device(device, dist_info())
    model, meta = load_model(checkpoint, device=dev)
    label = f"{meta.get('model')} (checkpoint)"
    sources = _sources(datasets, data_root, split, scale)
    result: dict[str, Any] = {"checkpoint": str(checkpoint), "model": meta.get("model"),
                              "split": split, "rr": {}, "fr": {}}
    amp = dev.type == "cuda"
    for s in sources:
        ds = s.splits.get(split)
        if ds is None or not getattr(ds, "has_gt", True):
            continue
        gnyq = s.ms_gnyq or _gnyq_of(ds, s)
        pan_gnyq = s.pan_gnyq if s.pan_gnyq is not None else 0.15
        table = {label: evaluate_rr(model_rr_predictor(model, dev, amp), ds, s.ratio,
                                    max_patches=max_patches)}
        for m in baselines:
            table[BASELINE_LABELS.get(m, m)] = evaluate_rr(_baseline_rr(m, s.ratio, gnyq, pan_gnyq),
                                                           ds, s.ratio, max_patches=max_patches)
        result["rr"][s.name] = table
    scenes = [(s.name, p) for s in sources for p in _spread(s.fr_scenes, fr_per_dataset)] \
        if fr else []
    scenes += [(None, p) for p in fr_scenes]
    for group, path in scenes:
        scene = FrScene(path)
        key = f"{group or scene.dataset}/{scene.name}"
        table = {label: _fr_only(evaluate_fr(model_fr_predict(model, scene, dev, amp, fr_tile), scene))}
        for m in baselines:
            fused = fuse(m, scene.pan, scene.lms, None, scene.ratio, scene.ms_gnyq,
                         scene.pan_gnyq, valid=scene.valid)
            table[BASELINE_LABELS.get(m, m)] = _fr_only(evaluate_fr(fused, scene))
        result["fr"][key] = table
    return result


def _spread(items: Sequence[str], n: int | None) -> list[str]:
    """At most ``n`` of ``items``, evenly spaced (all when ``n`` is None)."""
    items = list(items)
    if n is None or len(items) <= n:
        return items
    idx = sorted(set(np.linspace(0, len(items) - 1, n).round().astype(int).tolist()))
    return [items[i] for i in idx]


def _fr_only(res: dict[str, float]) -> dict[str, float]:
    return {k: res[k] for k in FR_KEYS + ("D_S_TOOLBOX",) if k in res}


def _gnyq_of(ds: Any, s: DataSource) -> tuple[float, ...]:
    if isinstance(ds, H5PanDataset) and ds.attr_json("ms_gnyq") is not None:
        return tuple(ds.attr_json("ms_gnyq"))
    raise InputError(f"dataset {s.name}: unknown MTF gains; give the dataset a sensor")


def _fmt(v: Any) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.4f}"


def to_markdown(result: dict[str, Any]) -> str:
    lines = [f"# Evaluation of `{result['checkpoint']}`", ""]
    if result["rr"]:
        lines += [f"## Reduced resolution ({result['split']} split, mean over patches; "
                  "SAM in degrees, PSNR peak 1)", ""]
        for name, table in result["rr"].items():
            n = next(iter(table.values())).get("patches", 0)
            lines += [f"### {name} ({n} patches)", "",
                      "| method | " + " | ".join(RR_COLUMNS) + " |",
                      "|---|" + "---|" * len(RR_COLUMNS)]
            for method, m in table.items():
                lines.append(f"| {method} | " + " | ".join(_fmt(m.get(k)) for k in RR_COLUMNS) + " |")
            lines.append("")
    if result["fr"]:
        lines += ["## Full resolution (QNR: original definition; HQNR: D_lambda^K x "
                  "toolbox D_s)", ""]
        for scene, table in result["fr"].items():
            lines += [f"### {scene}", "", "| method | " + " | ".join(FR_COLUMNS) + " |",
                      "|---|" + "---|" * len(FR_COLUMNS)]
            for method, m in table.items():
                lines.append(f"| {method} | " + " | ".join(_fmt(m.get(k)) for k in FR_COLUMNS) + " |")
            lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.evaluate",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--datasets", nargs="*", default=[], help="built dataset names or files")
    ap.add_argument("--data-root", default=None, help="output folder of training.build_datasets")
    ap.add_argument("--split", default="test", choices=("val", "test"))
    ap.add_argument("--fr-scenes", nargs="*", default=[], help="extra FR scene files (.h5)")
    ap.add_argument("--no-fr", action="store_true", help="skip the datasets' FR scenes")
    ap.add_argument("--scale", type=float, default=None, help="divisor for raw DN files")
    ap.add_argument("--max-patches", type=int, default=None)
    ap.add_argument("--fr-tile", type=int, default=None, help="FR inference tile (default whole)")
    ap.add_argument("--fr-per-dataset", type=int, default=None,
                    help="at most this many FR scenes per dataset (evenly spaced)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=None, help="folder for evaluation.md/.json")
    args = ap.parse_args(argv)
    if not args.datasets and not args.fr_scenes:
        ap.error("give --datasets and/or --fr-scenes")
    try:
        result = evaluate_checkpoint(args.checkpoint, args.datasets, args.data_root, args.split,
                                     args.fr_scenes, not args.no_fr, args.device, args.scale,
                                     max_patches=args.max_patches, fr_tile=args.fr_tile,
                                     fr_per_dataset=args.fr_per_dataset)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    md = to_markdown(result)
    print(md)
    out = Path(args.out) if args.out else Path(args.checkpoint).resolve().parent
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.md").write_text(md + "\n")
    (out / "evaluation.json").write_text(json.dumps(json_clean(result), indent=1))
    print(f"written {out / 'evaluation.md'} and {out / 'evaluation.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
