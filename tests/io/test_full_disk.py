"""A full disk while writing: the render and the exports fail with one line, a non-zero exit,
and no file under its final name. Uses a real 300 KiB tmpfs (needs root to mount; skipped
otherwise)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pose3d_cli.errors import VideoError
from pose3d_cli.io.video import VideoWriter

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "walk.mp4"


@pytest.fixture
def tiny_disk(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mnt)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        with contextlib.suppress(Exception):
            subprocess.run(["umount", str(mnt)], check=False)


def test_encoder_running_out_of_space_leaves_nothing(tiny_disk):
    rng = np.random.default_rng(0)
    out = tiny_disk / "out.mp4"
    with pytest.raises(VideoError, match="No space left on device|not playable") as exc:
        with VideoWriter(out, fps=25) as w:
            for _ in range(40):  # noise does not compress: well over 300 KiB
                w.write(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8))
    assert str(exc.value).startswith(str(out)) and "\n" not in str(exc.value)
    assert list(tiny_disk.iterdir()) == []  # no final file, no temporary left


@pytest.mark.slow
def test_infer_onto_a_full_disk_exits_non_zero(tiny_disk, tiny_ckpt):
    from pose3d_cli.cli import main

    rc = main(["infer", str(EXAMPLE), "--keypoints", str(_keypoints(tiny_disk.parent)), "--checkpoint",
               str(tiny_ckpt), "--out-dir", str(tiny_disk), "--export", "npz,json,csv", "-q"])
    assert rc in (2, 4)
    leftovers = [p.name for p in tiny_disk.iterdir()]
    assert "walk.pose3d.mp4" not in leftovers and not [n for n in leftovers if ".tmp-" in n]


def test_output_below_a_regular_file_is_one_line(tmp_path, tiny_ckpt, capsys):
    from pose3d_cli.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc = main(["infer", str(EXAMPLE), "--keypoints", str(_keypoints(tmp_path)), "--checkpoint", str(tiny_ckpt),
               "--out-dir", str(blocker / "sub"), "--no-render", "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 4 and len(err) == 1 and "cannot write here" in err[0]


def _keypoints(folder: Path) -> Path:
    """Keypoints of the example clip made without a detector: a still figure in every frame."""
    from pose3d_cli.io.keypoint_file import KeypointTrack, save_keypoints
    from pose3d_cli.io.video import probe_video

    path = folder / "walk.keypoints.npz"
    if not path.exists():
        info = probe_video(EXAMPLE)
        figure = np.array([[0, -160], [-8, -168], [8, -168], [-16, -164], [16, -164], [-40, -120], [40, -120],
                           [-50, -60], [50, -60], [-55, 0], [55, 0], [-25, 0], [25, 0], [-28, 90], [28, 90],
                           [-30, 180], [30, 180]], np.float32) + [640, 240]
        kpts = np.repeat(figure[None], info.num_frames, axis=0)
        save_keypoints(KeypointTrack(kpts, None, info.width, info.height, fps=info.fps), path)
    return path
