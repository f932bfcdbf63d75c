"""Tiled model inference on whole arrays or streamed horizontal strips (torch; no GDAL).

Inputs are already scaled (see :mod:`.scaling`): ``pan`` (H, W), ``bms`` (C, H, W) = the MS
placed on the PAN grid, ``valid`` (H, W) bool.  Output: (C, H, W) float32 in the same
scaled units as ``bms``, **clipped to >= 0** (negative radiance/reflectance is not
physical; values above 1 are kept because a percentile scaling maps the brightest 1 % of
pixels above 1), NaN where the input is not valid.  Mapping back to data units (the
inverse MS scaling) is the caller's job (:mod:`.raster` does it).

Tiling (the tile grid depends only on the image size, ``tile_size`` and ``overlap``,
never on the batch size or on how rows are streamed):

* Tiles are always full size ``tile_size`` x ``tile_size`` along every axis that is at
  least ``tile_size`` long: PanTiny's channel attention pools over the whole tile
  (Restormer's MDTA, Zamir et al., CVPR 2022), so a smaller edge tile would change the
  result.  Tile ``k`` starts at ``k * (tile_size - overlap)``; the last tile along an axis
  is moved back to end exactly at the image edge (it then overlaps its neighbour by more
  than ``overlap``).  Along an axis shorter than ``tile_size`` the tile is capped to the
  axis length (one tile, no padding): the result is then exactly whole-image inference
  along that axis, and a small image costs what it needs, not a full tile (a 128 x 128
  image with 4096 px tiles runs as one 128 x 128 tile).
* Stitching keeps each tile's centre.  ``blend='cut'``: consecutive tiles are cut in the
  middle of their overlap, so at least ``overlap // 2`` pixels of context are dropped on
  every interior side.  ``blend='linear'`` (default): neighbouring tiles are cross-faded
  with linear weights over the middle half of their overlap (ramp ``overlap // 2`` wide
  centred on the cut; weights sum to exactly 1), so at least ``overlap // 4`` pixels of
  context stay unused at every interior tile edge.  Cross-fading turns the small
  tile-to-tile offsets caused by PanTiny's tile-wide channel attention into invisible
  ramps instead of steps along the cut lines (bench/RESULTS.md).  On image sides nothing
  is dropped, and the network sees the image edge exactly as in whole-image inference.
  For a purely convolutional model whose receptive-field half-width is at most the
  unused context (``overlap // 2`` for 'cut', ``overlap // 4`` for 'linear'), tiled
  output equals whole-image output (to float rounding).
* Invalid pixels (PAN or any MS band nodata, or non-finite) are filled with a constant
  per band (by default the mean of the valid pixels; streaming callers pass image-wide
  means) before inference so they do not disturb their neighbours, and are NaN in the
  output.

The defaults below come from ``bench/tiling_study.py`` (bench/RESULTS.md, section
"Tiled vs whole-image inference"); ``tests/engine/test_tiling_defaults.py`` holds them
to it.
"""

from __future__ import annotations

import contextlib
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterator, Sequence

import numpy as np

from ..errors import Canceled, DeviceOutOfMemory, InputError

# The tile layout and its defaults (chosen by bench/tiling_study.py) live in the
# torch-free engine.inference.tiling so that the plugin can read them at load.
from .tiling import (BLENDS, DEFAULT_BLEND, DEFAULT_OVERLAP, DEFAULT_TILE_SIZE, Span,
                     axis_weights, blend_radius, plan_axis)

from ..io.windows import full_window, intersection, rows_window
from ..devices import autocast, deterministic  # raises DependencyError without torch
from ..models.pantiny import PanTiny
from ..models.fast_pantiny import FastPanTiny
from .blas_threads import openblas_threads

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

#: Tiles per forward pass on the CPU (``batch_size=None``).  Does not change the result,
#: only speed and memory: PanTiny needs about 210 MB per 256 x 256 tile in float32, and
#: batching brings no speed on the CPU.
DEFAULT_BATCH_SIZE = 1
#: Tiles per forward pass on CUDA (``batch_size=None``): ~1.7 GB of GPU memory at 256 px.
DEFAULT_CUDA_BATCH_SIZE = 8
#: Rows per strip for models with ``forward_rows`` on the CPU (cache-sized strips);
#: None or 0 runs the plain forward pass (read when a predictor is made).
CPU_STRIP_ROWS = 32

#: On the CPU, PanTiny runs as :class:`~engine.models.fast_pantiny.FastPanTiny` (folded
#: weights, pixel-major layout; equal to the plain forward pass within float rounding,
#: tests/engine/test_fast_path.py).  False: the model's own (row-strip) forward pass.
CPU_FAST_PATH = True
#: Worker threads on the CPU (``threads=None``): one tile per worker, one torch thread
#: each (tiles are independent; tile-level parallelism scales better than torch's
#: intra-op threads on these small operations, bench/RESULTS.md).  None: every core this
#: process may use.
CPU_THREADS: int | None = None
#: Memory the CPU workers' tiles may take together, MB, and the estimate per tile pixel
#: (PanTiny keeps ~3 x 28 float32 planes per tile in the fast path, plus strips): fewer
#: workers run large tiles (with 4096 px tiles one tile alone takes ~5 GB).
CPU_WORKER_MEMORY_MB = 2048
_TILE_BYTES_PER_PIXEL = 512

DTYPES = ("fp32", "bf16")

ReadRows = Callable[[int, int], "tuple[np.ndarray, np.ndarray, np.ndarray | None]"]
Progress = Callable[[float], None]


# --------------------------------------------------------------------------- helpers


def valid_mask(pan: np.ndarray, bms: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """``valid`` AND finite PAN AND every MS band finite, (H, W) bool."""
    m = np.isfinite(pan) & np.isfinite(bms).all(axis=0)
    if valid is not None:
        m &= np.asarray(valid, dtype=bool)
    return m


def fill_values(pan: np.ndarray, bms: np.ndarray, valid: np.ndarray) -> tuple[float, np.ndarray]:
    """Means of the valid pixels: PAN scalar and MS (C,) vector (0 where nothing is valid)."""
    if not valid.any():
        return 0.0, np.zeros(bms.shape[0], dtype=np.float64)
    fp = float(np.mean(pan[valid], dtype=np.float64))
    fm = np.array([np.mean(b[valid], dtype=np.float64) for b in bms])
    return fp, fm


def _available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS reports one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - Windows, macOS
        return max(1, os.cpu_count() or 1)


def _one_torch_thread() -> None:
    """Worker initialiser: a worker computes one tile with one torch thread."""
    torch.set_num_threads(1)


# --------------------------------------------------------------------------- predictor


class TiledPredictor:
    """Run a pan-sharpening model over an image tile by tile, in batches.

    ``model`` follows the engine convention ``forward(ms, bms, pan)`` with ``bms``
    (B, C, T, T) and ``pan`` (B, 1, T, T); the LR ``ms`` argument is given the
    ``ratio`` x ``ratio`` area average of the tile's ``bms`` (the project's models do
    not use it).  The model is moved to ``device`` and put in eval mode.

    ``batch_size`` None (or 0) picks :data:`DEFAULT_BATCH_SIZE` on the CPU and
    :data:`DEFAULT_CUDA_BATCH_SIZE` on CUDA.  ``tile_size`` None runs the whole image as
    one tile (the reference of the tiling study; memory grows with the image).
    ``dtype='bf16'`` uses bfloat16 autocast on CUDA only; on CPU it falls back to fp32
    (see :attr:`messages`).  In fp32 mode TF32 is disabled so that fp32 means fp32.
    ``blend``: 'cut' or 'linear' stitching (None: :data:`DEFAULT_BLEND`).
    ``clip_min``: lower clip of the output (scaled units; default 0, None: no clip, for
    signed data whose negative values are real).
    ``threads``: tiles computed at once on the CPU, each by its own worker thread with
    one torch thread (None: :data:`CPU_THREADS`, else every available core; on CUDA one
    worker); the result does not depend on it.  While the workers compute a row of
    tiles, the next row is read (``read_rows``) in a background thread, and the caller
    consumes (writes) the previous row.
    """

    def __init__(
        self,
        model: "torch.nn.Module",
        device: "torch.device | str" = "cpu",
        tile_size: int | None = DEFAULT_TILE_SIZE,
        overlap: int = DEFAULT_OVERLAP,
        batch_size: int | None = None,
        dtype: str = "fp32",
        ratio: int = 4,
        blend: str | None = None,
        clip_min: float | None = 0.0,
        threads: int | None = None,
    ) -> None:
        blend = DEFAULT_BLEND if blend is None else blend
        if blend not in BLENDS:
            raise InputError(f"blend must be one of {BLENDS}, got {blend!r}")
        if tile_size is not None and (int(tile_size) != tile_size or tile_size < 8):
            raise InputError(f"tile size must be an integer >= 8 pixels, got {tile_size}")
        if int(overlap) != overlap or overlap < 0:
            raise InputError(f"overlap must be a non-negative integer, got {overlap}")
        if tile_size is not None and overlap >= tile_size:
            raise InputError(
                f"overlap ({overlap}) must be smaller than the tile size ({tile_size}); "
                "a typical overlap is a quarter of the tile size"
            )
        self.device = torch.device(device)
        if batch_size is None or batch_size == 0:
            batch_size = (DEFAULT_CUDA_BATCH_SIZE if self.device.type == "cuda"
                          else DEFAULT_BATCH_SIZE)
        if int(batch_size) != batch_size or batch_size < 1:
            raise InputError(f"batch size must be a positive integer, got {batch_size}")
        if dtype not in DTYPES:
            raise InputError(f"dtype must be one of {DTYPES}, got {dtype!r}")
        self.tile_size = None if tile_size is None else int(tile_size)
        self.overlap = int(overlap)
        self.blend = blend
        self.batch_size = int(batch_size)
        self.ratio = int(ratio)
        #: Lower clip of the output in scaled units (None: no clip, for signed data).
        self.clip_min = clip_min
        self.messages: list[str] = []
        if dtype == "bf16" and self.device.type != "cuda":
            self.messages.append("bf16 autocast is only used on CUDA; running fp32 on the CPU")
            dtype = "fp32"
        self.dtype = dtype
        # Memory format, measured with PanTiny (bench/gpu_profile.py, bench/RESULTS.md):
        # channels-last on the CPU (depthwise and 1x1 convolutions are memory-bound in
        # NCHW) and for bf16 on CUDA (H200: 34 vs 31 MPix/s); NCHW for fp32 on CUDA
        # (26 vs 20 MPix/s).
        # Same output to ~1e-6 either way.
        self.memory_format = (torch.contiguous_format
                              if self.device.type == "cuda" and dtype == "fp32"
                              else torch.channels_last)
        self.model = model.to(self.device).eval().to(memory_format=self.memory_format)
        # on the CPU, models that offer it run their blocks strip by strip (same numbers
        # to ~1e-6, ~1.5x faster for PanTiny: engine/models/row_chunked.py)
        self.strip_rows = (CPU_STRIP_ROWS if self.device.type == "cpu"
                           and hasattr(self.model, "forward_rows") else None)
        if threads is not None and (int(threads) != threads or threads < 1):
            raise InputError(f"threads must be a positive integer, got {threads}")
        #: Tiles computed at once on the CPU (worker threads); 1 on CUDA.
        self.threads = (1 if self.device.type != "cpu"
                        else int(threads or CPU_THREADS or _available_cores()))
        self.fast_path = bool(CPU_FAST_PATH and self.device.type == "cpu"
                              and isinstance(model, PanTiny))
        #: Statistics of the last run: tiles, seconds, megapixels per second.
        self.last_stats: dict[str, float] = {}

    # ---------------------------------------------------------------- public API

    def tile_shape(self, height: int, width: int) -> tuple[int, int]:
        """(rows, cols) of every tile for an image of ``height`` x ``width``: the tile
        size, capped to the image along an axis shorter than one tile."""
        if self.tile_size is None:
            return height, width
        return min(self.tile_size, height), min(self.tile_size, width)

    def workers_for(self, tile_rows: int, tile_cols: int) -> int:
        """Worker threads for tiles of ``tile_rows`` x ``tile_cols``: :attr:`threads`,
        fewer where their tiles would exceed :data:`CPU_WORKER_MEMORY_MB` together."""
        per_tile = tile_rows * tile_cols * _TILE_BYTES_PER_PIXEL * self.batch_size
        return max(1, min(self.threads, CPU_WORKER_MEMORY_MB * 2**20 // per_tile))

    def predict(
        self,
        pan: np.ndarray,
        bms: np.ndarray,
        valid: np.ndarray | None = None,
        *,
        fill_pan: float | None = None,
        fill_ms: Sequence[float] | None = None,
        progress: Progress | None = None,
        is_canceled: Callable[[], bool] | None = None,
    ) -> np.ndarray:
        """Whole in-memory arrays: ``pan`` (H, W), ``bms`` (C, H, W) -> (C, H, W) float32.

        ``fill_*`` default to the means of the valid pixels.
        """
        pan, bms = self._check(pan, bms)
        height, width = pan.shape
        vmask = valid_mask(pan, bms, valid)
        if fill_pan is None or fill_ms is None:
            fp, fm = fill_values(pan, bms, vmask)
            fill_pan = fp if fill_pan is None else fill_pan
            fill_ms = fm if fill_ms is None else fill_ms
        out = np.empty(bms.shape, dtype=np.float32)

        def read_rows(y0: int, y1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            return pan[y0:y1], bms[:, y0:y1], vmask[y0:y1]

        for y0, block in self.predict_rows(
            read_rows, height, width, fill_pan=fill_pan, fill_ms=fill_ms,
            progress=progress, is_canceled=is_canceled,
        ):
            out[:, y0 : y0 + block.shape[1]] = block
        return out

    def predict_rows(
        self,
        read_rows: ReadRows,
        height: int,
        width: int,
        *,
        fill_pan: float,
        fill_ms: Sequence[float],
        progress: Progress | None = None,
        is_canceled: Callable[[], bool] | None = None,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Stream an image of ``height`` x ``width`` one row of tiles at a time.

        ``read_rows(y0, y1)`` must return ``(pan (n, W), bms (C, n, W), valid (n, W) or
        None)`` for image rows ``[y0, y1)``, n = y1 - y0 (NaN allowed; they count as
        invalid).  It is called once per row of tiles with ``y1 - y0 <= tile_size``, so
        memory stays bounded by ``tile_size x width`` plus the batch (two rows of tiles
        are in flight).  It runs in a background thread, one call at a time, and never
        while the caller holds a yielded block (so the caller may use the same files).
        Yields ``(y0, block (C, n, W) float32)`` for consecutive, non-overlapping row
        blocks that cover ``[0, height)`` in order.  ``progress(fraction)`` is called after every
        batch; ``is_canceled()`` is checked before every batch and raises
        :class:`~errors.Canceled`.
        """
        fill_ms_arr = np.asarray(fill_ms, dtype=np.float32).reshape(-1)
        spans_y = plan_axis(height, self.tile_size, self.overlap)
        spans_x = plan_axis(width, self.tile_size, self.overlap)
        th, tw = self.tile_shape(height, width)
        wy = axis_weights(spans_y, blend_radius(spans_y, self.tile_size, self.overlap, self.blend))
        wx = axis_weights(spans_x, blend_radius(spans_x, self.tile_size, self.overlap, self.blend))
        total = len(spans_y) * len(spans_x)
        batches = [spans_x[b0: b0 + self.batch_size]
                   for b0 in range(0, len(spans_x), self.batch_size)]
        run_model = self._model_for_run()
        cpu = self.device.type == "cpu"
        prev_threads = torch.get_num_threads()
        # one worker per tile computed at once (CPU: one torch thread each; CUDA: one
        # worker that launches the kernels while this thread stitches and yields)
        n_workers = self.workers_for(th, tw)
        workers = ThreadPoolExecutor(n_workers, thread_name_prefix="pantiny-tile",
                                     initializer=_one_torch_thread if cpu else None)
        reader = ThreadPoolExecutor(1, thread_name_prefix="pantiny-read")

        def prepare(k: int) -> tuple[np.ndarray, "torch.Tensor"]:
            strip = intersection(rows_window(spans_y[k].start, spans_y[k].start + th, width),
                                 full_window(width, height))
            return self._prepare(read_rows(strip.y0, strip.y1), strip.shape, fill_pan,
                                 fill_ms_arr)

        def submit(xt: "torch.Tensor") -> list[Future]:
            return [workers.submit(self._task, run_model, xt, batch, tw, n_workers == 1)
                    for batch in batches]

        carry: np.ndarray | None = None  # weighted rows shared with the next strip
        t0 = time.perf_counter()
        blas = contextlib.ExitStack()
        if cpu:
            # the workers are the parallelism: this thread only stitches, and the BLAS
            # under torch runs single-threaded (inside QGIS it can be the system OpenBLAS,
            # whose spinning threads doubled the time: engine/inference/blas_threads.py)
            torch.set_num_threads(1)
            blas.enter_context(openblas_threads(1))
        try:
            if is_canceled is not None and is_canceled():
                raise Canceled("pan-sharpening canceled")
            vmask, xt = prepare(0)
            futures = submit(xt)
            for k, sy in enumerate(spans_y):
                # read the next row of tiles while the workers compute this one; the
                # readers are never used while the caller holds a yielded block
                nxt = reader.submit(prepare, k + 1) if k + 1 < len(spans_y) else None
                preds = []
                for b, fut in enumerate(futures):
                    if is_canceled is not None and is_canceled():
                        raise Canceled("pan-sharpening canceled")
                    preds.append(fut.result())
                    if progress is not None:
                        progress((k * len(spans_x) + sum(map(len, batches[: b + 1]))) / total)
                lo, hi, w_rows = wy[k]
                block = self._stitch(preds, batches, sy, (lo, hi, w_rows), wx, width)
                if nxt is not None:
                    next_vmask, xt = nxt.result()
                    futures = submit(xt)  # computed while the caller consumes this block
                if carry is not None:
                    block[:, : carry.shape[1]] += carry
                emit = hi if k == len(spans_y) - 1 else hi - 2 * (hi - sy.keep_stop)
                carry = block[:, emit - lo :].copy() if emit < hi else None
                out = block[:, : emit - lo]
                out[:, ~vmask[lo - sy.start : emit - sy.start]] = np.nan
                if nxt is not None:
                    vmask = next_vmask
                yield lo, out
        except (torch.cuda.OutOfMemoryError, RuntimeError) as exc:
            oom = self._out_of_memory(exc)  # from a worker, via Future.result()
            if oom is None:
                raise
            raise oom from exc
        finally:
            workers.shutdown(wait=True, cancel_futures=True)
            reader.shutdown(wait=True, cancel_futures=True)
            blas.close()
            if cpu:
                torch.set_num_threads(prev_threads)  # restored (MKL's count is global)
        secs = time.perf_counter() - t0
        self.last_stats = {
            "tiles": float(total),
            "seconds": secs,
            "mpix_per_s": height * width / 1e6 / secs if secs > 0 else float("inf"),
        }

    # ---------------------------------------------------------------- internals

    @staticmethod
    def _check(pan: np.ndarray, bms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pan = np.asarray(pan)
        bms = np.asarray(bms)
        if pan.ndim != 2 or bms.ndim != 3 or bms.shape[1:] != pan.shape:
            raise InputError(
                f"expected pan (H, W) and bms (C, H, W) on the same grid, got pan {pan.shape} "
                f"and bms {bms.shape}"
            )
        return pan, bms

    def _model_for_run(self) -> Callable[..., "torch.Tensor"]:
        """``f(ms, bms, pan)`` for this run: the folded PanTiny on the CPU (built from the
        current weights), else the model's row-strip or plain forward pass."""
        if self.fast_path:
            return FastPanTiny(self.model, rows=self.strip_rows or CPU_STRIP_ROWS or 32)
        if self.strip_rows:
            rows = self.strip_rows
            return lambda ms, bms, pan: self.model.forward_rows(ms, bms, pan, rows=rows)
        return self.model

    def _prepare(self, rows: "tuple[np.ndarray, np.ndarray, np.ndarray | None]",
                 shape: tuple[int, int], fill_pan: float, fill_ms: np.ndarray
                 ) -> tuple[np.ndarray, "torch.Tensor"]:
        """Check and fill one strip read by ``read_rows``: ``(valid (n, W), x (C+1, n, W))``
        with x = [bms, pan] on the device, invalid pixels filled."""
        pan, bms, valid = rows
        pan, bms = self._check(pan, bms)
        if pan.shape != shape:
            raise InputError(f"read_rows returned PAN {pan.shape}, expected {shape}")
        if fill_ms.size != bms.shape[0]:
            raise InputError(f"fill_ms has {fill_ms.size} values for {bms.shape[0]} MS bands")
        vmask = valid_mask(pan, bms, valid)
        x = np.empty((bms.shape[0] + 1, *shape), dtype=np.float32)
        np.copyto(x[:-1], np.where(vmask, bms, fill_ms[:, None, None]))
        np.copyto(x[-1], np.where(vmask, pan, np.float32(fill_pan)))
        return vmask, torch.from_numpy(x).to(self.device)

    def _task(self, run_model: Callable[..., "torch.Tensor"], xt: "torch.Tensor",
              batch: list[Span], tw: int, alone: bool) -> "torch.Tensor":
        """Predict one batch of tiles of a strip ``xt`` (C+1, n, W) -> (B, C, n, tw) in a
        worker thread (``alone``: the only worker)."""
        c = xt.shape[0] - 1
        with torch.inference_mode():
            # the flags are process-wide: set them only where one worker computes (they
            # matter on CUDA; the CPU kernels used here are deterministic anyway)
            with (deterministic(self.device, allow_tf32=False) if alone
                  else contextlib.nullcontext()):
                tiles = torch.stack([xt[:, :, s.start: s.start + tw] for s in batch])
                return self._forward(run_model, tiles[:, :c], tiles[:, c:])

    def _forward(self, run_model: Callable[..., "torch.Tensor"], bms_t: "torch.Tensor",
                 pan_t: "torch.Tensor") -> "torch.Tensor":
        h, w = bms_t.shape[-2:]
        ms_t = F.adaptive_avg_pool2d(bms_t, (max(1, h // self.ratio), max(1, w // self.ratio)))
        fmt = self.memory_format
        bms_t, pan_t = bms_t.contiguous(memory_format=fmt), pan_t.contiguous(memory_format=fmt)
        ms_t = ms_t.contiguous(memory_format=fmt)
        with autocast(self.device, self.dtype == "bf16"):
            out = run_model(ms_t, bms_t, pan_t)
        out = out.float()
        return out if self.clip_min is None else out.clamp_(min=float(self.clip_min))

    def _out_of_memory(self, exc: BaseException) -> DeviceOutOfMemory | None:
        """:class:`DeviceOutOfMemory` when ``exc`` is PyTorch's out-of-memory error (CUDA's
        ``OutOfMemoryError`` or a ``RuntimeError`` saying so, CPU allocator included)."""
        text = str(exc)
        if isinstance(exc, torch.cuda.OutOfMemoryError) or (
                isinstance(exc, RuntimeError) and ("out of memory" in text
                                                   or "can't allocate memory" in text)):
            return DeviceOutOfMemory(
                f"{self.device} ran out of memory with tiles of {self.tile_size} px in "
                f"batches of {self.batch_size}")
        return None

    def _stitch(self, preds: list["torch.Tensor"], batches: list[list[Span]], sy: Span,
                rows: tuple[int, int, np.ndarray], wx: list[tuple[int, int, np.ndarray]],
                width: int) -> np.ndarray:
        """Weighted sum of one row of tile predictions for image rows ``[lo, hi)``."""
        lo, hi, w_rows = rows
        c = preds[0].shape[1]
        r0, r1 = lo - sy.start, hi - sy.start
        hard = bool(np.all(w_rows == 1.0)) and all(bool(np.all(w == 1.0)) for _, _, w in wx)
        with torch.inference_mode():
            out = torch.zeros((c, hi - lo, width), dtype=torch.float32, device=self.device)
            wr = torch.from_numpy(w_rows).to(self.device)[:, None]
            j = 0
            for pred, batch in zip(preds, batches):
                for i, s in enumerate(batch):
                    c0, c1, w = wx[j]
                    part = pred[i, :, r0:r1, c0 - s.start: c1 - s.start]
                    if hard:
                        out[:, :, c0:c1] = part
                    else:
                        wc = torch.from_numpy(w).to(self.device)[None, :]
                        out[:, :, c0:c1] += part * (wr * wc)
                    j += 1
            return out.cpu().numpy()
