"""Training throughput (samples/s) of every model, as the trainer runs it.

One training step = forward, the loss of the model's multi config (PanTiny: the composite
L1 + SSIM + |e|^2.1; the peers: L1), backward, Adam step: the same code path as
:mod:`engine.trainer.trainer` (bf16 autocast on CUDA with ``--dtype bf16``).  Inputs are random
tensors of the training shapes (speed does not depend on the values): batch of GT patches
``crop`` x ``crop`` PAN px, 4 bands, ratio 4.  Each configuration is warmed up, then timed
over at least ``--min-steps`` steps and ``--min-seconds`` seconds; samples/s = batch x
steps / seconds (CUDA synchronised).

Usage::

    python bench/train_throughput.py --device cpu --threads 1 --out bench/train_throughput_cpu.json
    python bench/train_throughput.py --device cuda --out bench/train_throughput_gpu.json
    python bench/train_throughput.py --render      # all bench/train_throughput_*.json -> RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from engine.losses import CompositeLoss, LossWeights  # noqa: E402
from engine.models import build_model  # noqa: E402
from engine.io.report_files import replace_markdown_section  # noqa: E402

SECTION = "## Training throughput"
MODELS = ("pantiny", "pnn", "pannet", "msdcnn")
#: loss weights of training/configs/<model>_multi.yaml
LOSSES = {"pantiny": {"l1": 1.5, "ssim": 4.0, "focal": 1.5}}
PEER_LOSS = {"l1": 1.0, "ssim": 0.0, "focal": 0.0}


def step_fn(model: torch.nn.Module, loss: CompositeLoss, opt: torch.optim.Optimizer,
            batch: dict[str, torch.Tensor], autocast: bool):
    def step() -> None:
        ctx = (torch.autocast("cuda", dtype=torch.bfloat16) if autocast
               else torch.autocast("cpu", enabled=False))
        with ctx:
            pred = model(batch["ms"], batch["lms"], batch["pan"])
        value, _ = loss(pred, batch["gt"])
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
    return step


def measure(name: str, device: torch.device, dtype: str, crop: int, batch: int,
            min_steps: int, min_seconds: float) -> dict:
    torch.manual_seed(0)
    model = build_model(name, bands=4).to(device).train()
    loss = CompositeLoss(LossWeights.from_dict(LOSSES.get(name, PEER_LOSS)))
    opt = torch.optim.Adam(model.parameters(), lr=5e-4, weight_decay=1e-4)
    gt = torch.rand(batch, 4, crop, crop, device=device)
    data = {"gt": gt, "lms": gt + 0.05 * torch.randn_like(gt),
            "pan": gt.mean(1, keepdim=True),
            "ms": F.avg_pool2d(gt, 4)}
    step = step_fn(model, loss, opt, data, dtype == "bf16")
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    for _ in range(3):
        step()
    sync()
    steps, t0 = 0, time.perf_counter()
    while steps < min_steps or time.perf_counter() - t0 < min_seconds:
        step()
        steps += 1
        if device.type == "cuda" and steps % 10 == 0:
            sync()
    sync()
    secs = time.perf_counter() - t0
    return {"model": name, "params": sum(p.numel() for p in model.parameters()),
            "device": device.type, "dtype": dtype, "crop": crop, "batch": batch,
            "steps": steps, "seconds": round(secs, 3), "samples_per_s": batch * steps / secs}


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def render(files: list[Path]) -> str:
    rows, heads = [], []
    for f in files:
        rec = json.loads(f.read_text())
        heads.append(f"- `{f.name}`: {rec['date']}, {rec['hardware']}, torch {rec['torch']}"
                     + (f", {rec['threads']} CPU thread(s)" if rec["device"] == "cpu" else ""))
        rows += rec["rows"]
    lines = ["Measured by `bench/train_throughput.py`: full training steps (forward, the "
             "model's training loss, backward, Adam) on random batches of the training "
             "shapes, 4 bands, ratio 4. `crop` = GT patch edge in PAN px, batch 16. The "
             "trainer adds data loading and evaluation on top. One process per device; on the "
             "GPU these small models are bound by kernel launches (bf16 adds cast kernels and "
             "is no faster), which is why bench/gpu_session.sh trains many runs at once.", ""] + heads + [
             "", "| model | params | device | precision | crop | samples/s | steps timed |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['params']:,} | {r['device']} | {r['dtype']} | "
                     f"{r['crop']} | {r['samples_per_s']:.1f} | {r['steps']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", help="cpu | cuda")
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--crops", nargs="+", type=int, default=[32, 64])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    ap.add_argument("--min-steps", type=int, default=5)
    ap.add_argument("--min-seconds", type=float, default=3.0)
    ap.add_argument("--out", default=None, help="JSON file to write")
    ap.add_argument("--render", action="store_true",
                    help="write the bench/RESULTS.md section from bench/train_throughput_*.json")
    args = ap.parse_args()
    if args.render:
        files = sorted((REPO / "bench").glob("train_throughput_*.json"))
        text = render(files)
        print(text)
        replace_markdown_section(REPO / "bench" / "RESULTS.md", SECTION, text)
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("CUDA requested but not available")
    dtypes = ["fp32", "bf16"] if device.type == "cuda" else ["fp32"]
    hardware = (torch.cuda.get_device_name(device) if device.type == "cuda"
                else f"{cpu_name()} ({os.cpu_count()} cores)")
    rows = []
    for name in args.models:
        for crop in args.crops:
            for dtype in dtypes:
                r = measure(name, device, dtype, crop, args.batch, args.min_steps,
                            args.min_seconds)
                print(json.dumps(r), flush=True)
                rows.append(r)
    rec = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "device": device.type, "hardware": hardware, "torch": torch.__version__,
           "threads": torch.get_num_threads(), "rows": rows}
    if args.out:
        Path(args.out).write_text(json.dumps(rec, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
