"""Camera geometry: screen normalisation, quaternion rotations, world↔camera, projection.

Every function accepts numpy arrays or torch tensors (the result has the input's type) and
broadcasts over leading batch dimensions ``*``.

Convention:
    - Pixels: x right, y down, origin at the top-left corner of the upright frame.
    - Normalised screen coordinates (the paper's): ``x_n = 2 x / w - 1``, ``y_n = 2 y / w - h / w``;
      x spans [-1, 1] and the aspect ratio is kept.
    - Camera frame: metres, x right, y down, z forward (into the scene).
    - Quaternions are (w, x, y, z), unit norm. ``world_to_camera(X, R, t)`` takes the
      camera-to-world orientation ``R`` and the camera position ``t`` in world coordinates,
      as Human3.6M's calibration gives them.
    - Intrinsics 9-vector, as the paper's code packs it: f (2), c (2), k (3), p (2), with f and c
      normalised like 2D keypoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np
import torch

Array = Union[np.ndarray, torch.Tensor]

#: Camera-to-world orientation (w, x, y, z) used for videos in the wild: Human3.6M S1, camera 0.
WILD_CAMERA_QUATERNION = np.array(
    [0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088], np.float32)


def _is_torch(x) -> bool:
    return isinstance(x, torch.Tensor)


def _like(value, ref):
    """``value`` (array-like) as the type, dtype and device of ``ref``."""
    if _is_torch(ref):
        return torch.as_tensor(np.asarray(value) if not _is_torch(value) else value,
                               dtype=ref.dtype, device=ref.device)
    return np.asarray(value, dtype=ref.dtype)


def _cross(a, b):
    return torch.cross(a, b, dim=-1) if _is_torch(a) else np.cross(a, b)


def _check_last(x, n: int, what: str) -> None:
    if x.shape[-1] != n:
        raise ValueError(f"{what}: expected last dimension {n}, got shape {tuple(x.shape)}")


def normalize_screen_coordinates(x_px: Array, w: float, h: float) -> Array:
    """Pixels → normalised screen coordinates. ``x_px``: ``(*, 2)`` → ``(*, 2)``."""
    _check_last(x_px, 2, "normalize_screen_coordinates")
    offset = _like([1.0, h / w], x_px)
    return x_px / w * 2 - offset


def image_coordinates(x_norm: Array, w: float, h: float) -> Array:
    """Normalised screen coordinates → pixels (inverse of :func:`normalize_screen_coordinates`)."""
    _check_last(x_norm, 2, "image_coordinates")
    offset = _like([1.0, h / w], x_norm)
    return (x_norm + offset) * w / 2


def qrot(q: Array, v: Array) -> Array:
    """Rotate vectors ``v (*, 3)`` by unit quaternions ``q (*, 4)`` (w, x, y, z); broadcasts."""
    _check_last(q, 4, "qrot q")
    _check_last(v, 3, "qrot v")
    if _is_torch(q) or _is_torch(v):
        ref = v if _is_torch(v) else q
        q = torch.as_tensor(q, dtype=ref.dtype, device=ref.device)
        v = torch.as_tensor(v, dtype=ref.dtype, device=ref.device)
        shape = torch.broadcast_shapes(q.shape[:-1], v.shape[:-1])
        q = q.expand(*shape, 4)
        v = v.expand(*shape, 3)
    else:
        shape = np.broadcast_shapes(q.shape[:-1], v.shape[:-1])
        q = np.broadcast_to(q, (*shape, 4))
        v = np.broadcast_to(v, (*shape, 3))
    qvec = q[..., 1:]
    uv = _cross(qvec, v)
    uuv = _cross(qvec, uv)
    return v + 2 * (q[..., :1] * uv + uuv)


def qinverse(q: Array) -> Array:
    """Inverse (conjugate) of unit quaternions ``(*, 4)``."""
    _check_last(q, 4, "qinverse")
    sign = _like([1.0, -1.0, -1.0, -1.0], q)
    return q * sign


def world_to_camera(x_world: Array, R: Array, t: Array) -> Array:
    """World points ``(*, 3)`` → camera frame, given the camera-to-world orientation ``R (4,)``
    and the camera position ``t (3,)`` in world coordinates (same units as ``x_world``)."""
    R = _like(R, x_world)
    t = _like(t, x_world)
    return qrot(qinverse(R), x_world - t)


def camera_to_world(x_cam: Array, R: Array, t: Array) -> Array:
    """Camera-frame points ``(*, 3)`` → world frame (inverse of :func:`world_to_camera`)."""
    R = _like(R, x_cam)
    t = _like(t, x_cam)
    return qrot(R, x_cam) + t


def camera_to_world_wild(pose_cam_m: Array) -> Array:
    """Camera-frame poses ``(*, J, 3)`` → the display world frame used for videos in the wild:
    rotated by :data:`WILD_CAMERA_QUATERNION`, translation 0 (z up). Not grounded: see
    :func:`ground_poses`."""
    return camera_to_world(pose_cam_m, WILD_CAMERA_QUATERNION, np.zeros(3, np.float32))


def ground_poses(pose_world_m: Array) -> Array:
    """Shift ``(T, J, 3)`` world poses so the lowest joint over the whole clip is at z = 0."""
    _check_last(pose_world_m, 3, "ground_poses")
    zmin = pose_world_m[..., 2].min()
    shift = _like([0.0, 0.0, 1.0], pose_world_m) * zmin
    return pose_world_m - shift


def project_to_2d(x_cam: Array, intrinsics: Array) -> Array:
    """Perspective projection with the Human3.6M distortion model.

    Args:
        x_cam: ``(B, *, 3)`` camera-frame points (any unit; only ratios matter).
        intrinsics: ``(B, 9)`` f(2), c(2), k(3), p(2), normalised like 2D keypoints.
    Returns:
        ``(B, *, 2)`` normalised screen coordinates.
    """
    _check_last(x_cam, 3, "project_to_2d points")
    _check_last(intrinsics, 9, "project_to_2d intrinsics")
    cam = intrinsics
    while cam.ndim < x_cam.ndim:
        cam = cam[:, None] if cam.ndim >= 2 else cam[None]
    f, c, k, p = cam[..., :2], cam[..., 2:4], cam[..., 4:7], cam[..., 7:9]
    u = x_cam[..., :2] / x_cam[..., 2:]
    u = u.clamp(-1, 1) if _is_torch(u) else np.clip(u, -1, 1)
    r2 = (u[..., :2] ** 2).sum(-1, keepdims=True) if not _is_torch(u) else (u ** 2).sum(-1, keepdim=True)
    r2_pows = _stack_last([r2[..., 0], r2[..., 0] ** 2, r2[..., 0] ** 3], u)
    radial = 1 + _sum_last(k * r2_pows)
    tangential = _sum_last(p * u)
    u_d = u * (radial + tangential) + p * r2
    return f * u_d + c


def project_to_2d_linear(x_cam: Array, intrinsics: Array) -> Array:
    """Pinhole projection without distortion; same shapes as :func:`project_to_2d`."""
    _check_last(x_cam, 3, "project_to_2d_linear points")
    _check_last(intrinsics, 9, "project_to_2d_linear intrinsics")
    cam = intrinsics
    while cam.ndim < x_cam.ndim:
        cam = cam[:, None] if cam.ndim >= 2 else cam[None]
    f, c = cam[..., :2], cam[..., 2:4]
    u = x_cam[..., :2] / x_cam[..., 2:]
    u = u.clamp(-1, 1) if _is_torch(u) else np.clip(u, -1, 1)
    return f * u + c


def _stack_last(items, ref):
    return torch.stack(items, dim=-1) if _is_torch(ref) else np.stack(items, axis=-1)


def _sum_last(x):
    return x.sum(-1, keepdim=True) if _is_torch(x) else x.sum(-1, keepdims=True)


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pixel intrinsics of one camera (Human3.6M style).

    Attributes:
        center_px: principal point (cx, cy) in pixels.
        focal_px: focal lengths (fx, fy) in pixels.
        radial: k1, k2, k3.
        tangential: p1, p2.
        width, height: image size in pixels.
    """

    center_px: tuple[float, float]
    focal_px: tuple[float, float]
    radial: tuple[float, float, float] = (0.0, 0.0, 0.0)
    tangential: tuple[float, float] = (0.0, 0.0)
    width: int = 1000
    height: int = 1000
    id: str = ""
    azimuth: float = 70.0

    def to_vector(self) -> np.ndarray:
        """The paper's normalised 9-vector: f·2/w, c as a normalised point, k, p."""
        f = np.asarray(self.focal_px, np.float32) / self.width * 2
        c = normalize_screen_coordinates(np.asarray(self.center_px, np.float32), self.width, self.height)
        return np.concatenate([f, c, np.asarray(self.radial, np.float32),
                               np.asarray(self.tangential, np.float32)]).astype(np.float32)


@dataclass(frozen=True)
class Camera:
    """A calibrated camera: intrinsics plus extrinsics (camera-to-world orientation (w, x, y, z)
    and camera position in world metres)."""

    intrinsics: CameraIntrinsics
    orientation: tuple[float, float, float, float]
    translation_m: tuple[float, float, float]

    def world_to_camera(self, x_world_m: Array) -> Array:
        return world_to_camera(x_world_m, np.asarray(self.orientation, np.float32),
                               np.asarray(self.translation_m, np.float32))

    def camera_to_world(self, x_cam_m: Array) -> Array:
        return camera_to_world(x_cam_m, np.asarray(self.orientation, np.float32),
                               np.asarray(self.translation_m, np.float32))

    def project_px(self, x_cam_m: np.ndarray) -> np.ndarray:
        """Camera-frame points ``(*, 3)`` → pixels ``(*, 2)`` with distortion."""
        flat = x_cam_m.reshape(1, -1, 3)
        vec = self.intrinsics.to_vector()[None]
        norm = project_to_2d(flat.astype(np.float32), vec)
        return image_coordinates(norm, self.intrinsics.width, self.intrinsics.height).reshape(
            *x_cam_m.shape[:-1], 2)
