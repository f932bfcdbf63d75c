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
