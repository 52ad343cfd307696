"""Rotations as pure numpy functions: elementary rotations, matrix <-> quaternion (w, x, y, z),
Euler angles, the smallest rotation between two directions and the least-squares (Kabsch) fit.

Convention: rotation matrices act on column vectors (``v' = R @ v``); shapes carry a batch
wildcard ``(*, 3, 3)``; quaternions are (w, x, y, z) with w >= 0 where a sign is chosen.
"""

from __future__ import annotations

import numpy as np


def unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-9)


def axis_rotation(axis: int, angle_rad: np.ndarray) -> np.ndarray:
    """Elementary rotation matrices ``(T, 3, 3)`` about x/y/z by ``angle_rad (T,)``."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    out = np.zeros(angle_rad.shape + (3, 3))
    a, b = [(1, 2), (2, 0), (0, 1)][axis]
    out[..., axis, axis] = 1.0
    out[..., a, a] = c
    out[..., b, b] = c
    out[..., a, b] = -s
    out[..., b, a] = s
    return out


def matrix_to_quaternion(m: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(*, 3, 3)`` → unit quaternions ``(*, 4)`` (w, x, y, z), w ≥ 0."""
    m = np.asarray(m, np.float64)
    tr = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    # Four candidate formulas; pick the numerically largest denominator per element.
    cand = np.stack([
        np.stack([1 + tr, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                  m[..., 1, 0] - m[..., 0, 1]], -1),
        np.stack([m[..., 2, 1] - m[..., 1, 2], 1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
                  m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], -1),
        np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0],
                  1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2], m[..., 1, 2] + m[..., 2, 1]], -1),
        np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0],
                  m[..., 1, 2] + m[..., 2, 1], 1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2]], -1),
    ], -2)  # (*, 4 candidates, 4)
    diag = np.stack([1 + tr, 1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
                     1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
                     1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2]], -1)
    best = np.argmax(diag, axis=-1)
    q = np.take_along_axis(cand, best[..., None, None], axis=-2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., :1] < 0, -q, q)


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Unit quaternions ``(*, 4)`` (w, x, y, z) → rotation matrices ``(*, 3, 3)``."""
    q = np.asarray(q, np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def matrix_to_euler_zxy(rot: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(*, 3, 3)`` → Euler angles ``(*, 3)`` in degrees (z, x, y) with
    ``R = Rz(z) @ Rx(x) @ Ry(y)`` (BVH ``Zrotation Xrotation Yrotation``)."""
    x = np.arcsin(np.clip(rot[..., 2, 1], -1.0, 1.0))
    z = np.arctan2(-rot[..., 0, 1], rot[..., 1, 1])
    y = np.arctan2(-rot[..., 2, 0], rot[..., 2, 2])
    gimbal = np.abs(rot[..., 2, 1]) > 1 - 1e-9
    if np.any(gimbal):  # x = ±90°: only z ± y is defined; put it all in z
        z = np.where(gimbal, np.arctan2(rot[..., 1, 0], rot[..., 0, 0]), z)
        y = np.where(gimbal, 0.0, y)
    return np.degrees(np.stack([z, x, y], axis=-1))


def frame_from_axes(left: np.ndarray, right: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(T, 3, 3)`` whose columns are the body's left, up and forward axes."""
    x = unit(left - right)
    y = unit(up - (up * x).sum(-1, keepdims=True) * x)
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=-1)


def min_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotations ``(T, 3, 3)`` taking unit vectors ``a`` to ``b`` (``(T, 3)`` each)."""
    v = np.cross(a, b)
    c = (a * b).sum(-1)
    vx = np.zeros(a.shape[:-1] + (3, 3))
    vx[..., 0, 1], vx[..., 0, 2] = -v[..., 2], v[..., 1]
    vx[..., 1, 0], vx[..., 1, 2] = v[..., 2], -v[..., 0]
    vx[..., 2, 0], vx[..., 2, 1] = -v[..., 1], v[..., 0]
    eye = np.broadcast_to(np.eye(3), vx.shape)
    opposite = c < -1 + 1e-6
    k = 1.0 / np.where(opposite, 1.0, 1.0 + c)
    rot = eye + vx + (vx @ vx) * k[..., None, None]
    if opposite.any():  # half turn about any axis perpendicular to a
        aa = a[opposite]
        perp = np.cross(aa, np.where(np.abs(aa[:, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]]))
        n = unit(perp)
        rot[opposite] = 2 * n[:, :, None] * n[:, None, :] - np.eye(3)
    return rot


def kabsch(rest: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Rotations ``(T, 3, 3)`` best mapping rest vectors ``(K, 3)`` onto observed ``(T, K, 3)``."""
    h = np.einsum("ka,tkb->tab", rest, obs)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.swapaxes(vt, -1, -2) @ np.swapaxes(u, -1, -2)))
    fix = np.ones(u.shape[:-1])
    fix[:, -1] = d
    return np.swapaxes(vt, -1, -2) @ (fix[..., None] * np.swapaxes(u, -1, -2))
