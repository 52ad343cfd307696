"""Shared fixtures. ``../shared`` (real media and mocap) is optional: tests that need it skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("POSE3D_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ``../shared`` folder, or skip the test when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared material not found at {SHARED}")
    return SHARED


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own empty model cache, so no test sees a user's downloads."""
    monkeypatch.setenv("POSE3D_HOME", str(tmp_path_factory.mktemp("pose3d_home")))
    monkeypatch.delenv("POSE3D_MODEL_URL", raising=False)
