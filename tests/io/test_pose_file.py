"""The pose file: every person round-trips; version-1 files (one person) are still read."""

from __future__ import annotations

import numpy as np
import pytest

from pose3d_cli.errors import InputError
from pose3d_cli.io.pose_file import PoseSequence, load_poses, save_poses
from pose3d_cli.skeleton import H36M17


def _two_people(t: int = 12) -> PoseSequence:
    rng = np.random.default_rng(0)
    present = np.ones((2, t), bool)
    present[1, :4] = False  # the second person walks in at frame 4
    cam = rng.normal(size=(2, t, 17, 3)).astype(np.float32)
    cam[~present] = np.nan
    kpts = rng.uniform(0, 640, size=(2, t, 17, 2)).astype(np.float32)
    kpts[~present] = np.nan
    return PoseSequence(
        person_ids=np.array([3, 8]), people_present=present, people_poses_3d_camera=cam,
        people_poses_3d_world=cam + 1, people_keypoints_px=kpts,
        people_keypoint_scores=np.where(present[..., None], 0.9, 0.0).repeat(17, -1).astype(np.float32),
        people_filled_frames=np.zeros((2, t), bool), joint_names=H36M17.joint_names, layout="h36m17",
        keypoint_layout="coco17", fps=25.0, width=640, height=480, main_person=1,
        people_trajectory_world=rng.normal(size=(2, t, 3)).astype(np.float32), start_frame=5,
        checkpoint="x")


def test_people_round_trip_and_main_person_under_old_names(tmp_path):
    seq = _two_people()
    back = load_poses(save_poses(seq, tmp_path / "p.npz"))
    assert back.num_people == 2 and back.main_person == 1 and list(back.person_ids) == [3, 8]
    np.testing.assert_array_equal(back.people_present, seq.people_present)
    np.testing.assert_array_equal(back.people_poses_3d_world, seq.people_poses_3d_world)
    np.testing.assert_array_equal(back.trajectory_world, seq.people_trajectory_world[1])
    np.testing.assert_array_equal(back.poses_3d_camera, seq.people_poses_3d_camera[1])
    assert back.person_index(8) == 1
    assert back.frame_times_s[0] == pytest.approx(5 / 25.0)
    raw = np.load(tmp_path / "p.npz", allow_pickle=False)  # old readers find the main person
    np.testing.assert_array_equal(raw["poses_3d_world"], seq.people_poses_3d_world[1])
    with pytest.raises(InputError, match="no person with id 4"):
        back.person_index(4)


def test_version_1_file_reads_as_one_person(tmp_path):
    t = 6
    path = tmp_path / "v1.npz"
    np.savez(path, format="pose3d-poses", format_version=1, poses_3d_camera=np.zeros((t, 17, 3), np.float32),
             poses_3d_world=np.ones((t, 17, 3), np.float32), joint_names=np.array(H36M17.joint_names),
             layout="h36m17", keypoints_px=np.zeros((t, 17, 2), np.float32),
             keypoint_scores=np.ones((t, 17), np.float32), keypoint_layout="coco17",
             filled_frames=np.zeros(t, bool), fps=50.0, width=100, height=80, checkpoint="c", flip=True,
             causal=False)
    seq = load_poses(path)
    assert seq.num_people == 1 and seq.num_frames == t and seq.people_present.all()
    assert seq.poses_3d_world.shape == (t, 17, 3) and seq.trajectory_world is None


@pytest.mark.parametrize("change, match", [
    ({"fps": np.float64("nan")}, "fps"),
    ({"fps": np.float64(0.0)}, "fps 0.0 is not a positive number"),
    ({"fps": np.float64(-30.0)}, "fps -30.0 is not a positive number"),
    ({"width": np.int64(-5)}, "frame size -5x"),
    ({"people_poses_3d_world": np.full((2, 12, 17, 3), "x")}, "people_poses_3d_world holds <U1 values, not numbers"),
    ({"fps": np.array([{"a": 1}], dtype=object)}, "Object arrays cannot be loaded"),
    ({"main_person": 5}, "main_person"),
])
def test_bad_pose_files_are_one_line_errors(tmp_path, change, match):
    seq = _two_people()
    path = save_poses(seq, tmp_path / "p.npz")
    d = dict(np.load(path, allow_pickle=False))
    d.update(change)
    np.savez(path, **d)
    with pytest.raises(InputError, match=match) as exc:
        load_poses(path)
    assert str(exc.value).startswith(str(path)) and "\n" not in str(exc.value)


def test_not_a_pose_file(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a readable pose3d pose file"):
        load_poses(bad)
