"""Single-dataset vs multiple-in-one training, the paper's comparison, on a fixed budget.

Usage::

    python -m training.replicate --models pantiny pnn pannet --epochs 5 --crop 32 \
        --data-root .run/datasets/dev16 --out .run/replicate --write training/RESULTS.md

For every model it trains one multiple-in-one run on all ``--datasets`` (plain
concatenation, as the paper) and one single-dataset run per dataset with training
data, with the settings of ``training/configs/<model>_multi.yaml`` (loss, optimiser)
and the same number of epochs, so the single runs together see as many samples as
the multiple-in-one run.  Every run is evaluated once, at its last epoch, on the test
split (reduced resolution, mean over patches) and on the full-resolution test scenes
(mean over a dataset's scenes).  Results (and wall times) go to ``<out>/results.json``
and, with ``--write``, to a section of the given markdown file.

On a GPU server (equal compute per run instead of equal epochs)::

    python -m training.replicate --models pantiny pnn pannet msdcnn --epochs 5000 \
        --max-seconds 300 --jobs 16 --crop 0 --augment --no-fr --device cuda \
        --data-root .run/datasets/dev32 --out runs/
    # later, where the FR test scenes are (CPU is enough):
    python -m training.replicate --rescore --out runs/ --data-root .run/datasets/dev16 \
        --write training/RESULTS.md --section "## ..."

``--jobs`` trains that many runs at once in separate processes (one torch thread each;
on one GPU they share it), ``--max-seconds`` gives every run the same wall-clock budget
(the trainer cuts the epochs and re-aims the cosine schedule), ``--rescore`` evaluates
the runs' ``latest.ckpt`` again on another dataset folder (for runs trained with
``--no-fr`` where the FR scenes were not copied).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from engine.weights.checkpoint import read_metadata
from engine.io.report_files import replace_markdown_section
from engine.trainer.trainer import train
from training.train import load_config

RR_KEYS = ("Q2N", "SAM", "ERGAS", "PSNR", "SSIM")
FR_KEYS = ("D_LAMBDA", "D_S", "QNR", "HQNR")
SECTION = "## Single-dataset vs multiple-in-one"


def _run_dir(model: str, tag: str, datasets: Sequence[str]) -> str:
    return f"{model}_{tag}_{'-'.join(datasets)}"


def _steps(epochs: int, n_train: int, recipe: dict[str, Any]) -> int:
    """Optimiser steps of a run: batches per epoch (capped by max_steps_per_epoch) x epochs."""
    per_epoch = -(-n_train // int(recipe.get("batch_size") or 16))
    if recipe.get("max_steps_per_epoch"):
        per_epoch = min(per_epoch, int(recipe["max_steps_per_epoch"]))
    return int(epochs) * per_epoch


def _run(job: dict[str, Any]) -> dict[str, Any]:
    """One training run (also the body of a worker process with ``--jobs``)."""
    import torch

    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    model, tag, datasets = job["model"], job["tag"], list(job["datasets"])
    cfg = load_config(Path(__file__).parent / "configs" / f"{model}_multi.yaml", {
        "datasets": datasets, "epochs": job["epochs"], "crop": job["crop"],
        "augment": job["augment"], "max_seconds": job["max_seconds"],
        "checkpoint_every": job["checkpoint_every"],
        "eval_every": job["epochs"], "eval_splits": ["test"], "fr_eval": job["fr"],
        "data_root": job["data_root"],
        "out_dir": str(Path(job["out"]) / _run_dir(model, tag, datasets)),
        "progress": False, "device": job["device"], "num_workers": 0})
    t0 = time.time()
    result = train(cfg)
    seconds = time.time() - t0
    ev = result["final_eval"] or {}
    meta = read_metadata(result["latest"])[0]
    n_train = sum(d.get("train_patches", 0) for d in meta.get("datasets", []))
    steps = _steps(result["epochs_done"], n_train, cfg.as_dict())
    return {"model": model, "training": tag, "datasets": datasets,
            "epochs": result["epochs_done"], "epochs_planned": result["epochs_planned"],
            "train_patches": n_train, "steps": steps, "batch_size": cfg.batch_size,
            "seconds": round(seconds, 1), "device": meta.get("training", {}).get("device"),
            "run_dir": _run_dir(model, tag, datasets),
            "rr": ev.get("rr", {}), "fr": ev.get("fr", {})}


def discover_runs(runs_dir: Path) -> list[dict[str, Any]]:
    """Runs of ``runs_dir`` from ``results.json`` plus, for runs missing there (a parent
    process stopped before it could record them), from their ``latest.ckpt`` metadata."""
    path = runs_dir / "results.json"
    runs = json.loads(path.read_text()) if path.is_file() else []
    known = {r["run_dir"] for r in runs if "run_dir" in r}
    for ckpt in sorted(runs_dir.glob("*/latest.ckpt")):
        if ckpt.parent.name in known:
            continue
        meta = read_metadata(ckpt)[0]
        model, tag = ckpt.parent.name.split("_")[:2]
        recipe = meta.get("training", {}).get("recipe", {})
        n_train = sum(d.get("train_patches", 0) for d in meta.get("datasets", []))
        epoch = int(meta.get("training", {}).get("epoch", 0))
        runs.append({"model": model, "training": tag,
                     "datasets": [d["name"] for d in meta.get("datasets", [])],
                     "epochs": epoch, "epochs_planned": recipe.get("epochs"),
                     "train_patches": n_train,
                     "steps": _steps(epoch, n_train, recipe),
                     "batch_size": recipe.get("batch_size"), "seconds": float("nan"),
                     "device": meta.get("training", {}).get("device"),
                     "run_dir": ckpt.parent.name, "rr": {}, "fr": {},
                     "note": "not in results.json (recovered from latest.ckpt; "
                             "the run may have been stopped before its last epoch)"})
    return runs


def rescore(runs: list[dict[str, Any]], runs_dir: Path, data_root: str,
            device: str = "cpu") -> list[dict[str, Any]]:
    """Re-evaluate every run's ``latest.ckpt`` (test split + FR test scenes of ``data_root``).

    For runs trained where the FR scenes were not available (``--no-fr``, e.g. a GPU
    server that only got the training patches).
    """
    from training.evaluate import evaluate_checkpoint

    out = []
    for run in runs:
        ckpt = runs_dir / run["run_dir"] / "latest.ckpt"
        res = evaluate_checkpoint(str(ckpt), run["datasets"], data_root, "test", fr=True,
                                  device=device, baselines=())
        rr = {name: {"test": next(iter(table.values()))} for name, table in res["rr"].items()}
        fr = {key: next(iter(table.values())) for key, table in res["fr"].items()}
        out.append({**run, "rr": rr, "fr": fr, "rescored_on": data_root})
    return out


def _row(run: dict[str, Any], dataset: str) -> dict[str, float] | None:
    rr = run["rr"].get(dataset, {}).get("test")
    if rr is None:
        return None
    row = {k: rr[k] for k in RR_KEYS if k in rr}
    scenes = [v for k, v in run["fr"].items() if k.startswith(f"{dataset}/")]
    for key in FR_KEYS:
        vals = [s[key] for s in scenes if key in s]
        if vals:
            row[key] = float(np.mean(vals))
    return row


def markdown(runs: list[dict[str, Any]], datasets: Sequence[str], note: str,
             section: str = SECTION) -> str:
    lines = [section, "", note, "",
             "| model | dataset | training | epochs | steps | wall s | " + " | ".join(RR_KEYS)
             + " | " + " | ".join(FR_KEYS) + " |",
             "|---|---|---|---|---|---|" + "---|" * (len(RR_KEYS) + len(FR_KEYS))]
    for model in dict.fromkeys(r["model"] for r in runs):
        for dataset in datasets:
            for run in runs:
                if run["model"] != model or dataset not in run["datasets"]:
                    continue
                row = _row(run, dataset)
                if row is None:
                    continue
                cells = [f"{row[k]:.4f}" if k in row else "-" for k in RR_KEYS + FR_KEYS]
                steps = run.get("steps", "-")
                lines.append(f"| {model} | {dataset} | {run['training']} | {run['epochs']} | "
                             f"{steps} | {run['seconds']:.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _train_all(args: argparse.Namespace) -> list[dict[str, Any]]:
    base = {"epochs": args.epochs, "crop": args.crop or None, "augment": args.augment,
            "max_seconds": args.max_seconds, "checkpoint_every": args.checkpoint_every,
            "fr": not args.no_fr, "data_root": args.data_root,
            "out": args.out, "device": args.device,
            "threads": 1 if args.jobs > 1 else 0}
    specs = [{**base, "model": m, "tag": tag, "datasets": ds}
             for m in args.models for tag, ds in
             [("multi", list(args.datasets))] + [("single", [d]) for d in args.single]]
    out = Path(args.out)
    runs: list[dict[str, Any]] = []
    if args.jobs <= 1:
        for spec in specs:
            runs.append(_run(spec))
            (out / "results.json").write_text(json.dumps(runs, indent=1))
        return runs
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # spawn: CUDA cannot be used in forked children
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=mp.get_context("spawn")) as ex:
        futures = [ex.submit(_run, spec) for spec in specs]
        for f in futures:
            runs.append(f.result())
            (out / "results.json").write_text(json.dumps(runs, indent=1))
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.replicate",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["pantiny", "pnn", "pannet", "msdcnn"])
    ap.add_argument("--datasets", nargs="+", default=["wv3", "wv2", "qb", "l8"])
    ap.add_argument("--single", nargs="+", default=["wv3", "wv2", "l8"],
                    help="datasets that get a single-dataset run (need a train split)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="wall-clock budget of every run (the trainer cuts its epochs)")
    ap.add_argument("--checkpoint-every", type=int, default=1,
                    help="epochs between 'latest' checkpoints (runs of many short epochs)")
    ap.add_argument("--crop", type=int, default=32, help="random crop in PAN px (0: whole patch)")
    ap.add_argument("--augment", action="store_true", help="random flips and rotations")
    ap.add_argument("--jobs", type=int, default=1,
                    help="runs trained at the same time (processes; one torch thread each)")
    ap.add_argument("--no-fr", action="store_true",
                    help="no full-resolution evaluation (see --rescore)")
    ap.add_argument("--data-root", default=".run/datasets/dev16")
    ap.add_argument("--out", default=".run/replicate")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--rescore", action="store_true",
                    help="do not train: re-evaluate the runs of <out>/results.json on "
                         "--data-root (test split and FR test scenes) on the CPU")
    ap.add_argument("--note", default=None, help="text under the table (default: the command)")
    ap.add_argument("--section", default=SECTION, help="markdown heading of the table")
    ap.add_argument("--write", default=None, help="markdown file to put the table in")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.rescore:
        runs = rescore(discover_runs(out), out, args.data_root)
        (out / "results_rescored.json").write_text(json.dumps(runs, indent=1))
    else:
        runs = _train_all(args)
    note = args.note or (
        f"Measured by `python -m training.replicate --models {' '.join(args.models)} "
        f"--epochs {args.epochs} --crop {args.crop}` on `{args.data_root}` (device "
        f"{args.device}). Test split (reduced resolution, mean over patches) and "
        "full-resolution test scenes (mean over the dataset's scenes; QNR original "
        "definition, HQNR toolbox form).")
    text = markdown(runs, args.datasets, note, args.section)
    print(text)
    if args.write:
        replace_markdown_section(args.write, args.section, text.split("\n", 1)[1],
                                 title="# Training results")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
