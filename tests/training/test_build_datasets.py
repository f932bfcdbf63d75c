"""training.build_datasets on a real scene (wv3-dos-float) and on hand-made cases."""

import json
from pathlib import Path

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")
gdal = pytest.importorskip("osgeo.gdal")

from engine.io import raster_io  # noqa: E402
from engine.inference.scaling import compute_scale  # noqa: E402
from training.build_datasets import (build_datasets, estimate_registration,  # noqa: E402
                                     plan_regions, shared_data_dir)

DOS = shared_data_dir() / "wv3-dos-float"
pytestmark = pytest.mark.skipif(not (DOS / "mul.tif").is_file(),
                                reason="shared data folder not available")
PATCH, STRIDE = 32, 8          # as the dos_dataset fixture (conftest.py) builds it
BGRN = [1, 2, 4, 6]


def _read(out: Path, rel: str) -> tuple[dict, dict]:
    with h5py.File(out / rel, "r") as f:
        arrays = {k: f[k][()] for k in f}
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    return arrays, attrs


@pytest.fixture(scope="module")
def built(dos_dataset):
    out, manifest = dos_dataset
    assert (manifest["patch"], manifest["stride"]) == (PATCH, STRIDE)
    return out, manifest


def test_files_attributes_and_shapes(built):
    out, manifest = built
    assert (out / "manifest.json").is_file()
    assert json.loads((out / "manifest.json").read_text())["groups"]["wv3"]["files"]
    counts = manifest["scenes"]["wv3-dos-float"]["counts"]
    assert counts["train"] > 20 and counts["val"] >= 1 and counts["test"] >= 1
    for split in ("train", "val", "test"):
        arrays, attrs = _read(out, f"wv3/{split}.h5")
        n = len(arrays["gt"])
        assert n == counts[split]
        assert arrays["gt"].shape == (n, 4, PATCH, PATCH) and arrays["lms"].shape == (n, 4, PATCH, PATCH)
        assert arrays["pan"].shape == (n, 1, PATCH, PATCH)
        assert arrays["ms"].shape == (n, 4, PATCH // 4, PATCH // 4)
        assert arrays["gt"].dtype == np.float32
        assert attrs["sensor"] == "wv3" and attrs["ratio"] == 4 and attrs["split"] == split
        assert attrs["patch_size"] == PATCH and attrs["img_range"] == 1.0
        assert json.loads(attrs["scaling"]) == {"mode": "percentile", "percentile": 99.0,
                                                 "joint_bands": True}
        assert json.loads(attrs["band_names"]) == ["Blue", "Green", "Red", "NIR"]
        assert json.loads(attrs["source_scene"]) == ["wv3-dos-float"]
        assert json.loads(attrs["bit_depth"]) == ["float32"]
        assert json.loads(attrs["ms_gnyq"]) == [0.355, 0.36, 0.365, 0.335]


def test_splits_do_not_overlap_spatially(built):
    out, manifest = built
    info = manifest["scenes"]["wv3-dos-float"]
    regions = info["regions"]
    spans = {}
    for split in ("train", "val", "test"):
        arrays, _ = _read(out, f"wv3/{split}.h5")
        rows = arrays["origin"][:, 0]
        r0, r1 = regions[split]
        # every patch lies inside its region
        assert rows.min() >= r0 and rows.max() + PATCH <= r1
        spans[split] = (int(rows.min()), int(rows.max()) + PATCH)
    order = sorted(spans.values())
    for (a0, a1), (b0, b1) in zip(order, order[1:]):
        assert a1 <= b0, f"row ranges overlap: {spans}"
    assert spans["train"][1] <= spans["val"][0] <= spans["val"][1] <= spans["test"][0]
    # the FR test scene is the test region at full scale
    fr, fr_attrs = _read(out, "fr_test/wv3-dos-float.h5")
    f0, f1 = json.loads(fr_attrs["region_rows_ms"])
    assert f0 == regions["test"][0] and f1 <= regions["test"][1]


def test_patch_content_is_the_registered_scaled_scene(built):
    out, manifest = built
    info = manifest["scenes"]["wv3-dos-float"]
    raw = raster_io.read_raster(DOS / "mul.tif", bands=[b + 1 for b in BGRN])
    # scaling: the 99th percentile of the whole scene, jointly over the four bands
    assert info["scaling"]["ms_scale"] == pytest.approx(np.percentile(raw.ravel(), 99.0))
    pan_raw = raster_io.read_raster(DOS / "pan.tif")[0]
    assert info["scaling"]["pan_scale"] == pytest.approx(compute_scale(pan_raw))
    i0, j0, _, _ = info["registration"]["ms_crop"]
    arrays, _ = _read(out, "wv3/train.h5")
    for k in (0, len(arrays["gt"]) // 2, -1):
        y, x = arrays["origin"][k]
        expect = raw[:, i0 + y: i0 + y + PATCH, j0 + x: j0 + x + PATCH] / info["scaling"]["ms_scale"]
        np.testing.assert_allclose(arrays["gt"][k], expect, rtol=1e-5)
    # interp23tap passes through its samples: lms at the toolbox phase (4k + 2) IS ms
    np.testing.assert_allclose(arrays["lms"][:, :, 2::4, 2::4], arrays["ms"], atol=1e-5)
    # the degraded PAN is a low-passed PAN: close to the PAN block means
    pr0, pc0, _, _ = info["registration"]["pan_crop"]
    y, x = arrays["origin"][0]
    blocks = pan_raw[pr0 + 4 * y: pr0 + 4 * (y + PATCH), pc0 + 4 * x: pc0 + 4 * (x + PATCH)]
    blocks = blocks.reshape(PATCH, 4, PATCH, 4).mean(axis=(1, 3)) / info["scaling"]["pan_scale"]
    assert np.corrcoef(blocks.ravel(), arrays["pan"][0, 0].ravel())[0, 1] > 0.95


def test_registration_is_measured_and_recorded(built):
    _, manifest = built
    reg = manifest["scenes"]["wv3-dos-float"]["registration"]
    # geotransforms: MS corner 1 row and 2 columns of PAN pixels inside the PAN
    assert reg["geotransform_offset"] == pytest.approx([1.0, 2.0], abs=1e-6)
    assert reg["r2_applied"] >= reg["r2_geotransform"]
    assert reg["applied_offset"] in (reg["measured_offset"], reg["geotransform_offset_rounded"])


def test_fr_test_scene(built):
    out, _ = built
    fr, attrs = _read(out, "fr_test/wv3-dos-float.h5")
    assert "gt" not in fr
    H, W = fr["pan"].shape[-2:]
    assert H % 32 == 0 and W % 32 == 0 and H > 0
    assert fr["ms"].shape == (1, 4, H // 4, W // 4) and fr["lms"].shape == (1, 4, H, W)
    assert fr["valid"].all()
    assert attrs["split"] == "fr_test" and json.loads(attrs["scaling"])["ms_scale"] > 0


def test_nodata_patches_are_excluded(tmp_path, built):
    """Copy the scene, punch a nodata hole (0) into the MS and rebuild."""
    _, clean = built
    hole_src = tmp_path / "scene"
    hole_src.mkdir()
    gdal.Translate(str(hole_src / "pan.tif"), str(DOS / "pan.tif"))
    ms_path = hole_src / "mul.tif"
    gdal.Translate(str(ms_path), str(DOS / "mul.tif"))
    ds = gdal.Open(str(ms_path), gdal.GA_Update)
    for b in range(1, 9):
        band = ds.GetRasterBand(b)
        arr = band.ReadAsArray()
        arr[30:33, 60:62] = 0.0                     # nodata value declared by the file
        band.WriteArray(arr)
    ds = None
    (hole_src / "scene.yaml").write_text(
        "name: dos-hole\ngroup: wv3\nsensor: wv3\nbit_depth: float32\nnodata: 0.0\n"
        "pan: pan.tif\nms: mul.tif\nms_bands: [1, 2, 4, 6]\nregistration: [3, 2]\n")
    out = tmp_path / "out"
    manifest = build_datasets(out, [str(hole_src / "scene.yaml")], patch=PATCH, stride=STRIDE,
                              log=lambda m: None)
    info = manifest["scenes"]["dos-hole"]
    i0, j0, _, _ = info["registration"]["ms_crop"]
    hole_r, hole_c = np.arange(30, 33) - i0, np.arange(60, 62) - j0
    arrays, _ = _read(out, "wv3/train.h5")
    assert len(arrays["gt"]) < clean["scenes"]["wv3-dos-float"]["counts"]["train"]
    reach = 20                                            # MTF kernel half support (GT px)
    for y, x in arrays["origin"]:
        near_r = (hole_r.max() >= y - reach) and (hole_r.min() < y + PATCH + reach)
        near_c = (hole_c.max() >= x - reach) and (hole_c.min() < x + PATCH + reach)
        assert not (near_r and near_c), f"patch at {(y, x)} touches the nodata hole"
    assert np.isfinite(arrays["gt"]).all() and (arrays["gt"] > 0).all()


def test_plan_regions_by_hand():
    # 400 rows, patch 64, ratio 4: test = bottom 80 rows, val 64 rows, train >= 200 rows
    plan = plan_regions(400, 64, 4)
    assert plan["test"] == (320, 400)
    g = plan["gap"][0]
    assert plan["val"] == (320 - g - 64, 320 - g)
    assert plan["train"] == (0, 320 - 2 * g - 64) and plan["train"][1] >= 200
    assert g == 28                       # the one-patch gap shrinks to keep half of the rows
    big = plan_regions(2000, 64, 4)
    assert big["gap"] == (64, 64)        # tall scenes keep the full one-patch gap
    assert big["val"][1] + 64 == big["test"][0] and big["train"][1] + 64 == big["val"][0]
    assert plan_regions(125, 64, 4) is None   # three 64-row regions do not fit: test only
    for p in (plan, big):
        for r0, r1 in (p["train"], p["val"], p["test"]):
            assert r0 % 4 == 0


def test_registration_estimate_finds_a_known_shift():
    from scipy import ndimage

    rng = np.random.default_rng(0)
    pan = ndimage.gaussian_filter(rng.random((200, 200)), 2.0)
    oy, ox, r, n = 3, 2, 4, 45
    # MS pixel (i, j) = mean of the PAN block at rows 4i + 3 .. 4i + 6, cols 4j + 2 .. 4j + 5
    block = pan[oy: oy + r * n, ox: ox + r * n].reshape(n, r, n, r).mean(axis=(1, 3))
    ms = np.stack([block * g + o for g, o in ((1.0, 0.0), (0.8, 0.1), (1.2, -0.1), (0.5, 0.3))])
    est = estimate_registration(pan, ms, r, center=(0, 0))
    assert est["best"] == (oy, ox)
    assert est["r2"][(oy, ox)] > 0.999999
    assert est["r2"][(0, 0)] < est["r2"][(oy, ox)] - 0.05


@pytest.mark.skipif(not (shared_data_dir() / "qb-toulouse").is_dir(),
                    reason="qb-toulouse not available")
def test_small_scene_uses_its_own_patch_size_to_get_a_training_region(tmp_path):
    """QuickBird Toulouse (124 MS rows) cannot hold three 64-row regions; its scene entry
    asks for 32-row patches, so the sensor gets train/val/test regions instead of being
    test-only, and its group files say so."""
    assert plan_regions(124, 64, 4) is None
    manifest = build_datasets(tmp_path, ["qb-toulouse"], patch=64, stride=32,
                              log=lambda m: None)
    info = manifest["scenes"]["qb-toulouse"]
    assert info["role"] == "split" and info["patch"] == 32
    assert manifest["groups"]["qb"]["patch"] == 32
    (t0, t1), (v0, v1), (s0, s1) = (info["regions"][k] for k in ("train", "val", "test"))
    assert t1 <= v0 and v1 <= s0 and s1 == info["rows"]  # disjoint, top to bottom
    assert info["counts"]["train"] > 0 and info["counts"]["test"] > 0
    arrays, attrs = _read(tmp_path, "qb/train.h5")
    assert arrays["gt"].shape[-2:] == (32, 32) and arrays["pan"].shape[-2:] == (32, 32)
    assert int(attrs["patch_size"]) == 32 and int(attrs["stride"]) == 32
    # a scene may not ask for a larger patch than the dataset's
    with pytest.raises(Exception, match="larger"):
        build_datasets(tmp_path / "small", ["qb-toulouse"], patch=16, stride=16,
                       log=lambda m: None)
