"""One speed benchmark: deep pan-sharpening end to end beside GDAL Brovey and MTF-GLP-HPM.

Measures, in one run on one machine (every measurement in its own child process, so
that each has its own peak RSS):

* end to end, files in, GeoTIFF out, on the same inputs: GDAL's ``gdal_pansharpen``
  (Brovey, ``osgeo_utils.gdal_pansharpen``), this plugin's MTF-GLP-HPM
  (:func:`engine.fusion.raster.pansharpen_classical_raster`, what
  ``pantiny:pansharpen_classical`` runs) and PanTiny with the default model and default
  settings (:func:`engine.inference.raster.pansharpen_raster`, what
  ``pantiny:pansharpen`` runs); seconds, MPix/s (PAN pixels), ratio to GDAL Brovey, peak
  RSS; with ``--before-commit`` also the same PanTiny run with the code of an older
  commit (``git archive`` into a temporary folder), the "before"; and PanTiny without
  the spectral correction (what the correction costs);
* once through ``qgis_process run pantiny:pansharpen`` (start-up included) on
  wv3-shanghai, unless ``--no-qgis``;
* PanTiny with scene adaptation at its default, when ``engine.adaptation`` exists
  (otherwise reported as n/a);
* the model alone per tile size (one tile, one torch thread; plain row-strip forward
  pass vs the fast CPU path, and the fast path with one tile per core);
* training steps per second of the default model on the CPU (forward, L1 loss,
  backward, Adam; batch 8 of 64 px crops), the arithmetic of scene adaptation.

Scenes: wv3-shanghai (PAN 1300 x 1300, MS bands 2, 3, 5, 7 = B, G, R, NIR1 through a
VRT, so that every method fuses the same four bands) and a generated ``--size`` x
``--size`` scene (default 8000) made by mirror-tiling it (uint16, tiled, uncompressed
GeoTIFFs in a temporary folder; ``--skip-large`` leaves it out).

Appends the results, with date, machine and load average, to bench/RESULTS.md
(section "## CPU speed end to end (bench/speed.py)"; earlier runs are kept).

    .venv/bin/python bench/speed.py                      # everything (see below)
    .venv/bin/python bench/speed.py --skip-large --no-qgis --no-write   # quick look
    .venv/bin/python bench/speed.py --before-commit 6566d0d   # with the "before"

Duration on a quiet 2-core machine, estimated from the rates measured here: ~1.5 min
with ``--skip-large --no-qgis``; the 8000 x 8000 scene adds ~6-8 min (64 MPix: PanTiny
at ~0.2-0.3 MPix/s, MTF-GLP-HPM, generation), ``qgis_process`` one more PanTiny run of
wv3-shanghai.  On a busy machine everything takes several times longer.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PANTINY_DATA", REPO.parent / "shared" / "data"))
if not DATA.is_dir():
    DATA = Path("/work/shared/data")
SHANGHAI_PAN = DATA / "wv3-shanghai" / "PAN_AOI_4_Shanghai_img1920.tif"
SHANGHAI_MS = DATA / "wv3-shanghai" / "MUL_AOI_4_Shanghai_img1920.tif"
BGRN = (2, 3, 5, 7)
RATIO = 4
SECTION = "## CPU speed end to end (bench/speed.py)"


# --------------------------------------------------------------------------- children


def _child(job: dict) -> dict:
    """Run one measurement in this (child) process; returns what it measured."""
    root = job.get("root") or str(REPO)
    sys.path.insert(0, root)
    kind = job["kind"]
    t0, c0 = time.perf_counter(), time.process_time()
    extra: dict = {}
    if kind == "brovey":
        from osgeo_utils import gdal_pansharpen

        ms = [f"{job['ms']},band={b}" for b in range(1, 5)]
        rc = gdal_pansharpen.main(["gdal_pansharpen", "-q", "-of", "GTiff",
                                   "-co", "TILED=YES", job["pan"], *ms, job["out"]])
        if rc:
            raise SystemExit(f"gdal_pansharpen failed ({rc})")
    elif kind == "hpm":
        from engine.fusion.raster import pansharpen_classical_raster

        pansharpen_classical_raster(job["pan"], job["ms"], job["out"], "mtf_glp_hpm",
                                    sensor="wv3")
    elif kind == "pantiny":
        import torch
        from engine.inference.raster import pansharpen_raster
        from engine.weights.model_zoo import default_model_id, model_path

        res = pansharpen_raster(job["pan"], job["ms"], job["out"],
                                model_path(default_model_id()), device="cpu",
                                **({"adapt_steps": job["adapt_steps"], "sensor": "WorldView-3"}
                                   if job.get("adapt_steps") else {}),
                                **({"spectral_correction": False}
                                   if job.get("spectral_correction") is False else {}))
        if job.get("adapt_steps"):
            extra["adaptation"] = res.get("ADAPTATION")
        extra = {**extra, "torch_threads": torch.get_num_threads(),
                 "reported_mpix_per_s": res.get("MPIX_PER_S")}
    elif kind == "model":
        extra = _model_alone(job)
    elif kind == "train":
        extra = _train_steps(job)
    else:  # pragma: no cover
        raise SystemExit(f"unknown job {kind}")
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **extra}


def _best(fn, n: int) -> float:
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _model_alone(job: dict) -> dict:
    """Model alone, random inputs: MPix/s per tile size (best of ``repeat``)."""
    import threading

    import torch
    from engine.models.fast_pantiny import FastPanTiny
    from engine.weights.checkpoint import load_model
    from engine.weights.model_zoo import default_model_id, model_path

    cores = job["cores"]
    torch.set_num_threads(1)
    model, _ = load_model(model_path(default_model_id()), torch.device("cpu"))
    model = model.eval().to(memory_format=torch.channels_last)
    fast = FastPanTiny(model)
    rows = []
    for tile in job["tiles"]:
        torch.manual_seed(0)
        bms = torch.rand(1, 4, tile, tile).contiguous(memory_format=torch.channels_last)
        pan = torch.rand(1, 1, tile, tile).contiguous(memory_format=torch.channels_last)
        mpix = tile * tile / 1e6
        with torch.inference_mode():
            fast(None, bms, pan)  # warm-up
            t_plain = _best(lambda: model.forward_rows(None, bms, pan), job["repeat"])
            t_fast = _best(lambda: fast(None, bms, pan), job["repeat"])

        def one_per_core() -> None:
            def work() -> None:
                torch.set_num_threads(1)
                with torch.inference_mode():
                    fast(None, bms, pan)
            ts = [threading.Thread(target=work) for _ in range(cores)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()

        t_par = _best(one_per_core, job["repeat"])
        rows.append({"tile": tile, "plain": mpix / t_plain, "fast": mpix / t_fast,
                     "fast_cores": cores * mpix / t_par, "cores": cores,
                     "load": os.getloadavg()[0]})
    return {"model": rows}


def _train_steps(job: dict) -> dict:
    """Training steps/s of the default model: batch 8, 64 px crops, L1, Adam, 1 thread
    per core (torch's default)."""
    import torch
    from engine.weights.checkpoint import load_model
    from engine.weights.model_zoo import default_model_id, model_path

    model, _ = load_model(model_path(default_model_id()), torch.device("cpu"))
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)
    torch.manual_seed(0)
    bms, pan, gt = torch.rand(8, 4, 64, 64), torch.rand(8, 1, 64, 64), torch.rand(8, 4, 64, 64)
    ms = torch.rand(8, 4, 16, 16)

    def step() -> None:
        opt.zero_grad()
        loss = (model(ms, bms, pan) - gt).abs().mean()
        loss.backward()
        opt.step()

    step()
    n = job["steps"]
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return {"steps_per_s": n / (time.perf_counter() - t0), "threads": torch.get_num_threads()}


def run_child(job: dict) -> dict:
    """Run ``job`` in a fresh Python process; adds the load average at the end."""
    load0 = os.getloadavg()[0]
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)],
                          capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{job['kind']} failed:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["load"] = (load0 + os.getloadavg()[0]) / 2
    return res


def run_qgis(pan: str, ms: str, out: str) -> dict:
    """``qgis_process run pantiny:pansharpen`` with defaults; wall time and peak RSS."""
    env_sh = REPO / "env.sh"
    cmd = (f"source {env_sh} && exec /usr/bin/qgis_process.bin run pantiny:pansharpen -- "
           f"PAN={pan} MS={ms} OUTPUT={out}")
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(["bash", "-c", cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    secs = time.perf_counter() - t0
    err = proc.stderr.read() if proc.stderr else ""
    if status:
        raise SystemExit(f"qgis_process failed ({status}):\n{err[-3000:]}")
    return {"seconds": secs, "rss_mb": usage.ru_maxrss / 1024,
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "load": (load0 + os.getloadavg()[0]) / 2}


# --------------------------------------------------------------------------- scenes


def _mirror(idx, n: int):
    import numpy as np

    m = idx % (2 * n)
    return np.where(m < n, m, 2 * n - 1 - m)


def shanghai_bgrn(folder: Path) -> tuple[str, str, int]:
    """wv3-shanghai PAN and a VRT of its B, G, R, NIR1 MS bands."""
    from osgeo import gdal

    vrt = str(folder / "shanghai_ms_bgrn.vrt")
    gdal.Translate(vrt, str(SHANGHAI_MS), format="VRT", bandList=list(BGRN))
    ds = gdal.Open(str(SHANGHAI_PAN))
    return str(SHANGHAI_PAN), vrt, ds.RasterXSize * ds.RasterYSize


def generate(folder: Path, size: int) -> tuple[str, str, int]:
    """``size`` x ``size`` PAN and (size/4)^2 x 4 MS by mirror-tiling wv3-shanghai
    (PAN period 1300, MS period 325: the pair stays co-registered)."""
    import numpy as np
    from osgeo import gdal

    size -= size % RATIO
    src_p, src_m = gdal.Open(str(SHANGHAI_PAN)), gdal.Open(str(SHANGHAI_MS))
    pan_src = src_p.GetRasterBand(1).ReadAsArray()[None]
    ms_src = np.stack([src_m.GetRasterBand(b).ReadAsArray() for b in BGRN])
    drv = gdal.GetDriverByName("GTiff")
    paths = (str(folder / "pan.tif"), str(folder / "ms.tif"))
    for path, src, gt, n in ((paths[0], pan_src, src_p.GetGeoTransform(), size),
                             (paths[1], ms_src, src_m.GetGeoTransform(), size // RATIO)):
        ds = drv.Create(path, n, n, src.shape[0], gdal.GDT_UInt16,
                        ["TILED=YES", "BIGTIFF=IF_SAFER"])
        ds.SetGeoTransform(gt)
        ds.SetProjection(src_p.GetProjectionRef())
        cols = _mirror(np.arange(n), src.shape[2])
        for r0 in range(0, n, 512):
            block = src[:, _mirror(np.arange(r0, min(n, r0 + 512)), src.shape[1])][:, :, cols]
            for b in range(src.shape[0]):
                ds.GetRasterBand(b + 1).WriteArray(block[b], 0, r0)
        ds = None
    return paths[0], paths[1], size * size


# --------------------------------------------------------------------------- main


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy
    import torch
    from osgeo import gdal

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{cpu}, {cores} cores, {platform.system()} {platform.release()}; Python "
            f"{platform.python_version()}, torch {torch.__version__}, numpy "
            f"{numpy.__version__}, GDAL {gdal.__version__}")


def _adaptation_available() -> bool:
    import importlib.util

    sys.path.insert(0, str(REPO))
    try:
        return importlib.util.find_spec("engine.adaptation") is not None
    finally:
        sys.path.pop(0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, default=8000, help="generated scene edge (PAN px)")
    ap.add_argument("--skip-large", action="store_true", help="only wv3-shanghai")
    ap.add_argument("--no-qgis", action="store_true", help="skip the qgis_process run")
    ap.add_argument("--before-commit", help="also run PanTiny with this commit's code "
                    "(wv3-shanghai only: the old code is slow on the large scene)")
    ap.add_argument("--repeat", type=int, default=2,
                    help="runs of each wv3-shanghai measurement (the fastest is kept)")
    ap.add_argument("--tiles", default="128,256,512", help="tile sizes for the model alone")
    ap.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    started = dt.datetime.now(dt.timezone.utc)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="pantiny-speed-") as tmp:
        tmpd = Path(tmp)
        before_root = None
        if args.before_commit:
            before_root = tmpd / "before"
            before_root.mkdir()
            archive = subprocess.run(["git", "-C", str(REPO), "archive", args.before_commit],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(before_root)], input=archive, check=True)
        scenes = [("wv3-shanghai",) + shanghai_bgrn(tmpd)]
        if not args.skip_large:
            t0 = time.perf_counter()
            big = tmpd / "large"
            big.mkdir()
            scenes.append((f"generated {args.size}x{args.size}",) + generate(big, args.size))
            print(f"generated the large scene in {time.perf_counter() - t0:.0f} s", flush=True)
        for name, pan, ms, npix in scenes:
            small = name == "wv3-shanghai"
            jobs = [("GDAL Brovey (gdal_pansharpen)", {"kind": "brovey"}),
                    ("MTF-GLP-HPM (this plugin)", {"kind": "hpm"}),
                    ("PanTiny, default settings", {"kind": "pantiny"}),
                    ("PanTiny without the spectral correction",
                     {"kind": "pantiny", "spectral_correction": False})]
            if _adaptation_available():
                from engine.adaptation.config import DEFAULT_STEPS

                jobs.append((f"PanTiny with scene adaptation ({DEFAULT_STEPS} steps, the "
                             "plugin's default)",
                             {"kind": "pantiny", "adapt_steps": DEFAULT_STEPS}))
            if before_root is not None and small:
                jobs.append((f"PanTiny, default settings, before ({args.before_commit})",
                             {"kind": "pantiny", "root": str(before_root)}))
            results: dict[str, dict] = {}
            for _ in range(args.repeat if small else 1):  # interleaved: load hits all
                for label, job in jobs:
                    job = dict(job, pan=pan, ms=ms, out=str(tmpd / "out.tif"))
                    res = run_child(job)
                    os.remove(job["out"])
                    print(f"{name}: {label}: {res['seconds']:.2f} s (load {res['load']:.2f})",
                          flush=True)
                    if label not in results or res["seconds"] < results[label]["seconds"]:
                        results[label] = res
            if small and not args.no_qgis:
                res = run_qgis(pan, ms, str(tmpd / "out_qgis.tif"))
                print(f"{name}: qgis_process: {res['seconds']:.2f} s", flush=True)
                results["PanTiny via qgis_process run pantiny:pansharpen (plugin defaults: "
                        "scene adaptation on; start-up included)"] = res
            gdal_s = results["GDAL Brovey (gdal_pansharpen)"]["seconds"]
            for label, res in results.items():
                rows.append({"scene": name, "method": label, "mpix": npix / 1e6,
                             "ratio": res["seconds"] / gdal_s, **res})
            if not _adaptation_available():
                rows.append({"scene": name, "method": "PanTiny with scene adaptation (default)",
                             "na": "n/a (engine.adaptation is not in this checkout)"})
        model = run_child({"kind": "model", "cores": cores, "repeat": 3,
                           "tiles": [int(t) for t in args.tiles.split(",")]})
        train = run_child({"kind": "train", "steps": 5})
    text = render(rows, model, train, started, args)
    print(text)
    if not args.no_write:
        append_results(REPO / "bench" / "RESULTS.md", text)


def render(rows: list[dict], model: dict, train: dict, started: dt.datetime,
           args: argparse.Namespace) -> str:
    out = [f"### Run of {started.isoformat(timespec='seconds')}",
           "",
           f"Machine: {_machine()}.  Command: `bench/speed.py"
           + (" --skip-large" if args.skip_large else f" --size {args.size}")
           + (f" --before-commit {args.before_commit}" if args.before_commit else "")
           + (" --no-qgis" if args.no_qgis else "") + "`.  CPU seconds: user + system time of "
           "the process (all its threads).  Load average (1 min) at the time of each row "
           "in the last column: the machine may be shared, so only rows with a load near "
           "or below the core count are comparable.",
           "",
           "| scene | method | seconds | MPix/s | x GDAL Brovey time | CPU seconds | "
           "peak RSS (MB) | load |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "na" in r:
            out.append(f"| {r['scene']} | {r['method']} | {r['na']} | | | | | |")
            continue
        out.append(f"| {r['scene']} | {r['method']} | {r['seconds']:.2f} | "
                   f"{r['mpix'] / r['seconds']:.3f} | {r['ratio']:.1f} | "
                   f"{r['cpu_seconds']:.1f} | {r['rss_mb']:.0f} | {r['load']:.1f} |")
    out += ["", "Model alone (random inputs, one tile, default model; MPix/s of tile pixels; "
            "'plain' = the row-strip forward pass, one torch thread; 'fast' = the fast CPU "
            "path (engine/models/fast_pantiny.py), one torch thread; 'fast, all cores' = "
            "one tile per core in parallel, one torch thread each, as the predictor runs):",
            "",
            "| tile | plain | fast | fast, all cores | cores | load |",
            "|---:|---:|---:|---:|---:|---:|"]
    for r in model["model"]:
        out.append(f"| {r['tile']} | {r['plain']:.3f} | {r['fast']:.3f} | "
                   f"{r['fast_cores']:.3f} | {r['cores']} | {r['load']:.1f} |")
    out += ["", f"Training steps of the default model on the CPU (batch 8, 64 px, L1, Adam, "
            f"{train['threads']} torch threads; the arithmetic of scene adaptation): "
            f"{train['steps_per_s']:.2f} steps/s (load {train['load']:.1f}).", ""]
    return "\n".join(out)


def append_results(path: Path, text: str) -> None:
    """Append ``text`` at the end of the section :data:`SECTION` (created if missing)."""
    body = path.read_text() if path.exists() else "# Benchmark results\n"
    lines = body.splitlines()
    start = next((i for i, l in enumerate(lines) if l.strip() == SECTION), None)
    if start is None:
        lines += ["", SECTION, ""]
        end = len(lines)
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))
    while end > 0 and not lines[end - 1].strip():  # exactly one blank line before
        end -= 1
    lines[end:end] = [""] + text.rstrip("\n").splitlines() + [""]
    path.write_text("\n".join(lines).rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
