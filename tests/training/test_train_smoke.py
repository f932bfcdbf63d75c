"""A short real-data training on CPU: loss goes down, checkpoints reload, resume is exact,
the evaluation CLI compares the model with the classical baselines."""

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from engine.weights.checkpoint import load_checkpoint, load_model  # noqa: E402
from engine.trainer.trainer import TrainConfig, train  # noqa: E402
from training import evaluate as evaluate_cli  # noqa: E402
from training.train import load_config, main  # noqa: E402

SMOKE = Path(__file__).resolve().parents[2] / "training" / "configs" / "smoke.yaml"


def _cfg(data_root, out, **over) -> TrainConfig:
    base = {"data_root": str(data_root), "out_dir": str(out), "epochs": 3, "eval_every": 2}
    base.update(over)
    return load_config(SMOKE, base)


@pytest.fixture(scope="module")
def smoke_run(dos_dataset, tmp_path_factory):
    """3 epochs x 8 steps (of 90 patches, batch 8, random 16 x 16 crops), single thread."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("smoke") / "full"
    try:
        result = train(_cfg(dos_dataset[0], out))
    finally:
        torch.set_num_threads(old)
    return out, result


def test_loss_decreases_and_outputs_are_written(smoke_run):
    out, full = smoke_run
    hist = full["history"]
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert hist[-1]["loss"] < 0.9 * hist[0]["loss"], [h["loss"] for h in hist]
    # cosine schedule stepped per epoch: lr(epoch 1) = 2e-3, lr(2) = eta_min + (2e-3 - eta_min)(1 + cos(pi/3))/2
    assert hist[0]["lr"] == pytest.approx(2e-3)
    assert hist[1]["lr"] == pytest.approx(1e-5 + (2e-3 - 1e-5) * 0.75)
    for name in ("best.ckpt", "latest.ckpt", "training_state.pt", "train.log", "history.json",
                 "curves.png"):
        assert (out / name).is_file(), name
    # evaluation ran at epochs 2 and 3: RR on val and test, FR on the FR test scene
    assert "eval" not in hist[0] and "eval" in hist[1]
    ev = hist[-1]["eval"]
    assert set(ev["rr"]["wv3"]) == {"val", "test"}
    assert ev["rr"]["wv3"]["val"]["patches"] == 4
    assert 0.0 < ev["rr"]["wv3"]["val"]["Q2N"] <= 1.0
    fr = ev["fr"]["wv3/wv3-dos-float"]
    assert 0.0 < fr["QNR"] <= 1.0 and 0.0 < fr["HQNR"] <= 1.0
    log = (out / "train.log").read_text()
    assert "epoch 3/3" in log and "evaluation after epoch 2" in log


def test_checkpoints_reload_with_full_metadata(smoke_run):
    out, full = smoke_run
    model, meta = load_model(out / "best.ckpt")
    assert meta["model"] == "pantiny" and meta["hparams"]["scale"] == "small"
    assert meta["input_scaling"] == {"mode": "percentile", "percentile": 99.0, "joint_bands": True}
    assert meta["bands"]["count"] == 4 and meta["bands"]["names"] == ["Blue", "Green", "Red", "NIR"]
    assert meta["ratio"] == 4 and meta["sensors"] == ["wv3"]
    assert meta["datasets"][0]["name"] == "wv3" and meta["datasets"][0]["train_patches"] == 90
    assert meta["training"]["recipe"]["loss"] == {"l1": 1.5, "ssim": 4.0, "focal": 1.5}
    assert meta["evaluation"]["rr"]["wv3"]["val"]["Q2N"] == pytest.approx(full["best_score"])
    assert full["best_epoch"] in (2, 3) and meta["training"]["epoch"] == full["best_epoch"]
    latest = load_checkpoint(out / "latest.ckpt")
    assert latest.metadata["training"]["epoch"] == 3
    # the reloaded model computes (eval mode, same weights as saved)
    x = torch.rand(1, 4, 16, 16)
    with torch.no_grad():
        y = model(x[:, :, ::4, ::4], x, x[:, :1])
    assert y.shape == (1, 4, 16, 16) and torch.isfinite(y).all()


def test_resume_continues_the_epoch_count_exactly(smoke_run, dos_dataset, tmp_path, one_thread):
    out, full = smoke_run
    part = tmp_path / "part"
    first = train(_cfg(dos_dataset[0], part, stop_after=2))
    assert first["epochs_done"] == 2 and [h["epoch"] for h in first["history"]] == [1, 2]
    assert load_checkpoint(part / "latest.ckpt").metadata["training"]["epoch"] == 2
    second = train(_cfg(dos_dataset[0], part), resume=True)
    assert [h["epoch"] for h in second["history"]] == [1, 2, 3]
    assert "resumed from" in (part / "train.log").read_text()
    # per-epoch seeded sampling + restored Adam/scheduler state: identical to the
    # uninterrupted run
    a = load_checkpoint(out / "latest.ckpt").state_dict
    b = load_checkpoint(part / "latest.ckpt").state_dict
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)
    assert second["history"][-1]["loss"] == pytest.approx(full["history"][-1]["loss"], rel=1e-5)


def test_evaluate_cli_tables(smoke_run, dos_dataset, tmp_path, capsys, one_thread):
    out, _ = smoke_run
    rc = evaluate_cli.main([str(out / "best.ckpt"), "--datasets", "wv3", "--data-root",
                            str(dos_dataset[0]), "--out", str(tmp_path), "--device", "cpu"])
    assert rc == 0
    res = json.loads((tmp_path / "evaluation.json").read_text())
    rr = res["rr"]["wv3"]
    assert set(rr) == {"pantiny (checkpoint)", "EXP", "Brovey", "Brovey (GDAL)", "MTF-GLP-HPM"}
    # sanity of the baselines on real RR data: MTF-GLP-HPM sharpens, EXP does not
    assert rr["MTF-GLP-HPM"]["Q2N"] > rr["EXP"]["Q2N"]
    fr = res["fr"]["wv3/wv3-dos-float"]
    # EXP keeps the MS band relations (small D_lambda) but injects no PAN detail (larger D_s)
    assert fr["EXP"]["D_LAMBDA"] < 0.01
    assert fr["EXP"]["D_S"] > fr["MTF-GLP-HPM"]["D_S"]
    md = (tmp_path / "evaluation.md").read_text()
    assert "| MTF-GLP-HPM |" in md and "Q2N" in md
    assert "Reduced resolution" in capsys.readouterr().out


def test_cli_runs_one_epoch_from_yaml(dos_dataset, tmp_path, one_thread, capsys):
    data_root, _ = dos_dataset
    out = tmp_path / "cli"
    rc = main([str(SMOKE), "--data-root", str(data_root), "--out", str(out), "--epochs", "1",
               "--no-progress", "--set", "batch_size=4", "--set", "loss={l1: 1, ssim: 0, focal: 0}"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["best"] and Path(summary["latest"]).is_file()
    recipe = load_checkpoint(summary["latest"]).metadata["training"]["recipe"]
    assert recipe["batch_size"] == 4 and recipe["loss"] == {"l1": 1, "ssim": 0, "focal": 0}
    assert main([str(SMOKE), "--set", "batch_size"]) == 2  # malformed --set: clear error


def test_config_errors_are_explicit(tmp_path):
    from engine.errors import InputError

    with pytest.raises(InputError, match="unknown config keys"):
        TrainConfig.from_dict({"datasets": ["wv3"], "learning_rate": 1})
    with pytest.raises(InputError, match="no dataset"):
        TrainConfig.from_dict({})
    cfg = TrainConfig.from_dict({"datasets": ["nope"], "data_root": str(tmp_path),
                                 "out_dir": str(tmp_path / "o")})
    with pytest.raises(InputError, match="does not exist"):
        train(cfg)


def test_time_budget_cuts_epochs_and_ends_the_cosine(dos_dataset, tmp_path, one_thread):
    """200 epochs asked, a budget of a few epochs' time: the run stops early, inside the
    budget, and its last epoch still gets the end of the cosine schedule and an evaluation."""
    import time

    # one epoch of 2 steps takes well under a second here; measure it to set the budget
    probe = train(_cfg(dos_dataset[0], tmp_path / "probe", epochs=2, eval_every=100,
                       max_steps_per_epoch=2, fr_eval=False))
    per_epoch = max(h["seconds"] for h in probe["history"])
    budget = 8 * per_epoch + 1.0
    t0 = time.time()
    res = train(_cfg(dos_dataset[0], tmp_path / "budget", epochs=200, eval_every=100,
                     max_steps_per_epoch=2, fr_eval=False, max_seconds=budget))
    wall = time.time() - t0
    hist = res["history"]
    assert res["epochs_planned"] == 200
    assert 2 <= res["epochs_done"] == res["epochs"] == len(hist) < 200
    assert wall < 2.5 * budget + 5.0  # stopped near the budget, not after 200 epochs
    # the schedule was re-aimed: the last epoch ran at (nearly) eta_min = 1e-5
    assert hist[-1]["lr"] < 0.5 * hist[0]["lr"]
    assert "eval" in hist[-1]
    assert "time budget" in (tmp_path / "budget" / "train.log").read_text()
    with pytest.raises(Exception, match="max_seconds"):
        _cfg(dos_dataset[0], tmp_path / "bad", max_seconds=0)


def test_replicate_recovers_runs_from_their_checkpoints(smoke_run, tmp_path):
    """A run that never reached results.json (parent stopped) is found from latest.ckpt,
    with its datasets, epochs and optimiser steps, and the table renders it."""
    import shutil

    from training.replicate import discover_runs, markdown

    out, full = smoke_run
    run_dir = tmp_path / "pantiny_single_wv3"
    run_dir.mkdir()
    shutil.copy(out / "latest.ckpt", run_dir / "latest.ckpt")
    runs = discover_runs(tmp_path)
    assert len(runs) == 1
    r = runs[0]
    assert (r["model"], r["training"], r["datasets"], r["epochs"]) == ("pantiny", "single",
                                                                      ["wv3"], 3)
    # 3 epochs of at most 8 steps (max_steps_per_epoch) of batch 8 over ~90 patches
    assert r["train_patches"] > 64 and r["steps"] == 3 * 8
    r["rr"] = {"wv3": {"test": {"Q2N": 0.5, "SAM": 1.0, "ERGAS": 2.0, "PSNR": 30.0,
                                "SSIM": 0.9}}}
    table = markdown(runs, ["wv3"], "note", "## T")
    assert "| pantiny | wv3 | single | 3 |" in table and "0.5000" in table
