"""Running one process's share of a scene list (no torch.distributed here; see ``__main__``).

Each scene goes through :func:`engine.inference.raster.pansharpen_raster`, the very call
``pantiny:pansharpen`` makes, so a batch output equals the output of a single run with
the same settings.  Around it this module adds what an archive job needs: skipping
scenes already done (:mod:`.completion`), one process per scene at a time
(:mod:`.claim`), removing the temporaries of a killed run,
turning SIGTERM into a clean stop (the partial output is removed), one log line per
scene with the rank in front, and a summary.
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, TextIO

from .. import __version__ as ENGINE_VERSION
from ..errors import EngineError, Terminated
from ..inference.tiling import DEFAULT_OVERLAP, DEFAULT_TILE_SIZE
from . import completion
from .claim import claim, lock_path
from .scenes import Scene


@dataclass(frozen=True)
class BatchSettings:
    """What every scene of a run is pan-sharpened with (as ``pantiny:pansharpen``).

    ``bands`` None: chosen from each MS's band count (see
    :func:`engine.inference.raster.default_bands`); ``device``: 'auto', 'cpu', 'cuda' or
    'cuda:N' (the device of this process); ``force``: remake scenes already done.
    """

    checkpoint: str
    bands: tuple[int, ...] | None = None
    device: str = "auto"
    precision: str = "fp32"
    tile_size: int = DEFAULT_TILE_SIZE
    overlap: int = DEFAULT_OVERLAP
    creation_options: str | None = None
    sensor: str | None = None
    adapt_steps: int = 0
    spectral_correction: bool = True
    force: bool = False

    def key(self, checkpoint_sha256: str) -> dict[str, Any]:
        """The settings that change the pixels, as stored in completion records."""
        return {
            "checkpoint_sha256": checkpoint_sha256,
            "bands": list(self.bands) if self.bands else None,
            "precision": self.precision,
            "tile_size": int(self.tile_size),
            "overlap": int(self.overlap),
            "creation_options": self.creation_options or "",
            "sensor": self.sensor or "",
            "adapt_steps": int(self.adapt_steps),
            "spectral_correction": bool(self.spectral_correction),
        }


@dataclass
class Summary:
    """Counts of one process (or, summed, of the whole job)."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        return (f"{self.done} done, {self.skipped} skipped (already done), {self.failed} "
                f"failed in {self.seconds:.1f} s")


class RankLog:
    """Timestamped log lines prefixed with ``[rank r/n]`` (stderr by default)."""

    def __init__(self, rank: int = 0, world_size: int = 1, stream: TextIO | None = None,
                 verbose: bool = False) -> None:
        self.prefix = f"[rank {rank}/{world_size}]"
        self.stream = stream
        self.verbose = verbose

    def __call__(self, message: str) -> None:
        stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        stream = self.stream if self.stream is not None else sys.stderr
        for text in str(message).splitlines() or [""]:
            stream.write(f"{stamp} {self.prefix} {text}\n")
        stream.flush()


class _SceneFeedback:
    """Engine feedback for one scene: warnings always logged, information when verbose."""

    def __init__(self, log: RankLog, scene: Scene) -> None:
        self.log, self.scene = log, scene

    def set_progress(self, percent: float) -> None:
        pass

    def info(self, message: str) -> None:
        if self.log.verbose:
            self.log(f"{self.scene.label}: {message}")

    def warning(self, message: str) -> None:
        self.log(f"{self.scene.label}: WARNING: {message}")

    def is_canceled(self) -> bool:
        return False


def _remove_leftovers(output: str, log: RankLog, scene: Scene) -> None:
    """Delete the temporaries a killed run left for ``output`` (this process owns it)."""
    from ..io.raster_io import partial_files

    for path in partial_files(output):
        try:
            os.remove(path)
            log(f"{scene.label}: removed {os.path.basename(path)} left by an interrupted run")
        except OSError as exc:
            log(f"{scene.label}: WARNING: cannot remove {path}: {exc}")


def process_scene(scene: Scene, settings: BatchSettings, key: dict[str, Any], log: RankLog,
                  run: Callable[..., dict[str, Any]] | None = None) -> str:
    """Pan-sharpen one scene unless it is done; return 'done', 'skipped' or 'failed'.

    ``run`` defaults to :func:`engine.inference.raster.pansharpen_raster`.  The scene is
    checked and made while holding its lock (:mod:`.claim`); a scene another process is
    making is left to it and reported as 'failed' (not done by this run).  Errors of the
    scene are logged and reported as 'failed'; :class:`Terminated` and
    ``KeyboardInterrupt`` propagate (after the partial output has been removed).
    """
    try:
        os.makedirs(os.path.dirname(scene.output), exist_ok=True)
    except OSError as exc:
        log(f"{scene.label}: FAILED: cannot create the output folder: {exc}")
        return "failed"
    with claim(scene.output) as owned:
        if not owned:
            log(f"{scene.label}: FAILED: another process is making it now (it holds "
                f"{lock_path(scene.output)}); left to that process. Run one job per list "
                "at a time")
            return "failed"
        return _make_scene(scene, settings, key, log, run)


def _make_scene(scene: Scene, settings: BatchSettings, key: dict[str, Any], log: RankLog,
                run: Callable[..., dict[str, Any]] | None) -> str:
    """:func:`process_scene` once this process owns the scene."""
    _remove_leftovers(scene.output, log, scene)
    if not settings.force:
        reason = completion.done_reason(scene.pan, scene.ms, scene.output, key)
        if reason is None:
            log(f"{scene.label}: skipped, already done ({scene.output})")
            return "skipped"
        if os.path.exists(scene.output):
            log(f"{scene.label}: remaking it: {reason}")
    if run is None:
        from ..inference.raster import pansharpen_raster as run
    t0 = time.perf_counter()
    try:
        completion.remove_record(scene.output)
        result = run(
            scene.pan, scene.ms, scene.output, settings.checkpoint,
            bands=list(settings.bands) if settings.bands else None,
            device=settings.device, precision=settings.precision,
            tile_size=settings.tile_size, overlap=settings.overlap,
            creation_options=settings.creation_options,
            sensor=settings.sensor, adapt_steps=settings.adapt_steps,
            spectral_correction=settings.spectral_correction,
            feedback=_SceneFeedback(log, scene))
        seconds = time.perf_counter() - t0
        completion.write_record(scene.pan, scene.ms, scene.output, key, {
            "device": str(result.get("DEVICE_USED")),
            "seconds": round(seconds, 3),
            "engine_version": ENGINE_VERSION,
            "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        })
    except Terminated:
        raise  # a stop of the whole process, not a failed scene
    except (EngineError, OSError, ValueError) as exc:
        log(f"{scene.label}: FAILED: {exc} [PAN {scene.pan}, MS {scene.ms}]")
        return "failed"
    except Exception as exc:  # noqa: BLE001 - one bad scene must not stop an archive job
        log(f"{scene.label}: FAILED with an unexpected {type(exc).__name__}: {exc} "
            f"[PAN {scene.pan}, MS {scene.ms}]\n{traceback.format_exc()}")
        return "failed"
    mpix = result.get("MPIX_PER_S", float("nan"))
    log(f"{scene.label}: done in {seconds:.1f} s ({mpix:.3f} MPix/s on "
        f"{result.get('DEVICE_USED')}) -> {scene.output}")
    return "done"


def plan_scenes(scenes: Sequence[Scene], settings: BatchSettings, key: dict[str, Any],
                log: RankLog) -> Summary:
    """Say what :func:`run_scenes` would do, without doing it (no torch, no writes).

    Logs each scene as 'would skip' (done) or 'would make' with the reason, and as
    'FAILED' when an input file is missing; ``done`` counts the scenes to make.
    """
    summary = Summary()
    for scene in scenes:
        missing = [name for name, path in (("PAN", scene.pan), ("MS", scene.ms))
                   if not os.path.exists(path)]
        if missing:
            log(f"{scene.label}: FAILED: {' and '.join(missing)} not found "
                f"[PAN {scene.pan}, MS {scene.ms}]")
            summary.failed += 1
            summary.failures.append(scene.label)
            continue
        reason = None if settings.force else completion.done_reason(
            scene.pan, scene.ms, scene.output, key)
        if reason is None and not settings.force:
            log(f"{scene.label}: would skip, already done")
            summary.skipped += 1
        else:
            log(f"{scene.label}: would make it ({reason or '--force'})")
            summary.done += 1
    log(f"dry run: {summary.done} to make, {summary.skipped} already done, {summary.failed} "
        "with missing inputs")
    return summary


def run_scenes(scenes: Sequence[Scene], settings: BatchSettings, key: dict[str, Any],
               log: RankLog, run: Callable[..., dict[str, Any]] | None = None) -> Summary:
    """Process ``scenes`` in order (one process's share); return the counts.

    :class:`Terminated` / ``KeyboardInterrupt`` stop the loop and propagate after a log
    line saying how to resume.
    """
    summary = Summary()
    t0 = time.perf_counter()
    log(f"{len(scenes)} scene(s) to process")
    for scene in scenes:
        try:
            status = process_scene(scene, settings, key, log, run)
        except (Terminated, KeyboardInterrupt) as exc:
            reason = exc if isinstance(exc, Terminated) else "KeyboardInterrupt: the partial " \
                "output was removed"
            log(f"{scene.label}: interrupted ({reason}). {summary.done} done, {summary.skipped} "
                "skipped before; run the same command again to resume")
            raise
        setattr(summary, status, getattr(summary, status) + 1)
        if status == "failed":
            summary.failures.append(scene.label)
    summary.seconds = time.perf_counter() - t0
    log(f"finished: {summary.line()}")
    return summary
