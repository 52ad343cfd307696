"""Shared fixtures. ``../shared`` (real media and mocap) is optional: tests that need it skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("POSE3D_SHARED", REPO.parent / "shared"))


def pytest_configure(config):
    """Under pytest-xdist (``-n N``) every worker gets one thread for OpenMP and torch: N workers
    each spinning a thread per core would fight over the cores."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[name] = "1"
        import torch

        torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """Every test that uses ``shared_dir`` carries the ``needs_shared`` marker."""
    for item in items:
        if "shared_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.needs_shared)


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


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    """A randomly initialised 27-frame, 32-channel COCO-17 → H36M-17 lifter in the pose3d format:
    a stand-in for trained weights in plumbing tests (the numbers it lifts are meaningless)."""
    import torch

    from pose3d_cli.lifting.checkpoint import save_checkpoint
    from pose3d_cli.lifting.model import ArchSpec, TemporalModel

    torch.manual_seed(0)
    model = TemporalModel(ArchSpec(filter_widths=(3, 3, 3), channels=32))
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.pt", model, layout_in="coco17",
                           layout_out="h36m17")


@pytest.fixture(scope="session")
def mocap_files(shared_dir, tmp_path_factory) -> dict:
    """A small dataset in the paper's formats made from the real captures in ``../shared/mocap``
    (first 40 s of each, seed 0): ``{"3d", "gt", "det"}`` → path. Generated once per session."""
    from pose3d_cli.training.synth import generate_mocap_files

    bvh = sorted((shared_dir / "mocap").glob("*.bvh"))
    return generate_mocap_files(bvh, tmp_path_factory.mktemp("mocap_ds"), "mocap", seed=0, max_seconds=40)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for training tests: on a shared 2-core machine OpenMP threads spin
    against each other and a small model trains several times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
