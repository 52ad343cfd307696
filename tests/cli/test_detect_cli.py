"""``pose3d detect`` end to end on real video (``../shared/media``) with the real ffmpeg and mediapipe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from pose3d_cli.cli import main
from pose3d_cli.io.keypoint_file import load_keypoints
from pose3d_cli.io.video import read_frames, run_ffmpeg

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def clips(tmp_path_factory, shared_dir) -> dict[str, Path]:
    """One walker cropped from vtest.avi (frames 0–11, upscaled ×2, a sine as audio) in every
    container, an image folder, and the bad inputs."""
    d = tmp_path_factory.mktemp("detect_cli")
    out = {"mp4": d / "walker.mp4"}
    run_ffmpeg(["-i", str(shared_dir / "media" / "vtest.avi"), "-f", "lavfi", "-i", "sine=duration=1.2",
                "-frames:v", "12", "-vf", "crop=208:220:560:180,scale=416:440:flags=bicubic", "-c:v", "libx264",
                "-crf", "16", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(out["mp4"])])
    encoders = {"mov": ["-c:v", "libx264"], "avi": ["-c:v", "mpeg4", "-q:v", "3"], "mkv": ["-c:v", "libx264"],
                "webm": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "1M"]}
    for ext, args in encoders.items():
        out[ext] = d / f"man.{ext}"
        run_ffmpeg(["-i", str(out["mp4"]), "-an", *args, "-pix_fmt", "yuv420p", str(out[ext])])
    frames = read_frames(out["mp4"])
    out["folder"] = d / "frames"
    out["folder"].mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(out["folder"] / f"img_{i:03d}.jpg"), f[..., ::-1])
    # bad inputs
    out["empty"] = d / "empty.mp4"
    out["empty"].write_bytes(b"")
    out["text"] = d / "readme.mp4"
    out["text"].write_text("hello, I am not a video\n")
    data = out["mp4"].read_bytes()
    out["truncated"] = d / "truncated.mp4"
    out["truncated"].write_bytes(data[: len(data) // 3])
    out["audio"] = d / "audio.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(out["audio"])])
    out["nobody"] = d / "nobody.mp4"
    run_ffmpeg(["-i", str(shared_dir / "media" / "vtest.avi"), "-frames:v", "8", "-vf", "crop=400:120:300:0",
                "-c:v", "libx264", "-pix_fmt", "yuv420p", str(out["nobody"])])
    out["no_images"] = d / "no_images"
    out["no_images"].mkdir()
    return out


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mp4", "mov", "avi", "mkv", "webm"])
def test_detect_each_container(clips, tmp_path, kind):
    out = tmp_path / "k.npz"
    # The container is what varies here; the single-person mediapipe backend keeps it quick.
    assert main(["detect", str(clips[kind]), "--detector", "mediapipe", "--out", str(out), "--quiet"]) == 0
    tr = load_keypoints(out)
    assert tr.num_frames == 12 and (tr.width, tr.height) == (416, 440)
    assert tr.fps == pytest.approx(10.0, rel=0.02) and tr.detector == "mediapipe"
    assert (~tr.filled_frames).sum() >= 9
    assert tr.source == str(clips[kind])


@pytest.mark.slow
def test_detect_writes_both_files_and_respects_overwrite(clips, tmp_path, capsys):
    out, custom = tmp_path / "k.npz", tmp_path / "data_2d_custom_man.npz"
    args = ["detect", str(clips["mp4"]), "--out", str(out), "--custom-npz", str(custom), "--start", "0.4",
            "--end", "1.2", "--detector", "mediapipe"]  # seconds: frames 4 to 12 at 10 fps
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "frame/s" in err and "1 person found" in err and "person 0 (main)" in err  # bar, summary, list
    tr = load_keypoints(out)
    assert tr.num_frames == 8 and tr.detector_version.startswith("mediapipe") and tr.start_frame == 4
    assert tr.filled_joints.shape == (8, 17) and tr.boxes.shape == (8, 4)
    vp = load_keypoints(custom)  # the paper's format: every frame filled where she was absent
    seen = np.isfinite(tr.keypoints_px).all(axis=(1, 2))
    assert np.isfinite(vp.keypoints_px).all() and seen.sum() >= 6
    np.testing.assert_allclose(vp.keypoints_px[seen], tr.keypoints_px[seen])
    assert main(args + ["--quiet"]) == 4  # an output that cannot be written
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert main(["detect", str(clips["mp4"]), "--out", str(clips["mp4"]), "--overwrite", "--quiet"]) == 2
    assert "would replace the input" in capsys.readouterr().err
    assert main(args + ["--quiet", "--overwrite"]) == 0
    # The frame numbers that detect's --start/--end meant in earlier versions: the same range
    framed = tmp_path / "framed.npz"
    assert main(["detect", str(clips["mp4"]), "--out", str(framed), "--start-frame", "4", "--end-frame", "12",
                 "--detector", "mediapipe", "--quiet"]) == 0
    fr = load_keypoints(framed)
    assert fr.start_frame == 4 and fr.num_frames == 8
    np.testing.assert_allclose(fr.keypoints_px, tr.keypoints_px)


def test_detect_image_folder_and_glob(clips, tmp_path):
    out = tmp_path / "f.npz"
    assert main(["detect", str(clips["folder"]), "--fps", "12", "--out", str(out), "--quiet",
                 "--detector", "mediapipe"]) == 0
    tr = load_keypoints(out)
    assert tr.num_frames == 12 and tr.fps == 12.0 and (~tr.filled_frames).sum() >= 9
    out2 = tmp_path / "g.npz"
    assert main(["detect", str(clips["folder"] / "img_00[4-8].jpg"), "--out", str(out2), "--quiet",
                 "--detector", "mediapipe"]) == 0
    g = load_keypoints(out2)
    assert g.num_frames == 5 and g.fps == 30.0 and not g.filled_frames.any()
    # same frames, same detector: the same person, within BlazePose's frame-to-frame tracking smoothing
    assert np.median(np.abs(g.keypoints_px - tr.keypoints_px[4:9])) < 10


@pytest.mark.parametrize("kind,words", [
    ("missing", "no such file"), ("no_images", "holds no images"), ("empty", "empty"),
    ("text", "not a video"), ("truncated", "truncated"), ("audio", "no video stream"),
    ("nobody", "no person found"),
])
def test_bad_input_is_one_line_and_exit_2(clips, tmp_path, capsys, kind, words):
    path = clips.get(kind, tmp_path / "missing.mp4")
    assert main(["detect", str(path), "--out", str(tmp_path / "k.npz"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pose3d: error: ") and words in err[0], err
    assert path.name in err[0]
    assert not (tmp_path / "k.npz").exists()


def test_bad_options(clips, tmp_path, capsys):
    assert main(["detect", str(clips["mp4"]), "--detector", "nope", "--out", str(tmp_path / "a.npz")]) == 2
    assert "unknown detector 'nope'" in capsys.readouterr().err
    assert main(["detect", str(clips["mp4"]), "--start", "50", "--out", str(tmp_path / "a.npz")]) == 2
    err = capsys.readouterr().err
    assert "past the end of the clip (12 frames" in err
    # a whole number may be meant as the frame number detect read it as before: say so, once
    assert "--start/--end are seconds" in err and "--start-frame/--end-frame" in err
    assert main(["detect", str(clips["mp4"]), "--start", "1", "--start-frame", "3",
                 "--out", str(tmp_path / "a.npz")]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["detect", str(clips["mp4"]), "--start-frame", "12", "--out", str(tmp_path / "a.npz")]) == 2
    assert "--start-frame 12 is past the end of the clip (12 frames" in capsys.readouterr().err
    assert main(["detect", str(clips["mp4"]), "--device", "tpu", "--out", str(tmp_path / "a.npz")]) == 2
    assert "unknown --device" in capsys.readouterr().err


@pytest.mark.slow
def test_real_process_exits_nonzero_without_traceback(clips, tmp_path):
    for kind in ("text", "nobody"):
        proc = subprocess.run([sys.executable, "-m", "pose3d_cli", "detect", str(clips[kind]), "--out",
                               str(tmp_path / "k.npz"), "--quiet"], capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and f"pose3d: error: {clips[kind]}" in proc.stderr
