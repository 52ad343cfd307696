"""Fixtures of the zoo tests: the local model server and small real checkpoints."""

from __future__ import annotations

import pytest
from zoo_testkit import ModelServer, videopose3d_checkpoint_bytes

from pose3d_cli.zoo.verify import forget_verified


@pytest.fixture
def server():
    """A fresh real HTTP server on 127.0.0.1 for one test."""
    srv = ModelServer()
    yield srv
    srv.close()


@pytest.fixture(scope="session")
def ckpt_9f() -> bytes:
    """A 9-frame (3, 3), 32-channel COCO-17 → H36M-17 lifter in the published dict layout."""
    return videopose3d_checkpoint_bytes((3, 3), 32, 17, 17, seed=1)


@pytest.fixture(scope="session")
def ckpt_9f_other() -> bytes:
    """Same architecture as ``ckpt_9f``, different weights (a different, valid file)."""
    return videopose3d_checkpoint_bytes((3, 3), 32, 17, 17, seed=2)


@pytest.fixture(scope="session")
def ckpt_27f() -> bytes:
    """A 27-frame (3, 3, 3), 32-channel COCO-17 → H36M-17 lifter (a different architecture)."""
    return videopose3d_checkpoint_bytes((3, 3, 3), 32, 17, 17, seed=3)


@pytest.fixture(autouse=True)
def _fresh_verification_memory():
    forget_verified()
    yield
    forget_verified()
