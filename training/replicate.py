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
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from engine.trainer import train
from training.train import load_config

RR_KEYS = ("Q2N", "SAM", "ERGAS", "PSNR", "SSIM")
FR_KEYS = ("D_LAMBDA", "D_S", "QNR", "HQNR")
SECTION = "## Single-dataset vs multiple-in-one"


def _run(model: str, datasets: list[str], args: argparse.Namespace, tag: str) -> dict[str, Any]:
    cfg = load_config(Path("training/configs") / f"{model}_multi.yaml", {
        "datasets": datasets, "epochs": args.epochs, "crop": args.crop,
        "eval_every": args.epochs, "eval_splits": ["test"], "fr_eval": True,
        "data_root": args.data_root,
        "out_dir": str(Path(args.out) / f"{model}_{tag}_{'-'.join(datasets)}"),
        "progress": False, "device": args.device, "num_workers": 0})
    t0 = time.time()
    result = train(cfg)
    seconds = time.time() - t0
    ev = result["final_eval"] or {}
    return {"model": model, "training": tag, "datasets": datasets, "epochs": args.epochs,
            "seconds": round(seconds, 1), "rr": ev.get("rr", {}), "fr": ev.get("fr", {})}


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


def markdown(runs: list[dict[str, Any]], datasets: Sequence[str], note: str) -> str:
    lines = [SECTION, "", note, "",
             "| model | dataset | training | epochs | wall s | " + " | ".join(RR_KEYS)
             + " | " + " | ".join(FR_KEYS) + " |",
             "|---|---|---|---|---|" + "---|" * (len(RR_KEYS) + len(FR_KEYS))]
    for model in dict.fromkeys(r["model"] for r in runs):
        for dataset in datasets:
            for run in runs:
                if run["model"] != model or dataset not in run["datasets"]:
                    continue
                row = _row(run, dataset)
                if row is None:
                    continue
                cells = [f"{row[k]:.4f}" if k in row else "-" for k in RR_KEYS + FR_KEYS]
                lines.append(f"| {model} | {dataset} | {run['training']} | {run['epochs']} | "
                             f"{run['seconds']:.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_section(path: Path, text: str) -> None:
    old = path.read_text() if path.exists() else "# Training results\n\n"
    if SECTION in old:
        head, _, rest = old.partition(SECTION)
        nxt = rest.find("\n## ")
        old = head + (rest[nxt + 1:] if nxt >= 0 else "")
    path.write_text(old.rstrip() + "\n\n" + text)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.replicate",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["pantiny", "pnn", "pannet", "msdcnn"])
    ap.add_argument("--datasets", nargs="+", default=["wv3", "wv2", "qb", "l8"])
    ap.add_argument("--single", nargs="+", default=["wv3", "wv2", "l8"],
                    help="datasets that get a single-dataset run (need a train split)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--crop", type=int, default=32)
    ap.add_argument("--data-root", default=".run/datasets/dev16")
    ap.add_argument("--out", default=".run/replicate")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--write", default=None, help="markdown file to put the table in")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    for model in args.models:
        runs.append(_run(model, list(args.datasets), args, "multi"))
        for dataset in args.single:
            runs.append(_run(model, [dataset], args, "single"))
        (out / "results.json").write_text(json.dumps(runs, indent=1))
    note = (f"Measured by `python -m training.replicate --models {' '.join(args.models)} "
            f"--epochs {args.epochs} --crop {args.crop}` on `{args.data_root}` (device "
            f"{args.device}). Test split (reduced resolution, mean over patches) and "
            "full-resolution test scenes (mean over the dataset's scenes; QNR original "
            "definition, HQNR toolbox form). Every run has the same number of epochs, so the "
            "single-dataset runs of a model together see as many samples as its "
            "multiple-in-one run.")
    text = markdown(runs, args.datasets, note)
    print(text)
    if args.write:
        write_section(Path(args.write), text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
