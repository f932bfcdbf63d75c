"""The batch command (``python -m engine.batch``): scene lists, completion records, resuming,
and two CPU processes under ``torchrun`` on real scenes, killed and restarted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.batch import completion
from engine.batch.scenes import SceneListError, read_scene_list, shard

REPO = Path(__file__).resolve().parents[2]
#: Tiling of every run here: small tiles keep the small scenes cheap (the outputs are
#: compared with single runs made with the same settings).
TILING = {"tile_size": 128, "overlap": 16}
TILING_ARGS = ["--tile-size", "128", "--overlap", "16"]

# --------------------------------------------------------------------------- scene list


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_scene_list_resolves_relative_paths_and_skips_comments(tmp_path):
    lst = _write(tmp_path / "list.csv", "# archive of 2019\nPAN, ms ,output,note\n\n"
                 "a/p.tif,a/m.tif,out/a.tif,first\n# done by hand\n"
                 "/abs/p.tif,/abs/m.tif,\"out/b, c.TIF\",\n")
    scenes = read_scene_list(lst)
    assert [(s.index, s.line) for s in scenes] == [(0, 4), (1, 6)]
    assert scenes[0].pan == str(tmp_path / "a" / "p.tif")
    assert scenes[0].output == str(tmp_path / "out" / "a.tif")
    assert scenes[1].pan == "/abs/p.tif" and scenes[1].output == str(tmp_path / "out" / "b, c.TIF")


def test_scene_list_reports_every_bad_row_at_once(tmp_path):
    lst = _write(tmp_path / "list.csv", "pan,ms,output\n"
                 "p.tif,m.tif\n"                 # line 2: too few fields
                 "p.tif,,o.tif\n"                # line 3: empty ms
                 "p.tif,m.tif,o.png\n"           # line 4: not a GeoTIFF
                 "p.tif,m.tif,p.tif\n"           # line 5: output is an input
                 "p.tif,m.tif,o.tif\n"
                 "q.tif,n.tif,o.tif\n"           # line 7: same output as line 6
                 "o2.tif,m.tif,x.tif\n"
                 "r.tif,s.tif,o2.tif\n")         # line 9: output is line 8's PAN
    with pytest.raises(SceneListError) as err:
        read_scene_list(lst)
    problems = err.value.problems
    assert [p.split(":")[0] for p in problems] == ["line 2", "line 3", "line 4", "line 5",
                                                   "line 7", "line 9"]
    assert "empty ms" in problems[1] and ".tif" in problems[2]
    assert "already the output of line 6" in problems[4]
    assert "nothing was processed" in str(err.value)


@pytest.mark.parametrize("text, message", [
    ("", "is empty"),
    ("pan,multispectral,output\np.tif,m.tif,o.tif\n", "lacks the column(s) ms"),
    ("pan,ms,output\n# nothing yet\n", "no scene"),
])
def test_scene_list_without_scenes_or_columns_is_refused(tmp_path, text, message):
    with pytest.raises(Exception) as err:
        read_scene_list(_write(tmp_path / "list.csv", text))
    assert message in str(err.value)


def test_shards_cover_every_scene_once_and_do_not_depend_on_the_run(tmp_path):
    rows = "".join(f"p{i}.tif,m{i}.tif,o{i}.tif\n" for i in range(10))
    scenes = read_scene_list(_write(tmp_path / "l.csv", "pan,ms,output\n" + rows))
    for world in (1, 3, 4, 16):
        parts = [shard(scenes, r, world) for r in range(world)]
        assert sorted(s.index for p in parts for s in p) == list(range(10))
        assert [s.index for s in parts[world - 1]] == list(range(world - 1, 10, world))
    assert shard(read_scene_list(tmp_path / "l.csv"), 1, 3) == shard(scenes, 1, 3)


# --------------------------------------------------------------------------- completion


def test_done_needs_a_matching_record_not_just_the_file(tmp_path):
    pan, ms, out = (str(tmp_path / n) for n in ("p.tif", "m.tif", "o.tif"))
    for path in (pan, ms):
        Path(path).write_bytes(b"input")
    key = {"checkpoint_sha256": "abc", "tile_size": 256}
    assert completion.done_reason(pan, ms, out, key) == "no output yet"
    Path(out).write_bytes(b"a complete output")
    assert "no completion record" in completion.done_reason(pan, ms, out, key)
    completion.write_record(pan, ms, out, key, {"device": "cpu"})
    assert completion.done_reason(pan, ms, out, key) is None
    assert not [n for n in os.listdir(tmp_path) if ".partial" in n]
    assert "other settings" in completion.done_reason(pan, ms, out, {**key, "tile_size": 512})
    Path(out).write_bytes(b"replaced by something else")
    assert "output changed" in completion.done_reason(pan, ms, out, key)
    completion.write_record(pan, ms, out, key, {})
    Path(ms).write_bytes(b"new input data")
    assert "PAN or MS file changed" in completion.done_reason(pan, ms, out, key)
    Path(completion.record_path(out)).write_text("{truncated", encoding="utf-8")
    assert "unreadable" in completion.done_reason(pan, ms, out, key)


def _fake_run(pan, ms, output, checkpoint, **kwargs):
    """Stands in for pansharpen_raster: writes the output whole, as the writer does."""
    Path(output).write_bytes(b"fused " + Path(pan).read_bytes())
    return {"DEVICE_USED": "cpu", "MPIX_PER_S": 1.0}


def test_scene_adaptation_settings_reach_the_engine_and_the_completion_record(tmp_path):
    from engine.batch.runner import BatchSettings, RankLog, process_scene

    for name in ("p.tif", "m.tif"):
        (tmp_path / name).write_bytes(b"input")
    scene = read_scene_list(_write(tmp_path / "l.csv", "pan,ms,output\np.tif,m.tif,x.tif\n"))[0]
    seen: dict = {}

    def run(pan, ms, output, checkpoint, **kwargs):
        seen.update(kwargs)
        return _fake_run(pan, ms, output, checkpoint)

    adapted = BatchSettings(checkpoint="unused.ckpt", sensor="IKONOS", adapt_steps=20)
    key = adapted.key("sha")
    assert process_scene(scene, adapted, key, RankLog(), run) == "done"
    assert seen["sensor"] == "IKONOS" and seen["adapt_steps"] == 20
    assert seen["spectral_correction"] is True        # the default, as in the plugin
    assert completion.done_reason(scene.pan, scene.ms, scene.output, key) is None
    plain = BatchSettings(checkpoint="unused.ckpt").key("sha")
    assert "scene adaptation" in completion.done_reason(scene.pan, scene.ms, scene.output, plain)
    raw = BatchSettings(checkpoint="unused.ckpt", sensor="IKONOS", adapt_steps=20,
                        spectral_correction=False)
    assert "spectral correction" in completion.done_reason(scene.pan, scene.ms, scene.output,
                                                           raw.key("sha"))


def test_a_scene_held_by_another_process_is_left_to_it(tmp_path):
    from engine.batch.claim import claim, lock_path
    from engine.batch.runner import BatchSettings, RankLog, process_scene

    for name in ("p.tif", "m.tif"):
        (tmp_path / name).write_bytes(b"input")
    scene = read_scene_list(_write(tmp_path / "l.csv", "pan,ms,output\np.tif,m.tif,o/x.tif\n"))[0]
    settings = BatchSettings(checkpoint="unused.ckpt")
    key = settings.key("sha")
    lines: list[str] = []

    class Collect(RankLog):
        def __call__(self, message: str) -> None:
            lines.append(message)

    log = Collect()
    (tmp_path / "o").mkdir()
    with claim(scene.output) as owned:       # another job is making it
        assert owned
        assert process_scene(scene, settings, key, log, _fake_run) == "failed"
        assert "another process is making it now" in lines[-1]
        assert not os.path.exists(scene.output)
        with claim(scene.output) as again:   # a lock is exclusive even within a process
            assert not again
    assert not os.path.exists(lock_path(scene.output))
    assert process_scene(scene, settings, key, log, _fake_run) == "done"
    assert process_scene(scene, settings, key, log, _fake_run) == "skipped"
    assert sorted(os.listdir(tmp_path / "o")) == ["x.tif", "x.tif.done.json"]


# --------------------------------------------------------------------------- real scenes


def _crop(gdal, src: str, dst: str, window: tuple[int, int, int, int],
          georeferenced: bool = True) -> None:
    """Window ``(x0, y0, w, h)`` of a real raster as a GeoTIFF (georeferencing optional)."""
    if georeferenced:
        assert gdal.Translate(dst, src, srcWin=list(window)) is not None
        return
    ds = gdal.Open(src)
    data = ds.ReadAsArray(*window)
    data = data[None] if data.ndim == 2 else data
    out = gdal.GetDriverByName("GTiff").Create(dst, window[2], window[3], data.shape[0],
                                               ds.GetRasterBand(1).DataType)
    for i, band in enumerate(data, 1):
        out.GetRasterBand(i).WriteArray(band)
    out = None  # noqa: F841 (closes the file)


@pytest.fixture(scope="module")
def scenes(shared_data, tmp_path_factory):
    """Three real scenes, cropped to 128 x 128 PAN pixels: WorldView-2 Sydney (uint8, no
    georeferencing), WorldView-3 float reflectance (nodata 0, sub-pixel PAN/MS offset);
    and to 256 x 256: WorldView-3 Shanghai (8-band uint16, EPSG:4326)."""
    gdal = pytest.importorskip("osgeo.gdal")
    folder = tmp_path_factory.mktemp("scenes")
    sydney, dos, shanghai = (shared_data / n for n in ("wv2-sydney", "wv3-dos-float",
                                                        "wv3-shanghai"))
    _crop(gdal, str(sydney / "WV2_PAN.img"), str(folder / "syd_pan.tif"), (400, 400, 128, 128),
          georeferenced=False)
    _crop(gdal, str(sydney / "WV2_MS"), str(folder / "syd_ms.tif"), (100, 100, 32, 32),
          georeferenced=False)
    _crop(gdal, str(dos / "pan.tif"), str(folder / "dos_pan.tif"), (0, 0, 128, 128))
    _crop(gdal, str(dos / "mul.tif"), str(folder / "dos_ms.tif"), (0, 0, 32, 32))
    _crop(gdal, str(shanghai / "PAN_AOI_4_Shanghai_img1920.tif"), str(folder / "sh_pan.tif"),
          (384, 384, 256, 256))
    _crop(gdal, str(shanghai / "MUL_AOI_4_Shanghai_img1920.tif"), str(folder / "sh_ms.tif"),
          (96, 96, 64, 64))
    for path in folder.iterdir():  # the inputs must come out untouched
        path.chmod(0o444)
    # rank 0 of 2 gets Sydney then Shanghai, rank 1 the float scene
    rows = [("syd_pan.tif", "syd_ms.tif", "sydney.tif"), ("dos_pan.tif", "dos_ms.tif", "dos.tif"),
            ("sh_pan.tif", "sh_ms.tif", "shanghai.tif")]
    return folder, rows


@pytest.fixture(scope="module")
def references(scenes, tmp_path_factory, torch_one_thread):
    """Single runs of ``pansharpen_raster`` (what pantiny:pansharpen calls), one thread."""
    from engine.inference.raster import pansharpen_raster
    from engine.weights.model_zoo import default_model_id, model_path

    folder, rows = scenes
    out = tmp_path_factory.mktemp("single")
    refs = {}
    for pan, ms, name in rows:
        pansharpen_raster(str(folder / pan), str(folder / ms), str(out / name),
                          model_path(default_model_id()), device="cpu", **TILING)
        refs[name] = out / name
    return refs


def _list(folder: Path, rows, out_dir: str) -> Path:
    """A scene list in its own folder, inputs given by absolute path, outputs relative."""
    lst_dir = folder.parent / f"list-{out_dir}"
    lst_dir.mkdir(exist_ok=True)
    text = "pan,ms,output\n" + "".join(f"{folder / p},{folder / m},{out_dir}/{o}\n"
                                       for p, m, o in rows)
    return _write(lst_dir / "scenes.csv", text)


def _assert_same_raster(path: Path, ref: Path) -> None:
    """Same pixels, grid, nodata, band names and provenance (except its time stamp)."""
    from osgeo import gdal

    a, b = gdal.Open(str(path)), gdal.Open(str(ref))
    np.testing.assert_array_equal(a.ReadAsArray(), b.ReadAsArray())
    assert a.GetGeoTransform() == b.GetGeoTransform()
    assert a.GetProjection() == b.GetProjection()
    for i in range(1, a.RasterCount + 1):
        ba, bb = a.GetRasterBand(i), b.GetRasterBand(i)
        assert (ba.GetNoDataValue(), ba.GetDescription()) == (bb.GetNoDataValue(),
                                                              bb.GetDescription())
    ma, mb = a.GetMetadata(), b.GetMetadata()
    ma.pop("PANTINY_CREATED"), mb.pop("PANTINY_CREATED")
    assert ma == mb


def _partials(folder: Path) -> list[str]:
    """Hidden files (temporaries, locks) left in an output folder."""
    return sorted(n for n in os.listdir(folder) if n.startswith(".")) if folder.exists() else []


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR",
                 "MASTER_PORT"):
        env.pop(name, None)
    return env


def _wait_for(condition, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (status {proc.returncode}) before the "
                                 f"moment to stop it:\n{proc.stdout.read()}")
        assert time.monotonic() < end, "timed out waiting for the run"
        time.sleep(0.02)


def _children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as handle:
            found += [int(c) for c in handle.read().split()]
    return found


def _rank_of(pid: int) -> int | None:
    with open(f"/proc/{pid}/environ", "rb") as handle:
        env = dict(v.split(b"=", 1) for v in handle.read().split(b"\0") if b"=" in v)
    return int(env[b"RANK"]) if b"RANK" in env else None


def _key() -> dict:
    """The completion-record settings of the runs here (default model, :data:`TILING`)."""
    from engine.batch.runner import BatchSettings
    from engine.weights.checkpoint import read_metadata
    from engine.weights.model_zoo import default_model_id, model_path

    path = model_path(default_model_id())
    return BatchSettings(checkpoint=path, **TILING).key(read_metadata(path)[1])


def _torchrun(lst: Path) -> list[str]:
    """``torchrun --standalone --nproc_per_node=2 -m engine.batch LIST --device cpu`` with
    :data:`TILING_ARGS`."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            "--nproc_per_node=2", "-m", "engine.batch", str(lst), "--device", "cpu",
            *TILING_ARGS]


def _start(cmd: list[str]) -> subprocess.Popen:
    """Start ``cmd`` in its own session (so the test can kill the whole group)."""
    return subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find rank 0")
def test_two_processes_killed_and_restarted_match_single_runs(scenes, references):
    """torchrun, 2 CPU processes, 3 real scenes.  Rank 0 is killed outright (SIGKILL, as a
    crashed node) while it writes its second scene, after the first output appeared;
    torchrun then stops rank 1.  The same command run again skips what was finished,
    removes the dead run's temporary file and makes the rest; every output equals its
    single run and no temporary file remains."""
    from engine.io.raster_io import partial_files

    folder, rows = scenes
    lst = _list(folder, rows, "out")
    out = lst.parent / "out"
    shanghai = out / "shanghai.tif"

    run = _start(_torchrun(lst))
    try:
        _wait_for(lambda: any((out / r[2]).exists() for r in rows) and partial_files(shanghai),
                  run)
        rank0 = [c for c in _children(run.pid) if _rank_of(c) == 0]
        assert len(rank0) == 1
        os.kill(rank0[0], signal.SIGKILL)
        log1, _ = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode != 0, log1
    assert not shanghai.exists() and not Path(completion.record_path(str(shanghai))).exists()
    assert partial_files(shanghai), "the killed rank should have left its temporary file"
    # rank 0 finished Sydney before it started Shanghai; rank 1 may or may not have
    # finished the float scene before torchrun stopped it
    finished = {name: (out / name).stat().st_mtime_ns for pan, ms, name in rows
                if completion.done_reason(str(folder / pan), str(folder / ms), str(out / name),
                                          _key()) is None}
    assert "sydney.tif" in finished and "shanghai.tif" not in finished

    rerun = subprocess.run(_torchrun(lst), cwd=REPO, env=_env(), capture_output=True,
                           text=True, timeout=300)
    log2 = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, log2
    for name, mtime in finished.items():   # finished before the kill: skipped, untouched
        assert f"({name}): skipped, already done" in log2, log2
        assert (out / name).stat().st_mtime_ns == mtime
    assert "(shanghai.tif): removed .shanghai." in log2, f"first run:\n{log1}\nrerun:\n{log2}"
    assert (f"job summary (2 process(es)): {3 - len(finished)} done, {len(finished)} skipped "
            "(already done), 0 failed") in log2, log2
    assert _partials(out) == []
    for pan, ms, name in rows:
        _assert_same_raster(out / name, references[name])
        record = json.loads(Path(completion.record_path(str(out / name))).read_text())
        assert record["info"]["device"] == "cpu"
        assert completion.done_reason(str(folder / pan), str(folder / ms), str(out / name),
                                      _key()) is None


def test_sigterm_stops_cleanly_and_leaves_nothing_half_written(scenes):
    """SIGTERM (a scheduler's stop) while a scene is written: exit status 143, the
    temporary file removed, no output and no completion record."""
    from engine.io.raster_io import partial_files

    folder, rows = scenes
    lst = _list(folder, rows[2:], "out-term")
    shanghai = lst.parent / "out-term" / "shanghai.tif"
    run = _start([sys.executable, "-m", "engine.batch", str(lst), "--device", "cpu",
                  "--threads", "1", *TILING_ARGS])
    try:
        _wait_for(lambda: partial_files(shanghai), run)
        run.send_signal(signal.SIGTERM)
        log, _ = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 128 + signal.SIGTERM, log
    assert "interrupted (stopped by SIGTERM: the partial output was removed)" in log and "run the same command" in log, log
    assert _partials(shanghai.parent) == [] and not shanghai.exists()
    assert not Path(completion.record_path(str(shanghai))).exists()


def test_a_failing_scene_does_not_stop_the_others(scenes, references, shared_data, tmp_path,
                                                  capsys, monkeypatch):
    """One process, in-process: a missing file and a pair with a non-integer pixel-size
    ratio fail with the line number and the engine's message; the good scene is made;
    the exit status is 1.  A bad list stops everything with status 2."""
    from engine.batch.__main__ import main

    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    folder, rows = scenes
    lst = _write(tmp_path / "scenes.csv", "pan,ms,output\n"
                 f"{folder / 'nope.tif'},{folder / 'syd_ms.tif'},out/missing.tif\n"
                 f"{folder / 'dos_pan.tif'},{folder / 'sh_ms.tif'},out/mismatch.tif\n"
                 f"{folder / rows[0][0]},{folder / rows[0][1]},out/{rows[0][2]}\n")
    assert main([str(lst), "--device", "cpu", *TILING_ARGS]) == 1
    log = capsys.readouterr().err
    assert "line 2 (missing.tif): FAILED: cannot open the PAN raster" in log
    assert "line 3 (mismatch.tif): FAILED:" in log and "CRS" in log  # PAN and MS of two scenes
    assert "1 done, 0 skipped (already done), 2 failed" in log
    assert sorted(os.listdir(tmp_path / "out")) == ["sydney.tif", "sydney.tif.done.json"]
    _assert_same_raster(tmp_path / "out" / "sydney.tif", references["sydney.tif"])

    # resumed: only the failures run again
    assert main([str(lst), "--device", "cpu", *TILING_ARGS]) == 1
    assert "(sydney.tif): skipped, already done" in capsys.readouterr().err

    assert main([str(lst), "--dry-run", *TILING_ARGS]) == 1
    log = capsys.readouterr().err
    assert "line 2 (missing.tif): FAILED: PAN not found" in log
    assert "line 3 (mismatch.tif): would make it (no output yet)" in log
    assert "line 4 (sydney.tif): would skip, already done" in log
    assert main([str(lst), "--dry-run"]) == 1      # other tiling: sydney would be remade
    assert "line 4 (sydney.tif): would make it (the output was made with other settings" in \
        capsys.readouterr().err

    bad = _write(tmp_path / "bad.csv", "pan,ms,output\na.tif,b.tif,c.jpg\n")
    assert main([str(bad)]) == 2
    assert "line 2: the output 'c.jpg' is not a GeoTIFF" in capsys.readouterr().err
    assert main([str(lst), "--tile-size", "64", "--overlap", "32"]) == 2
    assert "larger than twice the overlap" in capsys.readouterr().err
