"""Atomic outputs: renamed into place only on success, usual permissions, no clobbering."""

import os
import stat

import pytest

from pose3d_cli.errors import OutputExistsError
from pose3d_cli.io.atomic import atomic_path


def test_success_renames_into_place_with_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        out = tmp_path / "sub" / "clip.pose3d.npz"
        with atomic_path(out) as tmp:
            assert tmp.parent == out.parent and tmp.suffix == ".npz" and tmp != out
            tmp.write_bytes(b"data")
            assert not out.exists()
        assert out.read_bytes() == b"data"
        assert stat.S_IMODE(out.stat().st_mode) == 0o644
        assert list(out.parent.iterdir()) == [out]
    finally:
        os.umask(old)


def test_failure_leaves_nothing(tmp_path):
    out = tmp_path / "x.mp4"
    with pytest.raises(RuntimeError):
        with atomic_path(out) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_overwrite(tmp_path):
    out = tmp_path / "x.npz"
    out.write_bytes(b"keep")
    with pytest.raises(OutputExistsError, match="pass --overwrite"):
        with atomic_path(out, overwrite=False):
            pass
    assert out.read_bytes() == b"keep"
    with atomic_path(out, overwrite=True) as tmp:
        tmp.write_bytes(b"new")
    assert out.read_bytes() == b"new"
