"""Outputs that would overwrite an input are refused (engine.io.paths, no GDAL)."""

from __future__ import annotations

import os

import pytest

from engine.errors import InputError
from engine.io.paths import OutputCollision, check_outputs_distinct, find_collision


@pytest.fixture
def files(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("pan.tif", "ms.tif", "WV2_MS", "WV2_MS.hdr", "ms.tif.aux.xml", "pan.tfw"):
        (tmp_path / name).write_bytes(b"x")
    return tmp_path


@pytest.mark.parametrize("spelling", ["pan.tif", "./pan.tif", "sub/../pan.tif", "sub/./../pan.tif"])
def test_same_file_spelled_differently(files, spelling):
    out = os.path.join(str(files), spelling)
    with pytest.raises(OutputCollision, match=r"OUTPUT .* would overwrite the input PAN .*"
                                              r"Choose another file name for OUTPUT"):
        check_outputs_distinct({"OUTPUT": out}, {"PAN": str(files / "pan.tif"),
                                                 "MS": str(files / "ms.tif")})


def test_symlink_and_hardlink(files):
    os.symlink(files / "ms.tif", files / "link.tif")
    os.link(files / "pan.tif", files / "hard.tif")
    inputs = {"PAN": str(files / "pan.tif"), "MS": str(files / "ms.tif")}
    assert find_collision({"OUTPUT": str(files / "link.tif")}, inputs)[2] == "MS"
    assert find_collision({"OUTPUT": str(files / "hard.tif")}, inputs)[2] == "PAN"


@pytest.mark.parametrize("out,hit", [("WV2_MS.hdr", "WV2_MS.hdr"),
                                      ("ms.tif.aux.xml", "ms.tif.aux.xml"),
                                      ("pan.tfw", "pan.tfw")])
def test_sidecars(files, out, hit):
    with pytest.raises(OutputCollision, match=f"sidecar file .*{hit}"):
        check_outputs_distinct({"REPORT": str(files / out)},
                               {"MS": str(files / "WV2_MS"), "FUSED": str(files / "ms.tif"),
                                "PAN": str(files / "pan.tif")})


def test_output_whose_sidecar_is_an_input(files):
    # GDAL would write ms.tif's statistics into ms.tif.aux.xml == an existing input file
    assert find_collision({"OUTPUT": str(files / "ms.tif")},
                          {"MS": str(files / "ms.tif.aux.xml")}) is not None


def test_distinct_paths_pass_and_missing_sidecars_do_not_count(files):
    inputs = {"PAN": str(files / "pan.tif"), "MS": str(files / "ms.tif"), "MODEL_FILE": ""}
    check_outputs_distinct({"OUTPUT": str(files / "fused.tif"), "REPORT": None}, inputs)
    check_outputs_distinct({"OUTPUT": str(files / "pan.img")}, inputs)  # pan.aux.xml absent


def test_case_on_case_insensitive_file_systems(files, monkeypatch):
    monkeypatch.setattr(os.path, "normcase", lambda p: p.lower())
    with pytest.raises(OutputCollision):
        check_outputs_distinct({"OUTPUT": str(files / "PAN.TIF")}, {"PAN": str(files / "pan.tif")})


def test_unwritable_outputs(files):
    with pytest.raises(InputError, match="does not exist"):
        check_outputs_distinct({"REPORT": str(files / "nope" / "r.json")}, {})
    with pytest.raises(InputError, match="is a folder"):
        check_outputs_distinct({"REPORT": str(files / "sub")}, {})
    with pytest.raises(OutputCollision, match="same file"):
        check_outputs_distinct({"OUTPUT": str(files / "a.tif"), "REPORT": str(files / "a.tif")}, {})


def test_report_write_errors_are_messages_not_tracebacks(tmp_path):
    from engine.errors import RasterIOError
    from engine.io.report_files import write_report

    (tmp_path / "taken").mkdir()
    with pytest.raises(RasterIOError, match=r"cannot write the report .*taken"):
        write_report(tmp_path / "taken", {"scores": {"QNR": 0.9}})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # no temporary left
