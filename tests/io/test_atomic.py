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


def test_temporaries_of_killed_runs_are_removed_by_the_next_run(tmp_path):
    """A run killed with SIGKILL cannot remove its temporary file; the next run writing the same
    output removes it (its process is gone), and leaves a live writer's file alone."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "clip.pose3d.mp4"
    script = (f"import time; from pose3d_cli.io.atomic import atomic_path\n"
              f"with atomic_path({str(out)!r}) as tmp:\n    tmp.write_bytes(b'partial'); print('ready', flush=True); time.sleep(60)\n")
    victim = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    live = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert victim.stdout.readline().strip() == "ready" and live.stdout.readline().strip() == "ready"
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        stale = [p for p in tmp_path.iterdir() if p.name.startswith(".clip.pose3d.mp4.tmp-")]
        assert len(stale) == 2
        with atomic_path(out) as tmp:
            tmp.write_bytes(b"done")
        left = [p for p in tmp_path.iterdir() if p.name.startswith(".clip.pose3d.mp4.tmp-")]
        assert len(left) == 1 and f"-{live.pid}-" in left[0].name  # the live writer's, untouched
        assert out.read_bytes() == b"done"
    finally:
        for proc in (victim, live):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        time.sleep(0)


def test_check_not_inputs(tmp_path):
    from pose3d_cli.errors import InputError
    from pose3d_cli.io.atomic import check_not_inputs

    src = tmp_path / "in.mp4"
    src.write_bytes(b"x")
    hard = tmp_path / "hard.mp4"
    os.link(src, hard)
    check_not_inputs([tmp_path / "out.mp4"], [src, None])
    for clash in (src, tmp_path / "sub" / ".." / "in.mp4", hard):
        with pytest.raises(InputError, match="would replace the input"):
            check_not_inputs([clash], [src])
