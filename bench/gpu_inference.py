"""GPU throughput of tiled PanTiny inference, fp32 vs bf16 (arrays in, arrays out).

No GDAL, no QGIS: only torch, numpy and the engine.  Generates a whole scene in memory
(``--size`` x ``--size`` PAN and a 4-band MS already on the PAN grid, smooth structures
plus texture, values ~[0, 1] like scaled data), runs :class:`engine.inference.predictor.TiledPredictor`
over it once in fp32 and once with bf16 autocast (CUDA only), and reports MPix/s for
each and the difference bf16 - fp32 (max and mean absolute, scaled units).

The model: ``--checkpoint``, else the bundled default model (``resources/models/``),
else a randomly initialised PanTiny (seed 0; speed does not depend on the weights, the
bf16 error somewhat does, so the JSON says which).

Examples::

    python bench/gpu_inference.py --device cuda --size 8192 --out gpu.json
    python bench/gpu_inference.py --device cpu --size 512 --out /tmp/cpu.json   # test run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# deterministic cuBLAS (TiledPredictor enables torch's deterministic algorithms)
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import torch  # noqa: E402

from engine.weights.checkpoint import load_model, read_metadata  # noqa: E402
from engine.inference.predictor import TiledPredictor  # noqa: E402
from engine.inference.tiling import DEFAULT_BLEND, DEFAULT_OVERLAP, DEFAULT_TILE_SIZE  # noqa: E402
from engine.devices import select_device  # noqa: E402
from engine.weights.model_zoo import default_model_id, model_path  # noqa: E402
from engine.models import build_model  # noqa: E402


def make_scene(size: int, bands: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic scaled scene: PAN (size, size), bms (bands, size, size), float32.

    Low-frequency fields (sums of random sinusoids) for the MS, plus a high-frequency
    texture in the PAN, built row block by row block to keep temporaries small.
    """
    rng = np.random.default_rng(seed)
    n_waves = 6
    fy = rng.uniform(0.5, 12, (bands + 1, n_waves)) * 2 * np.pi / size
    fx = rng.uniform(0.5, 12, (bands + 1, n_waves)) * 2 * np.pi / size
    ph = rng.uniform(0, 2 * np.pi, (bands + 1, n_waves))
    pan = np.empty((size, size), dtype=np.float32)
    bms = np.empty((bands, size, size), dtype=np.float32)
    x = np.arange(size, dtype=np.float32)
    for r0 in range(0, size, 512):
        y = np.arange(r0, min(size, r0 + 512), dtype=np.float32)[:, None]
        fields = []
        for b in range(bands + 1):
            f = np.zeros((len(y), size), dtype=np.float32)
            for k in range(n_waves):  # sin(a + c) = sin a cos c + cos a sin c, separable
                a = (fy[b, k] * y + ph[b, k]).astype(np.float32)
                c = (fx[b, k] * x).astype(np.float32)[None]
                f += np.sin(a) * np.cos(c) + np.cos(a) * np.sin(c)
            fields.append(0.45 + 0.08 * f)
        tex = (0.06 * np.sin(0.9 * y) * np.sin(0.5 * x[None])
               + 0.03 * rng.standard_normal((len(y), size), dtype=np.float32))
        for b in range(bands):
            bms[b, r0:r0 + len(y)] = np.clip(fields[b] * (0.6 + 0.15 * b), 0, None)
        pan[r0:r0 + len(y)] = np.clip(bms[:, r0:r0 + len(y)].mean(0) + tex + 0.1 * fields[-1]
                                      - 0.045, 0, None)
    return pan, bms


def get_model(checkpoint: str | None) -> tuple[torch.nn.Module, str]:
    if checkpoint is None and default_model_id() is not None:
        checkpoint = model_path(default_model_id())  # the product's default model
    if checkpoint is not None:
        model, _ = load_model(checkpoint, "cpu")
        _, sha = read_metadata(checkpoint)
        return model, f"checkpoint {Path(checkpoint).name} (sha256 {sha[:16]})"
    torch.manual_seed(0)
    return build_model("pantiny", bands=4), "randomly initialised PanTiny (seed 0)"


def run(pred: TiledPredictor, pan: np.ndarray, bms: np.ndarray) -> tuple[np.ndarray, float]:
    if pred.device.type == "cuda":
        torch.cuda.synchronize(pred.device)
    t0 = time.perf_counter()
    out = pred.predict(pan, bms)
    if pred.device.type == "cuda":
        torch.cuda.synchronize(pred.device)
    return out, time.perf_counter() - t0


SECTION = "## GPU inference"


def render(rec: dict, prof: dict | None) -> str:
    """bench/RESULTS.md section from this script's JSON (and bench/gpu_profile.py's)."""
    b = rec.get("bf16_vs_fp32") or {}
    lines = [
        f"Measured by `bench/gpu_inference.py` on an {rec.get('gpu')} (torch {rec['torch']}, "
        f"CUDA {rec.get('cuda')}): a generated {rec['size']} x {rec['size']} scene "
        f"({rec['size'] ** 2 / 1e6:.0f} MPix, 4 bands, arrays in, arrays out) through "
        f"`TiledPredictor` with the product defaults (tiles {rec['tile_size']} px, overlap "
        f"{rec['overlap']}, '{rec['blend']}' blend, batch {rec['batch_size']}); model: "
        f"{rec['model']}. Times include host-side strip assembly and stitching.", "",
        "| precision | seconds | MPix/s | peak GPU memory (MiB) |", "|---|---|---|---|"]
    for dt in ("fp32", "bf16"):
        if dt in rec:
            e = rec[dt]
            lines.append(f"| {dt} | {e['seconds']:.2f} | {e['mpix_per_s']:.1f} | "
                         f"{e.get('peak_gpu_mib', float('nan')):.0f} |")
    if b:
        lines += ["", f"bf16 vs fp32 (scaled units, 1.0 ~ the 99th percentile): max |d| "
                  f"{b['max_abs']:.4f}, mean |d| {b['mean_abs']:.5f}, 99.9th percentile "
                  f"{b['p999_abs']:.4f} (mean |value| {b['fp32_mean_abs_value']:.3f}); speed-up "
                  f"{b['speedup']:.2f}x. The mean difference is well below one 8-bit display "
                  "level (0.0039) and below the model's own error (RR MAE ~0.03, tiling "
                  "study), so bf16 is offered as an option; fp32 stays the default."]
    if prof:
        lines += ["", f"Model alone (`bench/gpu_profile.py`, forward pass of {prof['batch']} "
                  f"tiles of {prof['tile']} px, no host work):", "",
                  "| memory format | cuDNN | precision | MPix/s |", "|---|---|---|---|"]
        for r in prof["rows"]:
            lines.append(f"| {'channels-last' if r['channels_last'] else 'NCHW'} | "
                         f"{'deterministic' if r['cudnn_deterministic'] else 'benchmark'} | "
                         f"{'bf16' if r['bf16'] else 'fp32'} | {r['mpix_per_s']:.1f} |")
        lines += ["", "The pipeline reaches about a third of the model-alone rate: the rest "
                  "is the 1.31x tile overlap and host-side work per strip (numpy assembly, "
                  "copies, stitching on one CPU thread). In the model the largest CUDA "
                  "items are the convolutions (38 %) and the channel-attention matrix "
                  "products over the whole tile (q k^T, 24 %). TiledPredictor uses NCHW for "
                  "fp32 and channels-last for bf16 on CUDA."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda | cpu | auto")
    ap.add_argument("--size", type=int, default=8192, help="scene edge in pixels")
    ap.add_argument("--tile-size", type=int, default=DEFAULT_TILE_SIZE)
    ap.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--blend", default=DEFAULT_BLEND, choices=["cut", "linear"])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    ap.add_argument("--out", help="JSON file to write")
    ap.add_argument("--render", nargs="+", metavar="JSON",
                    help="write the bench/RESULTS.md section from gpu_inference.json "
                         "[gpu_profile.json] and exit")
    args = ap.parse_args()
    if args.render:
        from engine.io.report_files import replace_markdown_section

        rec = json.loads(Path(args.render[0]).read_text())
        prof = json.loads(Path(args.render[1]).read_text()) if len(args.render) > 1 else None
        text = render(rec, prof)
        print(text)
        replace_markdown_section(REPO / "bench" / "RESULTS.md", SECTION, text)
        return
    if not args.out:
        ap.error("--out is required")
    if args.threads:
        torch.set_num_threads(args.threads)

    device, msg = select_device(args.device)
    print(msg, flush=True)
    if args.device.startswith("cuda") and device.type != "cuda":
        raise SystemExit("CUDA requested but not available; use --device cpu for a test run")
    model, source = get_model(args.checkpoint)
    t0 = time.perf_counter()
    pan, bms = make_scene(args.size)
    t_gen = time.perf_counter() - t0
    print(f"scene {args.size}x{args.size} generated in {t_gen:.1f} s; model: {source}",
          flush=True)

    result: dict = {
        "size": args.size, "tile_size": args.tile_size, "overlap": args.overlap,
        "batch_size": args.batch_size, "blend": args.blend, "device": str(device),
        "device_message": msg,
        "model": source, "torch": torch.__version__, "platform": platform.platform(),
        "threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        result["gpu"] = torch.cuda.get_device_name(device)
        result["cuda"] = torch.version.cuda

    # warm-up on a small crop (kernel selection, allocator) for each precision
    warm = min(args.size, 2 * args.tile_size)
    dtypes = ["fp32", "bf16"] if device.type == "cuda" else ["fp32"]
    outs = {}
    for dt in dtypes:
        pred = TiledPredictor(model, device, tile_size=args.tile_size, overlap=args.overlap,
                              batch_size=args.batch_size, dtype=dt, blend=args.blend)
        run(pred, pan[:warm, :warm], bms[:, :warm, :warm])
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        out, secs = run(pred, pan, bms)
        mpix = args.size * args.size / 1e6 / secs
        entry = {"seconds": secs, "mpix_per_s": mpix,
                 "finite": bool(np.isfinite(out).all())}
        if device.type == "cuda":
            entry["peak_gpu_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
        result[dt] = entry
        outs[dt] = out
        print(f"{dt}: {secs:.2f} s, {mpix:.2f} MPix/s", flush=True)
        Path(args.out).write_text(json.dumps(result, indent=1))  # partial results survive
    if "bf16" in outs:
        d = np.abs(outs["bf16"] - outs["fp32"])
        ref = np.abs(outs["fp32"])
        result["bf16_vs_fp32"] = {
            "max_abs": float(d.max()), "mean_abs": float(d.mean()),
            "p999_abs": float(np.percentile(d[:: max(1, d.shape[1] // 1024)], 99.9)),
            "fp32_mean_abs_value": float(ref.mean()),
            "speedup": result["bf16"]["mpix_per_s"] / result["fp32"]["mpix_per_s"],
        }
        print(f"bf16 vs fp32: max |d| {d.max():.4g}, mean |d| {d.mean():.4g}", flush=True)
    else:
        result["bf16_vs_fp32"] = None
        result["note"] = "bf16 autocast is CUDA-only; CPU runs measure fp32 only"
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
