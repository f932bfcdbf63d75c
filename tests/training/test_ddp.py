"""Two-process DistributedDataParallel training on CPU (gloo), as torchrun would run it."""

import socket
from pathlib import Path

import numpy as np

import pytest

torch = pytest.importorskip("torch")
import torch.distributed as tdist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

SMOKE = Path(__file__).resolve().parents[2] / "training" / "configs" / "smoke.yaml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, data_root: str, out: str, dump: str,
            balanced: bool) -> None:
    import os

    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                       "WORLD_SIZE": str(world), "RANK": str(rank), "LOCAL_RANK": str(rank)})
    torch.set_num_threads(1)
    from engine.trainer.trainer import Trainer
    from training.train import load_config

    cfg = load_config(SMOKE, {"data_root": data_root, "out_dir": out, "epochs": 1,
                              "fr_eval": False, "max_steps_per_epoch": 5,
                              "balanced": balanced})
    trainer = Trainer(cfg)
    result = trainer.train()
    assert tdist.get_world_size() == world
    state = {k: v.detach().clone() for k, v in trainer.raw_model.state_dict().items()}
    torch.save({"state": state, "epochs_done": result["epochs_done"],
                "samples": len(trainer._sampler)}, Path(dump) / f"rank{rank}.pt")
    tdist.destroy_process_group()


def test_two_ranks_finish_with_identical_parameters(dos_dataset, tmp_path):
    balanced = False
    data_root, _ = dos_dataset
    out, dump = tmp_path / "run", tmp_path / "dump"
    dump.mkdir()
    # fork: the children inherit the imported modules (a spawned child re-imports torch,
    # which costs ~5 s per process on a small CI machine); torchrun itself starts fresh
    # processes, the training code is the same
    mp.start_processes(_worker, args=(2, _free_port(), str(data_root), str(out), str(dump),
                                      balanced), nprocs=2, join=True, start_method="fork")
    r0 = torch.load(dump / "rank0.pt", weights_only=True)
    r1 = torch.load(dump / "rank1.pt", weights_only=True)
    assert r0["epochs_done"] == r1["epochs_done"] == 1
    # each rank sees its half of the shuffled samples
    assert r0["samples"] == r1["samples"] == 45
    for k in r0["state"]:
        torch.testing.assert_close(r0["state"][k], r1["state"][k], rtol=0, atol=0)
    # the weights moved away from the (seeded) initialisation
    from engine.weights.checkpoint import load_checkpoint
    from engine.models import build_model
    from engine.trainer.trainer import seed_everything

    seed_everything(123)
    init = build_model("pantiny", bands=4, scale="small").state_dict()
    assert any(not torch.equal(init[k], r0["state"][k]) for k in init)
    # only rank 0 wrote the outputs

    ckpt = load_checkpoint(out / "latest.ckpt")
    assert ckpt.metadata["training"]["world_size"] == 2
    for k, v in ckpt.state_dict.items():
        torch.testing.assert_close(v, r0["state"][k])
    log = (out / "train.log").read_text()
    assert log.count("epoch 1/1") == 1 and "world size 2" in log


def test_distributed_weighted_sampler_shards_one_balanced_sequence():
    from engine.trainer.datasets import balanced_weights
    from engine.trainer.trainer import DistributedWeightedSampler

    w = balanced_weights([10, 90])
    shards = [DistributedWeightedSampler(w, 2000, rank=r, world_size=2, seed=5) for r in (0, 1)]
    for s in shards:
        s.set_epoch(3)
    a, b = (list(s) for s in shards)
    assert len(a) == len(b) == 1000
    # the two ranks interleave the same global draw (seed + epoch)
    g = torch.Generator().manual_seed(5 + 3)
    full = torch.multinomial(w, 2000, replacement=True, generator=g).tolist()
    assert a == full[0::2] and b == full[1::2]
    assert abs(np.mean(np.array(full) < 10) - 0.5) < 0.05     # both datasets equally often
    shards[0].set_epoch(4)
    assert list(shards[0]) != a                                 # a new order every epoch
