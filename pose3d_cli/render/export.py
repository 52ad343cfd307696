"""Exports of a lifted clip besides the pose file: JSON for web viewers, a tidy CSV, and BVH.

All three take world-frame poses (metres, z up, ground at z = 0: the pose file's
``poses_3d_world``) of shape ``(T, J, 3)``.

JSON (``format = "pose3d-web"``, version 1)::

    {"format": "pose3d-web", "format_version": 1, "layout": "h36m17",
     "joint_names": [...J], "parents": [...J], "edges": [[a, b], ...], "left": [...], "right": [...],
     "fps": 30.0, "num_frames": T, "units": "m", "axes": "x, y horizontal; z up; ground z = 0",
     "frames": [[[x, y, z], ...J], ...T]}                  # millimetre precision

CSV: one row per frame and joint, header ``frame,time_s,joint,x,y,z`` (metres, world frame).

BVH: a skeleton with constant bone lengths (the median of each bone's length over the clip)
whose joint rotations are solved from the 3D positions (see :func:`solve_bvh`). Written Y-up
in metres (BVH's usual axes: ``bvh = (x, z, -y)`` of the world frame), 3 Euler channels per
joint in ``Zrotation Xrotation Yrotation`` order (``R = Rz @ Rx @ Ry``), plus the root's
position. Blender imports it with File → Import → Motion Capture (.bvh) at scale 1.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose3d_cli.errors import InputError
from pose3d_cli.io.atomic import atomic_path
from pose3d_cli.skeleton import Layout, get_layout

#: Formats ``--export`` accepts; ``npz`` is the project's pose file (``io/pose_file.py``).
EXPORT_FORMATS = ("npz", "json", "csv", "bvh")
JSON_FORMAT = "pose3d-web"

#: World (x, y, z-up) → BVH (x, y-up, z): a proper rotation.
WORLD_TO_BVH = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def parse_exports(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"npz,json"`` or ``["npz", "json"]`` → ``("npz", "json")``, checked and deduplicated."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        name = str(item).strip().lower().lstrip(".")
        if not name:
            continue
        if name not in EXPORT_FORMATS:
            raise InputError(f"--export {name!r}: unknown format; choose from {', '.join(EXPORT_FORMATS)} "
                             "(comma-separated, e.g. --export npz,bvh)")
        if name not in out:
            out.append(name)
    return tuple(out)


def _check_poses(pose_world_m: np.ndarray, layout: Layout) -> np.ndarray:
    p = np.asarray(pose_world_m, np.float64)
    if p.ndim != 3 or p.shape[1:] != (layout.num_joints, 3):
        raise InputError(f"poses must have shape (T, {layout.num_joints}, 3) for layout {layout.name}, "
                         f"got {p.shape}")
    if p.shape[0] < 1:
        raise InputError("no frames to export")
    if not np.isfinite(p).all():
        raise InputError("poses hold NaN or infinite values; cannot export them")
    return p


def write_json(path: str | Path, pose_world_m: np.ndarray, fps: float, *, layout: str | Layout = "h36m17",
               overwrite: bool = True) -> Path:
    """Write the web-viewer JSON (see the module docstring). ``pose_world_m``: ``(T, J, 3)`` m."""
    lay = get_layout(layout) if isinstance(layout, str) else layout
    p = _check_poses(pose_world_m, lay)
    doc = {
        "format": JSON_FORMAT, "format_version": 1, "layout": lay.name,
        "joint_names": list(lay.joint_names), "parents": list(lay.parents),
        "edges": [list(e) for e in lay.edges], "left": list(lay.left), "right": list(lay.right),
        "fps": float(fps), "num_frames": int(p.shape[0]), "units": "m",
        "axes": "x, y horizontal; z up; ground z = 0",
        "frames": np.round(p, 3).tolist(),
    }
    path = Path(path)
    with atomic_path(path, overwrite) as tmp:
        tmp.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
    return path


def write_csv(path: str | Path, pose_world_m: np.ndarray, fps: float, *, layout: str | Layout = "h36m17",
              overwrite: bool = True) -> Path:
    """Write the tidy CSV ``frame,time_s,joint,x,y,z`` (one row per frame and joint, metres)."""
    lay = get_layout(layout) if isinstance(layout, str) else layout
    p = _check_poses(pose_world_m, lay)
    path = Path(path)
    with atomic_path(path, overwrite) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(("frame", "time_s", "joint", "x", "y", "z"))
        for t in range(p.shape[0]):
            time_s = f"{t / fps:.4f}"
            for j, name in enumerate(lay.joint_names):
                x, y, z = p[t, j]
                w.writerow((t, time_s, name, f"{x:.4f}", f"{y:.4f}", f"{z:.4f}"))
    return path


# --------------------------------------------------------------------------------------------
# BVH


@dataclass(frozen=True)
class BvhSolution:
    """A skeleton with constant bone lengths and per-frame joint rotations.

    Attributes:
        layout: the joint layout (names, parents).
        offsets_m: ``(J, 3)`` rest offset of each joint from its parent (BVH axes, metres);
            the root's is zero.
        local_rot: ``(T, J, 3, 3)`` local rotation of each joint (rotates its children).
        root_pos_m: ``(T, 3)`` root position (BVH axes, metres).
    """

    layout: Layout
    offsets_m: np.ndarray
    local_rot: np.ndarray
    root_pos_m: np.ndarray


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-9)


def _frame_from(left: np.ndarray, right: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(T, 3, 3)`` whose columns are the body's left, up and forward axes."""
    x = _unit(left - right)
    y = _unit(up - (up * x).sum(-1, keepdims=True) * x)
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=-1)


def _min_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
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
        n = _unit(perp)
        rot[opposite] = 2 * n[:, :, None] * n[:, None, :] - np.eye(3)
    return rot


def _kabsch(rest: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Rotations ``(T, 3, 3)`` best mapping rest vectors ``(K, 3)`` onto observed ``(T, K, 3)``."""
    h = np.einsum("ka,tkb->tab", rest, obs)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.swapaxes(vt, -1, -2) @ np.swapaxes(u, -1, -2)))
    fix = np.ones(u.shape[:-1])
    fix[:, -1] = d
    return np.swapaxes(vt, -1, -2) @ (fix[..., None] * np.swapaxes(u, -1, -2))


def _body_frame(p: np.ndarray, lay: Layout, joint: int, children: list[int]) -> np.ndarray:
    """Per-frame orientation ``(T, 3, 3)`` of a branching joint, from its children: a left/right
    pair gives the lateral axis and a centre child the up axis; otherwise the first two."""
    lefts = [c for c in children if c in lay.left]
    rights = [lay.right[lay.left.index(c)] for c in lefts if lay.right[lay.left.index(c)] in children]
    centre = [c for c in children if c not in lay.left and c not in lay.right]
    if lefts and rights and centre:
        return _frame_from(p[:, lefts[0]], p[:, rights[0]], p[:, centre[0]] - p[:, joint])
    a, b = p[:, children[0]] - p[:, joint], p[:, children[1]] - p[:, joint]
    return _frame_from(a, np.zeros_like(a), b)


def solve_bvh(pose_world_m: np.ndarray, layout: str | Layout = "h36m17") -> BvhSolution:
    """Solve joint rotations on a constant-bone-length skeleton from 3D positions.

    Bone lengths are the medians over the clip. The rest pose: a branching joint's children
    (hips from the pelvis, neck and shoulders from the thorax) sit at their median directions
    in the joint's own body frame; every other bone at its median direction in the pelvis
    frame (so the rest pose is the clip's typical posture, upright, facing +z). Per frame, a
    branching joint's rotation is the least-squares (Kabsch) fit of its children; a joint with
    one child gets the smallest rotation that points its bone along the observed direction, so
    those bones follow the positions exactly and the twist stays continuous.

    Args:
        pose_world_m: ``(T, J, 3)`` world positions (metres, z up).
        layout: the joint layout; parents must come before children.
    """
    lay = get_layout(layout) if isinstance(layout, str) else layout
    p = _check_poses(pose_world_m, lay) @ WORLD_TO_BVH.T
    t, j_count = p.shape[:2]
    parents = lay.parents
    roots = [j for j in range(j_count) if parents[j] < 0]
    if len(roots) != 1 or any(parents[j] >= j for j in range(j_count) if parents[j] >= 0):
        raise InputError(f"layout {lay.name}: BVH export needs one root and parents listed before children")
    root = roots[0]
    children = {j: [c for c in range(j_count) if parents[c] == j] for j in range(j_count)}
    lengths = np.zeros(j_count)
    for c in range(j_count):
        if parents[c] >= 0:
            lengths[c] = float(np.median(np.linalg.norm(p[:, c] - p[:, parents[c]], axis=-1)))
    lengths = np.maximum(lengths, 1e-4)

    branching = [j for j in range(j_count) if len(children[j]) >= 2]
    frames = {j: _body_frame(p, lay, j, children[j]) for j in branching}
    if root not in frames:
        raise InputError(f"layout {lay.name}: BVH export needs a root with at least two children")
    rest_dir = np.zeros((j_count, 3))
    for c in range(j_count):
        par = parents[c]
        if par < 0:
            continue
        bone = _unit(p[:, c] - p[:, par])
        frame = frames[par] if par in frames else frames[root]
        local = np.einsum("tab,ta->tb", frame, bone)  # bone in the chosen frame's axes
        rest_dir[c] = _unit(np.median(local, axis=0))
    offsets = rest_dir * lengths[:, None]

    grot = np.zeros((t, j_count, 3, 3))
    local_rot = np.zeros((t, j_count, 3, 3))
    for j in range(j_count):
        kids = children[j]
        if len(kids) >= 2:
            obs = np.stack([p[:, c] - p[:, j] for c in kids], axis=1)
            grot[:, j] = _kabsch(offsets[kids], obs)
        elif len(kids) == 1:
            c = kids[0]
            parent_rot = grot[:, parents[j]] if parents[j] >= 0 else np.broadcast_to(np.eye(3), (t, 3, 3))
            current = np.einsum("tab,b->ta", parent_rot, rest_dir[c])
            grot[:, j] = _min_rotation(current, _unit(p[:, c] - p[:, j])) @ parent_rot
        else:
            grot[:, j] = grot[:, parents[j]]
        if parents[j] >= 0:
            local_rot[:, j] = np.swapaxes(grot[:, parents[j]], -1, -2) @ grot[:, j]
        else:
            local_rot[:, j] = grot[:, j]
    return BvhSolution(layout=lay, offsets_m=offsets, local_rot=local_rot, root_pos_m=p[:, root].copy())


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


def _unwrap_deg(angles: np.ndarray) -> np.ndarray:
    """Remove 360° jumps along time (axis 0) so interpolating players don't spin."""
    return np.degrees(np.unwrap(np.radians(angles), axis=0))


def write_bvh(path: str | Path, pose_world_m: np.ndarray, fps: float, *, layout: str | Layout = "h36m17",
              overwrite: bool = True, end_site_m: float = 0.08) -> Path:
    """Solve (:func:`solve_bvh`) and write a BVH file; leaf joints get an ``End Site`` of
    ``end_site_m`` metres along their bone. ``pose_world_m``: ``(T, J, 3)`` metres, z up."""
    sol = solve_bvh(pose_world_m, layout)
    lay = sol.layout
    parents = lay.parents
    j_count = lay.num_joints
    children = {j: [c for c in range(j_count) if parents[c] == j] for j in range(j_count)}
    root = parents.index(-1)
    lines = ["HIERARCHY"]
    order: list[int] = []

    def emit(j: int, depth: int) -> None:
        pad = "  " * depth
        order.append(j)
        if j == root:
            lines.append(f"{pad}ROOT {lay.joint_names[j]}")
        else:
            lines.append(f"{pad}JOINT {lay.joint_names[j]}")
        lines.append(pad + "{")
        ox, oy, oz = sol.offsets_m[j]
        lines.append(f"{pad}  OFFSET {ox:.6f} {oy:.6f} {oz:.6f}")
        if j == root:
            lines.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation")
        else:
            lines.append(f"{pad}  CHANNELS 3 Zrotation Xrotation Yrotation")
        for c in children[j]:
            emit(c, depth + 1)
        if not children[j]:
            e = _unit(sol.offsets_m[j]) * end_site_m
            lines.append(f"{pad}  End Site")
            lines.append(pad + "  {")
            lines.append(f"{pad}    OFFSET {e[0]:.6f} {e[1]:.6f} {e[2]:.6f}")
            lines.append(pad + "  }")
        lines.append(pad + "}")

    emit(root, 0)
    euler = _unwrap_deg(matrix_to_euler_zxy(sol.local_rot))  # (T, J, 3)
    t = euler.shape[0]
    cols = [sol.root_pos_m] + [euler[:, j] for j in order]
    motion = np.concatenate(cols, axis=1)
    lines += ["MOTION", f"Frames: {t}", f"Frame Time: {1.0 / float(fps):.8f}"]
    body = "\n".join(" ".join(f"{v:.6f}" if i < 3 else f"{v:.4f}" for i, v in enumerate(row))
                     for row in motion)
    path = Path(path)
    with atomic_path(path, overwrite) as tmp:
        tmp.write_text("\n".join(lines) + "\n" + body + "\n", encoding="ascii")
    return path
