"""The one path from keypoints to poses: resampling, runs of presence, every person lifted."""

import numpy as np
import pytest

from pose3d_cli.geometry.world import present_runs
from pose3d_cli.lifting.sequence import interp_time, resample_times


def test_resampling_to_50_fps_and_back_round_trips():
    t_src, t_up = resample_times(90, 30.0, 50.0)
    assert len(t_up) == 150 and t_up[0] == 0 and t_up[-1] == pytest.approx(t_src[-1])
    assert np.diff(t_up[:-1]) == pytest.approx(0.02)
    x = np.stack([np.sin(2 * np.pi * 0.7 * t_src), np.cos(2 * np.pi * 0.4 * t_src)], -1)[:, None]
    up = interp_time(x, t_src, t_up)
    assert up.shape == (150, 1, 2)
    np.testing.assert_allclose(up[:, 0, 0], np.sin(2 * np.pi * 0.7 * t_up), atol=0.01)
    np.testing.assert_allclose(interp_time(up, t_up, t_src), x, atol=0.01)
    np.testing.assert_array_equal(interp_time(x, t_src, t_src), x)


def test_present_runs():
    assert present_runs(np.array([0, 1, 1, 0, 1, 0, 0, 1], bool)) == [(1, 3), (4, 5), (7, 8)]
    assert present_runs(np.zeros(4, bool)) == []
    assert present_runs(np.ones(3, bool)) == [(0, 3)]


def _walker(t: int = 30, x0: float = 300.0):
    """COCO-17 keypoints of a standing figure drifting right, in pixels of a 640x480 frame."""
    base = np.array([[0, -160], [-8, -168], [8, -168], [-16, -164], [16, -164], [-40, -120], [40, -120],
                     [-50, -60], [50, -60], [-55, 0], [55, 0], [-25, 0], [25, 0], [-28, 90], [28, 90],
                     [-30, 180], [30, 180]], np.float32)
    drift = np.linspace(0, 40, t, dtype=np.float32)[:, None, None] * np.array([1.0, 0.0], np.float32)
    return base[None] + np.array([x0, 240.0], np.float32) + drift


def test_every_person_lifted_over_their_own_runs(tiny_ckpt):
    """Two people; the second absent for a long stretch: their poses are NaN exactly there, and
    each present run is lifted on its own (its poses equal lifting the run alone)."""
    from pose3d_cli.io.keypoint_file import KeypointTrack, PeopleTracks
    from pose3d_cli.lifting.checkpoint import load_checkpoint
    from pose3d_cli.lifting.sequence import LiftOptions, lift_keypoints, lift_people

    ck = load_checkpoint(tiny_ckpt)
    t = 60
    a = _walker(t, 200.0)
    b = _walker(t, 420.0)
    b[20:45] = np.nan  # away for 25 frames (1 s at 25 fps)
    people = PeopleTracks((KeypointTrack(a, None, 640, 480, fps=25.0, person_id=1),
                           KeypointTrack(b, None, 640, 480, fps=25.0, person_id=5)), main=0)
    seq = lift_people(people, ck, options=LiftOptions(flip=True))
    assert seq.num_people == 2 and list(seq.person_ids) == [1, 5]
    assert seq.people_present[0].all() and not seq.people_present[1, 20:45].any()
    assert np.isnan(seq.people_poses_3d_world[1, 20:45]).all()
    assert np.isfinite(seq.people_poses_3d_camera[1, :20]).all() and np.isfinite(seq.people_poses_3d_camera[1, 45:]).all()
    alone = lift_keypoints(b[45:], ck, width=640, height=480, fps=25.0)
    np.testing.assert_allclose(seq.people_poses_3d_camera[1, 45:], alone, atol=1e-5)
    # World frame: each person stands on the ground z = 0 (no trajectory model: each on their own):
    # the lower ankle's low percentile sits an ankle's height above it.
    from pose3d_cli.geometry.world import (
        ANKLE_HEIGHT_FRACTION,
        GROUND_PERCENTILE,
        estimate_height_m,
    )

    assert seq.people_trajectory_world is None
    for p in range(2):
        w = seq.people_poses_3d_world[p][seq.people_present[p]]
        low = np.minimum(w[:, 3, 2], w[:, 6, 2])  # right_foot, left_foot
        assert np.percentile(low, GROUND_PERCENTILE) == pytest.approx(
            ANKLE_HEIGHT_FRACTION * estimate_height_m(w), abs=1e-4)


def test_nobody_in_view_is_an_error(tiny_ckpt):
    from pose3d_cli.errors import NoPersonError
    from pose3d_cli.io.keypoint_file import KeypointTrack
    from pose3d_cli.lifting.checkpoint import load_checkpoint
    from pose3d_cli.lifting.sequence import lift_people

    k = np.full((10, 17, 2), np.nan, np.float32)
    with pytest.raises(NoPersonError, match="nobody"):
        lift_people(KeypointTrack(k, None, 64, 64), load_checkpoint(tiny_ckpt))


def test_trajectory_places_people_in_one_world_and_height_scales(tmp_path):
    """A lifter with a trajectory model: people keep their places relative to each other
    (one transform for all), the trajectory is in the pose sequence, and --height scales the
    main person to that standing height."""
    import torch

    from pose3d_cli.geometry.world import estimate_height_m
    from pose3d_cli.io.keypoint_file import KeypointTrack, PeopleTracks
    from pose3d_cli.lifting.checkpoint import load_checkpoint, save_checkpoint
    from pose3d_cli.lifting.model import ArchSpec, TemporalModel
    from pose3d_cli.lifting.sequence import LiftOptions, lift_people

    torch.manual_seed(1)
    pos = TemporalModel(ArchSpec(filter_widths=(3, 3), channels=16))
    traj = TemporalModel(ArchSpec(filter_widths=(3, 3), channels=16, joints_out=1))
    with torch.no_grad():
        traj.shrink.bias.copy_(torch.tensor([0.0, 0.0, 5.0]))  # roots about 5 m in front of the camera
    ck = load_checkpoint(save_checkpoint(tmp_path / "t.pt", pos, layout_in="coco17", layout_out="h36m17",
                                         model_traj=traj))
    assert ck.model_traj is not None
    t = 40
    people = PeopleTracks((KeypointTrack(_walker(t, 150.0), None, 640, 480, fps=50.0, person_id=0),
                           KeypointTrack(_walker(t, 450.0), None, 640, 480, fps=50.0, person_id=1)), main=0)
    seq = lift_people(people, ck, options=LiftOptions(flip=False))
    tw = seq.people_trajectory_world
    assert tw is not None and tw.shape == (2, t, 3) and np.isfinite(tw).all()
    np.testing.assert_allclose(tw[0, 0, :2], 0.0, atol=1e-5)  # the main person's first root over the origin
    np.testing.assert_allclose(tw, seq.people_poses_3d_world[:, :, 0], atol=1e-5)
    # Bodies keep their shape (one rigid transform): bone lengths equal the camera frame's.
    bone = lambda poses: np.linalg.norm(poses[..., 13, :] - poses[..., 12, :], axis=-1)  # noqa: E731
    np.testing.assert_allclose(bone(seq.people_poses_3d_world), bone(seq.people_poses_3d_camera), rtol=1e-4)
    tall = lift_people(people, ck, options=LiftOptions(flip=False, height_m=1.70))
    assert estimate_height_m(tall.people_poses_3d_world[0]) == pytest.approx(1.70, rel=1e-3)
    ratio = np.linalg.norm(tall.people_trajectory_world[1, 0] - tall.people_trajectory_world[0, 0]) / \
        np.linalg.norm(tw[1, 0] - tw[0, 0])
    assert ratio == pytest.approx(1.70 / estimate_height_m(seq.people_poses_3d_world[0]), rel=1e-3)
