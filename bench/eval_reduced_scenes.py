"""Wald-protocol (reduced-resolution) scores of the classical methods on the real scenes.

Runs :func:`engine.metrics.evaluation.evaluate_reduced_files` (the code behind
``pantiny:evaluate_reduced``) on wv3-shanghai, wv3-dos-float and wv2-sydney for EXP,
Brovey, GDAL's Brovey, GSA, MTF-GLP and MTF-GLP-HPM, prints Q2n, SAM and ERGAS, and
writes them into the "Reduced resolution on the real scenes" section of
bench/RESULTS.md (``--write``).

Usage: .venv/bin/python bench/eval_reduced_scenes.py [--data ../shared/data] [--write]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.metrics.evaluation import evaluate_reduced_files  # noqa: E402
from engine.io.report_files import replace_markdown_section  # noqa: E402

SCENES = {
    "wv3-shanghai": ("wv3-shanghai/PAN_AOI_4_Shanghai_img1920.tif",
                     "wv3-shanghai/MUL_AOI_4_Shanghai_img1920.tif", "wv3"),
    "wv3-dos-float": ("wv3-dos-float/pan.tif", "wv3-dos-float/mul.tif", "wv3"),
    "wv2-sydney": ("wv2-sydney/WV2_PAN.img", "wv2-sydney/WV2_MS", "wv2"),
}
METHODS = ("exp", "brovey", "brovey_gdal", "gsa", "mtf_glp", "mtf_glp_hpm")
SECTION = "## Reduced resolution (Wald protocol) on the real scenes"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = ap.parse_args(argv)
    lines = [SECTION, "",
             "Measured by `bench/eval_reduced_scenes.py` (all MS bands; exact-GNyq MTF "
             "degradation, toolbox decimation phase, interp23tap at the toolbox phase; Q2n on "
             "32x32 blocks; SAM in degrees). Same code as `pantiny:evaluate_reduced`.", "",
             "| scene | method | Q2n | SAM (deg) | ERGAS | seconds |", "|---|---|---|---|---|---|"]
    for scene, (pan, ms, sensor) in SCENES.items():
        for method in METHODS:
            t0 = time.perf_counter()
            s = evaluate_reduced_files(str(args.data / pan), str(args.data / ms), method, sensor)
            lines.append(f"| {scene} | {method} | {s['Q2N']:.4f} | {s['SAM']:.3f} | "
                         f"{s['ERGAS']:.3f} | {time.perf_counter() - t0:.1f} |")
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if args.write:
        replace_markdown_section(ROOT / "bench" / "RESULTS.md", SECTION, "\n".join(lines[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
