"""`pose3d lift` end to end, and its answers to bad input (one line, non-zero exit)."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from pose3d_cli.cli import main
from pose3d_cli.io.keypoint_file import (
    KeypointTrack,
    save_keypoints,
    save_videopose3d_custom,
)
from pose3d_cli.io.pose_file import load_poses
from pose3d_cli.lifting.checkpoint import save_videopose3d_checkpoint
from pose3d_cli.lifting.model import ArchSpec, TemporalModel


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = TemporalModel(ArchSpec(filter_widths=(3, 3, 3), channels=32))
    return save_videopose3d_checkpoint(tmp_path_factory.mktemp("ck") / "pretrained_test.bin", model)


def _track(t=60, j=17, w=640, h=480, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.uniform([200, 100], [440, 400], size=(1, j, 2))
    kpts = base + np.cumsum(rng.normal(0, 1, (t, j, 2)), 0)
    return KeypointTrack(keypoints_px=kpts, scores=np.ones((t, j)), width=w, height=h, fps=25.0,
                         detector="test")


def _err(capsys):
    return capsys.readouterr().err.strip()


def test_lift_custom_npz_writes_pose_file(tmp_path, ckpt):
    src = save_videopose3d_custom({"walk.mp4": _track()}, tmp_path / "data_2d_custom_test.npz")
    out = tmp_path / "poses.npz"
    assert main(["lift", str(src), "--checkpoint", str(ckpt), "--out", str(out), "--quiet"]) == 0
    seq = load_poses(out)
    assert seq.poses_3d_camera.shape == (60, 17, 3) and seq.poses_3d_camera.dtype == np.float32
    assert seq.poses_3d_world.shape == (60, 17, 3)
    feet = np.minimum(seq.poses_3d_world[:, 3, 2], seq.poses_3d_world[:, 6, 2])  # lower foot joint
    assert 0.0 < np.percentile(feet, 20) < 0.15  # grounded by the feet: the ankle just above z = 0
    assert seq.joint_names[0] == "hip" and (seq.width, seq.height) == (640, 480)
    assert seq.flip and not seq.causal


def test_lift_causal_without_checkpoint_uses_the_causal_builtin(tmp_path):
    src = save_keypoints(_track(t=40), tmp_path / "kp.npz")
    out = tmp_path / "causal.npz"
    assert main(["lift", str(src), "--causal", "--out", str(out), "-q"]) == 0
    seq = load_poses(out)
    assert seq.causal and seq.checkpoint == "pose3d-27f-causal.mocap-coco"
    assert seq.poses_3d_camera.shape == (40, 17, 3)


def test_lift_own_keypoint_file_and_no_flip_differs(tmp_path, ckpt):
    src = save_keypoints(_track(t=30), tmp_path / "kp.npz")
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    assert main(["lift", str(src), "--checkpoint", str(ckpt), "--out", str(a), "-q"]) == 0
    assert main(["lift", str(src), "--checkpoint", str(ckpt), "--out", str(b), "--no-flip", "-q"]) == 0
    pa, pb = load_poses(a), load_poses(b)
    assert pa.flip and not pb.flip
    assert not np.allclose(pa.poses_3d_camera, pb.poses_3d_camera)


def test_one_frame_clip_gives_one_pose(tmp_path, ckpt):
    src = save_keypoints(_track(t=1), tmp_path / "one.npz")
    out = tmp_path / "one_out.npz"
    assert main(["lift", str(src), "--checkpoint", str(ckpt), "--out", str(out), "-q"]) == 0
    assert load_poses(out).poses_3d_camera.shape == (1, 17, 3)


def test_existing_output_not_clobbered(tmp_path, ckpt, capsys):
    src = save_keypoints(_track(t=5), tmp_path / "kp.npz")
    out = tmp_path / "exists.npz"
    out.write_bytes(b"keep me")
    assert main(["lift", str(src), "--checkpoint", str(ckpt), "--out", str(out)]) == 4  # output not writable
    assert "exists; pass --overwrite" in _err(capsys)
    assert out.read_bytes() == b"keep me"
    assert main(["lift", str(src), "--checkpoint", str(ckpt), "--out", str(src), "--overwrite"]) == 2
    assert "would replace the input" in _err(capsys)


def test_multi_video_custom_file_needs_video_name(tmp_path, ckpt, capsys):
    src = save_videopose3d_custom({"a.mp4": _track(seed=1), "b.mp4": _track(seed=2)}, tmp_path / "multi.npz")
    out = tmp_path / "m.npz"
    assert main(["lift", str(src), "--checkpoint", str(ckpt), "--out", str(out)]) == 2
    assert "pick one with --video NAME" in _err(capsys)
    assert main(["lift", str(src), "--checkpoint", str(ckpt), "--out", str(out), "--video", "b.mp4", "-q"]) == 0


@pytest.mark.parametrize("case", ["missing", "directory", "not_npz", "wrong_shape", "no_keys"])
def test_bad_keypoint_input(tmp_path, ckpt, capsys, case):
    path = tmp_path / "in.npz"
    if case == "directory":
        path.mkdir()
    elif case == "not_npz":
        path.write_text("frame,x,y\n1,2,3\n")
    elif case == "wrong_shape":
        np.savez(path, format="pose3d-keypoints", keypoints_px=np.zeros((10, 17)), scores=np.zeros((10, 17)),
                 width=640, height=480)
    elif case == "no_keys":
        np.savez(path, something=np.zeros(3))
    out = tmp_path / "out.npz"
    code = main(["lift", str(path), "--checkpoint", str(ckpt), "--out", str(out)])
    err = _err(capsys)
    assert code == 2 and err.startswith("pose3d: error: ") and len(err.splitlines()) == 1, err
    assert "Traceback" not in err and str(path) in err
    assert not out.exists()
    expected = {"missing": "no such file", "directory": "folder holds no OpenPose", "not_npz": "not a readable .npz",
                "wrong_shape": "shape (T, J, 2)", "no_keys": "without 'positions_2d'"}[case]
    assert expected in err


def test_checkpoint_with_16_joints_where_17_expected(tmp_path, capsys):
    model = TemporalModel(ArchSpec(filter_widths=(3, 3), channels=8, joints_in=16, joints_out=16))
    ck = save_videopose3d_checkpoint(tmp_path / "j16.bin", model)
    src = save_keypoints(_track(t=10), tmp_path / "kp.npz")
    assert main(["lift", str(src), "--checkpoint", str(ck), "--out", str(tmp_path / "o.npz")]) == 2
    err = _err(capsys)
    assert "16 input joints match no known layout" in err and len(err.splitlines()) == 1
    assert main(["lift", str(src), "--checkpoint", str(ck), "--layout-in", "coco17",
                 "--out", str(tmp_path / "o.npz")]) == 2
    assert "the model has 16 input joints but layout coco17 has 17" in _err(capsys)


@pytest.mark.slow
def test_console_entry_point_runs(tmp_path, ckpt):
    src = save_keypoints(_track(t=12), tmp_path / "kp.npz")
    out = tmp_path / "p.npz"
    proc = subprocess.run([sys.executable, "-m", "pose3d_cli", "lift", str(src), "--checkpoint", str(ckpt),
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "lifted 12 frames" in proc.stdout and out.exists()
    bad = subprocess.run([sys.executable, "-m", "pose3d_cli", "lift", str(tmp_path / "nope.npz"),
                          "--checkpoint", str(ckpt)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "no such file" in bad.stderr


def _coco_results_json(path, track):
    """A COCO keypoint results list (one entry per frame) from a track."""
    import json

    rows = []
    for t in range(track.num_frames):
        kp = np.concatenate([track.keypoints_px[t], np.full((17, 1), 0.9)], axis=1)
        rows.append({"image_id": t, "category_id": 1, "keypoints": kp.ravel().round(2).tolist(), "score": 0.95})
    path.write_text(json.dumps(rows))
    return path


def test_lift_coco_json_with_frame_size(tmp_path, ckpt, capsys):
    track = _track(t=25, w=640, h=480)
    src = _coco_results_json(tmp_path / "person_keypoints.json", track)
    out = tmp_path / "coco_out.npz"
    assert main(["lift", str(src), "--checkpoint", str(ckpt), "--out", str(out)]) == 2
    assert "does not store the frame size" in _err(capsys)
    assert not out.exists()
    assert main(["lift", str(src), "--checkpoint", str(ckpt), "--out", str(out), "--frame-size", "640x480",
                 "--fps", "25", "-q"]) == 0
    seq = load_poses(out)
    assert seq.poses_3d_camera.shape == (25, 17, 3) and (seq.width, seq.height) == (640, 480)
    np.testing.assert_allclose(seq.keypoints_px, track.keypoints_px, atol=0.01)
    other = tmp_path / "other.npz"
    assert main(["lift", str(src), "--checkpoint", str(ckpt), "--out", str(other), "--frame-size", "640by480"]) == 2
    assert "expected WIDTHxHEIGHT" in _err(capsys)


def test_lift_with_checkpoints_written_like_run_py(tmp_path):
    """`pose3d lift` takes a checkpoint holding the pickled numpy RandomState in each of its forms
    (the published one: legacy torch format, numpy 1.16 names) and lifts identically with all."""
    torch.manual_seed(3)
    model = TemporalModel(ArchSpec(filter_widths=(3, 3, 3), channels=32))
    src = save_keypoints(_track(t=50), tmp_path / "kp.npz")
    poses = []
    for legacy in (True, False):
        for old_numpy in (True, False):
            ck = save_videopose3d_checkpoint(tmp_path / f"run_py_{legacy}_{old_numpy}.bin", model,
                                             legacy_format=legacy, old_numpy=old_numpy)
            out = tmp_path / f"poses_{legacy}_{old_numpy}.npz"
            assert main(["lift", str(src), "--checkpoint", str(ck), "--out", str(out), "-q"]) == 0
            poses.append(load_poses(out).poses_3d_camera)
    assert poses[0].shape == (50, 17, 3) and np.isfinite(poses[0]).all()
    for other in poses[1:]:
        np.testing.assert_array_equal(other, poses[0])


def test_nan_joints_are_cleaned_as_in_infer(tmp_path, ckpt):
    """Missing joints in a keypoint file are interpolated (as `infer --keypoints` does), not an error."""
    tr = _track(t=20)
    kp = tr.keypoints_px.copy()
    kp[3:5, 2] = np.nan
    path = save_keypoints(KeypointTrack(keypoints_px=kp, scores=tr.scores, width=640, height=480), tmp_path / "in.npz")
    out = tmp_path / "out.npz"
    assert main(["lift", str(path), "--checkpoint", str(ckpt), "--out", str(out), "-q"]) == 0
    seq = load_poses(out)
    assert np.isfinite(seq.poses_3d_camera).all() and seq.num_frames == 20
