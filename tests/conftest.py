"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def find_shared_data() -> Path | None:
    """The read-only folder of real scenes: $PANTINY_DATA, else ``<repo>/../shared/data``."""
    candidates = [os.environ.get("PANTINY_DATA"), REPO.parent / "shared" / "data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "README.md").is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data``; the real-scene tests fail loudly when it is missing."""
    path = find_shared_data()
    assert path is not None, "the shared data folder ../shared/data is missing"
    return path


@pytest.fixture(scope="module")
def torch_one_thread():
    """Single-threaded torch for a whole test module (steadier on small, shared CI
    machines: two threads on two busy cores were up to 8x slower than one)."""
    torch = pytest.importorskip("torch")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
