"""Train a pan-sharpening model from a YAML config.

Usage::

    python -m training.train CONFIG.yaml [--resume] [--out DIR] [--epochs N]
        [--data-root DIR] [--device cpu|cuda|auto] [--set KEY=VALUE ...]

    # several GPUs / nodes
    torchrun --nproc_per_node 4 -m training.train CONFIG.yaml

The YAML keys are the fields of :class:`engine.trainer.trainer.TrainConfig` (model, hparams,
datasets, balanced, loss, optimizer, scheduler, epochs, batch_size, crop, augment,
eval_every, seed, device, ...).  Relative ``data_root`` / ``out_dir`` are taken relative
to the current directory (run from the repository root); ``$VARS`` are expanded.
Without ``out_dir`` the run goes to ``.run/train/<config name>``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Sequence

from engine.errors import EngineError
from engine.trainer.trainer import TrainConfig, train


_VAR = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def expand(text: str) -> str:
    """Expand ``~``, ``$VAR``, ``${VAR}`` and ``${VAR:-default}``."""
    text = _VAR.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), text)
    return os.path.expandvars(os.path.expanduser(text))


def load_config(path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML config into a :class:`TrainConfig` (``overrides`` win)."""
    import yaml

    p = Path(path)
    data = yaml.safe_load(p.read_text()) or {}
    if not isinstance(data, dict):
        raise EngineError(f"{p} must hold a mapping of config keys")
    data.setdefault("name", p.stem)
    data.setdefault("out_dir", str(Path(".run") / "train" / p.stem))
    for k, v in (overrides or {}).items():
        if v is not None:
            data[k] = v
    for key in ("data_root", "out_dir"):
        if isinstance(data.get(key), str):
            data[key] = expand(data[key])
    return TrainConfig.from_dict(data)


def parse_sets(items: Sequence[str]) -> dict[str, Any]:
    """``["key=yaml value", ...]`` -> {key: value}."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise EngineError(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n\n")[0])
    ap.add_argument("config", help="YAML config (see training/configs/)")
    ap.add_argument("--resume", action="store_true", help="continue from <out>/latest.ckpt")
    ap.add_argument("--out", default=None, help="output folder (overrides out_dir)")
    ap.add_argument("--epochs", type=int, default=None, help="number of epochs (overrides)")
    ap.add_argument("--data-root", default=None, help="dataset folder (overrides data_root)")
    ap.add_argument("--device", default=None, help="auto, cpu or cuda (overrides device)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override any config key; VALUE is YAML (e.g. balanced=true, "
                         "max_seconds=3600, 'loss={l1: 1, ssim: 0, focal: 0}'); repeatable")
    args = ap.parse_args(argv)
    try:
        overrides = {"out_dir": args.out, "epochs": args.epochs, "data_root": args.data_root,
                     "device": args.device, "progress": False if args.no_progress else None}
        overrides.update(parse_sets(args.set))
        cfg = load_config(args.config, overrides)
        result = train(cfg, resume=args.resume)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        summary = {k: result[k] for k in ("out_dir", "best", "best_epoch", "best_score", "latest")}
        print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
