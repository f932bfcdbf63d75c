"""Shared fixtures: one tiny dataset built once from a real scene (wv3-dos-float)."""

import pytest

from training.build_datasets import build_datasets, shared_data_dir

#: patch / stride of the tiny test dataset (GT pixels at reduced scale)
TINY_PATCH, TINY_STRIDE = 32, 8


@pytest.fixture(scope="session")
def dos_dataset(tmp_path_factory):
    """``(out_dir, manifest)`` of wv3-dos-float built with 32-pixel patches (about 90
    train, 4 val, 4 test patches and one 128 x 576 FR test scene)."""
    if not (shared_data_dir() / "wv3-dos-float" / "mul.tif").is_file():
        pytest.skip("shared data folder not available")
    pytest.importorskip("h5py")
    out = tmp_path_factory.mktemp("dos_dataset")
    manifest = build_datasets(out, ["wv3-dos-float"], patch=TINY_PATCH, stride=TINY_STRIDE,
                              log=lambda m: None)
    return out, manifest


@pytest.fixture()
def one_thread():
    """Single-threaded torch: faster and steadier on small CI machines."""
    torch = pytest.importorskip("torch")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
