"""World frame from camera-frame poses and a root trajectory, on real motion capture seen by a
camera: the walk is recovered, feet stand on the ground, heights scale, foot sliding is measured."""

from __future__ import annotations

import numpy as np
import pytest

from pose3d_cli.errors import InputError
from pose3d_cli.geometry.camera import WILD_CAMERA_QUATERNION, qinverse, qrot
from pose3d_cli.geometry.world import (
    estimate_height_m,
    foot_sliding,
    head_top,
    world_poses,
)
from pose3d_cli.training.mocap import load_mocap


@pytest.fixture(scope="module")
def walk(shared_dir) -> np.ndarray:
    """20 s of real walking, Human3.6M-17, world metres, z up, floor z = 0, 1.75 m tall."""
    return load_mocap(shared_dir / "mocap" / "bvhtools_test.bvh", max_seconds=20).h36m17_m


def _to_camera(world: np.ndarray, extra_pitch_deg: float = 0.0) -> np.ndarray:
    """World points → the in-the-wild camera frame (camera 5 m from the origin), optionally
    pitched further down by ``extra_pitch_deg``."""
    q = np.asarray(WILD_CAMERA_QUATERNION, np.float64)
    cam = np.asarray(qrot(np.broadcast_to(qinverse(q), (*world.shape[:-1], 4)), world), np.float64)
    if extra_pitch_deg:
        a = np.deg2rad(extra_pitch_deg)
        rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
        cam = cam @ rx.T
    return cam + np.array([0.3, 0.2, 5.0])


def test_walk_moves_through_the_scene_with_feet_on_the_ground(walk):
    cam = _to_camera(walk)
    rel, traj = cam - cam[:, :1], cam[:, 0]
    w = world_poses(rel, traj)
    assert w.moving and w.scale == 1.0
    # The recovered world walk is the true one, shifted so the first root is over the origin.
    truth = walk - np.r_[walk[0, 0, :2], 0.0]
    assert np.abs(w.poses_world_m[..., :2] - truth[..., :2]).max() < 0.02
    assert np.abs(w.poses_world_m[..., 2] - truth[..., 2]).max() < 0.05
    np.testing.assert_allclose(w.trajectory_world_m, w.poses_world_m[:, 0], atol=1e-6)
    travel = np.linalg.norm(w.trajectory_world_m[-1, :2] - w.trajectory_world_m[0, :2])
    assert travel > 2.0
    # Feet on the ground: the lower ankle stands a few centimetres above z = 0 most of the time.
    low = w.poses_world_m[:, [3, 6], 2].min(axis=1)
    assert 0.03 < np.median(low) < 0.12 and np.percentile(low, 5) > -0.03
    assert abs(w.height_m - 1.75) < 0.05


def test_a_pitched_camera_is_levelled_by_the_ground_contacts(walk):
    cam = _to_camera(walk, extra_pitch_deg=12.0)
    w = world_poses(cam - cam[:, :1], cam[:, 0])
    assert w.tilt_deg == pytest.approx(12.0, abs=2.0)
    low = w.poses_world_m[:, [3, 6], 2].min(axis=1)
    # Level ground: the feet are as high at the end of the walk as at its start.
    n = len(low)
    assert abs(np.median(low[: n // 4]) - np.median(low[-n // 4:])) < 0.04


def test_without_a_trajectory_the_body_stays_on_the_spot(walk):
    cam = _to_camera(walk)
    w = world_poses(cam - cam[:, :1] + 0.01, None)  # raw outputs: joint 0 near, not at, 0
    assert not w.moving and w.tilt_deg == 0.0
    np.testing.assert_allclose(w.trajectory_world_m[:, :2], 0.0, atol=1e-5)
    assert np.percentile(w.poses_world_m[:, [3, 6], 2].min(axis=1), 5) > -0.05


def test_height_scaling(walk):
    cam = _to_camera(walk) * 0.8  # a lifter that outputs a small person (and a near trajectory)
    w = world_poses(cam - cam[:, :1], cam[:, 0], height_m=1.70)
    assert w.scale == pytest.approx(1.70 / (1.75 * 0.8), rel=0.02)
    assert w.height_m == pytest.approx(1.70, rel=0.01)
    top = head_top(w.poses_world_m)[:, 2] - w.poses_world_m[:, [3, 6], 2].min(axis=1)
    assert 1.45 <= np.median(top) <= 1.75
    # The trajectory scales with the body: the walk is as long as the true one, times 1.70/1.75.
    true_travel = np.linalg.norm(walk[-1, 0, :2] - walk[0, 0, :2])
    travel = np.linalg.norm(w.trajectory_world_m[-1, :2] - w.trajectory_world_m[0, :2])
    assert travel == pytest.approx(true_travel * 1.70 / 1.75, rel=0.02)
    assert estimate_height_m(walk) == pytest.approx(1.75, abs=0.03)


def test_foot_sliding(walk):
    still = foot_sliding(walk, 50.0)
    assert still < 0.15  # real walking: planted feet barely move
    drift = walk.copy()
    drift[..., 0] += np.arange(len(walk))[:, None] * (0.5 / 50)  # everything slides at 0.5 m/s
    assert foot_sliding(drift, 50.0) == pytest.approx(still + 0.5, abs=0.1)


def test_bad_input():
    with pytest.raises(InputError, match=r"\(T, 17, 3\)"):
        world_poses(np.zeros((5, 16, 3)))
    with pytest.raises(InputError, match="trajectory"):
        world_poses(np.zeros((5, 17, 3)), np.zeros((4, 3)))
    with pytest.raises(InputError, match="height"):
        world_poses(np.ones((5, 17, 3)), height_m=0.0)


def test_plant_feet_removes_sliding_from_a_jittery_trajectory(walk):
    """A real walk whose trajectory carries jitter and a wrong speed profile slides; planting the
    supporting foot takes the step-by-step motion from the legs and keeps the distance."""
    from pose3d_cli.geometry.world import plant_feet

    rng = np.random.default_rng(0)
    cam = _to_camera(walk)
    traj = cam[:, 0] + rng.normal(0, 0.03, cam[:, 0].shape)
    traj[:, 0] += 0.1 * np.sin(np.arange(len(traj)) / 50 * 2 * np.pi * 0.9)  # a wobbling speed
    loose = world_poses(cam - cam[:, :1], traj, plant=False)
    planted = world_poses(cam - cam[:, :1], traj)
    assert foot_sliding(planted.poses_world_m, 50.0) < 0.5 * foot_sliding(loose.poses_world_m, 50.0)
    travel = [np.linalg.norm(w.trajectory_world_m[-1, :2] - w.trajectory_world_m[0, :2]) for w in (loose, planted)]
    assert travel[1] == pytest.approx(travel[0], rel=0.1)
    # plant_feet itself only shifts whole bodies horizontally: heights and shapes are untouched.
    moved = plant_feet(loose.poses_world_m, 50.0)
    np.testing.assert_allclose(moved[..., 2], loose.poses_world_m[..., 2], atol=1e-5)
    np.testing.assert_allclose(moved - moved[:, :1], loose.poses_world_m - loose.poses_world_m[:, :1], atol=1e-5)
    assert foot_sliding(moved, 50.0) < 0.5 * foot_sliding(loose.poses_world_m, 50.0)


def test_world_people_places_everyone_in_one_frame(walk):
    from pose3d_cli.geometry.world import world_people

    cam = _to_camera(walk)
    other = cam + np.array([1.0, 0.0, 0.5])
    poses = np.stack([cam, other])
    present = np.ones(poses.shape[:2], bool)
    present[1, :100] = False
    poses[1, :100] = np.nan
    out = world_people(poses - poses[:, :, :1], poses[:, :, 0], present, main=0)
    assert out.trajectory_world_m is not None and np.isnan(out.poses_world_m[1, :100]).all()
    np.testing.assert_allclose(out.trajectory_world_m[0, 0, :2], 0.0, atol=1e-6)
    gap = np.linalg.norm(out.trajectory_world_m[1, 100:] - out.trajectory_world_m[0, 100:], axis=-1)
    assert np.median(gap) == pytest.approx(np.linalg.norm([1.0, 0.0, 0.5]), abs=0.05)
    assert foot_sliding(out.poses_world_m[0], 50.0) < 0.2
