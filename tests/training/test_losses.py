"""Hand-checked values of the training losses (pose, trajectory, bone-length prior, reprojection)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pose3d_cli.geometry.h36m import h36m_intrinsics
from pose3d_cli.skeleton import COCO17, H36M17
from pose3d_cli.training.losses import (
    bone_length_loss,
    bone_lengths,
    pose_loss,
    reprojection_loss,
    shared_joints,
    trajectory_loss,
)


def _chain(lengths: list[float]) -> torch.Tensor:
    """A straight chain of joints along x with the given bone lengths: (J, 3)."""
    x = np.concatenate([[0.0], np.cumsum(lengths)])
    return torch.tensor(np.stack([x, np.zeros_like(x), np.zeros_like(x)], -1))


def test_pose_loss_is_mean_joint_distance():
    target = torch.zeros(1, 1, 2, 3, dtype=torch.float64)
    pred = target.clone()
    pred[..., 0, :] = torch.tensor([0.3, 0.4, 0.0], dtype=torch.float64)  # 0.5 m off
    assert pose_loss(pred, target).item() == pytest.approx(0.25)  # (0.5 + 0) / 2


def test_trajectory_loss_weights_by_inverse_depth():
    # Two samples: target depths 2 m and 4 m, errors 0.1 m and 0.2 m → 0.1/2 and 0.2/4.
    target = torch.tensor([[[[0.0, 0.0, 2.0]]], [[[1.0, 0.0, 4.0]]]], dtype=torch.float64)
    pred = target + torch.tensor([[[[0.1, 0.0, 0.0]]], [[[0.0, 0.0, 0.2]]]], dtype=torch.float64)
    assert trajectory_loss(pred, target).item() == pytest.approx((0.05 + 0.05) / 2)
    # Unweighted it would be 0.15: the weighting changes the value.
    assert pose_loss(pred, target).item() == pytest.approx(0.15)


def test_bone_length_loss_zero_for_equal_skeletons():
    parents = (-1, 0, 1)
    a = _chain([1.0, 2.0]).expand(4, 3, 3, 3)
    # Same skeleton, rotated and moved: the bone lengths are equal, so the loss is zero.
    rot = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    b = (_chain([1.0, 2.0]) @ rot.T + torch.tensor([5.0, -1.0, 3.0], dtype=torch.float64)).expand(2, 5, 3, 3)
    assert bone_length_loss(b, a, parents).item() == pytest.approx(0.0, abs=1e-12)


def test_bone_length_loss_hand_computed():
    parents = (-1, 0, 1)
    labelled = _chain([1.0, 2.0])[None]  # bones 1.0, 2.0
    # Unlabelled half: two poses, first bone 1.4 and 1.6 (mean 1.5), second bone 2.0 in both.
    unlabelled = torch.stack([_chain([1.4, 2.0]), _chain([1.6, 2.0])])
    assert bone_lengths(unlabelled, parents).numpy() == pytest.approx(np.array([[1.4, 2.0], [1.6, 2.0]]))
    loss = bone_length_loss(unlabelled, labelled, parents)
    assert loss.item() == pytest.approx((0.5 + 0.0) / 2)


def test_bone_length_loss_on_h36m_skeleton_scaled():
    """A 10 % larger H36M skeleton: the loss is 10 % of the mean bone length."""
    rng = np.random.default_rng(0)
    pose = torch.tensor(rng.normal(size=(17, 3)) * 0.3)
    loss = bone_length_loss(pose[None] * 1.1, pose[None], H36M17.parents)
    expected = 0.1 * bone_lengths(pose, H36M17.parents).mean().item()
    assert loss.item() == pytest.approx(expected)


def _pinhole_project(points_cam: np.ndarray, f_norm: np.ndarray, c_norm: np.ndarray) -> np.ndarray:
    return points_cam[..., :2] / points_cam[..., 2:] * f_norm + c_norm


def test_reprojection_zero_for_a_pose_projected_with_its_camera():
    """A pose seen through a known pinhole camera reprojects with zero error, and a known 2D
    offset of one joint shows up as exactly that offset divided by the number of joints."""
    f_norm = np.array([2.2, 2.2])
    c_norm = np.array([0.02, -0.01])
    intr = torch.tensor(np.concatenate([f_norm, c_norm, np.zeros(5)])[None])  # no distortion
    rng = np.random.default_rng(1)
    pose_rel = rng.normal(size=(1, 3, 17, 3)) * 0.25
    pose_rel[..., 0, :] = 0
    traj = np.array([0.2, -0.1, 4.5]).reshape(1, 1, 1, 3).repeat(3, axis=1)
    kpts = _pinhole_project(pose_rel + traj, f_norm, c_norm)  # computed here, by hand
    for linear in (False, True):
        loss = reprojection_loss(torch.tensor(pose_rel), torch.tensor(traj), intr, torch.tensor(kpts),
                                 linear=linear)
        assert loss.item() == pytest.approx(0.0, abs=1e-12)
    kpts_moved = kpts.copy()
    kpts_moved[:, :, 5] += np.array([0.03, 0.04])  # 0.05 away in every frame
    loss = reprojection_loss(torch.tensor(pose_rel), torch.tensor(traj), intr, torch.tensor(kpts_moved))
    assert loss.item() == pytest.approx(0.05 / 17)


def test_reprojection_with_real_h36m_distortion_matches_camera_projection():
    """With the real Human3.6M camera (distortion on), a pose projected to pixels by the camera
    object and normalised reprojects with zero error; a wrong depth does not."""
    from pose3d_cli.geometry.camera import Camera, normalize_screen_coordinates

    intr = h36m_intrinsics()[0]
    cam = Camera(intr, (1.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
    rng = np.random.default_rng(2)
    pose_rel = (rng.normal(size=(2, 1, 17, 3)) * 0.2).astype(np.float64)
    pose_rel[..., 0, :] = 0
    traj = np.array([[[[0.1, 0.2, 5.0]]], [[[-0.3, 0.0, 3.5]]]])
    px = cam.project_px((pose_rel + traj).astype(np.float32))
    kpts = normalize_screen_coordinates(px.astype(np.float64), intr.width, intr.height)
    vec = torch.tensor(np.stack([intr.to_vector()] * 2), dtype=torch.float64)
    good = reprojection_loss(torch.tensor(pose_rel), torch.tensor(traj), vec, torch.tensor(kpts))
    assert good.item() < 1e-6
    bad = reprojection_loss(torch.tensor(pose_rel), torch.tensor(traj * np.array([1, 1, 1.2])), vec,
                            torch.tensor(kpts))
    assert bad.item() > 1e-3


def test_losses_give_gradients():
    pose = torch.randn(2, 1, 17, 3, dtype=torch.float64, requires_grad=True)
    traj = (torch.tensor([0.0, 0.0, 4.0], dtype=torch.float64) + 0.1 * torch.randn(2, 1, 1, 3,
            dtype=torch.float64)).requires_grad_(True)
    intr = torch.tensor(np.stack([h36m_intrinsics()[1].to_vector()] * 2), dtype=torch.float64)
    kpts = torch.zeros(2, 1, 17, 2, dtype=torch.float64)
    total = (reprojection_loss(pose * 0.1, traj, intr, kpts)
             + bone_length_loss(pose[:1], pose[1:], H36M17.parents)
             + trajectory_loss(traj, traj.detach() + 0.05))
    total.backward()
    assert torch.isfinite(pose.grad).all() and pose.grad.abs().sum() > 0
    assert torch.isfinite(traj.grad).all() and traj.grad.abs().sum() > 0


def test_shared_joints_coco_h36m():
    out_idx, in_idx = shared_joints("h36m17", "coco17")
    pairs = {H36M17.joint_names[o]: COCO17.joint_names[i] for o, i in zip(out_idx, in_idx)}
    assert pairs["right_foot"] == "right_ankle"
    assert pairs["neck_nose"] == "nose"
    assert pairs["left_wrist"] == "left_wrist"
    assert "hip" not in pairs and "thorax" not in pairs
    assert len(pairs) == 13
    assert shared_joints("h36m17", "h36m") is None
