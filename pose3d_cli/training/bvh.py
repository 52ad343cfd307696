"""BVH motion capture: a reader and vectorised forward kinematics.

A BVH file holds a joint hierarchy (``ROOT``/``JOINT``/``End Site`` blocks with an ``OFFSET``
and a ``CHANNELS`` list each) and a ``MOTION`` table of one row of channel values per frame.

Convention:
    - Rotation channels are Euler angles in degrees. A joint's local rotation is the product
      of its rotation channels' elementary rotations *in the order they are listed*
      (``Zrotation Xrotation Yrotation`` → ``R = Rz @ Rx @ Ry``), so any order is supported.
    - A joint's translation relative to its parent is its ``OFFSET``; when the joint has
      position channels their values replace the offset (the usual reading: a root's position
      channels hold its absolute position, and rigs exported with per-bone location channels
      repeat the offset there).
    - ``End Site`` blocks become joints named ``<parent>_end`` without channels.
    - Positions come out in the file's own unit and axes (often centimetres, y up);
      :mod:`pose3d_cli.training.mocap` converts them to metres, z up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose3d_cli.errors import InputError

_AXES = {"x": 0, "y": 1, "z": 2}
_CHANNEL_RE = re.compile(r"^([XYZxyz])(position|rotation)$")


@dataclass(frozen=True)
class BvhMotion:
    """A parsed BVH file.

    Attributes:
        joint_names: one name per joint, parents before children (End Sites included).
        parents: parent index per joint, ``-1`` for the root.
        offsets: ``(J, 3)`` float64 rest offsets from the parent, in the file's unit.
        channels: per joint, its channel names as written (``"Zrotation"``, ``"Xposition"``, …).
        channel_start: per joint, the column of its first channel in ``motion``.
        frame_time_s: seconds per frame.
        motion: ``(T, C)`` float64 channel values, one row per frame.
        source: the file it came from.
    """

    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    channel_start: tuple[int, ...]
    frame_time_s: float
    motion: np.ndarray
    source: str = ""

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time_s

    def index(self, name: str) -> int:
        """Joint index by name; raises :class:`KeyError` listing the joints."""
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise KeyError(f"{self.source or 'BVH'} has no joint {name!r}; joints: "
                           f"{', '.join(self.joint_names)}") from None


def _bad(path: str, what: str) -> InputError:
    return InputError(f"{path}: not a valid BVH file ({what}); export the motion as BVH "
                      "(HIERARCHY … MOTION) and try again")


def read_bvh(path: str | Path) -> BvhMotion:
    """Read a BVH file.

    Args:
        path: the ``.bvh`` file.
    Returns:
        :class:`BvhMotion`.
    Raises:
        InputError: missing file, malformed hierarchy, or a motion table whose size does not
        match the channels and frame count.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"{path}: cannot read BVH file ({exc.strerror}); check the path") from None
    src = str(path)
    head, sep, tail = text.partition("MOTION")
    if not sep or "HIERARCHY" not in head:
        raise _bad(src, "no HIERARCHY/MOTION sections")
    tokens = head.split()
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple[str, ...]] = []
    stack: list[int] = []
    pending: int | None = None  # joint declared, its '{' not yet seen
    i = tokens.index("HIERARCHY") + 1
    try:
        while i < len(tokens):
            tok = tokens[i]
            if tok in ("ROOT", "JOINT"):
                if tok == "ROOT" and names:
                    raise _bad(src, "more than one ROOT")
                names.append(tokens[i + 1])
                parents.append(stack[-1] if stack else -1)
                offsets.append([0.0, 0.0, 0.0])
                channels.append(())
                pending = len(names) - 1
                i += 2
            elif tok == "End":  # End Site
                if not stack:
                    raise _bad(src, "End Site outside a joint")
                names.append(f"{names[stack[-1]]}_end")
                parents.append(stack[-1])
                offsets.append([0.0, 0.0, 0.0])
                channels.append(())
                pending = len(names) - 1
                i += 2
            elif tok == "{":
                if pending is None:
                    raise _bad(src, "'{' without a joint")
                stack.append(pending)
                pending = None
                i += 1
            elif tok == "}":
                if not stack:
                    raise _bad(src, "unbalanced '}'")
                stack.pop()
                i += 1
            elif tok == "OFFSET":
                offsets[stack[-1]] = [float(v) for v in tokens[i + 1:i + 4]]
                i += 4
            elif tok == "CHANNELS":
                n = int(tokens[i + 1])
                chans = tuple(tokens[i + 2:i + 2 + n])
                for c in chans:
                    if not _CHANNEL_RE.match(c):
                        raise _bad(src, f"unknown channel {c!r}")
                channels[stack[-1]] = chans
                i += 2 + n
            else:
                raise _bad(src, f"unexpected token {tok!r}")
    except (IndexError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise _bad(src, "truncated or non-numeric hierarchy") from None
    if not names or stack:
        raise _bad(src, "empty or unbalanced hierarchy")

    m = re.search(r"Frames:\s*(\d+)\s*Frame Time:\s*([0-9.eE+-]+)", tail)
    if not m:
        raise _bad(src, "no 'Frames:'/'Frame Time:' lines")
    n_frames, frame_time = int(m.group(1)), float(m.group(2))
    if not frame_time > 0:
        raise _bad(src, f"frame time {frame_time} is not positive")
    starts = np.cumsum([0] + [len(c) for c in channels])
    n_channels = int(starts[-1])
    try:
        values = np.array(tail[m.end():].split(), dtype=np.float64)
    except ValueError:
        raise _bad(src, "non-numeric motion data") from None
    if n_channels == 0:
        raise _bad(src, "no channels")
    if values.size < n_frames * n_channels:
        raise _bad(src, f"{values.size} motion values for {n_frames} frames × {n_channels} "
                        "channels (file truncated?)")
    motion = values[:n_frames * n_channels].reshape(n_frames, n_channels)
    return BvhMotion(joint_names=tuple(names), parents=tuple(parents),
                     offsets=np.asarray(offsets, np.float64), channels=tuple(channels),
                     channel_start=tuple(int(s) for s in starts[:-1]), frame_time_s=frame_time,
                     motion=motion, source=src)


def _axis_rotation(axis: int, angle_rad: np.ndarray) -> np.ndarray:
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


def local_transforms(bvh: BvhMotion) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame local rotations and translations of every joint.

    Returns:
        ``(rot (T, J, 3, 3), trans (T, J, 3))`` in the file's unit.
    """
    t, j = bvh.num_frames, bvh.num_joints
    rot = np.broadcast_to(np.eye(3), (t, j, 3, 3)).copy()
    trans = np.broadcast_to(bvh.offsets, (t, j, 3)).copy()
    for k, chans in enumerate(bvh.channels):
        start = bvh.channel_start[k]
        r = None
        for n, c in enumerate(chans):
            axis, kind = _AXES[c[0].lower()], c[1:].lower()
            col = bvh.motion[:, start + n]
            if kind == "position":
                trans[:, k, axis] = col
            else:
                m = _axis_rotation(axis, np.deg2rad(col))
                r = m if r is None else r @ m
        if r is not None:
            rot[:, k] = r
    return rot, trans


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


def bvh_local_motion(bvh: BvhMotion) -> LocalMotion:
    """A BVH file's motion as :class:`LocalMotion`."""
    rot, trans = local_transforms(bvh)
    return LocalMotion(bvh.joint_names, bvh.parents, rot, trans, bvh.fps, bvh.source)


def bvh_positions(bvh: BvhMotion, fps: float | None = None) -> np.ndarray:
    """Global joint positions ``(T, J, 3)`` of a BVH file in its own unit and axes,
    optionally resampled to ``fps`` (see :func:`resample_local`)."""
    rot, trans = local_transforms(bvh)
    if fps is not None and abs(fps - bvh.fps) > 1e-6:
        rot, trans = resample_local(rot, trans, bvh.fps, fps)
    return forward_kinematics(bvh.parents, rot, trans)[0]
