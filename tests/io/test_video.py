"""Video probe / decode / encode on real files made with the real ffmpeg (no mocks)."""

from __future__ import annotations

import os
from pathlib import Path

import av
import cv2
import imageio_ffmpeg
import numpy as np
import pytest

from pose3d_cli.errors import OutputExistsError, VideoError
from pose3d_cli.io.video import (
    VideoWriter,
    find_ffmpeg,
    iter_frames,
    list_images,
    probe_video,
    read_frames,
    run_ffmpeg,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def walker_mp4(tmp_path_factory, shared_dir) -> Path:
    """1 s of the real sports2d clip (both people visible), 442x248, H.264 + AAC audio, moov at the end."""
    out = tmp_path_factory.mktemp("clips") / "walk.mp4"
    run_ffmpeg(["-ss", "2", "-i", str(shared_dir / "media" / "sports2d_demo.mp4"), "-frames:v", "30",
                "-t", "1", "-vf", "scale=442:248", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt",
                "yuv420p", "-c:a", "aac", str(out)])
    return out


def test_probe_real_media(shared_dir):
    s2d = probe_video(shared_dir / "media" / "sports2d_demo.mp4")
    assert (s2d.width, s2d.height, s2d.num_frames) == (1768, 994, 230)
    assert s2d.fps == pytest.approx(30.0, abs=1e-3)
    assert s2d.has_audio and s2d.codec == "vp9" and s2d.rotation_deg == 0
    assert s2d.duration_s == pytest.approx(230 / 30, abs=0.05)
    vt = probe_video(shared_dir / "media" / "vtest.avi")
    assert (vt.width, vt.height, vt.num_frames, vt.has_audio) == (768, 576, 795, False)
    assert vt.fps == pytest.approx(10.0)


def test_decode_yields_every_frame_as_rgb(walker_mp4):
    info = probe_video(walker_mp4)
    assert (info.width, info.height, info.num_frames, info.has_audio) == (442, 248, 30, True)
    frames = read_frames(walker_mp4)
    assert frames.shape == (30, 248, 442, 3) and frames.dtype == np.uint8
    # RGB order: the grass along the bottom edge is greener than it is blue.
    grass = frames[0, -30:].reshape(-1, 3).astype(float).mean(0)
    assert grass[1] > grass[2] + 20
    # start/end select exact frames
    part = read_frames(walker_mp4, 10, 13)
    np.testing.assert_array_equal(part, frames[10:13])


@pytest.mark.parametrize("ext,codec_args", [
    ("mov", ["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
    ("avi", ["-c:v", "mpeg4", "-q:v", "3"]),
    ("mkv", ["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
    ("webm", ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "400k"]),
])
def test_each_container(tmp_path, walker_mp4, ext, codec_args):
    out = tmp_path / f"clip.{ext}"
    run_ffmpeg(["-i", str(walker_mp4), "-frames:v", "12", "-an", *codec_args, str(out)])
    info = probe_video(out)
    frames = read_frames(out)
    assert (info.width, info.height) == (442, 248)
    assert info.num_frames == len(frames) == 12
    assert info.fps == pytest.approx(30.0, rel=0.02)
    ref = read_frames(walker_mp4, 0, 12).astype(float)
    assert np.abs(frames.astype(float) - ref).mean() < 12  # same picture after a lossy re-encode


def test_variable_frame_rate_average(tmp_path):
    """10 frames in the first second, 30 in the next: the true average is 20 fps, 40 frames."""
    out = tmp_path / "vfr.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=1", "-f", "lavfi", "-i",
                "testsrc2=size=64x48:rate=30:duration=1", "-filter_complex", "[0:v][1:v]concat=n=2:v=1",
                "-fps_mode", "passthrough", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(out)])
    info = probe_video(out)
    assert info.num_frames == 40 == sum(1 for _ in iter_frames(out))
    assert info.fps == pytest.approx(20.0, rel=0.03)
    assert info.duration_s == pytest.approx(2.0, rel=0.03)
    assert info.variable_frame_rate


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_rotation_metadata_is_applied(tmp_path, walker_mp4, rotation):
    out = tmp_path / f"rot{rotation}.mp4"
    run_ffmpeg(["-display_rotation", str(rotation), "-i", str(walker_mp4), "-c", "copy", str(out)],
               exe=imageio_ffmpeg.get_ffmpeg_exe())  # -display_rotation needs ffmpeg >= 6 (Debian 12 has 5.1)
    info = probe_video(out)
    assert info.rotation_deg == rotation % 360
    assert (info.width, info.height) == ((248, 442) if rotation % 180 else (442, 248))
    got = read_frames(out, 0, 3)
    want = np.stack([np.rot90(f, rotation // 90) for f in read_frames(walker_mp4, 0, 3)])
    np.testing.assert_array_equal(got, want)  # same bitstream: pixel-exact


def test_image_folder_and_glob(tmp_path, walker_mp4):
    frames = read_frames(walker_mp4, 0, 12)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, f in enumerate(frames):  # f1.png … f12.png: natural order must put f2 before f10
        cv2.imwrite(str(folder / f"f{i + 1}.png"), f[..., ::-1])
    (folder / "notes.txt").write_text("not an image")
    assert [p.name for p in list_images(folder)][:3] == ["f1.png", "f2.png", "f3.png"]
    info = probe_video(folder, fps=12.5)
    assert (info.num_frames, info.width, info.height, info.fps) == (12, 442, 248, 12.5)
    assert info.is_image_sequence and probe_video(folder).fps == 30.0
    np.testing.assert_array_equal(read_frames(folder), frames)  # PNG is lossless
    glob_frames = read_frames(str(folder / "f1*.png"))  # f1, f10, f11, f12
    np.testing.assert_array_equal(glob_frames, frames[[0, 9, 10, 11]])


def test_image_folder_of_mixed_sizes_fails(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    cv2.imwrite(str(folder / "a1.png"), np.zeros((20, 30, 3), np.uint8))
    cv2.imwrite(str(folder / "a2.png"), np.zeros((22, 30, 3), np.uint8))
    with pytest.raises(VideoError, match="differs from the first"):
        read_frames(folder)


def _bad_inputs(tmp_path: Path, walker_mp4: Path) -> dict[str, tuple[Path, str]]:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    truncated = tmp_path / "truncated.mp4"  # moov atom at the end: cut it off
    data = walker_mp4.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    audio = tmp_path / "audio.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", str(audio)])
    no_images = tmp_path / "no_images"
    no_images.mkdir()
    return {
        "missing": (tmp_path / "missing.mp4", "no such file"),
        "empty": (empty, "empty"),
        "text": (text, "not a video"),
        "truncated": (truncated, "truncated"),
        "audio": (audio, "no video stream"),
        "folder": (no_images, "holds no images"),
        "glob": (tmp_path / "nothing*.png", "holds no images"),
    }


def test_bad_inputs_raise_one_line_video_errors(tmp_path, walker_mp4):
    for name, (path, words) in _bad_inputs(tmp_path, walker_mp4).items():
        with pytest.raises(VideoError) as info:
            probe_video(path)
        msg = str(info.value)
        assert words in msg and "\n" not in msg, (name, msg)
        assert str(path) in msg or path.name in msg, (name, msg)


def test_truncated_faststart_mp4_decodes_what_is_there_or_fails_clearly(tmp_path, walker_mp4):
    """moov at the front: the index promises 30 frames, the data stops half-way."""
    fast = tmp_path / "fast.mp4"
    run_ffmpeg(["-i", str(walker_mp4), "-c", "copy", "-movflags", "+faststart", str(fast)])
    cut = tmp_path / "fast_cut.mp4"
    data = fast.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    try:
        n = sum(1 for _ in iter_frames(cut))
    except VideoError as exc:
        assert "truncated" in str(exc)
    else:
        assert 0 < n < 30


def test_writer_encodes_h264_yuv420p_with_even_size(tmp_path, walker_mp4):
    frames = read_frames(walker_mp4, 0, 10)[:, :247, :441]  # odd size on purpose
    out = tmp_path / "out.mp4"
    with VideoWriter(out, fps=25.0) as w:
        for f in frames:
            w.write(f)
    assert out.is_file() and not list(tmp_path.glob(".out.tmp-*"))
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and s.codec_context.pix_fmt == "yuv420p"
        assert (s.codec_context.width, s.codec_context.height) == (442, 248)
    info = probe_video(out)
    assert info.num_frames == 10 and info.fps == pytest.approx(25.0)
    back = read_frames(out)[:, :247, :441].astype(float)
    mse = ((back - frames.astype(float)) ** 2).mean()
    assert 10 * np.log10(255 ** 2 / mse) > 30  # PSNR in dB
    with pytest.raises(OutputExistsError):
        VideoWriter(out, fps=25.0, overwrite=False)


def test_writer_shows_ffmpeg_stderr_and_leaves_no_file(tmp_path):
    out = tmp_path / "bad.mp4"
    w = VideoWriter(out, fps=25.0, preset="no-such-preset")
    with pytest.raises(VideoError, match="ffmpeg") as info:
        for _ in range(50):
            w.write(np.zeros((32, 32, 3), np.uint8))
        w.close()
    assert "preset" in str(info.value).lower()
    assert not out.exists() and not list(tmp_path.iterdir())


def test_ffmpeg_falls_back_to_imageio_binary(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no ffmpeg on PATH
    monkeypatch.delenv("POSE3D_FFMPEG", raising=False)
    exe = find_ffmpeg()
    assert "imageio_ffmpeg" in exe and os.access(exe, os.X_OK)
    out = tmp_path / "fallback.mp4"
    with VideoWriter(out, fps=10) as w:
        for i in range(5):
            w.write(np.full((16, 16, 3), i * 40, np.uint8))
    assert probe_video(out).num_frames == 5
