"""Training losses of the paper, on torch tensors.

- :func:`pose_loss` — MPJPE between root-relative predicted and target poses (protocol 1).
- :func:`trajectory_loss` — MPJPE of the root position weighted by ``1 / z`` of the target depth,
  so that far-away subjects (whose 2D carries less depth information) count less.
- :func:`bone_length_loss` — the bone-length prior of semi-supervised training: the mean bone
  lengths over the unlabelled half of a batch are pulled towards those of the labelled half.
- :func:`reprojection_loss` — the back-projection loss: predicted pose plus predicted trajectory,
  projected with the camera intrinsics, against the 2D keypoints the model was given.

Convention:
    Poses are ``(B, T, J, 3)`` (or any ``(*, J, 3)``) in metres, camera frame (x right, y down,
    z forward). Root-relative poses have joint 0 at the origin; the trajectory is the root's
    camera-frame position, ``(B, T, 1, 3)``. 2D keypoints are normalised screen coordinates
    (``x_n = 2x/w - 1``, ``y_n = 2y/w - h/w``). Intrinsics are the paper's normalised 9-vector
    ``f(2), c(2), k(3), p(2)`` per sample, ``(B, 9)``.
"""

from __future__ import annotations

from typing import Sequence

import torch

from pose3d_cli.geometry.camera import project_to_2d, project_to_2d_linear
from pose3d_cli.metrics import mpjpe, weighted_mpjpe


def pose_loss(pred_m: torch.Tensor, target_m: torch.Tensor) -> torch.Tensor:
    """MPJPE loss: mean Euclidean joint error of ``(*, J, 3)`` poses, a 0-d tensor in metres."""
    return mpjpe(pred_m, target_m)


def trajectory_loss(pred_traj_m: torch.Tensor, target_traj_m: torch.Tensor,
                    min_depth_m: float = 1e-3) -> torch.Tensor:
    """MPJPE of the root trajectory weighted by the inverse target depth.

    Args:
        pred_traj_m: ``(*, 1, 3)`` predicted root positions, camera frame, metres.
        target_traj_m: ``(*, 1, 3)`` true root positions; ``z`` must be positive (in front of
            the camera). Depths below ``min_depth_m`` are clamped to it.
    Returns:
        ``mean(||pred - target|| / z_target)`` over all leading dimensions: a 0-d tensor
        (dimensionless, metres per metre of depth).
    """
    depth = target_traj_m[..., 2].clamp_min(min_depth_m)
    return weighted_mpjpe(pred_traj_m, target_traj_m, 1.0 / depth)


def bone_lengths(pose_m: torch.Tensor, parents: Sequence[int]) -> torch.Tensor:
    """Bone lengths of ``(*, J, 3)`` poses → ``(*, B)``, one per joint with a parent (``p >= 0``),
    in the order of the joints."""
    children = [j for j, p in enumerate(parents) if p >= 0]
    par = [parents[j] for j in children]
    if pose_m.shape[-2] != len(parents):
        raise ValueError(f"bone_lengths: pose has {pose_m.shape[-2]} joints, parents list {len(parents)}")
    return torch.linalg.norm(pose_m[..., children, :] - pose_m[..., par, :], dim=-1)


def bone_length_loss(pose_unlabelled_m: torch.Tensor, pose_labelled_m: torch.Tensor,
                     parents: Sequence[int]) -> torch.Tensor:
    """The bone-length prior: mean over bones of ``|mean_lab(len) - mean_unlab(len)|``.

    Each bone's length is averaged over all poses of each half (all leading dimensions), then
    the absolute differences of the two means are averaged over bones. The halves may hold
    different numbers of poses. Zero when both halves have the same mean skeleton.

    Args:
        pose_unlabelled_m: ``(*, J, 3)`` predicted poses of the unlabelled half, metres.
        pose_labelled_m: ``(*, J, 3)`` poses of the labelled half (the paper uses the model's
            predictions there, which the supervised loss ties to the ground truth).
        parents: parent index of each joint, ``-1`` for the root.
    Returns:
        0-d tensor in metres.
    """
    j = len(parents)
    lab = bone_lengths(pose_labelled_m.reshape(-1, j, 3), parents).mean(dim=0)
    unlab = bone_lengths(pose_unlabelled_m.reshape(-1, j, 3), parents).mean(dim=0)
    return (lab - unlab).abs().mean()


def reprojection_loss(pose_rel_m: torch.Tensor, traj_m: torch.Tensor, intrinsics: torch.Tensor,
                      kpts_norm: torch.Tensor, joints_out: Sequence[int] | None = None,
                      joints_in: Sequence[int] | None = None, linear: bool = False) -> torch.Tensor:
    """2D reprojection error of predicted poses placed at their predicted trajectory.

    Args:
        pose_rel_m: ``(B, T, J_out, 3)`` root-relative predicted poses, camera frame, metres.
        traj_m: ``(B, T, 1, 3)`` predicted root positions, camera frame, metres (``z > 0``).
        intrinsics: ``(B, 9)`` normalised intrinsics of each sample's camera.
        kpts_norm: ``(B, T, J_in, 2)`` the 2D keypoints the model saw for the same frames
            (without the receptive-field padding), normalised screen coordinates.
        joints_out, joints_in: matching joint indices when the input and output layouts differ
            (e.g. COCO-17 in, H36M-17 out: only joints both layouts share are compared);
            ``None`` compares all joints one-to-one.
        linear: pinhole projection without lens distortion.
    Returns:
        0-d tensor: mean 2D joint distance in normalised screen units.
    """
    if intrinsics.ndim != 2 or intrinsics.shape[-1] != 9:
        raise ValueError(f"reprojection_loss: intrinsics must be (B, 9), got {tuple(intrinsics.shape)}")
    points = pose_rel_m + traj_m
    if joints_out is not None:
        points = points[..., list(joints_out), :]
    target = kpts_norm if joints_in is None else kpts_norm[..., list(joints_in), :]
    project = project_to_2d_linear if linear else project_to_2d
    projected = project(points, intrinsics.to(points.dtype))
    return mpjpe(projected, target.to(projected.dtype))


def shared_joints(layout_out: str, layout_in: str) -> tuple[list[int], list[int]] | None:
    """Joint index pairs for comparing a projected ``layout_out`` pose with ``layout_in`` 2D.

    Returns ``None`` when the layouts are the same (compare everything), else
    ``(indices_out, indices_in)`` of the joints both layouts have: matched by name, with the
    H36M ``neck_nose``/``*_foot`` taken as COCO's ``nose``/``*_ankle``.
    """
    from pose3d_cli.skeleton import get_layout

    lo, li = get_layout(layout_out), get_layout(layout_in)
    if lo.name == li.name:
        return None
    aliases = {"neck_nose": "nose", "left_foot": "left_ankle", "right_foot": "right_ankle"}
    out_idx, in_idx = [], []
    for j, name in enumerate(lo.joint_names):
        for candidate in (name, aliases.get(name)):
            if candidate is not None and candidate in li.joint_names:
                out_idx.append(j)
                in_idx.append(li.joint_names.index(candidate))
                break
    if not out_idx:
        raise ValueError(f"layouts {layout_out!r} and {layout_in!r} share no joints")
    return out_idx, in_idx
