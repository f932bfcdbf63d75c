"""Cost of the spectral consistency correction on its own: time and memory.

Usage::

    python bench/spectral_correction.py [--width 16000] [--height 2240] [--append]

Streams a generated 4-band image of ``width`` x ``height`` PAN pixels through
:func:`engine.inference.spectral_correction.correct_rows` in blocks of 224 rows (what the
default tiling, 256 px tiles with 32 px overlap, hands over), once with every pixel valid
and once with nodata holes (the normalised-convolution path), and reports seconds, MPix/s
and the growth of the peak RSS of the process (the blocks themselves are generated one at
a time).  With ``--append`` the result goes to ``bench/RESULTS.md`` ("Spectral correction
cost").  The end-to-end cost inside ``pantiny:pansharpen`` is measured by
``bench/speed.py`` (PanTiny with and without the correction).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.inference.spectral_correction import correct_rows  # noqa: E402

BLOCK = 224
GAINS = (0.3, 0.3, 0.3, 0.3)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(width: int, height: int, holes: bool) -> dict:
    rng = np.random.default_rng(0)
    base = rng.random((4, 1, width), dtype=np.float32)

    def block(y0: int, y1: int) -> np.ndarray:
        b = np.broadcast_to(base, (4, y1 - y0, width)).copy()
        if holes:
            b[:, :, ::97] = np.nan
        return b

    def blocks():
        for y0 in range(0, height, BLOCK):
            yield y0, block(y0, min(height, y0 + BLOCK)) * np.float32(0.9)

    before = _peak_mb()
    t0 = time.perf_counter()
    n = 0
    for _, out in correct_rows(blocks(), block, height, 4, GAINS):
        n += out.shape[1]
    secs = time.perf_counter() - t0
    assert n == height
    return {"seconds": secs, "mpix_per_s": width * height / 1e6 / secs,
            "peak_growth_mb": _peak_mb() - before, "holes": holes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--width", type=int, default=16000)
    ap.add_argument("--height", type=int, default=2240)
    ap.add_argument("--append", action="store_true")
    args = ap.parse_args()
    rows = [run(args.width, args.height, holes) for holes in (False, True)]
    when = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    text = [f"### Run of {when}", "",
            f"{platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, load "
            f"{os.getloadavg()[0]:.2f}; {args.width} x {args.height} PAN px, 4 bands, blocks "
            f"of {BLOCK} rows, MTF gains {GAINS[0]}.", "",
            "| nodata holes | seconds | MPix/s | peak RSS growth, MB |", "|---|---:|---:|---:|"]
    for r in rows:
        text.append(f"| {'yes' if r['holes'] else 'no'} | {r['seconds']:.2f} | "
                    f"{r['mpix_per_s']:.2f} | {r['peak_growth_mb']:.0f} |")
    out = "\n".join(text) + "\n"
    print(out)
    if args.append:
        path = ROOT / "bench" / "RESULTS.md"
        body = path.read_text()
        head = "## Spectral correction cost"
        if head not in body:
            body += (f"\n{head}\n\n`bench/spectral_correction.py` streams a generated image "
                     "through the correction alone (the end-to-end cost is in bench/speed.py's "
                     "runs: PanTiny with and without it). Runs are appended, newest last.\n")
        path.write_text(body.rstrip("\n") + "\n\n" + out)


if __name__ == "__main__":
    main()
