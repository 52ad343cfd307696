"""Short real clips cut from ``../shared/media`` with the real ffmpeg, shared by the detector tests."""

from __future__ import annotations

from pathlib import Path

import imageio_ffmpeg
import pytest

from pose3d_cli.io.video import run_ffmpeg


@pytest.fixture(scope="session")
def man_on_box_mp4(tmp_path_factory, shared_dir) -> Path:
    """sports2d frames 0–59 at half size: a man facing the camera dances on a box (2 s)."""
    out = tmp_path_factory.mktemp("kp_clips") / "man_on_box.mp4"
    run_ffmpeg(["-i", str(shared_dir / "media" / "sports2d_demo.mp4"), "-frames:v", "60", "-an",
                "-vf", "scale=884:498", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18",
                "-pix_fmt", "yuv420p", str(out)])
    return out


@pytest.fixture(scope="session")
def man_on_box_rotated_mp4(tmp_path_factory, man_on_box_mp4) -> Path:
    """The same clip stored as a phone would: pixels turned 90° clockwise, and display-matrix
    metadata saying "rotate 90° counter-clockwise to show"."""
    folder = tmp_path_factory.mktemp("kp_rot")
    sideways = folder / "sideways.mp4"
    run_ffmpeg(["-i", str(man_on_box_mp4), "-vf", "transpose=clock", "-c:v", "libx264", "-preset", "veryfast",
                "-crf", "18", "-pix_fmt", "yuv420p", str(sideways)])
    out = folder / "phone.mp4"
    run_ffmpeg(["-display_rotation", "90", "-i", str(sideways), "-c", "copy", str(out)],
               exe=imageio_ffmpeg.get_ffmpeg_exe())  # -display_rotation needs ffmpeg >= 6 (Debian 12 has 5.1)
    return out


@pytest.fixture(scope="session")
def vtest_walker_mp4(tmp_path_factory, shared_dir) -> Path:
    """vtest.avi frames 0–11 cropped around one walker (about 100 px tall) and upscaled ×2."""
    out = tmp_path_factory.mktemp("kp_clips") / "walker.mp4"
    run_ffmpeg(["-i", str(shared_dir / "media" / "vtest.avi"), "-frames:v", "12",
                "-vf", "crop=208:220:560:180,scale=416:440:flags=bicubic", "-c:v", "libx264", "-crf", "16",
                "-pix_fmt", "yuv420p", str(out)])
    return out


@pytest.fixture(scope="session")
def nobody_mp4(tmp_path_factory, shared_dir) -> Path:
    """vtest.avi frames 0–9 cropped to the building and the lamp post: real video, no person."""
    out = tmp_path_factory.mktemp("kp_clips") / "nobody.mp4"
    run_ffmpeg(["-i", str(shared_dir / "media" / "vtest.avi"), "-frames:v", "10",
                "-vf", "crop=400:120:300:0", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(out)])
    return out
