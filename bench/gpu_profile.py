"""Where the time of GPU inference goes: the model alone vs the tiled pipeline.

Times PanTiny's forward pass on a batch of ``--batch`` tiles of ``--tile`` px on CUDA in
every combination of memory format (NCHW / channels-last), cuDNN mode (deterministic /
benchmark) and precision (fp32 / bf16 autocast), then profiles the default combination
(the one :class:`engine.inference.predictor.TiledPredictor` uses) and prints its top CUDA kernels.
Writes a JSON with MPix/s per combination.

    python bench/gpu_profile.py --out gpu_profile.json
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from engine.models import build_model  # noqa: E402


def time_forward(model, bms, pan, bf16: bool, reps: int) -> float:
    ms = F.adaptive_avg_pool2d(bms, (bms.shape[-2] // 4, bms.shape[-1] // 4))
    ctx = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    with torch.inference_mode():
        for _ in range(3):
            with ctx():
                model(ms, bms, pan)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(reps):
            with ctx():
                model(ms, bms, pan)
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    dev = torch.device("cuda")
    torch.manual_seed(0)
    base = build_model("pantiny", bands=4).eval()
    bms0 = torch.rand(args.batch, 4, args.tile, args.tile, device=dev)
    pan0 = bms0.mean(1, keepdim=True) + 0.05 * torch.rand_like(bms0[:, :1])
    px = args.batch * args.tile * args.tile
    rows = []
    for cl, det, bf16 in itertools.product([False, True], [True, False], [False, True]):
        torch.backends.cudnn.deterministic = det
        torch.backends.cudnn.benchmark = not det
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        fmt = torch.channels_last if cl else torch.contiguous_format
        model = build_model("pantiny", bands=4).to(dev).eval()
        model.load_state_dict(base.state_dict())
        model = model.to(memory_format=fmt)
        bms, pan = bms0.contiguous(memory_format=fmt), pan0.contiguous(memory_format=fmt)
        secs = time_forward(model, bms, pan, bf16, args.reps)
        row = {"channels_last": cl, "cudnn_deterministic": det, "bf16": bf16,
               "seconds_per_batch": secs, "mpix_per_s": px / secs / 1e6}
        rows.append(row)
        print(json.dumps(row), flush=True)
    # profile of the configuration TiledPredictor uses (channels-last, deterministic)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    model = base.to(dev).to(memory_format=torch.channels_last)
    bms = bms0.contiguous(memory_format=torch.channels_last)
    pan = pan0.contiguous(memory_format=torch.channels_last)
    from torch.profiler import ProfilerActivity, profile

    ms = F.adaptive_avg_pool2d(bms, (args.tile // 4, args.tile // 4))
    with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU,
                                                     ProfilerActivity.CUDA]) as prof:
        for _ in range(3):
            model(ms, bms, pan)
        torch.cuda.synchronize()
    table = prof.key_averages().table(sort_by="cuda_time_total", row_limit=15)
    print(table, flush=True)
    Path(args.out).write_text(json.dumps({"tile": args.tile, "batch": args.batch,
                                          "gpu": torch.cuda.get_device_name(dev),
                                          "torch": torch.__version__, "rows": rows,
                                          "profile": table}, indent=1))


if __name__ == "__main__":
    main()
