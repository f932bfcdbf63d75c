"""``python -m engine.batch LIST.csv``: pan-sharpen a list of scenes without QGIS.

One process::

    python -m engine.batch scenes.csv --device cpu

One machine with 4 GPUs (one process per GPU), or 2 nodes with 8 GPUs each::

    torchrun --standalone --nproc_per_node=4 -m engine.batch scenes.csv
    torchrun --nnodes=2 --nproc_per_node=8 --node_rank=$NODE_RANK \\
        --master_addr=$HEAD_NODE --master_port=29500 -m engine.batch scenes.csv

Scene ``i`` of the list (0-based) is processed by rank ``i % WORLD_SIZE``; each rank uses
``cuda:LOCAL_RANK`` when GPUs are used.  Scenes already done are skipped, so the same
command resumes a killed job.  Exit status: 0 when every scene is done (now or before),
1 when any scene failed, 2 for a bad list or arguments (nothing processed), 128 + signal
number when stopped by a signal.  The processes talk only at the end (gloo, CPU tensors)
to add up the summary.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import os
import sys
from typing import Sequence

from ..errors import EngineError, Terminated
from ..inference.tiling import DEFAULT_OVERLAP, DEFAULT_TILE_SIZE
from ..signals import terminate_raises
from .runner import BatchSettings, RankLog, Summary, plan_scenes, run_scenes
from .scenes import SceneListError, read_scene_list, shard

#: How long a finished rank waits for the slowest one before the final summary (gloo
#: timeout; ranks finish at different times when scenes differ in size).
WAIT_FOR_OTHER_RANKS = _dt.timedelta(days=7)
#: Exit status when any scene failed / when the list or arguments are unusable.
EXIT_FAILED, EXIT_USAGE = 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engine.batch",
        description="Pan-sharpen every scene of a CSV list (columns pan,ms,output; relative "
                    "paths are relative to the list's folder) with a PanTiny model, as "
                    "pantiny:pansharpen does, writing GeoTIFFs. Run it under torchrun to "
                    "spread the list over several GPUs or machines; scenes already done are "
                    "skipped, so rerunning the same command resumes an interrupted job.",
        epilog="Exit status: 0 all scenes done, 1 some scene failed, 2 bad list or "
               "arguments, 128+N stopped by signal N.")
    parser.add_argument("scene_list", help="CSV file with a header row pan,ms,output")
    model = parser.add_mutually_exclusive_group()
    model.add_argument("--model", help="bundled model id (default: the default bundled model)")
    model.add_argument("--model-file", help="a checkpoint (.ckpt) of your own")
    parser.add_argument("--bands", help="MS band numbers in the model's band order, e.g. "
                        "2,3,5,7 (default: chosen from each MS's band count)")
    parser.add_argument("--device", default="auto",
                        help="auto, cpu or cuda (default auto; under torchrun each process "
                             "takes cuda:LOCAL_RANK)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                        help="fp32, or bf16 autocast on CUDA (default fp32)")
    parser.add_argument("--tile-size", type=int, default=DEFAULT_TILE_SIZE,
                        help=f"tile edge in PAN pixels (default {DEFAULT_TILE_SIZE})")
    parser.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP,
                        help=f"tile overlap in PAN pixels (default {DEFAULT_OVERLAP})")
    parser.add_argument("--creation-options", default=None,
                        help="GDAL creation options KEY=VALUE|KEY=VALUE (default: tiled, "
                             "DEFLATE-compressed GeoTIFF)")
    parser.add_argument("--sensor", default=None,
                        help="the satellite, for the MTF gains of scene adaptation, e.g. "
                             "WorldView-3 (default: read from each file's metadata, else "
                             "generic gains)")
    parser.add_argument("--adapt-steps", type=int, default=0,
                        help="steps of scene adaptation per scene (default 0: off; for an "
                             "archive of one satellite, adapt once with pantiny:pansharpen's "
                             "ADAPTED_MODEL and pass it as --model-file instead)")
    parser.add_argument("--no-spectral-correction", action="store_true",
                        help="keep the model output as it is (default: spectral consistency "
                             "correction, as pantiny:pansharpen's SPECTRAL_CORRECTION)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads per process (default: torch's, which follows "
                             "OMP_NUM_THREADS; torchrun sets it to 1 with several processes "
                             "per node)")
    parser.add_argument("--force", action="store_true",
                        help="remake every scene, even those already done")
    parser.add_argument("--dry-run", action="store_true",
                        help="only say, per process, which scenes are done and which would "
                             "be made (checks the list and that the inputs exist)")
    parser.add_argument("--verbose", action="store_true",
                        help="also log the engine's messages for every scene")
    return parser


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _parse_bands(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        bands = tuple(int(b) for b in text.replace(" ", ",").split(",") if b)
    except ValueError:
        raise EngineError(f"--bands takes band numbers separated by commas, e.g. 2,3,5,7; "
                          f"got {text!r}") from None
    if not bands or min(bands) < 1:
        raise EngineError(f"--bands takes band numbers from 1, got {text!r}")
    return bands


def _checkpoint(args: argparse.Namespace) -> tuple[str, str]:
    """``(checkpoint path, its SHA-256)``; the file is verified once here."""
    from ..weights.checkpoint import read_metadata
    from ..weights.model_zoo import default_model_id, model_path

    if args.model_file:
        path = os.path.abspath(args.model_file)
    else:
        model_id = args.model or default_model_id()
        if model_id is None:
            raise EngineError("no bundled model is installed; give --model-file")
        path = model_path(model_id)
    _, sha256 = read_metadata(path)
    return path, sha256


def _rank_device(requested: str, local_rank: int, local_world: int, log: RankLog) -> str:
    """The device of this process: ``cuda:<local rank>`` when GPUs are used by several
    processes of a node, else the request as given."""
    import torch

    req = requested.strip().lower()
    if local_world > 1 and req in ("auto", "cuda") and torch.cuda.is_available():
        count = torch.cuda.device_count()
        if local_world > count:
            log(f"WARNING: {local_world} processes on this node share {count} GPU(s); "
                "start one process per GPU (--nproc_per_node)")
        index = local_rank % count
        torch.cuda.set_device(index)
        return f"cuda:{index}"
    return requested


def _settings(args: argparse.Namespace) -> tuple[BatchSettings, dict]:
    if args.adapt_steps < 0:
        raise EngineError(f"--adapt-steps must be 0 or more, got {args.adapt_steps}")
    if args.tile_size <= 2 * args.overlap or args.overlap < 0:
        raise EngineError(f"the tile size ({args.tile_size}) must be larger than twice the "
                          f"overlap ({args.overlap}), and the overlap at least 0")
    checkpoint, sha256 = _checkpoint(args)
    settings = BatchSettings(
        checkpoint=checkpoint, bands=_parse_bands(args.bands), device=args.device,
        precision=args.precision, tile_size=args.tile_size, overlap=args.overlap,
        creation_options=args.creation_options or None, sensor=args.sensor,
        adapt_steps=args.adapt_steps, spectral_correction=not args.no_spectral_correction,
        force=args.force)
    return settings, settings.key(sha256)


def _job_summary(mine: Summary, world: int) -> Summary:
    """The counts of all ranks added up (waits for every rank; gloo, CPU tensors)."""
    if world == 1:
        return mine
    import torch
    import torch.distributed as tdist

    counts = torch.tensor([mine.done, mine.skipped, mine.failed], dtype=torch.int64)
    try:
        tdist.all_reduce(counts)
    except RuntimeError as exc:  # another rank died; this rank's own work is complete
        raise EngineError(f"cannot add up the job summary with the other processes ({exc}); "
                          "this process finished its scenes, another one probably died: "
                          "rerun the same command to finish the job") from exc
    total = Summary(*(int(c) for c in counts.tolist()))
    total.seconds = mine.seconds
    return total


def main(argv: Sequence[str] | None = None) -> int:
    """Run the batch command; return the exit status (see the module docstring)."""
    args = build_parser().parse_args(argv)
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", rank)
    local_world = _env_int("LOCAL_WORLD_SIZE", world)
    log = RankLog(rank, world, verbose=args.verbose)
    try:
        scenes = read_scene_list(args.scene_list)
        settings, key = _settings(args)
    except SceneListError as exc:
        if rank == 0:  # every rank reads the same list: say it once
            log(str(exc))
        return EXIT_USAGE
    except (EngineError, OSError) as exc:
        if rank == 0:
            log(f"ERROR: {exc}")
        return EXIT_USAGE
    if args.dry_run:
        summary = plan_scenes(shard(scenes, rank, world), settings, key, log)
        return EXIT_FAILED if summary.failed else 0
    import torch

    if args.threads:
        torch.set_num_threads(max(1, args.threads))
    settings = dataclasses.replace(
        settings, device=_rank_device(settings.device, local_rank, local_world, log))
    mine = shard(scenes, rank, world)
    if rank == 0:
        log(f"{len(scenes)} scene(s) in {args.scene_list}, shared over {world} process(es); "
            f"checkpoint {os.path.basename(settings.checkpoint)}")
    try:
        with terminate_raises():
            if world > 1:
                import torch.distributed as tdist

                tdist.init_process_group("gloo", rank=rank, world_size=world,
                                         timeout=WAIT_FOR_OTHER_RANKS)
            summary = run_scenes(mine, settings, key, log)
            total = _job_summary(summary, world)
    except (Terminated, KeyboardInterrupt) as exc:
        signum = exc.signum if isinstance(exc, Terminated) else 2
        return 128 + signum
    except EngineError as exc:
        log(f"ERROR: {exc}")
        return EXIT_FAILED
    finally:
        if world > 1:
            import torch.distributed as tdist

            if tdist.is_initialized():
                tdist.destroy_process_group()
    if summary.failures:
        log("failed here: " + ", ".join(summary.failures))
    if rank == 0:
        log(f"job summary ({world} process(es)): {total.done} done, {total.skipped} skipped "
            f"(already done), {total.failed} failed")
    return EXIT_FAILED if total.failed else 0


if __name__ == "__main__":
    sys.exit(main())
