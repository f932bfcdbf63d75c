"""Scene adaptation study: does fine-tuning on the scene itself pay, and how many steps?

For each scene and scheme (``reduced``: target-adaptive fine-tuning, Scarpa, Vitale &
Cozzolino, IEEE TGRS 2018; ``full``: Z-PNN full-resolution loss, Ciotola et al., IEEE
TGRS 2022; ``both``):

* **Reduced resolution** (Wald's protocol): the scene is degraded by its sensor's MTF;
  the model is adapted on the *degraded pair only* (phase 'toolbox') and the fused
  degraded pair is scored against the scene's MS (Q2n, SAM, ERGAS) after 0 and each of
  ``--steps`` steps (raw, before the guard), beside EXP and MTF-GLP-HPM.
* **Full resolution**: the model is adapted on the full scene (phase 'area', as
  pan-sharpening does) and a centre crop of ``--fr-crop`` PAN pixels is fused and scored
  without reference (HQNR, D_RHO).

The guard's final decision (kept / reverted) is reported for the last step count.
Writes ``--out`` (JSON) and the section "Scene adaptation" of training/RESULTS.md.

Example (CPU, shared machine)::

    nice -n 10 python -m training.adaptation_study --scenes vhr-zhengzhou wv3-shanghai \
        --schemes reduced full both --steps 10 20 30
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from engine.adaptation import AdaptationConfig, adapt_model
from engine.errors import InputError
from engine.fusion import fuse
from engine.inference.predictor import TiledPredictor
from engine.inference.scaling import Scaling
from engine.io.grid import Alignment
from engine.io.placement import ms_to_pan_grid
from engine.io.report_files import replace_markdown_section
from engine.metrics import full_resolution_report, reduced_resolution_report
from engine.nodata import fill_with_band_means
from engine.sensors import get_sensor
from engine.wald import degrade
from engine.weights.checkpoint import load_model
from engine.weights.model_zoo import default_model_id, model_path
from training.build_datasets import SCENES, load_scene, register, shared_data_dir

REPO = Path(__file__).resolve().parents[1]


def load_pair(name: str) -> dict[str, Any]:
    """Registered ``pan (H, W)``, ``ms (4, H/R, W/R)`` (float64, NaN nodata), sensor."""
    if name == "vhr-zhengzhou":
        # pixel sizes 0.498 m / 2.0 m (ratio 4.015): used as arrays at ratio 4, top-left
        # corners shared; bands R, G, B, NIR(untagged) -> B, G, R, NIR; no published MTF
        from engine.io.raster_io import read_raster

        root = shared_data_dir() / "vhr-zhengzhou"
        pan = read_raster(root / "pan.tif", bands=[1], name="PAN")[0].astype(np.float64)
        ms = read_raster(root / "ms.tif", bands=[3, 2, 1, 4], name="MS").astype(np.float64)
        h, w = min(ms.shape[1], pan.shape[0] // 4), min(ms.shape[2], pan.shape[1] // 4)
        return {"pan": pan[: 4 * h, : 4 * w], "ms": ms[:, :h, :w],
                "sensor": get_sensor("generic"), "ratio": 4}
    scene = load_scene(name, dict(SCENES[name]))
    reg = register(scene, log=lambda _m: None)
    return {"pan": reg.pan, "ms": reg.ms, "sensor": scene.sensor, "ratio": scene.ratio}


def predict(model: torch.nn.Module, pan: np.ndarray, bms: np.ndarray, ratio: int) -> np.ndarray:
    pred = TiledPredictor(model, "cpu", ratio=ratio)
    return pred.predict(pan.astype(np.float32), bms.astype(np.float32))


def rr_scores(fused: np.ndarray, gt: np.ndarray, ratio: int) -> dict[str, float]:
    s = reduced_resolution_report(fused, gt, ratio)
    return {k: round(float(s[k]), 4) for k in ("Q2N", "SAM", "ERGAS")}


def fr_scores(fused, pan, ms, ratio, gains) -> dict[str, float]:
    s = full_resolution_report(fused, pan, ms, ratio, gains)
    return {k: round(float(s[k]), 4) for k in ("HQNR", "D_RHO")}


def study_scene(name: str, model: torch.nn.Module, schemes: Sequence[str],
                steps: Sequence[int], lr: float, fr_crop: int, batch: int,
                patch: int) -> dict[str, Any]:
    pair = load_pair(name)
    r, sensor = pair["ratio"], pair["sensor"]
    gains = sensor.gnyq(4)
    scale = Scaling().fit(ms=pair["ms"], pan=pair["pan"])
    pan = scale.apply(pair["pan"], "pan")
    ms = scale.apply(pair["ms"], "ms")
    pan_ok = np.isfinite(pan)
    ms_ok = np.all(np.isfinite(ms), axis=0)
    pan_f = fill_with_band_means(pan[None], pan_ok)[0]
    ms_f = fill_with_band_means(ms, ms_ok)
    out: dict[str, Any] = {"scene": name, "sensor": sensor.key, "pan": list(pan.shape),
                           "ms": list(ms.shape), "lr": lr, "schemes": {}}
    # reduced-resolution pair (the reference is the scene's MS)
    pan_lr, ms_lr = degrade(pan_f, ms_f, r, gains, sensor.pan_gnyq)
    gt = ms_f[:, : pan_lr.shape[0], : pan_lr.shape[1]]
    bms_lr = ms_to_pan_grid(ms_lr, Alignment(r), pan_lr.shape, phase="toolbox")
    out["rr_baselines"] = {
        m: rr_scores(np.nan_to_num(fuse(m, pan_lr, bms_lr, ms_lr, r, gains, sensor.pan_gnyq)),
                     gt, r) for m in ("exp", "mtf_glp_hpm")}
    # full-resolution centre crop (MS-aligned)
    h, w = ms.shape[1:]
    c = min(fr_crop // r, h, w)
    y0, x0 = (h - c) // 2, (w - c) // 2
    pan_c = pan_f[r * y0: r * (y0 + c), r * x0: r * (x0 + c)]
    ms_c = ms_f[:, y0: y0 + c, x0: x0 + c]
    bms_full = ms_to_pan_grid(ms_f, Alignment(r), pan_f.shape, phase="area",
                              border="symmetric")
    bms_c = bms_full[:, r * y0: r * (y0 + c), r * x0: r * (x0 + c)]
    out["fr_baselines"] = {"exp": fr_scores(bms_c, pan_c, ms_c, r, gains)}
    base_rr = rr_scores(predict(model, pan_lr, bms_lr, r), gt, r)
    base_fr = fr_scores(predict(model, pan_c, bms_c, r), pan_c, ms_c, r, gains)
    out["base"] = {"rr": base_rr, "fr": base_fr}
    print(f"{name}: base RR {base_rr} FR {base_fr}; baselines {out['rr_baselines']} "
          f"{out['fr_baselines']}", flush=True)
    wanted = sorted(set(int(s) for s in steps))
    for scheme in schemes:
        cfg = AdaptationConfig(steps=wanted[-1], lr=lr, scheme=scheme, batch_size=batch,
                               patch_size=patch)
        res: dict[str, Any] = {"rr": {}, "fr": {}}
        for kind in ("rr", "fr"):
            snaps: dict[int, dict[str, torch.Tensor]] = {}

            def monitor(k: int, m: torch.nn.Module) -> None:
                if k in wanted:
                    snaps[k] = {n: t.detach().clone() for n, t in m.state_dict().items()}

            t0 = time.perf_counter()
            try:
                if kind == "rr":
                    result = adapt_model(model, pan_lr.astype(np.float32),
                                         ms_lr.astype(np.float32), ratio=r, mtf_gains=gains,
                                         pan_mtf_gain=sensor.pan_gnyq, config=cfg,
                                         phase="toolbox", monitor=monitor)
                else:
                    result = adapt_model(model, pan.astype(np.float32), ms.astype(np.float32),
                                         ratio=r, mtf_gains=gains,
                                         pan_mtf_gain=sensor.pan_gnyq, config=cfg,
                                         phase="area", monitor=monitor)
            except InputError as exc:
                res[kind] = {"error": str(exc)}
                print(f"  {scheme} {kind}: {exc}", flush=True)
                continue
            secs = time.perf_counter() - t0
            work = _clone(model)
            for k in wanted:
                if k not in snaps:
                    continue
                work.load_state_dict(snaps[k])
                if kind == "rr":
                    res["rr"][k] = rr_scores(predict(work, pan_lr, bms_lr, r), gt, r)
                else:
                    res["fr"][k] = fr_scores(predict(work, pan_c, bms_c, r), pan_c, ms_c, r,
                                             gains)
            res[kind + "_guard"] = {"reverted": result.reverted,
                                    "guard_l1_before": result.loss_before,
                                    "guard_l1_after": result.loss_after,
                                    "seconds": round(secs, 1)}
            print(f"  {scheme} {kind}: {res[kind]} guard {res[kind + '_guard']}", flush=True)
        out["schemes"][scheme] = res
    return out


def _clone(model: torch.nn.Module) -> torch.nn.Module:
    import copy

    return copy.deepcopy(model).eval()


def markdown(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"Generated by `python -m training.adaptation_study` on {meta['date']} "
        f"({meta['machine']}; {meta['load']}). Model `{meta['model']}`, Adam lr "
        f"{meta['lr']:g}, batch {meta['batch']} patches of {meta['patch']} px, seed 0.",
        "",
        "RR: the scene degraded by Wald's protocol (its sensor's MTF gains); adaptation sees "
        "only the degraded pair (never the reference); Q2N/SAM/ERGAS against the scene's MS. "
        f"FR: adapted on the full scene, HQNR/D_RHO on a centre crop of {meta['fr_crop']} PAN "
        "px. Numbers after k steps are raw (before the guard); 'guard' gives the final "
        "decision at the last step count (kept / reverted, guard L1 before -> after).",
        "",
    ]
    for res in results:
        lines += [f"### {res['scene']} ({res['sensor']}, PAN {res['pan'][0]}x{res['pan'][1]})",
                  "",
                  "| scheme | steps | Q2N | SAM | ERGAS | HQNR | D_RHO |",
                  "|---|---|---|---|---|---|---|"]
        b = res["base"]
        exp = res["rr_baselines"]["exp"]
        hpm = res["rr_baselines"]["mtf_glp_hpm"]
        fexp = res["fr_baselines"]["exp"]
        lines.append(f"| EXP | - | {exp['Q2N']} | {exp['SAM']} | {exp['ERGAS']} | "
                     f"{fexp['HQNR']} | {fexp['D_RHO']} |")
        lines.append(f"| MTF-GLP-HPM | - | {hpm['Q2N']} | {hpm['SAM']} | {hpm['ERGAS']} | | |")
        lines.append(f"| base model | 0 | {b['rr']['Q2N']} | {b['rr']['SAM']} | "
                     f"{b['rr']['ERGAS']} | {b['fr']['HQNR']} | {b['fr']['D_RHO']} |")
        for scheme, sres in res["schemes"].items():
            ks = sorted({int(k) for k in list(sres["rr"]) + list(sres["fr"])
                         if str(k).isdigit()})
            for k in ks:
                rr = sres["rr"].get(k) or sres["rr"].get(str(k)) or {}
                fr = sres["fr"].get(k) or sres["fr"].get(str(k)) or {}
                lines.append(f"| {scheme} | {k} | {rr.get('Q2N', '')} | {rr.get('SAM', '')} | "
                             f"{rr.get('ERGAS', '')} | {fr.get('HQNR', '')} | "
                             f"{fr.get('D_RHO', '')} |")
            guards = []
            for kind in ("rr", "fr"):
                g = sres.get(kind + "_guard")
                if g:
                    guards.append(
                        f"{kind.upper()} run: {'reverted' if g['reverted'] else 'kept'} "
                        f"(guard L1 {g['guard_l1_before']:.5f} -> {g['guard_l1_after']:.5f}, "
                        f"{g['seconds']} s)")
                elif isinstance(sres.get(kind), dict) and "error" in sres[kind]:
                    guards.append(f"{kind.upper()} run: {sres[kind]['error']}")
            lines.append(f"| {scheme}: guard | | {'; '.join(guards)} | | | | |")
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", nargs="+", default=["vhr-zhengzhou", "wv3-shanghai",
                                                     "wv2-sydney"])
    ap.add_argument("--schemes", nargs="+", default=["reduced", "full", "both"])
    ap.add_argument("--steps", nargs="+", type=int, default=[10, 20, 30])
    ap.add_argument("--lr", type=float, default=AdaptationConfig().lr)
    ap.add_argument("--batch", type=int, default=AdaptationConfig().batch_size)
    ap.add_argument("--patch", type=int, default=AdaptationConfig().patch_size)
    ap.add_argument("--fr-crop", type=int, default=384)
    ap.add_argument("--model", default=None, help="bundled model id (default: the default)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(REPO / ".run" / "adaptation_study.json"))
    ap.add_argument("--results", default=str(REPO / "training" / "RESULTS.md"))
    ap.add_argument("--no-results", action="store_true", help="do not touch RESULTS.md")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    model_id = args.model or default_model_id()
    model, _ = load_model(model_path(model_id))
    t0 = time.perf_counter()
    results = [study_scene(s, model, args.schemes, args.steps, args.lr, args.fr_crop,
                           args.batch, args.patch) for s in args.scenes]
    meta = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="minutes"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {args.threads} torch "
                   f"thread(s), torch {torch.__version__}",
        "load": "machine shared with other jobs (times pessimistic)",
        "model": model_id, "lr": args.lr, "batch": args.batch, "patch": args.patch,
        "fr_crop": args.fr_crop, "seconds": round(time.perf_counter() - t0, 1),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "results": results}, indent=1,
                                         default=str))
    print(f"wrote {args.out} ({meta['seconds']} s)")
    if not args.no_results:
        replace_markdown_section(args.results, "## Scene adaptation", markdown(results, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
