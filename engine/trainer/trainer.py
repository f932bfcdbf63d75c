"""Training of the pan-sharpening networks: single-dataset and multiple-in-one.

Recipe (the PanTiny paper, arXiv 2507.15059, and its published configuration; defaults of
:class:`TrainConfig`): composite loss
(L1 1.5, SSIM 4.0, focal 1.5; :mod:`engine.losses`), ``torch.optim.Adam`` lr 5e-4,
betas (0.9, 0.999), eps 1e-8, weight decay 1e-4 (coupled L2, not AdamW),
``CosineAnnealingLR(T_max=epochs, eta_min=1e-6)`` stepped once per epoch, batch 16.

Data: any list of datasets (:class:`DatasetEntry`): the HDF5 sets written by
``training.build_datasets`` (``<data_root>/<name>/{train,val,test}.h5`` and
``<data_root>/fr_test/<scene>.h5``), PanCollection HDF5/.mat files or PanTiny TIF
folders.  ``balanced=False`` concatenates them and samples uniformly over patches (as in
the paper); ``balanced=True`` draws every dataset with the same probability.

Evaluation every ``eval_every`` epochs (and after the last one), on every dataset:

* reduced resolution on the ``val`` and ``test`` splits: Q2N, SAM (degrees), ERGAS, PSNR,
  SSIM (and SCC, Q_AVG, CC) from :func:`engine.metrics.reduced_resolution_report`,
  computed **per patch and averaged over the patches** (the literature's "mean over test
  images" convention; Q2N uses 32 x 32 blocks, so a 64 x 64 patch gives 4 blocks).  PSNR
  peak and SSIM data range are 1 (model units: the percentile scaling maps the 99th
  percentile to 1).  Fused values are clipped to >= 0 first, as at inference.
* full resolution on every FR test scene of the dataset: D_LAMBDA, D_S, QNR (original
  definition), D_LAMBDA_K, HQNR (:func:`engine.metrics.full_resolution_report`), the
  model run on the whole FR test region (:class:`engine.inference.predictor.TiledPredictor`,
  ``fr_tile=None`` = one tile).

The ``best`` checkpoint maximises the mean validation Q2N over the datasets that have a
``val`` split (the ``test`` split when none has).  ``latest`` is written after every
epoch, with ``training_state.pt`` (optimiser, scheduler, history) for ``resume``.
Checkpoints use :mod:`engine.weights.checkpoint` with full metadata.  Outputs in ``out_dir``:
``best.ckpt``, ``latest.ckpt``, ``training_state.pt``, ``train.log`` (human readable),
``history.json``, ``curves.png`` (matplotlib, Agg; skipped when matplotlib is missing).

``init_from`` starts a new run from the weights of a checkpoint of the same architecture
(warm start; optimiser and schedule start fresh; ignored when resuming).
``checkpoint_every`` writes ``latest`` only every N epochs (and at every evaluation and
the end), for runs of many short epochs.  ``max_seconds`` gives the run a wall-clock
budget: from the mean epoch time (after the first epoch) the trainer cuts the number of
epochs to what fits, re-aiming the cosine schedule so that it still ends near
``eta_min`` on the last epoch (logged; the checkpoint's recipe records the epochs
actually run).  Useful on shared machines and for fixed-budget comparisons.

Devices: CPU or CUDA; bf16 autocast on CUDA (``amp``).  Multi-GPU / multi-node with
``torchrun``: when ``WORLD_SIZE > 1`` the model is wrapped in DistributedDataParallel
(backend nccl on CUDA, gloo on CPU), the data is sharded with DistributedSampler (or a
distributed weighted sampler when balanced) and only rank 0 evaluates and writes files.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler

from ..weights.checkpoint import load_checkpoint, save_checkpoint
from ..devices import autocast, select_device
from .datasets import (FrScene, H5PanDataset, TifFolderDataset, balanced_weights,
                       concat_datasets)
from ..errors import InputError
from ..losses import CompositeLoss, LossWeights
from ..inference.scaling import PERCENTILE99, Scaling
from ..sensors import BGRN, get_sensor

RR_KEYS = ("Q2N", "SAM", "ERGAS", "PSNR", "SSIM", "SCC", "Q_AVG", "CC")
FR_KEYS = ("D_LAMBDA", "D_S", "QNR", "D_LAMBDA_K", "HQNR")
SPLITS = ("val", "test")


# --------------------------------------------------------------------------- config


@dataclass
class DatasetEntry:
    """One dataset of a training run.

    ``kind='built'``: ``<data_root>/<name>/{train,val,test}.h5`` + FR scenes listed in
    ``<data_root>/manifest.json`` (or found in ``<data_root>/fr_test`` by their
    ``dataset`` attribute).  ``kind='h5'``: explicit files (``train``, ``val``, ``test``,
    ``fr_test``) with ``scale``/``bands``.  ``kind='tif'``: PanTiny folders (``train`` =
    ``.../train128``, ``val``/``test`` = ``.../test128``).  ``sensor`` gives the MTF gains
    for FR indices of files that do not carry them.
    """

    name: str
    kind: str = "built"
    train: str | None = None
    val: str | None = None
    test: str | None = None
    fr_test: list[str] = field(default_factory=list)
    scale: float | str | None = None
    bands: list[int] | None = None
    sensor: str | None = None
    ratio: int = 4

    @classmethod
    def from_config(cls, item: str | Mapping[str, Any]) -> "DatasetEntry":
        if isinstance(item, str):
            return cls(name=item)
        if not isinstance(item, Mapping) or "name" not in item:
            raise InputError(f"a dataset entry is a name or a mapping with 'name', got {item!r}")
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = set(item) - allowed
        if unknown:
            raise InputError(f"dataset {item['name']!r}: unknown keys {sorted(unknown)}; "
                             f"allowed {sorted(allowed)}")
        d = dict(item)
        if isinstance(d.get("fr_test"), str):
            d["fr_test"] = [d["fr_test"]]
        if d.get("kind", "built") not in ("built", "h5", "tif"):
            raise InputError(f"dataset {d['name']!r}: kind must be built, h5 or tif")
        return cls(**d)


@dataclass
class TrainConfig:
    """Everything a training run needs (YAML keys of the same names)."""

    model: str = "pantiny"
    hparams: dict[str, Any] = field(default_factory=dict)
    bands: int = 4
    data_root: str | None = None
    datasets: list[Any] = field(default_factory=list)
    balanced: bool = False
    loss: dict[str, float] = field(default_factory=lambda: {"l1": 1.5, "ssim": 4.0, "focal": 1.5})
    optimizer: dict[str, Any] = field(default_factory=lambda: {
        "lr": 5e-4, "weight_decay": 1e-4, "betas": [0.9, 0.999], "eps": 1e-8})
    scheduler: dict[str, Any] = field(default_factory=lambda: {"eta_min": 1e-6})
    epochs: int = 500
    batch_size: int = 16
    crop: int | None = None          # random crop (PAN px, multiple of the ratio) of train patches
    augment: bool = False            # random flips and 90-degree rotations
    eval_every: int = 20
    eval_batch_size: int = 16
    eval_max_patches: int | None = None
    eval_splits: list[str] = field(default_factory=lambda: ["val", "test"])
    fr_eval: bool = True
    fr_tile: int | None = None       # FR inference tile (None: the whole region at once)
    seed: int = 123
    device: str = "auto"
    amp: bool = True                 # bf16 autocast on CUDA (ignored on CPU)
    num_workers: int = 0
    max_steps_per_epoch: int | None = None
    stop_after: int | None = None    # epochs to run in this invocation (then resume later)
    max_seconds: float | None = None  # wall-clock budget: fewer epochs when it would not fit
    checkpoint_every: int = 1        # epochs between 'latest' saves (and at evals and the end)
    out_dir: str = ".run/train/default"
    input_scaling: dict[str, Any] = field(default_factory=lambda: PERCENTILE99.recipe())
    init_from: str | None = None     # checkpoint whose weights start a new run (warm start)
    progress: bool = True
    name: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TrainConfig":
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - allowed
        if unknown:
            raise InputError(f"unknown config keys {sorted(unknown)}; allowed: {sorted(allowed)}")
        cfg = cls(**{k: v for k, v in d.items()})
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if not self.datasets:
            raise InputError("the config lists no dataset")
        if min(self.epochs, self.batch_size, self.eval_every, self.checkpoint_every) < 1:
            raise InputError("epochs, batch_size, eval_every and checkpoint_every must be >= 1")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise InputError(f"max_seconds must be a positive number of seconds, got "
                             f"{self.max_seconds!r}")
        for s in self.eval_splits:
            if s not in SPLITS:
                raise InputError(f"eval_splits may contain 'val' and 'test', got {s!r}")
        LossWeights.from_dict(self.loss)
        Scaling.from_dict(self.input_scaling)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- distributed


@dataclass(frozen=True)
class DistInfo:
    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def dist_info() -> DistInfo:
    """World size / rank from the torchrun environment (1 process without it)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    return DistInfo(world, rank, local)


class DistributedWeightedSampler(Sampler[int]):
    """Weighted sampling with replacement, sharded over ranks (balanced multi-dataset
    training under DDP).  Every rank draws the same global sequence (seed + epoch) and
    keeps every ``world_size``-th index from its rank on."""

    def __init__(self, weights: torch.Tensor, num_samples: int, rank: int, world_size: int,
                 seed: int = 0) -> None:
        self.weights = torch.as_tensor(weights, dtype=torch.float64)
        self.per_rank = int(math.ceil(num_samples / world_size))
        self.total = self.per_rank * world_size
        self.rank, self.world_size, self.seed, self.epoch = rank, world_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        idx = torch.multinomial(self.weights, self.total, replacement=True, generator=g)
        return iter(idx[self.rank::self.world_size].tolist())

    def __len__(self) -> int:
        return self.per_rank


class _EpochSeeded(Sampler[int]):
    """Wraps a single-process sampler whose ``generator`` is reseeded every epoch, so
    that a resumed run sees the same sample order as an uninterrupted one."""

    def __init__(self, sampler: Sampler, seed: int) -> None:
        self.sampler, self.seed = sampler, seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.generator = torch.Generator().manual_seed(self.seed + int(epoch))

    def __iter__(self) -> Iterator[int]:
        return iter(self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


# --------------------------------------------------------------------------- data


class TrainTransform(Dataset):
    """Random crop (aligned to the ratio) and flips/rotations of training samples.

    Randomness comes from ``(seed, epoch, index)`` only, so it does not depend on the
    number of workers or ranks.  Keys: ms, lms, pan, gt (+ passthrough)."""

    def __init__(self, dataset: Dataset, ratio: int, crop: int | None, augment: bool,
                 seed: int, salt: int = 0) -> None:
        self.dataset, self.ratio, self.crop, self.augment = dataset, int(ratio), crop, augment
        self.seed, self.salt, self.epoch = int(seed), int(salt), 0
        if crop is not None and crop % self.ratio:
            raise InputError(f"crop ({crop}) must be a multiple of the ratio {self.ratio}")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        s = dict(self.dataset[index])
        if self.crop is None and not self.augment:
            return s
        rng = np.random.default_rng([self.seed, self.salt, self.epoch, int(index)])
        if self.crop is not None:
            H, W = s["pan"].shape[-2:]
            c = self.crop
            if c > H or c > W:
                raise InputError(f"crop {c} is larger than the patch {H}x{W}")
            y = int(rng.integers(0, (H - c) // self.ratio + 1)) * self.ratio
            x = int(rng.integers(0, (W - c) // self.ratio + 1)) * self.ratio
            for k in ("lms", "pan", "gt"):
                if k in s:
                    s[k] = s[k][..., y:y + c, x:x + c]
            yr, xr, cr = y // self.ratio, x // self.ratio, c // self.ratio
            s["ms"] = s["ms"][..., yr:yr + cr, xr:xr + cr]
        if self.augment:
            k = int(rng.integers(0, 4))
            flip = bool(rng.integers(0, 2))
            for key in ("ms", "lms", "pan", "gt"):
                if key in s:
                    t = torch.rot90(s[key], k, dims=(-2, -1))
                    s[key] = (torch.flip(t, dims=(-1,)) if flip else t).contiguous()
        return s


@dataclass
class DataSource:
    """A resolved dataset: training set, evaluation splits and FR scene files."""

    name: str
    ratio: int
    train: Dataset | None
    splits: dict[str, Dataset]
    fr_scenes: list[str]
    sensor: str | None = None
    ms_gnyq: tuple[float, ...] | None = None
    pan_gnyq: float | None = None


def _resolve_path(p: str | None, root: Path | None) -> Path | None:
    if p is None:
        return None
    path = Path(os.path.expandvars(os.path.expanduser(p)))
    if not path.is_absolute() and root is not None and not path.exists():
        path = root / path
    return path


def resolve_datasets(cfg: TrainConfig) -> list[DataSource]:
    """Open every dataset of ``cfg`` (see :class:`DatasetEntry`)."""
    root = Path(os.path.expandvars(os.path.expanduser(cfg.data_root))) if cfg.data_root else None
    manifest = None
    if root is not None and (root / "manifest.json").is_file():
        manifest = json.loads((root / "manifest.json").read_text())
    out = []
    for item in cfg.datasets:
        e = DatasetEntry.from_config(item)
        splits: dict[str, Dataset] = {}
        train = None
        fr: list[str] = []
        if e.kind == "built":
            if root is None:
                raise InputError(f"dataset {e.name!r} is a built dataset but the config has "
                                 "no data_root (the output folder of training.build_datasets)")
            folder = root / e.name
            if not folder.is_dir():
                raise InputError(f"dataset folder {folder} does not exist; build it with "
                                 f"python -m training.build_datasets --out {root}")
            if (folder / "train.h5").is_file():
                train = H5PanDataset(folder / "train.h5", name=e.name)
            for s in SPLITS:
                if (folder / f"{s}.h5").is_file():
                    splits[s] = H5PanDataset(folder / f"{s}.h5", name=e.name)
            if manifest is not None and e.name in manifest.get("groups", {}):
                fr = [str(root / p) for p in manifest["groups"][e.name].get("fr_test", [])]
            elif (root / "fr_test").is_dir():
                fr = [str(p) for p in sorted((root / "fr_test").glob("*.h5"))
                      if _h5_attr(p, "dataset") == e.name]
            fr += [str(_resolve_path(p, root)) for p in e.fr_test]
            probe = train or next(iter(splits.values()), None)
            ratio = probe.ratio if probe is not None else e.ratio
        elif e.kind == "h5":
            mk = lambda p: H5PanDataset(_resolve_path(p, root), scale=e.scale, name=e.name,  # noqa: E731
                                        bands=e.bands)
            train = mk(e.train) if e.train else None
            for s in SPLITS:
                if getattr(e, s):
                    splits[s] = mk(getattr(e, s))
            fr = [str(_resolve_path(p, root)) for p in e.fr_test]
            probe = train or next(iter(splits.values()), None)
            ratio = probe.ratio if probe is not None else e.ratio
        else:
            mk = lambda p: TifFolderDataset(_resolve_path(p, root), name=e.name, ratio=e.ratio)  # noqa: E731
            train = mk(e.train) if e.train else None
            for s in SPLITS:
                if getattr(e, s):
                    splits[s] = mk(getattr(e, s))
            fr = [str(_resolve_path(p, root)) for p in e.fr_test]
            ratio = e.ratio
        gn, pg = None, None
        if e.sensor:
            sensor = get_sensor(e.sensor)
            gn, pg = tuple(sensor.gnyq(cfg.bands)), sensor.pan_gnyq
        elif isinstance(train, H5PanDataset) or splits:
            probe = train if isinstance(train, H5PanDataset) else next(iter(splits.values()))
            if isinstance(probe, H5PanDataset) and probe.attr_json("ms_gnyq") is not None:
                gn = tuple(probe.attr_json("ms_gnyq"))
                pg = float(probe.attrs.get("pan_gnyq", 0.15))
        out.append(DataSource(e.name, int(ratio), train, splits, fr, e.sensor, gn, pg))
    return out


def _h5_attr(path: Path, key: str) -> Any:
    import h5py

    with h5py.File(path, "r") as f:
        v = f.attrs.get(key)
    return v.decode() if isinstance(v, bytes) else v


def _collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors; lists for the rest.  A batch that mixes ratios (e.g. Landsat 8 at 2
    with WorldView at 4) has LR ``ms`` of different sizes: ``ms`` is then None (no model
    of the engine uses it; they all accept None)."""
    out: dict[str, Any] = {}
    for k in batch[0]:
        vals = [b[k] for b in batch]
        if isinstance(vals[0], torch.Tensor):
            if k == "ms" and len({tuple(v.shape) for v in vals}) > 1:
                out[k] = None
                continue
            out[k] = torch.stack(vals)
        else:
            out[k] = vals
    return out


# --------------------------------------------------------------------------- progress


class ProgressBar:
    """Minimal progress bar on stderr (no dependency).  On a terminal it redraws one line;
    otherwise it prints only the final line of each epoch."""

    def __init__(self, total: int, prefix: str, enabled: bool = True, width: int = 24,
                 stream=None) -> None:
        self.total, self.prefix, self.enabled, self.width = max(total, 1), prefix, enabled, width
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.time()
        self.last = 0.0

    def update(self, done: int, info: str = "") -> None:
        if not self.enabled or not self.tty:
            return
        now = time.time()
        if now - self.last < 0.2 and done < self.total:
            return
        self.last = now
        self.stream.write("\r" + self._line(done, info))
        self.stream.flush()

    def _line(self, done: int, info: str) -> str:
        frac = min(done / self.total, 1.0)
        fill = int(round(frac * self.width))
        el = time.time() - self.start
        rate = done / el if el > 0 else 0.0
        return (f"{self.prefix} [{'#' * fill}{'.' * (self.width - fill)}] {done}/{self.total} "
                f"{rate:.1f} it/s {info}")

    def close(self, info: str = "") -> None:
        if not self.enabled:
            return
        line = self._line(self.total, info)
        self.stream.write(("\r" if self.tty else "") + line + "\n")
        self.stream.flush()


# --------------------------------------------------------------------------- evaluation


def _mean_reports(reports: list[dict[str, float]]) -> dict[str, float]:
    if not reports:
        return {}
    keys = [k for k in RR_KEYS if k in reports[0]]
    out = {}
    for k in keys:
        vals = np.array([r[k] for r in reports], dtype=np.float64)
        vals = vals[np.isfinite(vals)]
        out[k] = float(vals.mean()) if vals.size else float("nan")
    out["patches"] = len(reports)
    return out


def evaluate_rr(predict: Callable[[dict[str, Any]], np.ndarray], dataset: Dataset, ratio: int,
                batch_size: int = 16, max_patches: int | None = None) -> dict[str, float]:
    """Mean over patches of the RR indices of ``predict(batch) -> (N, C, H, W)`` against
    the batch's ``gt`` (fused clipped to >= 0; PSNR peak / SSIM range 1)."""
    from ..metrics import reduced_resolution_report

    n = len(dataset) if max_patches is None else min(len(dataset), int(max_patches))
    reports: list[dict[str, float]] = []
    for start in range(0, n, batch_size):
        batch = _collate([dataset[i] for i in range(start, min(start + batch_size, n))])
        if "gt" not in batch:
            raise InputError(f"dataset {getattr(dataset, 'name', '?')} has no ground truth")
        fused = np.clip(np.asarray(predict(batch), dtype=np.float64), 0.0, None)
        gt = batch["gt"].numpy().astype(np.float64)
        for f, g in zip(fused, gt):
            reports.append(reduced_resolution_report(f, g, ratio, peak=1.0))
    return _mean_reports(reports)


def evaluate_fr(fused: np.ndarray, scene: FrScene) -> dict[str, float]:
    """FR indices of one fused scene (``D_LAMBDA``, ``D_S``, ``QNR``, ``D_LAMBDA_K``,
    ``HQNR``, ...), fused clipped to >= 0, nodata pixels masked."""
    from ..metrics import full_resolution_report

    f = np.clip(np.nan_to_num(np.asarray(fused, dtype=np.float64), nan=0.0), 0.0, None)
    mask = None if scene.valid.all() else scene.valid
    return full_resolution_report(f, scene.pan, scene.ms, scene.ratio, scene.ms_gnyq, mask=mask)


def model_rr_predictor(model: torch.nn.Module, device: torch.device, amp: bool
                       ) -> Callable[[dict[str, Any]], np.ndarray]:
    def predict(batch: dict[str, Any]) -> np.ndarray:
        with torch.no_grad(), autocast(device, amp):
            out = model(batch["ms"].to(device), batch["lms"].to(device), batch["pan"].to(device))
        return out.float().cpu().numpy()
    return predict


def model_fr_predict(model: torch.nn.Module, scene: FrScene, device: torch.device, amp: bool,
                     tile: int | None = None) -> np.ndarray:
    """Run ``model`` over the whole FR scene (one tile unless ``tile``)."""
    from ..inference.predictor import TiledPredictor

    dtype = "bf16" if amp and device.type == "cuda" else "fp32"
    overlap = 0 if tile is None else max(8, tile // 4)
    pred = TiledPredictor(model, device, tile_size=tile, overlap=overlap, batch_size=1,
                          dtype=dtype, ratio=scene.ratio)
    return pred.predict(scene.pan.astype(np.float32), scene.lms.astype(np.float32), scene.valid)


# --------------------------------------------------------------------------- plotting / logging


def plot_curves(history: list[dict[str, Any]], path: str | os.PathLike) -> bool:
    """Training curves (loss, learning rate, validation Q2N, FR QNR/HQNR) to a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:   # matplotlib missing or broken: no plot, training goes on
        return False
    ep = [h["epoch"] for h in history]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    ax = axes[0, 0]
    ax.plot(ep, [h["loss"] for h in history], label="total")
    for term in ("l1", "ssim", "focal"):
        vals = [h.get("terms", {}).get(term) for h in history]
        if any(v is not None for v in vals):
            ax.plot(ep, [np.nan if v is None else v for v in vals], label=term, alpha=0.7)
    ax.set_title("training loss"), ax.set_xlabel("epoch"), ax.legend(fontsize=8)
    ax.set_yscale("log")
    axes[0, 1].plot(ep, [h["lr"] for h in history])
    axes[0, 1].set_title("learning rate"), axes[0, 1].set_xlabel("epoch")
    evals = [h for h in history if h.get("eval")]
    ax = axes[1, 0]
    names = sorted({n for h in evals for n in h["eval"].get("rr", {})})
    for name in names:
        for split, style in (("val", "-"), ("test", ":")):
            pts = [(h["epoch"], h["eval"]["rr"][name].get(split, {}).get("Q2N")) for h in evals
                   if name in h["eval"]["rr"]]
            pts = [(e, v) for e, v in pts if v is not None]
            if pts:
                ax.plot(*zip(*pts), style, marker="o", ms=3, label=f"{name} {split}")
    ax.set_title("RR Q2N"), ax.set_xlabel("epoch")
    if names:
        ax.legend(fontsize=7)
    ax = axes[1, 1]
    scenes = sorted({s for h in evals for s in h["eval"].get("fr", {})})
    for scene in scenes:
        for key, style in (("QNR", "-"), ("HQNR", "--")):
            pts = [(h["epoch"], h["eval"]["fr"][scene].get(key)) for h in evals
                   if scene in h["eval"]["fr"]]
            pts = [(e, v) for e, v in pts if v is not None]
            if pts:
                ax.plot(*zip(*pts), style, marker="o", ms=3, label=f"{scene} {key}")
    ax.set_title("FR QNR (solid) / HQNR (dashed)"), ax.set_xlabel("epoch")
    if scenes:
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def json_clean(obj: Any) -> Any:
    """NaN/inf -> None, numpy -> Python (checkpoint metadata is strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): json_clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def format_eval(ev: Mapping[str, Any]) -> str:
    """Markdown-ish table lines of an evaluation result."""
    lines = []
    for name, per_split in ev.get("rr", {}).items():
        for split, m in per_split.items():
            lines.append(f"  RR {name:<8} {split:<5} n={m.get('patches', 0):<4} " + " ".join(
                f"{k}={m[k]:.4f}" for k in ("Q2N", "SAM", "ERGAS", "PSNR", "SSIM")
                if k in m and m[k] is not None))
    for scene, m in ev.get("fr", {}).items():
        lines.append(f"  FR {scene:<14} " + " ".join(
            f"{k}={m[k]:.4f}" for k in FR_KEYS if k in m and m[k] is not None))
    if ev.get("score") is not None:
        lines.append(f"  selection score (mean {ev.get('score_split')} Q2N) = {ev['score']:.4f}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- trainer


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def training_device(requested: str, dist: DistInfo) -> torch.device:
    """The device of this process: :func:`engine.devices.select_device` without CPU
    fallback, ``cuda:<local rank>`` under ``torchrun``."""
    return select_device(requested, fallback=False,
                         local_rank=dist.local_rank if dist.enabled else None)[0]


@dataclass
class _Run:
    """Mutable state of one training run (history, best model, epoch bounds, timing)."""

    out: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    best_score: float = -math.inf
    best_epoch: int | None = None
    start_epoch: int = 0
    end_epoch: int = 0
    epochs_planned: int = 0
    last_eval: dict = field(default_factory=dict)
    logged_fit: int | None = None
    t_start: float = 0.0
    t_first: float = 0.0

    @property
    def state_path(self) -> Path:
        return self.out / "training_state.pt"

    @property
    def latest_path(self) -> Path:
        return self.out / "latest.ckpt"

    @property
    def best_path(self) -> Path:
        return self.out / "best.ckpt"


class Trainer:
    """Runs one training (``Trainer(cfg).train(resume=False)``); see the module docstring."""

    def __init__(self, cfg: TrainConfig, log_stream=None) -> None:
        cfg.validate()
        self.cfg = cfg
        self.dist = dist_info()
        self.out = Path(cfg.out_dir)
        self.log_stream = log_stream if log_stream is not None else sys.stderr
        self._log_fh = None

    # ---------------------------------------------------------------- logging
    def log(self, msg: str) -> None:
        if not self.dist.main:
            return
        stamp = _dt.datetime.now().strftime("%H:%M:%S")
        text = f"[{stamp}] {msg}"
        print(text, file=self.log_stream, flush=True)
        if self._log_fh is not None:
            self._log_fh.write(text + "\n")
            self._log_fh.flush()

    # ---------------------------------------------------------------- setup
    def _init_distributed(self) -> None:
        if not self.dist.enabled:
            return
        import torch.distributed as tdist

        if not tdist.is_initialized():
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
            tdist.init_process_group(backend=backend, rank=self.dist.rank,
                                     world_size=self.dist.world_size)

    def _barrier(self) -> None:
        if self.dist.enabled:
            import torch.distributed as tdist

            tdist.barrier()

    def _build_loader(self, sources: list[DataSource]) -> tuple[DataLoader, list[TrainTransform]]:
        cfg = self.cfg
        train_sets = [s for s in sources if s.train is not None]
        if not train_sets:
            raise InputError("no dataset has a training split")
        wrapped = [TrainTransform(s.train, s.ratio, cfg.crop, cfg.augment, cfg.seed, salt=i)
                   for i, s in enumerate(train_sets)]
        shapes = {tuple(w[0]["pan"].shape[-2:]) for w in wrapped}
        if len(shapes) > 1:
            raise InputError(f"training patches of different sizes {sorted(shapes)}: set "
                             "'crop' to a common size")
        concat, weighted = concat_datasets(wrapped, balanced=cfg.balanced)
        if self.dist.enabled:
            from torch.utils.data.distributed import DistributedSampler

            if cfg.balanced:
                sampler: Sampler = DistributedWeightedSampler(
                    balanced_weights([len(w) for w in wrapped]), len(concat), self.dist.rank,
                    self.dist.world_size, cfg.seed)
            else:
                sampler = DistributedSampler(concat, num_replicas=self.dist.world_size,
                                             rank=self.dist.rank, shuffle=True, seed=cfg.seed)
        else:
            base = weighted if weighted is not None else RandomSampler(concat)
            sampler = _EpochSeeded(base, cfg.seed)
        per_rank = max(1, cfg.batch_size // self.dist.world_size) if self.dist.enabled else cfg.batch_size
        loader = DataLoader(concat, batch_size=per_rank, sampler=sampler,
                            num_workers=cfg.num_workers, collate_fn=_collate, drop_last=False,
                            pin_memory=self.device.type == "cuda",
                            # workers are re-created every epoch so that they see the
                            # epoch of TrainTransform (random crops/flips)
                            persistent_workers=False)
        self._sampler = sampler
        return loader, wrapped

    def _metadata(self, sources: list[DataSource], epoch: int, evaluation: dict) -> dict:
        cfg = self.cfg
        ratios = sorted({s.ratio for s in sources})
        sensors = sorted({s.sensor or _sensor_of(s) for s in sources} - {None})
        return json_clean({
            "model": cfg.model,
            "hparams": dict(self.raw_model.hparams),
            "bands": {"count": cfg.bands, "names": list(BGRN) if cfg.bands == 4 else None,
                      "order": "B,G,R,NIR" if cfg.bands == 4 else None},
            "ratio": ratios[0] if len(ratios) == 1 else ratios,
            "input_scaling": Scaling.from_dict(cfg.input_scaling).recipe(),
            "sensors": sensors,
            "datasets": [{"name": s.name, "ratio": s.ratio,
                          "train_patches": 0 if s.train is None else len(s.train),
                          "splits": {k: len(v) for k, v in s.splits.items()},
                          "fr_scenes": [Path(p).stem for p in s.fr_scenes]} for s in sources],
            "training": {"recipe": {k: v for k, v in cfg.as_dict().items()
                                    if k not in ("progress",)},
                         "data_protocol": {s.name: _protocol_of(s) for s in sources},
                         "epoch": epoch, "world_size": self.dist.world_size,
                         "device": str(self.device), "torch": torch.__version__},
            "evaluation": evaluation,
        })

    # ---------------------------------------------------------------- evaluation
    def evaluate(self, sources: list[DataSource], fr_cache: dict[str, FrScene]) -> dict:
        cfg = self.cfg
        model = self.raw_model
        was_training = model.training
        model.eval()
        predict = model_rr_predictor(model, self.device, cfg.amp)
        rr: dict[str, dict[str, dict]] = {}
        fr: dict[str, dict] = {}
        t0 = time.time()
        for s in sources:
            for split in cfg.eval_splits:
                ds = s.splits.get(split)
                if ds is None or not getattr(ds, "has_gt", True):
                    continue
                rr.setdefault(s.name, {})[split] = evaluate_rr(
                    predict, ds, s.ratio, cfg.eval_batch_size, cfg.eval_max_patches)
            if cfg.fr_eval:
                for path in s.fr_scenes:
                    if path not in fr_cache:
                        fr_cache[path] = FrScene(path, ms_gnyq=None if s.sensor is None else s.ms_gnyq,
                                                 pan_gnyq=None if s.sensor is None else s.pan_gnyq)
                    scene = fr_cache[path]
                    fused = model_fr_predict(model, scene, self.device, cfg.amp, cfg.fr_tile)
                    res = evaluate_fr(fused, scene)
                    fr[f"{s.name}/{scene.name}"] = {k: res[k] for k in FR_KEYS + ("D_S_TOOLBOX",)
                                                    if k in res}
        model.train(was_training)
        score_split = "val" if any("val" in v for v in rr.values()) else "test"
        q = [v[score_split]["Q2N"] for v in rr.values() if score_split in v]
        score = float(np.mean(q)) if q else None
        if fr:
            for key in ("QNR", "HQNR"):
                vals = [m[key] for m in fr.values() if key in m]
                if vals:
                    fr.setdefault("_mean", {})[key] = float(np.mean(vals))
        return {"rr": rr, "fr": fr, "score": score, "score_split": score_split,
                "seconds": round(time.time() - t0, 2)}

    # ---------------------------------------------------------------- main loop
    def train(self, resume: bool = False) -> dict[str, Any]:
        cfg = self.cfg
        self.device = training_device(cfg.device, self.dist)
        self._init_distributed()
        if self.dist.main:
            self.out.mkdir(parents=True, exist_ok=True)
            self._log_fh = open(self.out / "train.log", "a", encoding="utf-8")
        try:
            return self._train(resume)
        finally:
            if self._log_fh is not None:
                self._log_fh.close()
                self._log_fh = None

    def _train(self, resume: bool) -> dict[str, Any]:
        """Set up (seed, data, model, resume, optimiser), run the epochs, report."""
        from ..models import build_model

        cfg = self.cfg
        seed_everything(cfg.seed)
        sources = resolve_datasets(cfg)
        loader, wrapped = self._build_loader(sources)
        self.raw_model = build_model(cfg.model, bands=cfg.bands, **cfg.hparams).to(self.device)
        run = _Run(self.out)
        state = self._resume(run) if resume else None
        if state is None and cfg.init_from:
            self._warm_start(cfg.init_from)
        model = self._parallel_model()
        optimizer, scheduler = self._optimizer(state)
        criterion = CompositeLoss(LossWeights.from_dict(cfg.loss))
        if run.start_epoch == 0:
            self._log_start(sources)
        fr_cache: dict[str, FrScene] = {}
        steps_per_epoch = len(loader) if cfg.max_steps_per_epoch is None else \
            min(len(loader), int(cfg.max_steps_per_epoch))
        run.last_eval = next((h["eval"] for h in reversed(run.history) if h.get("eval")), {})
        run.end_epoch = cfg.epochs if cfg.stop_after is None else \
            min(cfg.epochs, run.start_epoch + int(cfg.stop_after))
        run.epochs_planned = cfg.epochs
        run.t_start = run.t_first = time.time()
        epoch = run.start_epoch
        while epoch < run.end_epoch:  # end_epoch may shrink under a time budget
            rec = self._train_epoch(model, loader, wrapped, optimizer, scheduler, criterion,
                                    epoch, steps_per_epoch)
            do_eval = (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs
            if self.dist.main:
                self._record_epoch(run, rec, do_eval, sources, fr_cache)
            save_latest = (do_eval or epoch + 1 >= run.end_epoch
                           or (epoch + 1) % cfg.checkpoint_every == 0)
            if self.dist.main and save_latest:
                self._save_latest(run, epoch + 1, sources, optimizer, scheduler)
            if self.dist.main and (do_eval or epoch + 1 == run.end_epoch):
                plot_curves(run.history, self.out / "curves.png")
            self._barrier()
            epoch += 1
            self._apply_time_budget(run, epoch, scheduler)
        return self._result(run)

    def _resume(self, run: "_Run") -> dict[str, Any] | None:
        """Load ``latest.ckpt`` and ``training_state.pt`` into the model and ``run``;
        returns the optimiser/scheduler state (None when there is nothing to resume)."""
        if not (run.latest_path.is_file() and run.state_path.is_file()):
            self.log(f"nothing to resume in {self.out}: starting from scratch")
            return None
        ckpt = load_checkpoint(run.latest_path, map_location="cpu")
        self.raw_model.load_state_dict(ckpt.state_dict, strict=True)
        state = torch.load(run.state_path, map_location="cpu", weights_only=True)
        run.history = json.loads(state["history"])
        run.start_epoch = int(state["epoch"])
        run.best_score = (float(state["best_score"]) if state["best_score"] is not None
                          else -math.inf)
        run.best_epoch = state.get("best_epoch")
        self.log(f"resumed from {run.latest_path} at epoch {run.start_epoch}")
        return state

    def _warm_start(self, path: str) -> None:
        """Start from the weights of another checkpoint of the same architecture (the
        optimiser and schedule start fresh)."""
        ckpt = load_checkpoint(path, map_location="cpu")
        try:
            self.raw_model.load_state_dict(ckpt.state_dict, strict=True)
        except RuntimeError as exc:
            raise InputError(f"init_from {path}: not a checkpoint of this model "
                             f"({self.cfg.model}, {self.cfg.hparams}): {exc}") from None
        self.log(f"warm start from {path}")

    def _parallel_model(self) -> torch.nn.Module:
        """The model to train: wrapped in DistributedDataParallel under ``torchrun``."""
        if not self.dist.enabled:
            return self.raw_model
        from torch.nn.parallel import DistributedDataParallel as DDP

        return DDP(self.raw_model, device_ids=[self.device.index]
                   if self.device.type == "cuda" else None)

    def _optimizer(self, state: dict[str, Any] | None) -> tuple[torch.optim.Optimizer, Any]:
        """Adam (coupled L2 weight decay) and the per-epoch cosine schedule, restored from
        ``state`` when resuming."""
        cfg = self.cfg
        opt_cfg = dict(cfg.optimizer)
        optimizer = torch.optim.Adam(
            self.raw_model.parameters(),
            lr=float(opt_cfg.get("lr", 5e-4)),
            betas=tuple(float(b) for b in opt_cfg.get("betas", (0.9, 0.999))),
            eps=float(opt_cfg.get("eps", 1e-8)),
            weight_decay=float(opt_cfg.get("weight_decay", 1e-4)))
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=cfg.epochs, eta_min=float(cfg.scheduler.get("eta_min", 1e-6)))
        if state is not None:
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            # a resumed run may have been given more epochs: the cosine ends at the new end
            scheduler.T_max = cfg.epochs
        return optimizer, scheduler

    def _train_epoch(self, model: torch.nn.Module, loader: DataLoader,
                     wrapped: list[TrainTransform], optimizer: torch.optim.Optimizer,
                     scheduler: Any, criterion: CompositeLoss, epoch: int,
                     steps_per_epoch: int) -> dict[str, Any]:
        """One epoch of optimisation; returns its history record (mean loss and loss
        terms over all ranks, learning rate, seconds)."""
        cfg = self.cfg
        t0 = time.time()
        if hasattr(self._sampler, "set_epoch"):
            self._sampler.set_epoch(epoch)
        for w in wrapped:
            w.set_epoch(epoch)
        model.train()
        bar = ProgressBar(steps_per_epoch, f"epoch {epoch + 1}/{cfg.epochs}",
                          enabled=cfg.progress and self.dist.main)
        tot, n_seen = 0.0, 0
        terms_sum: dict[str, float] = {}
        for step, batch in enumerate(loader):
            if step >= steps_per_epoch:
                break
            ms = None if batch["ms"] is None else batch["ms"].to(self.device, non_blocking=True)
            lms = batch["lms"].to(self.device, non_blocking=True)
            pan = batch["pan"].to(self.device, non_blocking=True)
            gt = batch["gt"].to(self.device, non_blocking=True)
            with autocast(self.device, cfg.amp):
                pred = model(ms, lms, pan)
            loss, terms = criterion(pred, gt)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            bs = gt.shape[0]
            tot += float(loss.detach()) * bs
            n_seen += bs
            for k, v in terms.items():
                terms_sum[k] = terms_sum.get(k, 0.0) + v * bs
            bar.update(step + 1, f"loss {tot / max(n_seen, 1):.5f}")
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        loss_mean = self._allreduce_mean(tot, n_seen)
        terms_mean = {k: self._allreduce_mean(v, n_seen) for k, v in terms_sum.items()}
        bar.close(f"loss {loss_mean:.5f}")
        return {"epoch": epoch + 1, "loss": loss_mean, "terms": terms_mean,
                "lr": lr, "seconds": round(time.time() - t0, 2)}

    def _record_epoch(self, run: "_Run", rec: dict[str, Any], do_eval: bool,
                      sources: list[DataSource], fr_cache: dict[str, FrScene]) -> None:
        """Rank 0: evaluate when due, append to the history, log, keep the best model."""
        cfg, epoch = self.cfg, rec["epoch"]
        if do_eval:
            ev = self.evaluate(sources, fr_cache)
            rec["eval"] = json_clean(ev)
            run.last_eval = rec["eval"]
        run.history.append(rec)
        self.log(f"epoch {epoch}/{cfg.epochs} loss {rec['loss']:.5f} "
                 + " ".join(f"{k} {v:.5f}" for k, v in rec["terms"].items())
                 + f" lr {rec['lr']:.3g} ({rec['seconds']:.1f} s)")
        if not do_eval:
            return
        self.log(f"evaluation after epoch {epoch} ({rec['eval']['seconds']} s):\n"
                 + format_eval(rec["eval"]))
        score = rec["eval"].get("score")
        if score is not None and score > run.best_score:
            run.best_score, run.best_epoch = score, epoch
            sha = save_checkpoint(run.best_path, self.raw_model,
                                  self._metadata(sources, epoch, rec["eval"]))
            self.log(f"new best (mean {rec['eval']['score_split']} Q2N "
                     f"{score:.4f}) -> {run.best_path} sha256 {sha[:12]}")

    def _save_latest(self, run: "_Run", epochs_done: int, sources: list[DataSource],
                     optimizer: torch.optim.Optimizer, scheduler: Any) -> None:
        """Rank 0: ``latest.ckpt``, ``training_state.pt`` (for resume), ``history.json``."""
        save_checkpoint(run.latest_path, self.raw_model,
                        self._metadata(sources, epochs_done, run.last_eval))
        torch.save({"optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "epoch": epochs_done,
                    "best_score": None if run.best_score == -math.inf else run.best_score,
                    "best_epoch": run.best_epoch,
                    "history": json.dumps(json_clean(run.history))},
                   run.state_path)
        (self.out / "history.json").write_text(json.dumps(json_clean(run.history), indent=1))

    def _apply_time_budget(self, run: "_Run", epoch: int, scheduler: Any) -> None:
        """After ``epoch`` epochs: cut the run (and the cosine schedule) to what fits in
        ``max_seconds``, from the mean epoch time after the first."""
        cfg = self.cfg
        if epoch == run.start_epoch + 1:
            run.t_first = time.time()  # the first epoch (warm-up, allocation) is not typical
        elif cfg.max_seconds is not None and epoch < run.end_epoch:
            fit = self._epochs_within_budget(epoch, run.start_epoch, run.t_start, run.t_first)
            if fit < run.end_epoch:
                # re-aimed at every epoch; logged when it moved by 10 % or more
                if run.logged_fit is None or fit < 0.9 * run.logged_fit:
                    self.log(f"time budget {cfg.max_seconds:.0f} s: {fit} epochs instead "
                             f"of {run.epochs_planned} (the cosine schedule now ends there)")
                    run.logged_fit = fit
                run.end_epoch = cfg.epochs = scheduler.T_max = fit

    def _result(self, run: "_Run") -> dict[str, Any]:
        """The summary :meth:`train` returns (and rank 0 logs)."""
        cfg = self.cfg
        result = {
            "out_dir": str(self.out), "epochs": cfg.epochs,
            "epochs_planned": run.epochs_planned, "epochs_done": run.end_epoch,
            "best": str(run.best_path) if run.best_path.exists() else None,
            "best_epoch": run.best_epoch,
            "best_score": None if run.best_score == -math.inf else run.best_score,
            "latest": str(run.latest_path), "history": run.history,
            "final_eval": run.last_eval,
        }
        if self.dist.main:
            if run.end_epoch < cfg.epochs:
                self.log(f"stopped after epoch {run.end_epoch} of {cfg.epochs} (stop_after); "
                         "continue with resume")
            self.log(f"done: best epoch {run.best_epoch} (score {result['best_score']}), "
                     f"outputs in {self.out}")
        return result

    def _epochs_within_budget(self, done: int, start_epoch: int, t_start: float,
                              t_first: float) -> int:
        """Total epochs that fit in ``cfg.max_seconds`` (wall clock since ``t_start``),
        from the mean time of the epochs after the first; at least ``done + 1`` so that
        the last epoch still runs (and is evaluated) at the end of the cosine schedule.
        The slowest rank decides under DDP."""
        now = time.time()
        per_epoch = (now - t_first) / max(done - start_epoch - 1, 1)
        left = float(self.cfg.max_seconds) - (now - t_start)
        if self.dist.enabled:
            import torch.distributed as tdist

            t = torch.tensor([per_epoch, -left], dtype=torch.float64,
                             device=self.device if self.device.type == "cuda" else "cpu")
            tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
            per_epoch, left = float(t[0]), -float(t[1])
        # 5 % margin for the final evaluation and checkpoint writing
        fit = done + int(max(left, 0.0) * 0.95 // max(per_epoch, 1e-9))
        return max(done + 1, min(self.cfg.epochs, fit))

    def _allreduce_mean(self, total: float, count: int) -> float:
        if not self.dist.enabled:
            return total / max(count, 1)
        import torch.distributed as tdist

        t = torch.tensor([total, float(count)], dtype=torch.float64,
                         device=self.device if self.device.type == "cuda" else "cpu")
        tdist.all_reduce(t)
        return float(t[0] / max(t[1], 1.0))

    def _log_start(self, sources: list[DataSource]) -> None:
        cfg = self.cfg
        self.log(f"training {cfg.model} on {', '.join(s.name for s in sources)} "
                 f"({'balanced' if cfg.balanced else 'plain concatenation'}), device "
                 f"{self.device}, world size {self.dist.world_size}, "
                 f"{self.raw_model.num_parameters():,} parameters")
        for s in sources:
            self.log(f"  {s.name}: ratio {s.ratio}, train "
                     f"{0 if s.train is None else len(s.train)}, "
                     + ", ".join(f"{k} {len(v)}" for k, v in s.splits.items())
                     + f", FR scenes {len(s.fr_scenes)}")
        self.log("config: " + json.dumps(json_clean(cfg.as_dict()), sort_keys=True))


def _protocol_of(s: DataSource) -> Any:
    """How the training samples were made (``protocol`` attribute of built files)."""
    ds = s.train if s.train is not None else next(iter(s.splits.values()), None)
    if isinstance(ds, H5PanDataset):
        return ds.attr_json("protocol", None)
    if isinstance(ds, TifFolderDataset):
        return {"name": "pantiny-tif", "lms": f"Pillow bicubic x{ds.ratio} of Pillow bicubic "
                f"x1/{ds.ratio} of the GT ({ds.resize})"}
    return None


def _sensor_of(s: DataSource) -> str | None:
    ds = s.train if s.train is not None else next(iter(s.splits.values()), None)
    if isinstance(ds, H5PanDataset):
        v = ds.attrs.get("sensor")
        return str(v) if v else None
    return None


def train(cfg: TrainConfig | Mapping[str, Any], resume: bool = False) -> dict[str, Any]:
    """Run a training from a :class:`TrainConfig` or a config mapping."""
    if not isinstance(cfg, TrainConfig):
        cfg = TrainConfig.from_dict(cfg)
    return Trainer(cfg).train(resume=resume)
