"""Readers of user text files are bounded: only regular files, a maximum size, a maximum line
length; crossing a bound is one line naming the file, at once (never a read without end)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from pose3d_cli.errors import InputError
from pose3d_cli.io.bounded import read_text_bounded


def test_device_fifo_and_folder_are_refused_without_reading(tmp_path):
    with pytest.raises(InputError) as err:
        read_text_bounded("/dev/zero", what="BVH file", max_bytes=1 << 30)
    assert str(err.value) == ("/dev/zero: not a regular file (a device, pipe or socket); give a BVH "
                              "file saved on disk")
    fifo = tmp_path / "pipe.bvh"
    os.mkfifo(fifo)
    # nobody writes to the FIFO: opening it to read would block for ever
    with pytest.raises(InputError, match="pipe.bvh: not a regular file"):
        read_text_bounded(fifo, what="BVH file", max_bytes=1000)
    with pytest.raises(InputError, match="is a folder, expected a BVH file"):
        read_text_bounded(tmp_path, what="BVH file", max_bytes=1000)
    with pytest.raises(InputError, match=r"missing.bvh: cannot read BVH file \(no such file\); check the path"):
        read_text_bounded(tmp_path / "missing.bvh", what="BVH file", max_bytes=1000)


def test_size_and_line_length_bounds(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"x" * 2000)
    with pytest.raises(InputError) as err:
        read_text_bounded(path, what="ASF file", max_bytes=1999)
    assert str(err.value) == (f"{path}: ASF file is larger than the 1999 bytes pose3d reads; split it "
                              "into shorter files")
    assert read_text_bounded(path, what="ASF file", max_bytes=2000, max_line=2000) == "x" * 2000
    path.write_bytes(b"short\nline\n" + b"y" * 101 + b"\nend\n")
    with pytest.raises(InputError, match=r"a.txt: line 3 is longer than 100 bytes; not a AMC file"):
        read_text_bounded(path, what="AMC file", max_bytes=10_000, max_line=100)
    # old Mac line ends: '\r' alone ends a line too
    path.write_bytes(b"\r".join([b"z" * 90] * 20))
    assert read_text_bounded(path, what="AMC file", max_bytes=10_000, max_line=100).count("\r") == 19
    path.write_bytes(b"\r".join([b"z" * 90] * 3 + [b"w" * 150]))
    with pytest.raises(InputError, match="line 4 is longer than 100 bytes"):
        read_text_bounded(path, what="AMC file", max_bytes=10_000, max_line=100)


def _cap_memory() -> None:
    """In the child: at most 3 GiB of data, so a reader without bound dies of MemoryError
    instead of eating the machine (the bug read 24 GB before the kernel killed it)."""
    resource.setrlimit(resource.RLIMIT_DATA, (3 << 30, 3 << 30))


@pytest.mark.slow
def test_dataset_mocap_on_dev_zero_fails_at_once_in_one_line(tmp_path):
    """`pose3d dataset mocap --bvh /dev/zero`, through the console entry point."""
    proc = subprocess.run([sys.executable, "-m", "pose3d_cli", "dataset", "mocap", "--bvh", "/dev/zero",
                           "--out-dir", str(tmp_path / "ds")], capture_output=True, text=True,
                          timeout=120, preexec_fn=_cap_memory, check=False)
    assert proc.returncode == 2, proc.stderr[-500:]
    assert proc.stderr.strip() == ("pose3d: error: /dev/zero: not a regular file (a device, pipe or "
                                   "socket); give a BVH file saved on disk")
    assert not (tmp_path / "ds").exists()


def test_bvh_and_asf_readers_use_the_bounds(tmp_path, monkeypatch):
    from pose3d_cli.io.bvh import read_bvh
    from pose3d_cli.training.asf import _read_amc, read_asf_amc

    big = tmp_path / "huge.bvh"
    big.write_bytes(b"HIERARCHY\n" + b"9" * 3000 + b"\n")
    monkeypatch.setattr("pose3d_cli.io.bvh.MAX_MOCAP_BYTES", 2000)
    with pytest.raises(InputError, match="huge.bvh: BVH file is larger than the 2000 bytes"):
        read_bvh(big)
    with pytest.raises(InputError, match="/dev/zero: not a regular file"):
        read_asf_amc("/dev/zero", tmp_path / "x.amc")
    with pytest.raises(InputError, match="/dev/zero: not a regular file"):
        _read_amc(Path("/dev/zero"), {})
