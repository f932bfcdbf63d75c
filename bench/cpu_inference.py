"""CPU speed of `pantiny:pansharpen`'s engine on a real scene, strips on and off.

Runs :func:`engine.inference.raster.pansharpen_raster` with the default model and the
product defaults on wv3-dos-float (PAN 580 x 575, 4 of its 8 MS bands) twice: with the
row-strip forward pass (:mod:`engine.models.row_chunked`, what the product uses on the
CPU) and with the plain forward pass, and checks that the two outputs agree.  One torch
thread unless ``--threads``.  Writes the '## CPU inference speed' section of
bench/RESULTS.md.

    python bench/cpu_inference.py [--threads N] [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from engine.weights.model_zoo import default_model_id, model_path  # noqa: E402
from engine.inference.raster import pansharpen_raster  # noqa: E402
from engine.io.report_files import replace_markdown_section  # noqa: E402

SECTION = "## CPU inference speed"
DATA = Path(os.environ.get("PANTINY_DATA", REPO.parent / "shared" / "data"))


def run(pan: str, ms: str, ckpt: str, out: str, strips: bool) -> float:
    import engine.inference.predictor as inference

    saved = inference.CPU_STRIP_ROWS
    inference.CPU_STRIP_ROWS = saved if strips else None  # None: the plain forward pass
    try:
        t0 = time.perf_counter()
        pansharpen_raster(pan, ms, out, ckpt, device="cpu")
        return time.perf_counter() - t0
    finally:
        inference.CPU_STRIP_ROWS = saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5, help="runs per mode (median is kept)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from osgeo import gdal

    pan, ms = str(DATA / "wv3-dos-float" / "pan.tif"), str(DATA / "wv3-dos-float" / "mul.tif")
    model_id = default_model_id()
    ckpt = model_path(model_id)
    size = gdal.Open(pan)
    mpix = size.RasterXSize * size.RasterYSize / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        times: dict[bool, list[float]] = {True: [], False: []}
        outs = {}
        for _ in range(args.repeat):  # alternate, so that load changes hit both modes
            for strips in (True, False):
                out = str(Path(tmp) / f"out_{strips}.tif")
                times[strips].append(run(pan, ms, ckpt, out, strips))
                outs[strips] = gdal.Open(out).ReadAsArray().astype(np.float64)
                print(f"strips={strips}: {times[strips][-1]:.1f} s", flush=True)
        diff = float(np.abs(outs[True] - outs[False]).max())
    secs = {k: float(np.median(v)) for k, v in times.items()}
    ratios = [b / a for a, b in zip(times[True], times[False])]
    text = (f"Measured by `bench/cpu_inference.py` on {dt.date.today()} ({os.cpu_count()} CPU "
            f"cores, {args.threads} torch thread(s), median of {args.repeat} alternating runs): "
            f"`pansharpen_raster` on wv3-dos-float ({mpix:.2f} MPix PAN, 4 bands, float32) "
            f"with `{model_id}`, tiles 256 / overlap 32 / linear blend, whole pipeline "
            "(GDAL reads, placement, scaling, tiles, writing).\n\n"
            "| forward pass | seconds | MPix/s |\n|---|---|---|\n"
            f"| row strips (product default on the CPU) | {secs[True]:.1f} | "
            f"{mpix / secs[True]:.3f} |\n"
            f"| plain (whole tile at once) | {secs[False]:.1f} | {mpix / secs[False]:.3f} |\n\n"
            f"Speed-up {secs[False] / secs[True]:.2f}x (median; per pair of runs "
            f"{min(ratios):.2f}x to {max(ratios):.2f}x: this machine is shared, timings "
            f"vary); largest difference between the two outputs {diff:.3g} (output units, "
            "float32 reflectance).\n")
    print(text)
    replace_markdown_section(REPO / "bench" / "RESULTS.md", SECTION, text)


if __name__ == "__main__":
    main()
