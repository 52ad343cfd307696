"""Skeleton motion as local transforms: forward kinematics and resampling in time.

Convention: a joint's local rotation rotates its children; its local translation is its
position in the parent's frame; parents come before children (``-1`` marks the root).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pose3d_cli.geometry.rotations import matrix_to_quaternion, quaternion_to_matrix


def resample_local(rot: np.ndarray, trans: np.ndarray, src_fps: float,
                   dst_fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Resample local transforms in time: rotations by normalised quaternion interpolation
    (shortest arc), translations linearly. Bone lengths stay exact.

    Args:
        rot: ``(T, J, 3, 3)``; trans: ``(T, J, 3)``.
        src_fps, dst_fps: frame rates (Hz).
    Returns:
        ``(rot (T', J, 3, 3), trans (T', J, 3))`` with ``T' = floor((T-1)·dst/src) + 1``.
    """
    n = rot.shape[0]
    n_out = int(np.floor((n - 1) * dst_fps / src_fps + 1e-9)) + 1
    pos = np.arange(n_out) * (src_fps / dst_fps)
    i0 = np.clip(np.floor(pos).astype(int), 0, n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    a = (pos - i0)[:, None]
    q = matrix_to_quaternion(rot)
    q0, q1 = q[i0], q[i1]
    q1 = np.where((q0 * q1).sum(-1, keepdims=True) < 0, -q1, q1)
    qi = q0 * (1 - a[..., None]) + q1 * a[..., None]
    ti = trans[i0] * (1 - a[..., None]) + trans[i1] * a[..., None]
    return quaternion_to_matrix(qi), ti


def forward_kinematics(parents: tuple[int, ...] | list[int], rot: np.ndarray,
                       trans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Global joint positions and orientations from local transforms, vectorised over frames.

    Args:
        parents: parent index per joint (parents before children), ``-1`` for the root.
        rot: ``(T, J, 3, 3)`` local rotations; trans: ``(T, J, 3)`` local translations.
    Returns:
        ``(positions (T, J, 3), global_rot (T, J, 3, 3))`` in the unit of ``trans``.
    """
    pos = np.empty_like(trans)
    grot = np.empty_like(rot)
    for j, p in enumerate(parents):
        if p < 0:
            pos[:, j] = trans[:, j]
            grot[:, j] = rot[:, j]
        else:
            if p >= j:
                raise ValueError(f"joint {j} listed before its parent {p}")
            pos[:, j] = pos[:, p] + np.einsum("tab,tb->ta", grot[:, p], trans[:, j])
            grot[:, j] = grot[:, p] @ rot[:, j]
    return pos, grot


@dataclass(frozen=True)
class LocalMotion:
    """Any skeleton's motion as per-frame local transforms (what forward kinematics needs).

    Attributes:
        joint_names: one name per joint, parents before children.
        parents: parent index per joint, ``-1`` for the root.
        rot: ``(T, J, 3, 3)`` local rotations; trans: ``(T, J, 3)`` local translations (the
            joint's position in its parent's frame), in the source's length unit.
        fps: frames per second.
        source: the file(s) it came from.
    """

    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    rot: np.ndarray
    trans: np.ndarray
    fps: float
    source: str = ""

    @property
    def num_frames(self) -> int:
        return int(self.rot.shape[0])

    def truncated(self, max_seconds: float) -> LocalMotion:
        """The first ``max_seconds`` (at least two frames)."""
        keep = max(2, int(np.ceil(max_seconds * self.fps)) + 1)
        return LocalMotion(self.joint_names, self.parents, self.rot[:keep], self.trans[:keep],
                           self.fps, self.source)
