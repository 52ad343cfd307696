"""The trajectory model: the root's position in the camera frame, one per frame.

A trajectory model is a :class:`~pose3d_cli.lifting.model.TemporalModel` with one output joint
(the paper trains it beside the pose model, with a ``1 / z``-weighted loss). It runs through the
same :func:`~pose3d_cli.lifting.predict.predict` as the pose model (edge padding, chunking,
flip test-time augmentation: for the single root joint the flip only negates x).

Convention:
    camera frame, metres, x right, y down, z forward. The built-in models are trained for a
    *canonical* camera of normalised focal length ``canonical_focal`` (``2 f_px / w``; stored in
    the checkpoint's ``meta``): the root's 2D position is exact for any camera, its depth is
    that of the canonical camera. :func:`depth_for_focal` converts to a known focal length.
"""

from __future__ import annotations

import numpy as np
import torch

from pose3d_cli.errors import InputError
from pose3d_cli.skeleton import Layout

#: The one-joint output layout of a trajectory model (flip: negate x, nothing to swap).
ROOT_LAYOUT = Layout(name="root", joint_names=("root",), parents=(-1,), left=(), right=())


def predict_trajectory(model_traj: torch.nn.Module, kpts_norm: np.ndarray, *,
                       layout_in: Layout | str = "coco17", flip: bool = True,
                       device: torch.device | str | None = None,
                       chunk_frames: int = 8192) -> np.ndarray:
    """Root positions ``(T, 3)`` float32, camera frame, metres, from 2D keypoints.

    Args:
        model_traj: a trajectory :class:`~pose3d_cli.lifting.model.TemporalModel`
            (``joints_out == 1``).
        kpts_norm: ``(T, J_in, 2)`` normalised screen coordinates.
        layout_in: the keypoints' layout (for the flip's left/right swap).
        flip: test-time flip augmentation (average with the mirrored input's mirrored output).
        device: where to run (default: the model's device).
    Raises:
        InputError: the model has more than one output joint, or bad keypoints.
    """
    from pose3d_cli.lifting.predict import predict

    joints_out = getattr(getattr(model_traj, "arch", None), "joints_out", None)
    if joints_out != 1:
        raise InputError(f"a trajectory model has one output joint; this one has {joints_out}")
    out = predict(model_traj, kpts_norm, layout_in=layout_in, layout_out=ROOT_LAYOUT, flip=flip,
                  device=device, chunk_frames=chunk_frames)
    return out[:, 0].astype(np.float32)


def depth_for_focal(traj_cam_m: np.ndarray, focal_norm: float, canonical_focal: float) -> np.ndarray:
    """Root positions of the canonical camera ``(T, 3)`` → those of a camera of normalised focal
    length ``focal_norm`` (``2 f_px / w``): depth scales by ``focal_norm / canonical_focal``;
    x and y (metres) stay, so the root keeps its image position."""
    if not (focal_norm > 0 and canonical_focal > 0):
        raise InputError(f"focal lengths must be positive, got {focal_norm} and {canonical_focal}")
    out = np.array(traj_cam_m, np.float64)
    out[..., 2] *= focal_norm / canonical_focal
    return out
