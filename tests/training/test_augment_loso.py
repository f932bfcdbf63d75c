"""Randomised degradations (training.augment), the new scene groups of the dataset builder
(Landsat 7, the VHR scene with a non-integer ratio) and the leave-one-sensor-out CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.sensors import get_sensor
from engine.wald import degrade
from training.augment import AugmentRanges, Degradation, degrade_window, draw, random_variants
from training.build_datasets import build_datasets, shared_data_dir

HAVE_DATA = (shared_data_dir() / "l7-fusebox" / "1_ms.mat").is_file() and \
    (shared_data_dir() / "vhr-zhengzhou" / "pan.tif").is_file()
needs_data = pytest.mark.skipif(not HAVE_DATA, reason="shared data folder not available")


def _pair(rng, r=4, n=48, c=4):
    ms = rng.uniform(0.2, 1.0, (c, n, n))
    pan = rng.uniform(0.2, 1.0, (r * n, r * n))
    return pan, ms


def _identity(c=4, gn=0.3, pg=0.15) -> Degradation:
    return Degradation(ms_gnyq=(gn,) * c, pan_gnyq=pg, shift=(0.0, 0.0), ms_gain=(1.0,) * c,
                       ms_offset=(0.0,) * c, pan_gain=1.0, pan_offset=0.0, ms_noise=0.0,
                       pan_noise=0.0, mix=None)


def test_draws_stay_in_their_ranges_and_vary():
    rng = np.random.default_rng(1)
    rg = AugmentRanges()
    ds = [draw(rng, 4, rg) for _ in range(300)]
    gn = np.array([d.ms_gnyq for d in ds])
    assert gn.min() >= rg.ms_gnyq[0] and gn.max() <= rg.ms_gnyq[1]
    assert gn.max() - gn.min() > 0.2            # the range is used, not one value
    pg = np.array([d.pan_gnyq for d in ds])
    assert pg.min() >= rg.pan_gnyq[0] and pg.max() <= rg.pan_gnyq[1]
    sh = np.abs(np.array([d.shift for d in ds]))
    assert sh.max() <= rg.shift and sh.max() > 0.4
    mixed = sum(d.mix is not None for d in ds)
    assert 0.3 * len(ds) < mixed < 0.7 * len(ds)


def test_identity_draw_is_walds_protocol():
    rng = np.random.default_rng(2)
    pan, ms = _pair(rng)
    res = degrade_window(pan, ms, 4, _identity(), rng)
    pan_lr, ms_lr = degrade(pan, ms, 4, 0.3, 0.15)
    np.testing.assert_allclose(res["ms"], ms_lr, atol=1e-12)
    np.testing.assert_allclose(res["pan"], pan_lr, atol=1e-12)
    np.testing.assert_array_equal(res["gt"], ms)
    assert res["lms"].shape == ms.shape


def test_each_degradation_changes_what_it_should():
    rng = np.random.default_rng(3)
    pan, ms = _pair(rng)
    ref = degrade_window(pan, ms, 4, _identity(), np.random.default_rng(0))
    base = _identity()
    # misregistration moves the MS, not the target or the PAN
    sh = degrade_window(pan, ms, 4, Degradation(**{**base.__dict__, "shift": (0.5, -0.5)}),
                        np.random.default_rng(0))
    assert np.abs(sh["ms"] - ref["ms"]).max() > 1e-3
    np.testing.assert_array_equal(sh["gt"], ref["gt"])
    np.testing.assert_allclose(sh["pan"], ref["pan"])
    # a sharper MS MTF (higher gain) keeps more detail in the degraded MS
    sharp = degrade_window(pan, ms, 4, Degradation(**{**base.__dict__, "ms_gnyq": (0.45,) * 4}),
                           np.random.default_rng(0))
    assert sharp["ms"].std() > ref["ms"].std()
    # radiometric gain/offset hit the MS and its target alike
    gain = degrade_window(pan, ms, 4, Degradation(**{**base.__dict__, "ms_gain": (1.1,) * 4,
                                                     "ms_offset": (0.02,) * 4}),
                          np.random.default_rng(0))
    np.testing.assert_allclose(gain["gt"], 1.1 * ref["gt"] + 0.02)
    np.testing.assert_allclose(gain["ms"], 1.1 * ref["ms"] + 0.02)
    # a spectral mix changes the PAN but keeps its mean and spread
    mix = degrade_window(pan, ms, 4, Degradation(**{**base.__dict__, "mix": (0.3, -0.3, 0.2, 0.1)}),
                         np.random.default_rng(0))
    assert np.abs(mix["pan"] - ref["pan"]).max() > 1e-3
    assert mix["pan"].mean() == pytest.approx(ref["pan"].mean(), abs=1e-9)
    assert mix["pan"].std() == pytest.approx(ref["pan"].std(), rel=1e-9)
    # noise: on the degraded inputs only
    noisy = degrade_window(pan, ms, 4, Degradation(**{**base.__dict__, "ms_noise": 0.01,
                                                      "pan_noise": 0.01}),
                           np.random.default_rng(0))
    assert 0.005 < (noisy["pan"] - ref["pan"]).std() < 0.02
    np.testing.assert_array_equal(noisy["gt"], ref["gt"])


def test_random_variants_shapes_and_determinism():
    rng = np.random.default_rng(4)
    sensor = get_sensor("qb")
    pan, ms = _pair(rng, n=96)
    origins = np.array([[100, 0], [100, 32], [132, 64]])     # row0 = 100
    a = random_variants(pan, ms, sensor, 32, origins, 2, np.random.default_rng(7), row0=100)
    b = random_variants(pan, ms, sensor, 32, origins, 2, np.random.default_rng(7), row0=100)
    assert a["gt"].shape == (6, 4, 32, 32) and a["ms"].shape == (6, 4, 8, 8)
    assert a["pan"].shape == (6, 1, 32, 32) and a["lms"].shape == (6, 4, 32, 32)
    assert a["variant"].tolist() == [1, 2] * 3
    np.testing.assert_array_equal(a["origin"][::2], origins)
    for k in ("gt", "pan", "ms", "lms"):
        np.testing.assert_array_equal(a[k], b[k])
    # the target of a variant is the patch itself up to the drawn gain/offset
    gt0 = ms[:, 0:32, 0:32]
    g = a["gt"][0].astype(np.float64)
    for band in range(4):
        slope, icpt = np.polyfit(gt0[band].ravel(), g[band].ravel(), 1)
        assert 0.84 < slope < 1.16 and abs(icpt) < 0.031
    # two variants of one patch differ
    assert np.abs(a["ms"][0] - a["ms"][1]).max() > 1e-3


@pytest.fixture(scope="module")
def l7_vhr(tmp_path_factory):
    pytest.importorskip("h5py")
    if not HAVE_DATA:
        pytest.skip("shared data folder not available")
    out = tmp_path_factory.mktemp("l7_vhr")
    manifest = build_datasets(out, ["l7-01", "vhr-zhengzhou"], variants=1, seed=5,
                              log=lambda m: None)
    return out, manifest


@needs_data
def test_builder_groups_landsat7_and_vhr(l7_vhr):
    import h5py

    out, manifest = l7_vhr
    assert set(manifest["groups"]) == {"l7", "vhr"}
    l7 = manifest["scenes"]["l7-01"]
    assert manifest["groups"]["l7"]["ratio"] == 2 and l7["patch"] == 32
    # FuseBox pairs are off by about half an MS pixel: measured, not the geotransform
    assert l7["registration"]["applied_offset"] == [-1, -1]
    vhr = manifest["scenes"]["vhr-zhengzhou"]
    assert manifest["groups"]["vhr"]["ratio"] == 4
    assert any("resampled" in n for n in vhr["notes"])
    for g in ("l7", "vhr"):
        files = manifest["groups"][g]["files"]
        assert files["train_aug"]["count"] == 2 * files["train"]["count"] > 0
        with h5py.File(out / files["train_aug"]["path"], "r") as f:
            assert sorted(set(f["variant"][()].tolist())) == [0, 1]
            n = files["train"]["count"]
            with h5py.File(out / files["train"]["path"], "r") as t:
                np.testing.assert_array_equal(f["gt"][:n], t["gt"][()])
            assert json.loads(f.attrs["augmentation"])["ms_gnyq"] == [0.15, 0.45]


@needs_data
def test_landsat7_bands_are_reordered_to_bgrn(l7_vhr):
    from scipy import io as sio

    from training.build_datasets import load_scene, scene_spec

    raw = sio.loadmat(shared_data_dir() / "l7-fusebox" / "1_ms.mat")["cropped_im"]
    name, spec = scene_spec("l7-01")
    scene = load_scene(name, spec)
    # stored R, G, B, NIR: the scene's band 0 (Blue) is the file's third band
    np.testing.assert_array_equal(scene.ms[0], raw[..., 2].astype(np.float64))
    np.testing.assert_array_equal(scene.ms[2], raw[..., 0].astype(np.float64))
    np.testing.assert_array_equal(scene.ms[3], raw[..., 3].astype(np.float64))


@needs_data
def test_loso_cli_trains_evaluates_and_reuses(l7_vhr, tmp_path, torch_one_thread):
    from training.loso import main

    out, _ = l7_vhr
    run = tmp_path / "loso"
    args = ["--data-root", str(out), "--out", str(run), "--recipe", "aug", "--steps", "6",
            "--groups", "VHR", "--adaptation", "off", "--max-size", "64",
            "--per-dataset", "1", "--set", "hparams={scale: small}",
            "--set", "eval_max_patches=2", "--write", str(tmp_path / "R.md")]
    assert main(args) == 0
    res = json.loads((run / "results.json").read_text())
    assert res["models"]["without-VHR"]["datasets"] == ["l7"]
    assert res["models"]["without-VHR"]["steps"] == 6
    mean = res["groups"]["VHR"]["mean"]
    assert set(mean) == {"model", "EXP", "GDAL Brovey", "MTF-GLP-HPM"}
    for m in mean.values():
        assert 0.0 < m["Q2N"] <= 1.0 and 0.0 < m["HQNR"] <= 1.0 and m["ERGAS"] > 0
    # EXP adds no detail: a sharpening method must beat it at reduced resolution
    assert mean["MTF-GLP-HPM"]["Q2N"] > mean["EXP"]["Q2N"]
    assert "| VHR (1 scene) | model |" in (tmp_path / "R.md").read_text()
    ckpt = run / "without-VHR" / "best.ckpt"
    stamp = ckpt.stat().st_mtime_ns
    assert main(args + ["--reuse", "--adaptation", "on", "--adapt-steps", "2"]) == 0
    assert ckpt.stat().st_mtime_ns == stamp          # evaluated, not retrained
    res = json.loads((run / "results.json").read_text())
    assert "model + adaptation (2 steps)" in res["groups"]["VHR"]["mean"]
    assert len(res["groups"]["VHR"]["adaptation_runs"]) == 2     # RR pair and FR pair
    # other adaptation settings get a column of their own; earlier columns are kept
    assert main(args + ["--reuse", "--adaptation", "on", "--adapt-steps", "2",
                        "--adapt-set", "lr=0.001", "--correction"]) == 0
    res = json.loads((run / "results.json").read_text())
    mean = res["groups"]["VHR"]["mean"]
    assert {"model + adaptation (2 steps)", "model + adaptation (2 steps, lr 0.001)",
            "model + spectral correction",
            "model + adaptation (2 steps, lr 0.001) + spectral correction"} <= set(mean)
    # the correction gives the model's output the MS's colours back: never farther from
    # the MS at full resolution (Khan's D_lambda is the spectral half of HQNR)
    assert mean["model + spectral correction"]["HQNR"] > mean["model"]["HQNR"]
    runs = res["groups"]["VHR"]["adaptation_runs"]
    plain_runs = [r for r in runs if r["label"] == "model + adaptation (2 steps, lr 0.001)"]
    assert [r["config"]["lr"] for r in plain_runs] == [0.001, 0.001]
    assert all(r["config"]["spectral_guard"] for r in plain_runs)
    # the corrected column adapts as pan-sharpening does then: through the correction,
    # no spectral guard
    loose = [r for r in runs
             if r["label"] == "model + adaptation (2 steps, lr 0.001) + spectral correction"]
    assert [(r["config"]["lr"], r["config"]["spectral_guard"],
             r["config"]["through_correction"]) for r in loose] == [
        (0.001, False, True), (0.001, False, True)]
    assert all(not r["config"]["through_correction"] for r in plain_runs)
    # --rescore adapts this run's columns again instead of keeping their scores
    data = json.loads((run / "results.json").read_text())
    label = "model + adaptation (2 steps, lr 0.001) + spectral correction"
    for sc in data["groups"]["VHR"]["scenes"].values():
        sc["scores"][label]["Q2N"] = -1.0                # a stale score, to be replaced
    (run / "results.json").write_text(json.dumps(data))
    lr_args = args + ["--reuse", "--adaptation", "on", "--adapt-steps", "2",
                      "--adapt-set", "lr=0.001", "--correction"]
    assert main(lr_args) == 0                          # kept without --rescore
    assert json.loads((run / "results.json").read_text())["groups"]["VHR"]["mean"][label][
        "Q2N"] == -1.0
    assert main(lr_args + ["--rescore"]) == 0
    res = json.loads((run / "results.json").read_text())
    assert res["groups"]["VHR"]["mean"][label]["Q2N"] == pytest.approx(
        mean[label]["Q2N"])
    assert len([r for r in res["groups"]["VHR"]["adaptation_runs"] if r["label"] == label]) == 2
    missing = ["--data-root", str(out), "--out", str(tmp_path / "none"), "--groups", "VHR",
               "--reuse", "--adaptation", "off"]
    assert main(missing) == 2
    # one given model on every group, nothing trained
    fixed = tmp_path / "fixed"
    assert main(["--data-root", str(out), "--out", str(fixed), "--groups", "VHR",
                 "--checkpoint", str(ckpt), "--adaptation", "off", "--max-size", "64",
                 "--per-dataset", "1"]) == 0
    res = json.loads((fixed / "results.json").read_text())
    assert res["models"]["without-VHR"] == {"checkpoint": str(ckpt)}
    assert not (fixed / "without-VHR").exists()
    assert res["groups"]["VHR"]["mean"]["model"]["Q2N"] == pytest.approx(
        json.loads((run / "results.json").read_text())["groups"]["VHR"]["mean"]["model"]["Q2N"])


@needs_data
def test_warm_start_from_a_bundled_model(l7_vhr, tmp_path, torch_one_thread):
    import torch

    from engine.trainer.trainer import train
    from engine.weights.checkpoint import load_checkpoint
    from engine.weights.model_zoo import model_path

    out, _ = l7_vhr
    v2 = model_path("pantiny-bgrn-v2")
    cfg = {"model": "pantiny", "datasets": [{"name": "vhr", "kind": "h5",
                                             "train": "vhr/train_aug.h5", "val": "vhr/val.h5"}],
           "data_root": str(out), "epochs": 1, "max_steps_per_epoch": 1, "batch_size": 4,
           "crop": 32, "optimizer": {"lr": 0.0, "weight_decay": 0.0}, "fr_eval": False,
           "eval_splits": ["val"], "eval_max_patches": 2, "device": "cpu", "amp": False,
           "progress": False, "out_dir": str(tmp_path / "run"), "init_from": v2}
    train(cfg)
    got = load_checkpoint(tmp_path / "run" / "latest.ckpt").state_dict
    ref = load_checkpoint(v2).state_dict
    assert set(got) == set(ref)
    for k in ref:   # lr 0: the run kept the warm-start weights exactly
        assert torch.equal(got[k], ref[k]), k
    cfg.update(model="pantiny", hparams={"scale": "small"}, out_dir=str(tmp_path / "bad"))
    from engine.errors import InputError
    with pytest.raises(InputError, match="init_from"):
        train(cfg)


def test_targets_and_compare_report_margins():
    from training.loso import compare, targets

    def m(q, h, d=0.1):
        return {"Q2N": q, "SAM": 3.0, "ERGAS": 3.0, "HQNR": h, "D_RHO": d}

    res = {"groups": {
        "A": {"mean": {"model": m(0.80, 0.90), "EXP": m(0.70, 0.85), "GDAL Brovey": m(0.85, 0.6),
                       "MTF-GLP-HPM": m(0.90, 0.92)}},
        "B": {"mean": {"model": m(0.95, 0.80), "EXP": m(0.75, 0.90), "GDAL Brovey": m(0.70, 0.5),
                       "MTF-GLP-HPM": m(0.85, 0.88)}}}}
    lines = targets(res, "model")
    assert "- A: Q2n 0.800 vs GDAL Brovey 0.850: MISSED (-0.050)" in lines
    assert "- B: Q2n 0.950 vs EXP 0.750: met (+0.200)" in lines
    assert "- mean Q2n 0.875 vs MTF-GLP-HPM 0.875: met (+0.000)" in lines
    assert "- mean HQNR 0.850 vs EXP 0.875: MISSED (-0.025)" in lines
    assert targets(res, "model + adaptation") == ["- model + adaptation: not evaluated"]
    table = compare({"aug": res, "plain": res})
    assert "| A | 0.800 | 0.900 | 0.100 | 0.800 | 0.900 | 0.100 |" in table
    assert "| **mean** | 0.875 | 0.850 | 0.100 |" in table
