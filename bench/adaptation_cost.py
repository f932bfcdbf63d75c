"""Cost of scene adaptation beside inference: ``pansharpen_raster`` on wv3-shanghai.

Runs the whole file pipeline twice with the default model on the CPU: without adaptation
and with the default ``ADAPT_STEPS`` (:data:`engine.adaptation.DEFAULT_STEPS`), and
reports the seconds of adaptation (reading the scene, degrading it, the steps, the
guard) beside the seconds of inference.  Results: ``bench/adaptation_cost.json`` and the
section "Scene adaptation cost" of bench/RESULTS.md.

    nice -n 10 python -m bench.adaptation_cost [--steps N] [--threads T]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from engine.adaptation import DEFAULT_STEPS
from engine.inference.raster import pansharpen_raster
from engine.io.report_files import replace_markdown_section
from engine.weights.model_zoo import default_model_id, model_path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PANTINY_DATA", REPO.parent / "shared" / "data"))
PAN = DATA / "wv3-shanghai" / "PAN_AOI_4_Shanghai_img1920.tif"
MS = DATA / "wv3-shanghai" / "MUL_AOI_4_Shanghai_img1920.tif"


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def set_progress(self, p: float) -> None:
        pass

    def info(self, m: str) -> None:
        self.lines.append(m)

    def warning(self, m: str) -> None:
        self.lines.append("WARNING " + m)

    def is_canceled(self) -> bool:
        return False


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--no-results", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    ckpt = model_path(default_model_id())
    load = os.getloadavg()
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for steps in (0, args.steps):
            t0 = time.perf_counter()
            res = pansharpen_raster(str(PAN), str(MS), os.path.join(tmp, f"o{steps}.tif"),
                                    ckpt, device="cpu", sensor="wv3", adapt_steps=steps,
                                    feedback=_Log())
            total = time.perf_counter() - t0
            adapt = res["ADAPTATION"]["seconds"] if res["ADAPTATION"] else 0.0
            runs[steps] = {"total_s": round(total, 1), "adaptation_s": round(adapt, 1),
                           "inference_s": round(total - adapt, 1),
                           "adaptation": res["ADAPTATION"]}
            print(f"steps {steps}: total {total:.1f} s, adaptation {adapt:.1f} s", flush=True)
    meta = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="minutes"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {args.threads} torch "
                   f"thread(s), torch {torch.__version__}",
        "load_before": [round(v, 2) for v in load], "load_after":
            [round(v, 2) for v in os.getloadavg()],
        "model": default_model_id(), "steps": args.steps,
    }
    out = {"meta": meta, "runs": runs}
    (REPO / "bench" / "adaptation_cost.json").write_text(json.dumps(out, indent=1))
    if not args.no_results:
        a, b = runs[0], runs[args.steps]
        ad = b["adaptation"] or {}
        body = "\n".join([
            f"Measured by `bench/adaptation_cost.py` on {meta['date']} ({meta['machine']}; "
            f"load average {meta['load_before'][0]} before, {meta['load_after'][0]} after: the "
            "machine is shared with other jobs, times are pessimistic). `pansharpen_raster` "
            f"on wv3-shanghai (1300 x 1300 PAN, bands 2, 3, 5, 7) with `{meta['model']}`, "
            "sensor WorldView-3, CPU, one run each.",
            "",
            "| ADAPT_STEPS | total (s) | adaptation (s) | inference + I/O (s) | guard |",
            "|---|---|---|---|---|",
            f"| 0 | {a['total_s']} | 0 | {a['inference_s']} | |",
            f"| {args.steps} | {b['total_s']} | {b['adaptation_s']} | {b['inference_s']} | "
            f"{'reverted' if ad.get('reverted') else 'kept'}, L1 "
            f"{ad.get('guard_l1_before', float('nan')):.5f} -> "
            f"{ad.get('guard_l1_after', float('nan')):.5f} |",
        ])
        replace_markdown_section(REPO / "bench" / "RESULTS.md", "## Scene adaptation cost", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
