"""engine.trainer.datasets: PanCollection HDF5 / MATLAB readers, PanTiny TIF folders, concatenation."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

h5py = pytest.importorskip("h5py")

from engine.trainer.datasets import (FrScene, H5PanDataset, TifFolderDataset, balanced_weights,  # noqa: E402
                             concat_datasets, pillow_bicubic_resize)
from engine.errors import InputError  # noqa: E402
from engine.filters import imresize_bicubic  # noqa: E402

SHARED = Path(os.environ.get("PANTINY_SHARED_DATA") or os.environ.get("PANTINY_DATA")
              or Path(__file__).resolve().parents[3].parent / "shared" / "data")
RR_PATCHES = SHARED / "wv3-rr-patches" / "train.mat"


def _pancollection(path, n=3, c=8, size=16, ratio=4, with_gt=True, attrs=None, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "ms": rng.integers(0, 2048, (n, c, size // ratio, size // ratio), dtype=np.uint16),
        "lms": rng.integers(0, 2048, (n, c, size, size), dtype=np.uint16),
        "pan": rng.integers(0, 2048, (n, 1, size, size), dtype=np.uint16),
    }
    if with_gt:
        arrays["gt"] = rng.integers(0, 2048, (n, c, size, size), dtype=np.uint16)
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f.create_dataset(k, data=v)
        for k, v in (attrs or {}).items():
            f.attrs[k] = v
    return arrays


def test_pancollection_h5_shapes_scale_and_bands(tmp_path):
    p = tmp_path / "train_wv3.h5"
    raw = _pancollection(p)
    with pytest.raises(InputError, match="scale"):
        H5PanDataset(p)                       # raw DN without a stated range: refuse
    ds = H5PanDataset(p, scale=2047)
    assert len(ds) == 3 and ds.layout == "nchw" and ds.ratio == 4 and ds.has_gt
    s = ds[1]
    assert s["dataset"] == "train_wv3" and s["index"] == 1
    assert s["gt"].shape == (8, 16, 16) and s["ms"].shape == (8, 4, 4)
    assert s["lms"].shape == (8, 16, 16) and s["pan"].shape == (1, 16, 16)
    assert all(s[k].dtype == torch.float32 for k in ("gt", "ms", "lms", "pan"))
    np.testing.assert_allclose(s["gt"].numpy(), raw["gt"][1] / 2047.0, rtol=1e-6)
    # sensor name -> 2^bits - 1, band subset B, G, R, NIR of 8 bands
    ds4 = H5PanDataset(p, scale="wv3", bands=(1, 2, 4, 6), in_memory=False)
    s4 = ds4[2]
    assert ds4.scale == 2047.0 and s4["ms"].shape == (4, 4, 4)
    np.testing.assert_allclose(s4["lms"].numpy(), raw["lms"][2][[1, 2, 4, 6]] / 2047.0, rtol=1e-6)
    ds4.close()


def test_full_resolution_file_without_gt_and_attribute_scale(tmp_path):
    p = tmp_path / "test_fr.h5"
    raw = _pancollection(p, n=1, c=4, with_gt=False, attrs={"img_range": 1023.0,
                                                            "dataset": "gf2"})
    ds = H5PanDataset(p)
    assert not ds.has_gt and ds.scale == 1023.0 and ds.name == "gf2"
    s = ds[0]
    assert "gt" not in s
    np.testing.assert_allclose(s["pan"].numpy(), raw["pan"][0] / 1023.0, rtol=1e-6)
    fr = FrScene(p, ms_gnyq=(0.3,) * 4, pan_gnyq=0.15)
    assert fr.pan.shape == (16, 16) and fr.ms.shape == (4, 4, 4) and fr.valid.all()
    np.testing.assert_allclose(fr.ms, raw["ms"][0] / 1023.0)


def test_matlab_v73_layout_is_transposed(tmp_path):
    """A MATLAB v7.3 file is HDF5 with a 512-byte user block and reversed axes."""
    rng = np.random.default_rng(5)
    gt = rng.integers(0, 2048, (2, 16, 16, 4)).astype(np.float64)        # N x H x W x C
    ms = rng.integers(0, 2048, (2, 4, 4, 4)).astype(np.float64)
    pan = rng.integers(0, 2048, (2, 16, 16)).astype(np.float64)
    p = tmp_path / "v73.mat"
    with h5py.File(p, "w", userblock_size=512) as f:
        for k, v in (("gt", gt), ("lms", gt), ("ms", ms), ("pan", pan)):
            f.create_dataset(k, data=np.transpose(v))                        # MATLAB order
    with open(p, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116, b" "))
    for in_memory in (True, False):
        ds = H5PanDataset(p, scale=2047, in_memory=in_memory)
        assert ds.layout == "nhwc" and len(ds) == 2
        s = ds[1]
        np.testing.assert_allclose(s["gt"].numpy(), np.moveaxis(gt[1], -1, 0) / 2047, rtol=1e-6)
        np.testing.assert_allclose(s["ms"].numpy(), np.moveaxis(ms[1], -1, 0) / 2047, rtol=1e-6)
        np.testing.assert_allclose(s["pan"].numpy()[0], pan[1] / 2047, rtol=1e-6)
        ds.close()


@pytest.mark.skipif(not RR_PATCHES.is_file(), reason="shared data folder not available")
def test_real_rr_patches_mat_v5():
    from scipy import io as sio

    ds = H5PanDataset(RR_PATCHES, scale=2047)
    assert len(ds) == 100 and ds.layout == "nhwc" and ds.ratio == 4 and ds.band_count == 8
    s0, s99 = ds[0], ds[99]
    assert s0["gt"].shape == (8, 64, 64) and s0["lms"].shape == (8, 64, 64)
    assert s0["ms"].shape == (8, 16, 16) and s0["pan"].shape == (1, 64, 64)
    for k in ("gt", "ms", "lms", "pan"):           # the file repeats one patch 100 times
        assert torch.equal(s0[k], s99[k])
    raw = sio.loadmat(RR_PATCHES)
    np.testing.assert_allclose(s0["gt"].numpy(), np.moveaxis(raw["gt"][0], -1, 0) / 2047, rtol=1e-6)
    np.testing.assert_allclose(s0["pan"].numpy()[0], raw["pan"][0] / 2047, rtol=1e-6)
    assert float(s0["gt"].max()) == pytest.approx(1.0)      # 11-bit data: max DN 2047
    assert float(s0["gt"].min()) == pytest.approx(1 / 2047)  # "some pixels at DN 1"
    four = H5PanDataset(RR_PATCHES, scale="wv3", bands=(1, 2, 4, 6))[0]
    torch.testing.assert_close(four["gt"], s0["gt"][[1, 2, 4, 6]])


def _write_tif(path, arr):
    """(C, H, W) uint8 -> GeoTIFF.  GDAL tags a 4-band Byte file RGBA (4th band = alpha),
    as many PanTiny TIFs are: the reader must still return the NIR values."""
    gdal = pytest.importorskip("osgeo.gdal")
    bands, h, w = arr.shape
    ds = gdal.GetDriverByName("GTiff").Create(str(path), w, h, bands, gdal.GDT_Byte)
    for b in range(bands):
        ds.GetRasterBand(b + 1).WriteArray(arr[b])
    ds.FlushCache()
    ds = None


@pytest.fixture()
def tif_folder(tmp_path):
    rng = np.random.default_rng(7)
    root = tmp_path / "WV2_data" / "train128"
    (root / "ms").mkdir(parents=True)
    (root / "pan").mkdir(parents=True)
    from scipy import ndimage

    gts = []
    for n in (1, 2, 10):
        smooth = ndimage.gaussian_filter(rng.random((4, 128, 128)), (0, 2, 2))
        gt = np.round((smooth - smooth.min()) / np.ptp(smooth) * 255).astype(np.uint8)
        pan = gt.mean(axis=0).round().astype(np.uint8)
        _write_tif(root / "ms" / f"{n}.tif", gt)
        _write_tif(root / "pan" / f"{n}.tif", pan[None])
        gts.append((gt, pan))
    return root, gts


def test_tif_folder_makes_lr_ms_on_the_fly(tif_folder):
    root, gts = tif_folder
    ds = TifFolderDataset(root)
    assert len(ds) == 3 and ds.name == "WV2_data" and ds.has_gt
    assert [p[0].name for p in ds.files] == ["1.tif", "2.tif", "10.tif"]   # natural order
    s = ds[2]
    gt, pan = gts[2]
    # the 4th band (tagged alpha by GDAL) is read as data
    np.testing.assert_allclose(s["gt"].numpy(), gt / 255.0, rtol=1e-6)
    np.testing.assert_allclose(s["pan"].numpy()[0], pan / 255.0, rtol=1e-6)
    assert s["ms"].shape == (4, 32, 32) and s["lms"].shape == (4, 128, 128)
    ms_dn = s["ms"].numpy().astype(np.float64) * 255          # quantised to 8 bit
    np.testing.assert_allclose(ms_dn, np.round(ms_dn), atol=1e-3)
    # the MATLAB-equivalent resize is within one 8-bit level away from the borders
    matlab = TifFolderDataset(root, resize="matlab")[2]["ms"].numpy() * 255
    assert np.abs(matlab - ms_dn)[:, 3:-3, 3:-3].max() <= 1.0 + 1e-3
    np.testing.assert_allclose(matlab, np.clip(np.rint(imresize_bicubic(gt.astype(float), 0.25)),
                                               0, 255), atol=1e-3)


def test_tif_folder_equals_pillow_bicubic_exactly(tif_folder):
    Image = pytest.importorskip("PIL.Image")
    root, gts = tif_folder
    s = TifFolderDataset(root)[0]
    gt = gts[0][0]
    pil = Image.fromarray(np.moveaxis(gt, 0, -1), "CMYK")
    down = np.moveaxis(np.asarray(pil.resize((32, 32), Image.BICUBIC)), -1, 0).astype(float)
    up_img = Image.fromarray(np.moveaxis(down.astype(np.uint8), 0, -1), "CMYK")
    up = np.moveaxis(np.asarray(up_img.resize((128, 128), Image.BICUBIC)), -1, 0).astype(float)
    np.testing.assert_array_equal(np.rint(s["ms"].numpy() * 255), down)
    np.testing.assert_array_equal(np.rint(s["lms"].numpy() * 255), up)
    # also for a non-square, odd-factor case, in one band ('L' mode)
    band = gt[0, :100, :70]
    ref = np.asarray(Image.fromarray(band, "L").resize((23, 31), Image.BICUBIC)).astype(float)
    np.testing.assert_array_equal(pillow_bicubic_resize(band[None], 31, 23)[0], ref)


def test_tif_folder_antialiases_a_checkerboard(tmp_path):
    root = tmp_path / "set" / "train128"
    (root / "ms").mkdir(parents=True)
    (root / "pan").mkdir(parents=True)
    board = ((np.indices((128, 128)).sum(axis=0) % 2) * 200).astype(np.uint8)
    _write_tif(root / "ms" / "1.tif", np.stack([board] * 4))
    _write_tif(root / "pan" / "1.tif", board[None])
    ms = TifFolderDataset(root)[0]["ms"].numpy() * 255
    # an antialiased shrink averages the pattern to ~100; point sampling would give 0 or 200
    assert np.abs(ms[:, 4:-4, 4:-4] - 100).max() <= 1.0


def test_tif_folder_errors(tmp_path):
    with pytest.raises(InputError, match="'ms' and 'pan'"):
        TifFolderDataset(tmp_path)


def test_concat_plain_and_balanced(tmp_path):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    _pancollection(a, n=2, c=4, attrs={"img_range": 2047.0})
    _pancollection(b, n=18, c=4, attrs={"img_range": 2047.0}, seed=1)
    da, db = H5PanDataset(a), H5PanDataset(b)
    concat, sampler = concat_datasets([da, db])
    assert len(concat) == 20 and sampler is None
    assert concat[19]["dataset"] == "b" and concat[0]["dataset"] == "a"
    w = balanced_weights([2, 18])
    assert float(w[:2].sum()) == pytest.approx(0.5) and float(w[2:].sum()) == pytest.approx(0.5)
    concat, sampler = concat_datasets([da, db], balanced=True, num_samples=4000,
                                      generator=torch.Generator().manual_seed(0))
    idx = np.array(list(sampler))
    assert idx.size == 4000
    share_a = np.mean(idx < 2)                 # plain sampling would give 0.1
    assert abs(share_a - 0.5) < 0.04
    with pytest.raises(InputError):
        concat_datasets([])
